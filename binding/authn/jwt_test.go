package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"dssd/dss"
)

// testIssuer is an identity provider: signing keys by kid, and an https server publishing
// the public half of the current set (httptest.NewTLSServer on loopback).
type testIssuer struct {
	mu      sync.Mutex
	keys    map[string]crypto.Signer
	publish []string // kids in the published set
	gets    int
	srv     *httptest.Server
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	ti := &testIssuer{keys: map[string]crypto.Signer{}}
	ti.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti.mu.Lock()
		defer ti.mu.Unlock()
		ti.gets++
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(ti.jwksLocked())
	}))
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) add(t *testing.T, kid string, k crypto.Signer) {
	t.Helper()
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys[kid] = k
	ti.publish = append(ti.publish, kid)
}

// rotate publishes only kid.
func (ti *testIssuer) rotate(kid string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.publish = []string{kid}
}

func (ti *testIssuer) fetched() int {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.gets
}

func (ti *testIssuer) jwksLocked() []byte {
	var set jose.JSONWebKeySet
	for _, kid := range ti.publish {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: ti.keys[kid].Public(), KeyID: kid, Use: "sig"})
	}
	b, _ := json.Marshal(set)
	return b
}

func (ti *testIssuer) jwks() []byte {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.jwksLocked()
}

