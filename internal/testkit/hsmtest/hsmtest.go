// Package hsmtest is the conformance suite every hsm backend must pass.
//
// Run creates RSA-2048, EC P-256 and EC P-384 keys through the backend's KeyCreator, looks them
// up by label, by id and by both, signs SHA-256, SHA-384 and SHA-512 digests (RSA PKCS#1 v1.5,
// RSA-PSS, ECDSA) and verifies every signature with the public key, checks the error
// classification (hsm.ErrKeyNotFound, hsm.ErrInvalidDigest, hsm.ErrNotSupported) and signs from
// several goroutines at once. Keys get random labels and ids, so the suite can run against a
// token that already holds keys; it does not delete the keys it creates.
package hsmtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"dssd/hsm"
)

// Concurrency and per-goroutine signature count of the concurrent subtest.
const (
	Goroutines   = 8
	PerGoroutine = 50
)

type keyCase struct {
	alg  hsm.KeyAlgorithm
	ref  hsm.KeyRef
	bits int            // RSA modulus size
	crv  elliptic.Curve // ECDSA curve
}

// Run runs the conformance suite against km, creating keys with kc (usually the same value).
func Run(t *testing.T, km hsm.KeyManager, kc hsm.KeyCreator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	run := randomHex(t, 4)
	keys := []*keyCase{
		{alg: hsm.RSA2048, bits: 2048},
		{alg: hsm.ECP256, crv: elliptic.P256()},
		{alg: hsm.ECP384, crv: elliptic.P384()},
	}
	for i, k := range keys {
		k.ref = hsm.KeyRef{Label: fmt.Sprintf("hsmtest-%s-%s", k.alg, run), ID: append(randomBytes(t, 8), byte(i))}
	}

	ok := t.Run("CreateKey", func(t *testing.T) {
		for _, k := range keys {
			t.Run(string(k.alg), func(t *testing.T) { testCreateKey(ctx, t, km, kc, k) })
		}
	})
	if !ok {
		t.Fatal("key creation failed; the remaining subtests need the keys")
	}
	t.Run("Lookup", func(t *testing.T) {
		for _, k := range keys {
			t.Run(string(k.alg), func(t *testing.T) { testLookup(ctx, t, km, k) })
		}
	})
	t.Run("Sign", func(t *testing.T) {
		for _, k := range keys {
			t.Run(string(k.alg), func(t *testing.T) { testSign(ctx, t, km, k) })
		}
	})
	t.Run("KeyNotFound", func(t *testing.T) { testKeyNotFound(ctx, t, km, keys[0]) })
	t.Run("InvalidDigest", func(t *testing.T) {
		for _, k := range keys {
			t.Run(string(k.alg), func(t *testing.T) { testInvalidDigest(ctx, t, km, k) })
		}
	})
	t.Run("CreateKeyErrors", func(t *testing.T) { testCreateKeyErrors(ctx, t, km, kc, keys[1], run) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(ctx, t, km, keys) })
	if hc, ok := km.(hsm.HealthChecker); ok {
		t.Run("Health", func(t *testing.T) {
			if err := hc.Health(ctx); err != nil {
				t.Fatalf("Health: %v", err)
			}
		})
	}
}

func testCreateKey(ctx context.Context, t *testing.T, km hsm.KeyManager, kc hsm.KeyCreator, k *keyCase) {
	s, err := kc.CreateKey(ctx, k.ref, k.alg)
	if err != nil {
		t.Fatalf("CreateKey(%s, %s): %v", k.ref, k.alg, err)
	}
	checkPublic(t, s.Public(), k)
	got, err := km.Signer(ctx, k.ref)
	if err != nil {
		t.Fatalf("Signer(%s) after CreateKey: %v", k.ref, err)
	}
	if !samePublic(got.Public(), s.Public()) {
		t.Fatal("Signer returns a different public key than CreateKey")
	}
	// The signer CreateKey returned works too.
	d := digest(crypto.SHA256, "created")
	sig, err := s.Sign(rand.Reader, d, crypto.SHA256)
	if err != nil {
		t.Fatalf("sign with the created signer: %v", err)
	}
	if err := verify(s.Public(), crypto.SHA256, d, sig, false); err != nil {
		t.Fatalf("signature of the created signer: %v", err)
	}
}

