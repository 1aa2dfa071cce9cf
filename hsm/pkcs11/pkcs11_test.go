//go:build cgo && !nopkcs11

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
	pkgerrors "github.com/pkg/errors"
	"github.com/thales-e-security/pool"

	"dssd/hsm"
	"dssd/internal/testkit/hsmtest"
)

const testPIN = "canary-pin-5829"

func testOptions(tok *fakeToken) options {
	return options{
		configure:     tok.configure,
		closeTimeout:  time.Second,
		keygenTimeout: time.Minute,
		noProber:      true,
	}
}

func openFake(t *testing.T, tok *fakeToken, cfg Config) *KeyManager {
	t.Helper()
	if cfg.TokenLabel == "" {
		cfg.TokenLabel = "fake"
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = 5 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.PIN = testPIN
	km, err := open(context.Background(), cfg, testOptions(tok))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = km.Close() })
	return km
}

func addECKey(t *testing.T, tok *fakeToken, label string, id byte) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok.add(label, []byte{id}, k)
	return k
}

func digest() []byte {
	d := sha256.Sum256([]byte("pkcs11 fake test"))
	return d[:]
}

func p11err(code uint) error { return pkcs11.Error(code) }

// wrapped imitates crypto11's pkg/errors wrapping of a PKCS#11 code.
func wrapped(code uint) error { return pkgerrors.WithMessage(pkcs11.Error(code), "failed to sign") }

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (km *KeyManager) isUp() bool {
	km.mu.Lock()
	defer km.mu.Unlock()
	return km.ctx != nil
}

func (km *KeyManager) rebuildCount() int {
	km.mu.Lock()
	defer km.mu.Unlock()
	return km.rebuilds
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testPIN) {
		t.Fatalf("error repeats the PIN: %v", err)
	}
}

func TestConformanceFake(t *testing.T) {
	tok := newFakeToken()
	km := openFake(t, tok, Config{})
	hsmtest.Run(t, km, km)
}

func TestKeyAttributesOfCreatedKeys(t *testing.T) {
	tok := newFakeToken()
	km := openFake(t, tok, Config{})
	ref := hsm.KeyRef{Label: "alice", ID: []byte{7}}
	if _, err := km.CreateKey(context.Background(), ref, hsm.ECP256); err != nil {
		t.Fatal(err)
	}
	want := map[crypto11.AttributeType]bool{
		crypto11.CkaToken: true, crypto11.CkaPrivate: true, crypto11.CkaSign: true,
		crypto11.CkaSensitive: true, crypto11.CkaExtractable: false,
		crypto11.CkaDecrypt: false, crypto11.CkaUnwrap: false, crypto11.CkaDerive: false,
	}
	for typ, v := range want {
		a := tok.lastPriv[typ]
		if a == nil || len(a.Value) != 1 || (a.Value[0] != 0) != v {
			t.Errorf("private attribute %#x = %v, want %v", typ, a, v)
		}
	}
	if a := tok.lastPriv[crypto11.CkaId]; a == nil || string(a.Value) != "\x07" {
		t.Errorf("CKA_ID = %v", a)
	}
	if a := tok.lastPub[crypto11.CkaLabel]; a == nil || string(a.Value) != "alice" {
		t.Errorf("public CKA_LABEL = %v", a)
	}
	if _, err := km.CreateKey(context.Background(), hsm.KeyRef{Label: "no-id"}, hsm.ECP256); err == nil {
		t.Error("CreateKey without an id succeeded")
	}
}

