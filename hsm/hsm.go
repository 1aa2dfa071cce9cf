// Package hsm is the contract between dssd and the devices that hold signing keys.
//
// A KeyManager hands out crypto.Signer values for keys named by a KeyRef (an RFC 7512
// "pkcs11:" URI). Callers never see PKCS#11 sessions or handles. Backends live in sibling
// packages (hsm/pkcs11, hsm/soft); this package imports only the standard library.
//
// Every signer returned by a backend is wrapped with Guard, which checks the hash and the
// digest length before the device is called and verifies each signature with the public key
// before it is returned, so a device fault can never produce an unverified signature.
package hsm

import (
	"context"
	"crypto"
	"errors"
)

// Sentinel errors. Backends classify device failures into these so that callers can map them
// without knowing PKCS#11 return codes.
var (
	// ErrKeyNotFound: no key (or more than one key) matches the KeyRef.
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrUnavailable: the device or the session pool cannot serve the request now (device
	// removed, pool wait timed out, context being rebuilt). Retrying later may succeed.
	ErrUnavailable = errors.New("hsm: device unavailable")
	// ErrSessionInvalid: a session or object handle went stale; the backend evicts it.
	ErrSessionInvalid = errors.New("hsm: session invalid")
	// ErrLogin: the PIN was refused or the token is locked. Never retried.
	ErrLogin = errors.New("hsm: login failed")
	// ErrInvalidDigest: the digest does not match the hash it claims (length, unknown hash).
	ErrInvalidDigest = errors.New("hsm: invalid digest")
	// ErrBadSignature: the device returned a signature that does not verify with the public key.
	ErrBadSignature = errors.New("hsm: device returned a signature that does not verify")
	// ErrNotSupported: the backend cannot do what was asked (e.g. built without cgo).
	ErrNotSupported = errors.New("hsm: not supported")
)

// KeyManager hands out signers for keys kept in a device.
type KeyManager interface {
	// Signer returns a signer for the key named by ref. The signer is safe for concurrent
	// use and checks and verifies every signature (see Guard).
	Signer(ctx context.Context, ref KeyRef) (crypto.Signer, error)
	// Close releases the device.
	Close() error
}

// KeyCreator is implemented by backends that can generate keys inside the device.
type KeyCreator interface {
	// CreateKey generates a non-extractable signing key pair labelled and identified as ref says.
	CreateKey(ctx context.Context, ref KeyRef, alg KeyAlgorithm) (crypto.Signer, error)
}

// HealthChecker is implemented by backends that can prove they work with a real operation.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// ReadyReporter is implemented by backends that probe themselves in the background: Ready
// answers from their state and most recent probe without calling the device, so a readiness
// check never waits behind signing requests.
type ReadyReporter interface {
	Ready(ctx context.Context) error
}

// KeyAlgorithm names a key type and size.
type KeyAlgorithm string

const (
	RSA2048 KeyAlgorithm = "RSA-2048"
	RSA3072 KeyAlgorithm = "RSA-3072"
	RSA4096 KeyAlgorithm = "RSA-4096"
	ECP256  KeyAlgorithm = "EC-P256"
	ECP384  KeyAlgorithm = "EC-P384"
)

// KeyRef names one key pair in a device, parsed from an RFC 7512 URI such as
// "pkcs11:token=dssd-dev;object=alice-rsa;id=%01". A backend is bound to one token; Token is
// checked against it when set. At least one of Label and ID is set.
type KeyRef struct {
	Token string // token label ("token" attribute)
	Label string // CKA_LABEL ("object" attribute)
	ID    []byte // CKA_ID ("id" attribute, percent-encoded bytes)
}
