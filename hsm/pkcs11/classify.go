//go:build cgo && !nopkcs11

package pkcs11

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
	"github.com/thales-e-security/pool"

	"dssd/hsm"
)

// errClass groups PKCS#11 failures by what the backend does about them (hardening.md §5).
type errClass int

const (
	classOther    errClass = iota // request errors and anything unknown: returned as is
	classSession                  // stale session or object handle: evict, look up, retry once
	classDevice                   // device, token or library gone: mark down, rebuild in the background
	classResource                 // temporarily out of sessions or memory: fail fast, stay up
	classLogin                    // PIN refused or locked: never retried
)

func classOf(code pkcs11.Error) errClass {
	switch code {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID:
		return classSession
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, pkcs11.CKR_GENERAL_ERROR,
		pkcs11.CKR_SLOT_ID_INVALID,
		// The token logged us out: only a new context logs in again (once; a refused PIN
		// then stops the rebuild).
		pkcs11.CKR_USER_NOT_LOGGED_IN:
		return classDevice
	case pkcs11.CKR_DEVICE_MEMORY, pkcs11.CKR_HOST_MEMORY, pkcs11.CKR_SESSION_COUNT:
		return classResource
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE,
		pkcs11.CKR_PIN_EXPIRED, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		return classLogin
	}
	return classOther
}

// classify maps the error of a call made on the context of generation gen to the hsm
// sentinels, marking the backend down for device failures. PKCS#11 codes are found with
// errors.As through crypto11's wrapping.
func (km *KeyManager) classify(gen uint64, err error) error {
	if err == nil {
		return nil
	}
	var code pkcs11.Error
	if errors.As(err, &code) {
		switch classOf(code) {
		case classSession:
			return fmt.Errorf("%w: %w", hsm.ErrSessionInvalid, err)
		case classDevice:
			e := fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
			km.markDown(gen, e)
			return e
		case classResource:
			return fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
		case classLogin:
			return fmt.Errorf("%w: %w", hsm.ErrLogin, err)
		}
		return fmt.Errorf("pkcs11: %w", err)
	}
	if errors.Is(err, pool.ErrTimeout) {
		return fmt.Errorf("%w: no free session within %s: %w", hsm.ErrUnavailable, km.cfg.PoolWaitTimeout, err)
	}
	km.mu.Lock()
	stale := gen != km.gen
	km.mu.Unlock()
	if stale || errors.Is(err, pool.ErrClosed) {
		// The context was closed under the call (rebuild or Close); crypto11 reports that
		// with unexported errors.
		return fmt.Errorf("%w: context closed during the call: %w", hsm.ErrUnavailable, err)
	}
	return fmt.Errorf("pkcs11: %w", err)
}

// isBusy reports whether err says that no session became free within PoolWaitTimeout.
func isBusy(err error) bool { return errors.Is(err, pool.ErrTimeout) }

// classifyConfigure maps an error of crypto11.Configure. Error texts name the token, never the PIN.
func (km *KeyManager) classifyConfigure(err error) error {
	var code pkcs11.Error
	if errors.As(err, &code) {
		switch classOf(code) {
		case classLogin:
			return fmt.Errorf("%w: token %q: %w", hsm.ErrLogin, km.cfg.TokenLabel, err)
		case classDevice, classResource, classSession:
			return fmt.Errorf("%w: token %q: %w", hsm.ErrUnavailable, km.cfg.TokenLabel, err)
		}
	}
	return fmt.Errorf("pkcs11: open token %q: %w", km.cfg.TokenLabel, err)
}
