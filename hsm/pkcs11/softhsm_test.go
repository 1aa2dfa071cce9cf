//go:build softhsm && cgo && !nopkcs11

package pkcs11

// These tests need SoftHSM2 (Debian: apt-get install softhsm2). Each one creates a private
// token in t.TempDir() with hsm/softhsm and points SOFTHSM2_CONF at it before Open; the
// KeyManager is closed before the test ends, so the module is finalised and the next test's
// Open initialises it again with its own configuration. Run with:
//
//	go test -tags softhsm ./hsm/...

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"dssd/hsm"
	"dssd/hsm/softhsm"
	"dssd/internal/testkit/hsmtest"
)

const (
	softLabel = "dssd-test"
	softSOPIN = "so-canary-7731"
	softPIN   = "user-canary-7731"
)

type tb interface {
	Helper()
	Fatal(...any)
	Fatalf(string, ...any)
	TempDir() string
	Setenv(string, string)
	Cleanup(func())
}

// newSoftToken initialises a private token and makes it the one the module will load.
func newSoftToken(t tb) *softhsm.Token {
	t.Helper()
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		t.Fatal("softhsm2-util is missing: apt-get install softhsm2")
	}
	tok, err := softhsm.Init(t.TempDir(), softLabel, softSOPIN, softPIN)
	if err != nil {
		t.Fatalf("softhsm.Init: %v", err)
	}
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	return tok
}

func openSoft(t tb, tok *softhsm.Token, cfg Config) *KeyManager {
	t.Helper()
	cfg.Module, cfg.TokenLabel, cfg.PIN = tok.Module, tok.Label, softPIN
	km, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = km.Close() })
	return km
}

func TestSoftHSMConformance(t *testing.T) {
	tok := newSoftToken(t)
	km := openSoft(t, tok, Config{})
	hsmtest.Run(t, km, km)
}

// TestSoftHSMPrivateKeysAreSensitive reads attributes of generated private keys with crypto11's
// low-level access: the key value must be refused with CKR_ATTRIBUTE_SENSITIVE, and the key
// must be sensitive, never extractable and allowed to sign only.
func TestSoftHSMPrivateKeysAreSensitive(t *testing.T) {
	tok := newSoftToken(t)
	km := openSoft(t, tok, Config{})
	ctx := context.Background()
	c11, ok := km.ctx.(*crypto11.Context)
	if !ok {
		t.Fatalf("context is %T, want *crypto11.Context", km.ctx)
	}
	const ckaPrivateExponent, ckaPrime1, ckaPrime2 = 0x123, 0x124, 0x125
	for i, alg := range []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256} {
		ref := hsm.KeyRef{Label: "sensitive-" + string(alg), ID: []byte{0x50, byte(i)}}
		if _, err := km.CreateKey(ctx, ref, alg); err != nil {
			t.Fatalf("CreateKey(%s): %v", alg, err)
		}
		key, err := c11.FindKeyPair(ref.ID, []byte(ref.Label))
		if err != nil || key == nil {
			t.Fatalf("FindKeyPair(%s): %v", ref, err)
		}
		// The secret: CKA_VALUE of an EC key; the private exponent and primes of an RSA key
		// (an RSA private key has no CKA_VALUE: CKR_ATTRIBUTE_TYPE_INVALID).
		secret := []crypto11.AttributeType{crypto11.CkaValue}
		if alg == hsm.RSA2048 {
			secret = []crypto11.AttributeType{ckaPrivateExponent, ckaPrime1, ckaPrime2}
		}
		for _, typ := range secret {
			a, err := c11.GetAttribute(key, typ)
			var code pkcs11.Error
			if !errors.As(err, &code) || code != pkcs11.CKR_ATTRIBUTE_SENSITIVE {
				t.Errorf("%s: reading attribute %#x gave (%v, %v), want CKR_ATTRIBUTE_SENSITIVE", alg, typ, a, err)
			}
		}
		want := map[crypto11.AttributeType]bool{
			crypto11.CkaSensitive: true, crypto11.CkaAlwaysSensitive: true,
			crypto11.CkaExtractable: false, crypto11.CkaNeverExtractable: true,
			crypto11.CkaSign: true, crypto11.CkaDecrypt: false, crypto11.CkaUnwrap: false,
			crypto11.CkaToken: true, crypto11.CkaPrivate: true,
		}
		for typ, v := range want {
			a, err := c11.GetAttribute(key, typ)
			if err != nil || a == nil || len(a.Value) != 1 || (a.Value[0] != 0) != v {
				t.Errorf("%s: attribute %#x = (%v, %v), want %v", alg, typ, a, err, v)
			}
		}
	}
}