// sign makes a JWT with kid's key.
func (ti *testIssuer) sign(t *testing.T, alg jose.SignatureAlgorithm, kid string, claims any) string {
	t.Helper()
	ti.mu.Lock()
	k := ti.keys[kid]
	ti.mu.Unlock()
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

const (
	testIss = "https://idp.example"
	testAud = "dssd"
)

var jwtNow = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

type tokClaims struct {
	Iss string `json:"iss,omitempty"`
	Sub string `json:"sub,omitempty"`
	Aud any    `json:"aud,omitempty"`
	Exp int64  `json:"exp,omitempty"`
	Nbf int64  `json:"nbf,omitempty"`
	Iat int64  `json:"iat,omitempty"`
	PU  string `json:"preferred_username,omitempty"`
}

func good() tokClaims {
	return tokClaims{Iss: testIss, Sub: "alice", Aud: []string{"other", testAud}, Exp: jwtNow.Add(5 * time.Minute).Unix(), Iat: jwtNow.Unix()}
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/soap", nil)
	r.RemoteAddr = "192.0.2.44:1234"
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// unsigned builds a token by hand with header h (for alg none).
func unsigned(h, claims any, sig string) string {
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb) + "." + sig
}

// TestJWT: tokens of an issuer publishing its JWKS over https on loopback, through an
// Authenticator with the failure limiter, as a binding calls it.
func TestJWT(t *testing.T) {
	ti := newTestIssuer(t)
	rsaK := rsaKey(t, 2048)
	ecK, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edK, _ := ed25519.GenerateKey(rand.Reader)
	ti.add(t, "rsa-1", rsaK)
	ti.add(t, "ec-1", ecK)
	ti.add(t, "ed-1", edK)
	clock := jwtNow
	now := func() time.Time { return clock }
	v, err := NewJWTVerifier([]JWTProvider{{Issuer: testIss, Audience: testAud, JWKSURL: ti.srv.URL + "/jwks", HTTPClient: ti.srv.Client(),
		Refetch: 10 * time.Second}}, JWTOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	a := New([]User{{Name: "alice", TokenSHA256: [][32]byte{sha256.Sum256([]byte("static-alice"))}}, {Name: "bob"}})
	a.UseJWT(v)
	rec := &recAuditor{}
	a.LimitFailures(NewFailures(FailureLimits{Rate: 1, Burst: 1000, Now: now}, rec))

	accept := func(name, tok, user string) {
		t.Helper()
		c, err := a.Authenticate(bearer(tok))
		if err != nil || c.User != user || c.Via != ViaJWT {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
	refuse := func(name, tok, reason string) {
		t.Helper()
		c, err := a.Authenticate(bearer(tok))
		if err == nil || dss.KindOf(err) != dss.KindNotAuthenticated || !strings.Contains(err.Error(), reason) || c.User != "" {
			t.Errorf("%s: %+v %v, want a refusal saying %q", name, c, err, reason)
			return
		}
		ReportFailure(context.Background(), rec, bearer(tok), err, "")
		for _, r := range rec.all() {
			if strings.Contains(r, tok) || strings.Contains(r, strings.Split(tok, ".")[1]) && len(strings.Split(tok, ".")[1]) > 8 {
				t.Errorf("%s: an audit record holds the token: %s", name, r)
			}
		}
	}

	accept("RS256", ti.sign(t, jose.RS256, "rsa-1", good()), "alice")
	accept("ES256", ti.sign(t, jose.ES256, "ec-1", good()), "alice")
	accept("EdDSA", ti.sign(t, jose.EdDSA, "ed-1", good()), "alice")
	if c, err := a.Authenticate(bearer("static-alice")); err != nil || c.Via != "token" {
		t.Errorf("static token beside JWTs: %+v %v", c, err)
	}
	c := good()
	c.Sub = "bob"
	accept("another configured user", ti.sign(t, jose.RS256, "rsa-1", c), "bob")

	c = good()
	c.Iss = "https://evil.example"
	refuse("wrong issuer", ti.sign(t, jose.RS256, "rsa-1", c), "issuer is not a configured identity provider")
	c = good()
	c.Aud = "someone-else"
	refuse("wrong audience", ti.sign(t, jose.RS256, "rsa-1", c), "audience")
	c = good()
	c.Exp = jwtNow.Add(-time.Minute).Unix()
	refuse("expired", ti.sign(t, jose.ES256, "ec-1", c), "expired")
	c.Exp = jwtNow.Add(-20 * time.Second).Unix()
	accept("expired within the leeway (30 s)", ti.sign(t, jose.ES256, "ec-1", c), "alice")
	c = good()
	c.Nbf = jwtNow.Add(2 * time.Minute).Unix()
	refuse("not yet valid", ti.sign(t, jose.EdDSA, "ed-1", c), "not valid yet")
	c = good()
	c.Exp = 0
	refuse("no expiry", ti.sign(t, jose.RS256, "rsa-1", c), "no expiry")
	c = good()
	c.Sub = "mallory"
	refuse("user not configured", ti.sign(t, jose.RS256, "rsa-1", c), `user "mallory"`)
	c = good()
	c.Sub = ""
	refuse("no user claim", ti.sign(t, jose.RS256, "rsa-1", c), `claim "sub"`)

	// alg none, and HS256 keyed with the RSA public key (the HMAC confusion): refused by the
	// algorithm allow-list before any key is looked at.
	refuse("alg none", unsigned(map[string]string{"alg": "none", "typ": "JWT", "kid": "rsa-1"}, good(), ""), "not a JWS with an allowed")
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaK.PublicKey)
	for name, secret := range map[string][]byte{
		"PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "DER": pubDER, "JWK": ti.jwks(),
	} {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "rsa-1"))
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := jwt.Signed(s).Claims(good()).Serialize()
		refuse("HS256 with the RSA public key ("+name+") as secret", tok, "not a JWS with an allowed")
	}
	// A signature by another key under a published kid.
	refuse("forged signature", func() string {
		ti2 := &testIssuer{keys: map[string]crypto.Signer{"rsa-1": rsaKey(t, 2048)}}
		return ti2.sign(t, jose.RS256, "rsa-1", good())
	}(), "does not verify")
	// ES256 claimed, RSA key named: no key of that kid verifies it.
	refuse("alg/key mismatch", func() string {
		ti2 := &testIssuer{keys: map[string]crypto.Signer{"rsa-1": ecK}}
		return ti2.sign(t, jose.ES256, "rsa-1", good())
	}(), "does not verify")

	// Key rotation: the issuer publishes a new key with a new kid; the first token naming it
	// makes one refetch; further unknown kids within the refetch interval fetch nothing.
	before := ti.fetched()
	ti.add(t, "rsa-2", rsaKey(t, 2048))
	ti.rotate("rsa-2")
	clock = clock.Add(11 * time.Second)
	accept("a token of the rotated key", ti.sign(t, jose.RS256, "rsa-2", good()), "alice")
	if got := ti.fetched() - before; got != 1 {
		t.Errorf("rotation: %d fetches, want 1", got)
	}
	ti.keys["junk"] = rsaKey(t, 2048) // never published
	for i := 0; i < 50; i++ {
		refuse("unknown kid", ti.sign(t, jose.RS256, "junk", good()), `unknown key id "junk"`)
	}
	if got := ti.fetched() - before; got != 1 {
		t.Errorf("50 tokens of an unknown kid within the refetch interval: %d fetches in all, want 1 (the rotation's)", got)
	}
	clock = clock.Add(11 * time.Second)
	for i := 0; i < 50; i++ {
		refuse("unknown kid", ti.sign(t, jose.RS256, "junk", good()), `unknown key id "junk"`)
	}
	if got := ti.fetched() - before; got != 2 {
		t.Errorf("50 more after the refetch interval: %d fetches in all, want 2", got)
	}
	if v.fetches(testIss) != ti.fetched() {
		t.Errorf("verifier counted %d fetches, issuer served %d", v.fetches(testIss), ti.fetched())
	}
	// The retired key's tokens are refused once the set no longer holds it.
	refuse("the retired key", ti.sign(t, jose.RS256, "rsa-1", good()), `unknown key id "rsa-1"`)
	// The cache TTL: after 10 minutes the set is fetched again.
	before = ti.fetched()
	clock = clock.Add(DefaultJWKSTTL)
	c = good()
	c.Exp = clock.Add(time.Minute).Unix()
	accept("after the TTL", ti.sign(t, jose.RS256, "rsa-2", c), "alice")
	if ti.fetched()-before != 1 {
		t.Errorf("TTL: %d fetches, want 1", ti.fetched()-before)
	}
}

// TestJWTProviders: a provider reading its JWKS from a file, mapping preferred_username,
// accepting any user, and allowing RS256 only; keys unfit for signatures are ignored.
func TestJWTProviders(t *testing.T) {
	ti := &testIssuer{keys: map[string]crypto.Signer{}}
	rsaK := rsaKey(t, 2048)
	ecK, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ti.add(t, "rsa-1", rsaK)
	ti.add(t, "ec-1", ecK)
	small := rsaKey(t, 1024)
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(ti.jwks(), &set)
	set.Keys = append(set.Keys,
		jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct-1", Algorithm: "HS256"},
		jose.JSONWebKey{Key: &small.PublicKey, KeyID: "rsa-small"},
		jose.JSONWebKey{Key: &rsaK.PublicKey, KeyID: "rsa-enc", Use: "enc"})
	raw, _ := json.Marshal(set)
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return jwtNow }
	v, err := NewJWTVerifier([]JWTProvider{
		{Issuer: "https://file.example", Audience: "dssd-prod", JWKSFile: file, UserClaim: "preferred_username", AnyUser: true, Algorithms: []string{"RS256"}},
	}, JWTOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	known := func(string) bool { return false }
	c := tokClaims{Iss: "https://file.example", Sub: "id-123", PU: "carol", Aud: "dssd-prod", Exp: jwtNow.Add(time.Minute).Unix()}
	if cl, err := v.Authenticate(context.Background(), ti.sign(t, jose.RS256, "rsa-1", c), known); err != nil || cl.User != "carol" {
		t.Errorf("file provider, preferred_username, any user: %+v %v", cl, err)
	}
	if _, err := v.Authenticate(context.Background(), ti.sign(t, jose.ES256, "ec-1", c), known); err == nil || !strings.Contains(err.Error(), "algorithm is not allowed") {
		t.Errorf("ES256 where only RS256 is allowed: %v", err)
	}
	for _, kid := range []string{"rsa-small", "rsa-enc"} {
		k := small
		if kid == "rsa-enc" {
			k = rsaK
		}
		ti.keys[kid] = k
		if _, err := v.Authenticate(context.Background(), ti.sign(t, jose.RS256, kid, c), known); err == nil || !strings.Contains(err.Error(), "unknown key id") {
			t.Errorf("key %s (unfit) used: %v", kid, err)
		}
	}
	// An HS256 token naming the symmetric key of the set: refused by the allow-list.
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithHeader("kid", "oct-1"))
	tok, _ := jwt.Signed(s).Claims(c).Serialize()
	if _, err := v.Authenticate(context.Background(), tok, known); err == nil {
		t.Error("an HS256 token with the set's symmetric key was accepted")
	}

	for _, bad := range []JWTProvider{
		{Audience: "a", JWKSFile: file},
		{Issuer: "i", JWKSFile: file},
		{Issuer: "i", Audience: "a"},
		{Issuer: "i", Audience: "a", JWKSFile: file, JWKSURL: "https://x"},
		{Issuer: "i", Audience: "a", JWKSURL: "http://x"},
		{Issuer: "i", Audience: "a", JWKSFile: file, Algorithms: []string{"HS256"}},
		{Issuer: "i", Audience: "a", JWKSFile: file, Algorithms: []string{"none"}},
		{Issuer: "i", Audience: "a", JWKSFile: filepath.Join(t.TempDir(), "missing.json")},
	} {
		if _, err := NewJWTVerifier([]JWTProvider{bad}, JWTOptions{}); err == nil {
			t.Errorf("provider %+v accepted", bad)
		}
	}
}

