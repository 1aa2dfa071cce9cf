package oauth2

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func testHandler() *handler {
	return New(nil, Options{Clients: []Client{
		{ID: "app", RedirectURIs: []string{"https://app.example/cb"}},
		{ID: "two", RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}},
	}}).(*handler)
}

const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

func params(kv ...string) url.Values {
	v := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://app.example/cb"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"st"}, "scope": {"service"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

func TestParseAuthRequest(t *testing.T) {
	h := testHandler()
	ar, perr := h.parseAuthRequest(params())
	if perr != nil || ar.Scope != "service" || ar.State != "st" || ar.RedirectURI != "https://app.example/cb" {
		t.Fatalf("service request: %v %+v", perr, ar)
	}
	hash := "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg" // base64url of a SHA-256
	ar, perr = h.parseAuthRequest(params("scope", "credential", "credentialID", "alice-qes", "numSignatures", "1",
		"hashes", hash, "hashAlgorithmOID", "2.16.840.1.101.3.4.2.1"))
	if perr != nil || ar.CredentialID != "alice-qes" || len(ar.Hashes) != 1 || !strings.HasSuffix(ar.Hashes[0], "=") {
		t.Fatalf("credential request: %v %+v", perr, ar)
	}
	ad := `[{"type":"credential","credentialID":"alice-qes","documentDigests":[{"hash":"` + hash + `","label":"a.pdf"}],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1"}]`
	ar, perr = h.parseAuthRequest(params("scope", "", "authorization_details", ad))
	if perr != nil || ar.Scope != "credential" || ar.Labels[0] != "a.pdf" {
		t.Fatalf("authorization_details: %v %+v", perr, ar)
	}
	for _, tt := range []struct {
		name     string
		q        url.Values
		code     string
		redirect bool
	}{
		{"unknown client", params("client_id", "nobody"), "invalid_client", false},
		{"unregistered redirect", params("redirect_uri", "https://app.example/cb2"), "invalid_request", false},
		{"redirect prefix", params("redirect_uri", "https://app.example/cb/../x"), "invalid_request", false},
		{"no redirect, several registered", params("client_id", "two", "redirect_uri", ""), "invalid_request", false},
		{"no PKCE", params("code_challenge", ""), "invalid_request", true},
		{"plain PKCE", params("code_challenge_method", "plain"), "invalid_request", true},
		{"token flow", params("response_type", "token"), "unsupported_response_type", true},
		{"bad scope", params("scope", "openid"), "invalid_scope", true},
		{"count mismatch", params("scope", "credential", "credentialID", "c", "numSignatures", "2", "hashes", hash, "hashAlgorithmOID", "x"), "invalid_request", true},
		{"bad details", params("scope", "", "authorization_details", `[{"type":"other"}]`), "invalid_authorization_details", true},
		{"bad hash", params("scope", "credential", "credentialID", "c", "hashes", "!!", "hashAlgorithmOID", "x"), "invalid_request", true},
	} {
		_, perr := h.parseAuthRequest(tt.q)
		if perr == nil || perr.code != tt.code || perr.redirect != tt.redirect {
			t.Errorf("%s: %+v, want %s redirect=%v", tt.name, perr, tt.code, tt.redirect)
		}
	}
	q := params()
	q["state"] = []string{"a", "b"}
	if _, perr := h.parseAuthRequest(q); perr == nil || perr.redirect {
		t.Errorf("repeated parameter: %+v", perr)
	}
}

func TestErrorPageHeaders(t *testing.T) {
	h := testHandler()
	w := httptest.NewRecorder()
	h.errorPage(w, http.StatusBadRequest, `<script>alert(1)</script>`)
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "style-src 'sha256-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if body := w.Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("the message is not escaped:\n%s", body)
	}
	if w.Header().Get("X-Frame-Options") != "DENY" {
		t.Error("no X-Frame-Options")
	}
}
