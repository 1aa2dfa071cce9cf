package dss

import (
	"context"
	"crypto"
	"encoding/hex"
	"fmt"
	"time"
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
		RequestID: requestID, ProblemRef: ProblemRefOf(ctx),
		User: c.User, Via: c.Via, Action: action, Credential: credential,
	}
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
		if KindOf(err) == KindKeyLookup && ev.Credential != "" {
			ev.Action = AuditKeyLookup
		}
	}
	ev.Time = s.clock().UTC()
	s.log.Info("audit", "action", ev.Action, "user", ev.User, "via", ev.Via, "credential", ev.Credential,
		"digests", ev.Digests, "major", ev.Major, "minor", ev.Minor, "request_id", ev.RequestID,
		"problem_ref", ev.ProblemRef, "detail", ev.Detail)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if aerr := s.audit.Append(actx, *ev); aerr != nil {
		s.log.Error("audit record not stored: request refused", "action", ev.Action, "problem_ref", ev.ProblemRef, "err", aerr)
		return Wrap(KindInternal, fmt.Errorf("audit append: %w", aerr), "")
	}
	return err
}

// AuditAuthFailure records a failed authentication reported by a binding: remoteAddr is
// the client's address, reason the client-safe cause (never the presented token), requestID
// the client's RequestID when the binding could read it. A failure to store the record is
// logged; the request is refused anyway.
func (s *Service) AuditAuthFailure(ctx context.Context, remoteAddr, reason, requestID string) {
	ev := AuditEvent{
		RequestID: requestID, ProblemRef: ProblemRefOf(ctx), Action: AuditAuthenticate,
		Detail: fmt.Sprintf("from %s: %s", remoteAddr, reason),
	}
	_ = s.record(ctx, &ev, Errorf(KindNotAuthenticated, "authentication failed"))
}
