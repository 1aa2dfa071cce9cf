//go:build e2e

package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dssd/dss"
	"dssd/dss/store"
)

// The OAuth2 flow of the CSC API (interface.md §7), driven over HTTP the way a browser sends
// the page's form: every refusal of issue 13 is checked for its answer and its audit record.

// oauthDev is what dev.json says about the OAuth2 client and the users' passwords.
type oauthDev struct {
	Users []struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	} `json:"users"`
	OAuthClients []struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RedirectURI  string `json:"redirect_uri"`
	} `json:"oauth_clients"`
}

// oauthEnv is one dssd node seen by an OAuth2 client and a (cookie-keeping, non-redirecting)
// user agent.
type oauthEnv struct {
	tg                         target
	ua                         *http.Client
	clientID, secret, redirect string
	passwords                  map[string]string
}

func readOAuthDev(t *testing.T, devDir string) oauthDev {
	t.Helper()
	var d oauthDev
	if err := json.Unmarshal(readFile(t, filepath.Join(devDir, "dev.json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.OAuthClients) != 1 || d.OAuthClients[0].ClientID != "dev-client" || d.OAuthClients[0].ClientSecret == "" ||
		d.OAuthClients[0].RedirectURI != "http://127.0.0.1:8765/callback" {
		t.Fatalf("dev.json oauth_clients = %+v", d.OAuthClients)
	}
	return d
}

func newOAuthEnv(t *testing.T, devDir string, tg target) *oauthEnv {
	t.Helper()
	d := readOAuthDev(t, devDir)
	e := &oauthEnv{tg: tg, clientID: d.OAuthClients[0].ClientID, secret: d.OAuthClients[0].ClientSecret,
		redirect: d.OAuthClients[0].RedirectURI, passwords: map[string]string{}}
	for _, u := range d.Users {
		if u.Password == "" {
			t.Fatalf("dev.json: user %s has no password", u.Name)
		}
		e.passwords[u.Name] = u.Password
	}
	jar, _ := cookiejar.New(nil)
	e.ua = &http.Client{Transport: tg.client.Transport, Jar: jar, Timeout: tg.client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

func pkcePair() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	s := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(s[:])
}

// authParams are the parameters of an authorization request.
func (e *oauthEnv) authParams(scope, challenge, state string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {e.clientID}, "redirect_uri": {e.redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {state}, "scope": {scope}}
}

func credentialParams(v url.Values, cred string, hashes [][]byte) url.Values {
	var hs []string
	for _, h := range hashes {
		hs = append(hs, base64.RawURLEncoding.EncodeToString(h))
	}
	v.Set("credentialID", cred)
	v.Set("numSignatures", fmt.Sprint(len(hashes)))
	v.Set("hashes", strings.Join(hs, ","))
	v.Set("hashAlgorithmOID", sha256OID)
	return v
}

var (
	hiddenTX   = regexp.MustCompile(`name="tx" value="([^"]+)"`)
	hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// page GETs the authorize endpoint and returns the status, body and the form's hidden fields.
func (e *oauthEnv) page(t *testing.T, q url.Values) (int, string, string, string) {
	t.Helper()
	resp, err := e.ua.Get(e.tg.url + "/csc/v2/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("page CSP = %q", csp)
		}
		if bytes.Contains(raw, []byte("<script")) || bytes.Contains(raw, []byte("http://")) && !bytes.Contains(raw, []byte(e.redirect)) {
			t.Errorf("the page has a script or an external reference:\n%s", raw)
		}
	}
	var tx, csrf string
	if m := hiddenTX.FindSubmatch(raw); m != nil {
		tx = string(m[1])
	}
	if m := hiddenCSRF.FindSubmatch(raw); m != nil {
		csrf = string(m[1])
	}
	return resp.StatusCode, string(raw), tx, csrf
}

// submit POSTs the page's form; it returns the status, the Location header and the body.
func (e *oauthEnv) submit(t *testing.T, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := e.ua.Post(e.tg.url+"/csc/v2/oauth2/authorize", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(raw)
}

// redirected parses a redirect to the client's redirect URI.
func (e *oauthEnv) redirected(t *testing.T, status int, loc string) url.Values {
	t.Helper()
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, e.redirect+"?") {
		t.Fatalf("want a 303 redirect to %s, got %d %q", e.redirect, status, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// token calls the token endpoint with client_secret_basic (or _post when post is true).
func (e *oauthEnv) token(t *testing.T, code, verifier string, post bool) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {e.redirect}}
	if post {
		form.Set("client_id", e.clientID)
		form.Set("client_secret", e.secret)
	}
	req, _ := http.NewRequest(http.MethodPost, e.tg.url+"/csc/v2/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !post {
		req.SetBasicAuth(url.QueryEscape(e.clientID), url.QueryEscape(e.secret))
	}
	resp, err := e.tg.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("token: HTTP %d, not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// code runs the page for q with the given form fields and returns the code (and verifier).
func (e *oauthEnv) code(t *testing.T, q url.Values, verifier string, fields url.Values) string {
	t.Helper()
	status, body, tx, csrf := e.page(t, q)
	if status != http.StatusOK || tx == "" || csrf == "" {
		t.Fatalf("authorize page: %d\n%s", status, body)
	}
	fields.Set("tx", tx)
	fields.Set("csrf", csrf)
	st, loc, body := e.submit(t, fields)
	if st == http.StatusOK {
		t.Fatalf("the page came back instead of a redirect:\n%s", body)
	}
	got := e.redirected(t, st, loc)
	if got.Get("state") != q.Get("state") || got.Get("code") == "" {
		t.Fatalf("redirect %q: want a code and state %q", loc, q.Get("state"))
	}
	return got.Get("code")
}

// credentialToken runs the whole credential flow for hashes and returns the access token.
func (e *oauthEnv) credentialToken(t *testing.T, user, cred string, hashes [][]byte, pin, otp string) string {
	t.Helper()
	verifier, challenge := pkcePair()
	q := credentialParams(e.authParams("credential", challenge, "st-"+cred), cred, hashes)
	code := e.code(t, q, verifier, url.Values{"username": {user}, "password": {e.passwords[user]}, "pin": {pin}, "otp": {otp}})
	status, out := e.token(t, code, verifier, false)
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" || out["token_type"] != "Bearer" || out["credentialID"] != cred {
		t.Fatalf("token: %d %v", status, out)
	}
	if exp, _ := out["expires_in"].(float64); exp < 1 || exp > 300 {
		t.Fatalf("credential token expires_in %v, want 1..300", out["expires_in"])
	}
	return tok
}

// cscAt calls a CSC method on a node.
func cscAt(t *testing.T, tg target, prefix, method, token string, body any) cscAnswer {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, tg.url+prefix+method, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := cscAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a.json); err != nil {
		t.Fatalf("%s%s: %d not JSON: %s", prefix, method, resp.StatusCode, raw)
	}
	return a
}

func signHashBody(cred string, hashes [][]byte, signAlgo string) map[string]any {
	var hs []string
	for _, h := range hashes {
		hs = append(hs, base64.StdEncoding.EncodeToString(h))
	}
	return map[string]any{"credentialID": cred, "hashes": hs, "hashAlgorithmOID": sha256OID, "signAlgo": signAlgo}
}

// auditMatching counts the audit records of the node's store that match.
func auditMatching(t *testing.T, cfg string, match func(r store.Record) bool) int {
	t.Helper()
	n := 0
	for _, r := range auditRecords(t, cfg) {
		if match(r) {
			n++
		}
	}
	return n
}

func detailHas(action, text string) func(store.Record) bool {
	return func(r store.Record) bool {
		return r.Action == action && strings.Contains(r.Detail, text) && r.Major == majorRequester
	}
}

// audited runs f and checks that it added a record matching m.
func audited(t *testing.T, cfg, what string, m func(store.Record) bool, f func()) {
	t.Helper()
	before := auditMatching(t, cfg, m)
	f()
	if after := auditMatching(t, cfg, m); after <= before {
		t.Errorf("%s: no audit record", what)
	}
}

// TestOAuth2Refusals: each refusal of issue 13 on the shared dev server, with its answer and
// its audit record.
func TestOAuth2Refusals(t *testing.T) {
	s := start(t)
	tg := s.target()
	e := newOAuthEnv(t, s.devDir, tg)
	q := s.qes(t, "alice-qes")

	t.Run("redirect_uri not registered", func(t *testing.T) {
		_, challenge := pkcePair()
		p := e.authParams("service", challenge, "s1")
		p.Set("redirect_uri", "http://127.0.0.1:8765/callback/../evil")
		audited(t, tg.cfg, "unregistered redirect_uri", detailHas(dss.AuditOAuth2, "redirect_uri is not registered"), func() {
			resp, err := e.ua.Get(tg.url + "/csc/v2/oauth2/authorize?" + p.Encode())
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(raw), "redirect_uri is not registered") {
				t.Errorf("unregistered redirect_uri: %d Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), raw)
			}
		})
	})

	t.Run("PKCE required, errors with state to the client", func(t *testing.T) {
		p := e.authParams("service", "", "s-nopkce")
		p.Del("code_challenge")
		resp, err := e.ua.Get(tg.url + "/csc/v2/oauth2/authorize?" + p.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := e.redirected(t, resp.StatusCode, resp.Header.Get("Location"))
		if got.Get("error") != "invalid_request" || got.Get("state") != "s-nopkce" {
			t.Errorf("no code_challenge: redirect %v", got)
		}
	})

	t.Run("CSRF token missing", func(t *testing.T) {
		_, challenge := pkcePair()
		status, _, tx, _ := e.page(t, e.authParams("service", challenge, "s2"))
		if status != http.StatusOK {
			t.Fatal(status)
		}
		audited(t, tg.cfg, "missing CSRF token", detailHas(dss.AuditOAuth2, "without a valid CSRF token"), func() {
			st, loc, body := e.submit(t, url.Values{"tx": {tx}, "username": {"alice"}, "password": {e.passwords["alice"]}})
			if st != http.StatusForbidden || loc != "" || !strings.Contains(body, "CSRF") {
				t.Errorf("form without CSRF token: %d %q", st, loc)
			}
		})
	})

	t.Run("wrong code_verifier, then reused code", func(t *testing.T) {
		verifier, challenge := pkcePair()
		p := e.authParams("service", challenge, "s3")
		code := e.code(t, p, verifier, url.Values{"username": {"alice"}, "password": {e.passwords["alice"]}})
		other, _ := pkcePair()
		audited(t, tg.cfg, "wrong code_verifier", detailHas(dss.AuditOAuth2, "code_verifier does not match"), func() {
			if st, out := e.token(t, code, other, false); st != http.StatusBadRequest || out["error"] != "invalid_grant" || out["access_token"] != nil {
				t.Errorf("wrong code_verifier: %d %v", st, out)
			}
		})
		st, out := e.token(t, code, verifier, true) // client_secret_post
		tok, _ := out["access_token"].(string)
		if st != http.StatusOK || tok == "" || out["scope"] != "service" {
			t.Fatalf("right code_verifier: %d %v", st, out)
		}
		audited(t, tg.cfg, "reused code", detailHas(dss.AuditOAuth2, "already used"), func() {
			if st, out := e.token(t, code, verifier, false); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
				t.Errorf("reused code: %d %v", st, out)
			}
		})
		// The service token lists alice's credentials and signs with a SCAL1 credential.
		if a := cscAt(t, tg, "/csc/v2/", "credentials/list", tok, map[string]any{}); a.status != 200 || !strings.Contains(string(a.raw), "alice-rsa") {
			t.Errorf("credentials/list with the service token: %d %s", a.status, a.raw)
		}
		_, hs := sha256s("service token signs")
		d := [][]byte{mustB64(t, hs[0])}
		a := cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody("alice-rsa", d, oidRSA))
		if a.status != 200 {
			t.Fatalf("signHash with the service token: %d %s", a.status, a.raw)
		}
		verifyRaw(t, s.credChain(t, "alice-rsa")[0], crypto.SHA256, d, strs(a.json["signatures"]))
		// Revoked, it no longer authenticates.
		form := url.Values{"token": {tok}, "client_id": {e.clientID}, "client_secret": {e.secret}}
		resp, err := tg.client.Post(tg.url+"/csc/v2/oauth2/revoke", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("revoke: %d", resp.StatusCode)
		}
		if a := cscAt(t, tg, "/csc/v2/", "credentials/list", tok, map[string]any{}); a.status != http.StatusUnauthorized {
			t.Errorf("revoked token: %d %s", a.status, a.raw)
		}
	})

	t.Run("token for other hashes or another credential, then replayed", func(t *testing.T) {
		h1, h2 := sum([]byte("oauth2 document one")), sum([]byte("oauth2 document two"))
		tok := e.credentialToken(t, "alice", q.id, [][]byte{h1}, q.pin, freshOTP(t, tg.cfg, q))
		audited(t, tg.cfg, "other hashes", detailHas(dss.AuditSign, "not the authorised ones"), func() {
			cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h2}, oidRSA)).refused(t, "token for other hashes")
		})
		audited(t, tg.cfg, "another credential", detailHas(dss.AuditSign, "another credential"), func() {
			cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody("alice-rsa", [][]byte{h1}, oidRSA)).refused(t, "token for another credential")
		})
		// The token signs nothing else than signHash/signDoc.
		if a := cscAt(t, tg, "/csc/v2/", "credentials/list", tok, map[string]any{}); a.status != http.StatusUnauthorized {
			t.Errorf("credentials/list with a credential token: %d %s", a.status, a.raw)
		}
		a := cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h1}, oidRSA))
		if a.status != 200 {
			t.Fatalf("signHash with the credential token: %d %s", a.status, a.raw)
		}
		verifyRaw(t, s.credChain(t, q.id)[0], crypto.SHA256, [][]byte{h1}, strs(a.json["signatures"]))
		audited(t, tg.cfg, "replayed token", detailHas(dss.AuditSign, "already used"), func() {
			cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h1}, oidRSA)).refused(t, "the same token again")
		})
	})

	t.Run("another user's credential", func(t *testing.T) {
		verifier, challenge := pkcePair()
		_ = verifier
		p := credentialParams(e.authParams("credential", challenge, "s5"), q.id, [][]byte{sum([]byte("bob tries"))})
		status, body, tx, csrf := e.page(t, p)
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		m := func(r store.Record) bool {
			return r.Action == dss.AuditKeyLookup && r.User == "bob" && r.Credential == q.id && r.Major == majorRequester
		}
		audited(t, tg.cfg, "another user's credential", m, func() {
			st, loc, _ := e.submit(t, url.Values{"tx": {tx}, "csrf": {csrf}, "username": {"bob"}, "password": {e.passwords["bob"]},
				"pin": {q.pin}, "otp": {"000000"}})
			got := e.redirected(t, st, loc)
			if got.Get("error") != "access_denied" || got.Get("state") != "s5" || got.Get("code") != "" {
				t.Errorf("bob on alice's credential: %v", got)
			}
		})
	})

	t.Run("wrong password shows the page again", func(t *testing.T) {
		_, challenge := pkcePair()
		_, _, tx, csrf := e.page(t, e.authParams("service", challenge, "s6"))
		st, loc, body := e.submit(t, url.Values{"tx": {tx}, "csrf": {csrf}, "username": {"alice"}, "password": {"CANARY-wrong"}})
		if st != http.StatusOK || loc != "" || !strings.Contains(body, "Wrong user name or password") {
			t.Errorf("wrong password: %d %q", st, loc)
		}
	})
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOAuth2LockoutAndExpiry: on a node of its own (own store, SADs that live 1 s), wrong
// PINs typed on the page count toward the same lockout as credentials/authorize, and an
// expired credential token is refused.
func TestOAuth2LockoutAndExpiry(t *testing.T) {
	s := start(t)
	dbPath := filepath.Join(t.TempDir(), "oauth2.db")
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "sqlite", "path": dbPath}
		sadCfg, _ := c["sad"].(map[string]any)
		sadCfg["ttl"] = "1s"
	})
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
	tg := target{url: n.url, client: n.client, cfg: cfgPath}
	e := newOAuthEnv(t, s.devDir, tg)
	q := s.qes(t, "alice-qes")
	alice := s.token("alice")
	h := sum([]byte("expiry"))

	// Expired: a token of 1 s, used after the tolerated skew.
	tok := e.credentialToken(t, "alice", q.id, [][]byte{h}, q.pin, freshOTP(t, cfgPath, q))
	waitSeconds(7)
	audited(t, cfgPath, "expired token", detailHas(dss.AuditAuthenticate, "expired"), func() {
		a := cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h}, oidRSA))
		if a.status < 400 || a.json["signatures"] != nil {
			t.Errorf("expired token: %d %s", a.status, a.raw)
		}
	})

	// Wrong PINs: page, API, page: the attempts left fall 4, (3), 2.
	verifier, challenge := pkcePair()
	_ = verifier
	p := credentialParams(e.authParams("credential", challenge, "lock"), q.id, [][]byte{h})
	wrongOnPage := func(want string) {
		t.Helper()
		_, _, tx, csrf := e.page(t, p)
		st, loc, body := e.submit(t, url.Values{"tx": {tx}, "csrf": {csrf}, "username": {"alice"}, "password": {e.passwords["alice"]},
			"pin": {"CANARY-WRONG"}, "otp": {freshOTP(t, cfgPath, q)}})
		if st != http.StatusOK || loc != "" || !strings.Contains(body, want) {
			t.Fatalf("wrong PIN on the page: %d %q, want %q in\n%s", st, loc, want, body)
		}
	}
	audited(t, cfgPath, "wrong PIN on the page", detailHas(dss.AuditAuthorize, "wrong PIN"), func() { wrongOnPage("4 attempt(s) left") })
	if st, out := tg.authorize(t, alice, q.id, [][]byte{h}, "CANARY-WRONG-API", freshOTP(t, cfgPath, q)); st != http.StatusBadRequest || out["SAD"] != nil {
		t.Fatalf("wrong PIN through the API: %d %v", st, out)
	}
	wrongOnPage("2 attempt(s) left")
	wrongOnPage("1 attempt(s) left")
	// The fifth failure locks: the page then redirects with access_denied.
	_, _, tx, csrf := e.page(t, p)
	st, loc, _ := e.submit(t, url.Values{"tx": {tx}, "csrf": {csrf}, "username": {"alice"}, "password": {e.passwords["alice"]},
		"pin": {"CANARY-WRONG"}, "otp": {freshOTP(t, cfgPath, q)}})
	if got := e.redirected(t, st, loc); got.Get("error") != "access_denied" || got.Get("state") != "lock" {
		t.Errorf("locked credential: %v", got)
	}
	if st, out := tg.authorize(t, alice, q.id, [][]byte{h}, q.pin, freshOTP(t, cfgPath, q)); st != http.StatusBadRequest ||
		!strings.Contains(fmt.Sprint(out["error_description"]), "locked") {
		t.Errorf("the API after the page locked the credential: %d %v", st, out)
	}
	n.stop(t)
	noSecrets(t, "the node log", n.logText(), map[string]string{"PIN": q.pin, "password": e.passwords["alice"], "token": tok, "client secret": e.secret})
}

