// Package httpxml is the DSS-X 2.0 HTTP POST binding with the XML syntax (protocol.md §9):
// POST /sign, /verify and /retrievePending with a bare DSS request element, answered with
// the DSS response element as text/xml. HTTP 200 whenever a DSS response is returned; 400
// (with a DSS error response) when the body is not a parseable DSS request; 401 without
// valid authentication (with a DSS error response); 413 over the body limit; 415 for other
// media types (the DSS-X JSON syntax is not served yet).
package httpxml

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dssd/binding/authn"
	"dssd/binding/internal/exchange"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/dss/xmlsafe"
)

// Service is the slice of the domain service the XML bindings call, with the audit of the
// refusals the binding decides itself (exchange.Service).
type Service = exchange.Service

// Authenticator establishes the caller of a request.
type Authenticator = exchange.Authenticator

// Options configure the handler. The zero value is usable.
type Options struct {
	MaxBody  int64            // request body limit in bytes; 0: 64 MiB
	MaxNodes int64            // nodes of a request body; 0: xmlsafe.DefaultEnvelopeNodes
	Logger   *slog.Logger     // one event per request; nil: no logging
	Now      func() time.Time // nil: time.Now
	NewID    func() string    // request ids (ProblemReference); nil: random
}

// Paths served by Handler.
const (
	PathSign    = "/sign"
	PathVerify  = "/verify"
	PathPending = "/retrievePending"
)

type handler struct{ flow exchange.Flow }

// New returns a handler serving POST /sign, /verify and /retrievePending. It dispatches on
// the last path element, so it can be mounted at those three paths of a mux.
func New(svc Service, auth Authenticator, opts Options) http.Handler {
	h := &handler{}
	h.flow = exchange.Flow{Binding: h, Service: svc, Auth: auth, Name: "httpxml",
		MaxBody: opts.MaxBody, MaxNodes: opts.MaxNodes, Logger: opts.Logger, Now: opts.Now, NewID: opts.NewID}
	h.flow.Defaults()
	return h
}

func opOfPath(p string) (xmlwire.Op, bool) {
	switch p[strings.LastIndexByte(p, '/')+1:] {
	case "sign":
		return xmlwire.OpSign, true
	case "verify":
		return xmlwire.OpVerify, true
	case "retrievePending":
		return xmlwire.OpPending, true
	}
	return 0, false
}

// checkMedia returns "" for XML media types, or the text of a 415 answer.
func checkMedia(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "missing or invalid Content-Type; send application/xml"
	}
	switch mt {
	case "application/xml", "text/xml":
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return "only the utf-8 charset is accepted"
		}
		return ""
	case "application/json":
		return "the DSS-X JSON syntax is not supported yet; send application/xml"
	}
	return "unsupported media type " + mt + "; send application/xml"
}

// ServeHTTP runs the shared request flow (exchange.Flow) with the rules of this binding.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.flow.Serve(w, r) }

// Open takes the operation from the path and checks the method and the media type. The
// handler is its own exchange.Envelope: the rules need no state but the operation (x.Op).
func (h *handler) Open(x *exchange.Exchange) exchange.Envelope {
	op, ok := opOfPath(x.R.URL.Path)
	if !ok {
		x.Ev.Status = http.StatusNotFound
		http.NotFound(x.W, x.R)
		return nil
	}
	x.Op, x.HasOp = op, true
	x.Ev.Operation = op.String()
	if x.R.Method != http.MethodPost {
		x.Ev.Status = http.StatusMethodNotAllowed
		x.W.Header().Set("Allow", http.MethodPost)
		http.Error(x.W, "method not allowed", x.Ev.Status)
		return nil
	}
	if bad := checkMedia(x.R.Header.Get("Content-Type")); bad != "" {
		x.Ev.Status = http.StatusUnsupportedMediaType
		http.Error(x.W, bad, x.Ev.Status)
		return nil
	}
	return h
}

func (h *handler) ReadBody(x *exchange.Exchange, max int64) ([]byte, error) {
	return exchange.ReadBody(x.W, x.R, max)
}

