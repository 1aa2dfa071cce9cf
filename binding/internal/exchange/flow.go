package exchange

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"dssd/binding/authn"
	"dssd/binding/internal/reqlog"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/internal/positive"
)

// Authenticator establishes the caller of a request.
type Authenticator interface {
	Authenticate(*http.Request) (dss.Caller, error)
}

// Flow is the request flow the XML bindings share: read the body, pass it through the ingress
// gate, find and decode the DSS request, authenticate the caller, call the service, encode the
// answer, and record in the audit log every refusal the binding decides (a failed
// authentication, a request it cannot read). A binding adds only its own rules (Binding).
type Flow struct {
	Binding  Binding
	Service  Service
	Auth     Authenticator
	Name     string           // the binding's name in the request log ("soap", "httpxml")
	MaxBody  int64            // request body limit in bytes; 0: DefaultMaxBody
	MaxNodes int64            // nodes of a request body (xmlsafe Limits.MaxNodes); 0: xmlsafe.DefaultEnvelopeNodes
	Logger   *slog.Logger     // one event per request; nil: no logging
	Now      func() time.Time // nil: time.Now
	NewID    func() string    // request ids (ProblemReference); nil: random
}

// Binding is what one XML binding adds to the Flow: the rules that come before
// authentication (method, path, media type), returning the request's Envelope.
type Binding interface {
	// Open checks what the binding requires before the caller is authenticated and returns
	// the envelope rules of the request; nil when it refused (and answered) the request.
	Open(x *Exchange) Envelope
}

// Envelope is one request's envelope and path rules, called by Flow.Serve in this order.
type Envelope interface {
	// ReadBody reads the message, at most max bytes (for MTOM, its root part), as ReadBody
	// does: ErrBusy and ErrTooLarge are answered by the flow when the caller failed
	// authentication, by Refuse otherwise.
	ReadBody(x *Exchange, max int64) ([]byte, error)
	// Refuse answers a body that could not be read (err from ReadBody; gate false) or that
	// the ingress gate refused (gate true), recording the refusal (x.AuditRefusal).
	Refuse(x *Exchange, err error, gate bool)
	// Parse finds the DSS request in the gated tokens and sets x.Op, x.Ev.Operation and
	// x.Ev.RequestID. When the caller failed authentication (x.AuthErr) the request element is
	// only named, not decoded. false: Parse refused (and answered) the request.
	Parse(x *Exchange, toks []xml.Token) (req any, ok bool)
	// Attach completes the decoded request before the call (MTOM attachments); an error
	// refuses the request (ErrBusy: 503).
	Attach(x *Exchange, req any) error
	// Write writes a DSS response element with status; final is the answer of the service (or
	// of a refusal after the request was decoded), written after the call.
	Write(x *Exchange, status int, resp any, res dss.Result, final bool)
}

// Exchange is one request in the Flow.
type Exchange struct {
	W       http.ResponseWriter
	R       *http.Request
	Ev      *reqlog.Event
	Caller  dss.Caller
	AuthErr error      // the failed authentication; nil when the caller is authenticated
	Op      xmlwire.Op // the operation, when HasOp
	HasOp   bool       // the operation is known (from the path or the request element)
	flow    *Flow
	event   reqlog.Event
}

