//go:build cgo && !nopkcs11

package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
	"testing"

	"github.com/miekg/pkcs11"

	"dssd/hsm"
)

// Rebuilds (exported as dssd_hsm_rebuilds_total) counts completed rebuilds.
func TestRebuildsCounted(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if n := km.Rebuilds(); n != 0 {
		t.Fatalf("Rebuilds = %d before any fault", n)
	}
	tok.inject("sign", p11err(pkcs11.CKR_DEVICE_ERROR))
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err == nil {
		t.Fatal("Sign succeeded through a device error")
	}
	waitFor(t, "the rebuild", func() bool { return km.isUp() })
	if n := km.Rebuilds(); n != 1 {
		t.Errorf("Rebuilds = %d after one rebuild, want 1", n)
	}
}