func TestKeysAreCachedPerRef(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k", ID: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	// Another Signer for the same key, with the token named, uses the same cache entry.
	if _, err := km.Signer(context.Background(), hsm.KeyRef{Token: "fake", Label: "k", ID: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if n := tok.finds.Load(); n != 1 {
		t.Errorf("FindKeyPairs called %d times for 20 signatures, want 1", n)
	}
	if n := tok.signs.Load(); n != 20 {
		t.Errorf("device signed %d times, want 20", n)
	}
}

func TestKeyNotFound(t *testing.T) {
	tok := newFakeToken()
	k := addECKey(t, tok, "dup", 1)
	tok.add("dup", []byte{2}, k)
	km := openFake(t, tok, Config{})
	ctx := context.Background()
	for name, ref := range map[string]hsm.KeyRef{
		"nothing matches (nil, nil)": {Label: "missing"},
		"two keys match":             {Label: "dup"},
		"other token":                {Token: "other", Label: "dup", ID: []byte{1}},
		"invalid ref":                {},
	} {
		if _, err := km.Signer(ctx, ref); !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("%s: %v, want hsm.ErrKeyNotFound", name, err)
		}
	}
	// A nil entry in a non-empty result is no key either.
	tok.mu.Lock()
	tok.findResult = func() []crypto11.Signer { return []crypto11.Signer{nil} }
	tok.mu.Unlock()
	if _, err := km.Signer(ctx, hsm.KeyRef{Label: "x"}); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("nil key: %v, want hsm.ErrKeyNotFound", err)
	}
	if !km.isUp() {
		t.Error("a missing key took the backend down")
	}
}

func TestSessionInvalidIsRetriedOnceAfterRelookup(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"CKR_SESSION_HANDLE_INVALID", p11err(pkcs11.CKR_SESSION_HANDLE_INVALID)},
		{"wrapped CKR_OBJECT_HANDLE_INVALID", wrapped(pkcs11.CKR_OBJECT_HANDLE_INVALID)},
		{"fmt-wrapped CKR_KEY_HANDLE_INVALID", fmt.Errorf("sign: %w", p11err(pkcs11.CKR_KEY_HANDLE_INVALID))},
		{"CKR_SESSION_CLOSED", p11err(pkcs11.CKR_SESSION_CLOSED)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := newFakeToken()
			addECKey(t, tok, "k", 1)
			km := openFake(t, tok, Config{})
			s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
			if err != nil {
				t.Fatal(err)
			}
			tok.inject("sign", tc.err)
			if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
				t.Fatalf("Sign after one stale handle: %v (want a transparent retry)", err)
			}
			if n := tok.finds.Load(); n != 2 {
				t.Errorf("FindKeyPairs called %d times, want 2 (eviction and re-lookup)", n)
			}
			if n := tok.signs.Load(); n != 2 {
				t.Errorf("device signed %d times, want 2", n)
			}
			if !km.isUp() || tok.configures.Load() != 1 {
				t.Error("one stale handle took the backend down")
			}
		})
	}
}

func TestSessionInvalidTwiceRebuilds(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tok.inject("sign", p11err(pkcs11.CKR_SESSION_HANDLE_INVALID), p11err(pkcs11.CKR_SESSION_HANDLE_INVALID))
	_, err = s.Sign(rand.Reader, digest(), crypto.SHA256)
	if !errors.Is(err, hsm.ErrUnavailable) || !errors.Is(err, hsm.ErrSessionInvalid) {
		t.Fatalf("Sign = %v, want hsm.ErrUnavailable and hsm.ErrSessionInvalid", err)
	}
	if n := tok.signs.Load(); n != 2 {
		t.Errorf("device signed %d times, want exactly 2 (one retry)", n)
	}
	waitFor(t, "the rebuild", func() bool { return km.rebuildCount() == 1 && km.isUp() })
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
		t.Fatalf("Sign after the rebuild: %v", err)
	}
	if n := tok.openContexts(); n != 1 {
		t.Errorf("%d contexts open after the rebuild, want 1", n)
	}
}

