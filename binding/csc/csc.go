// Package csc is the ETSI TS 119 432 clause 7 JSON binding: the Cloud Signature Consortium
// API v2 methods info, credentials/list, credentials/info, credentials/authorize,
// signatures/signHash and signatures/signDoc under /csc/v2/, synchronous, or asynchronous
// (operationMode "A" and signatures/signPolling, async.go) when the service runs jobs.
//
// Every method is POST with a JSON body (info may have none). The caller is authenticated
// like on the XML side (bearer token or TLS client certificate, binding/authn), except for
// info, which is public. Request bodies are decoded strictly: unknown, misspelt (the names
// are case-sensitive) and repeated members are refused. Errors are an HTTP status with
// {"error", "error_description"}, chosen from the dss.Kind in one table (errors.go); 401
// answers carry a Bearer WWW-Authenticate challenge. The SAD of a SCAL2 credential travels to
// dss as ClaimedIdentity/SupportingInfo (MimeType application/jwt), exactly as in the DSS-X
// binding, so both bindings share the same checks and audit. One log event is written per
// request; PINs, OTPs, SADs, tokens, hashes and documents are never logged.
package csc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
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
	"dssd/dss"
)

// Service is the slice of the domain service this binding calls.
type Service interface {
	Authorize(ctx context.Context, c dss.Caller, req *dss.AuthorizeRequest) (*dss.Authorization, error)
	Credential(c dss.Caller, id string) (*dss.Credential, error)
	Credentials(c dss.Caller) []*dss.Credential
	Sign(ctx context.Context, c dss.Caller, req *dss.SignRequest) (*dss.SignResponse, error)
	Pending(ctx context.Context, c dss.Caller, req *dss.PendingRequest) (*dss.SignResponse, error)
	exchange.Auditor // failed authentications and the refusals this binding decides
}

// Authenticator establishes the caller of a request.
type Authenticator = exchange.Authenticator

// Provider describes the service in info.
type Provider struct {
	Name        string // default "dssd"
	Logo        string // URI of the logo (CSC requires one); a path ("/...") is taken on the request's host
	Region      string // ISO 3166-1 alpha-2 (configuration csc.region); default "ZZ" (unknown)
	Lang        string // default "en"
	Description string
}

// Options configure the handler. The zero value is usable.
type Options struct {
	Provider Provider
	// AuthTypes are the CSC authType values of info; default ["external"] (bearer tokens
	// issued out of band). Add "tls" when client certificates are mapped to users.
	AuthTypes []string
	// Levels are the dssd level profiles (urn:dssd:level:*) document signing supports;
	// default B-B only.
	Levels []string
	// Multisign is the number of hashes one authorization (and one request) may carry;
	// default 16, the service's default document limit.
	Multisign int
	MaxBody   int64        // request body limit in bytes; 0: 64 MiB
	Logger    *slog.Logger // one event per request; nil: no logging
	// OAuth2 advertises the OAuth2 authorization server (binding/oauth2) in info and the
	// oauth2code auth type; V1 also serves the CSC 1.0.4 member names under PrefixV1.
	OAuth2 bool
	V1     bool
	// Async offers the asynchronous mode (operationMode "A", signatures/signPolling) under
	// Prefix; set it when the service runs asynchronous jobs (dss.Service.AsyncEnabled).
	Async bool
	Now   func() time.Time // nil: time.Now
	NewID func() string    // request ids (problem references); nil: random
}

// Prefix is the path under which the handler serves the CSC methods; PrefixV1 serves the
// CSC 1.0.4 member names when Options.V1 is set (mount the handler there too).
const (
	Prefix   = "/csc/v2/"
	PrefixV1 = "/csc/v1/"
)

// Specs is the CSC API version implemented under Prefix, SpecsV1 under PrefixV1.
const (
	Specs   = "2.0.0.2"
	SpecsV1 = "1.0.4.0"
)

// LogoPath is where the handler serves its PNG logo (CSC: JPEG or PNG, at most 256×256).
const LogoPath = Prefix + "logo.png"

// Method names.
const (
	MethodInfo            = "info"
	MethodCredentialsList = "credentials/list"
	MethodCredentialsInfo = "credentials/info"
	MethodAuthorize       = "credentials/authorize"
	MethodSignHash        = "signatures/signHash"
	MethodSignDoc         = "signatures/signDoc"
)

