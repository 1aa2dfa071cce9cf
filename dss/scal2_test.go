package dss

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"dssd/dss/sad"
	"dssd/hsm"
)

// In-memory fakes of the store ports.

type memAudit struct {
	mu  sync.Mutex
	evs []AuditEvent
	err error
}

func (m *memAudit) Append(_ context.Context, ev AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.evs = append(m.evs, ev)
	return nil
}

func (m *memAudit) events() []AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuditEvent(nil), m.evs...)
}

func (m *memAudit) last(t *testing.T) AuditEvent {
	t.Helper()
	evs := m.events()
	if len(evs) == 0 {
		t.Fatal("no audit event")
	}
	return evs[len(evs)-1]
}

type memReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memReplay) Consume(_ context.Context, id string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[id] {
		return false, nil
	}
	m.seen[id] = true
	return true, nil
}

type memLockout struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *memLockout) RecordFailure(_ context.Context, id string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[id]++
	return m.n[id], nil
}

func (m *memLockout) Failures(_ context.Context, id string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[id], nil
}

func (m *memLockout) Reset(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.n, id)
	return nil
}

const (
	canaryPIN    = "CANARY-PIN-4711"
	canarySecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // base32 TOTP secret
)

// scal2 is a Service with SCAL2 credentials, in-memory stores, a settable clock and a log buffer.
type scal2 struct {
	svc     *Service
	audit   *memAudit
	replay  *memReplay
	lockout *memLockout
	signers map[string]*countingSigner
	now     time.Time
	mu      sync.Mutex
	log     *bytes.Buffer
	logMu   sync.Mutex
	keys    map[string]crypto.Signer
}