func TestDeviceErrorMarksDownAndRebuildsInBackground(t *testing.T) {
	for _, code := range []uint{pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, pkcs11.CKR_USER_NOT_LOGGED_IN} {
		t.Run(pkcs11.Error(code).Error(), func(t *testing.T) {
			tok := newFakeToken()
			addECKey(t, tok, "k", 1)
			km := openFake(t, tok, Config{})
			ctx := context.Background()
			s, err := km.Signer(ctx, hsm.KeyRef{Label: "k"})
			if err != nil {
				t.Fatal(err)
			}
			// The first two rebuild attempts fail (device still gone).
			tok.injectConfigure(p11err(pkcs11.CKR_TOKEN_NOT_PRESENT), errors.New("could not find PKCS#11 token"))
			tok.mu.Lock()
			tok.hang = make(chan struct{}) // hold the sign so the state can be observed
			tok.mu.Unlock()
			tok.inject("sign", wrapped(code))
			errc := make(chan error, 1)
			go func() {
				_, err := s.Sign(rand.Reader, digest(), crypto.SHA256)
				errc <- err
			}()
			waitFor(t, "the sign call", func() bool { return tok.signs.Load() == 1 })
			close(tok.hang)
			tok.mu.Lock()
			tok.hang = nil
			tok.mu.Unlock()
			if err := <-errc; !errors.Is(err, hsm.ErrUnavailable) {
				t.Fatalf("Sign = %v, want hsm.ErrUnavailable", err)
			}
			if n := tok.signs.Load(); n != 1 {
				t.Errorf("device signed %d times, want 1 (no in-request retry)", n)
			}
			waitFor(t, "the rebuild", func() bool { return km.rebuildCount() == 1 })
			if n := tok.configures.Load(); n != 4 {
				t.Errorf("configure called %d times, want 4 (open, two failures, success)", n)
			}
			if err := km.Health(ctx); err != nil {
				t.Errorf("Health after the rebuild: %v", err)
			}
			if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
				t.Fatalf("Sign after the rebuild: %v", err)
			}
			if n := tok.openContexts(); n != 1 {
				t.Errorf("%d contexts open after the rebuild, want 1", n)
			}
		})
	}
}

func TestDownBackendFailsFastAndReportsNotReady(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	km.cfg.ProbeInterval = time.Hour // stay down
	ctx := context.Background()
	s, err := km.Signer(ctx, hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tok.inject("sign", p11err(pkcs11.CKR_DEVICE_REMOVED))
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign = %v, want hsm.ErrUnavailable", err)
	}
	signs, finds := tok.signs.Load(), tok.finds.Load()
	for i := 0; i < 10; i++ {
		start := time.Now()
		if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
			t.Fatalf("Sign while down = %v, want hsm.ErrUnavailable", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("Sign while down took %s, want a fast failure", d)
		}
	}
	if _, err := km.Signer(ctx, hsm.KeyRef{Label: "k"}); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Signer while down = %v", err)
	}
	if _, err := km.CreateKey(ctx, hsm.KeyRef{Label: "n", ID: []byte{9}}, hsm.ECP256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("CreateKey while down = %v", err)
	}
	if tok.signs.Load() != signs || tok.finds.Load() != finds {
		t.Error("calls reached the device while the backend was down")
	}
	if err := km.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Health while down = %v, want hsm.ErrUnavailable", err)
	}
}

func TestRebuildIsSingleFlight(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	for i := 0; i < n; i++ {
		tok.inject("sign", p11err(pkcs11.CKR_DEVICE_ERROR))
	}
	tok.mu.Lock()
	tok.hang = make(chan struct{})
	tok.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Sign(rand.Reader, digest(), crypto.SHA256)
			errs <- err
		}()
	}
	waitFor(t, "all sign calls", func() bool { return tok.signs.Load() == n })
	close(tok.hang)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, hsm.ErrUnavailable) {
			t.Errorf("Sign = %v, want hsm.ErrUnavailable", err)
		}
	}
	tok.mu.Lock()
	tok.hang = nil
	tok.mu.Unlock()
	waitFor(t, "the rebuild", func() bool { return km.isUp() })
	time.Sleep(50 * time.Millisecond) // room for a (wrong) second rebuild
	if got := km.rebuildCount(); got != 1 {
		t.Errorf("%d rebuilds, want 1", got)
	}
	if got := tok.configures.Load(); got != 2 {
		t.Errorf("configure called %d times, want 2", got)
	}
}