// Methods returns the CSC methods served, in the order info names them; signPolling only
// when the asynchronous mode is offered.
func Methods(async bool) []string {
	m := []string{MethodInfo, MethodCredentialsList, MethodCredentialsInfo, MethodAuthorize, MethodSignHash, MethodSignDoc}
	if async {
		m = append(m, MethodSignPolling)
	}
	return m
}

type methodFunc func(ctx context.Context, ev *reqlog.Event, c dss.Caller, body []byte, r *http.Request) (any, error)

type handler struct {
	svc     Service
	auth    Authenticator
	opts    Options
	methods map[string]methodFunc
}

// New returns a handler serving the CSC methods under Prefix (mount it at Prefix).
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
	if opts.Multisign <= 0 {
		opts.Multisign = 16
	}
	if len(opts.AuthTypes) == 0 {
		opts.AuthTypes = []string{"external"}
	}
	if len(opts.Levels) == 0 {
		opts.Levels = []string{dss.LevelBB}
	}
	p := &opts.Provider
	p.Name = cmp.Or(p.Name, "dssd")
	p.Logo = cmp.Or(p.Logo, LogoPath)
	p.Region = cmp.Or(p.Region, "ZZ")
	p.Lang = cmp.Or(p.Lang, "en")
	p.Description = cmp.Or(p.Description, "dssd remote signing service (ETSI TS 119 432, OASIS DSS-X 2.0)")
	h := &handler{svc: svc, auth: auth, opts: opts}
	h.methods = map[string]methodFunc{
		MethodInfo:            h.info,
		MethodCredentialsList: h.credentialsList,
		MethodCredentialsInfo: h.credentialsInfo,
		MethodAuthorize:       h.authorize,
		MethodSignHash:        h.signHash,
		MethodSignDoc:         h.signDoc,
		MethodSignPolling:     h.signPolling,
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev := reqlog.Start(h.opts.NewID(), "csc", h.opts.Now())
	defer func() { ev.Log(r.Context(), h.opts.Logger, h.opts.Now()) }()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	if r.URL.Path == LogoPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		ev.Operation = "logo"
		ev.Status = http.StatusOK
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Del("Pragma")
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Length", strconv.Itoa(len(logoPNG)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(logoPNG)
		}
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok && h.opts.V1 {
		name = strings.TrimPrefix(r.URL.Path, PrefixV1)
		if name == MethodSignDoc || name == MethodSignPolling {
			name = "" // not a CSC 1.0.4 method
		}
	}
	fn, ok := h.methods[name]
	if !ok {
		h.fail(w, ev, apiError{http.StatusNotFound, ErrInvalidRequest, "unknown CSC method; see info for the methods served"}, nil)
		return
	}
	ev.Operation = name
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, ev, apiError{http.StatusMethodNotAllowed, ErrInvalidRequest, "CSC methods are called with POST"}, nil)
		return
	}
	var caller dss.Caller
	if name != MethodInfo {
		c, err := h.auth.Authenticate(r)
		if err != nil {
			h.unauthorized(w, r, ev, err)
			// Failed authentications are audited (when the service records them).
			authn.ReportFailure(dss.WithProblemRef(r.Context(), ev.ID), h.svc, r, err, "")
			return
		}
		if c.Via == dss.ViaOAuth2SAD && name != MethodSignHash && name != MethodSignDoc {
			// A credential access token is signature activation data: it signs, nothing else.
			err := dss.Errorf(dss.KindNotAuthenticated, "a credential access token is accepted by signatures/signHash and signatures/signDoc only")
			h.unauthorized(w, r, ev, err)
			return
		}
		caller = c
		ev.User, ev.Via = c.User, c.Via
	}
	// info is public: it reads at most UnauthenticatedMaxBody (it needs no body at all).
	max := h.opts.MaxBody
	if name == MethodInfo {
		max = exchange.UnauthenticatedMaxBody
	}
	ctx := dss.WithProblemRef(r.Context(), ev.ID) // audit records carry the problem reference
	// refuse answers a refused request; the refusal of an authenticated request is recorded
	// in the audit log first (unless the service recorded it), exactly once.
	refuse := func(err error) {
		if name != MethodInfo {
			err = exchange.ReportRefusal(ctx, h.svc, caller, actionOf(name), ev.RequestID, ev.Credential, err)
		}
		ref := pollRef(err, ev.ID)
		res := dss.ResultOf(err, ref)
		ev.Major, ev.Minor = res.Major, res.Minor
		h.fail(w, ev, errorOf(err, ref), err)
	}
	body, err := exchange.ReadBody(w, r, max)
	if err != nil {
		switch {
		case errors.Is(err, exchange.ErrBusy):
			refuse(exchange.BusyError)
		case errors.Is(err, exchange.ErrTooLarge):
			h.fail(w, ev, apiError{http.StatusRequestEntityTooLarge, ErrInvalidRequest, "the request body is too large"}, err)
			if name != MethodInfo {
				_ = exchange.ReportRefusal(ctx, h.svc, caller, actionOf(name), "", "", dss.Wrap(dss.KindLimit, err, "the request body is too large"))
			}
		default:
			refuse(dss.Wrap(dss.KindMalformed, err, "the request body could not be read"))
		}
		return
	}
	if len(bytes.TrimSpace(body)) > 0 || name != MethodInfo {
		if msg := checkMedia(r.Header.Get("Content-Type")); msg != "" {
			if name != MethodInfo {
				_ = exchange.ReportRefusal(ctx, h.svc, caller, actionOf(name), "", "", dss.Errorf(dss.KindMalformed, "%s", msg))
			}
			h.fail(w, ev, apiError{http.StatusUnsupportedMediaType, ErrInvalidRequest, msg}, nil)
			return
		}
	}
	resp, err := fn(ctx, ev, caller, body, r)
	if err != nil {
		refuse(err)
		return
	}
	if a, ok := resp.(statusAnswer); ok {
		ev.Major = a.major
		h.write(w, ev, a.status, a.body)
		return
	}
	ev.Major = dss.MajorSuccess
	h.write(w, ev, http.StatusOK, resp)
}

