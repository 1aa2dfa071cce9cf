// Package pkcs11 is the hsm backend for PKCS#11 tokens, built on ThalesGroup/crypto11.
//
// # Build
//
// The backend needs cgo. The real implementation is compiled with the build constraint
// "cgo && !nopkcs11"; otherwise a stub is compiled whose Open fails with an error wrapping
// hsm.ErrNotSupported ("compiled without cgo or PKCS#11 support"), so that pure-Go builds of
// dssd still compile and fail loudly at run time.
//
// # Keys and signers
//
// A KeyManager is bound to one token (Config.TokenLabel). Keys are found by CKA_LABEL and/or
// CKA_ID (hsm.KeyRef); exactly one private key must match, else hsm.ErrKeyNotFound. Found
// keys are cached per KeyRef, so a signature costs one C_SignInit/C_Sign pair and no object
// search. Every signer is wrapped with hsm.Guard: the digest is checked before the token is
// called and each signature is verified with the public key before it is returned. ECDSA
// signatures are ASN.1 DER (crypto.Signer semantics); RSA-PSS always uses a salt as long as
// the hash.
//
// # Deadlines
//
// crypto.Signer.Sign has no context, so each PKCS#11 call runs in a worker goroutine and the
// caller waits at most Config.SignTimeout (which includes up to Config.PoolWaitTimeout spent
// waiting for a free session). When the deadline passes the caller gets hsm.ErrUnavailable and
// the backend is marked down; the abandoned worker finishes in the background (crypto11 then
// returns its session to the pool). At most MaxSessions workers can be stuck in the token at
// once, because every other call times out waiting for a session.
//
// # Faults
//
// PKCS#11 return codes (github.com/miekg/pkcs11 Error values inside crypto11's errors) are
// classified into the hsm sentinels, following docs hardening.md §5:
//
//   - session or object handle invalid: the cached key is dropped, looked up again and the
//     call retried once; a second failure marks the backend down (crypto11 cannot evict a
//     pooled session, only a new context clears its pool), hsm.ErrSessionInvalid;
//   - device, token or library failures (and CKR_USER_NOT_LOGGED_IN, which needs a new login):
//     the backend is marked down, callers fail fast with hsm.ErrUnavailable, Health reports
//     not ready, and one background goroutine closes the crypto11 context and configures a
//     new one with exponential backoff (0.5 s doubling to 30 s) until it succeeds;
//   - resource shortage (no free session within PoolWaitTimeout, CKR_DEVICE_MEMORY,
//     CKR_SESSION_COUNT): hsm.ErrUnavailable, the backend stays up;
//   - PIN refused or locked: hsm.ErrLogin, never retried (a retry loop would lock the token);
//     a rebuild that meets a PIN error stops and leaves the backend down;
//   - anything else (e.g. CKR_MECHANISM_INVALID): returned wrapped, unclassified.
//
// # Processes and modules
//
// crypto11 loads a module once per process and path, and only finalises it when the last
// context using it is closed. Open one KeyManager per module and token, and Close it before
// opening another on the same module. SoftHSM2 reads SOFTHSM2_CONF when the module is
// initialised: set it before Open (see package hsm/softhsm).
package pkcs11
