package xades

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"dssd/dss/xmldsig"
)

func derSig(t testing.TB, r, s *big.Int) []byte {
	t.Helper()
	b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRawECDSALeadingZeros: short r and s are left-padded to the order size.
func TestRawECDSALeadingZeros(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		n := c.Params().N
		size := (n.BitLen() + 7) / 8
		nm1 := new(big.Int).Sub(n, big.NewInt(1))
		raw, err := RawECDSA(derSig(t, big.NewInt(1), nm1), &k.PublicKey)
		if err != nil {
			t.Fatalf("%s: %v", c.Params().Name, err)
		}
		if len(raw) != 2*size {
			t.Fatalf("%s: %d bytes, want %d", c.Params().Name, len(raw), 2*size)
		}
		for i := 0; i < size-1; i++ {
			if raw[i] != 0 {
				t.Fatalf("%s: r not left-padded: %x", c.Params().Name, raw[:size])
			}
		}
		if raw[size-1] != 1 || new(big.Int).SetBytes(raw[size:]).Cmp(nm1) != 0 {
			t.Fatalf("%s: wrong values: %x", c.Params().Name, raw)
		}
	}
}

// TestRawECDSARandom converts thousands of real signatures (about 1 in 128
// has a short r or s) and checks each against the DER verifier.
func TestRawECDSARandom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c elliptic.Curve
		n int
	}{{elliptic.P256(), 4000}, {elliptic.P384(), 300}, {elliptic.P521(), 100}} {
		k, err := ecdsa.GenerateKey(tc.c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		size := (tc.c.Params().N.BitLen() + 7) / 8
		short := 0
		for i := range tc.n {
			d := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
			der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
			if err != nil {
				t.Fatal(err)
			}
			raw, err := RawECDSA(der, &k.PublicKey)
			if err != nil {
				t.Fatalf("%s #%d: %v", tc.c.Params().Name, i, err)
			}
			if len(raw) != 2*size {
				t.Fatalf("%s #%d: %d bytes", tc.c.Params().Name, i, len(raw))
			}
			if raw[0] == 0 || raw[size] == 0 {
				short++
			}
			if err := xmldsig.VerifyRawECDSA(&k.PublicKey, d[:], raw); err != nil {
				t.Fatalf("%s #%d: %v", tc.c.Params().Name, i, err)
			}
			// Round trip back to DER gives the signer's value.
			r, s := new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])
			if !ecdsa.VerifyASN1(&k.PublicKey, d[:], derSig(t, r, s)) {
				t.Fatalf("%s #%d: r‖s does not map back to a valid DER signature", tc.c.Params().Name, i)
			}
		}
		if tc.n >= 4000 && short == 0 {
			t.Errorf("%s: no short r or s in %d signatures; the padding path was not exercised", tc.c.Params().Name, tc.n)
		}
		t.Logf("%s: %d of %d signatures had a short r or s", tc.c.Params().Name, short, tc.n)
	}
}

func TestRawECDSARejects(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	good := derSig(t, big.NewInt(5), big.NewInt(7))
	tests := []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"raw r‖s instead of DER", make([]byte, 64)},
		{"trailing data", append(good, 0)},
		{"r = 0", derSig(t, big.NewInt(0), big.NewInt(7))},
		{"s = n", derSig(t, big.NewInt(5), n)},
		{"negative r", derSig(t, big.NewInt(-5), big.NewInt(7))},
		{"r > n", derSig(t, new(big.Int).Lsh(n, 1), big.NewInt(7))},
	}
	for _, tt := range tests {
		if _, err := RawECDSA(tt.der, &k.PublicKey); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := RawECDSA(good, nil); err == nil {
		t.Error("nil key accepted")
	}
	// verifyRawECDSA refuses DER and wrong lengths.
	d := sha256.Sum256(nil)
	der, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
	if xmldsig.VerifyRawECDSA(&k.PublicKey, d[:], der) == nil {
		t.Error("verifyRawECDSA accepted DER")
	}
	if xmldsig.VerifyRawECDSA(&k.PublicKey, d[:], make([]byte, 64)) == nil {
		t.Error("verifyRawECDSA accepted zeros")
	}
}

// FuzzRawECDSA: errors are expected; we look for panics, outputs of the wrong size, and on
// P-256 and P-521 for any DER the shortcut (rawECDSAPlain) reads otherwise than
// encoding/asn1 with the range checks does.
func FuzzRawECDSA(f *testing.F) {
	var keys []*ecdsa.PrivateKey
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, k)
		d := sha256.Sum256([]byte("seed"))
		der, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range keys {
			n := k.Curve.Params().N
			size := (n.BitLen() + 7) / 8
			raw, err := RawECDSA(b, &k.PublicKey)
			if err == nil && len(raw) != 2*size {
				t.Fatalf("%d bytes, want %d", len(raw), 2*size)
			}
			fast, ok := rawECDSAPlain(b, n)
			if !ok {
				continue
			}
			var v struct{ R, S *big.Int }
			rest, err := asn1.Unmarshal(b, &v)
			if err != nil || len(rest) != 0 || v.R.Sign() <= 0 || v.R.Cmp(n) >= 0 || v.S.Sign() <= 0 || v.S.Cmp(n) >= 0 {
				t.Fatalf("%x: the shortcut accepted what encoding/asn1 refuses (%v, %d bytes after)", b, err, len(rest))
			}
			want := make([]byte, 2*size)
			v.R.FillBytes(want[:size])
			v.S.FillBytes(want[size:])
			if !bytes.Equal(fast, want) {
				t.Fatalf("%x: shortcut %x, encoding/asn1 %x", b, fast, want)
			}
		}
	})
}
