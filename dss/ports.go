package dss

import (
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
}

// NoopMeter is a Meter that discards everything.
type NoopMeter struct{}

func (NoopMeter) Signature(string, string, string)  {}
func (NoopMeter) HSM(string, time.Duration, string) {}
func (NoopMeter) SelfCheckFailed()                  {}
