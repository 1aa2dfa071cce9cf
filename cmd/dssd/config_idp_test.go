package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"dssd/binding/authn"
)

// TestIdentityProviderConfig: identity_providers are validated with the key named, relative
// paths follow the configuration file, and a valid provider is attached to the
// authenticator.
func TestIdentityProviderConfig(t *testing.T) {
	dir := fixture(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "k1", Use: "sig"}}})
	writeFile(t, filepath.Join(dir, "jwks.json"), set)
	load := func(name, extra string) (*Config, error) {
		path := filepath.Join(dir, name+".yaml")
		writeFile(t, path, []byte(baseConfig+extra))
		return LoadConfig(path)
	}
	c, err := load("idp-good", `identity_providers:
  - {issuer: "https://idp.example", audience: dssd, jwks_file: jwks.json, user_claim: preferred_username, algorithms: [ES256], leeway: 10s, jwks_ttl: 1h}
  - {issuer: "https://idp2.example", audience: dssd, jwks_url: "https://idp2.example/jwks", any_user: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	p := c.IdentityProviders[0]
	if p.JWKSFile != filepath.Join(dir, "jwks.json") || p.Leeway.Duration() != 10*time.Second || p.JWKSTTL.Duration() != time.Hour || !c.IdentityProviders[1].AnyUser {
		t.Errorf("loaded %+v", c.IdentityProviders)
	}
	auth, _, err := authenticator(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := identityProviders(c, auth, nil); err != nil {
		t.Fatalf("attaching the providers: %v", err)
	}
	for _, tc := range []struct{ extra, want string }{
		{"identity_providers: [{audience: a, jwks_file: jwks.json}]\n", "identity_providers[0].issuer: required"},
		{"identity_providers: [{issuer: i, jwks_file: jwks.json}]\n", "identity_providers[0].audience: required"},
		{"identity_providers: [{issuer: i, audience: a}]\n", "identity_providers[0]: give exactly one of jwks_file and jwks_url"},
		{"identity_providers: [{issuer: i, audience: a, jwks_url: \"http://idp/jwks\"}]\n", "identity_providers[0].jwks_url"},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: missing.json}]\n", "identity_providers[0].jwks_file"},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json, ca_file: jwks.json}]\n", "identity_providers[0].ca_file: only with jwks_url"},
		{"identity_providers: [{issuer: i, audience: a, jwks_url: \"https://idp/jwks\", ca_file: jwks.json}]\n", "identity_providers[0].ca_file"},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json, algorithms: [HS256]}]\n", `identity_providers[0].algorithms[0]: "HS256" is not allowed`},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json, algorithms: [none]}]\n", `identity_providers[0].algorithms[0]: "none" is not allowed`},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json, leeway: 1h}]\n", "identity_providers[0].leeway"},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json, user_claim: \"a b\"}]\n", "identity_providers[0].user_claim"},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json}, {issuer: i, audience: b, jwks_file: jwks.json}]\n", `identity_providers[1].issuer: duplicate issuer "i"`},
		{"identity_providers: [{issuer: i, audience: a, jwks_file: jwks.json, secret: x}]\n", "secret"},
	} {
		if _, err := load("idp-bad", tc.extra); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.extra, err, tc.want)
		}
	}
	if !authn.ValidJWTAlgorithm("EdDSA") || authn.ValidJWTAlgorithm("HS256") {
		t.Error("ValidJWTAlgorithm")
	}
}
