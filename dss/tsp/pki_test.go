package tsp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is root → issuing CA → TSA, made fresh for each test.
type testPKI struct {
	root, ca, tsa *x509.Certificate
	caKey, tsaKey crypto.Signer
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mkCert(t *testing.T, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tsaEKU is the extended key usage extension of a TSA certificate: timeStamping, critical
// when critical is true.
func tsaEKU(t *testing.T, critical bool) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: critical, Value: v}
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	rootKey, caKey, tsaKey := newKey(t), newKey(t), newKey(t)
	root := mkCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: name + " root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, rootKey.Public(), nil, rootKey)
	ca := mkCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: name + " issuing CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, caKey.Public(), root, rootKey)
	tsa := mkCert(t, &x509.Certificate{
		Subject:         pkix.Name{CommonName: name + " TSA"},
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtraExtensions: []pkix.Extension{tsaEKU(t, true)},
	}, tsaKey.Public(), ca, caKey)
	return &testPKI{root: root, ca: ca, tsa: tsa, caKey: caKey, tsaKey: tsaKey}
}

func writePEM(t *testing.T, path string, certs ...*x509.Certificate) {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func tempFile(t *testing.T, name string) string { return filepath.Join(t.TempDir(), name) }
