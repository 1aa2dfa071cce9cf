package dss

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dssd/hsm"
)

// benchService is a Service over one software key behind hsm.Guard, as every KeyManager hands
// signers out: Guard verifies each signature before returning it.
func benchService(b *testing.B, k crypto.Signer, keyType string) *Service {
	b.Helper()
	cred := &Credential{ID: "c", Owner: "alice", Key: keyType, SCAL: 1, Ref: hsm.KeyRef{Label: "c"}, Chain: []*x509.Certificate{selfSigned(b, k, "bench")}}
	svc, err := New(Config{Keys: keyMap{"c": hsm.Guard(k)}, Directory: dirMap{"c": cred}, MaxDocuments: 3,
		Clock: func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// benchSign signs the invoice of the `make bench` e2e point (testdata/documents/invoice.xml,
// 2.4 KB) enveloped, XAdES B-B, through Service.Sign: that request's flow without the bindings.
func benchSign(b *testing.B, svc *Service) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "documents", "invoice.xml"))
	if err != nil {
		b.Fatal(err)
	}
	req := &SignRequest{Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: data}},
		Options: SignOptions{CredentialID: "c", Placement: &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Sign(context.Background(), alice, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceSignRSA(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, benchService(b, k, "RSA-2048"))
}

func BenchmarkServiceSignEC(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, benchService(b, k, "EC-P256"))
}

// BenchmarkServiceSignHashEC: one raw ECDSA P-256 signature value over a SHA-256 digest (the
// CSC signHash path) through Service.Sign.
func BenchmarkServiceSignHashEC(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	svc := benchService(b, k, "EC-P256")
	d := make([]byte, 32)
	req := &SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{"SHA-256", d}}}}, Options: SignOptions{CredentialID: "c"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Sign(context.Background(), alice, req); err != nil {
			b.Fatal(err)
		}
	}
}
