package dss

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"dssd/dss/sad"
	"dssd/hsm"
)

// Config holds the Service's limits and collaborators. Zero values get safe defaults.
type Config struct {
	Keys      hsm.KeyManager
	Directory Directory
	Meter     Meter        // nil: NoopMeter
	Logger    *slog.Logger // nil: discard
	Clock     func() time.Time
	Rand      io.Reader // for signature ids; nil: crypto/rand

	Audit      AuditSink        // nil: events are discarded (tests only; serve always sets it)
	Timestamps Timestamper      // nil: levels B-T and above are refused
	Revocation RevocationSource // nil: levels B-LT and above are refused
	Replay     ReplayStore      // SAD single use; required for SCAL2 credentials
	Lockout    LockoutStore     // PIN/OTP failure counts; required for SCAL2 credentials

	// Signature activation of SCAL2 credentials (interface.md §5). Without SAD, Replay and
	// Lockout, SCAL2 credentials cannot be activated or used (every attempt is refused).
	SAD                   *sad.Authority      // issues and checks signature activation data
	Factors               map[string]*Factors // credential id → PIN and TOTP of each SCAL2 credential
	MaxActivationFailures int                 // consecutive wrong PIN/OTP before a credential locks; default 5

	MaxDocuments int // documents and hashes per request; default 16

	// MaxDocumentBytes is the size limit of an XML document to sign or verify (after base64
	// decoding); 0: xmlsafe.DefaultMaxDocumentBytes. Element limits follow it
	// (xmlsafe.DocumentLimitsFor).
	MaxDocumentBytes int64

	// The OAuth2 server of the CSC API (oauth2.go): users' password hashes for the sign-in
	// page, the shared list of revoked access tokens, and lifetimes (0: defaults).
	Passwords      map[string]*PINHash
	Revocations    RevocationList
	OAuth2CodeTTL  time.Duration
	OAuth2TokenTTL time.Duration
}

