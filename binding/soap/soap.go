// Package soap is the SOAP 1.2 / SOAP 1.1 binding of DSS-X 2.0 (protocol.md §10): POST /soap
// with one dss2:SignRequest, dss2:VerifyRequest or dss2:PendingRequest in the Body, answered
// in the SOAP version received, and GET /soap?wsdl.
//
// A SOAP Fault is sent only when the envelope or the DSS element cannot be parsed (Sender /
// Client) and for SOAP's own rules (VersionMismatch, MustUnderstand); every other error is a
// DSS Result inside a normal response. The raw body passes the ingress gate (dss/xmlsafe)
// before any parsing.
package soap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dssd/binding/authn"
	"dssd/binding/internal/exchange"
	"dssd/binding/internal/reqlog"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/dss/xmlsafe"
	"dssd/schemas"
)

// Service is the slice of the domain service this binding calls.
type Service interface {
	Sign(ctx context.Context, c dss.Caller, req *dss.SignRequest) (*dss.SignResponse, error)
	Verify(ctx context.Context, c dss.Caller, req *dss.VerifyRequest) (*dss.VerifyResponse, error)
	Pending(ctx context.Context, c dss.Caller, req *dss.PendingRequest) (*dss.SignResponse, error)
}

// Authenticator establishes the caller of a request.
type Authenticator interface {
	Authenticate(*http.Request) (dss.Caller, error)
}

// Options configure the handler. The zero value is usable.
type Options struct {
	MaxBody     int64            // request body limit in bytes; 0: 64 MiB
	Logger      *slog.Logger     // one event per request; nil: no logging
	PublicURL   string           // scheme://host[:port] used in the WSDL; empty: taken from the request
	SchemasPath string           // where GET /schemas/... is mounted; empty: "/schemas/"
	Now         func() time.Time // nil: time.Now
	NewID       func() string    // request ids (ProblemReference); nil: random
}

type handler struct {
	svc  Service
	auth Authenticator
	opts Options
}

// New returns the handler for POST /soap and GET /soap?wsdl (mount it at /soap).
func New(svc Service, auth Authenticator, opts Options) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = exchange.DefaultMaxBody
	}
	if opts.SchemasPath == "" {
		opts.SchemasPath = "/schemas/"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = reqlog.NewID
	}
	return &handler{svc: svc, auth: auth, opts: opts}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if isWSDLQuery(r) {
			h.serveWSDL(w, r)
			return
		}
		http.Error(w, "GET /soap?wsdl returns the WSDL; requests are POSTed", http.StatusNotFound)
	case http.MethodPost:
		h.serveSOAP(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func isWSDLQuery(r *http.Request) bool {
	for k := range r.URL.Query() {
		if strings.EqualFold(k, "wsdl") {
			return true
		}
	}
	return false
}

// mediaVersion returns the SOAP version announced by the Content-Type, or an error text.
func mediaVersion(ct string) (version, string) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return version{}, "missing or invalid Content-Type; use application/soap+xml (SOAP 1.2) or text/xml (SOAP 1.1)"
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return version{}, "only the utf-8 charset is accepted"
	}
	switch mt {
	case "application/soap+xml":
		return v12, ""
	case "text/xml":
		return v11, ""
	}
	return version{}, "unsupported media type " + mt + "; use application/soap+xml (SOAP 1.2) or text/xml (SOAP 1.1)"
}

