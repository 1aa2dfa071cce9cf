package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"dssd/binding/authn"
	"dssd/dss"
	"dssd/dss/store"
	"dssd/dss/store/sqlite"
	"dssd/hsm"
	"dssd/hsm/soft"
)

// flakyKeys is a KeyManager whose Signer fails while down, and counts its calls.
type flakyKeys struct {
	hsm.KeyManager
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flakyKeys) Signer(ctx context.Context, ref hsm.KeyRef) (crypto.Signer, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, hsm.ErrUnavailable
	}
	return f.KeyManager.Signer(ctx, ref)
}

func softKey(t *testing.T, km *soft.KeyManager, label string) (hsm.KeyRef, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ref := hsm.KeyRef{Label: label, ID: []byte(label)}
	if err := km.AddKey(ref, k); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: label},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return ref, reencodeChain([]*x509.Certificate{c})
}

// TestRegistrySync: the node's view follows the store; a disable applies without the HSM; a
// changed key that cannot be checked keeps the last good credential and is retried; the
// configuration file's entries win over the store's; disabled users stop authenticating.
func TestRegistrySync(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "reg.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	km := soft.New()
	keys := &flakyKeys{KeyManager: km}
	refA, chainA := softKey(t, km, "a")
	refB, chainB := softKey(t, km, "b")
	refS, chainS := softKey(t, km, "static")
	staticChain, _ := parseChainPEM(chainS)
	staticCred := &dss.Credential{ID: "file-cred", Owner: "fileuser", Key: "EC-P256", SCAL: 1, Ref: refS, Chain: staticChain}
	static := &directory{byID: map[string]*dss.Credential{"file-cred": staticCred},
		byOwner: map[string][]*dss.Credential{"fileuser": {staticCred}}}
	fileTok := sha256.Sum256([]byte("file-token"))
	auth := authn.New(nil)
	live := newLiveDirectory(static)
	rs := newRegistrySync(st, keys, static, []authn.User{{Name: "fileuser", TokenSHA256: [][32]byte{fileTok}}}, live, auth,
		slog.New(slog.DiscardHandler))
	who := func(tok string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		c, _ := auth.Authenticate(r)
		return c.User
	}
	get := func(id string) store.CredentialRecord {
		recs, err := st.Credentials(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ID == id {
				return r
			}
		}
		t.Fatalf("no record %s", id)
		return store.CredentialRecord{}
	}
	update := func(r store.CredentialRecord) {
		if _, err := st.UpdateCredential(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	userTok := sha256.Sum256([]byte("user-token"))
	if _, err := st.CreateUser(ctx, store.UserRecord{Name: "u", TokenSHA256: [][32]byte{userTok}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, store.UserRecord{Name: "fileuser"}); err != nil { // shadowed by the file
		t.Fatal(err)
	}
	if _, err := st.CreateCredential(ctx, store.CredentialRecord{ID: "c", Owner: "u", KeyType: "EC-P256", SCAL: 1,
		KeyRef: refA.String(), Chain: chainA, State: store.CredentialEnabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCredential(ctx, store.CredentialRecord{ID: "pending", Owner: "u", KeyType: "EC-P256", SCAL: 1,
		KeyRef: refB.String(), State: store.CredentialPending}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCredential(ctx, store.CredentialRecord{ID: "file-cred", Owner: "u", KeyType: "EC-P256", SCAL: 1,
		KeyRef: refA.String(), Chain: chainA, State: store.CredentialEnabled}); err != nil {
		t.Fatal(err)
	}
	if err := rs.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c := live.Credential("c"); c == nil || c.Disabled || c.Owner != "u" || c.Ref.Label != "a" {
		t.Fatalf("c: %+v", c)
	}
	if live.Credential("pending") != nil {
		t.Error("a credential without a certificate is in the directory")
	}
	if c := live.Credential("file-cred"); c != staticCred || len(live.CredentialsOf("fileuser")) != 1 || len(live.CredentialsOf("u")) != 1 {
		t.Errorf("the file's credential is not the one used: %+v", c)
	}
	if who("user-token") != "u" || who("file-token") != "fileuser" {
		t.Errorf("users: %q %q", who("user-token"), who("file-token"))
	}
	calls := keys.calls.Load()
	if err := rs.refresh(ctx); err != nil || keys.calls.Load() != calls {
		t.Errorf("a refresh without a change: %v, %d HSM calls", err, keys.calls.Load()-calls)
	}

	// Disable while the HSM is down: applied, no HSM call.
	keys.down.Store(true)
	r := get("c")
	r.State = store.CredentialDisabled
	update(r)
	if err := rs.refresh(ctx); err != nil {
		t.Fatalf("disable with the HSM down: %v", err)
	}
	if c := live.Credential("c"); c == nil || !c.Disabled || keys.calls.Load() != calls {
		t.Errorf("after disable: %+v, %d HSM calls", c, keys.calls.Load()-calls)
	}

	// A new key and certificate cannot be checked while the HSM is down: the last good
	// build stays (disabled, as recorded) and the next poll retries.
	r = get("c")
	r.KeyRef, r.Chain, r.State = refB.String(), chainB, store.CredentialEnabled
	update(r)
	if err := rs.refresh(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("refresh with the HSM down: %v", err)
	}
	if c := live.Credential("c"); c == nil || c.Ref.Label != "a" {
		t.Errorf("while down: %+v", c)
	}
	keys.down.Store(false)
	if err := rs.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c := live.Credential("c"); c == nil || c.Ref.Label != "b" || c.Disabled {
		t.Errorf("after the HSM is back: %+v", c)
	}

	// A certificate that does not hold the key is refused, and a disable still applies.
	keys.down.Store(true)
	r = get("c")
	r.Chain, r.State = chainA, store.CredentialDisabled // key b, certificate of key a
	update(r)
	_ = rs.refresh(ctx)
	if c := live.Credential("c"); c == nil || !c.Disabled {
		t.Errorf("a disable with an unbuildable record did not apply: %+v", c)
	}
	keys.down.Store(false)
	if err := rs.refresh(ctx); err == nil {
		t.Error("a certificate for another key was accepted")
	}

	// Disabled users stop authenticating.
	us, _ := st.Users(ctx)
	for _, u := range us {
		if u.Name == "u" {
			u.Disabled = true
			if _, err := st.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = rs.refresh(ctx)
	if who("user-token") != "" || who("file-token") != "fileuser" {
		t.Errorf("after disabling u: %q %q", who("user-token"), who("file-token"))
	}
}