func (f *scal2) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *scal2) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *scal2) calls() int64 {
	var n int64
	for _, s := range f.signers {
		n += s.calls.Load()
	}
	return n
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

var (
	testKeysOnce sync.Once
	testRSA      *rsa.PrivateKey
	testEC       *ecdsa.PrivateKey
)

func newSCAL2(t *testing.T) *scal2 {
	t.Helper()
	testKeysOnce.Do(func() {
		testRSA, _ = rsa.GenerateKey(rand.Reader, 2048)
		testEC, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	f := &scal2{
		audit: &memAudit{}, replay: &memReplay{}, lockout: &memLockout{},
		signers: map[string]*countingSigner{}, log: &bytes.Buffer{},
		now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
	}
	keys, dir := keyMap{}, dirMap{}
	add := func(id, owner, keyType string, scal int, k crypto.Signer) {
		cs := &countingSigner{Signer: hsm.Guard(k)}
		f.signers[id] = cs
		keys[id] = cs
		dir[id] = &Credential{ID: id, Owner: owner, Key: keyType, SCAL: scal, Ref: hsm.KeyRef{Label: id}, Chain: []*x509.Certificate{selfSigned(t, k, id)}}
	}
	add("alice-rsa", "alice", "RSA-2048", 1, testRSA)
	add("alice-ec", "alice", "EC-P256", 1, testEC)
	add("alice-qes", "alice", "RSA-2048", 2, testRSA)
	add("alice-qes2", "alice", "EC-P256", 2, testEC)
	add("bob-rsa", "bob", "RSA-2048", 1, testRSA)
	factors := map[string]*Factors{}
	for _, id := range []string{"alice-qes", "alice-qes2"} {
		ph, err := NewPINHash([]byte(canaryPIN), nil)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := NewTOTP(canarySecret)
		if err != nil {
			t.Fatal(err)
		}
		factors[id] = &Factors{PIN: ph, TOTP: tp}
	}
	auth, err := sad.New(sad.Config{Key: bytes.Repeat([]byte{7}, 32), TTL: 2 * time.Minute, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&f.logMu, f.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.svc, err = New(Config{
		Keys: keys, Directory: dir, MaxDocuments: 4, Clock: f.clock, Logger: logger,
		Audit: f.audit, Replay: f.replay, Lockout: f.lockout,
		SAD: auth, Factors: factors, MaxActivationFailures: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// otpAt is the TOTP code of the test secret for the time step at t.
func otpAt(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(canarySecret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sum256(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

// authorize gets a SAD for the SHA-256 of docs, with a fresh OTP step each time.
func (f *scal2) authorize(t *testing.T, cred string, hashes ...[]byte) string {
	t.Helper()
	f.advance(30 * time.Second) // a new OTP step
	a, err := f.svc.Authorize(context.Background(), alice, &AuthorizeRequest{
		CredentialID: cred, NumSignatures: len(hashes), Hashes: hashes, PIN: canaryPIN, OTP: otpAt(t, f.clock()),
	})
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if a.ExpiresIn != 120 || strings.Count(a.SAD, ".") != 2 {
		t.Fatalf("authorization %+v", a)
	}
	return a.SAD
}

func withSAD(user, token string) *ClaimedIdentity {
	return &ClaimedIdentity{Name: user, SupportingInfo: []byte(token), SupportingInfoMimeType: MimeSAD}
}

func wantKind(t *testing.T, err error, k Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded, want %v", k)
	}
	if got := KindOf(err); got != k {
		t.Fatalf("error %v (kind %v), want kind %v", err, got, k)
	}
}

func TestPINHash(t *testing.T) {
	p, err := NewPINHash([]byte("123456"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify("123456") || p.Verify("123457") || p.Verify("") {
		t.Fatal("Verify accepts a wrong PIN or refuses the right one")
	}
	phc := p.String()
	if !IsPINHash(phc) || strings.Contains(phc, "123456") {
		t.Fatalf("PHC form %q", phc)
	}
	q, err := ParsePINHash(phc)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Verify("123456") || q.Verify("654321") {
		t.Fatal("parsed hash does not verify like the original")
	}
	for _, bad := range []string{
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1,x=3$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"123456",
	} {
		if _, err := ParsePINHash(bad); err == nil {
			t.Errorf("ParsePINHash(%q) succeeded", bad)
		}
	}
	if _, err := NewPINHash(nil, nil); err == nil {
		t.Error("empty PIN accepted")
	}
}

// TestTOTPVectors uses RFC 6238 Appendix B (SHA-1 seed "12345678901234567890"), truncated
// to six digits.
func TestTOTPVectors(t *testing.T) {
	tp, err := NewTOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		at   int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		step, ok := tp.Match(v.code, time.Unix(v.at, 0))
		if !ok || step != v.at/30 {
			t.Errorf("T=%d %s: step %d ok %v", v.at, v.code, step, ok)
		}
	}
	if _, ok := tp.Match("287082", time.Unix(59+30, 0)); !ok {
		t.Error("a code one step old is refused (RFC 6238 allows one step of drift)")
	}
	if _, ok := tp.Match("287082", time.Unix(59+61, 0)); ok {
		t.Error("a code two steps old is accepted")
	}
	for _, bad := range []string{"", "28708", "2870821", "abcdef"} {
		if _, ok := tp.Match(bad, time.Unix(59, 0)); ok {
			t.Errorf("Match(%q) accepted", bad)
		}
	}
	if _, err := NewTOTP("short"); err == nil {
		t.Error("a short secret is accepted")
	}
}

func TestAuthorizeAndSignSCAL2(t *testing.T) {
	f := newSCAL2(t)
	ctx := WithProblemRef(context.Background(), "pr-1")
	d1, d2 := doc("d1"), Document{ID: "d2", RefURI: "urn:d2", HasRefURI: true, Data: []byte("second")}
	d1.HasRefURI, d1.RefURI = true, "urn:d1"
	tok := f.authorize(t, "alice-qes", sum256(d2.Data), sum256(d1.Data)) // order does not matter
	req := &SignRequest{RequestID: "req-7", Documents: []Document{d1, d2}, Options: SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok)}}
	resp, err := f.svc.Sign(ctx, alice, req)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if len(resp.Signatures) != 2 {
		t.Fatalf("%d signatures", len(resp.Signatures))
	}
	ev := f.audit.last(t)
	want := []string{"sha256:" + hex.EncodeToString(sum256(d1.Data)), "sha256:" + hex.EncodeToString(sum256(d2.Data))}
	if ev.Action != AuditSign || ev.Major != MajorSuccess || ev.User != "alice" || ev.Credential != "alice-qes" ||
		ev.RequestID != "req-7" || ev.ProblemRef != "pr-1" || strings.Join(ev.Digests, ",") != strings.Join(want, ",") || ev.Time.IsZero() {
		t.Errorf("audit event %+v", ev)
	}
	// Replay: refused, audited, no device call.
	before := f.calls()
	_, err = f.svc.Sign(ctx, alice, req)
	wantKind(t, err, KindSADInvalid)
	if !strings.Contains(err.Error(), "already used") {
		t.Errorf("replay error %v", err)
	}
	if f.calls() != before {
		t.Error("a replayed SAD reached the signer")
	}
	if ev := f.audit.last(t); ev.Major != MajorRequesterError || ev.Minor != MinorSADInvalid {
		t.Errorf("replay audit %+v", ev)
	}
}

func TestSCAL2Refusals(t *testing.T) {
	f := newSCAL2(t)
	ctx := context.Background()
	d := Document{ID: "d", RefURI: "urn:d", HasRefURI: true, Data: []byte("approved")}
	other := Document{ID: "o", RefURI: "urn:o", HasRefURI: true, Data: []byte("something else")}
	tok := f.authorize(t, "alice-qes", sum256(d.Data))
	tokEC := f.authorize(t, "alice-qes2", sum256(d.Data))
	expired := f.authorize(t, "alice-qes", sum256(d.Data))
	otherAuth, _ := sad.New(sad.Config{Key: bytes.Repeat([]byte{8}, 32), Clock: f.clock})
	forged, _, _ := otherAuth.Issue(sad.Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{sum256(d.Data)}})
	bob := Caller{User: "bob", Via: "token"}
	opts := func(cred string, ci *ClaimedIdentity) SignOptions {
		return SignOptions{CredentialID: cred, ClaimedIdentity: ci}
	}

	tests := []struct {
		name   string
		caller Caller
		req    SignRequest
		kind   Kind
		action string
	}{
		{"no SAD", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", nil)}, KindSADInvalid, AuditSign},
		{"claimed identity without SAD", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", &ClaimedIdentity{Name: "alice"})}, KindSADInvalid, AuditSign},
		{"garbage", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("alice", "garbage"))}, KindSADInvalid, AuditSign},
		{"forged (other key)", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("alice", forged))}, KindSADInvalid, AuditSign},
		{"wrong mime type", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", &ClaimedIdentity{Name: "alice", SupportingInfo: []byte(tok), SupportingInfoMimeType: "text/plain"})}, KindSADInvalid, AuditSign},
		{"no name", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("", tok))}, KindSADInvalid, AuditSign},
		{"other hashes", alice, SignRequest{Documents: []Document{other}, Options: opts("alice-qes", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"more signatures than authorised", alice, SignRequest{Documents: []Document{d, other}, Options: opts("alice-qes", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"same document twice", alice, SignRequest{Documents: []Document{d, {ID: "d2", RefURI: "urn:d2", HasRefURI: true, Data: d.Data}}, Options: opts("alice-qes", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"other credential", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes2", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"another user's credential", bob, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("bob", tok))}, KindKeyLookup, AuditKeyLookup},
		{"another user's SAD on own credential", bob, SignRequest{Documents: []Document{d}, Options: opts("bob-rsa", withSAD("bob", tok))}, KindSADInvalid, AuditSign},
		{"claimed identity of another user", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("bob", tok))}, KindNotAuthenticated, AuditSign},
		{"SAD on a SCAL1 credential", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-rsa", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"hash signing with a document SAD of other hashes", alice, SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{Method: "SHA-256", Value: sum256(other.Data)}}}}, Options: opts("alice-qes", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"hash signing with another hash algorithm", alice, SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{Method: "SHA-512", Value: make([]byte, 64)}}}}, Options: opts("alice-qes", withSAD("alice", tok))}, KindSADInvalid, AuditSign},
		{"expired", alice, SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("alice", expired))}, KindSADInvalid, AuditSign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "expired" {
				f.advance(2*time.Minute + 10*time.Second)
			}
			before, nev := f.calls(), len(f.audit.events())
			resp, err := f.svc.Sign(ctx, tt.caller, &tt.req)
			if resp != nil {
				t.Fatal("a response came back")
			}
			wantKind(t, err, tt.kind)
			if f.calls() != before {
				t.Error("a refused request reached the signer")
			}
			evs := f.audit.events()
			if len(evs) != nev+1 {
				t.Fatalf("%d audit events, want exactly one", len(evs)-nev)
			}
			if ev := evs[nev]; ev.Action != tt.action || ev.Major != MajorRequesterError || ev.User != tt.caller.User || len(ev.Digests) == 0 {
				t.Errorf("audit event %+v", ev)
			}
		})
	}
	// None of the refusals consumed the SADs: they still work once (the expired one does not).
	f.now = f.now.Add(-2*time.Minute - 10*time.Second)
	if _, err := f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{d}, Options: opts("alice-qes", withSAD("alice", tok))}); err != nil {
		t.Fatalf("the SAD no longer works after refused uses: %v", err)
	}
	if _, err := f.svc.Sign(ctx, alice, &SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{Method: "2.16.840.1.101.3.4.2.1", Value: sum256(d.Data)}}}}, Options: opts("alice-qes2", withSAD("alice", tokEC))}); err != nil {
		t.Fatalf("hash signing with a SAD: %v", err)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	f := newSCAL2(t)
	ctx := context.Background()
	h := sum256([]byte("x"))
	ok := func() *AuthorizeRequest {
		return &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1, Hashes: [][]byte{h}, PIN: canaryPIN, OTP: otpAt(t, f.clock())}
	}
	mod := func(m func(*AuthorizeRequest)) *AuthorizeRequest { r := ok(); m(r); return r }
	tests := []struct {
		name   string
		caller Caller
		req    *AuthorizeRequest
		kind   Kind
		action string
	}{
		{"another user's credential", Caller{User: "bob"}, ok(), KindKeyLookup, AuditKeyLookup},
		{"unknown credential", alice, mod(func(r *AuthorizeRequest) { r.CredentialID = "nope" }), KindKeyLookup, AuditKeyLookup},
		{"no credential", alice, mod(func(r *AuthorizeRequest) { r.CredentialID = "" }), KindKeyLookup, AuditAuthorize},
		{"scal1 credential with a PIN", alice, mod(func(r *AuthorizeRequest) { r.CredentialID = "alice-rsa" }), KindMalformed, AuditAuthorize},
		{"count mismatch", alice, mod(func(r *AuthorizeRequest) { r.NumSignatures = 2 }), KindMalformed, AuditAuthorize},
		{"no hashes", alice, mod(func(r *AuthorizeRequest) { r.Hashes, r.NumSignatures = nil, 0 }), KindMalformed, AuditAuthorize},
		{"too many hashes", alice, mod(func(r *AuthorizeRequest) { r.Hashes = [][]byte{h, h, h, h, h}; r.NumSignatures = 5 }), KindLimit, AuditAuthorize},
		{"short hash", alice, mod(func(r *AuthorizeRequest) { r.Hashes = [][]byte{h[:20]} }), KindHashAlgorithm, AuditAuthorize},
		{"sha1 oid", alice, mod(func(r *AuthorizeRequest) { r.HashAlgorithmOID = "1.3.14.3.2.26" }), KindHashAlgorithm, AuditAuthorize},
		{"no OTP", alice, mod(func(r *AuthorizeRequest) { r.OTP = "" }), KindSADInvalid, AuditAuthorize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(f.audit.events())
			a, err := f.svc.Authorize(ctx, tt.caller, tt.req)
			if a != nil {
				t.Fatal("a SAD was issued")
			}
			wantKind(t, err, tt.kind)
			evs := f.audit.events()
			if len(evs) != n+1 || evs[n].Action != tt.action || evs[n].Major != MajorRequesterError {
				t.Fatalf("audit events %+v", evs[n:])
			}
		})
	}
	if n, _ := f.lockout.Failures(ctx, "alice-qes"); n != 0 {
		t.Errorf("malformed requests counted %d activation failures", n)
	}
	// An OTP is accepted once.
	f.advance(30 * time.Second)
	r := ok()
	if _, err := f.svc.Authorize(ctx, alice, r); err != nil {
		t.Fatal(err)
	}
	r2 := *r
	_, err := f.svc.Authorize(ctx, alice, &r2)
	wantKind(t, err, KindSADInvalid)
	if ev := f.audit.last(t); !strings.Contains(ev.Detail, "OTP replayed") {
		t.Errorf("OTP replay audit detail %q", ev.Detail)
	}
	// A previous-step OTP is still fine once.
	prev := ok()
	prev.OTP = otpAt(t, f.clock().Add(-30*time.Second))
	if _, err := f.svc.Authorize(ctx, alice, prev); err != nil {
		t.Errorf("the previous step's OTP: %v", err)
	}
}

func TestAuthorizeLockout(t *testing.T) {
	f := newSCAL2(t) // MaxActivationFailures: 3
	ctx := context.Background()
	req := func(pin, code string) *AuthorizeRequest {
		return &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1, Hashes: [][]byte{sum256([]byte("x"))}, PIN: pin, OTP: code}
	}
	// Two failures, then success: the count resets.
	for _, r := range []*AuthorizeRequest{req("0000", otpAt(t, f.clock())), req(canaryPIN, "000000")} {
		_, err := f.svc.Authorize(ctx, alice, r)
		wantKind(t, err, KindSADInvalid)
	}
	f.advance(30 * time.Second)
	if _, err := f.svc.Authorize(ctx, alice, req(canaryPIN, otpAt(t, f.clock()))); err != nil {
		t.Fatalf("right PIN after two failures: %v", err)
	}
	if n, _ := f.lockout.Failures(ctx, "alice-qes"); n != 0 {
		t.Fatalf("failures after a success: %d", n)
	}
	// Three wrong PINs lock the credential; the right PIN and OTP are then refused.
	for i := 1; i <= 3; i++ {
		_, err := f.svc.Authorize(ctx, alice, req(fmt.Sprintf("wrong-%d", i), otpAt(t, f.clock())))
		wantKind(t, err, KindSADInvalid)
		ev := f.audit.last(t)
		if !strings.Contains(ev.Detail, "wrong PIN") || ev.Action != AuditAuthorize {
			t.Errorf("attempt %d audit %+v", i, ev)
		}
	}
	if ev := f.audit.last(t); !strings.Contains(ev.Detail, "now locked") {
		t.Errorf("the third failure does not say the credential is locked: %q", ev.Detail)
	}
	f.advance(30 * time.Second)
	a, err := f.svc.Authorize(ctx, alice, req(canaryPIN, otpAt(t, f.clock())))
	wantKind(t, err, KindSADInvalid)
	if a != nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("locked credential: %v", err)
	}
	if ev := f.audit.last(t); !strings.Contains(ev.Detail, "locked") {
		t.Errorf("lockout audit %+v", ev)
	}
	// The other credential is not affected.
	if _, err := f.svc.Authorize(ctx, alice, &AuthorizeRequest{CredentialID: "alice-qes2", NumSignatures: 1, Hashes: [][]byte{sum256([]byte("x"))}, PIN: canaryPIN, OTP: otpAt(t, f.clock())}); err != nil {
		t.Errorf("another credential: %v", err)
	}
}

