package csc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dssd/binding/authn"
	"dssd/dss"
)

const (
	aliceToken = "canary-token-alice-7f3a"
	bobToken   = "canary-token-bob-19c2"
	testPIN    = "canary-pin-4417"
	testOTP    = "829301"
	testSAD    = "canary-sad-eyJhbGciOi"
)

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeService is an in-memory dss service: alice owns alice-ec (SCAL1) and alice-qes
// (SCAL2, RSA), bob owns bob-ec.
type fakeService struct {
	mu         sync.Mutex
	creds      map[string]*dss.Credential
	authorizes []*dss.AuthorizeRequest
	signs      []*dss.SignRequest
	err        error // returned by Authorize and Sign when set
	authFails  []string
	refusals   []string // "action user credential kind" of each AuditRefusal
	jobs       map[string]*fakeJob
}

// AuditRefusal makes the fake an exchange.RefusalAuditor.
func (f *fakeService) AuditRefusal(_ context.Context, c dss.Caller, action, _, credential string, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusals = append(f.refusals, strings.Join([]string{action, c.User, credential, dss.KindOf(err).String()}, " "))
	return err
}

// AuditAuthFailure makes the fake an authn.FailureAuditor.
func (f *fakeService) AuditAuthFailure(ctx context.Context, _, reason, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authFails = append(f.authFails, dss.ProblemRefOf(ctx)+": "+reason)
}

func newFake(t *testing.T) *fakeService {
	t.Helper()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ca := selfSigned(t, "Test CA", ecKey, ecKey.Public(), nil, nil)
	f := &fakeService{creds: map[string]*dss.Credential{}}
	add := func(id, owner, keyType string, scal int, pub crypto.PublicKey) {
		leaf := selfSigned(t, id, ecKey, pub, ca, big.NewInt(0x5AAC41))
		f.creds[id] = &dss.Credential{ID: id, Owner: owner, Key: keyType, SCAL: scal, Chain: []*x509.Certificate{leaf, ca}}
	}
	add("alice-ec", "alice", "EC-P256", 1, ecKey.Public())
	add("alice-qes", "alice", "RSA-2048", 2, rsaKey.Public())
	add("bob-ec", "bob", "EC-P256", 1, ecKey.Public())
	return f
}

func selfSigned(t *testing.T, cn string, signer crypto.Signer, pub crypto.PublicKey, parent *x509.Certificate, serial *big.Int) *x509.Certificate {
	t.Helper()
	if serial == nil {
		serial = big.NewInt(1)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"dssd test"}},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: parent == nil,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeService) Credentials(c dss.Caller) []*dss.Credential {
	var out []*dss.Credential
	for _, id := range []string{"alice-ec", "alice-qes", "bob-ec"} {
		if f.creds[id].Owner == c.User {
			out = append(out, f.creds[id])
		}
	}
	return out
}

func (f *fakeService) Credential(c dss.Caller, id string) (*dss.Credential, error) {
	cr := f.creds[id]
	if cr == nil || cr.Owner != c.User {
		return nil, &dss.Error{Kind: dss.KindKeyLookup, Err: fmt.Errorf("credential %q requested by %q", id, c.User)}
	}
	return cr, nil
}

func (f *fakeService) Authorize(_ context.Context, c dss.Caller, req *dss.AuthorizeRequest) (*dss.Authorization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authorizes = append(f.authorizes, req)
	if f.err != nil {
		return nil, f.err
	}
	if _, err := f.Credential(c, req.CredentialID); err != nil {
		return nil, err
	}
	if req.PIN != testPIN {
		return nil, dss.Errorf(dss.KindSADInvalid, "wrong PIN or OTP")
	}
	return &dss.Authorization{SAD: testSAD, ExpiresIn: 300}, nil
}

func (f *fakeService) Sign(_ context.Context, c dss.Caller, req *dss.SignRequest) (*dss.SignResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signs = append(f.signs, req)
	if f.err != nil {
		return nil, f.err
	}
	if req.Options.Async {
		return f.submit(c, req, fakeSign(req)), nil
	}
	return fakeSign(req), nil
}

