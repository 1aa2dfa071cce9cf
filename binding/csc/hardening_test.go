package csc

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"dssd/binding/authn"
	"dssd/binding/guard"
)

// countingReader is an endless body that counts what was read of it.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.n += int64(len(p))
	return len(p), nil
}

// TestInfoReadsLittle: info is public and reads at most 64 KiB of a body (chunked or
// announced), whatever MaxBody is; an unauthenticated call of another method reads nothing.
func TestInfoReadsLittle(t *testing.T) {
	h := New(newFake(t), authn.New(nil), Options{})
	for _, method := range []string{"info", "signatures/signHash"} {
		body := &countingReader{}
		req := httptest.NewRequest(http.MethodPost, Prefix+method, io.NopCloser(body))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := map[string]int{"info": 413, "signatures/signHash": 401}[method]
		if rec.Code != want || body.n > 64<<10+1024 {
			t.Errorf("%s: status %d, %d bytes read (want %d, ≤ 64 KiB)", method, rec.Code, body.n, want)
		}
	}
}

// TestRefusalsAudited: refusals decided in the binding after authentication are reported
// once each, with the user, the action and the credential named.
func TestRefusalsAudited(t *testing.T) {
	f := setup(t, nil)
	h := b64(digestOf("x"))
	cases := []struct {
		method, body, want string
	}{
		{"credentials/authorize", fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":2,"hashes":[%q],"hashAlgorithmOID":%q}`, h, OIDSHA256), "authorize alice alice-qes malformed"},
		{"signatures/signHash", fmt.Sprintf(`{"credentialID":"bob-ec","hashes":[%q],"signAlgo":"1.2.3.4"}`, h), "sign alice bob-ec malformed"},
		{"signatures/signHash", `{"credentialID":"alice-ec","hashes":["%%%"],"signAlgo":"1.2.840.10045.4.3.2"}`, "sign alice alice-ec malformed"},
		{"signatures/signDoc", `{"credentialID":"alice-ec","documents":[{"document":"!!","signature_format":"X"}]}`, "sign alice alice-ec malformed"},
		{"credentials/list", `{"userID":"bob"}`, "credentials alice  malformed"},
		{"credentials/info", `{"credentialID":"alice-ec","certificates":"all"}`, "credentials alice alice-ec malformed"},
		// Unknown members are ignored (issue 13); duplicate members stay refused.
		{"credentials/list", `{"maxResults":5,"maxResults":6}`, "credentials alice  malformed"},
	}
	for i, c := range cases {
		a := f.call(t, c.method, aliceToken, c.body)
		if a.status != 400 {
			t.Errorf("case %d: status %d %s", i, a.status, a.body)
		}
		if len(f.svc.refusals) != i+1 || f.svc.refusals[i] != c.want {
			t.Fatalf("case %d (%s): refusals %q, want the last %q", i, c.method, f.svc.refusals, c.want)
		}
	}
	// Not authenticated: an authentication failure, not a refusal.
	if a := f.call(t, "credentials/list", "wrong", `{}`); a.status != 401 || len(f.svc.refusals) != len(cases) {
		t.Errorf("unauthenticated call: status %d, refusals %q", a.status, f.svc.refusals)
	}
	// 415 after authentication is a refusal too.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+Prefix+"credentials/list", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	if a := do(t, f.srv.Client(), req); a.status != 415 || len(f.svc.refusals) != len(cases)+1 {
		t.Errorf("415: status %d, refusals %q", a.status, f.svc.refusals)
	}
}

// TestBusyNotAudited: an overload answer (503 temporarily_unavailable with Retry-After) is
// not a refusal of the request and leaves no audit record.
func TestBusyNotAudited(t *testing.T) {
	svc := newFake(t)
	auth := authn.New([]authn.User{{Name: "alice", TokenSHA256: [][32]byte{sha256.Sum256([]byte(aliceToken))}}})
	g := guard.New(guard.Config{MaxInflight: 1 << 10})
	srv := httptest.NewServer(g.Handler(New(svc, auth, Options{})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+Prefix+"credentials/list", strings.NewReader(`{"clientData":"`+strings.Repeat("x", 4<<10)+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	a := do(t, srv.Client(), req)
	a.wantError(t, 503, ErrTemporarilyUnavailable, "busy")
	if a.header.Get("Retry-After") == "" || len(svc.refusals) != 0 {
		t.Errorf("Retry-After %q, refusals %q", a.header.Get("Retry-After"), svc.refusals)
	}
}