// actionOf is the audit action of a refused request of a CSC method.
func actionOf(method string) string {
	switch method {
	case MethodAuthorize:
		return dss.AuditAuthorize
	case MethodSignHash, MethodSignDoc:
		return dss.AuditSign
	case MethodSignPolling:
		return dss.AuditPending
	}
	return dss.AuditCredentials
}

// checkMedia returns "" for application/json (UTF-8), else the text of a 415 answer.
func checkMedia(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return "send the request as application/json"
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return "only the utf-8 charset is accepted"
	}
	return ""
}

// unauthorized answers 401 with the Bearer challenge of RFC 6750 §3: with error="invalid_token"
// when credentials were presented, without an error code when there were none.
func (h *handler) unauthorized(w http.ResponseWriter, r *http.Request, ev *reqlog.Event, err error) {
	challenge := `Bearer realm="dssd"`
	if r.Header.Get("Authorization") != "" || (r.TLS != nil && len(r.TLS.PeerCertificates) > 0) {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	res := dss.ResultOf(err, ev.ID)
	ev.Major, ev.Minor = res.Major, res.Minor
	if authn.Throttled(err) {
		// Too many failed authentications from this address: 429, nothing read.
		authn.SetRetryAfter(w.Header(), err)
		h.fail(w, ev, apiError{http.StatusTooManyRequests, ErrInvalidToken, res.Message + "; too many failed authentications from this address, retry later"}, err)
		return
	}
	h.fail(w, ev, apiError{http.StatusUnauthorized, ErrInvalidToken, res.Message}, err)
}

func (h *handler) fail(w http.ResponseWriter, ev *reqlog.Event, e apiError, cause error) {
	ev.Err = cause
	h.write(w, ev, e.status, errorResponse{Error: e.code, ErrorDescription: e.desc})
}

func (h *handler) write(w http.ResponseWriter, ev *reqlog.Event, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ev.Err, status = err, http.StatusInternalServerError
		b = []byte(`{"error":"server_error","error_description":"internal error (problem reference ` + ev.ID + `)"}`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	ev.Status = status
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b))) // one body, not chunks
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decode decodes a request body strictly, mapping failures to invalid_request.
func decode(body []byte, v any) error {
	if err := strictDecode(body, v); err != nil {
		var de *decodeError
		if errors.As(err, &de) {
			return requestError(de.msg)
		}
		return requestError("the body is not a valid JSON request")
	}
	return nil
}

// isV1 reports whether r came in under PrefixV1 (CSC 1.0.4 member names).
func isV1(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, PrefixV1) }

// bearerSAD returns the SAD of a signing request: the SAD member, or, for a caller
// authenticated with an OAuth2 credential access token, that token (interface.md §7).
func bearerSAD(c dss.Caller, r *http.Request, member string) (string, error) {
	if c.Via != dss.ViaOAuth2SAD {
		return member, nil
	}
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if member != "" && member != tok {
		return "", requestError("SAD differs from the credential access token")
	}
	return tok, nil
}