func fakeSign(req *dss.SignRequest) *dss.SignResponse {
	resp := &dss.SignResponse{Result: dss.Result{Major: dss.MajorSuccess}, Tag: req.Tag}
	for _, h := range req.Hashes {
		resp.Signatures = append(resp.Signatures, dss.SignatureObject{WhichDoc: h.ID, MimeType: "application/octet-stream",
			Value: append([]byte("sig:"), h.Digests[0].Value...)})
	}
	for _, d := range req.Documents {
		if p := req.Options.Placement; p != nil && p.WhichData == d.ID {
			resp.DocumentsWithSignature = append(resp.DocumentsWithSignature, dss.DocumentWithSignature{WhichDoc: d.ID, ID: "signed-" + d.ID, Data: append([]byte("signed:"), d.Data...)})
			resp.Signatures = append(resp.Signatures, dss.SignatureObject{WhichDoc: d.ID, Ptr: &dss.SignaturePtr{WhichData: "signed-" + d.ID}})
			continue
		}
		resp.Signatures = append(resp.Signatures, dss.SignatureObject{WhichDoc: d.ID, MimeType: "application/xml", Value: append([]byte("xsig:"), d.Data...)})
	}
	return resp
}

// Pending makes the fake answer polls of its asynchronous jobs (async_test.go).
func (f *fakeService) Pending(_ context.Context, c dss.Caller, req *dss.PendingRequest) (*dss.SignResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[req.RequestID]
	if j == nil || j.owner != c.User {
		return nil, dss.Errorf(dss.KindResponseIDUnknown, "no pending request with this ResponseID")
	}
	if !j.done {
		return &dss.SignResponse{ResponseID: req.RequestID, Result: dss.Result{Major: dss.MajorPending}}, nil
	}
	return j.resp, nil
}

type fixture struct {
	srv  *httptest.Server
	svc  *fakeService
	logs *bytes.Buffer
}

func setup(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	digest := func(s string) [][32]byte { return [][32]byte{sha256.Sum256([]byte(s))} }
	auth := authn.New([]authn.User{{Name: "alice", TokenSHA256: digest(aliceToken)}, {Name: "bob", TokenSHA256: digest(bobToken)}})
	f := &fixture{svc: newFake(t), logs: &bytes.Buffer{}}
	n := 0
	opts := Options{
		Provider: Provider{},
		Logger:   slog.New(slog.NewJSONHandler(f.logs, nil)),
		Now:      func() time.Time { return testNow },
		NewID:    func() string { n++; return fmt.Sprintf("req-%d", n) },
	}
	if mod != nil {
		mod(&opts)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, New(f.svc, auth, opts))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (f *fixture) call(t *testing.T, method, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+Prefix+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, f.srv.Client(), req)
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if err := json.Unmarshal(b, &a.json); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return a
}

