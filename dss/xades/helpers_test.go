package xades

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testKey is a fixed test key with a certificate issued by the test CA.
type testKey struct {
	name    string
	signer  crypto.Signer
	cert    *x509.Certificate
	certPEM []byte
	ca      *x509.Certificate
}

type testKeys struct {
	ca                     *x509.Certificate
	caPEM                  []byte
	rsa, p256, p384, other *testKey
}

// fixedTime is the clock of every test signature (not UTC, with a fraction,
// to show that SigningTime is normalized).
func fixedTime() time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
}

func readKey(t testing.TB, file string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "keys", file))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return k.(crypto.Signer)
}

// loadKeys builds the test PKI from the fixed keys: a CA (RSA) issuing one
// certificate per signer key. Certificates are deterministic because the CA
// signs with RSA PKCS#1 v1.5.
func loadKeys(t testing.TB) *testKeys {
	t.Helper()
	caKey := readKey(t, "ca-rsa.key")
	nb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dssd xades test CA", Organization: []string{"dssd tests"}},
		NotBefore:             nb,
		NotAfter:              na,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(nil, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	ks := &testKeys{ca: ca, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	leaf := func(name, file string, serial int64) *testKey {
		k := readKey(t, file)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "dssd xades test signer " + name, Organization: []string{"dssd tests"}},
			NotBefore:    nb,
			NotAfter:     na,
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		}
		der, err := x509.CreateCertificate(nil, tmpl, ca, k.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return &testKey{name: name, signer: k, cert: c, ca: ca, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	}
	ks.rsa = leaf("rsa", "rsa2048.key", 0x1001)
	ks.p256 = leaf("p256", "p256.key", 0x1002)
	ks.p384 = leaf("p384", "p384.key", 0x1003)
	ks.other = leaf("other", "ca-rsa.key", 0x1004) // a certificate for a different key than any signer
	return ks
}

func (k *testKey) chain() []*x509.Certificate { return []*x509.Certificate{k.cert, k.ca} }

// methodKey returns the key for a SignatureMethod in the test matrix.
func (ks *testKeys) forMethod(m string, p384 bool) *testKey {
	sm, err := lookupSigMethod(m)
	if err != nil {
		panic(err)
	}
	switch {
	case sm.kind != kindECDSA:
		return ks.rsa
	case p384:
		return ks.p384
	default:
		return ks.p256
	}
}
