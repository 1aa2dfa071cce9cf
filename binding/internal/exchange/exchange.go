// Package exchange is the part the XML bindings share between HTTP and the domain: the
// request flow (Flow: read and gate the body, find and decode the DSS request element,
// authenticate, call the service, encode its answer or error as the response element, and
// audit every refusal the binding decides), and the one Service interface the bindings take,
// on which the audit of those refusals is declared (Auditor). soap and httpxml add only their
// envelope and path rules (Binding, Envelope).
package exchange

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"dssd/binding/authn"
	"dssd/binding/guard"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/dss/xmlsafe"
	"dssd/internal/positive"
)

// DefaultMaxBody is the default request body limit of the XML bindings.
const DefaultMaxBody = 64 << 20

// Service is the slice of the domain service the XML bindings (soap, httpxml) call: the
// three operations and the records of the refusals a binding decides itself (Auditor).
type Service interface {
	Sign(ctx context.Context, c dss.Caller, req *dss.SignRequest) (*dss.SignResponse, error)
	Verify(ctx context.Context, c dss.Caller, req *dss.VerifyRequest) (*dss.VerifyResponse, error)
	Pending(ctx context.Context, c dss.Caller, req *dss.PendingRequest) (*dss.SignResponse, error)
	Auditor
}

// Auditor records the refusals a binding decides itself: failed authentications
// (authn.FailureAuditor) and refusals of authenticated requests decided outside the service
// (RefusalAuditor). Every binding's Service declares it, so a wrapper of the service that
// does not pass these records on does not compile, rather than losing them silently.
type Auditor interface {
	authn.FailureAuditor
	RefusalAuditor
}

// dss.Service is what the bindings are given in cmd/dssd.
var _ Service = (*dss.Service)(nil)

// ErrTooLarge reports a body over the configured limit (HTTP 413).
var ErrTooLarge = errors.New("request body too large")

// ErrBusy is guard.ErrBusy: the request is over a limit on request bytes in flight or on
// connections (503 with Retry-After).
var ErrBusy = guard.ErrBusy

// BusyError is the dss error of an overload answer (KindBusy: ResponderError, ServerBusy).
var BusyError = dss.Errorf(dss.KindBusy, "too many connections or request bytes in flight")

// RetryAfter is the Retry-After value (seconds) of an overload answer.
const RetryAfter = "2"

// UnauthenticatedMaxBody caps what is read of a request whose authentication failed: enough
// to find the DSS element and its RequestID for the 401 answer, never a stranger's large body.
const UnauthenticatedMaxBody = 64 << 10

// preallocMax bounds the buffer ReadBody sets aside for an announced Content-Length.
const preallocMax = 1 << 20

// ReadBody reads r's body up to max bytes (max ≤ 0: DefaultMaxBody). A body over the limit,
// announced or actual, gives ErrTooLarge; a request over the overload limits (binding/guard)
// gives ErrBusy, to be answered 503 with Retry-After.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if guard.Busy(r.Context()) {
		return nil, ErrBusy
	}
	if r.ContentLength > max {
		return nil, ErrTooLarge
	}
	// Room for the announced length up front (one allocation instead of a slice that grows
	// and is copied), but never more than preallocMax before the bytes have arrived.
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 {
		buf.Grow(int(min(n, preallocMax)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max))
	b := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	return b, nil
}

// GateTokens runs the ingress gate with the envelope limits, the size limit being the body
// limit (maxBody ≤ 0: DefaultMaxBody) and the node limit nodes (≤ 0:
// xmlsafe.DefaultEnvelopeNodes), and returns the raw tokens it checked, for
// xmlwire.NewTokens: the body is tokenized once.
func GateTokens(b []byte, maxBody, nodes int64) ([]xml.Token, error) {
	return xmlsafe.Tokens(b, envelopeLimits(maxBody, nodes))
}