// TestLockoutConcurrentGuesses: concurrent wrong guesses cannot exceed the limit.
func TestLockoutConcurrentGuesses(t *testing.T) {
	f := newSCAL2(t)
	var wg sync.WaitGroup
	var checked atomic.Int32
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Authorize(context.Background(), alice, &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1,
				Hashes: [][]byte{sum256([]byte("x"))}, PIN: fmt.Sprintf("guess-%d", i), OTP: "123456"})
			if err != nil && !strings.Contains(err.Error(), "locked") {
				checked.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := checked.Load(); got != 3 {
		t.Fatalf("%d guesses were checked, want exactly 3 (the limit)", got)
	}
	_, err := f.svc.Authorize(context.Background(), alice, &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1,
		Hashes: [][]byte{sum256([]byte("x"))}, PIN: canaryPIN, OTP: otpAt(t, f.clock())})
	wantKind(t, err, KindSADInvalid)
}

func TestHashSigningRaw(t *testing.T) {
	f := newSCAL2(t)
	ctx := context.Background()
	d256 := sum256([]byte("tbs"))
	d384 := sha512.Sum384([]byte("tbs"))
	hash := func(id string, ds ...Digest) DocumentHash { return DocumentHash{ID: id, Digests: ds} }
	tests := []struct {
		name   string
		cred   string
		alg    string
		hashes []DocumentHash
		check  func(t *testing.T, i int, sig []byte)
	}{
		{"rsa default", "alice-rsa", "", []DocumentHash{hash("a", Digest{"http://www.w3.org/2001/04/xmlenc#sha256", d256}), hash("b", Digest{"SHA-384", d384[:]})},
			func(t *testing.T, i int, sig []byte) {
				var err error
				if i == 0 {
					err = rsa.VerifyPKCS1v15(&testRSA.PublicKey, crypto.SHA256, d256, sig)
				} else {
					err = rsa.VerifyPKCS1v15(&testRSA.PublicKey, crypto.SHA384, d384[:], sig)
				}
				if err != nil {
					t.Error(err)
				}
			}},
		{"rsa oid picks the matching digest", "alice-rsa", "1.2.840.113549.1.1.12", []DocumentHash{hash("a", Digest{"SHA-1", make([]byte, 20)}, Digest{"sha256", d256}, Digest{"2.16.840.1.101.3.4.2.2", d384[:]})},
			func(t *testing.T, _ int, sig []byte) {
				if err := rsa.VerifyPKCS1v15(&testRSA.PublicKey, crypto.SHA384, d384[:], sig); err != nil {
					t.Error(err)
				}
			}},
		{"rsa pss oid", "alice-rsa", "1.2.840.113549.1.1.10", []DocumentHash{hash("a", Digest{"SHA-256", d256})},
			func(t *testing.T, _ int, sig []byte) {
				if err := rsa.VerifyPSS(&testRSA.PublicKey, crypto.SHA256, d256, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
					t.Error(err)
				}
			}},
		{"ecdsa default is DER", "alice-ec", "", []DocumentHash{hash("a", Digest{"SHA-256", d256})},
			func(t *testing.T, _ int, sig []byte) {
				if sig[0] != 0x30 || !ecdsa.VerifyASN1(&testEC.PublicKey, d256, sig) {
					t.Errorf("not a DER ECDSA signature: %x", sig)
				}
			}},
		{"ecdsa oid is DER", "alice-ec", "1.2.840.10045.4.3.2", []DocumentHash{hash("a", Digest{"SHA-256", d256})},
			func(t *testing.T, _ int, sig []byte) {
				if !ecdsa.VerifyASN1(&testEC.PublicKey, d256, sig) {
					t.Error("not a DER ECDSA signature")
				}
			}},
		{"ecdsa uri is r||s", "alice-ec", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", []DocumentHash{hash("a", Digest{"SHA-256", d256})},
			func(t *testing.T, _ int, sig []byte) {
				if len(sig) != 64 {
					t.Fatalf("raw signature has %d bytes", len(sig))
				}
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				if !ecdsa.Verify(&testEC.PublicKey, d256, r, s) {
					t.Error("r||s does not verify")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.svc.Sign(ctx, alice, &SignRequest{Hashes: tt.hashes, Options: SignOptions{CredentialID: tt.cred, SignatureAlgorithm: tt.alg}})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Signatures) != len(tt.hashes) || len(resp.AppliedProfiles) != 0 {
				t.Fatalf("%d signatures, profiles %v", len(resp.Signatures), resp.AppliedProfiles)
			}
			for i, s := range resp.Signatures {
				if s.WhichDoc != tt.hashes[i].ID || s.MimeType != "application/octet-stream" {
					t.Errorf("signature %d: %q %q", i, s.WhichDoc, s.MimeType)
				}
				tt.check(t, i, s.Value)
			}
			if ev := f.audit.last(t); ev.Major != MajorSuccess || !strings.HasPrefix(ev.Digests[0], "sha") {
				t.Errorf("audit %+v", ev)
			}
		})
	}
}

