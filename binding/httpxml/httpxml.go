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
	"dssd/binding/internal/reqlog"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
	"dssd/dss/xmlsafe"
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
	MaxBody int64            // request body limit in bytes; 0: 64 MiB
	Logger  *slog.Logger     // one event per request; nil: no logging
	Now     func() time.Time // nil: time.Now
	NewID   func() string    // request ids (ProblemReference); nil: random
}

// Paths served by Handler.
const (
	PathSign    = "/sign"
	PathVerify  = "/verify"
	PathPending = "/retrievePending"
)

type handler struct {
	svc  Service
	auth Authenticator
	opts Options
}

// New returns a handler serving POST /sign, /verify and /retrievePending. It dispatches on
// the last path element, so it can be mounted at those three paths of a mux.
func New(svc Service, auth Authenticator, opts Options) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = exchange.DefaultMaxBody
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = reqlog.NewID
	}
	return &handler{svc: svc, auth: auth, opts: opts}
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

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev := reqlog.Start(h.opts.NewID(), "httpxml", h.opts.Now())
	defer func() { ev.Log(r.Context(), h.opts.Logger, h.opts.Now()) }()

	op, ok := opOfPath(r.URL.Path)
	if !ok {
		ev.Status = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	ev.Operation = op.String()
	if r.Method != http.MethodPost {
		ev.Status = http.StatusMethodNotAllowed
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", ev.Status)
		return
	}
	if bad := checkMedia(r.Header.Get("Content-Type")); bad != "" {
		ev.Status = http.StatusUnsupportedMediaType
		http.Error(w, bad, ev.Status)
		return
	}
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
		authn.SetRetryAfter(w.Header(), authErr)
		ev.Err = authErr
		res := dss.ResultOf(authErr, ev.ID)
		h.write(w, ev, http.StatusTooManyRequests, xmlwire.ErrorResponse(op, "", res), res)
		return
	}

	max := h.opts.MaxBody
	if authErr != nil {
		max = exchange.UnauthenticatedMaxBody
	}
	body, err := exchange.ReadBody(w, r, max)
	if err != nil {
		if errors.Is(err, exchange.ErrBusy) {
			// Over the overload limits: 503 with the DSS error response, nothing read.
			w.Header().Set("Retry-After", exchange.RetryAfter)
			ev.Err = err
			res := dss.ResultOf(exchange.BusyError, ev.ID)
			h.write(w, ev, http.StatusServiceUnavailable, xmlwire.ErrorResponse(op, "", res), res)
			return
		}
		if errors.Is(err, exchange.ErrTooLarge) && authErr != nil {
			// A large body from a caller that failed authentication is not read: 401 at once.
			h.refuse(w, r, ev, op, "", http.StatusUnauthorized, authErr, authErr)
			return
		}
		if errors.Is(err, exchange.ErrTooLarge) {
			h.refuse(w, r, ev, op, "", http.StatusRequestEntityTooLarge,
				dss.Errorf(dss.KindLimit, "the request body exceeds %d bytes", h.opts.MaxBody), authErr)
			return
		}
		h.refuse(w, r, ev, op, "", http.StatusBadRequest, dss.Wrap(dss.KindMalformed, err, "the request body could not be read"), authErr)
		return
	}
	toks, err := exchange.GateTokens(body, h.opts.MaxBody)
	if err != nil {
		kind, detail := dss.KindMalformed, "the request was refused"
		var xe *xmlsafe.Error
		if errors.As(err, &xe) {
			detail = "the request was refused: " + exchange.ClientText(xe.Error())
		}
		if xmlsafe.IsLimit(err) {
			kind = dss.KindLimit
		}
		h.refuse(w, r, ev, op, "", http.StatusBadRequest, dss.Wrap(kind, err, detail), authErr)
		return
	}

	d := xmlwire.NewTokenDecoder(toks)
	start, err := nextStart(d)
	if err != nil {
		h.refuse(w, r, ev, op, "", http.StatusBadRequest, dss.Wrap(dss.KindMalformed, err, "the body holds no XML element"), authErr)
		return
	}
	rid := exchange.PeekRequestID(start)
	ev.RequestID = rid
	want := xml.Name{Space: xmlwire.NSCore, Local: op.RequestElement()}
	if start.Name != want {
		h.refuse(w, r, ev, op, rid, http.StatusBadRequest,
			dss.Errorf(dss.KindMalformed, "POST %s expects a dss2:%s element", r.URL.Path, op.RequestElement()), authErr)
		return
	}
	if authErr != nil {
		h.refuse(w, r, ev, op, rid, http.StatusUnauthorized, authErr, authErr)
		return
	}
	_, req, err := exchange.DecodeRequest(d, start)
	if err != nil {
		h.refuse(w, r, ev, op, rid, http.StatusBadRequest,
			dss.Wrap(dss.KindMalformed, err, "the "+op.RequestElement()+" element cannot be parsed"), nil)
		return
	}
	out := exchange.Call(r.Context(), h.svc, caller, op, req, ev.ID)
	ev.Err = out.Err
	h.write(w, ev, http.StatusOK, out.Response, out.Result)
}

// refuse answers with the error response element of op. An unauthenticated request gets
// 401 whatever went wrong (except 413), with the WWW-Authenticate challenge.
// The refusal of an authenticated request is recorded in the audit log first.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, ev *reqlog.Event, op xmlwire.Op, rid string, status int, err, authErr error) {
	if authErr != nil && status != http.StatusRequestEntityTooLarge {
		status, err = http.StatusUnauthorized, authErr
	}
	if authErr == nil && ev.User != "" {
		err = exchange.ReportRefusal(dss.WithProblemRef(r.Context(), ev.ID), h.svc, dss.Caller{User: ev.User, Via: ev.Via},
			exchange.ActionOf(op), rid, "", err)
		if dss.KindOf(err) == dss.KindInternal {
			status = http.StatusInternalServerError
		}
	}
	if status == http.StatusUnauthorized {
		authn.Challenge(w.Header())
	}
	ev.Err = err
	res := dss.ResultOf(err, ev.ID)
	h.write(w, ev, status, xmlwire.ErrorResponse(op, rid, res), res)
}

func (h *handler) write(w http.ResponseWriter, ev *reqlog.Event, status int, resp any, res dss.Result) {
	msg, err := exchange.Encode(`<?xml version="1.0" encoding="UTF-8"?>`+"\n", resp, "")
	if err != nil {
		ev.Err, ev.Status = err, http.StatusInternalServerError
		http.Error(w, "internal error; problem reference "+ev.ID, ev.Status)
		return
	}
	defer msg.Release()
	ev.Status, ev.Major, ev.Minor = status, res.Major, res.Minor
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg.Bytes()))) // one body, not chunks
	w.WriteHeader(status)
	_, _ = w.Write(msg.Bytes())
}

func nextStart(d *xml.Decoder) (xml.StartElement, error) {
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