// wantError checks a CSC error answer.
func (a answer) wantError(t *testing.T, status int, code, descPart string) {
	t.Helper()
	if a.status != status || a.json["error"] != code {
		t.Fatalf("got %d %v, want %d %s\n%s", a.status, a.json["error"], status, code, a.body)
	}
	if d, _ := a.json["error_description"].(string); !strings.Contains(d, descPart) {
		t.Errorf("error_description %q does not contain %q", d, descPart)
	}
	if _, ok := a.json["SAD"]; ok {
		t.Errorf("an error answer carries a SAD: %s", a.body)
	}
	if _, ok := a.json["signatures"]; ok {
		t.Errorf("an error answer carries signatures: %s", a.body)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func digestOf(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func TestInfo(t *testing.T) {
	f := setup(t, func(o *Options) { o.Levels = []string{dss.LevelBB, dss.LevelBT} })
	for _, body := range []string{"", "{}", `{"lang":"en-US"}`} {
		a := f.call(t, "info", "", body)
		if a.status != 200 {
			t.Fatalf("info(%q): %d %s", body, a.status, a.body)
		}
		want := map[string]any{
			"specs": "2.0.0.2", "name": "dssd", "region": "ZZ", "lang": "en",
			"logo":               "https://" + strings.TrimPrefix(f.srv.URL, "http://") + "/csc/v2/logo.png",
			"supportedHashTypes": []any{OIDSHA256, OIDSHA384, OIDSHA512},
			"authType":           []any{"external"}, "oauth2FAPIsupport": false, "asynchronousOperationMode": false,
			"methods":            []any{"info", "credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash", "signatures/signDoc"},
			"conformance_levels": []any{"Ades-B-B", "Ades-B-T"},
			"signature_formats":  map[string]any{"formats": []any{"X"}, "envelope_properties": []any{[]any{"Enveloped", "Enveloping", "Detached"}}},
		}
		for k, v := range want {
			if diff := cmp.Diff(v, a.json[k]); diff != "" {
				t.Errorf("info %s (-want +got):\n%s", k, diff)
			}
		}
		algos := a.json["signAlgorithms"].(map[string]any)["algos"].([]any)
		if len(algos) != len(hashSignAlgos) || algos[0] != OIDRSA {
			t.Errorf("signAlgorithms.algos = %v", algos)
		}
	}
	// Unknown members are ignored (CSC v2.2 clients send members of newer versions); v1
	// leftovers never appear on v2 paths.
	if a := f.call(t, "info", "", `{"lang":"en","extra":1}`); a.status != 200 {
		t.Errorf("info with an unknown member: %d %s", a.status, a.body)
	}
}

func TestAuthentication(t *testing.T) {
	f := setup(t, nil)
	a := f.call(t, "credentials/list", "", `{}`)
	a.wantError(t, 401, ErrInvalidToken, "")
	if got := a.header.Get("WWW-Authenticate"); got != `Bearer realm="dssd"` {
		t.Errorf("WWW-Authenticate without a token = %q", got)
	}
	a = f.call(t, "credentials/list", "not-a-token", `{}`)
	a.wantError(t, 401, ErrInvalidToken, "")
	if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") || !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate with a bad token = %q", got)
	}
	for _, m := range []string{"credentials/info", "credentials/authorize", "signatures/signHash", "signatures/signDoc"} {
		f.call(t, m, "", `{}`).wantError(t, 401, ErrInvalidToken, "")
	}
	if len(f.svc.signs)+len(f.svc.authorizes) != 0 {
		t.Error("an unauthenticated request reached the service")
	}
	// Each 401 is reported once for the audit, with the request's problem reference.
	if len(f.svc.authFails) != 6 || !strings.HasPrefix(f.svc.authFails[0], "req-1: ") || strings.Contains(strings.Join(f.svc.authFails, ","), "not-a-token") {
		t.Errorf("reported authentication failures: %q", f.svc.authFails)
	}
}

func TestCredentialsList(t *testing.T) {
	f := setup(t, nil)
	a := f.call(t, "credentials/list", aliceToken, `{}`)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if diff := cmp.Diff([]any{"alice-ec", "alice-qes"}, a.json["credentialIDs"]); diff != "" {
		t.Errorf("alice's credentialIDs (-want +got):\n%s", diff)
	}
	if _, ok := a.json["credentialInfos"]; ok {
		t.Error("credentialInfos without credentialInfo=true")
	}
	a = f.call(t, "credentials/list", bobToken, `{"credentialInfo":true,"certificates":"chain","certInfo":true,"onlyValid":true}`)
	if diff := cmp.Diff([]any{"bob-ec"}, a.json["credentialIDs"]); diff != "" {
		t.Errorf("bob's credentialIDs (-want +got):\n%s", diff)
	}
	infos := a.json["credentialInfos"].([]any)
	if len(infos) != 1 || infos[0].(map[string]any)["credentialID"] != "bob-ec" || a.json["onlyValid"] != true {
		t.Errorf("credentialInfos = %s", a.body)
	}
	if certs := infos[0].(map[string]any)["cert"].(map[string]any)["certificates"].([]any); len(certs) != 2 {
		t.Errorf("chain has %d certificates", len(certs))
	}
	f.call(t, "credentials/list", aliceToken, `{"userID":"bob"}`).wantError(t, 400, ErrInvalidRequest, "userID")
	f.call(t, "credentials/list", aliceToken, `{"certificates":"all"}`).wantError(t, 400, ErrInvalidRequest, "certificates")
}

func TestCredentialsInfo(t *testing.T) {
	f := setup(t, nil)
	a := f.call(t, "credentials/info", aliceToken, `{"credentialID":"alice-qes","certificates":"chain","certInfo":true,"authInfo":true}`)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var got credentialInfo
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	cred := f.svc.creds["alice-qes"]
	want := credentialInfo{
		Description: "RSA-2048 key, SCAL2",
		Key:         keyInfo{Status: "enabled", Algo: []string{OIDRSA, OIDSHA256WithRSA, OIDSHA384WithRSA, OIDSHA512WithRSA, OIDRSAPSS}, Len: 2048},
		Cert: certInfo{Status: "valid",
			Certificates: []string{b64(cred.Chain[0].Raw), b64(cred.Chain[1].Raw)},
			IssuerDN:     "CN=Test CA,O=dssd test", SubjectDN: "CN=alice-qes,O=dssd test", SerialNumber: "5AAC41",
			ValidFrom: "20260501110000Z", ValidTo: "20260502120000Z"},
		Auth: &authInfo{Mode: "explicit", Expression: "PIN AND OTP", Objects: []authObject{
			{Type: "Password", ID: "PIN", Format: "A", Label: "PIN", Description: "the signing PIN of the credential"},
			{Type: "Password", ID: "OTP", Format: "N", Label: "OTP", Description: "TOTP code (RFC 6238: SHA-1, 30 s, 6 digits)", Generator: "totp"},
		}},
		SCAL: "2", Multisign: 16, Lang: "en",
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported()); diff != "" {
		t.Errorf("credentials/info alice-qes (-want +got):\n%s", diff)
	}

	a = f.call(t, "credentials/info", aliceToken, `{"credentialID":"alice-ec"}`)
	got = credentialInfo{}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.SCAL != "1" || got.Key.Curve != OIDCurveP256 || got.Key.Len != 256 ||
		len(got.Cert.Certificates) != 1 || got.Cert.SubjectDN != "" || got.Auth != nil {
		t.Errorf("credentials/info alice-ec = %s", a.body)
	}
	for _, leftover := range []string{"authMode", "PIN", "OTP"} {
		if _, ok := a.json[leftover]; ok {
			t.Errorf("CSC 1.0 member %s on a v2 path: %s", leftover, a.body)
		}
	}
	a = f.call(t, "credentials/info", aliceToken, `{"credentialID":"alice-ec","authInfo":true}`)
	if auth, _ := a.json["auth"].(map[string]any); auth["mode"] != "explicit" || auth["objects"] != nil {
		t.Errorf("SCAL1 auth = %v, want mode explicit without objects", a.json["auth"])
	}
	a = f.call(t, "credentials/info", aliceToken, `{"credentialID":"alice-ec","certificates":"none"}`)
	if _, ok := a.json["cert"].(map[string]any)["certificates"]; ok {
		t.Errorf("certificates=none still returns certificates: %s", a.body)
	}
	// Another user's credential and an unknown one get the same answer.
	foreign := f.call(t, "credentials/info", aliceToken, `{"credentialID":"bob-ec"}`)
	foreign.wantError(t, 400, ErrInvalidRequest, "no such credential")
	unknown := f.call(t, "credentials/info", aliceToken, `{"credentialID":"nobody"}`)
	if !bytes.Equal(foreign.body, unknown.body) {
		t.Errorf("foreign and unknown credentials answered differently:\n%s\n%s", foreign.body, unknown.body)
	}
	f.call(t, "credentials/info", aliceToken, `{}`).wantError(t, 400, ErrInvalidRequest, "credentialID")
}

func TestStrictDecoding(t *testing.T) {
	f := setup(t, nil)
	tests := []struct{ name, body, want string }{
		{"case-mismatched member", `{"credentialid":"alice-ec"}`, "case-sensitive"},
		{"repeated unknown member", `{"credentialID":"alice-ec","x":{"a":1,"a":2}}`, "more than once"},
		{"repeated member", `{"credentialID":"alice-ec","credentialID":"bob-ec"}`, "more than once"},
		{"trailing data", `{"credentialID":"alice-ec"} {}`, "after the JSON object"},
		{"not an object", `["alice-ec"]`, "JSON object"},
		{"wrong type", `{"credentialID":7}`, "invalid type"},
		{"not JSON", `{credentialID:`, "JSON"},
		{"invalid UTF-8", "{\"credentialID\":\"\xff\"}", "UTF-8"},
		{"deep nesting", `{"clientData":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.call(t, "credentials/info", aliceToken, tt.body).wantError(t, 400, ErrInvalidRequest, tt.want)
		})
	}
	if a := f.call(t, "credentials/info", aliceToken, `{"credentialID":"alice-ec","colour":{"deep":[1,2]}}`); a.status != 200 {
		t.Errorf("unknown member: %d %s", a.status, a.body)
	}
}

func TestAuthorize(t *testing.T) {
	f := setup(t, nil)
	h1, h2 := digestOf("one"), digestOf("two")
	body := fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":2,"hashes":[%q,%q],"hashAlgorithmOID":%q,"PIN":%q,"OTP":%q,"clientData":"cd-1"}`,
		b64(h1), b64(h2), OIDSHA256, testPIN, testOTP)
	a := f.call(t, "credentials/authorize", aliceToken, body)
	if a.status != 200 || a.json["SAD"] != testSAD || a.json["expiresIn"] != 300.0 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", a.header.Get("Cache-Control"))
	}
	want := &dss.AuthorizeRequest{RequestID: "cd-1", CredentialID: "alice-qes", NumSignatures: 2, Hashes: [][]byte{h1, h2},
		HashAlgorithmOID: OIDSHA256, PIN: testPIN, OTP: testOTP}
	if diff := cmp.Diff(want, f.svc.authorizes[0]); diff != "" {
		t.Errorf("AuthorizeRequest (-want +got):\n%s", diff)
	}
	// CSC v2 authData carries the same factors.
	body = fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":1,"hashes":[%q],"hashAlgorithmOID":%q,"authData":[{"id":"PIN","value":%q},{"id":"OTP","value":%q}]}`,
		b64(h1), OIDSHA256, testPIN, testOTP)
	if a := f.call(t, "credentials/authorize", aliceToken, body); a.status != 200 {
		t.Fatalf("authorize with authData: %d %s", a.status, a.body)
	}
	if got := f.svc.authorizes[1]; got.PIN != testPIN || got.OTP != testOTP {
		t.Error("authData factors did not reach the service")
	}

	bad := []struct{ name, body, want string }{
		{"wrong PIN", fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":1,"hashes":[%q],"hashAlgorithmOID":%q,"PIN":"0000","OTP":%q}`, b64(h1), OIDSHA256, testOTP), "wrong PIN"},
		{"foreign credential", fmt.Sprintf(`{"credentialID":"bob-ec","numSignatures":1,"hashes":[%q],"hashAlgorithmOID":%q,"PIN":%q}`, b64(h1), OIDSHA256, testPIN), "no such credential"},
		{"count mismatch", fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":2,"hashes":[%q],"hashAlgorithmOID":%q}`, b64(h1), OIDSHA256), "numSignatures is 2 but 1 hashes"},
		{"no numSignatures", `{"credentialID":"alice-qes"}`, "numSignatures"},
		{"zero numSignatures", `{"credentialID":"alice-qes","numSignatures":0}`, "numSignatures"},
		{"bad base64", `{"credentialID":"alice-qes","numSignatures":1,"hashes":["***"],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1"}`, "base64"},
		{"no hash algorithm", fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":1,"hashes":[%q]}`, b64(h1)), "hashAlgorithmOID"},
		{"PIN twice", fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":1,"PIN":%q,"authData":[{"id":"PIN","value":%q}]}`, testPIN, testPIN), "more than once"},
		{"unknown factor", `{"credentialID":"alice-qes","numSignatures":1,"authData":[{"id":"FACE","value":"x"}]}`, "FACE"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			f.call(t, "credentials/authorize", aliceToken, tt.body).wantError(t, 400, ErrInvalidRequest, tt.want)
		})
	}
}

func TestSignHash(t *testing.T) {
	f := setup(t, nil)
	h1, h2 := digestOf("one"), digestOf("two")
	body := fmt.Sprintf(`{"credentialID":"alice-qes","SAD":%q,"hashes":[%q,%q],"hashAlgorithmOID":%q,"signAlgo":%q,"clientData":"x-1"}`,
		testSAD, b64(h1), b64(h2), OIDSHA256, OIDRSA)
	a := f.call(t, "signatures/signHash", aliceToken, body)
	if a.status != 200 {
		t.Fatalf("signHash: %d %s", a.status, a.body)
	}
	if diff := cmp.Diff([]any{b64(append([]byte("sig:"), h1...)), b64(append([]byte("sig:"), h2...))}, a.json["signatures"]); diff != "" {
		t.Errorf("signatures (-want +got):\n%s", diff)
	}
	want := &dss.SignRequest{
		RequestID: "x-1",
		Hashes: []dss.DocumentHash{
			{ID: "hash-1", Digests: []dss.Digest{{Method: OIDSHA256, Value: h1}}},
			{ID: "hash-2", Digests: []dss.Digest{{Method: OIDSHA256, Value: h2}}},
		},
		Options: dss.SignOptions{CredentialID: "alice-qes", SignatureAlgorithm: OIDSHA256WithRSA,
			ClaimedIdentity: &dss.ClaimedIdentity{Name: "alice", SupportingInfo: []byte(testSAD), SupportingInfoMimeType: "application/jwt"}},
		Tag: tagSignHash,
	}
	if diff := cmp.Diff(want, f.svc.signs[0]); diff != "" {
		t.Errorf("SignRequest (-want +got):\n%s", diff)
	}

	// Without a SAD no ClaimedIdentity is sent; a combined OID fixes the hash.
	body = fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q}`, b64(h1), OIDECDSASHA256)
	if a := f.call(t, "signatures/signHash", aliceToken, body); a.status != 200 {
		t.Fatalf("signHash SCAL1: %d %s", a.status, a.body)
	}
	if got := f.svc.signs[1]; got.Options.ClaimedIdentity != nil || got.Hashes[0].Digests[0].Method != OIDSHA256 || got.Options.SignatureAlgorithm != OIDECDSASHA256 {
		t.Errorf("SignRequest = %+v", got)
	}

	// RSASSA-PSS with its parameters becomes the XMLDSig PSS method.
	params, err := PSSParams(OIDSHA384)
	if err != nil {
		t.Fatal(err)
	}
	h384 := make([]byte, 48)
	body = fmt.Sprintf(`{"credentialID":"alice-qes","SAD":"s","hashes":[%q],"hashAlgorithmOID":%q,"signAlgo":%q,"signAlgoParams":%q}`, b64(h384), OIDSHA384, OIDRSAPSS, params)
	if a := f.call(t, "signatures/signHash", aliceToken, body); a.status != 200 {
		t.Fatalf("signHash PSS: %d %s", a.status, a.body)
	}
	if got := f.svc.signs[2].Options.SignatureAlgorithm; got != uriPSSSHA384 {
		t.Errorf("PSS SignatureAlgorithm = %q", got)
	}

	n := len(f.svc.signs)
	bad := []struct{ name, body, want string }{
		{"no hashes", `{"credentialID":"alice-ec","signAlgo":"1.2.840.10045.4.3.2"}`, "hashes"},
		{"no signAlgo", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q]}`, b64(h1)), "signAlgo"},
		{"hash disagrees", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"hashAlgorithmOID":%q}`, b64(h1), OIDECDSASHA256, OIDSHA512), "differs"},
		{"key OID without hash", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q}`, b64(h1), OIDECPublicKey), "hashAlgorithmOID"},
		{"PSS without params", fmt.Sprintf(`{"credentialID":"alice-qes","hashes":[%q],"signAlgo":%q}`, b64(h1), OIDRSAPSS), "signAlgoParams"},
		{"PSS garbage params", fmt.Sprintf(`{"credentialID":"alice-qes","hashes":[%q],"signAlgo":%q,"signAlgoParams":"AAAA"}`, b64(h1), OIDRSAPSS), "signAlgoParams"},
		{"async", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"operationMode":"A"}`, b64(h1), OIDECDSASHA256), "asynchronous"},
		{"no credential", fmt.Sprintf(`{"hashes":[%q],"signAlgo":%q}`, b64(h1), OIDECDSASHA256), "credentialID"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			f.call(t, "signatures/signHash", aliceToken, tt.body).wantError(t, 400, ErrInvalidRequest, tt.want)
		})
	}
	if len(f.svc.signs) != n {
		t.Errorf("%d refused requests reached Sign", len(f.svc.signs)-n)
	}
	// A refusal by the service: no signatures.
	f.svc.err = dss.Errorf(dss.KindSADInvalid, "SAD expired")
	f.call(t, "signatures/signHash", aliceToken, fmt.Sprintf(`{"credentialID":"alice-qes","SAD":"x","hashes":[%q],"signAlgo":%q}`, b64(h1), OIDSHA256WithRSA)).
		wantError(t, 400, ErrInvalidRequest, "SAD expired")
}

func TestSignDoc(t *testing.T) {
	f := setup(t, nil)
	doc := []byte("<invoice><id>1</id></invoice>")
	body := fmt.Sprintf(`{"credentialID":"alice-ec","documents":[{"document":%q,"signature_format":"X","conformance_level":"Ades-B-B","signAlgo":%q,"signed_envelope_property":"Enveloped"}]}`,
		b64(doc), OIDECDSASHA256)
	a := f.call(t, "signatures/signDoc", aliceToken, body)
	if a.status != 200 {
		t.Fatalf("signDoc: %d %s", a.status, a.body)
	}
	if diff := cmp.Diff([]any{b64(append([]byte("signed:"), doc...))}, a.json["DocumentWithSignature"]); diff != "" {
		t.Errorf("DocumentWithSignature (-want +got):\n%s", diff)
	}
	want := &dss.SignRequest{
		Profiles:  []string{dss.LevelBB},
		Documents: []dss.Document{{ID: "doc-1", Data: doc}},
		Options: dss.SignOptions{CredentialID: "alice-ec", SignatureType: dss.TypeXAdES, SignatureAlgorithm: uriECDSASHA256,
			Placement: &dss.Placement{WhichData: "doc-1", XPath: "/*", CreateEnveloped: true}},
		Tag: tagSignDoc + envEnveloped,
	}
	if diff := cmp.Diff(want, f.svc.signs[0]); diff != "" {
		t.Errorf("SignRequest (-want +got):\n%s", diff)
	}
	body = fmt.Sprintf(`{"credentialID":"alice-ec","documents":[{"document":%q,"signature_format":"X","signAlgo":%q,"signed_envelope_property":"Detached"}]}`, b64(doc), OIDECDSASHA256)
	if a := f.call(t, "signatures/signDoc", aliceToken, body); a.status != 200 || a.json["SignatureObject"] == nil {
		t.Fatalf("signDoc detached: %d %s", a.status, a.body)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"PAdES", fmt.Sprintf(`{"credentialID":"alice-ec","documents":[{"document":%q,"signature_format":"P","signAlgo":%q}]}`, b64(doc), OIDECDSASHA256), "signature_format"},
		{"non-baseline level", fmt.Sprintf(`{"credentialID":"alice-ec","documents":[{"document":%q,"signature_format":"X","conformance_level":"Ades-T","signAlgo":%q}]}`, b64(doc), OIDECDSASHA256), "conformance_level"},
		{"mixed parameters", fmt.Sprintf(`{"credentialID":"alice-ec","documents":[{"document":%q,"signature_format":"X","signAlgo":%q},{"document":%q,"signature_format":"X","signAlgo":%q}]}`, b64(doc), OIDECDSASHA256, b64(doc), OIDECDSASHA384), "separate requests"},
		{"no documents", `{"credentialID":"alice-ec"}`, "documents"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.call(t, "signatures/signDoc", aliceToken, tt.body).wantError(t, 400, ErrInvalidRequest, tt.want)
		})
	}
}

func TestHTTPLevelErrors(t *testing.T) {
	f := setup(t, func(o *Options) { o.MaxBody = 256 })
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+Prefix+"info", nil)
	a := do(t, f.srv.Client(), req)
	a.wantError(t, 405, ErrInvalidRequest, "POST")
	if a.header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", a.header.Get("Allow"))
	}
	f.call(t, "credentials/nothing", aliceToken, `{}`).wantError(t, 404, ErrInvalidRequest, "unknown CSC method")
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+Prefix+"credentials/list", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	do(t, f.srv.Client(), req).wantError(t, 415, ErrInvalidRequest, "application/json")
	f.call(t, "credentials/list", aliceToken, `{"clientData":"`+strings.Repeat("x", 300)+`"}`).wantError(t, 413, ErrInvalidRequest, "too large")
}

// Every dss.Kind has a deliberate answer; internal details never reach the client.
func TestErrorMapping(t *testing.T) {
	for k := dss.Kind(0); !strings.HasPrefix(k.String(), "kind("); k++ {
		e := errorOf(&dss.Error{Kind: k, Detail: "detail-" + k.String(), Err: errors.New("secret internal cause")}, "ref-1")
		switch k {
		case dss.KindInternal:
			if e.status != 500 || e.code != ErrServerError || strings.Contains(e.desc, "detail-") || !strings.Contains(e.desc, "ref-1") {
				t.Errorf("%v → %+v", k, e)
			}
		case dss.KindHSMUnavailable, dss.KindAuthorityUnavailable, dss.KindBusy:
			if e.status != 503 || e.code != ErrTemporarilyUnavailable || !strings.Contains(e.desc, "ref-1") {
				t.Errorf("%v → %+v", k, e)
			}
		default:
			if e.status != 400 || e.code != ErrInvalidRequest {
				t.Errorf("%v → %+v", k, e)
			}
		}
		if strings.Contains(e.desc, "secret internal cause") {
			t.Errorf("%v leaks its internal cause: %q", k, e.desc)
		}
	}
	if e := errorOf(errors.New("plain"), "r"); e.status != 500 {
		t.Errorf("a plain error → %+v", e)
	}
	f := setup(t, nil)
	f.svc.err = dss.Wrap(dss.KindHSMUnavailable, errors.New("CKR_DEVICE_ERROR"), "")
	a := f.call(t, "signatures/signHash", aliceToken, fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q}`, b64(digestOf("x")), OIDECDSASHA256))
	a.wantError(t, 503, ErrTemporarilyUnavailable, "retry later")
	if a.header.Get("Retry-After") == "" || strings.Contains(string(a.body), "CKR_") {
		t.Errorf("503 answer: %v %s", a.header, a.body)
	}
}

