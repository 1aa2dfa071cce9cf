// Package sad issues and checks signature activation data (SAD) for SCAL2 credentials
// (interface.md §5, ETSI TS 119 432 Annex C).
//
// A SAD is a compact JWS (RFC 7515) with the fixed protected header {"alg":"HS256","typ":"JWT"}:
// an HMAC-SHA256 over a JSON claim set, keyed with a secret shared by every node of a
// deployment. The claims bind the token to one user, one credential, one hash algorithm and
// an exact multiset of hashes (sorted, so that the order of the documents in the signing
// request does not matter, but duplicates and the count do); they carry an issuer, an
// audience, iat, exp (at most five minutes later) and a random id (jti).
//
// Why a fixed-header HMAC JWS written here rather than a general JWT library: the token is
// issued and checked by the same service, so a shared symmetric key is enough; the header is
// compared byte for byte, so there is no algorithm negotiation (no "none", no RS/HS
// confusion), and the format stays a standard JWT that the DSS-X SupportingInfo MimeType
// application/jwt names.
//
// Check verifies everything that can be verified without shared state. Consume then makes
// the token single-use across every node through a Replay store (dss.ReplayStore has the
// same method set); callers must Consume only after every other check passed and before the
// key is used. Errors never contain the token.
package sad

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	_ "crypto/sha512" // SHA-384 and SHA-512 sizes
)

// Limits and defaults.
const (
	MaxTTL      = 5 * time.Minute // the longest lifetime a SAD may have (interface.md §5)
	DefaultSkew = 5 * time.Second // tolerated clock difference between nodes
	MinKeyBytes = 32
	MaxToken    = 16 << 10 // bytes; a longer token is refused unparsed
	MaxHashes   = 1024

	DefaultIssuer   = "dssd"
	DefaultAudience = "dssd-signing"
)