func TestSoftHSMKeysSurviveReopen(t *testing.T) {
	tok := newSoftToken(t)
	ctx := context.Background()
	ref := hsm.KeyRef{Label: "persistent", ID: []byte{0x42}}
	km, err := Open(ctx, Config{Module: tok.Module, TokenLabel: tok.Label, PIN: softPIN})
	if err != nil {
		t.Fatal(err)
	}
	created, err := km.CreateKey(ctx, ref, hsm.ECP384)
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Close(); err != nil {
		t.Fatal(err)
	}
	km2 := openSoft(t, tok, Config{HealthKey: hsm.KeyRef{Token: softLabel, Label: "persistent", ID: []byte{0x42}}})
	s, err := km2.Signer(ctx, ref)
	if err != nil {
		t.Fatalf("Signer after reopen: %v", err)
	}
	if !samePublic(s.Public(), created.Public()) {
		t.Fatal("reopened key has another public key")
	}
	if err := km2.Health(ctx); err != nil {
		t.Fatalf("Health with the health key: %v", err)
	}
}

func TestSoftHSMOpenErrors(t *testing.T) {
	tok := newSoftToken(t)
	ctx := context.Background()
	_, err := Open(ctx, Config{Module: tok.Module, TokenLabel: tok.Label, PIN: "wrong-canary-1"})
	if !errors.Is(err, hsm.ErrLogin) {
		t.Errorf("Open with a wrong PIN = %v, want hsm.ErrLogin", err)
	}
	if err != nil && (strings.Contains(err.Error(), "wrong-canary-1") || strings.Contains(err.Error(), softPIN)) {
		t.Errorf("error repeats a PIN: %v", err)
	}
	if _, err := Open(ctx, Config{Module: tok.Module, TokenLabel: "no-such-token", PIN: softPIN}); err == nil {
		t.Error("Open of a missing token succeeded")
	}
	if _, err := Open(ctx, Config{Module: tok.Module + ".missing", TokenLabel: tok.Label, PIN: softPIN}); err == nil {
		t.Error("Open of a missing module succeeded")
	}
	// The right PIN still works: the wrong one was tried exactly once.
	openSoft(t, tok, Config{})
}

// BenchmarkSign measures guarded signatures per second through crypto11 and SoftHSM2, with
// as many goroutines as GOMAXPROCS (b.RunParallel).
func BenchmarkSign(b *testing.B) {
	tok := newSoftToken(b)
	km := openSoft(b, tok, Config{MaxSessions: 8})
	ctx := context.Background()
	for i, alg := range []hsm.KeyAlgorithm{hsm.RSA2048, hsm.ECP256} {
		ref := hsm.KeyRef{Label: "bench-" + string(alg), ID: []byte{0x60, byte(i)}}
		s, err := km.CreateKey(ctx, ref, alg)
		if err != nil {
			b.Fatal(err)
		}
		// For comparison: the crypto11 key itself, without hsm.Guard, worker or cache.
		raw, err := km.ctx.(*crypto11.Context).FindKeyPair(ref.ID, []byte(ref.Label))
		if err != nil {
			b.Fatal(err)
		}
		d := sha256.Sum256([]byte("benchmark"))
		// The backend's own signer without hsm.Guard: what the worker, the key cache and the
		// session handling add to crypto11.
		worker := s.(interface{ Unwrap() crypto.Signer }).Unwrap()
		for _, bc := range []struct {
			name   string
			signer crypto.Signer
			par    int
		}{{"dssd", s, 1}, {"dssd", s, 4}, {"crypto11-unguarded", raw, 1}, {"dssd-unguarded", worker, 1}} {
			s, par := bc.signer, bc.par
			b.Run(fmt.Sprintf("%s/%s/parallelism=%dxGOMAXPROCS", alg, bc.name, par), func(b *testing.B) {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sig/s")
			})
		}
	}
}

// TestSoftHSMRebuild forces the down state and checks that the background rebuild really
// closes and reconfigures crypto11 (module finalised and initialised again) and that signers
// handed out before keep working.
func TestSoftHSMRebuild(t *testing.T) {
	tok := newSoftToken(t)
	km := openSoft(t, tok, Config{})
	ctx := context.Background()
	s, err := km.CreateKey(ctx, hsm.KeyRef{Label: "rebuild", ID: []byte{0x70}}, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("rebuild"))
	km.mu.Lock()
	gen := km.gen
	km.mu.Unlock()
	km.markDown(gen, errors.New("test: forced"))
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign while down = %v, want hsm.ErrUnavailable", err)
	}
	if err := km.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health while down = %v", err)
	}
	waitFor(t, "the rebuild", func() bool { return km.rebuildCount() == 1 })
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Fatalf("Sign after the rebuild: %v", err)
	}
	if err := km.Health(ctx); err != nil {
		t.Fatalf("Health after the rebuild: %v", err)
	}
}