// One log event per request; no PIN, OTP, SAD, token or hash ever reaches the log.
func TestLogging(t *testing.T) {
	f := setup(t, nil)
	h := digestOf("logged?")
	calls := []struct{ method, token, body string }{
		{"info", "", ""},
		{"credentials/authorize", aliceToken, fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":1,"hashes":[%q],"hashAlgorithmOID":%q,"PIN":%q,"OTP":%q}`, b64(h), OIDSHA256, testPIN, testOTP)},
		{"credentials/authorize", aliceToken, fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":1,"authData":[{"id":"PIN","value":%q},{"id":"OTP","value":%q}],"hashes":[%q],"hashAlgorithmOID":%q}`, testPIN+"x", testOTP, b64(h), OIDSHA256)},
		{"signatures/signHash", aliceToken, fmt.Sprintf(`{"credentialID":"alice-qes","SAD":%q,"hashes":[%q],"signAlgo":%q}`, testSAD, b64(h), OIDSHA256WithRSA)},
		{"signatures/signHash", "wrong-" + bobToken, `{}`},
		{"credentials/list", bobToken, `{"SAD":"` + testSAD + `"}`},
	}
	for _, c := range calls {
		f.call(t, c.method, c.token, c.body)
	}
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	if len(lines) != len(calls) {
		t.Fatalf("%d log events for %d requests:\n%s", len(lines), len(calls), f.logs)
	}
	for _, secret := range []string{testPIN, testOTP, testSAD, aliceToken, bobToken, b64(h), fmt.Sprintf("%x", h)} {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the log contains a secret (%.6s...):\n%s", secret, f.logs)
		}
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["binding"] != "csc" || ev["operation"] != "credentials/authorize" || ev["user"] != "alice" || ev["status"] != 200.0 {
		t.Errorf("log event = %v", ev)
	}
}

func TestChooseAlgo(t *testing.T) {
	p256, _ := PSSParams(OIDSHA256)
	tests := []struct {
		signAlgo, hash, params string
		want                   algoChoice
		wantErr                bool
	}{
		{OIDRSA, OIDSHA256, "", algoChoice{OIDSHA256WithRSA, OIDSHA256, uriRSASHA256}, false},
		{OIDRSA, OIDSHA512, "", algoChoice{OIDSHA512WithRSA, OIDSHA512, uriRSASHA512}, false},
		{OIDECPublicKey, OIDSHA384, "", algoChoice{OIDECDSASHA384, OIDSHA384, uriECDSASHA384}, false},
		{OIDSHA384WithRSA, "", "", algoChoice{OIDSHA384WithRSA, OIDSHA384, uriRSASHA384}, false},
		{OIDECDSASHA512, OIDSHA512, "", algoChoice{OIDECDSASHA512, OIDSHA512, uriECDSASHA512}, false},
		{OIDRSAPSS, "", p256, algoChoice{uriPSSSHA256, OIDSHA256, uriPSSSHA256}, false},
		{OIDRSAPSS, OIDSHA512, p256, algoChoice{}, true},
		{OIDRSA, "1.3.14.3.2.26", "", algoChoice{}, true}, // SHA-1
		{OIDECDSASHA256, OIDSHA384, "", algoChoice{}, true},
		{OIDECDSASHA256, "", p256, algoChoice{}, true},
		{"1.2.3.4", "", "", algoChoice{}, true},
		{"1.2.3.4", OIDSHA256, "", algoChoice{"1.2.3.4", OIDSHA256, ""}, false}, // dss decides
		{"", OIDSHA256, "", algoChoice{}, true},
	}
	for _, tt := range tests {
		got, err := chooseAlgo(tt.signAlgo, tt.hash, tt.params)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("chooseAlgo(%s, %s) = %+v, %v; want %+v, err %v", tt.signAlgo, tt.hash, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzStrictDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"credentialID":"a","authData":[{"id":"PIN","value":"1"}]}`, `{"a":1,"a":2}`, `[`, `{"hashes":[1,2,{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req authorizeRequest
		_ = strictDecode(b, &req) // oracle: no panic, no hang
	})
}
