package oauth2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"dssd/binding/authn"
	"dssd/binding/internal/reqlog"
	"dssd/dss"
)

// pageCSS is the page's only style; the Content-Security-Policy allows exactly it by hash.
const pageCSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}
main{max-width:34rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border:1px solid #d0d5dc;border-radius:6px}
h1{font-size:1.4rem;margin:0 0 1rem}
dl{margin:0 0 1rem}dt{font-weight:600}dd{margin:0 0 .5rem}
table{border-collapse:collapse;width:100%;margin:0 0 1rem;font-size:.85rem}
th,td{border:1px solid #d0d5dc;padding:.3rem;text-align:left;vertical-align:top}
td.h{font-family:ui-monospace,monospace;word-break:break-all}
label{display:block;font-weight:600;margin:.8rem 0 .2rem}
input{font:inherit;width:100%;box-sizing:border-box;padding:.45rem;border:1px solid #8a94a3;border-radius:4px}
input:focus,button:focus,a:focus{outline:3px solid #1f6feb;outline-offset:2px}
button{font:inherit;margin-top:1.2rem;padding:.55rem 1.4rem;background:#1f6feb;color:#fff;border:0;border-radius:4px;cursor:pointer}
.err{background:#fdecea;border:1px solid #d93025;padding:.6rem;border-radius:4px;margin:0 0 1rem}
.cancel{margin-left:1rem}`

var cssHash = func() string {
	s := sha256.Sum256([]byte(pageCSS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(s[:]) + "'"
}()

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} – dssd</title>
<style>{{.CSS}}</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="err" role="alert" id="error">{{.Error}}</p>{{end}}
{{if .Fatal}}{{else}}
<dl>
<dt>Application</dt><dd id="client">{{.ClientID}}</dd>
{{if .Credential}}<dt>Credential</dt><dd id="credential">{{.Credential}}</dd>
<dt>Documents to sign</dt><dd id="count">{{len .Docs}}</dd>{{end}}
</dl>
{{if .Credential}}<table>
<caption>Documents and their hashes ({{.HashAlg}})</caption>
<thead><tr><th scope="col">Document</th><th scope="col">Hash ({{.HashAlg}})</th></tr></thead>
<tbody>{{range .Docs}}<tr><td>{{.Label}}</td><td class="h">{{.Hash}}</td></tr>{{end}}</tbody>
</table>{{end}}
<form method="post" action="{{.Action}}" autocomplete="off">
<input type="hidden" name="tx" value="{{.TX}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus value="{{.User}}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{{if .Credential}}<label for="pin">PIN</label>
<input id="pin" name="pin" type="password" autocomplete="off" inputmode="numeric">
<label for="otp">One-time password</label>
<input id="otp" name="otp" type="text" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6">
{{end}}<button type="submit">{{.Submit}}</button>
<a class="cancel" href="{{.Cancel}}">Cancel</a>
</form>{{end}}
</main>
</body>
</html>
`))

type docRow struct{ Label, Hash string }

type pageData struct {
	Title, Error, ClientID, Credential, HashAlg string
	Docs                                        []docRow
	Action, TX, CSRF, User, Submit, Cancel      string
	Fatal                                       bool
	CSS                                         template.CSS
}

// writePage renders the page with the security headers. formTarget is the origin the form
// may be submitted to and redirected to (the client's redirect URI's origin).
func (h *handler) writePage(w http.ResponseWriter, status int, d pageData, redirectOrigin string) {
	d.CSS = template.CSS(pageCSS)
	var buf bytes.Buffer
	if err := page.Execute(&buf, d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	formAction := "'self'"
	if redirectOrigin != "" {
		formAction += " " + redirectOrigin
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src "+cssHash+"; img-src 'none'; form-action "+formAction+
		"; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *handler) errorPage(w http.ResponseWriter, status int, msg string) {
	h.writePage(w, status, pageData{Title: "Request refused", Error: msg, Fatal: true}, "")
}

// throttledPage answers 429 with Retry-After: the client address's budget of refused
// requests is spent.
func (h *handler) throttledPage(w http.ResponseWriter, th error) {
	authn.SetRetryAfter(w.Header(), th)
	h.errorPage(w, http.StatusTooManyRequests, "Too many refused requests came from your address. Wait "+w.Header().Get("Retry-After")+
		" second(s) and start again from the application.")
}

func origin(ruri string) string {
	u, err := url.Parse(ruri)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// authorizeGET starts a page transaction from query parameters or a pushed request, or
// handles the page's cancel link.
func (h *handler) authorizeGET(w http.ResponseWriter, r *http.Request, ev *reqlog.Event) {
	q := r.URL.Query()
	if tx := q.Get("cancel"); tx != "" {
		var ar authRequest
		if err := h.svc.Open("page", tx, &ar); err != nil {
			h.errorPage(w, http.StatusBadRequest, "This sign-in request is invalid or has expired. Start again from the application.")
			return
		}
		redirect(w, r, ar.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled"}, "state": {ar.State}})
		return
	}
	var ar *authRequest
	if ru := q.Get("request_uri"); ru != "" {
		ar = &authRequest{}
		sealed, ok := strings.CutPrefix(ru, requestURI)
		if !ok || h.svc.Open("par", sealed, ar) != nil || ar.ClientID != q.Get("client_id") {
			if th := h.refuse(r, "", "", "authorization with an invalid or expired request_uri", dss.Errorf(dss.KindMalformed, "refused")); th != nil {
				h.throttledPage(w, th)
				return
			}
			h.errorPage(w, http.StatusBadRequest, "The authorization request (request_uri) is invalid or has expired. Start again from the application.")
			return
		}
	} else {
		var perr *paramError
		ar, perr = h.parseAuthRequest(q)
		if perr != nil {
			if th := h.refuse(r, "", "", "authorization request refused: "+perr.Error(), dss.Errorf(dss.KindMalformed, "refused")); th != nil {
				h.throttledPage(w, th)
				return
			}
			if !perr.redirect || ar == nil {
				h.errorPage(w, http.StatusBadRequest, "The application sent an invalid authorization request: "+perr.desc+".")
				return
			}
			redirect(w, r, ar.RedirectURI, url.Values{"error": {perr.code}, "error_description": {perr.desc}, "state": {ar.State}})
			return
		}
	}
	tx, err := h.svc.Seal("page", ar, pageTTL)
	if err != nil {
		ev.Err = err
		h.errorPage(w, http.StatusInternalServerError, "Internal error (problem reference "+ev.ID+").")
		return
	}
	cookie := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 20 {
		cookie = c.Value
	} else {
		cookie = newCookieValue()
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: cookie, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	h.showForm(w, http.StatusOK, ar, tx, cookie, "", "")
}

func (h *handler) showForm(w http.ResponseWriter, status int, ar *authRequest, tx, cookie, user, msg string) {
	d := pageData{
		Title: "Sign in", ClientID: ar.ClientID, Action: Prefix + EndpointAuthorize, TX: tx,
		CSRF: h.svc.FormTag("csrf", cookie, tx), User: user, Submit: "Sign in", Error: msg,
		Cancel: Prefix + EndpointAuthorize + "?cancel=" + url.QueryEscape(tx),
	}
	if ar.Scope == dss.ScopeCredential {
		d.Title, d.Submit = "Authorize signing", "Authorize"
		d.Credential, d.HashAlg = ar.CredentialID, hashName(ar.HashOID)
		for i, hv := range ar.Hashes {
			l := fmt.Sprintf("Document %d", i+1)
			if i < len(ar.Labels) && ar.Labels[i] != "" {
				l = ar.Labels[i]
			}
			d.Docs = append(d.Docs, docRow{Label: l, Hash: hv})
		}
	}
	h.writePage(w, status, d, origin(ar.RedirectURI))
}

func hashName(oid string) string {
	switch oid {
	case "2.16.840.1.101.3.4.2.1":
		return "SHA-256"
	case "2.16.840.1.101.3.4.2.2":
		return "SHA-384"
	case "2.16.840.1.101.3.4.2.3":
		return "SHA-512"
	}
	return oid
}

// authorizePOST handles the page's form: CSRF check, sign-in, then (scope credential) the
// PIN and OTP through the same Authorize as credentials/authorize, then the redirect with a
// code.
func (h *handler) authorizePOST(w http.ResponseWriter, r *http.Request, ev *reqlog.Event) {
	form, err := readForm(w, r)
	if err != nil {
		h.errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	tx := form.Get("tx")
	var ar authRequest
	if err := h.svc.Open("page", tx, &ar); err != nil {
		h.errorPage(w, http.StatusBadRequest, "This sign-in request is invalid or has expired. Start again from the application.")
		return
	}
	cookie := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		cookie = c.Value
	}
	if cookie == "" || !h.svc.CheckFormTag(form.Get("csrf"), "csrf", cookie, tx) {
		if th := h.refuse(r, "", ar.CredentialID, "page form without a valid CSRF token (client "+strconv.Quote(ar.ClientID)+")",
			dss.Errorf(dss.KindNotAuthenticated, "CSRF token missing or invalid")); th != nil {
			h.throttledPage(w, th)
			return
		}
		h.errorPage(w, http.StatusForbidden, "This form was not sent from dssd's own page (the CSRF token is missing or invalid). Start again from the application.")
		return
	}
	user := strings.TrimSpace(form.Get("username"))
	f := h.failures()
	if f != nil {
		// An address whose failure budget is spent gets 429 before the password is checked
		// (an argon2id computation); the refusal joins the summary of its window.
		if fe := f.Blocked(r.RemoteAddr, dss.Errorf(dss.KindNotAuthenticated, "too many failed sign-ins")); fe != nil {
			detail := fmt.Sprintf("sign-in page, user %q: not checked, too many refused requests from this address", clip(user))
			if f.Counted(fe, detail) {
				_ = h.svc.AuditOAuth2Refusal(r.Context(), "", ar.CredentialID, detail+" (throttled: answered 429)", fe.Err)
			}
			ev.Err = fe
			h.throttledPage(w, fe)
			return
		}
	}
	caller, err := h.svc.SignIn(r.Context(), ev.ID, user, form.Get("password"))
	if err != nil {
		if dss.KindOf(err) == dss.KindNotAuthenticated {
			if f != nil {
				// SignIn recorded the attempt; the limiter counts it.
				f.Take(r.RemoteAddr, err)
			}
			h.showForm(w, http.StatusOK, &ar, tx, cookie, user, "Wrong user name or password.")
			return
		}
		ev.Err = err
		h.errorPage(w, http.StatusInternalServerError, "Internal error (problem reference "+ev.ID+").")
		return
	}
	ev.User, ev.Via = caller.User, caller.Via
	g := dss.CodeGrant{ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, Challenge: ar.Challenge, Scope: ar.Scope, User: caller.User}
	if ar.Scope == dss.ScopeCredential {
		if !h.activate(w, r, ev, &ar, tx, cookie, caller, form, &g) {
			return
		}
	}
	code, err := h.svc.IssueCode(r.Context(), g)
	if err != nil {
		ev.Err = err
		redirect(w, r, ar.RedirectURI, url.Values{"error": {"server_error"}, "state": {ar.State}})
		return
	}
	redirect(w, r, ar.RedirectURI, url.Values{"code": {code}, "state": {ar.State}})
}

// activate runs the credential authorization of the page; false means the answer is sent.
func (h *handler) activate(w http.ResponseWriter, r *http.Request, ev *reqlog.Event, ar *authRequest, tx, cookie string, caller dss.Caller, form url.Values, g *dss.CodeGrant) bool {
	deny := func(code, desc string) bool {
		redirect(w, r, ar.RedirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {ar.State}})
		return false
	}
	cred, err := h.svc.Credential(caller, ar.CredentialID) // a foreign credential is audited there
	if err != nil {
		ev.Err = err
		return deny("access_denied", "the credential is not available to this user")
	}
	var hashes [][]byte
	for _, s := range ar.Hashes {
		b, _ := base64.StdEncoding.DecodeString(s)
		hashes = append(hashes, b)
	}
	req := &dss.AuthorizeRequest{RequestID: ev.ID, CredentialID: cred.ID, NumSignatures: len(hashes), Hashes: hashes, HashAlgorithmOID: ar.HashOID}
	if cred.SCAL >= 2 {
		req.PIN, req.OTP = form.Get("pin"), strings.TrimSpace(form.Get("otp"))
	}
	a, err := h.svc.Authorize(r.Context(), caller, req)
	if err != nil {
		ev.Err = err
		switch dss.KindOf(err) {
		case dss.KindSADInvalid:
			left, lerr := h.svc.ActivationAttemptsLeft(r.Context(), cred.ID)
			if lerr != nil {
				return deny("server_error", "internal error")
			}
			if left == 0 {
				return deny("access_denied", "the credential is locked")
			}
			msg := dss.ResultOf(err, ev.ID).Message
			if req.PIN == "" || req.OTP == "" {
				msg = "Type both the PIN and the one-time password."
			} else if strings.Contains(msg, "refused") {
				msg = "Wrong PIN or one-time password."
			}
			h.showForm(w, http.StatusOK, ar, tx, cookie, caller.User, fmt.Sprintf("%s %d attempt(s) left before the credential locks.", msg, left))
			return false
		case dss.KindKeyLookup:
			return deny("access_denied", "the credential is not available to this user")
		case dss.KindHSMUnavailable, dss.KindAuthorityUnavailable:
			return deny("temporarily_unavailable", "try again later")
		case dss.KindInternal:
			return deny("server_error", "internal error")
		}
		return deny("invalid_request", dss.ResultOf(err, ev.ID).Message)
	}
	g.CredentialID, g.SAD = cred.ID, a.SAD
	g.SADExpires = h.opts.Now().Unix() + int64(a.ExpiresIn)
	return true
}

// BearerAuthenticator accepts the bearer tokens, JWTs and certificates of Base and, when Base
// does not know a bearer token, the OAuth2 access tokens of Svc. The failure limiter of Base
// sees one failure per refused request, and none for an accepted OAuth2 token.
type BearerAuthenticator struct {
	Base interface {
		Identify(*http.Request) (dss.Caller, error)
		Fail(*http.Request, error) error
	}
	Svc interface {
		OAuth2Caller(ctx context.Context, token string) (dss.Caller, error)
	}
}

// Authenticate implements the CSC binding's Authenticator.
func (a BearerAuthenticator) Authenticate(r *http.Request) (dss.Caller, error) {
	c, err := a.Base.Identify(r)
	if err == nil {
		return c, nil
	}
	tok := BearerToken(r)
	if tok == "" {
		return c, a.Base.Fail(r, err)
	}
	c2, err2 := a.Svc.OAuth2Caller(r.Context(), tok)
	if err2 == nil {
		return c2, nil
	}
	if !authn.IsJWTError(err) {
		err = err2 // not a JWT of an identity provider: the OAuth2 server's reason
	}
	return dss.Caller{}, a.Base.Fail(r, err)
}

// BearerToken returns the bearer token of r's Authorization header, or "".
func BearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
