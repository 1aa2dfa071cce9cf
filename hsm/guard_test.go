package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeSigner counts calls, records the options it got and can corrupt or replace its output.
type fakeSigner struct {
	key    crypto.Signer
	mutate func(sig []byte) []byte
	err    error

	calls atomic.Int32
	mu    sync.Mutex
	opts  crypto.SignerOpts
}

func (f *fakeSigner) Public() crypto.PublicKey { return f.key.Public() }

func (f *fakeSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.opts = opts
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	sig, err := f.key.Sign(r, digest, opts)
	if err != nil {
		return nil, err
	}
	if f.mutate != nil {
		sig = f.mutate(sig)
	}
	return sig, nil
}

func (f *fakeSigner) lastOpts() crypto.SignerOpts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opts
}

func flipBit(sig []byte) []byte {
	out := append([]byte(nil), sig...)
	out[len(out)/2] ^= 0x01
	return out
}

func genRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func genEC(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func digestFor(h crypto.Hash) []byte {
	hh := h.New()
	hh.Write([]byte("dssd guard test"))
	return hh.Sum(nil)
}

func TestGuardSignsAndVerifies(t *testing.T) {
	t.Parallel()
	rsaKey := genRSA(t)
	ecKeys := map[string]*ecdsa.PrivateKey{"P-256": genEC(t, elliptic.P256()), "P-384": genEC(t, elliptic.P384())}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := digestFor(h)

		f := &fakeSigner{key: rsaKey}
		sig, err := Guard(f).Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatalf("RSA PKCS#1 v1.5 %s: %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(&rsaKey.PublicKey, h, d, sig); err != nil {
			t.Errorf("RSA PKCS#1 v1.5 %s: returned signature does not verify: %v", h, err)
		}

		for _, salt := range []int{rsa.PSSSaltLengthAuto, rsa.PSSSaltLengthEqualsHash, h.Size()} {
			f := &fakeSigner{key: rsaKey}
			sig, err := Guard(f).Sign(rand.Reader, d, &rsa.PSSOptions{SaltLength: salt, Hash: h})
			if err != nil {
				t.Fatalf("RSA-PSS %s salt %d: %v", h, salt, err)
			}
			got, ok := f.lastOpts().(*rsa.PSSOptions)
			if !ok || got.SaltLength != rsa.PSSSaltLengthEqualsHash || got.Hash != h {
				t.Errorf("RSA-PSS %s salt %d: inner signer got %#v, want EqualsHash with %s", h, salt, f.lastOpts(), h)
			}
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
			if err := rsa.VerifyPSS(&rsaKey.PublicKey, h, d, sig, opts); err != nil {
				t.Errorf("RSA-PSS %s: returned signature does not verify: %v", h, err)
			}
		}

		for name, k := range ecKeys {
			sig, err := Guard(&fakeSigner{key: k}).Sign(rand.Reader, d, h)
			if err != nil {
				t.Fatalf("ECDSA %s %s: %v", name, h, err)
			}
			if !ecdsa.VerifyASN1(&k.PublicKey, d, sig) {
				t.Errorf("ECDSA %s %s: returned signature does not verify", name, h)
			}
		}
	}
}

func TestGuardRejectsBadDigestsWithoutCallingTheDevice(t *testing.T) {
	t.Parallel()
	rsaKey := genRSA(t)
	ecKey := genEC(t, elliptic.P256())
	d256 := sha256.Sum256([]byte("x"))
	d512 := sha512.Sum512([]byte("x"))
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"SHA-256 31 bytes", d256[:31], crypto.SHA256},
		{"SHA-256 33 bytes", append(d256[:], 0), crypto.SHA256},
		{"SHA-256 given a SHA-512 digest", d512[:], crypto.SHA256},
		{"SHA-512 given a SHA-256 digest", d256[:], crypto.SHA512},
		{"SHA-384 empty", nil, crypto.SHA384},
		{"hash 0 (raw signing)", d256[:], crypto.Hash(0)},
		{"SHA-1", d256[:20], crypto.SHA1},
		{"SHA-224", d256[:28], crypto.SHA224},
		{"MD5", d256[:16], crypto.MD5},
		{"SHA3-256", d256[:], crypto.SHA3_256},
		{"unknown hash", d256[:], crypto.Hash(200)},
		{"nil options", d256[:], nil},
		{"PSS hash 0", d256[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"PSS wrong length", d256[:31], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
	}
	for _, tc := range tests {
		for keyName, key := range map[string]crypto.Signer{"RSA": rsaKey, "ECDSA": ecKey} {
			f := &fakeSigner{key: key}
			sig, err := Guard(f).Sign(rand.Reader, tc.digest, tc.opts)
			if !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("%s %s: err = %v, want ErrInvalidDigest", keyName, tc.name, err)
			}
			if sig != nil {
				t.Errorf("%s %s: got a signature with the error", keyName, tc.name)
			}
			if n := f.calls.Load(); n != 0 {
				t.Errorf("%s %s: inner signer called %d times, want 0", keyName, tc.name, n)
			}
		}
	}
}

