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
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dssd/binding/authn"
	"dssd/binding/guard"
	"dssd/binding/internal/exchange"
	"dssd/binding/internal/reqlog"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/dss/xmlsafe"
	"dssd/schemas"
)

// Service is the slice of the domain service the XML bindings call, with the audit of the
// refusals the binding decides itself (exchange.Service).
type Service = exchange.Service

// Authenticator establishes the caller of a request.
type Authenticator interface {
	Authenticate(*http.Request) (dss.Caller, error)
}

// Options configure the handler. The zero value is usable.
type Options struct {
	MaxBody int64 // request body limit in bytes; 0: 64 MiB. Also bounds what an MTOM message holds in memory
	// MTOM limits (mtom.go): the whole multipart body (0: MaxBody + MaxAttachmentBytes), one
	// streamed attachment (0: DefaultMaxAttachmentBytes), attachments per message (0:
	// DefaultMaxAttachments), one attachment kept in memory (0: 64 MiB).
	MaxMTOMBody        int64
	MaxAttachmentBytes int64
	MaxAttachments     int
	MaxDocumentBytes   int64
	Logger             *slog.Logger     // one event per request; nil: no logging
	PublicURL          string           // scheme://host[:port] used in the WSDL; empty: taken from the request
	SchemasPath        string           // where GET /schemas/... is mounted; empty: "/schemas/"
	Now                func() time.Time // nil: time.Now
	NewID              func() string    // request ids (ProblemReference); nil: random
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
	if opts.MaxAttachmentBytes <= 0 {
		opts.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	if opts.MaxMTOMBody <= 0 {
		opts.MaxMTOMBody = opts.MaxBody + opts.MaxAttachmentBytes
	}
	if opts.MaxAttachments <= 0 {
		opts.MaxAttachments = DefaultMaxAttachments
	}
	if opts.MaxDocumentBytes <= 0 {
		opts.MaxDocumentBytes = 64 << 20
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

	ct := r.Header.Get("Content-Type")
	mtom, mparams := isMTOM(ct)
	var mv version
	var bad string
	if mtom {
		mv, bad = mtomVersion(mparams)
	} else {
		mv, bad = mediaVersion(ct)
	}
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
	var body []byte
	var mr *multipart.Reader
	var err error
	if mtom {
		ev.MTOM = true
		body, mr, err = h.readMTOMRoot(w, r, authErr == nil, mparams, max)
	} else {
		body, err = exchange.ReadBody(w, r, max)
	}
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
		reason := "the message could not be read"
		if mtom && !errors.Is(err, io.ErrUnexpectedEOF) {
			reason = "the MTOM message could not be read: " + exchange.ClientText(err.Error())
		}
		h.writeFault(w, r, ev, mv, senderFault(reason), 0, authErr)
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
	if mr == nil {
		out := exchange.Call(r.Context(), h.svc, caller, p.op, p.req, ev.ID)
		ev.Err = out.Err
		h.writeResponse(w, ev, v, http.StatusOK, out.Response, out.Result)
		return
	}
	// MTOM: the attachments are read now, after authentication and parsing.
	atts, err := xmlwire.Attachments(p.req)
	if err == nil {
		err = readAttachments(mr, atts, attachmentLimits{
			maxBytes: h.opts.MaxAttachmentBytes, maxCount: h.opts.MaxAttachments,
			maxDoc: h.opts.MaxDocumentBytes, maxHeld: h.opts.MaxBody,
		}, int64(len(body)), ev)
	}
	if errors.Is(err, exchange.ErrBusy) {
		res := dss.ResultOf(exchange.BusyError, ev.ID)
		w.Header().Set("Retry-After", exchange.RetryAfter)
		ev.Err = err
		h.writeResponse(w, ev, v, http.StatusServiceUnavailable, xmlwire.ErrorResponse(p.op, p.reqID, res), res)
		return
	}
	var out exchange.Outcome
	if err != nil {
		out = exchange.Refuse(r.Context(), h.svc, caller, p.op, p.reqID, ev.ID, err)
	} else {
		out = exchange.Call(r.Context(), h.svc, caller, p.op, p.req, ev.ID)
	}
	ev.Err = out.Err
	h.writeMTOMResponse(w, ev, v, http.StatusOK, out.Response, out.Result)
}

// readMTOMRoot starts reading an MTOM message: the root part, at most max bytes, with the
// whole body bounded by the MTOM limit (authenticated) or the unauthenticated limit.
func (h *handler) readMTOMRoot(w http.ResponseWriter, r *http.Request, authenticated bool, params map[string]string, max int64) ([]byte, *multipart.Reader, error) {
	total := h.opts.MaxMTOMBody
	if !authenticated {
		total = exchange.UnauthenticatedMaxBody
	}
	if guard.Busy(r.Context()) {
		return nil, nil, exchange.ErrBusy
	}
	if r.ContentLength > total {
		return nil, nil, exchange.ErrTooLarge
	}
	if authenticated {
		// The upload may be long: the server's deadlines for streaming requests apply now,
		// and the guard reserves only what this handler holds (the root part, small values).
		guard.Extend(r.Context())
		guard.Stream(r, h.opts.MaxBody)
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, total), params["boundary"])
	root, err := readRoot(mr, params["start"], max)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = exchange.ErrTooLarge
	}
	return root, mr, err
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

// writeMTOMResponse answers an MTOM request: as an MTOM message when the response carries
// large binary values (they become attachments), else as writeResponse does.
func (h *handler) writeMTOMResponse(w http.ResponseWriter, ev *reqlog.Event, v version, status int, resp any, res dss.Result) {
	boundary := newBoundary()
	atts := xmlwire.Optimize(resp, respOptimizeMin, cidGen(boundary))
	if len(atts) == 0 {
		h.writeResponse(w, ev, v, status, resp, res)
		return
	}
	msg, err := exchange.Encode(envelopeStart(v), resp, envelopeEnd)
	if err != nil {
		ev.Err = err
		h.writeFault(w, nil, ev, v, &fault{kind: faultReceiver, reason: "internal error; problem reference " + ev.ID}, 0, nil)
		return
	}
	defer msg.Release()
	body, ct := mtomResponse(v, msg.Bytes(), atts, boundary)
	ev.Status, ev.Major, ev.Minor = status, res.Major, res.Minor
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
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

// The placeholder address in schemas/dssd.wsdl replaced when it is served; its wsdl:types
// are replaced by the schemas inline (wsdl.go).
const wsdlAddress = "https://dssd.invalid/soap"

func (h *handler) serveWSDL(w http.ResponseWriter, r *http.Request) {
	raw, err := schemas.FS.ReadFile(schemas.WSDL)
	if err != nil {
		http.Error(w, "WSDL not available", http.StatusInternalServerError)
		return
	}
	types, err := wsdlTypes()
	if err != nil {
		http.Error(w, "WSDL not available", http.StatusInternalServerError)
		return
	}
	base := h.baseURL(r)
	out := bytes.ReplaceAll(raw, []byte(wsdlAddress), []byte(escape(base+r.URL.Path)))
	out = typesElement.ReplaceAllLiteral(out, bytes.ReplaceAll(types, []byte(xmlXSDPlaceholder),
		[]byte(escape(base+h.opts.SchemasPath+"xml.xsd"))))
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
