// Package oauth2 is the OAuth2 authorization server of the CSC API (interface.md §7, CSC v2
// section 8): authorize (authorization code with PKCE S256 and state), pushed_authorize
// (RFC 9126), token (client_secret_basic or client_secret_post) and revoke (RFC 7009) under
// /csc/v2/oauth2/, and the page on which the signer signs in (scope service) or activates a
// credential with its PIN and OTP (scope credential).
//
// The binding keeps no state: pushed requests, page transactions and codes are sealed by
// dss (dss/oauth2.go, dss/sad), single use and revocation go through the shared stores, so
// any node may serve any step. The page is html/template, has no external resource, a
// strict Content-Security-Policy with frame-ancestors 'none', and a CSRF token bound to a
// __Host- cookie and to the transaction. Redirect URIs are matched exactly; an unknown
// client or an unregistered redirect URI gets an error page, never a redirect.
package oauth2

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"dssd/binding/authn"
	"dssd/binding/internal/reqlog"
	"dssd/dss"
)

// Service is the slice of the domain service this binding calls.
type Service interface {
	SignIn(ctx context.Context, requestID, user, password string) (dss.Caller, error)
	Credential(c dss.Caller, id string) (*dss.Credential, error)
	Authorize(ctx context.Context, c dss.Caller, req *dss.AuthorizeRequest) (*dss.Authorization, error)
	IssueCode(ctx context.Context, g dss.CodeGrant) (string, error)
	RedeemCode(ctx context.Context, req dss.RedeemRequest) (*dss.AccessToken, error)
	RevokeToken(ctx context.Context, clientID, token string) error
	OAuth2Caller(ctx context.Context, token string) (dss.Caller, error)
	Seal(kind string, v any, ttl time.Duration) (string, error)
	Open(kind, sealed string, v any) error
	FormTag(data ...string) string
	CheckFormTag(tag string, data ...string) bool
	ActivationAttemptsLeft(ctx context.Context, credentialID string) (int, error)
	AuditOAuth2Refusal(ctx context.Context, user, credential, detail string, err error) error
}

// Client is a registered OAuth2 client.
type Client struct {
	ID           string
	RedirectURIs []string   // matched exactly
	SecretSHA256 [][32]byte // SHA-256 of each accepted client secret
}

// Limiter gives the per-client-address failure limiter (an *authn.Authenticator): the
// refusals of unauthenticated requests (bad client secret, junk request_uri or parameters,
// a form without its CSRF token, a wrong sign-in password) are throttled and aggregated by
// it like failed authentications elsewhere. Failures is asked at each request, so the
// limiter may be attached after New.
type Limiter interface {
	Failures() *authn.Failures
}

// Options configure the handler.
type Options struct {
	Clients   []Client
	Limiter   Limiter      // nil: every refusal is recorded, none is throttled
	MaxHashes int          // hashes per credential authorization; default 16
	Logger    *slog.Logger // one event per request
	Now       func() time.Time
}

// Prefix is where the handler is mounted.
const Prefix = "/csc/v2/oauth2/"

// Endpoint names under Prefix.
const (
	EndpointAuthorize = "authorize"
	EndpointPAR       = "pushed_authorize"
	EndpointToken     = "token"
	EndpointRevoke    = "revoke"
)

// Methods are the CSC method names of the endpoints (for info).
func Methods() []string {
	return []string{"oauth2/authorize", "oauth2/pushed_authorize", "oauth2/token", "oauth2/revoke"}
}

// Lifetimes of the binding's own sealed values.
const (
	parTTL     = 90 * time.Second
	pageTTL    = 10 * time.Minute
	requestURI = "urn:ietf:params:oauth:request_uri:"
	csrfCookie = "__Host-dssd-csrf"
	maxForm    = 64 << 10
)

type handler struct {
	svc  Service
	opts Options
}