func TestLoginErrors(t *testing.T) {
	t.Run("at open, never retried", func(t *testing.T) {
		tok := newFakeToken()
		tok.injectConfigure(pkgerrors.WithMessagef(p11err(pkcs11.CKR_PIN_INCORRECT), "failed to log into long term session"))
		km, err := open(context.Background(), Config{TokenLabel: "fake", PIN: testPIN}, testOptions(tok))
		if km != nil || !errors.Is(err, hsm.ErrLogin) {
			t.Fatalf("open = (%v, %v), want hsm.ErrLogin", km, err)
		}
		noSecret(t, err)
		time.Sleep(30 * time.Millisecond)
		if n := tok.configures.Load(); n != 1 {
			t.Errorf("configure called %d times, want 1", n)
		}
	})
	t.Run("during a rebuild, stops it", func(t *testing.T) {
		tok := newFakeToken()
		addECKey(t, tok, "k", 1)
		km := openFake(t, tok, Config{})
		tok.injectConfigure(p11err(pkcs11.CKR_PIN_LOCKED))
		tok.inject("find", p11err(pkcs11.CKR_DEVICE_ERROR))
		if _, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"}); !errors.Is(err, hsm.ErrUnavailable) {
			t.Fatalf("Signer = %v, want hsm.ErrUnavailable", err)
		}
		waitFor(t, "the failed rebuild", func() bool { return tok.configures.Load() == 2 })
		time.Sleep(100 * time.Millisecond) // several probe intervals
		if n := tok.configures.Load(); n != 2 {
			t.Errorf("configure called %d times after a refused PIN, want 2", n)
		}
		err := km.Health(context.Background())
		if !errors.Is(err, hsm.ErrUnavailable) || !errors.Is(err, hsm.ErrLogin) {
			t.Errorf("Health = %v, want hsm.ErrUnavailable and hsm.ErrLogin", err)
		}
		noSecret(t, err)
	})
	t.Run("while signing", func(t *testing.T) {
		tok := newFakeToken()
		addECKey(t, tok, "k", 1)
		km := openFake(t, tok, Config{})
		s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
		if err != nil {
			t.Fatal(err)
		}
		tok.inject("sign", p11err(pkcs11.CKR_PIN_EXPIRED))
		if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrLogin) {
			t.Fatalf("Sign = %v, want hsm.ErrLogin", err)
		}
		if n := tok.signs.Load(); n != 1 {
			t.Errorf("device signed %d times, want 1", n)
		}
	})
}

func TestSignDeadline(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{PoolWaitTimeout: 20 * time.Millisecond, SignTimeout: 100 * time.Millisecond})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	hang := make(chan struct{})
	tok.mu.Lock()
	tok.hang = hang
	tok.mu.Unlock()
	start := time.Now()
	_, err = s.Sign(rand.Reader, digest(), crypto.SHA256)
	elapsed := time.Since(start)
	if !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign = %v, want hsm.ErrUnavailable", err)
	}
	if elapsed < 100*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("Sign returned after %s, want about the 100ms deadline", elapsed)
	}
	if err := km.Health(context.Background()); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Health after a hung call = %v, want not ready", err)
	}
	tok.mu.Lock()
	tok.hang = nil
	tok.mu.Unlock()
	close(hang) // the abandoned worker finishes
	waitFor(t, "the rebuild", func() bool { return km.isUp() })
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
		t.Fatalf("Sign after the rebuild: %v", err)
	}
}

func TestCallerContextEndsLookupWithoutMarkingDown(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	hang := make(chan struct{})
	defer close(hang)
	tok.mu.Lock()
	tok.findResult = func() []crypto11.Signer { <-hang; return nil } // a lookup that hangs
	tok.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := km.Signer(ctx, hsm.KeyRef{Label: "k"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Signer = %v, want the caller's deadline", err)
	}
	if !km.isUp() {
		t.Error("the caller's own deadline took the backend down")
	}
}

func TestResourceErrorsFailFastAndStayUp(t *testing.T) {
	for name, inj := range map[string]error{
		"pool wait timeout": pool.ErrTimeout,
		"CKR_DEVICE_MEMORY": p11err(pkcs11.CKR_DEVICE_MEMORY),
		"CKR_SESSION_COUNT": wrapped(pkcs11.CKR_SESSION_COUNT),
	} {
		t.Run(name, func(t *testing.T) {
			tok := newFakeToken()
			addECKey(t, tok, "k", 1)
			km := openFake(t, tok, Config{})
			s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
			if err != nil {
				t.Fatal(err)
			}
			tok.inject("sign", inj)
			if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
				t.Fatalf("Sign = %v, want hsm.ErrUnavailable", err)
			}
			if !km.isUp() || tok.configures.Load() != 1 {
				t.Error("a resource shortage took the backend down")
			}
			if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
				t.Fatalf("next Sign: %v", err)
			}
		})
	}
}