// envelopeLimits are the gate's limits: xmlsafe.EnvelopeLimits with the body limit maxBody and
// the node limit nodes, each taking its default when not positive.
func envelopeLimits(maxBody, nodes int64) xmlsafe.Limits {
	lim := xmlsafe.EnvelopeLimits()
	lim.MaxBytes, lim.MaxNodes = maxBody, nodes
	positive.Or(&lim.MaxBytes, DefaultMaxBody)
	positive.Or(&lim.MaxNodes, xmlsafe.DefaultEnvelopeNodes)
	return lim
}

// StripBOM removes a leading UTF-8 byte order mark, which encoding/xml does not skip.
func StripBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

// RequestID returns the RequestID attribute of a wire request.
func RequestID(req any) string {
	switch q := req.(type) {
	case *xmlwire.SignRequest:
		return q.RequestID
	case *xmlwire.VerifyRequest:
		return q.RequestID
	case *xmlwire.PendingRequest:
		return q.RequestID
	}
	return ""
}

// RefusalAuditor records a refusal decided after authentication outside the service;
// dss.Service implements it.
type RefusalAuditor interface {
	AuditRefusal(ctx context.Context, c dss.Caller, action, requestID, credential string, err error) error
}

// ReportRefusal records err, the refusal of an authenticated request by caller c, with a
// unless the service has recorded it already (dss.Audited). ctx should carry the problem
// reference (dss.WithProblemRef). It returns the error to answer with: err, or a
// ResponderError when the record could not be stored (no refusal goes unrecorded silently).
// Overload answers (ErrBusy) are not refusals of the request and are not recorded.
func ReportRefusal(ctx context.Context, a RefusalAuditor, c dss.Caller, action, requestID, credential string, err error) error {
	if a == nil || err == nil || dss.Audited(err) || errors.Is(err, ErrBusy) || dss.KindOf(err) == dss.KindBusy {
		return err
	}
	return a.AuditRefusal(ctx, c, action, requestID, credential, err)
}

// ActionOf is the audit action of a refused request of op.
func ActionOf(op xmlwire.Op) string {
	switch op {
	case xmlwire.OpVerify:
		return dss.AuditVerify
	case xmlwire.OpPending:
		return dss.AuditPending
	}
	return dss.AuditSign
}

// ActionOfName is the audit action of a refused request of the operation named name
// (xmlwire.Op.String); AuditRequest when the operation is not known.
func ActionOfName(name string) string {
	switch name {
	case xmlwire.OpSign.String():
		return dss.AuditSign
	case xmlwire.OpVerify.String():
		return dss.AuditVerify
	case xmlwire.OpPending.String():
		return dss.AuditPending
	}
	return dss.AuditRequest
}

// Outcome is the result of Call: the response element and what to log.
type Outcome struct {
	Response any        // *xmlwire.SignResponse, *xmlwire.VerifyResponse or *xmlwire.Response
	Result   dss.Result // the Result carried by Response
	Err      error      // internal error (converter or service), nil on success
}

// Refuse answers the request of op with err, a refusal found by the binding after the
// caller was authenticated and the request decoded (an MTOM attachment that is missing or
// too large): recorded in the audit log as Call records its refusals, with the RequestID
// echoed.
func Refuse(ctx context.Context, svc Service, c dss.Caller, op xmlwire.Op, rid string, problemRef string, err error) Outcome {
	ctx = dss.WithProblemRef(ctx, problemRef)
	err = ReportRefusal(ctx, svc, c, ActionOf(op), rid, "", err)
	res := dss.ResultOf(err, problemRef)
	return Outcome{Response: xmlwire.ErrorResponse(op, rid, res), Result: res, Err: err}
}