func TestHashSigningXML(t *testing.T) {
	f := newSCAL2(t)
	d := sha512.Sum512([]byte("external document"))
	for _, typ := range []string{TypeXMLDSig, TypeXAdES} {
		resp, err := f.svc.Sign(context.Background(), alice, &SignRequest{
			Hashes:  []DocumentHash{{ID: "h1", RefURI: "doc.pdf", HasRefURI: true, Digests: []Digest{{"http://www.w3.org/2001/04/xmlenc#sha512", d[:]}}}},
			Options: SignOptions{CredentialID: "alice-ec", SignatureType: typ, SignatureAlgorithm: "1.2.840.10045.4.3.3"},
		})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		sig := string(resp.Signatures[0].Value)
		for _, want := range []string{`URI="doc.pdf"`, base64.StdEncoding.EncodeToString(d[:]), "xmlenc#sha512", "ecdsa-sha384"} {
			if !strings.Contains(sig, want) {
				t.Errorf("%s: signature lacks %s", typ, want)
			}
		}
		if resp.Signatures[0].MimeType != "application/xml" || resp.Signatures[0].WhichDoc != "h1" {
			t.Errorf("%s: %+v", typ, resp.Signatures[0])
		}
		if (typ == TypeXAdES) != (len(resp.AppliedProfiles) == 1) {
			t.Errorf("%s: applied %v", typ, resp.AppliedProfiles)
		}
	}
}

