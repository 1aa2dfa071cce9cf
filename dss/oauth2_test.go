package dss

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type memRevocations struct {
	mu sync.Mutex
	m  map[string]bool
}

func (r *memRevocations) Revoke(_ context.Context, id string, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[id] = true
	return nil
}

func (r *memRevocations) Revoked(_ context.Context, id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id], nil
}

func withOAuth2(t *testing.T) *scal2 {
	t.Helper()
	f := newSCAL2(t)
	h, err := NewPINHash([]byte("CANARY-PASSWORD"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.passwords = map[string]*PINHash{"alice": h}
	f.svc.dummyPassword = h
	f.svc.revoked = &memRevocations{m: map[string]bool{}}
	return f
}

func pkce(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func TestSignIn(t *testing.T) {
	f := withOAuth2(t)
	ctx := context.Background()
	c, err := f.svc.SignIn(ctx, "r1", "alice", "CANARY-PASSWORD")
	if err != nil || c.User != "alice" || c.Via != ViaOAuth2 {
		t.Fatalf("SignIn: %v %+v", err, c)
	}
	for _, tt := range []struct{ user, pw string }{{"alice", "wrong"}, {"mallory", "CANARY-PASSWORD"}, {"bob", ""}} {
		_, err := f.svc.SignIn(ctx, "r2", tt.user, tt.pw)
		wantKind(t, err, KindNotAuthenticated)
	}
	evs := f.audit.events()
	if len(evs) != 4 || evs[0].User != "alice" || evs[1].Major == MajorSuccess || evs[2].User != "" {
		t.Errorf("sign-in audit: %+v", evs)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Detail, "CANARY-PASSWORD") {
			t.Error("a password reached the audit record")
		}
	}
}

func TestRedeemCode(t *testing.T) {
	f := withOAuth2(t)
	ctx := context.Background()
	g := CodeGrant{ClientID: "app", RedirectURI: "https://app.example/cb", Challenge: pkce(testVerifier), Scope: ScopeService, User: "alice"}
	code, err := f.svc.IssueCode(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	req := RedeemRequest{ClientID: "app", Code: code, RedirectURI: g.RedirectURI, CodeVerifier: testVerifier}
	for name, bad := range map[string]RedeemRequest{
		"other client":   {ClientID: "evil", Code: code, RedirectURI: g.RedirectURI, CodeVerifier: testVerifier},
		"other redirect": {ClientID: "app", Code: code, RedirectURI: g.RedirectURI + "/x", CodeVerifier: testVerifier},
		"wrong verifier": {ClientID: "app", Code: code, RedirectURI: g.RedirectURI, CodeVerifier: strings.Repeat("a", 43)},
		"forged code":    {ClientID: "app", Code: code[:len(code)-2] + "AA", RedirectURI: g.RedirectURI, CodeVerifier: testVerifier},
	} {
		if _, err := f.svc.RedeemCode(ctx, bad); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("%s: %v", name, err)
		}
	}
	at, err := f.svc.RedeemCode(ctx, req)
	if err != nil || at.Scope != ScopeService || at.ExpiresIn != 3600 {
		t.Fatalf("redeem: %v %+v", err, at)
	}
	if _, err := f.svc.RedeemCode(ctx, req); !errors.Is(err, ErrInvalidGrant) || !strings.Contains(err.Error(), "already used") {
		t.Errorf("second redemption: %v", err)
	}
	c, err := f.svc.OAuth2Caller(ctx, at.Token)
	if err != nil || c.User != "alice" || c.Via != ViaOAuth2 {
		t.Fatalf("OAuth2Caller: %v %+v", err, c)
	}
	if err := f.svc.RevokeToken(ctx, "evil", at.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.OAuth2Caller(ctx, at.Token); err != nil {
		t.Error("another client revoked the token")
	}
	if err := f.svc.RevokeToken(ctx, "app", at.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.OAuth2Caller(ctx, at.Token); KindOf(err) != KindNotAuthenticated {
		t.Errorf("revoked token: %v", err)
	}
	// Codes expire.
	code, _ = f.svc.IssueCode(ctx, g)
	f.advance(DefaultOAuth2CodeTTL + time.Minute)
	if _, err := f.svc.RedeemCode(ctx, RedeemRequest{ClientID: "app", Code: code, RedirectURI: g.RedirectURI, CodeVerifier: testVerifier}); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("expired code: %v", err)
	}
}

// TestCredentialTokenIsSAD: the access token of a credential authorization is the SAD; it
// signs exactly its hash once, and revocation consumes it.
func TestCredentialTokenIsSAD(t *testing.T) {
	f := withOAuth2(t)
	ctx := context.Background()
	h := sum256([]byte("doc"))
	tok := f.authorize(t, "alice-qes", h)
	now := f.clock()
	g := CodeGrant{ClientID: "app", RedirectURI: "https://app.example/cb", Challenge: pkce(testVerifier), Scope: ScopeCredential,
		User: "alice", CredentialID: "alice-qes", SAD: tok, SADExpires: now.Add(2 * time.Minute).Unix()}
	code, _ := f.svc.IssueCode(ctx, g)
	at, err := f.svc.RedeemCode(ctx, RedeemRequest{ClientID: "app", Code: code, RedirectURI: g.RedirectURI, CodeVerifier: testVerifier})
	if err != nil || at.Token != tok || at.CredentialID != "alice-qes" || at.ExpiresIn < 1 || at.ExpiresIn > 120 {
		t.Fatalf("redeem: %v %+v", err, at)
	}
	c, err := f.svc.OAuth2Caller(ctx, tok)
	if err != nil || c.User != "alice" || c.Via != ViaOAuth2SAD {
		t.Fatalf("OAuth2Caller(SAD): %v %+v", err, c)
	}
	if err := f.svc.RevokeToken(ctx, "app", tok); err != nil {
		t.Fatal(err)
	}
	req := &SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{Method: "SHA-256", Value: h}}}},
		Options: SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok)}}
	_, err = f.svc.Sign(ctx, c, req)
	wantKind(t, err, KindSADInvalid)
}

// TestSCAL1Authorize: CSC v2 explicit mode for a SCAL1 credential: a SAD without factors,
// bound to the hashes, used once.
func TestSCAL1Authorize(t *testing.T) {
	f := withOAuth2(t)
	ctx := context.Background()
	h := sum256([]byte("scal1"))
	a, err := f.svc.Authorize(ctx, alice, &AuthorizeRequest{CredentialID: "alice-rsa", NumSignatures: 1, Hashes: [][]byte{h}})
	if err != nil || a.SAD == "" {
		t.Fatalf("Authorize SCAL1: %v", err)
	}
	req := func(d []byte) *SignRequest {
		return &SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{Method: "SHA-256", Value: d}}}},
			Options: SignOptions{CredentialID: "alice-rsa", ClaimedIdentity: withSAD("alice", a.SAD)}}
	}
	_, err = f.svc.Sign(ctx, alice, req(sum256([]byte("other"))))
	wantKind(t, err, KindSADInvalid)
	if _, err := f.svc.Sign(ctx, alice, req(h)); err != nil {
		t.Fatalf("sign with the SCAL1 SAD: %v", err)
	}
	_, err = f.svc.Sign(ctx, alice, req(h))
	wantKind(t, err, KindSADInvalid)
	// Without a SAD a SCAL1 credential still signs.
	plain := req(h)
	plain.Options.ClaimedIdentity = nil
	if _, err := f.svc.Sign(ctx, alice, plain); err != nil {
		t.Fatalf("SCAL1 without SAD: %v", err)
	}
}