func waitSeconds(n int) { time.Sleep(time.Duration(n) * time.Second) }

// urlValues builds url.Values from key, value pairs.
func urlValues(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestReadmeOAuth2Curl runs the README's OAuth2 steps with curl (steps 1, 3 and 4; step 2,
// the browser, is done by the form POST of a user agent) against the dev server.
func TestReadmeOAuth2Curl(t *testing.T) {
	s := start(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: apt-get install curl")
	}
	tg := s.target()
	e := newOAuthEnv(t, s.devDir, tg)
	q := s.qes(t, "alice-qes")
	curl := func(args ...string) map[string]any {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "--fail-with-body", "--cacert", s.dev.CA}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("curl %v: not JSON: %s", args, out)
		}
		return m
	}
	url0 := s.dev.URL + "/csc/v2"
	verifier := strings.Repeat("0123456789abcdef", 4) // like `openssl rand -hex 32`
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	doc := sha256.Sum256([]byte("<invoice/>"))
	hash := base64.StdEncoding.EncodeToString(doc[:])
	par := curl("-u", "dev-client:"+e.secret, "-d", "response_type=code", "-d", "client_id=dev-client",
		"-d", "redirect_uri=http://127.0.0.1:8765/callback", "-d", "code_challenge="+challenge, "-d", "code_challenge_method=S256",
		"-d", "state=xyz", "-d", "scope=credential", "-d", "credentialID=alice-qes", "-d", "numSignatures=1",
		"--data-urlencode", "hashes="+hash, "-d", "hashAlgorithmOID=2.16.840.1.101.3.4.2.1", url0+"/oauth2/pushed_authorize")
	ru, _ := par["request_uri"].(string)
	if ru == "" || par["expires_in"] != 90.0 {
		t.Fatalf("pushed_authorize: %v", par)
	}
	t.Logf("request_uri: %d characters", len(ru))
	code := e.code(t, url.Values{"client_id": {"dev-client"}, "request_uri": {ru}, "state": {"xyz"}}, verifier,
		urlValues("username", "alice", "password", e.passwords["alice"], "pin", q.pin, "otp", freshOTP(t, tg.cfg, q)))
	tok := curl("-u", "dev-client:"+e.secret, "-d", "grant_type=authorization_code", "-d", "code="+code,
		"-d", "code_verifier="+verifier, "-d", "redirect_uri=http://127.0.0.1:8765/callback", url0+"/oauth2/token")
	access, _ := tok["access_token"].(string)
	if access == "" || tok["credentialID"] != "alice-qes" || tok["scope"] != "credential" {
		t.Fatalf("token: %v", tok)
	}
	body := fmt.Sprintf(`{"credentialID":"alice-qes","hashes":["%s"],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","signAlgo":"1.2.840.113549.1.1.1"}`, hash)
	sig := curl("-H", "Authorization: Bearer "+access, "-H", "Content-Type: application/json", "-d", body, url0+"/signatures/signHash")
	verifyRaw(t, s.credChain(t, "alice-qes")[0], crypto.SHA256, [][]byte{doc[:]}, strs(sig["signatures"]))
}
