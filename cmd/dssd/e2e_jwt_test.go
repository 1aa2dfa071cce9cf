//go:build e2e

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"dssd/dss/xades/interop"
)

// jwtIssuer is a test identity provider: it publishes the public half of its current keys
// as a JWK Set over HTTPS on loopback and counts the fetches.
type jwtIssuer struct {
	mu      sync.Mutex
	keys    map[string]crypto.Signer
	publish []string
	gets    int
	srv     *httptest.Server
}

func (ji *jwtIssuer) set() []byte {
	ji.mu.Lock()
	defer ji.mu.Unlock()
	var s jose.JSONWebKeySet
	for _, kid := range ji.publish {
		s.Keys = append(s.Keys, jose.JSONWebKey{Key: ji.keys[kid].Public(), KeyID: kid, Use: "sig"})
	}
	b, _ := json.Marshal(s)
	return b
}

func (ji *jwtIssuer) fetches() int {
	ji.mu.Lock()
	defer ji.mu.Unlock()
	return ji.gets
}

func (ji *jwtIssuer) sign(t *testing.T, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	ji.mu.Lock()
	k := ji.keys[kid]
	ji.mu.Unlock()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWTIdentityProviders: a dssd node with two identity providers, one publishing its
// JWKS at an https URL on loopback (its CA given by ca_file), one in a JWKS file. Valid
// RS256, ES256 and EdDSA tokens sign through SOAP, POST and the CSC API (the signatures
// checked by independent verifiers); key rotation is followed with one refetch and unknown
// key ids do not make dssd hammer the issuer; wrong issuer or audience, expired,
// not-yet-valid, alg none, the HMAC confusion and an unknown kid are 401 and audited,
// without the token.
func TestJWTIdentityProviders(t *testing.T) {
	s := start(t)
	interop.Require(t)
	dir := t.TempDir()

	newKey := func(kind string) crypto.Signer {
		switch kind {
		case "rsa":
			k, _ := rsa.GenerateKey(rand.Reader, 2048)
			return k
		case "ec":
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return k
		}
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return k
	}
	idp := &jwtIssuer{keys: map[string]crypto.Signer{"rsa-1": newKey("rsa"), "ec-1": newKey("ec"), "ed-1": newKey("ed")}, publish: []string{"rsa-1", "ec-1", "ed-1"}}
	idp.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := idp.set()
		idp.mu.Lock()
		idp.gets++
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(b)
	}))
	defer idp.srv.Close()
	caFile := writeOut(t, filepath.Join(dir, "idp-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.srv.Certificate().Raw}))
	fileIdP := &jwtIssuer{keys: map[string]crypto.Signer{"file-ec": newKey("ec")}, publish: []string{"file-ec"}}
	jwksFile := writeOut(t, filepath.Join(dir, "jwks.json"), fileIdP.set())

	const iss, aud, fileIss = "https://idp.test", "dssd-e2e", "https://file-idp.test"
	dbPath := filepath.Join(dir, "jwt.db")
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "sqlite", "path": dbPath}
		c["identity_providers"] = []any{
			map[string]any{"issuer": iss, "audience": aud, "jwks_url": idp.srv.URL + "/jwks", "ca_file": caFile,
				"leeway": "5s", "jwks_refetch_interval": "5s"},
			map[string]any{"issuer": fileIss, "audience": aud, "jwks_file": jwksFile, "user_claim": "preferred_username", "algorithms": []string{"ES256"}},
		}
	})
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
	ns := *s // the shared server's helpers, aimed at this node
	ns.dev.URL, ns.client = n.url, n.client

	claims := func(issuer, sub string, edit func(map[string]any)) map[string]any {
		now := time.Now()
		c := map[string]any{"iss": issuer, "sub": sub, "aud": []string{aud}, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		if issuer == fileIss {
			c["sub"], c["preferred_username"] = "id-4711", sub
		}
		if edit != nil {
			edit(c)
		}
		return c
	}

	// Valid tokens sign: XAdES through SOAP 1.2 (RS256), XMLDSig through POST (EdDSA), CSC
	// signHash (ES256, and the file provider's ES256 for bob).
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	var cases []interop.Case
	var responses []string
	for i, tc := range []struct {
		tok string
		c   signCase
	}{
		{idp.sign(t, jose.RS256, "rsa-1", claims(iss, "alice", nil)), signCase{sigType: xadesURI, placement: "enveloping", alg: ecdsaSHA256, cred: "alice-ec", via: viaSOAP12}},
		{idp.sign(t, jose.EdDSA, "ed-1", claims(iss, "alice", nil)), signCase{sigType: dsigURI, placement: "enveloping", alg: rsaSHA256, cred: "alice-rsa", via: viaPOST}},
	} {
		status, raw := ns.send(t, tc.c.via, tc.tok, signRequestXML(fmt.Sprintf("jwt-%d", i), tc.c, invoice))
		responses = append(responses, writeOut(t, filepath.Join(dir, tc.c.name()+".response.xml"), raw))
		root, r := parseResponse(t, raw)
		if status != http.StatusOK || !r.ok() {
			t.Fatalf("%s with a JWT: HTTP %d %s %s %s", tc.c.name(), status, r.major, r.minor, r.message)
		}
		so := find(root, nsDSS2, "Base64Signature")
		if so == nil {
			t.Fatalf("%s: no Base64Signature", tc.c.name())
		}
		cases = append(cases, interop.Case{Name: tc.c.name(), File: writeOut(t, filepath.Join(dir, tc.c.name()+".xml"), decodeValue(t, so)),
			Cert: s.certFile(t, tc.c.cred), XAdES: tc.c.sigType == xadesURI, Alg: tc.c.alg})
	}
	validateResponses(t, dir, responses)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatalf("running the verifiers: %v", err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], true)
	}
	digests, hashes := sha256s("a JWT signs through CSC")
	for _, tc := range []struct{ tok, cred string }{
		{idp.sign(t, jose.ES256, "ec-1", claims(iss, "alice", nil)), "alice-rsa"},
		{fileIdP.sign(t, jose.ES256, "file-ec", claims(fileIss, "bob", nil)), "bob-rsa"},
	} {
		a := ns.csc(t, "signatures/signHash", tc.tok, map[string]any{"credentialID": tc.cred, "hashes": hashes, "signAlgo": oidSHA256WithRSA})
		if a.status != 200 {
			t.Fatalf("CSC signHash with a JWT for %s: %d %s", tc.cred, a.status, a.raw)
		}
		verifyRaw(t, s.credChain(t, tc.cred)[0], crypto.SHA256, digests, strs(a.json["signatures"]))
	}

	// Refusals, each from an address of its own so that each is its own audit record.
	hmacKey, _ := x509.MarshalPKIXPublicKey(idp.keys["rsa-1"].Public())
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: hmacKey})},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "rsa-1"))
	hmacTok, _ := jwt.Signed(hs).Claims(claims(iss, "alice", nil)).Serialize()
	none := func() string {
		h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": "rsa-1"})
		c, _ := json.Marshal(claims(iss, "alice", nil))
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	}()
	idp.mu.Lock()
	idp.keys["stranger"] = newKey("rsa") // never published
	idp.mu.Unlock()
	refusals := []struct{ name, tok, reason string }{
		{"wrong issuer", idp.sign(t, jose.RS256, "rsa-1", claims("https://other.test", "alice", nil)), "issuer is not a configured identity provider"},
		{"wrong audience", idp.sign(t, jose.RS256, "rsa-1", claims(iss, "alice", func(c map[string]any) { c["aud"] = "someone-else" })), "audience"},
		{"expired", idp.sign(t, jose.RS256, "rsa-1", claims(iss, "alice", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), "expired"},
		{"not yet valid", idp.sign(t, jose.RS256, "rsa-1", claims(iss, "alice", func(c map[string]any) { c["nbf"] = time.Now().Add(time.Minute).Unix() })), "not valid yet"},
		{"alg none", none, "not a JWS with an allowed"},
		{"HMAC confusion", hmacTok, "not a JWS with an allowed"},
		{"unknown kid", idp.sign(t, jose.RS256, "stranger", claims(iss, "alice", nil)), `unknown key id "stranger"`},
		{"unknown user", idp.sign(t, jose.RS256, "rsa-1", claims(iss, "mallory", nil)), `user "mallory"`},
		{"file provider, algorithm not allowed", func() string {
			fileIdP.keys["file-rsa"] = newKey("rsa")
			return fileIdP.sign(t, jose.RS256, "file-rsa", claims(fileIss, "bob", nil))
		}(), "algorithm is not allowed"},
	}
	for i, rf := range refusals {
		ip := fmt.Sprintf("127.0.0.%d", 90+i)
		ns.client = clientFrom(n, ip)
		status, raw := ns.send(t, viaPOST, rf.tok, signRequestXML("jwt-bad", signCase{sigType: dsigURI, placement: "enveloping", alg: rsaSHA256, cred: "alice-rsa"}, invoice))
		if _, r := parseResponse(t, raw); status != http.StatusUnauthorized || r.ok() {
			t.Errorf("%s: HTTP %d %s", rf.name, status, r.major)
		}
		a := ns.csc(t, "credentials/list", rf.tok, map[string]any{})
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s through CSC: %d %s", rf.name, a.status, a.raw)
		}
		found := false
		for _, r := range auditRecords(t, cfgPath) {
			if strings.Contains(r.Detail, "from "+ip+":") && strings.Contains(r.Detail, rf.reason) {
				found = true
			}
			if strings.Contains(r.Detail, rf.tok) {
				t.Errorf("%s: the token is in the audit log", rf.name)
			}
		}
		if !found {
			t.Errorf("%s: no audit record from %s saying %q", rf.name, ip, rf.reason)
		}
	}
	ns.client = n.client

	// Key rotation: the issuer publishes a new key under a new kid and retires the old one. The
	// first token of the new key makes one refetch (after the 5 s refetch interval); tokens of
	// the retired key are then refused; 20 tokens naming an unknown kid fetch nothing more
	// within the interval.
	time.Sleep(5 * time.Second)
	idp.mu.Lock()
	idp.keys["rsa-2"] = newKey("rsa")
	idp.publish = []string{"rsa-2", "ec-1", "ed-1"}
	idp.mu.Unlock()
	before := idp.fetches()
	if a := ns.csc(t, "credentials/list", idp.sign(t, jose.RS256, "rsa-2", claims(iss, "alice", nil)), map[string]any{}); a.status != 200 {
		t.Fatalf("a token of the rotated key: %d %s", a.status, a.raw)
	}
	if got := idp.fetches() - before; got != 1 {
		t.Errorf("rotation: %d fetches of the key set, want 1", got)
	}
	start := time.Now()
	ns.client = clientFrom(n, "127.0.0.120")
	for i := 0; i < 20; i++ {
		ns.csc(t, "credentials/list", idp.sign(t, jose.RS256, "stranger", claims(iss, "alice", nil)), map[string]any{})
	}
	if got, allowed := idp.fetches()-before-1, int(time.Since(start)/(5*time.Second)); got > allowed {
		t.Errorf("20 unknown kids in %v: %d more fetches, at most %d allowed", time.Since(start).Round(time.Millisecond), got, allowed)
	}
	ns.client = clientFrom(n, "127.0.0.121")
	if a := ns.csc(t, "credentials/list", idp.sign(t, jose.RS256, "rsa-1", claims(iss, "alice", nil)), map[string]any{}); a.status != http.StatusUnauthorized {
		t.Errorf("a token of the retired key: %d %s", a.status, a.raw)
	}
	t.Logf("JWKS fetched %d times in all", idp.fetches())

	// Successful JWT requests are audited with the user and Via jwt.
	jwtRecs := 0
	for _, r := range auditRecords(t, cfgPath) {
		if r.Via == "jwt" && (r.User == "alice" || r.User == "bob") && strings.HasSuffix(r.Major, ":Success") {
			jwtRecs++
		}
	}
	if jwtRecs < 4 {
		t.Errorf("%d successful audit records with Via jwt, want at least 4", jwtRecs)
	}
	n.stop(t)
	noSecrets(t, "the node log", n.logText(), map[string]string{"HMAC token": hmacTok, "JWT": refusals[1].tok})
}
