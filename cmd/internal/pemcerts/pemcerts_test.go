package pemcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	other := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})
	broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})
	errOther := errors.New("other")
	strict := func(typ string) error { return fmt.Errorf("%w %s", errOther, typ) }
	bad := func(n int, err error) error { return fmt.Errorf("certificate %d: %w", n, err) }

	data := append(append(append([]byte{}, cert...), other...), cert...)
	certs, err := Decode(data, nil, bad)
	if err != nil || len(certs) != 2 || certs[0].SerialNumber.Int64() != 7 {
		t.Fatalf("skipping other blocks: %d certificates, %v", len(certs), err)
	}
	if _, err := Decode(data, strict, bad); !errors.Is(err, errOther) || err.Error() != "other PRIVATE KEY" {
		t.Fatalf("strict: %v", err)
	}
	_, err = Decode(append(append([]byte{}, cert...), broken...), nil, bad)
	if err == nil || err.Error()[:14] != "certificate 2:" {
		t.Fatalf("broken second certificate: %v", err)
	}
	if certs, err := Decode([]byte("no PEM here"), strict, bad); err != nil || len(certs) != 0 {
		t.Fatalf("no PEM: %d, %v", len(certs), err)
	}
}
