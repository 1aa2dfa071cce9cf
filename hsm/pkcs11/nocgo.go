//go:build !cgo || nopkcs11

package pkcs11

import (
	"context"
	"crypto"
	"fmt"

	"dssd/hsm"
)

// errNoSupport is returned by every operation of this build.
var errNoSupport = fmt.Errorf("pkcs11: %w: compiled without cgo or PKCS#11 support", hsm.ErrNotSupported)

// KeyManager is the PKCS#11 backend. In this build (no cgo, or the nopkcs11 tag) it cannot be
// opened.
type KeyManager struct{}

var (
	_ hsm.KeyManager    = (*KeyManager)(nil)
	_ hsm.KeyCreator    = (*KeyManager)(nil)
	_ hsm.HealthChecker = (*KeyManager)(nil)
)

// Open always fails in this build with an error wrapping hsm.ErrNotSupported.
func Open(ctx context.Context, cfg Config) (*KeyManager, error) {
	return nil, errNoSupport
}

// Signer fails with hsm.ErrNotSupported.
func (*KeyManager) Signer(context.Context, hsm.KeyRef) (crypto.Signer, error) {
	return nil, errNoSupport
}

// CreateKey fails with hsm.ErrNotSupported.
func (*KeyManager) CreateKey(context.Context, hsm.KeyRef, hsm.KeyAlgorithm) (crypto.Signer, error) {
	return nil, errNoSupport
}

// Health fails with hsm.ErrNotSupported.
func (*KeyManager) Health(context.Context) error { return errNoSupport }

// Ready fails with hsm.ErrNotSupported.
func (*KeyManager) Ready(context.Context) error { return errNoSupport }

// Close does nothing.
func (*KeyManager) Close() error { return nil }