// header is the only protected header accepted, in its encoded form.
var header = b64url([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Sentinel errors. Every refusal wraps ErrInvalid; a replayed token also wraps ErrReplayed.
// A failure of the replay store wraps neither (the caller must fail closed, not blame the client).
var (
	ErrInvalid  = errors.New("signature activation data refused")
	ErrReplayed = errors.New("signature activation data already used")
)

// Replay makes a SAD single use. dss.ReplayStore implements it.
type Replay interface {
	// Consume records the use of id; false means it was used before.
	Consume(ctx context.Context, id string, notAfter time.Time) (bool, error)
}

// Config configures an Authority.
type Config struct {
	Key      []byte        // HMAC key shared by all nodes, at least MinKeyBytes
	TTL      time.Duration // lifetime of issued SADs: 1 s .. MaxTTL (0: MaxTTL)
	Skew     time.Duration // tolerated clock skew (0: DefaultSkew)
	Issuer   string        // "" : DefaultIssuer
	Audience string        // "" : DefaultAudience
	Clock    func() time.Time
	Rand     io.Reader
}

// Authority issues and checks SADs.
type Authority struct {
	key         []byte
	ttl, skew   time.Duration
	issuer, aud string
	clock       func() time.Time
	rand        io.Reader
}

// New returns an Authority.
func New(cfg Config) (*Authority, error) {
	if len(cfg.Key) < MinKeyBytes {
		return nil, fmt.Errorf("sad: the key must have at least %d bytes", MinKeyBytes)
	}
	a := &Authority{
		key: bytes.Clone(cfg.Key), ttl: cfg.TTL, skew: cfg.Skew, issuer: cfg.Issuer, aud: cfg.Audience,
		clock: cfg.Clock, rand: cfg.Rand,
	}
	if a.ttl == 0 {
		a.ttl = MaxTTL
	}
	if a.ttl < time.Second || a.ttl > MaxTTL {
		return nil, fmt.Errorf("sad: ttl %s is outside 1s..%s", a.ttl, MaxTTL)
	}
	if a.skew <= 0 {
		a.skew = DefaultSkew
	}
	if a.issuer == "" {
		a.issuer = DefaultIssuer
	}
	if a.aud == "" {
		a.aud = DefaultAudience
	}
	if a.clock == nil {
		a.clock = time.Now
	}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	return a, nil
}

// TTL is the lifetime of the SADs this Authority issues.
func (a *Authority) TTL() time.Duration { return a.ttl }

// Grant is what a SAD authorises: one user signing the given hashes with one credential.
type Grant struct {
	User       string
	Credential string
	Hash       crypto.Hash // SHA-256, SHA-384 or SHA-512
	Hashes     [][]byte    // each exactly Hash.Size() bytes; order does not matter, duplicates do
}

// Claims are the checked content of a SAD.
type Claims struct {
	ID         string
	Issuer     string
	Audience   string
	User       string
	Credential string
	Hash       crypto.Hash
	Hashes     [][]byte // sorted
	IssuedAt   time.Time
	Expires    time.Time
}

// wire is the JSON claim set.
type wire struct {
	Iss    string   `json:"iss"`
	Aud    string   `json:"aud"`
	Sub    string   `json:"sub"`
	Cred   string   `json:"cred"`
	HAlg   string   `json:"halg"`   // hash algorithm OID
	Hashes []string `json:"hashes"` // standard base64, sorted by their bytes
	N      int      `json:"n"`      // len(hashes)
	Iat    int64    `json:"iat"`
	Exp    int64    `json:"exp"`
	Jti    string   `json:"jti"`
}

// Hash algorithm OIDs.
var hashOIDs = map[crypto.Hash]string{
	crypto.SHA256: "2.16.840.1.101.3.4.2.1",
	crypto.SHA384: "2.16.840.1.101.3.4.2.2",
	crypto.SHA512: "2.16.840.1.101.3.4.2.3",
}

// HashOID returns the OID of h, or "" when h is not SHA-256, SHA-384 or SHA-512.
func HashOID(h crypto.Hash) string { return hashOIDs[h] }

// HashOfOID returns the hash named by oid, or 0.
func HashOfOID(oid string) crypto.Hash {
	for h, o := range hashOIDs {
		if o == oid {
			return h
		}
	}
	return 0
}

func checkGrant(g Grant) error {
	if g.User == "" || g.Credential == "" {
		return errors.New("user and credential are required")
	}
	if HashOID(g.Hash) == "" {
		return fmt.Errorf("hash %v is not SHA-256, SHA-384 or SHA-512", g.Hash)
	}
	if len(g.Hashes) == 0 || len(g.Hashes) > MaxHashes {
		return fmt.Errorf("%d hashes (1..%d)", len(g.Hashes), MaxHashes)
	}
	for i, h := range g.Hashes {
		if len(h) != g.Hash.Size() {
			return fmt.Errorf("hash %d has %d bytes, %v needs %d", i+1, len(h), g.Hash, g.Hash.Size())
		}
	}
	return nil
}

func sortedHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// Issue returns a signed SAD for g and its expiry.
func (a *Authority) Issue(g Grant) (string, time.Time, error) {
	if err := checkGrant(g); err != nil {
		return "", time.Time{}, fmt.Errorf("sad: %w", err)
	}
	var id [16]byte
	if _, err := io.ReadFull(a.rand, id[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("sad: random id: %w", err)
	}
	now := a.clock().Truncate(time.Second)
	exp := now.Add(a.ttl)
	w := wire{
		Iss: a.issuer, Aud: a.aud, Sub: g.User, Cred: g.Credential, HAlg: HashOID(g.Hash),
		N: len(g.Hashes), Iat: now.Unix(), Exp: exp.Unix(), Jti: hex.EncodeToString(id[:]),
	}
	for _, h := range sortedHashes(g.Hashes) {
		w.Hashes = append(w.Hashes, base64.StdEncoding.EncodeToString(h))
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sad: %w", err)
	}
	signing := header + "." + b64url(payload)
	return signing + "." + b64url(a.mac(signing)), exp, nil
}

func (a *Authority) mac(signing string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Check verifies token against want: MAC, issuer, audience, times, user, credential, hash
// algorithm, and that want.Hashes is exactly the authorised multiset (count included). It
// does not consume the token.
func (a *Authority) Check(token string, want Grant) (*Claims, error) {
	return a.check(token, &want)
}

func (a *Authority) check(token string, wantp *Grant) (*Claims, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, refuse("empty")
	}
	if len(token) > MaxToken {
		return nil, refuse("longer than %d bytes", MaxToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, refuse("not a compact JWS")
	}
	if parts[0] != header {
		return nil, refuse("unexpected protected header (only HS256 JWT is accepted)")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, refuse("signature is not base64url")
	}
	if !hmac.Equal(sig, a.mac(parts[0]+"."+parts[1])) {
		return nil, refuse("bad signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, refuse("payload is not base64url")
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil || dec.More() {
		return nil, refuse("payload is not the expected claim set")
	}
	c := &Claims{
		ID: w.Jti, Issuer: w.Iss, Audience: w.Aud, User: w.Sub, Credential: w.Cred,
		Hash: HashOfOID(w.HAlg), IssuedAt: time.Unix(w.Iat, 0), Expires: time.Unix(w.Exp, 0),
	}
	switch {
	case w.Iss != a.issuer:
		return nil, refuse("wrong issuer")
	case w.Aud != a.aud:
		return nil, refuse("wrong audience")
	case len(w.Jti) < 16:
		return nil, refuse("no id")
	case w.Iat == 0 || w.Exp == 0:
		return nil, refuse("no iat or exp")
	}
	now := a.clock()
	switch {
	case c.IssuedAt.After(now.Add(a.skew)):
		return nil, refuse("issued in the future")
	case !c.Expires.After(c.IssuedAt) || c.Expires.Sub(c.IssuedAt) > MaxTTL:
		return nil, refuse("lifetime outside 0..%s", MaxTTL)
	case now.After(c.Expires.Add(a.skew)):
		return nil, refuse("expired")
	}
	if c.Hash == 0 {
		return nil, refuse("unknown hash algorithm")
	}
	if w.N != len(w.Hashes) || w.N == 0 {
		return nil, refuse("hash count does not match")
	}
	for _, s := range w.Hashes {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != c.Hash.Size() {
			return nil, refuse("malformed hash")
		}
		c.Hashes = append(c.Hashes, h)
	}
	if !slices.IsSortedFunc(c.Hashes, bytes.Compare) {
		return nil, refuse("hashes not in canonical order")
	}
	if wantp == nil {
		return c, nil
	}
	want := *wantp
	switch {
	case c.User != want.User || want.User == "":
		return nil, refuse("issued to another user")
	case c.Credential != want.Credential || want.Credential == "":
		return nil, refuse("issued for another credential")
	case c.Hash != want.Hash:
		return nil, refuse("issued for %v hashes, the request has %v", c.Hash, want.Hash)
	case len(want.Hashes) != len(c.Hashes):
		return nil, refuse("authorises %d signatures, the request asks for %d", len(c.Hashes), len(want.Hashes))
	}
	got := sortedHashes(want.Hashes)
	for i := range got {
		if !bytes.Equal(got[i], c.Hashes[i]) {
			return nil, refuse("the request's hashes are not the authorised ones")
		}
	}
	return c, nil
}

// Consume marks c as used in r. It fails with ErrReplayed (and ErrInvalid) when c was used
// before, on any node sharing r; a failure of r itself is returned wrapped and must fail
// the request closed.
func (a *Authority) Consume(ctx context.Context, r Replay, c *Claims) error {
	if r == nil {
		return errors.New("sad: no replay store")
	}
	fresh, err := r.Consume(ctx, "sad:"+c.ID, c.Expires.Add(a.skew))
	if err != nil {
		return fmt.Errorf("sad: replay store: %w", err)
	}
	if !fresh {
		return fmt.Errorf("%w: %w", ErrInvalid, ErrReplayed)
	}
	return nil
}
