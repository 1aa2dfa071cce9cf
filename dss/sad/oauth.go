package sad

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The OAuth2 authorization server of the CSC API (interface.md §7) keeps no server-side
// state for its authorization codes, pushed requests, page transactions and service access
// tokens: each is a sealed value (AES-256-GCM under a key derived from the SAD key, so every
// node that can check a SAD can open it), with its purpose as additional data so that one
// kind can never be presented as another. Single use (codes) and revocation go through the
// shared stores of the caller, keyed by the value's random ID. The access token of a
// credential authorization is a SAD itself (Issue); Peek authenticates its bearer.

// ErrSealed is wrapped by every refusal of Open: a value that is forged, of another kind,
// damaged or expired.
var ErrSealed = errors.New("sealed value refused")

// MaxSealed bounds the length of a sealed value accepted by Open.
const MaxSealed = 32 << 10

// envelope is the sealed JSON: the payload with its expiry and ID.
type envelope struct {
	Exp int64           `json:"exp"`
	ID  string          `json:"id"`
	V   json.RawMessage `json:"v"`
}

func (a *Authority) derived(purpose string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("dssd oauth2 " + purpose))
	return m.Sum(nil)
}

func (a *Authority) aead() (cipher.AEAD, error) {
	blk, err := aes.NewCipher(a.derived("seal"))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// NewID returns a random identifier (32 hex digits).
func (a *Authority) NewID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(a.rand, b[:]); err != nil {
		return "", fmt.Errorf("sad: random id: %w", err)
	}
	return fmt.Sprintf("%x", b), nil
}

// Seal encrypts v (marshalled as JSON) for kind, valid until exp, and returns the sealed
// value (base64url) and its random ID.
func (a *Authority) Seal(kind string, v any, exp time.Time) (string, string, error) {
	id, err := a.NewID()
	if err != nil {
		return "", "", err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return "", "", fmt.Errorf("sad: seal: %w", err)
	}
	pt, err := json.Marshal(envelope{Exp: exp.Unix(), ID: id, V: raw})
	if err != nil {
		return "", "", fmt.Errorf("sad: seal: %w", err)
	}
	g, err := a.aead()
	if err != nil {
		return "", "", fmt.Errorf("sad: seal: %w", err)
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(a.rand, nonce); err != nil {
		return "", "", fmt.Errorf("sad: seal: %w", err)
	}
	ct := g.Seal(nonce, nonce, pt, []byte("dssd/"+kind))
	return base64.RawURLEncoding.EncodeToString(ct), id, nil
}

// Open decrypts a value sealed for kind into v and returns its ID and expiry. Forged,
// foreign, damaged and expired values wrap ErrSealed.
func (a *Authority) Open(kind, sealed string, v any) (string, time.Time, error) {
	if sealed == "" || len(sealed) > MaxSealed {
		return "", time.Time{}, fmt.Errorf("%w: empty or too long", ErrSealed)
	}
	ct, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: not base64url", ErrSealed)
	}
	g, err := a.aead()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sad: open: %w", err)
	}
	if len(ct) < g.NonceSize()+g.Overhead() {
		return "", time.Time{}, fmt.Errorf("%w: too short", ErrSealed)
	}
	pt, err := g.Open(nil, ct[:g.NonceSize()], ct[g.NonceSize():], []byte("dssd/"+kind))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: not issued here for this purpose", ErrSealed)
	}
	var env envelope
	if err := json.Unmarshal(pt, &env); err != nil || env.ID == "" {
		return "", time.Time{}, fmt.Errorf("%w: malformed", ErrSealed)
	}
	exp := time.Unix(env.Exp, 0)
	if a.clock().After(exp.Add(a.skew)) {
		return "", time.Time{}, fmt.Errorf("%w: expired", ErrSealed)
	}
	if err := json.Unmarshal(env.V, v); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: malformed content", ErrSealed)
	}
	return env.ID, exp, nil
}

// Tag returns a MAC of data for purpose (for example a CSRF token bound to a page
// transaction), and TagEqual compares one in constant time.
func (a *Authority) Tag(purpose string, data ...string) string {
	m := hmac.New(sha256.New, a.derived("tag "+purpose))
	for _, d := range data {
		fmt.Fprintf(m, "%d:%s|", len(d), d)
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TagEqual reports whether tag is Tag(purpose, data...).
func (a *Authority) TagEqual(tag, purpose string, data ...string) bool {
	want := a.Tag(purpose, data...)
	return subtle.ConstantTimeCompare([]byte(tag), []byte(want)) == 1
}

// LooksLikeSAD reports whether token has the shape of a SAD (a compact JWS with this
// package's header), without checking it.
func LooksLikeSAD(token string) bool {
	return strings.HasPrefix(strings.TrimSpace(token), header+".") && strings.Count(token, ".") == 2
}

// Peek checks everything of a SAD that does not depend on a request (MAC, issuer, audience,
// times, claim set) and returns its claims: the bearer of a SAD used as an OAuth2 access
// token is the user it was issued to. It neither matches hashes nor consumes the token.
func (a *Authority) Peek(token string) (*Claims, error) {
	return a.check(token, nil)
}

// PKCE verifies an RFC 7636 code_verifier against an S256 code_challenge. The verifier must
// be 43 to 128 characters of the unreserved set.
func PKCE(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 || challenge == "" {
		return false
	}
	for _, c := range verifier {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)
		if !ok {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(challenge), []byte(want)) == 1
}
