//go:build !cgo || nopkcs11

package pkcs11

import (
	"context"
	"errors"
	"strings"
	"testing"

	"dssd/hsm"
)

func TestOpenWithoutCgo(t *testing.T) {
	km, err := Open(context.Background(), Config{TokenLabel: "x", PIN: "1234"})
	if km != nil || !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("Open = (%v, %v), want hsm.ErrNotSupported", km, err)
	}
	if !strings.Contains(err.Error(), "compiled without cgo or PKCS#11 support") {
		t.Errorf("error %q does not say why", err)
	}
	if strings.Contains(err.Error(), "1234") {
		t.Error("error repeats the PIN")
	}
}
