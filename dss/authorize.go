package dss

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"dssd/dss/sad"
)

// AuthorizeRequest is a request for signature activation data (CSC credentials/authorize,
// interface.md §5).
type AuthorizeRequest struct {
	RequestID        string
	CredentialID     string
	NumSignatures    int
	Hashes           [][]byte // exactly what will be signed
	HashAlgorithmOID string   // 2.16.840.1.101.3.4.2.1 (SHA-256); "" means SHA-256
	PIN              string
	OTP              string
}

// Authorization is granted signature activation data.
type Authorization struct {
	SAD       string
	ExpiresIn int // seconds, 1..300
}

// DefaultMaxActivationFailures is the number of consecutive wrong PIN/OTP attempts after
// which a credential is locked.
const DefaultMaxActivationFailures = 5

// Authorize issues signature activation data for a SCAL2 credential of the caller
// (interface.md §5): the PIN and the TOTP must both be right, the credential must not be
// locked, and the OTP must not have been used before. The SAD binds the caller, the
// credential and exactly the given hashes. Every attempt is audited; no SAD is returned
// unless its audit record is stored.
//
// Lockout: each attempt first counts as a failure in the shared LockoutStore and a success
// resets the count, so that concurrent guesses on several nodes cannot exceed the limit.
// After MaxActivationFailures consecutive failures the credential stays locked (even the
// right PIN is refused) until an administrator resets it.
func (s *Service) Authorize(ctx context.Context, c Caller, req *AuthorizeRequest) (*Authorization, error) {
	ev := s.event(ctx, c, AuditAuthorize, req.RequestID, req.CredentialID)
	h := hashOfOID(req.HashAlgorithmOID)
	for _, d := range req.Hashes {
		ev.Digests = append(ev.Digests, digestString(h, d))
	}
	out, err := s.authorize(ctx, c, req, &ev)
	if err = s.record(ctx, &ev, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) authorize(ctx context.Context, c Caller, req *AuthorizeRequest, ev *AuditEvent) (*Authorization, error) {
	if req.CredentialID == "" {
		return nil, Errorf(KindKeyLookup, "credentialID is required")
	}
	cred, err := s.credential(c, req.CredentialID)
	if err != nil {
		return nil, err
	}
	f := cred.Factors
	if f == nil {
		f = s.factors[cred.ID]
	}
	if s.sad == nil || s.replay == nil || (cred.SCAL >= 2 && (s.lockout == nil || f == nil || f.PIN == nil || f.TOTP == nil)) {
		return nil, Wrap(KindInternal, fmt.Errorf("signature activation is not configured for %s", cred.ID), "")
	}
	h := hashOfOID(req.HashAlgorithmOID)
	if h == 0 {
		return nil, Errorf(KindHashAlgorithm, "hashAlgorithmOID %q is not SHA-256, SHA-384 or SHA-512", req.HashAlgorithmOID)
	}
	switch n := len(req.Hashes); {
	case n == 0:
		return nil, Errorf(KindMalformed, "hashes are required")
	case req.NumSignatures != n:
		return nil, Errorf(KindMalformed, "numSignatures is %d but %d hashes are given", req.NumSignatures, n)
	case n > s.maxDoc:
		return nil, Errorf(KindLimit, "%d hashes in one authorization; the limit is %d", n, s.maxDoc)
	}
	for i, d := range req.Hashes {
		if len(d) != h.Size() {
			return nil, Errorf(KindHashAlgorithm, "hash %d has %d bytes; %v needs %d", i+1, len(d), h, h.Size())
		}
	}
	now := s.clock()
	if cred.SCAL < 2 {
		// CSC v2 explicit mode for a SCAL1 credential (issue 13): the bearer token is the
		// authentication, no factor is asked; the SAD still binds the hashes and is single use.
		if req.PIN != "" || req.OTP != "" {
			return nil, Errorf(KindMalformed, "credential %s is SCAL1: it takes no PIN or OTP", cred.ID)
		}
		return s.issueSAD(c, cred, h, req.Hashes, now)
	}
	if req.PIN == "" || req.OTP == "" {
		return nil, Errorf(KindSADInvalid, "PIN and OTP are both required")
	}

	// A PIN check costs about 20 MiB and 30 ms (argon2id): bound how many run at once.
	select {
	case s.pinSlots <- struct{}{}:
		defer func() { <-s.pinSlots }()
	case <-ctx.Done():
		return nil, Wrap(KindInternal, ctx.Err(), "")
	}
	n, err := s.lockout.RecordFailure(ctx, cred.ID)
	if err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("lockout store: %w", err), "")
	}
	if n > s.maxFail {
		s.meter.Activation(ActivationFailed)
		ev.Detail = "credential locked"
		return nil, Errorf(KindSADInvalid, "credential %s is locked after %d failed activations", cred.ID, s.maxFail)
	}
	pinOK := f.PIN.Verify(req.PIN)
	step, otpOK := f.TOTP.Match(req.OTP, now)
	if !pinOK || !otpOK {
		switch {
		case !pinOK && !otpOK:
			ev.Detail = "wrong PIN and OTP"
		case !pinOK:
			ev.Detail = "wrong PIN"
		default:
			ev.Detail = "wrong OTP"
		}
		ev.Detail += fmt.Sprintf(" (failure %d of %d)", n, s.maxFail)
		s.meter.Activation(ActivationFailed)
		if n == s.maxFail {
			ev.Detail += "; credential now locked"
			s.meter.Activation(CredentialLocked)
		}
		return nil, Errorf(KindSADInvalid, "PIN or OTP refused")
	}
	// RFC 6238 §5.2: an OTP is accepted once. The step is remembered in the shared replay
	// store until it can no longer be valid.
	stepEnd := time.Unix((step+1+totpSkew)*totpPeriod, 0)
	fresh, err := s.replay.Consume(ctx, fmt.Sprintf("totp:%s:%d", cred.ID, step), stepEnd)
	if err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("replay store: %w", err), "")
	}
	if !fresh {
		ev.Detail = fmt.Sprintf("OTP replayed (failure %d of %d)", n, s.maxFail)
		s.meter.Activation(ActivationFailed)
		if n == s.maxFail {
			s.meter.Activation(CredentialLocked)
		}
		return nil, Errorf(KindSADInvalid, "this OTP was already used; wait for the next one")
	}
	if err := s.lockout.Reset(ctx, cred.ID); err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("lockout store: %w", err), "")
	}
	return s.issueSAD(c, cred, h, req.Hashes, now)
}

func (s *Service) issueSAD(c Caller, cred *Credential, h crypto.Hash, hashes [][]byte, now time.Time) (*Authorization, error) {
	tok, exp, err := s.sad.Issue(sad.Grant{User: c.User, Credential: cred.ID, Hash: h, Hashes: hashes})
	if err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	s.meter.Activation(SADIssued)
	secs := int(exp.Sub(now).Round(time.Second) / time.Second)
	secs = max(1, min(secs, int(sad.MaxTTL/time.Second)))
	return &Authorization{SAD: tok, ExpiresIn: secs}, nil
}