// Call converts the wire request of op, calls svc and converts the answer. Every failure
// becomes a DSS Result built by dss.ResultOf with problemRef; the RequestID is echoed.
func Call(ctx context.Context, svc Service, c dss.Caller, op xmlwire.Op, req any, problemRef string) Outcome {
	ctx = dss.WithProblemRef(ctx, problemRef) // audit records carry the ProblemReference
	rid := RequestID(req)
	fail := func(err error) Outcome {
		// Conversion errors (bad base64, a wrong namespace) and service errors the service
		// did not record are recorded here: every refusal of an authenticated request has
		// exactly one audit record.
		err = ReportRefusal(ctx, svc, c, ActionOf(op), rid, "", err)
		res := dss.ResultOf(err, problemRef)
		return Outcome{Response: xmlwire.ErrorResponse(op, rid, res), Result: res, Err: err}
	}
	var resp any
	var err error
	switch q := req.(type) {
	case *xmlwire.SignRequest:
		resp, err = invoke(ctx, c, q, xmlwire.SignRequestFromWire, svc.Sign, xmlwire.SignResponseToWire, "SignResponse")
	case *xmlwire.VerifyRequest:
		resp, err = invoke(ctx, c, q, xmlwire.VerifyRequestFromWire, svc.Verify, xmlwire.VerifyResponseToWire, "VerifyResponse")
	case *xmlwire.PendingRequest:
		resp, err = invoke(ctx, c, q, xmlwire.PendingRequestFromWire, svc.Pending, xmlwire.PendingResponseToWire,
			"SignResponse to a PendingRequest")
	default:
		err = fmt.Errorf("unexpected wire request %T", req)
	}
	if err != nil {
		return fail(err)
	}
	var res xmlwire.Result
	switch w := resp.(type) {
	case *xmlwire.SignResponse: // also the answer to a PendingRequest
		w.RequestID, res = rid, w.Result
	case *xmlwire.VerifyResponse:
		w.RequestID, res = rid, w.Result
	}
	return Outcome{Response: resp, Result: resultOf(res)}
}

// invoke converts the wire request q with fromWire, calls op with it and converts the answer
// with toWire; a missing answer (named what) is an error.
func invoke[Q, M, R, W any](ctx context.Context, c dss.Caller, q *Q, fromWire func(*Q) (*M, error),
	op func(context.Context, dss.Caller, *M) (*R, error), toWire func(*R) W, what string) (W, error) {
	m, err := fromWire(q)
	var resp *R
	if err == nil {
		resp, err = op(ctx, c, m)
	}
	if err == nil && resp == nil {
		err = errors.New("service returned no " + what)
	}
	if err != nil {
		var none W
		return none, err
	}
	return toWire(resp), nil
}

func resultOf(w xmlwire.Result) dss.Result {
	return dss.Result{Major: w.ResultMajor, Minor: w.ResultMinor, ProblemReference: w.ProblemReference}
}

// UnknownElementError reports a request element that is not a DSS request dssd serves.
type UnknownElementError struct{ Name xml.Name }

func (e *UnknownElementError) Error() string {
	if e.Name.Space == "" {
		return fmt.Sprintf("element %s is not a DSS-X 2.0 request", e.Name.Local)
	}
	return fmt.Sprintf("element {%s}%s is not a DSS-X 2.0 request", e.Name.Space, e.Name.Local)
}

// DecodeRequest decodes the DSS request element that start opens: SignRequest,
// VerifyRequest or PendingRequest in the core namespace.
func DecodeRequest(d xmlwire.TokenReader, start xml.StartElement) (xmlwire.Op, any, error) {
	op, ok := xmlwire.OpOf(start.Name)
	if !ok {
		return 0, nil, &UnknownElementError{Name: start.Name}
	}
	req := xmlwire.NewRequest(op)
	if err := d.DecodeElement(req, &start); err != nil {
		return op, nil, fmt.Errorf("decoding %s: %w", start.Name.Local, err)
	}
	return op, req, nil
}

// PeekRequestID returns the RequestID attribute of start, without decoding the element.
func PeekRequestID(start xml.StartElement) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "RequestID" {
			return a.Value
		}
	}
	return ""
}

// ClientText shortens a client-safe error message for a Fault reason or ResultMessage.
func ClientText(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