// New returns the OAuth2 handler (mount it at Prefix).
func New(svc Service, opts Options) http.Handler {
	if opts.MaxHashes <= 0 {
		opts.MaxHashes = 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &handler{svc: svc, opts: opts}
}

func (h *handler) client(id string) *Client {
	for i := range h.opts.Clients {
		if h.opts.Clients[i].ID == id && id != "" {
			return &h.opts.Clients[i]
		}
	}
	return nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev := reqlog.Start(reqlog.NewID(), "oauth2", h.opts.Now())
	defer func() { ev.Log(r.Context(), h.opts.Logger, h.opts.Now()) }()
	ctx := dss.WithProblemRef(r.Context(), ev.ID)
	r = r.WithContext(ctx)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	ev.Operation = "oauth2/" + name
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() { ev.Status = sw.status }()
	switch name {
	case EndpointAuthorize:
		switch r.Method {
		case http.MethodGet:
			h.authorizeGET(sw, r, ev)
		case http.MethodPost:
			h.authorizePOST(sw, r, ev)
		default:
			w.Header().Set("Allow", "GET, POST")
			h.jsonError(sw, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		}
	case EndpointPAR, EndpointToken, EndpointRevoke:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			h.jsonError(sw, http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		switch name {
		case EndpointPAR:
			h.par(sw, r, ev)
		case EndpointToken:
			h.token(sw, r, ev)
		default:
			h.revoke(sw, r, ev)
		}
	default:
		h.jsonError(sw, http.StatusNotFound, "invalid_request", "unknown OAuth2 endpoint")
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (h *handler) jsonError(w http.ResponseWriter, status int, code, desc string) {
	h.writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readForm parses an application/x-www-form-urlencoded body of at most maxForm bytes.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/x-www-form-urlencoded" {
		return nil, errors.New("send the parameters as application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return nil, errors.New("the form could not be read (or is too large)")
	}
	return r.PostForm, nil
}

// authenticateClient implements client_secret_basic and client_secret_post (RFC 6749
// §2.3.1). The refusal is 401 invalid_client and audited.
func (h *handler) authenticateClient(w http.ResponseWriter, r *http.Request, form url.Values) (*Client, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || form.Has("client_secret") {
			h.jsonError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method")
			return nil, false
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			h.jsonError(w, http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
			return nil, false
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c := h.client(id)
	ok := false
	sum := sha256.Sum256([]byte(secret))
	if c != nil && secret != "" {
		for _, d := range c.SecretSHA256 {
			if subtle.ConstantTimeCompare(sum[:], d[:]) == 1 {
				ok = true
			}
		}
	}
	if !ok {
		if th := h.refuse(r, "", "", "client authentication failed for client_id "+strconv.Quote(clip(id)),
			dss.Errorf(dss.KindNotAuthenticated, "client authentication failed")); th != nil {
			authn.SetRetryAfter(w.Header(), th)
			h.jsonError(w, http.StatusTooManyRequests, "invalid_client", "client authentication failed; too many refused requests from this address, retry later")
			return nil, false
		}
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="dssd"`)
		}
		h.jsonError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return nil, false
	}
	return c, true
}

// failures returns the failure limiter, or nil.
func (h *handler) failures() *authn.Failures {
	if h.opts.Limiter == nil {
		return nil
	}
	return h.opts.Limiter.Failures()
}

// refuse records the refusal err of an unauthenticated request (detail: the audit text)
// through the failure limiter: within the client address's budget each refusal is one audit
// record, as without a limiter; beyond it, the refusals of a window become one record with
// their count, and refuse returns the throttled error: the caller then answers 429 with
// authn.SetRetryAfter.
func (h *handler) refuse(r *http.Request, user, credential, detail string, err error) error {
	f := h.failures()
	if f == nil {
		_ = h.svc.AuditOAuth2Refusal(r.Context(), user, credential, detail, err)
		return nil
	}
	fe, record := f.Refuse(r.RemoteAddr, err, detail)
	if record {
		if fe.Throttled {
			detail += " (throttled: answered 429)"
		}
		_ = h.svc.AuditOAuth2Refusal(r.Context(), user, credential, detail, err)
	}
	if fe.Throttled {
		return fe
	}
	return nil
}

// clientRequest reads the form of a client endpoint (par, token, revoke) and authenticates the
// client; when it answers false, the error response has been written.
func (h *handler) clientRequest(w http.ResponseWriter, r *http.Request) (url.Values, *Client, bool) {
	form, err := readForm(w, r)
	if err != nil {
		h.jsonError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return nil, nil, false
	}
	c, ok := h.authenticateClient(w, r, form)
	return form, c, ok
}

// par is the pushed authorization request endpoint (RFC 9126).
func (h *handler) par(w http.ResponseWriter, r *http.Request, ev *reqlog.Event) {
	form, c, ok := h.clientRequest(w, r)
	if !ok {
		return
	}
	if form.Has("request_uri") {
		h.jsonError(w, http.StatusBadRequest, "invalid_request", "request_uri is not allowed in a pushed request")
		return
	}
	if form.Get("client_id") == "" {
		form.Set("client_id", c.ID)
	}
	ar, perr := h.parseAuthRequest(form)
	if perr != nil {
		status := http.StatusBadRequest
		_ = h.svc.AuditOAuth2Refusal(r.Context(), "", "", "pushed authorization request refused: "+perr.Error(), dss.Errorf(dss.KindMalformed, "refused"))
		h.jsonError(w, status, perr.code, perr.desc)
		return
	}
	if ar.ClientID != c.ID {
		h.jsonError(w, http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
		return
	}
	sealed, err := h.svc.Seal("par", ar, parTTL)
	if err != nil {
		ev.Err = err
		h.jsonError(w, http.StatusInternalServerError, "server_error", "internal error (problem reference "+ev.ID+")")
		return
	}
	h.writeJSON(w, http.StatusCreated, map[string]any{"request_uri": requestURI + sealed, "expires_in": int(parTTL / time.Second)})
}

// token is the token endpoint (grant_type authorization_code).
func (h *handler) token(w http.ResponseWriter, r *http.Request, ev *reqlog.Event) {
	form, c, ok := h.clientRequest(w, r)
	if !ok {
		return
	}
	if gt := form.Get("grant_type"); gt != "authorization_code" {
		h.jsonError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	code, verifier := form.Get("code"), form.Get("code_verifier")
	if code == "" || verifier == "" {
		h.jsonError(w, http.StatusBadRequest, "invalid_request", "code and code_verifier are required")
		return
	}
	ruri := form.Get("redirect_uri")
	if ruri == "" && len(c.RedirectURIs) == 1 {
		ruri = c.RedirectURIs[0]
	}
	at, err := h.svc.RedeemCode(r.Context(), dss.RedeemRequest{ClientID: c.ID, Code: code, RedirectURI: ruri, CodeVerifier: verifier})
	if err != nil {
		ev.Err = err
		if errors.Is(err, dss.ErrInvalidGrant) {
			h.jsonError(w, http.StatusBadRequest, "invalid_grant", dss.ResultOf(err, ev.ID).Message)
			return
		}
		h.jsonError(w, http.StatusInternalServerError, "server_error", "internal error (problem reference "+ev.ID+")")
		return
	}
	out := map[string]any{"access_token": at.Token, "token_type": "Bearer", "expires_in": at.ExpiresIn, "scope": at.Scope}
	if at.CredentialID != "" {
		out["credentialID"] = at.CredentialID
	}
	h.writeJSON(w, http.StatusOK, out)
}

// revoke is the revocation endpoint (RFC 7009): 200 for every well-formed request of an
// authenticated client, whether or not the token was known.
func (h *handler) revoke(w http.ResponseWriter, r *http.Request, ev *reqlog.Event) {
	form, c, ok := h.clientRequest(w, r)
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		h.jsonError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	if err := h.svc.RevokeToken(r.Context(), c.ID, tok); err != nil {
		ev.Err = err
		w.Header().Set("Retry-After", "5")
		h.jsonError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be revoked now (problem reference "+ev.ID+")")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// redirect sends the browser to the client's redirect URI with params (RFC 6749 §4.1.2).
func redirect(w http.ResponseWriter, r *http.Request, ruri string, params url.Values) {
	u, err := url.Parse(ruri)
	if err != nil {
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, v := range params {
		if len(v) > 0 && v[0] != "" {
			q.Set(k, v[0])
		}
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// newCookieValue returns a random CSRF cookie value.
func newCookieValue() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashHex(b64 string) string {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return b64
	}
	return hex.EncodeToString(b)
}
