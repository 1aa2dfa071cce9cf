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
//     the backend is marked down, callers fail fast with hsm.ErrUnavailable, Health and Ready
//     report not ready, and one background goroutine closes the crypto11 context and tries to
//     configure a new one every Config.ProbeInterval (1 s, fixed: the backend is back within
//     about a second of the token's return however long it was away) until it succeeds and,
//     when a health key is configured, finds that key;
//   - a key that the current context found before and no longer finds: the token or its
//     storage failed (keys do not vanish from a working token), so it is handled as a device
//     failure (hsm.ErrUnavailable, rebuild), not as hsm.ErrKeyNotFound;
//   - resource shortage (no free session within PoolWaitTimeout, CKR_DEVICE_MEMORY,
//     CKR_SESSION_COUNT): hsm.ErrUnavailable, the backend stays up;
//   - PIN refused or locked: hsm.ErrLogin, never retried (a retry loop would lock the token);
//     a rebuild that meets a PIN error stops and leaves the backend down;
//   - anything else (e.g. CKR_MECHANISM_INVALID): returned wrapped, unclassified.
//
// Every change of state (StateDown, StateUp, StateLoginRefused) is logged (down and login
// refused at ERROR, up at WARN) and reported to Config.OnStateChange, which dssd counts in
// dssd_hsm_state_changes_total{state}.
//
// # Readiness
//
// While the backend is up, a background probe runs Health every ProbeInterval (a signature
// with the health key, or an object search). Ready answers from the state and that probe's
// last result without calling the token, so a readiness check never waits for a session
// behind signing requests; a probe that found no free session (a busy token) does not count
// as a failure. The probe also finds a dead token when no client is signing.
//
// # Processes and modules
//
// crypto11 loads a module once per process and path, and only finalises it when the last
// context using it is closed. Open one KeyManager per module and token, and Close it before
// opening another on the same module. SoftHSM2 reads SOFTHSM2_CONF when the module is
// initialised: set it before Open (see package hsm/softhsm).
package pkcs11