func testLookup(ctx context.Context, t *testing.T, km hsm.KeyManager, k *keyCase) {
	want, err := km.Signer(ctx, k.ref)
	if err != nil {
		t.Fatalf("Signer(%s): %v", k.ref, err)
	}
	for name, ref := range map[string]hsm.KeyRef{
		"label only": {Label: k.ref.Label},
		"id only":    {ID: k.ref.ID},
	} {
		s, err := km.Signer(ctx, ref)
		if err != nil {
			t.Errorf("Signer by %s (%s): %v", name, ref, err)
			continue
		}
		if !samePublic(s.Public(), want.Public()) {
			t.Errorf("Signer by %s returned another key", name)
		}
	}
}

func testSign(ctx context.Context, t *testing.T, km hsm.KeyManager, k *keyCase) {
	s, err := km.Signer(ctx, k.ref)
	if err != nil {
		t.Fatalf("Signer(%s): %v", k.ref, err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := digest(h, "sign "+h.String())
		type scheme struct {
			name string
			opts crypto.SignerOpts
			pss  bool
		}
		schemes := []scheme{{name: "ECDSA", opts: h}}
		if k.bits > 0 {
			schemes = []scheme{
				{name: "PKCS1v15", opts: h},
				{name: "PSS-EqualsHash", opts: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}, pss: true},
				{name: "PSS-Auto", opts: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h}, pss: true},
			}
		}
		for _, sc := range schemes {
			sig, err := s.Sign(rand.Reader, d, sc.opts)
			if err != nil {
				t.Errorf("%s %s: %v", sc.name, h, err)
				continue
			}
			if err := verify(s.Public(), h, d, sig, sc.pss); err != nil {
				t.Errorf("%s %s: %v", sc.name, h, err)
			}
			if k.bits > 0 && len(sig) != k.bits/8 {
				t.Errorf("%s %s: signature is %d bytes, want %d", sc.name, h, len(sig), k.bits/8)
			}
			if k.crv != nil && (len(sig) < 8 || sig[0] != 0x30) {
				t.Errorf("%s %s: signature is not ASN.1 DER (starts %x)", sc.name, h, sig[:min(len(sig), 2)])
			}
		}
	}
}

func testKeyNotFound(ctx context.Context, t *testing.T, km hsm.KeyManager, existing *keyCase) {
	missing := map[string]hsm.KeyRef{
		"unknown label":             {Label: "hsmtest-missing-" + randomHex(t, 8)},
		"unknown id":                {ID: randomBytes(t, 12)},
		"known label, unknown id":   {Label: existing.ref.Label, ID: randomBytes(t, 12)},
		"unknown label, known id":   {Label: "hsmtest-missing-" + randomHex(t, 8), ID: existing.ref.ID},
		"invalid: no label and id":  {},
		"invalid: token name alone": {Token: "x"},
	}
	for name, ref := range missing {
		s, err := km.Signer(ctx, ref)
		if !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("%s: Signer(%s) = (%v, %v), want hsm.ErrKeyNotFound", name, ref, s, err)
		}
	}
}

func testInvalidDigest(ctx context.Context, t *testing.T, km hsm.KeyManager, k *keyCase) {
	s, err := km.Signer(ctx, k.ref)
	if err != nil {
		t.Fatalf("Signer(%s): %v", k.ref, err)
	}
	d := digest(crypto.SHA256, "x")
	cases := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"SHA-256 with 31 bytes", d[:31], crypto.SHA256},
		{"SHA-256 with 33 bytes", append(append([]byte(nil), d...), 0), crypto.SHA256},
		{"SHA-384 with a SHA-256 digest", d, crypto.SHA384},
		{"no hash", d, crypto.Hash(0)},
		{"SHA-1", d[:20], crypto.SHA1},
		{"SHA-224", d[:28], crypto.SHA224},
	}
	if k.bits > 0 {
		cases = append(cases, struct {
			name   string
			digest []byte
			opts   crypto.SignerOpts
		}{"PSS SHA-512 with a SHA-256 digest", d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA512}})
	}
	for _, c := range cases {
		sig, err := s.Sign(rand.Reader, c.digest, c.opts)
		if !errors.Is(err, hsm.ErrInvalidDigest) || sig != nil {
			t.Errorf("%s: (%x, %v), want hsm.ErrInvalidDigest and no signature", c.name, sig, err)
		}
	}
}