// Serve runs the flow for one request.
func (f *Flow) Serve(w http.ResponseWriter, r *http.Request) {
	x := &Exchange{W: w, R: r, flow: f, event: *reqlog.Start(f.NewID(), f.Name, f.Now())}
	ev := &x.event // one allocation for both
	x.Ev = ev
	defer func() { ev.Log(r.Context(), f.Logger, f.Now()) }()
	env := f.Binding.Open(x)
	if env == nil {
		return
	}
	x.Caller, x.AuthErr = f.Auth.Authenticate(r)
	if x.AuthErr == nil {
		ev.User, ev.Via = x.Caller.User, x.Caller.Via
	}
	defer func() {
		if x.AuthErr != nil && (ev.Status == http.StatusUnauthorized || ev.Status == http.StatusTooManyRequests) {
			authn.ReportFailure(dss.WithProblemRef(r.Context(), ev.ID), f.Service, r, x.AuthErr, ev.RequestID)
		}
	}()
	if authn.Throttled(x.AuthErr) {
		// Too many failed authentications from this address: 429 at once, nothing read.
		authn.SetRetryAfter(w.Header(), x.AuthErr)
		ev.Err = x.AuthErr
		x.answer(env, http.StatusTooManyRequests, x.AuthErr)
		return
	}

	max := f.MaxBody
	if x.AuthErr != nil {
		max = UnauthenticatedMaxBody
	}
	body, err := env.ReadBody(x, max)
	switch {
	case err == nil:
	case errors.Is(err, ErrBusy):
		// Over the overload limits: 503 with the DSS error response, nothing read.
		x.busy(env, err)
		return
	case errors.Is(err, ErrTooLarge) && x.AuthErr != nil:
		// A large body from a caller that failed authentication is not read: 401 at once.
		x.unauthorized(env)
		return
	default:
		env.Refuse(x, err, false)
		return
	}
	toks, err := GateTokens(body, f.MaxBody, f.MaxNodes)
	if err != nil {
		env.Refuse(x, err, true)
		return
	}
	req, ok := env.Parse(x, toks)
	if !ok {
		return
	}
	if x.AuthErr != nil {
		x.unauthorized(env)
		return
	}
	err = env.Attach(x, req)
	if errors.Is(err, ErrBusy) {
		x.busy(env, err)
		return
	}
	var out Outcome
	if err != nil {
		out = Refuse(r.Context(), f.Service, x.Caller, x.Op, ev.RequestID, ev.ID, err)
	} else {
		out = Call(r.Context(), f.Service, x.Caller, x.Op, req, ev.ID)
	}
	ev.Err = out.Err
	env.Write(x, http.StatusOK, out.Response, out.Result, true)
}

// answer answers with the DSS error response for err: the operation's when it is known, else
// the generic one (dss2:Response).
func (x *Exchange) answer(env Envelope, status int, err error) {
	res := dss.ResultOf(err, x.Ev.ID)
	var resp any
	if x.HasOp {
		resp = xmlwire.ErrorResponse(x.Op, x.Ev.RequestID, res)
	} else {
		resp = xmlwire.ErrorPendingResponse("", res)
	}
	env.Write(x, status, resp, res, false)
}

// busy answers a request over the overload limits: 503 with Retry-After.
func (x *Exchange) busy(env Envelope, err error) {
	x.W.Header().Set("Retry-After", RetryAfter)
	x.Ev.Err = err
	x.answer(env, http.StatusServiceUnavailable, BusyError)
}

// unauthorized answers a caller that failed authentication: 401 with the challenge.
func (x *Exchange) unauthorized(env Envelope) {
	authn.Challenge(x.W.Header())
	x.Ev.Err = x.AuthErr
	x.answer(env, http.StatusUnauthorized, x.AuthErr)
}

// MaxBody is the flow's request body limit.
func (x *Exchange) MaxBody() int64 { return x.flow.MaxBody }

// AuditRefusal records err, a refusal the binding decided, when the caller was authenticated
// (ReportRefusal), and returns the error to answer with.
func (x *Exchange) AuditRefusal(err error) error {
	if x.AuthErr != nil || x.Ev.User == "" {
		return err
	}
	return ReportRefusal(dss.WithProblemRef(x.R.Context(), x.Ev.ID), x.flow.Service, dss.Caller{User: x.Ev.User, Via: x.Ev.Via},
		ActionOfName(x.Ev.Operation), x.Ev.RequestID, "", err)
}

// Defaults fills in the zero fields of f.
func (f *Flow) Defaults() {
	positive.Or(&f.MaxBody, DefaultMaxBody)
	if f.Now == nil {
		f.Now = time.Now
	}
	if f.NewID == nil {
		f.NewID = reqlog.NewID
	}
}