// Service is the binding-neutral signing service.
type Service struct {
	keys     hsm.KeyManager
	dir      Directory
	audit    AuditSink
	tsa      Timestamper
	rev      RevocationSource
	replay   ReplayStore
	lockout  LockoutStore
	meter    Meter
	log      *slog.Logger
	clock    func() time.Time
	rand     io.Reader
	maxDoc   int
	maxBytes int64 // Config.MaxDocumentBytes
	sad      *sad.Authority
	factors  map[string]*Factors
	maxFail  int
	pinSlots chan struct{} // bounds concurrent PIN checks

	passwords     map[string]*PINHash
	dummyPassword *PINHash
	revoked       RevocationList
	codeTTL       time.Duration
	tokenTTL      time.Duration

	mu      sync.Mutex
	signers map[string]crypto.Signer // credential id → signer (key handles cached by the backend)

	verify verifyState // the verifier (verifysvc.go)

	async *asyncState // asynchronous processing (async.go); nil: not enabled
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Keys == nil || cfg.Directory == nil {
		return nil, errors.New("dss: key manager and directory are required")
	}
	s := &Service{
		keys: cfg.Keys, dir: cfg.Directory, meter: cfg.Meter, log: cfg.Logger,
		audit: cfg.Audit, tsa: cfg.Timestamps, rev: cfg.Revocation,
		replay: cfg.Replay, lockout: cfg.Lockout,
		clock: cfg.Clock, rand: cfg.Rand, maxDoc: cfg.MaxDocuments, maxBytes: cfg.MaxDocumentBytes,
		sad: cfg.SAD, factors: cfg.Factors, maxFail: cfg.MaxActivationFailures,
		signers: map[string]crypto.Signer{}, pinSlots: make(chan struct{}, maxPINChecks),
	}
	s.passwords, s.revoked, s.codeTTL, s.tokenTTL = cfg.Passwords, cfg.Revocations, cfg.OAuth2CodeTTL, cfg.OAuth2TokenTTL
	if s.codeTTL <= 0 {
		s.codeTTL = DefaultOAuth2CodeTTL
	}
	if s.tokenTTL <= 0 || s.tokenTTL > maxOAuth2TokenTTL {
		s.tokenTTL = DefaultOAuth2TokenTTL
	}
	if len(s.passwords) > 0 {
		var err error
		if s.dummyPassword, err = NewPINHash([]byte("no such user"), cfg.Rand); err != nil {
			return nil, err
		}
	}
	if s.maxFail <= 0 {
		s.maxFail = DefaultMaxActivationFailures
	}
	if s.audit == nil {
		s.audit = discardAudit{}
	}
	if s.meter == nil {
		s.meter = NoopMeter{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.maxDoc <= 0 {
		s.maxDoc = 16
	}
	return s, nil
}

// Credentials returns the caller's credentials.
func (s *Service) Credentials(c Caller) []*Credential {
	return s.dir.CredentialsOf(c.User)
}

// Credential returns the caller's credential with the given id, a disabled one included (to
// describe it); unknown and foreign credentials are the same KindKeyLookup error, and that
// refusal is audited.
func (s *Service) Credential(c Caller, id string) (*Credential, error) {
	if id == "" {
		return nil, Errorf(KindKeyLookup, "credential id is required")
	}
	cred, err := s.lookup(c, id)
	if err != nil {
		ev := s.event(context.Background(), c, AuditKeyLookup, "", id)
		return nil, s.record(context.Background(), &ev, err)
	}
	return cred, nil
}

// credential resolves the credential a request selects. Unknown and foreign credentials get
// the same answer, so that credential ids cannot be probed.
func (s *Service) credential(c Caller, id string) (*Credential, error) {
	if id == "" {
		own := s.dir.CredentialsOf(c.User)
		if len(own) != 1 {
			return nil, Errorf(KindKeyLookup, "KeySelector/KeyName is required: the user has %d credentials", len(own))
		}
		return usable(own[0])
	}
	cred, err := s.lookup(c, id)
	if err != nil {
		return nil, err
	}
	return usable(cred)
}

// lookup returns the caller's credential id, disabled or not.
func (s *Service) lookup(c Caller, id string) (*Credential, error) {
	cred := s.dir.Credential(id)
	if cred == nil || cred.Owner != c.User || c.User == "" {
		return nil, &Error{Kind: KindKeyLookup, Err: fmt.Errorf("credential %q requested by user %q", id, c.User)}
	}
	return cred, nil
}

// usable refuses a disabled credential. Only its owner gets this answer (the ownership check
// comes first), so it reveals nothing about other users' credentials.
func usable(cred *Credential) (*Credential, error) {
	if cred.Disabled {
		return nil, &Error{Kind: KindCredentialDisabled, Err: fmt.Errorf("credential %q is disabled", cred.ID)}
	}
	return cred, nil
}

func (s *Service) signer(ctx context.Context, cred *Credential, ref hsm.KeyRef) (crypto.Signer, error) {
	// Keyed by credential and key: a rotated credential (a new Ref under the same id) gets
	// the new key's signer.
	name := cred.ID + "\x00" + ref.String()
	s.mu.Lock()
	sg := s.signers[name]
	s.mu.Unlock()
	if sg != nil {
		return sg, nil
	}
	sg, err := s.keys.Signer(ctx, ref)
	if err != nil {
		return nil, hsmError(err)
	}
	s.mu.Lock()
	s.signers[name] = sg
	s.mu.Unlock()
	return sg, nil
}

// hsmError maps an hsm failure to a Kind.
func hsmError(err error) error {
	switch {
	case errors.Is(err, hsm.ErrUnavailable), errors.Is(err, hsm.ErrSessionInvalid):
		return Wrap(KindHSMUnavailable, err, "")
	case errors.Is(err, hsm.ErrInvalidDigest):
		return Wrap(KindHashAlgorithm, err, "digest does not match its hash algorithm")
	default:
		return Wrap(KindInternal, err, "")
	}
}

// newID returns a fresh identifier for signature elements.
func (s *Service) newID(prefix string) (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", Wrap(KindInternal, err, "")
	}
	return prefix + hex.EncodeToString(b[:]), nil
}
