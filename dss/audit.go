package dss

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"
)

// auditTimeout bounds one audit append. The append does not inherit the request's
// cancellation: a refusal must be recorded even when the client has gone away.
const auditTimeout = 10 * time.Second

type problemRefKey struct{}

// WithProblemRef returns a context carrying the request's correlation id (the
// ProblemReference of its Result and the id of its log line). Bindings set it so that audit
// records can be matched with both.
func WithProblemRef(ctx context.Context, ref string) context.Context {
	return context.WithValue(ctx, problemRefKey{}, ref)
}

// ProblemRefOf returns the correlation id set by WithProblemRef, or "".
func ProblemRefOf(ctx context.Context) string {
	s, _ := ctx.Value(problemRefKey{}).(string)
	return s
}

// digestString is the audit form of a digest: "<hash>:<hex>".
func digestString(h crypto.Hash, d []byte) string {
	name := "unknown"
	switch h {
	case crypto.SHA256:
		name = "sha256"
	case crypto.SHA384:
		name = "sha384"
	case crypto.SHA512:
		name = "sha512"
	}
	return name + ":" + hex.EncodeToString(d)
}

// event starts the audit event of one request.
func (s *Service) event(ctx context.Context, c Caller, action, requestID, credential string) AuditEvent {
	return AuditEvent{
		RequestID: CapText(requestID, MaxAuditText), ProblemRef: CapText(ProblemRefOf(ctx), MaxAuditText),
		User: CapText(c.User, MaxAuditText), Via: c.Via, Action: action, Credential: CapText(credential, MaxAuditText),
	}
}

// Bounds of the client-chosen strings of an audit record (RequestID, user, credential id,
// problem reference, and the detail that may quote them): a longer value is stored as its
// beginning plus its length and SHA-256, so a flood of large RequestIDs cannot grow the log
// by more than a fixed amount per record, and the full value can still be matched.
const (
	MaxAuditText   = 256
	MaxAuditDetail = 1024
)

// CapText returns s when it has at most max bytes, else a prefix of s (cut at a UTF-8
// boundary) followed by "…[n bytes, sha256:<hex>]" naming the length and digest of the whole
// value; the result has at most max bytes (max ≥ 128).
func CapText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := fmt.Sprintf("…[%d bytes, sha256:%s]", len(s), hex.EncodeToString(sum[:]))
	keep := max - len(tail)
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + tail
}

// auditedError marks an error whose refusal has its audit record: the bindings report
// every other refusal themselves (Service.AuditRefusal), so each refusal is recorded once.
type auditedError struct{ err error }

func (e *auditedError) Error() string { return e.err.Error() }
func (e *auditedError) Unwrap() error { return e.err }

// Audited reports whether err is a refusal the service has already recorded in the audit log.
func Audited(err error) bool {
	var a *auditedError
	return errors.As(err, &a)
}

// record completes ev with the outcome err, logs it and appends it to the audit sink. It
// returns the error the request must end with: err itself, or, when the record could not be
// stored, a ResponderError (then no signature and no SAD may be released). A refused request
// for a credential that is not the caller's is recorded as a key-lookup event.
func (s *Service) record(ctx context.Context, ev *AuditEvent, err error) error {
	res := ResultOf(err, ev.ProblemRef)
	if err != nil || ev.Major == "" {
		ev.Major, ev.Minor = res.Major, res.Minor
	}
	if err != nil {
		if ev.Detail != "" {
			ev.Detail += ": "
		}
		ev.Detail += err.Error()
		ev.Detail = CapText(ev.Detail, MaxAuditDetail)
		if KindOf(err) == KindKeyLookup && ev.Credential != "" {
			ev.Action = AuditKeyLookup
		}
	}
	ev.Time = s.clock().UTC()
	// The attributes of s.log.Info's key-value pairs, without boxing each string (Info logs
	// with the background context too).
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "audit", slog.String("action", ev.Action), slog.String("user", ev.User),
		slog.String("via", ev.Via), slog.String("credential", ev.Credential), slog.Any("digests", ev.Digests),
		slog.String("major", ev.Major), slog.String("minor", ev.Minor), slog.String("request_id", ev.RequestID),
		slog.String("problem_ref", ev.ProblemRef), slog.String("detail", ev.Detail))
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if aerr := s.audit.Append(actx, *ev); aerr != nil {
		s.log.Error("audit record not stored: request refused", "action", ev.Action, "problem_ref", ev.ProblemRef, "err", aerr)
		return &auditedError{Wrap(KindInternal, fmt.Errorf("audit append: %w", aerr), "")}
	}
	if err != nil && !Audited(err) {
		err = &auditedError{err}
	}
	return err
}

// AuditAuthFailure records a failed authentication reported by a binding: remoteAddr is
// the client's address, reason the client-safe cause (never the presented token), requestID
// the client's RequestID when the binding could read it. A failure to store the record is
// logged; the request is refused anyway.
func (s *Service) AuditAuthFailure(ctx context.Context, remoteAddr, reason, requestID string) {
	ev := AuditEvent{
		RequestID: CapText(requestID, MaxAuditText), ProblemRef: CapText(ProblemRefOf(ctx), MaxAuditText), Action: AuditAuthenticate,
		Detail: CapText(fmt.Sprintf("from %s: %s", remoteAddr, reason), MaxAuditDetail),
	}
	_ = s.record(ctx, &ev, Errorf(KindNotAuthenticated, "authentication failed"))
}

// AuditRefusal records a refusal decided outside the service, after the caller c was
// authenticated: a request the binding could not read, parse or convert (bad base64, a
// missing parameter, a body over the limit). action names the operation (an Audit* constant),
// requestID and credential are the client's values when the binding read them. A refusal the
// service already recorded (Audited) is not recorded again. It returns the error the request
// must end with: err, or a ResponderError when the record could not be stored.
func (s *Service) AuditRefusal(ctx context.Context, c Caller, action, requestID, credential string, err error) error {
	if err == nil || Audited(err) {
		return err
	}
	ev := s.event(ctx, c, action, requestID, credential)
	return s.record(ctx, &ev, err)
}
