package soft

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"dssd/hsm"
	"dssd/internal/testkit/hsmtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	km := New()
	defer km.Close()
	hsmtest.Run(t, km, km)
}

func TestDeterministicRSA(t *testing.T) {
	t.Parallel()
	km := New()
	ref := hsm.KeyRef{Label: "rsa", ID: []byte{1}}
	if _, err := km.CreateKey(context.Background(), ref, hsm.RSA2048); err != nil {
		t.Fatal(err)
	}
	s, err := km.Signer(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("golden"))
	a, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("RSA PKCS#1 v1.5 signatures of the same digest differ")
	}
}

func TestAddPEM(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"pkcs8.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"sec1.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"pkcs1.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
	}
	km := New()
	for i, name := range []string{"pkcs8.pem", "sec1.pem", "pkcs1.pem"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o600); err != nil {
			t.Fatal(err)
		}
		ref := hsm.KeyRef{Label: name, ID: []byte{byte(i + 1)}}
		if err := km.AddPEMFile(ref, path); err != nil {
			t.Fatalf("AddPEMFile(%s): %v", name, err)
		}
		s, err := km.Signer(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		want := crypto.PublicKey(&ec.PublicKey)
		if name == "pkcs1.pem" {
			want = &rk.PublicKey
		}
		if !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want) {
			t.Errorf("%s: wrong public key", name)
		}
	}
	for name, data := range map[string][]byte{
		"no pem":      []byte("not a key"),
		"certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"garbage":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	} {
		if err := km.AddPEM(hsm.KeyRef{Label: name}, data); err == nil {
			t.Errorf("AddPEM(%s) succeeded", name)
		}
	}
}

func TestAddKeyRejectsTakenLabelsAndIDs(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	km := New()
	if err := km.AddKey(hsm.KeyRef{Label: "a", ID: []byte{1}}, k); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []hsm.KeyRef{{Label: "a"}, {ID: []byte{1}}, {Label: "b", ID: []byte{1}}, {}} {
		if err := km.AddKey(ref, k); err == nil {
			t.Errorf("AddKey(%s) succeeded", ref)
		}
	}
	if err := km.AddKey(hsm.KeyRef{Label: "b"}, nil); err == nil {
		t.Error("AddKey(nil key) succeeded")
	}
}

func TestFaultAndClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	km := New()
	ref := hsm.KeyRef{Label: "k"}
	s, err := km.CreateKey(ctx, ref, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	km.SetFault(hsm.ErrUnavailable)
	if err := km.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Health with a fault: %v", err)
	}
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Sign with a fault: %v", err)
	}
	if _, err := km.Signer(ctx, ref); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Signer with a fault: %v", err)
	}
	km.SetFault(nil)
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Errorf("Sign after the fault is cleared: %v", err)
	}
	if err := km.Close(); err != nil {
		t.Fatal(err)
	}
	if err := km.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Health after Close: %v", err)
	}
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Sign after Close: %v", err)
	}
}
