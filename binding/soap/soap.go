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
	"encoding/xml"
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
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/dss/xmlsafe"
	"dssd/schemas"
)

// Service is the slice of the domain service the XML bindings call, with the audit of the
// refusals the binding decides itself (exchange.Service).
type Service = exchange.Service

// Authenticator establishes the caller of a request.
type Authenticator = exchange.Authenticator

// Options configure the handler. The zero value is usable.
type Options struct {
	MaxBody int64 // request body limit in bytes; 0: 64 MiB. Also bounds what an MTOM message holds in memory
	// MaxNodes bounds the nodes of the envelope (of an MTOM message: of its root part); 0:
	// xmlsafe.DefaultEnvelopeNodes.
	MaxNodes int64
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
	opts Options
	flow exchange.Flow
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
	h := &handler{opts: opts}
	h.flow = exchange.Flow{Binding: h, Service: svc, Auth: auth, Name: "soap",
		MaxBody: opts.MaxBody, MaxNodes: opts.MaxNodes, Logger: opts.Logger, Now: opts.Now, NewID: opts.NewID}
	h.flow.Defaults()
	return h
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

// serveSOAP runs the shared request flow (exchange.Flow) with the SOAP rules (message).
func (h *handler) serveSOAP(w http.ResponseWriter, r *http.Request) { h.flow.Serve(w, r) }

// message is one SOAP request: its media type, version and MTOM parts (exchange.Envelope).
type message struct {
	h       *handler
	v       version // the version announced by the media type, then the envelope's
	mtom    bool
	mparams map[string]string // the MTOM media type's parameters
	mr      *multipart.Reader // the rest of an MTOM message, after its root part
	held    int64             // bytes of the root part
}

// Open checks the media type: SOAP 1.2, SOAP 1.1 or MTOM (415 otherwise).
func (h *handler) Open(x *exchange.Exchange) exchange.Envelope {
	ct := x.R.Header.Get("Content-Type")
	m := &message{h: h}
	m.mtom, m.mparams = isMTOM(ct)
	var bad string
	if m.mtom {
		m.v, bad = mtomVersion(m.mparams)
	} else {
		m.v, bad = mediaVersion(ct)
	}
	if bad != "" {
		x.Ev.Status = http.StatusUnsupportedMediaType
		http.Error(x.W, bad, x.Ev.Status)
		return nil
	}
	x.Ev.Binding = m.v.name
	return m
}

func (m *message) ReadBody(x *exchange.Exchange, max int64) ([]byte, error) {
	if !m.mtom {
		return exchange.ReadBody(x.W, x.R, max)
	}
	x.Ev.MTOM = true
	body, mr, err := m.h.readMTOMRoot(x.W, x.R, x.AuthErr == nil, m.mparams, max)
	m.mr, m.held = mr, int64(len(body))
	return body, err
}

// Refuse answers a message that cannot be read or that the gate refused with a Sender fault
// (413 over the size limit).
func (m *message) Refuse(x *exchange.Exchange, err error, gate bool) {
	switch {
	case gate:
		x.Ev.Err = err
		reason := "the message was refused: " + exchange.ClientText(err.Error())
		var xe *xmlsafe.Error
		if !errors.As(err, &xe) {
			reason = "the message was refused"
		}
		m.h.writeFault(x, m.v, senderFault(reason), 0, false)
	case errors.Is(err, exchange.ErrTooLarge):
		m.h.writeFault(x, m.v, senderFault("the message exceeds the size limit"), http.StatusRequestEntityTooLarge, false)
	default:
		x.Ev.Err = err
		reason := "the message could not be read"
		if m.mtom && !errors.Is(err, io.ErrUnexpectedEOF) {
			reason = "the MTOM message could not be read: " + exchange.ClientText(err.Error())
		}
		m.h.writeFault(x, m.v, senderFault(reason), 0, false)
	}
}

// Parse reads the SOAP envelope; its faults are answered here.
func (m *message) Parse(x *exchange.Exchange, toks []xml.Token) (any, bool) {
	p, v, f := parseEnvelope(toks, x.AuthErr != nil, m.v)
	m.v = v
	x.Ev.Binding = v.name
	if f != nil {
		m.h.writeFault(x, v, f, 0, false)
		return nil, false
	}
	x.Op, x.HasOp = p.op, true
	x.Ev.Operation, x.Ev.RequestID = p.op.String(), p.reqID
	return p.req, true
}

// Attach reads the attachments of an MTOM message, now that the caller is authenticated and
// the envelope parsed.
func (m *message) Attach(x *exchange.Exchange, req any) error {
	if m.mr == nil {
		return nil
	}
	atts, err := xmlwire.Attachments(req)
	if err == nil {
		err = readAttachments(m.mr, atts, attachmentLimits{
			maxBytes: m.h.opts.MaxAttachmentBytes, maxCount: m.h.opts.MaxAttachments,
			maxDoc: m.h.opts.MaxDocumentBytes, maxHeld: m.h.opts.MaxBody,
		}, m.held, x.Ev)
	}
	return err
}

// Write writes resp in an envelope; the final answer to an MTOM message may be MTOM.
func (m *message) Write(x *exchange.Exchange, status int, resp any, res dss.Result, final bool) {
	if final && m.mr != nil {
		m.h.writeMTOMResponse(x, m.v, status, resp, res)
		return
	}
	m.h.writeResponse(x, m.v, status, resp, res)
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

func (h *handler) writeResponse(x *exchange.Exchange, v version, status int, resp any, res dss.Result) {
	h.writeEncoded(x, v, status, resp, res, nil)
}

// writeMTOMResponse answers an MTOM request: as an MTOM message when the response carries
// large binary values (they become attachments), else as writeResponse does.
func (h *handler) writeMTOMResponse(x *exchange.Exchange, v version, status int, resp any, res dss.Result) {
	boundary := newBoundary()
	atts := xmlwire.Optimize(resp, respOptimizeMin, cidGen(boundary))
	if len(atts) == 0 {
		h.writeResponse(x, v, status, resp, res)
		return
	}
	h.writeEncoded(x, v, status, resp, res, func(msg []byte) ([]byte, string) { return mtomResponse(v, msg, atts, boundary) })
}

// writeEncoded writes resp in an envelope of version v, as one body; mtom, when set, makes the
// MTOM message of the envelope and its Content-Type.
func (h *handler) writeEncoded(x *exchange.Exchange, v version, status int, resp any, res dss.Result, mtom func([]byte) ([]byte, string)) {
	msg, err := exchange.Encode(envelopeStart(v), resp, envelopeEnd)
	if err != nil {
		x.Ev.Err = err
		h.writeFault(x, v, &fault{kind: faultReceiver, reason: "internal error; problem reference " + x.Ev.ID}, 0, true)
		return
	}
	defer msg.Release()
	body, ct := msg.Bytes(), v.contentType
	if mtom != nil {
		body, ct = mtom(body)
	}
	x.Ev.Status, x.Ev.Major, x.Ev.Minor = status, res.Major, res.Minor
	x.W.Header().Set("Content-Type", ct)
	x.W.Header().Set("Content-Length", strconv.Itoa(len(body))) // one body, not chunks
	x.W.WriteHeader(status)
	_, _ = x.W.Write(body)
}

// writeFault sends f. status overrides the SOAP status (413); an unauthenticated request
// gets 401 with the fault as body. The fault refusing an authenticated request is recorded in
// the audit log first. An internal fault (the response could not be encoded) is neither
// recorded nor turned into 401.
func (h *handler) writeFault(x *exchange.Exchange, v version, f *fault, status int, internal bool) {
	msg, st, code := faultMessage(v, f)
	if status != 0 {
		st = status
	}
	if !internal {
		kind := dss.KindMalformed
		if st == http.StatusRequestEntityTooLarge {
			kind = dss.KindLimit
		}
		_ = x.AuditRefusal(dss.Wrap(kind, x.Ev.Err, "SOAP fault: "+f.reason))
	}
	if !internal && x.AuthErr != nil && st != http.StatusRequestEntityTooLarge {
		authn.Challenge(x.W.Header())
		st = http.StatusUnauthorized
	}
	x.Ev.Status, x.Ev.Fault = st, code
	x.W.Header().Set("Content-Type", v.contentType)
	x.W.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	x.W.WriteHeader(st)
	_, _ = x.W.Write(msg)
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