// Refuse answers a body that cannot be read (400, 413 over the limit) or that the gate refused
// (400).
func (h *handler) Refuse(x *exchange.Exchange, err error, gate bool) {
	switch {
	case gate:
		kind, detail := dss.KindMalformed, "the request was refused"
		var xe *xmlsafe.Error
		if errors.As(err, &xe) {
			detail = "the request was refused: " + exchange.ClientText(xe.Error())
		}
		if xmlsafe.IsLimit(err) {
			kind = dss.KindLimit
		}
		h.refuse(x, http.StatusBadRequest, dss.Wrap(kind, err, detail))
	case errors.Is(err, exchange.ErrTooLarge):
		h.refuse(x, http.StatusRequestEntityTooLarge, dss.Errorf(dss.KindLimit, "the request body exceeds %d bytes", x.MaxBody()))
	default:
		h.refuse(x, http.StatusBadRequest, dss.Wrap(dss.KindMalformed, err, "the request body could not be read"))
	}
}

// Parse takes the bare request element, which must be the one of the path's operation.
func (h *handler) Parse(x *exchange.Exchange, toks []xml.Token) (any, bool) {
	d := xmlwire.NewTokens(toks)
	start, err := nextStart(d)
	if err != nil {
		h.refuse(x, http.StatusBadRequest, dss.Wrap(dss.KindMalformed, err, "the body holds no XML element"))
		return nil, false
	}
	op := x.Op
	x.Ev.RequestID = exchange.PeekRequestID(start)
	want := xml.Name{Space: xmlwire.NSCore, Local: op.RequestElement()}
	if start.Name != want {
		h.refuse(x, http.StatusBadRequest,
			dss.Errorf(dss.KindMalformed, "POST %s expects a dss2:%s element", x.R.URL.Path, op.RequestElement()))
		return nil, false
	}
	if x.AuthErr != nil {
		return nil, true // answered 401 by the flow
	}
	_, req, err := exchange.DecodeRequest(d, start)
	if err != nil {
		h.refuse(x, http.StatusBadRequest,
			dss.Wrap(dss.KindMalformed, err, "the "+op.RequestElement()+" element cannot be parsed"))
		return nil, false
	}
	return req, true
}

// Attach has nothing to do: this binding carries no attachments.
func (h *handler) Attach(*exchange.Exchange, any) error { return nil }

// refuse answers with the error response element of the operation. An unauthenticated
// request gets 401 whatever went wrong (except 413), with the WWW-Authenticate challenge.
// The refusal of an authenticated request is recorded in the audit log first.
func (h *handler) refuse(x *exchange.Exchange, status int, err error) {
	if x.AuthErr != nil && status != http.StatusRequestEntityTooLarge {
		status, err = http.StatusUnauthorized, x.AuthErr
	}
	if x.AuthErr == nil && x.Ev.User != "" {
		err = x.AuditRefusal(err)
		if dss.KindOf(err) == dss.KindInternal {
			status = http.StatusInternalServerError
		}
	}
	if status == http.StatusUnauthorized {
		authn.Challenge(x.W.Header())
	}
	x.Ev.Err = err
	res := dss.ResultOf(err, x.Ev.ID)
	h.Write(x, status, xmlwire.ErrorResponse(x.Op, x.Ev.RequestID, res), res, false)
}

// Write writes the bare response element as text/xml.
func (h *handler) Write(x *exchange.Exchange, status int, resp any, res dss.Result, _ bool) {
	msg, err := exchange.Encode(`<?xml version="1.0" encoding="UTF-8"?>`+"\n", resp, "")
	if err != nil {
		x.Ev.Err, x.Ev.Status = err, http.StatusInternalServerError
		http.Error(x.W, "internal error; problem reference "+x.Ev.ID, x.Ev.Status)
		return
	}
	defer msg.Release()
	x.Ev.Status, x.Ev.Major, x.Ev.Minor = status, res.Major, res.Minor
	x.W.Header().Set("Content-Type", "text/xml; charset=utf-8")
	x.W.Header().Set("Content-Length", strconv.Itoa(len(msg.Bytes()))) // one body, not chunks
	x.W.WriteHeader(status)
	_, _ = x.W.Write(msg.Bytes())
}

func nextStart(d xmlwire.TokenReader) (xml.StartElement, error) {
	for {
		t, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := t.(xml.StartElement); ok {
			return s, nil
		}
	}
}