func TestGuardRejectsUnsupportedOptions(t *testing.T) {
	t.Parallel()
	d := digestFor(crypto.SHA256)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.Signer
		opts crypto.SignerOpts
	}{
		{"PSS salt 20", genRSA(t), &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256}},
		{"PSS salt 64", genRSA(t), &rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA256}},
		{"PSS with ECDSA", genEC(t, elliptic.P256()), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
		{"Ed25519 key", edKey, crypto.SHA256},
	}
	for _, tc := range tests {
		f := &fakeSigner{key: tc.key}
		sig, err := Guard(f).Sign(rand.Reader, d, tc.opts)
		if !errors.Is(err, ErrNotSupported) || sig != nil {
			t.Errorf("%s: (%x, %v), want ErrNotSupported", tc.name, sig, err)
		}
		if n := f.calls.Load(); n != 0 {
			t.Errorf("%s: inner signer called %d times, want 0", tc.name, n)
		}
	}
}

// rawRS turns a DER ECDSA signature into fixed-width r||s, which Guard must refuse.
func rawRS(der []byte) []byte {
	var v struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		panic(err)
	}
	out := make([]byte, 64)
	v.R.FillBytes(out[:32])
	v.S.FillBytes(out[32:])
	return out
}

func TestGuardCatchesBadSignatures(t *testing.T) {
	t.Parallel()
	rsaKey := genRSA(t)
	rsaOther := genRSA(t)
	ecKey := genEC(t, elliptic.P256())
	d := digestFor(crypto.SHA256)
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	tests := []struct {
		name   string
		f      *fakeSigner
		opts   crypto.SignerOpts
		repeat int
	}{
		{"RSA PKCS#1 v1.5 bit flip", &fakeSigner{key: rsaKey, mutate: flipBit}, crypto.SHA256, 1},
		{"RSA-PSS bit flip", &fakeSigner{key: rsaKey, mutate: flipBit}, pss, 1},
		{"RSA truncated", &fakeSigner{key: rsaKey, mutate: func(s []byte) []byte { return s[:len(s)-1] }}, crypto.SHA256, 1},
		{"RSA empty", &fakeSigner{key: rsaKey, mutate: func([]byte) []byte { return nil }}, crypto.SHA256, 1},
		{"RSA PKCS#1 v1.5 sent for PSS", &fakeSigner{key: rsaKey, mutate: func([]byte) []byte {
			s, _ := rsa.SignPKCS1v15(nil, rsaKey, crypto.SHA256, d)
			return s
		}}, pss, 1},
		{"RSA other key (public key not the signer's)", &fakeSigner{key: rsaKey, mutate: func([]byte) []byte {
			s, _ := rsa.SignPKCS1v15(nil, rsaOther, crypto.SHA256, d)
			return s
		}}, crypto.SHA256, 1},
		// ECDSA signatures are randomised: flip bits in many of them.
		{"ECDSA bit flip", &fakeSigner{key: ecKey, mutate: flipBit}, crypto.SHA256, 50},
		{"ECDSA raw r||s instead of DER", &fakeSigner{key: ecKey, mutate: rawRS}, crypto.SHA256, 20},
	}
	for _, tc := range tests {
		g := Guard(tc.f)
		for i := 0; i < tc.repeat; i++ {
			sig, err := g.Sign(rand.Reader, d, tc.opts)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%s: err = %v, want ErrBadSignature", tc.name, err)
			}
			if sig != nil {
				t.Fatalf("%s: a signature was returned with the error", tc.name)
			}
		}
		if n := int(tc.f.calls.Load()); n != tc.repeat {
			t.Errorf("%s: inner signer called %d times, want %d", tc.name, n, tc.repeat)
		}
	}
}

func TestGuardPassesInnerErrorsThrough(t *testing.T) {
	t.Parallel()
	boom := errors.New("device on fire")
	f := &fakeSigner{key: genEC(t, elliptic.P256()), err: boom}
	_, err := Guard(f).Sign(rand.Reader, digestFor(crypto.SHA256), crypto.SHA256)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the inner error", err)
	}
	if errors.Is(err, ErrBadSignature) || errors.Is(err, ErrInvalidDigest) {
		t.Fatalf("inner error misclassified: %v", err)
	}
}

func TestGuardIsIdempotent(t *testing.T) {
	t.Parallel()
	f := &fakeSigner{key: genEC(t, elliptic.P256())}
	g := Guard(f)
	if Guard(g) != g {
		t.Fatal("Guard(Guard(s)) wrapped twice")
	}
	if g.Public().(*ecdsa.PublicKey) != f.Public().(*ecdsa.PublicKey) {
		t.Fatal("Public() is not the inner public key")
	}
}
