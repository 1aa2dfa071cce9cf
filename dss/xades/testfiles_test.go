package xades

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// File helpers shared by the unit tests and the verifier tests (interop_test.go, e2e tag).

func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// binaryData is non-XML content with a NUL, invalid UTF-8 and the tamper mark.
func binaryData() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\x00\xff\xfe binary TAMPER-MARK ")
	for i := range 300 {
		b.WriteByte(byte(i * 7))
	}
	return b.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeOCSP is a DER SEQUENCE standing in for an OCSP response: dss/xades embeds revocation
// values as they are and never looks inside.
func fakeOCSP(t testing.TB, n int) []byte {
	t.Helper()
	b, err := asn1.Marshal(struct {
		Status asn1.Enumerated
		N      int
	}{0, n})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testCRL is a real CRL of the test CA.
func testCRL(t testing.TB, ks *testKeys) []byte {
	t.Helper()
	crl, err := x509.CreateRevocationList(nil, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), NextUpdate: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC),
	}, ks.ca, readKey(t, "ca-rsa.key"))
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func sha256Of(b []byte) []byte { return digest(crypto.SHA256, b) }

func bytesOf(s *Signed) []byte {
	if s.Document != nil {
		return s.Document
	}
	return s.Signature
}