func TestHashSigningRefused(t *testing.T) {
	f := newSCAL2(t)
	d := sum256([]byte("x"))
	hs := func(ds ...Digest) []DocumentHash { return []DocumentHash{{ID: "h", Digests: ds}} }
	ok := Digest{"SHA-256", d}
	tests := []struct {
		name string
		req  SignRequest
		want Kind
	}{
		{"sha1 only", SignRequest{Hashes: hs(Digest{"http://www.w3.org/2000/09/xmldsig#sha1", make([]byte, 20)}), Options: SignOptions{CredentialID: "alice-rsa"}}, KindHashAlgorithm},
		{"md5 only", SignRequest{Hashes: hs(Digest{"MD5", make([]byte, 16)}), Options: SignOptions{CredentialID: "alice-rsa"}}, KindHashAlgorithm},
		{"unknown method", SignRequest{Hashes: hs(Digest{"urn:x", d}), Options: SignOptions{CredentialID: "alice-rsa"}}, KindHashAlgorithm},
		{"length lies", SignRequest{Hashes: hs(Digest{"SHA-384", d}), Options: SignOptions{CredentialID: "alice-rsa"}}, KindHashAlgorithm},
		{"length lies before a good one", SignRequest{Hashes: hs(Digest{"SHA-256", d[:31]}, ok), Options: SignOptions{CredentialID: "alice-rsa"}}, KindHashAlgorithm},
		{"algorithm fixes another hash", SignRequest{Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa", SignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"}}, KindHashAlgorithm},
		{"weak algorithm oid", SignRequest{Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa", SignatureAlgorithm: "1.2.840.113549.1.1.5"}}, KindNotSupported},
		{"ec algorithm for rsa key", SignRequest{Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa", SignatureAlgorithm: "1.2.840.10045.4.3.2"}}, KindInappropriate},
		{"documents and hashes", SignRequest{Documents: []Document{doc("d")}, Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"transforms without signature type", SignRequest{Hashes: []DocumentHash{{ID: "h", Transforms: []string{"http://www.w3.org/2001/10/xml-exc-c14n#"}, Digests: []Digest{ok}}}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"level without signature type", SignRequest{Profiles: []string{LevelBB}, Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"placement", SignRequest{Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa", SignatureType: TypeXAdES, Placement: &Placement{WhichData: "h", XPath: "/*", CreateEnveloped: true}}}, KindInappropriate},
		{"two RefURIs omitted", SignRequest{Hashes: []DocumentHash{{ID: "a", Digests: []Digest{ok}}, {ID: "b", Digests: []Digest{ok}}}, Options: SignOptions{CredentialID: "alice-rsa", SignatureType: TypeXMLDSig}}, KindRefURIOmitted},
		{"same-document RefURI", SignRequest{Hashes: []DocumentHash{{ID: "a", RefURI: "#x", HasRefURI: true, Digests: []Digest{ok}}}, Options: SignOptions{CredentialID: "alice-rsa", SignatureType: TypeXMLDSig}}, KindInvalidRefURI},
		{"empty RefURI", SignRequest{Hashes: []DocumentHash{{ID: "a", HasRefURI: true, Digests: []Digest{ok}}}, Options: SignOptions{CredentialID: "alice-rsa", SignatureType: TypeXMLDSig}}, KindInvalidRefURI},
		{"unknown transform", SignRequest{Hashes: []DocumentHash{{ID: "a", Transforms: []string{"http://www.w3.org/TR/1999/REC-xpath-19991116"}, Digests: []Digest{ok}}}, Options: SignOptions{CredentialID: "alice-rsa", SignatureType: TypeXMLDSig}}, KindNotSupported},
		{"duplicate ids", SignRequest{Hashes: []DocumentHash{{ID: "a", Digests: []Digest{ok}}, {ID: "a", Digests: []Digest{ok}}}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindMalformed},
		{"hashless oid for xml", SignRequest{Hashes: hs(ok), Options: SignOptions{CredentialID: "alice-rsa", SignatureType: TypeXMLDSig, SignatureAlgorithm: "1.2.840.113549.1.1.1"}}, KindNotSupported},
		{"too many", SignRequest{Hashes: append(hs(ok), DocumentHash{ID: "2", Digests: []Digest{ok}}, DocumentHash{ID: "3", Digests: []Digest{ok}}, DocumentHash{ID: "4", Digests: []Digest{ok}}, DocumentHash{ID: "5", Digests: []Digest{ok}}), Options: SignOptions{CredentialID: "alice-rsa"}}, KindLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, n := f.calls(), len(f.audit.events())
			_, err := f.svc.Sign(context.Background(), alice, &tt.req)
			wantKind(t, err, tt.want)
			if f.calls() != before {
				t.Error("a refused request reached the signer")
			}
			if len(f.audit.events()) != n+1 {
				t.Error("not exactly one audit event")
			}
		})
	}
}

// TestAuditFailureWithholdsSignature: when the audit record cannot be stored, no signature
// and no SAD leave the service, and the answer is a ResponderError.
func TestAuditFailureWithholdsSignature(t *testing.T) {
	f := newSCAL2(t)
	ctx := context.Background()
	tok := f.authorize(t, "alice-qes", sum256([]byte("doc")))
	f.audit.err = errors.New("disk full")
	resp, err := f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa"}})
	if resp != nil || err == nil || ResultOf(err, "").Major != MajorResponderError {
		t.Fatalf("Sign with a failing audit sink: resp %v err %v", resp, err)
	}
	if f.signers["alice-rsa"].calls.Load() == 0 {
		t.Fatal("the test did not reach the signer")
	}
	resp, err = f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{{ID: "d", RefURI: "u", HasRefURI: true, Data: []byte("doc")}},
		Options: SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok)}})
	if resp != nil || ResultOf(err, "").Major != MajorResponderError {
		t.Fatalf("SCAL2 Sign with a failing audit sink: resp %v err %v", resp, err)
	}
	f.advance(30 * time.Second)
	a, err := f.svc.Authorize(ctx, alice, &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1, Hashes: [][]byte{sum256([]byte("x"))}, PIN: canaryPIN, OTP: otpAt(t, f.clock())})
	if a != nil || ResultOf(err, "").Major != MajorResponderError {
		t.Fatalf("Authorize with a failing audit sink: %v %v", a, err)
	}
	// A refusal is still a refusal, but it becomes a ResponderError as its record is missing.
	_, err = f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "bob-rsa"}})
	if ResultOf(err, "").Major != MajorResponderError {
		t.Fatalf("refusal with a failing audit sink: %v", err)
	}
}

func TestAuditOtherEvents(t *testing.T) {
	f := newSCAL2(t)
	if _, err := f.svc.Credential(alice, "bob-rsa"); KindOf(err) != KindKeyLookup {
		t.Fatalf("Credential of another user: %v", err)
	}
	if ev := f.audit.last(t); ev.Action != AuditKeyLookup || ev.Credential != "bob-rsa" || ev.User != "alice" || ev.Minor != MinorKeyLookupFailed {
		t.Errorf("key lookup audit %+v", ev)
	}
	n := len(f.audit.events())
	if _, err := f.svc.Credential(alice, "alice-rsa"); err != nil {
		t.Fatal(err)
	}
	if len(f.audit.events()) != n {
		t.Error("a successful credential lookup was audited as a failure")
	}
	f.svc.AuditAuthFailure(WithProblemRef(context.Background(), "pr-9"), "192.0.2.7:5555", "unknown bearer token", "rid-1")
	ev := f.audit.last(t)
	if ev.Action != AuditAuthenticate || ev.User != "" || ev.ProblemRef != "pr-9" || ev.RequestID != "rid-1" ||
		ev.Minor != MinorNotAuthenticated || !strings.Contains(ev.Detail, "192.0.2.7") {
		t.Errorf("authentication audit %+v", ev)
	}
}

// TestCanarySecrets seeds PIN, OTP and SAD values and checks that none of them appears in any
// audit event or log line (hardening.md R11).
func TestCanarySecrets(t *testing.T) {
	f := newSCAL2(t)
	ctx := context.Background()
	data := []byte("CANARY-DOCUMENT-CONTENT")
	f.advance(30 * time.Second)
	code := otpAt(t, f.clock())
	a, err := f.svc.Authorize(ctx, alice, &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1, Hashes: [][]byte{sum256(data)}, PIN: canaryPIN, OTP: code})
	if err != nil {
		t.Fatal(err)
	}
	wrongPIN, wrongOTP := "CANARY-WRONG-PIN-0815", "918273"
	_, _ = f.svc.Authorize(ctx, alice, &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1, Hashes: [][]byte{sum256(data)}, PIN: wrongPIN, OTP: wrongOTP})
	badSAD := "CANARY.BAD.SAD"
	for _, tok := range []string{badSAD, a.SAD, a.SAD} { // bad, good, replayed
		_, _ = f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{{ID: "d", RefURI: "u", HasRefURI: true, Data: data}},
			Options: SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok)}})
	}
	evs := f.audit.events()
	if len(evs) != 5 {
		t.Fatalf("%d audit events, want 5", len(evs))
	}
	f.logMu.Lock()
	logs := f.log.String()
	f.logMu.Unlock()
	if !strings.Contains(logs, `"msg":"audit"`) {
		t.Fatal("the audit log lines are missing: the test would prove nothing")
	}
	all := logs + fmt.Sprintf("%+v", evs)
	parts := strings.Split(a.SAD, ".")
	for name, secret := range map[string]string{
		"PIN": canaryPIN, "wrong PIN": wrongPIN, "OTP": code, "wrong OTP": wrongOTP, "TOTP secret": canarySecret,
		"SAD": a.SAD, "SAD payload": parts[1], "SAD signature": parts[2], "bad SAD": badSAD, "document": string(data),
		"SAD base64": base64.StdEncoding.EncodeToString([]byte(a.SAD)),
	} {
		if strings.Contains(all, secret) {
			t.Errorf("the %s appears in the audit events or the log", name)
		}
	}
}

// BenchmarkPINVerify measures one argon2id PIN check (the cost of each activation attempt).
func BenchmarkPINVerify(b *testing.B) {
	p, err := NewPINHash([]byte("12345678"), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p.Verify("12345678")
	}
}

// BenchmarkSADCheck measures issuing and checking one SAD for 16 hashes.
func BenchmarkSADCheck(b *testing.B) {
	a, err := sad.New(sad.Config{Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		b.Fatal(err)
	}
	var hs [][]byte
	for i := range 16 {
		hs = append(hs, sum256([]byte{byte(i)}))
	}
	g := sad.Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: hs}
	tok, _, err := a.Issue(g)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Check(tok, g); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSCAL2RefusedDocumentKeepsSAD: a request refused because of its document (an XPath that
// selects nothing, a DOCTYPE) does not consume the SAD, so the corrected request still signs.
func TestSCAL2RefusedDocumentKeepsSAD(t *testing.T) {
	f := newSCAL2(t)
	ctx := context.Background()
	d := Document{ID: "d", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}
	tok := f.authorize(t, "alice-qes", sum256(d.Data))
	place := func(xpath string) SignOptions {
		return SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok),
			Placement: &Placement{WhichData: "d", XPath: xpath, CreateEnveloped: true}}
	}
	if _, err := f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{d}, Options: place("/nothing/here")}); KindOf(err) != KindInappropriate && KindOf(err) != KindMalformed {
		t.Fatalf("XPath selecting nothing: %v", err)
	}
	if _, err := f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{d}, Options: place("/*")}); err != nil {
		t.Fatalf("the corrected request was refused (SAD spent by the refused one?): %v", err)
	}
	dt := Document{ID: "d", HasRefURI: true, MimeType: "application/xml", Data: []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>1</x>`)}
	tok2 := f.authorize(t, "alice-qes", sum256(dt.Data))
	before := len(f.replay.seen)
	_, err := f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{dt}, Options: SignOptions{CredentialID: "alice-qes",
		ClaimedIdentity: withSAD("alice", tok2), Placement: &Placement{WhichData: "d", XPath: "/*", CreateEnveloped: true}}})
	if KindOf(err) != KindMalformed {
		t.Fatalf("DOCTYPE document: %v", err)
	}
	f.replay.mu.Lock()
	after := len(f.replay.seen)
	f.replay.mu.Unlock()
	if after != before {
		t.Errorf("a request refused for its document consumed %d SAD(s)", after-before)
	}
}