// TestJWTDisabledUser: a disabled user is refused whatever carries the claim, also by a
// provider that accepts any user, and its static token no longer matches.
func TestJWTDisabledUser(t *testing.T) {
	ti := &testIssuer{keys: map[string]crypto.Signer{}}
	ti.add(t, "rsa-1", rsaKey(t, 2048))
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, ti.jwks(), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := NewJWTVerifier([]JWTProvider{
		{Issuer: "https://any.example", Audience: "dssd", JWKSFile: file, UserClaim: "sub", AnyUser: true, Algorithms: []string{"RS256"}},
	}, JWTOptions{Now: func() time.Time { return jwtNow }})
	if err != nil {
		t.Fatal(err)
	}
	tokSum := sha256.Sum256([]byte("carol-static-token"))
	a := New([]User{{Name: "carol", TokenSHA256: [][32]byte{tokSum}}})
	a.UseJWT(v)
	req := func(tok string) *http.Request {
		r := httptest.NewRequest("POST", "/sign", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	c := tokClaims{Iss: "https://any.example", Sub: "carol", Aud: "dssd", Exp: jwtNow.Add(time.Minute).Unix()}
	jwtTok := ti.sign(t, jose.RS256, "rsa-1", c)
	for _, tok := range []string{jwtTok, "carol-static-token"} {
		if cl, err := a.Authenticate(req(tok)); err != nil || cl.User != "carol" {
			t.Fatalf("enabled carol refused: %+v %v", cl, err)
		}
	}
	a.SetUsers([]User{{Name: "carol", TokenSHA256: [][32]byte{tokSum}, Disabled: true}})
	for _, tok := range []string{jwtTok, "carol-static-token"} {
		if cl, err := a.Authenticate(req(tok)); err == nil || dss.KindOf(err) != dss.KindNotAuthenticated {
			t.Errorf("disabled carol accepted: %+v %v", cl, err)
		}
	}
	// A user nobody configured, through the any-user provider: still accepted.
	c.Sub = "dave"
	if cl, err := a.Authenticate(req(ti.sign(t, jose.RS256, "rsa-1", c))); err != nil || cl.User != "dave" {
		t.Errorf("any-user provider, unknown user: %+v %v", cl, err)
	}
}

// TestJWTWithoutKid: a token without a key id is tried only against the keys that fit its
// algorithm (type and curve), and refused before any verification when more than
// maxCandidateKeys keys fit: one unauthenticated request never costs a verification per key of
// the issuer's set.
func TestJWTWithoutKid(t *testing.T) {
	ti := newTestIssuer(t)
	ecK, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ti.add(t, "ec-1", ecK)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ti.add(t, "ec384-1", ec384)
	var rsaKids []string
	for i := 0; i < maxCandidateKeys+1; i++ {
		kid := fmt.Sprintf("rsa-%d", i)
		ti.add(t, kid, rsaKey(t, 2048))
		rsaKids = append(rsaKids, kid)
	}
	v, err := NewJWTVerifier([]JWTProvider{{Issuer: testIss, Audience: testAud, JWKSURL: ti.srv.URL + "/jwks", HTTPClient: ti.srv.Client(),
		Algorithms: []string{"RS256", "ES256", "ES384"}}}, JWTOptions{Now: func() time.Time { return jwtNow }})
	if err != nil {
		t.Fatal(err)
	}
	noKid := func(alg jose.SignatureAlgorithm, kid string) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: ti.keys[kid]}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(good()).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	known := func(u string) bool { return u == "alice" }
	// One P-256 key and one P-384 key: each kid-less token has exactly one candidate.
	for _, c := range []struct {
		alg jose.SignatureAlgorithm
		kid string
	}{{jose.ES256, "ec-1"}, {jose.ES384, "ec384-1"}} {
		if caller, err := v.Authenticate(context.Background(), noKid(c.alg, c.kid), known); err != nil || caller.User != "alice" {
			t.Errorf("kid-less %s token: %+v %v", c.alg, caller, err)
		}
	}
	// Five RSA keys fit RS256: the kid is required.
	_, err = v.Authenticate(context.Background(), noKid(jose.RS256, rsaKids[len(rsaKids)-1]), known)
	if err == nil || !strings.Contains(err.Error(), "names no key (kid)") || !strings.Contains(err.Error(), fmt.Sprintf("publishes %d keys for RS256", len(rsaKids))) {
		t.Errorf("kid-less RS256 token with %d RSA keys published: %v, want a refusal asking for the kid", len(rsaKids), err)
	}
	// Five keys under one kid: refused before any verification as well.
	dup := newTestIssuer(t)
	for i := 0; i < maxCandidateKeys+1; i++ {
		dup.add(t, fmt.Sprintf("k%d", i), rsaKey(t, 2048))
	}
	dupSet := dup.jwks()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(dupSet, &set); err != nil {
		t.Fatal(err)
	}
	for i := range set.Keys {
		set.Keys[i].KeyID = "same"
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if b, err := json.Marshal(set); err != nil || os.WriteFile(jwks, b, 0o600) != nil {
		t.Fatal(err)
	}
	vd, err := NewJWTVerifier([]JWTProvider{{Issuer: testIss, Audience: testAud, JWKSFile: jwks, Algorithms: []string{"RS256"}}},
		JWTOptions{Now: func() time.Time { return jwtNow }})
	if err != nil {
		t.Fatal(err)
	}
	dup.keys["same"] = dup.keys["k0"]
	_, err = vd.Authenticate(context.Background(), dup.sign(t, jose.RS256, "same", good()), known)
	if err == nil || !strings.Contains(err.Error(), `publishes 5 keys with key id "same"`) {
		t.Errorf("token of a kid shared by 5 keys: %v, want a refusal", err)
	}
	// The same token with its kid is accepted.
	if caller, err := v.Authenticate(context.Background(), ti.sign(t, jose.RS256, rsaKids[len(rsaKids)-1], good()), known); err != nil || caller.User != "alice" {
		t.Errorf("RS256 token with its kid: %+v %v", caller, err)
	}

	for alg, want := range map[string][]string{
		"RS256": {"rsa-0", "rsa-1", "rsa-2", "rsa-3", "rsa-4"}, "PS512": {"rsa-0", "rsa-1", "rsa-2", "rsa-3", "rsa-4"},
		"ES256": {"ec-1"}, "ES384": {"ec384-1"}, "ES512": nil, "EdDSA": nil, "HS256": nil,
	} {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(ti.jwks(), &set); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range keysForAlg(set.Keys, alg) {
			got = append(got, k.KeyID)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("keysForAlg(%s) = %v, want %v", alg, got, want)
		}
	}
}