func TestOtherErrorsAreNotClassified(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tok.inject("sign", wrapped(pkcs11.CKR_MECHANISM_INVALID))
	_, err = s.Sign(rand.Reader, digest(), crypto.SHA256)
	var code pkcs11.Error
	if !errors.As(err, &code) || code != pkcs11.CKR_MECHANISM_INVALID {
		t.Fatalf("Sign = %v, want the PKCS#11 code kept", err)
	}
	for _, sentinel := range []error{hsm.ErrUnavailable, hsm.ErrSessionInvalid, hsm.ErrLogin, hsm.ErrKeyNotFound} {
		if errors.Is(err, sentinel) {
			t.Errorf("CKR_MECHANISM_INVALID classified as %v", sentinel)
		}
	}
	if !km.isUp() || tok.signs.Load() != 1 {
		t.Error("a request error was retried or took the backend down")
	}
}

func TestDeviceSignatureFaultIsCaught(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tok.mu.Lock()
	tok.corrupt = true
	tok.mu.Unlock()
	for i := 0; i < 20; i++ {
		sig, err := s.Sign(rand.Reader, digest(), crypto.SHA256)
		if !errors.Is(err, hsm.ErrBadSignature) || sig != nil {
			t.Fatalf("Sign with a corrupting device = (%x, %v), want hsm.ErrBadSignature", sig, err)
		}
	}
	// A wrong-length digest never reaches the device.
	before := tok.signs.Load()
	if _, err := s.Sign(rand.Reader, digest()[:20], crypto.SHA256); !errors.Is(err, hsm.ErrInvalidDigest) {
		t.Fatalf("Sign(20-byte digest) = %v", err)
	}
	if tok.signs.Load() != before {
		t.Error("a wrong-length digest reached the device")
	}
}

func TestKeyReplacedBehindOurBack(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok.mu.Lock()
	tok.keys[0].key = other
	tok.mu.Unlock()
	tok.inject("sign", p11err(pkcs11.CKR_OBJECT_HANDLE_INVALID))
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Sign = %v, want hsm.ErrKeyNotFound (the label names another key now)", err)
	}
}

func TestHealthKey(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "health", 9)
	_, err := open(context.Background(), Config{TokenLabel: "fake", HealthKey: hsm.KeyRef{Label: "missing"}}, testOptions(tok))
	if !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("open with a missing health key = %v, want hsm.ErrKeyNotFound", err)
	}
	if n := tok.openContexts(); n != 0 {
		t.Fatalf("%d contexts left open after a failed open", n)
	}
	km := openFake(t, tok, Config{HealthKey: hsm.KeyRef{Token: "fake", Label: "health", ID: []byte{9}}})
	before := tok.signs.Load()
	if err := km.Health(context.Background()); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if tok.signs.Load() != before+1 {
		t.Error("Health did not sign with the health key")
	}
	tok.mu.Lock()
	tok.corrupt = true
	tok.mu.Unlock()
	if err := km.Health(context.Background()); !errors.Is(err, hsm.ErrBadSignature) {
		t.Errorf("Health with a corrupting device = %v, want hsm.ErrBadSignature", err)
	}
}

func TestHealthWithoutKeySearchesTheToken(t *testing.T) {
	tok := newFakeToken()
	km := openFake(t, tok, Config{})
	if err := km.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tok.finds.Load() != 1 {
		t.Error("Health did no token operation")
	}
	tok.inject("find", p11err(pkcs11.CKR_DEVICE_REMOVED))
	if err := km.Health(context.Background()); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Health with the device removed = %v", err)
	}
}

func TestCloseStopsRebuildAndInvalidatesSigners(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		tok.injectConfigure(p11err(pkcs11.CKR_TOKEN_NOT_PRESENT))
	}
	tok.inject("sign", p11err(pkcs11.CKR_DEVICE_ERROR))
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatal(err)
	}
	waitFor(t, "rebuild attempts", func() bool { return tok.configures.Load() >= 3 })
	done := make(chan struct{})
	go func() { _ = km.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked on a failing rebuild")
	}
	n := tok.configures.Load()
	time.Sleep(50 * time.Millisecond)
	if tok.configures.Load() != n {
		t.Error("rebuild attempts continued after Close")
	}
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Sign after Close = %v", err)
	}
	if err := km.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := tok.openContexts(); n != 0 {
		t.Errorf("%d contexts open after Close", n)
	}
}