func (h *handler) serveSOAP(w http.ResponseWriter, r *http.Request) {
	ev := reqlog.Start(h.opts.NewID(), "soap", h.opts.Now())
	defer func() { ev.Log(r.Context(), h.opts.Logger, h.opts.Now()) }()

	mv, bad := mediaVersion(r.Header.Get("Content-Type"))
	if bad != "" {
		ev.Status = http.StatusUnsupportedMediaType
		http.Error(w, bad, ev.Status)
		return
	}
	ev.Binding = mv.name
	caller, authErr := h.auth.Authenticate(r)
	if authErr == nil {
		ev.User, ev.Via = caller.User, caller.Via
	}
	defer func() {
		if authErr != nil && (ev.Status == http.StatusUnauthorized || ev.Status == http.StatusTooManyRequests) {
			authn.ReportFailure(dss.WithProblemRef(r.Context(), ev.ID), h.svc, r, authErr, ev.RequestID)
		}
	}()
	if authn.Throttled(authErr) {
		// Too many failed authentications from this address: 429 at once, nothing read.
		res := dss.ResultOf(authErr, ev.ID)
		authn.SetRetryAfter(w.Header(), authErr)
		ev.Err = authErr
		h.writeResponse(w, ev, mv, http.StatusTooManyRequests, xmlwire.ErrorPendingResponse("", res), res)
		return
	}

	max := h.opts.MaxBody
	if authErr != nil {
		max = exchange.UnauthenticatedMaxBody
	}
	body, err := exchange.ReadBody(w, r, max)
	if err != nil {
		if errors.Is(err, exchange.ErrBusy) {
			// Over the overload limits: 503 with the generic DSS response, nothing read.
			res := dss.ResultOf(exchange.BusyError, ev.ID)
			w.Header().Set("Retry-After", exchange.RetryAfter)
			ev.Err = err
			h.writeResponse(w, ev, mv, http.StatusServiceUnavailable, xmlwire.ErrorPendingResponse("", res), res)
			return
		}
		if errors.Is(err, exchange.ErrTooLarge) && authErr != nil {
			// A large body from a caller that failed authentication is not read: 401 at once,
			// with the generic DSS response (the operation is not known without the body).
			res := dss.ResultOf(authErr, ev.ID)
			authn.Challenge(w.Header())
			ev.Err = authErr
			h.writeResponse(w, ev, mv, http.StatusUnauthorized, xmlwire.ErrorPendingResponse("", res), res)
			return
		}
		if errors.Is(err, exchange.ErrTooLarge) {
			f := senderFault("the message exceeds the size limit")
			h.writeFault(w, r, ev, mv, f, http.StatusRequestEntityTooLarge, authErr)
			return
		}
		ev.Err = err
		h.writeFault(w, r, ev, mv, senderFault("the message could not be read"), 0, authErr)
		return
	}
	toks, err := exchange.GateTokens(body, h.opts.MaxBody)
	if err != nil {
		ev.Err = err
		reason := "the message was refused: " + exchange.ClientText(err.Error())
		var xe *xmlsafe.Error
		if !errors.As(err, &xe) {
			reason = "the message was refused"
		}
		h.writeFault(w, r, ev, mv, senderFault(reason), 0, authErr)
		return
	}
	p, v, f := parseEnvelope(toks, authErr != nil, mv)
	ev.Binding = v.name
	if f != nil {
		h.writeFault(w, r, ev, v, f, 0, authErr)
		return
	}
	ev.Operation, ev.RequestID = p.op.String(), p.reqID

	if authErr != nil {
		res := dss.ResultOf(authErr, ev.ID)
		authn.Challenge(w.Header())
		ev.Err = authErr
		h.writeResponse(w, ev, v, http.StatusUnauthorized, xmlwire.ErrorResponse(p.op, p.reqID, res), res)
		return
	}
	out := exchange.Call(r.Context(), h.svc, caller, p.op, p.req, ev.ID)
	ev.Err = out.Err
	h.writeResponse(w, ev, v, http.StatusOK, out.Response, out.Result)
}

func (h *handler) writeResponse(w http.ResponseWriter, ev *reqlog.Event, v version, status int, resp any, res dss.Result) {
	msg, err := exchange.Encode(envelopeStart(v), resp, envelopeEnd)
	if err != nil {
		ev.Err = err
		h.writeFault(w, nil, ev, v, &fault{kind: faultReceiver, reason: "internal error; problem reference " + ev.ID}, 0, nil)
		return
	}
	defer msg.Release()
	ev.Status, ev.Major, ev.Minor = status, res.Major, res.Minor
	w.Header().Set("Content-Type", v.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(msg.Bytes()))) // one body, not chunks
	w.WriteHeader(status)
	_, _ = w.Write(msg.Bytes())
}

// writeFault sends f. status overrides the SOAP status (413); an unauthenticated request
// gets 401 with the fault as body. The fault refusing an authenticated request (r not nil)
// is recorded in the audit log first.
func (h *handler) writeFault(w http.ResponseWriter, r *http.Request, ev *reqlog.Event, v version, f *fault, status int, authErr error) {
	msg, st, code := faultMessage(v, f)
	if status != 0 {
		st = status
	}
	if r != nil && authErr == nil && ev.User != "" {
		kind := dss.KindMalformed
		if st == http.StatusRequestEntityTooLarge {
			kind = dss.KindLimit
		}
		refusal := dss.Wrap(kind, ev.Err, "SOAP fault: "+f.reason)
		_ = exchange.ReportRefusal(dss.WithProblemRef(r.Context(), ev.ID), h.svc, dss.Caller{User: ev.User, Via: ev.Via},
			exchange.ActionOfName(ev.Operation), ev.RequestID, "", refusal)
	}
	if authErr != nil && st != http.StatusRequestEntityTooLarge {
		authn.Challenge(w.Header())
		st = http.StatusUnauthorized
	}
	ev.Status, ev.Fault = st, code
	w.Header().Set("Content-Type", v.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(st)
	_, _ = w.Write(msg)
}

// Placeholders in schemas/dssd.wsdl replaced when it is served.
const (
	wsdlAddress        = "https://dssd.invalid/soap"
	wsdlSchemaLocation = `schemaLocation="dssd-pending.xsd"`
)

func (h *handler) serveWSDL(w http.ResponseWriter, r *http.Request) {
	raw, err := schemas.FS.ReadFile(schemas.WSDL)
	if err != nil {
		http.Error(w, "WSDL not available", http.StatusInternalServerError)
		return
	}
	base := h.baseURL(r)
	out := bytes.ReplaceAll(raw, []byte(wsdlAddress), []byte(escape(base+r.URL.Path)))
	out = bytes.ReplaceAll(out, []byte(wsdlSchemaLocation),
		[]byte(`schemaLocation="`+escape(base+h.opts.SchemasPath+schemas.PendingXSD)+`"`))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, bytes.NewReader(out))
}

// baseURL is Options.PublicURL, or scheme://host of the request (host restricted to the
// characters of a host name, IP literal and port).
func (h *handler) baseURL(r *http.Request) string {
	if h.opts.PublicURL != "" {
		return strings.TrimRight(h.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" || strings.IndexFunc(host, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c))
	}) >= 0 {
		host = "localhost"
	}
	return scheme + "://" + host
}