func testCreateKeyErrors(ctx context.Context, t *testing.T, km hsm.KeyManager, kc hsm.KeyCreator, existing *keyCase, run string) {
	if _, err := kc.CreateKey(ctx, existing.ref, existing.alg); err == nil {
		t.Error("CreateKey with the label and id of an existing key succeeded")
	}
	if _, err := kc.CreateKey(ctx, hsm.KeyRef{Label: "hsmtest-other-" + run, ID: existing.ref.ID}, hsm.ECP256); err == nil {
		t.Error("CreateKey with the id of an existing key succeeded")
	}
	if _, err := km.Signer(ctx, existing.ref); err != nil {
		t.Errorf("after refused duplicates, Signer(%s): %v", existing.ref, err)
	}
	ref := hsm.KeyRef{Label: "hsmtest-bad-alg-" + run, ID: randomBytes(t, 9)}
	if _, err := kc.CreateKey(ctx, ref, hsm.KeyAlgorithm("RSA-1024")); !errors.Is(err, hsm.ErrNotSupported) {
		t.Errorf("CreateKey(RSA-1024): %v, want hsm.ErrNotSupported", err)
	}
	if _, err := km.Signer(ctx, ref); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("a refused CreateKey left a key behind: Signer: %v", err)
	}
	if _, err := kc.CreateKey(ctx, hsm.KeyRef{}, hsm.ECP256); err == nil {
		t.Error("CreateKey with an empty KeyRef succeeded")
	}
}

func testConcurrent(ctx context.Context, t *testing.T, km hsm.KeyManager, keys []*keyCase) {
	signers := make([]crypto.Signer, len(keys))
	for i, k := range keys {
		s, err := km.Signer(ctx, k.ref)
		if err != nil {
			t.Fatalf("Signer(%s): %v", k.ref, err)
		}
		signers[i] = s
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for g := 0; g < Goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < PerGoroutine; i++ {
				s := signers[(g+i)%len(signers)]
				d := digest(crypto.SHA256, fmt.Sprintf("concurrent %d %d", g, i))
				sig, err := s.Sign(rand.Reader, d, crypto.SHA256)
				if err == nil {
					err = verify(s.Public(), crypto.SHA256, d, sig, false)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("goroutine %d signature %d: %w", g, i, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
}

func checkPublic(t *testing.T, pub crypto.PublicKey, k *keyCase) {
	t.Helper()
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if k.bits == 0 || p.N.BitLen() != k.bits {
			t.Fatalf("%s: got an RSA-%d key", k.alg, p.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.crv == nil || p.Curve != k.crv {
			t.Fatalf("%s: got an ECDSA %s key", k.alg, p.Curve.Params().Name)
		}
	default:
		t.Fatalf("%s: public key type %T", k.alg, pub)
	}
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// verify checks a signature independently of the backend (and of hsm.Guard).
func verify(pub crypto.PublicKey, h crypto.Hash, d, sig []byte, pss bool) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if pss {
			return rsa.VerifyPSS(p, h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		}
		return rsa.VerifyPKCS1v15(p, h, d, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, d, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("public key type %T", pub)
}

func digest(h crypto.Hash, msg string) []byte {
	hh := h.New()
	hh.Write([]byte(msg))
	return hh.Sum(nil)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t *testing.T, n int) string { return hex.EncodeToString(randomBytes(t, n)) }
