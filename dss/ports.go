package dss

import (
	"context"
	"crypto"
	"crypto/x509"
	"time"
)

// Directory knows the signing credentials and who owns them. Implemented by the
// configuration loaded in cmd/dssd.
type Directory interface {
	// Credential returns the credential with the given id, or nil when there is none.
	Credential(id string) *Credential
	// CredentialsOf returns the credentials owned by user, in a stable order.
	CredentialsOf(user string) []*Credential
}

// Meter receives the service's measurements. The Prometheus implementation lives in
// dss/metrics; NoopMeter discards everything.
type Meter interface {
	// Signature counts one signing attempt for a document or hash.
	Signature(keyType, format, result string)
	// HSM records the latency of one device call and its error class ("ok" on success).
	HSM(keyType string, d time.Duration, class string)
	// SelfCheckFailed counts a produced signature that failed its own verification: an alert.
	SelfCheckFailed()
	// Activation counts one signature activation event (SCAL2).
	Activation(ev ActivationEvent)
}

// ActivationEvent names what happened to signature activation data (SAD).
type ActivationEvent string

const (
	SADIssued        ActivationEvent = "issued"         // Authorize issued a SAD
	SADConsumed      ActivationEvent = "consumed"       // a signing request used a SAD (once)
	SADRefused       ActivationEvent = "refused"        // a signing request carried a SAD that was refused
	ActivationFailed ActivationEvent = "factor_refused" // Authorize refused the PIN or OTP, a replayed OTP, or a locked credential
	CredentialLocked ActivationEvent = "lockout"        // this failure locked the credential (counted once per lockout)
)

// NoopMeter is a Meter that discards everything.
type NoopMeter struct{}

func (NoopMeter) Signature(string, string, string)  {}
func (NoopMeter) HSM(string, time.Duration, string) {}
func (NoopMeter) SelfCheckFailed()                  {}
func (NoopMeter) Activation(ActivationEvent)        {}

// Audit actions.
const (
	AuditAuthenticate = "authenticate" // a failed (or, when configured, successful) authentication
	AuditAuthorize    = "authorize"    // a signature activation (SAD) request
	AuditSign         = "sign"         // a signing request, successful or refused
	AuditSubmit       = "sign-submit"  // an asynchronous signing request accepted (Pending) or refused
	AuditKeyLookup    = "key-lookup"   // a request for a credential that is not the caller's
	AuditConfig       = "config"       // the service started with a configuration (its digest)
	AuditVerify       = "verify"       // a verification request refused (verifications themselves are not audited)
	AuditPending      = "pending"      // a PendingRequest refused
	AuditCredentials  = "credentials"  // a credential listing or description request refused
	AuditRequest      = "request"      // a request refused before its operation was known (unreadable, not DSS)

	// Operator actions (`dssd credential ...`, `dssd user ...`): User is the operator
	// ("os:NAME"), Via "cli"; refusals are recorded too.
	AuditCredentialCreate  = "credential-create"
	AuditCredentialImport  = "credential-import"
	AuditCredentialDisable = "credential-disable"
	AuditCredentialEnable  = "credential-enable"
	AuditCredentialUnlock  = "credential-unlock"
	AuditCredentialRotate  = "credential-rotate"
	AuditUserAdd           = "user-add"
	AuditUserToken         = "user-token"
	AuditUserDisable       = "user-disable"
	AuditUserEnable        = "user-enable"
)

// AuditEvent is one security-relevant event: who, what, with which credential and digests,
// with which result. It never carries document bytes, PINs, OTPs, SADs or tokens.
type AuditEvent struct {
	Time       time.Time
	RequestID  string // the client's RequestID, as sent (may be empty)
	ProblemRef string // the service's correlation id (ProblemReference, log line)
	User       string // authenticated user; empty when authentication failed
	Via        string // "token", "certificate", or empty
	Action     string // one of the Audit* constants
	Credential string
	Digests    []string // "<hash name>:<hex>" of each hash signed or authorised
	Major      string   // result
	Minor      string
	Detail     string // internal, client-unsafe detail is fine here; secrets are not
}

// AuditSink records audit events. Append returns only after the event is durably stored;
// an error means it was not, and the caller must not release a signature.
type AuditSink interface {
	Append(ctx context.Context, ev AuditEvent) error
}

type discardAudit struct{}

func (discardAudit) Append(context.Context, AuditEvent) error { return nil }

// Timestamper obtains RFC 3161 timestamp tokens over a digest (dss/tsp implements it). The
// returned token is a DER TimeStampToken (CMS ContentInfo), already verified: its imprint
// matches, its nonce matched and its TSA certificate chains to a configured anchor.
type Timestamper interface {
	Timestamp(ctx context.Context, h crypto.Hash, digest []byte) (token []byte, err error)
}

// RevocationSource fetches revocation material (dss/revocation implements it).
type RevocationSource interface {
	// Validation returns, for every certificate of chain except a self-signed anchor, the
	// DER OCSP responses and CRLs that show its status at the time of the call. It fails
	// with an error wrapping verify.ErrRevoked when one of them is revoked. When fresh is not nil,
	// every "good" answer returned satisfies it (a cached answer that does not is fetched
	// again; without a fresh answer the status is unavailable): B-LT embeds only data the
	// verifier will count as fresh (levels.go).
	Validation(ctx context.Context, chain []*x509.Certificate, fresh func(thisUpdate, nextUpdate time.Time) bool) (ocsp [][]byte, crls [][]byte, err error)
}

// ReplayStore makes signature activation data single-use across every node sharing it.
type ReplayStore interface {
	// Consume records the use of the SAD with this id; it returns false when the id was
	// used before (on any node). notAfter is the SAD's expiry: the record may be purged after it.
	Consume(ctx context.Context, id string, notAfter time.Time) (bool, error)
}

// LockoutStore counts failed activation attempts (wrong PIN or OTP) per credential, shared by
// every node and surviving restarts.
type LockoutStore interface {
	// RecordFailure adds one failure and returns the number of consecutive failures.
	RecordFailure(ctx context.Context, credentialID string) (int, error)
	// Failures returns the number of consecutive failures.
	Failures(ctx context.Context, credentialID string) (int, error)
	// Reset clears the count after a successful activation.
	Reset(ctx context.Context, credentialID string) error
}
