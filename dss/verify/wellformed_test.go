package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// A certificate Go cannot parse is a FORMAT_FAILURE only when it is not even the Certificate
// SEQUENCE of RFC 5280; otherwise (an unsupported curve) the verdict is INDETERMINATE.
func TestWellFormedCertificate(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	if !wellFormedCertificate(der) {
		t.Error("a real certificate is not well formed")
	}
	for name, b := range map[string][]byte{
		"empty": nil, "garbage": []byte("not a certificate"), "trailing": append(append([]byte{}, der...), 0),
		"truncated": der[:len(der)-3], "integer": {0x02, 0x01, 0x00},
	} {
		if wellFormedCertificate(b) {
			t.Errorf("%s: accepted as a certificate", name)
		}
	}
}
