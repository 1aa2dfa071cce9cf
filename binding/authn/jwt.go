package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"dssd/dss"
)

// Identity providers: bearer JWTs signed by an issuer whose public keys are published as a
// JWK Set (RFC 7517) in a file or at an https URL. The JOSE work (compact serialisation,
// algorithm allow-list, signature, registered claims) is go-jose's; this file chooses the
// provider by the token's issuer, keeps each provider's key set (cached for a TTL, refetched
// at most once per RefetchInterval when a token names an unknown key id), and maps a
// configured claim to a user name.

// JWT defaults.
const (
	DefaultJWTLeeway          = 30 * time.Second
	DefaultJWKSTTL            = 10 * time.Minute
	DefaultJWKSRefetch        = 30 * time.Second
	DefaultJWTUserClaim       = "sub"
	maxJWKSBytes              = 1 << 20
	maxJWKSKeys               = 64
	maxJWTBytes               = 16 << 10
	minRSABits                = 2048
	jwksFetchTimeout          = 10 * time.Second
	ViaJWT                    = "jwt" // dss.Caller.Via of a JWT
	jwtReasonPrefix           = "bearer JWT refused: "
	defaultJWTUserClaimMaxLen = 128
)

// DefaultJWTAlgorithms are the signature algorithms accepted when a provider names none.
var DefaultJWTAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// jwtAlgorithms are the algorithms a provider may allow: asymmetric signatures only, so that
// neither "none" nor an HMAC keyed with a public key can ever verify.
var jwtAlgorithms = map[string]jose.SignatureAlgorithm{
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"EdDSA": jose.EdDSA,
}

// asymmetricAlgs are the values of jwtAlgorithms: what any provider may allow.
var asymmetricAlgs = func() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range jwtAlgorithms {
		out = append(out, a)
	}
	return out
}()

// ValidJWTAlgorithm reports whether name may be allowed for an identity provider.
func ValidJWTAlgorithm(name string) bool { _, ok := jwtAlgorithms[name]; return ok }

// JWTProvider configures one identity provider.
type JWTProvider struct {
	Issuer     string        // the "iss" claim, matched exactly; selects the provider
	Audience   string        // must be one of the "aud" claim's values
	JWKSFile   string        // the JWK Set, read from a file (re-read like a URL), or
	JWKSURL    string        // fetched from an https URL with HTTPClient
	HTTPClient *http.Client  // for JWKSURL (trusting the provider's CA); default: the system roots
	UserClaim  string        // claim holding the user name; default "sub"
	Algorithms []string      // allowed "alg" values; default DefaultJWTAlgorithms
	Leeway     time.Duration // tolerated clock skew for exp, nbf and iat; default 30 s (negative: none)
	JWKSTTL    time.Duration // key set cache lifetime; default 10 min
	Refetch    time.Duration // least time between two fetches of the key set; default 30 s
	AnyUser    bool          // accept user names that are not configured users
}

// jwtProvider is a JWTProvider with its cached key set.
type jwtProvider struct {
	cfg  JWTProvider
	algs []jose.SignatureAlgorithm
	now  func() time.Time
	log  *slog.Logger

	fetch sync.Mutex // one fetch at a time
	mu    sync.Mutex
	keys  *jose.JSONWebKeySet
	got   time.Time // when keys were fetched
	tried time.Time // last fetch attempt
	nget  int       // fetches attempted (tests)
}

// JWTVerifier authenticates bearer JWTs of the configured identity providers.
type JWTVerifier struct {
	providers map[string]*jwtProvider // by issuer
}

// JWTOptions are the verifier's clock and logger (both optional).
type JWTOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// NewJWTVerifier checks ps and returns their verifier. Key sets in files are read now (an
// unreadable one is an error); those at URLs are fetched at first use.
func NewJWTVerifier(ps []JWTProvider, o JWTOptions) (*JWTVerifier, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	v := &JWTVerifier{providers: map[string]*jwtProvider{}}
	for i, c := range ps {
		if c.Issuer == "" || c.Audience == "" {
			return nil, fmt.Errorf("identity provider %d: issuer and audience are required", i)
		}
		if _, dup := v.providers[c.Issuer]; dup {
			return nil, fmt.Errorf("identity provider %q: configured twice", c.Issuer)
		}
		if (c.JWKSFile == "") == (c.JWKSURL == "") {
			return nil, fmt.Errorf("identity provider %q: give exactly one of jwks_file and jwks_url", c.Issuer)
		}
		if c.JWKSURL != "" && !strings.HasPrefix(c.JWKSURL, "https://") {
			return nil, fmt.Errorf("identity provider %q: jwks_url must be https", c.Issuer)
		}
		if c.UserClaim == "" {
			c.UserClaim = DefaultJWTUserClaim
		}
		if len(c.Algorithms) == 0 {
			c.Algorithms = DefaultJWTAlgorithms
		}
		if c.Leeway == 0 {
			c.Leeway = DefaultJWTLeeway
		} else if c.Leeway < 0 {
			c.Leeway = 0
		}
		if c.JWKSTTL <= 0 {
			c.JWKSTTL = DefaultJWKSTTL
		}
		if c.Refetch <= 0 {
			c.Refetch = DefaultJWKSRefetch
		}
		if c.HTTPClient == nil {
			c.HTTPClient = &http.Client{}
		}
		p := &jwtProvider{cfg: c, now: o.Now, log: o.Logger.With("issuer", c.Issuer)}
		for _, a := range c.Algorithms {
			alg, ok := jwtAlgorithms[a]
			if !ok {
				return nil, fmt.Errorf("identity provider %q: algorithm %q is not allowed (asymmetric JWS algorithms only)", c.Issuer, a)
			}
			p.algs = append(p.algs, alg)
		}
		if c.JWKSFile != "" {
			if err := p.refresh(context.Background(), true); err != nil {
				return nil, fmt.Errorf("identity provider %q: %w", c.Issuer, err)
			}
		}
		v.providers[c.Issuer] = p
	}
	return v, nil
}

// UseJWT makes a accept the bearer JWTs of v (after the static tokens). Call it before
// serving.
func (a *Authenticator) UseJWT(v *JWTVerifier) { a.jwt = v }

// jwtError is a refused JWT: a *dss.Error of KindNotAuthenticated whose detail is
// client-safe (it never holds the token). provider: the token named a configured issuer.
type jwtError struct {
	err      *dss.Error
	provider bool
}

func (e *jwtError) Error() string { return e.err.Error() }
func (e *jwtError) Unwrap() error { return e.err }

// IsJWTError reports whether err refused a bearer JWT naming a configured identity provider
// (rather than a token of another kind: OAuth2 access tokens and SADs look like JWTs too).
func IsJWTError(err error) bool {
	var e *jwtError
	return errors.As(err, &e) && e.provider
}

// jwtRefused is the refusal of a token that names a configured issuer.
func jwtRefused(format string, a ...any) error {
	return &jwtError{err: dss.Errorf(dss.KindNotAuthenticated, jwtReasonPrefix+format, a...), provider: true}
}

// notProviderJWT is the refusal of a token that is no JWT of a configured issuer.
func notProviderJWT(reason string) error {
	return &jwtError{err: dss.Errorf(dss.KindNotAuthenticated, "%s", jwtReasonPrefix+reason)}
}

// LooksLikeJWT reports whether tok has the shape of a JWS compact serialisation (three
// dot-separated parts), so that it is worth parsing as a JWT.
func LooksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && len(tok) <= maxJWTBytes
}

// Authenticate checks tok: its issuer must be a configured provider, its algorithm one the
// provider allows, its signature made by a key of the provider's key set, its audience,
// expiry (required), not-before and issued-at valid with the leeway, and its user claim a
// string naming a user (a configured one unless the provider accepts any; known tells).
func (v *JWTVerifier) Authenticate(ctx context.Context, tok string, known func(string) bool) (dss.Caller, error) {
	if len(tok) > maxJWTBytes {
		return dss.Caller{}, notProviderJWT("the token is too large")
	}
	// The issuer selects the provider; nothing of the unverified payload is trusted beyond
	// that choice (the issuer is checked again, signed, below).
	parsed, err := jwt.ParseSigned(tok, asymmetricAlgs)
	if err != nil {
		return dss.Caller{}, notProviderJWT("not a JWS with an allowed (asymmetric) signature algorithm")
	}
	var unverified jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return dss.Caller{}, notProviderJWT("the claims are not a JSON object")
	}
	p := v.providers[unverified.Issuer]
	if p == nil {
		return dss.Caller{}, notProviderJWT("the issuer is not a configured identity provider")
	}
	return p.authenticate(ctx, tok, known)
}

func (p *jwtProvider) authenticate(ctx context.Context, tok string, known func(string) bool) (dss.Caller, error) {
	parsed, err := jwt.ParseSigned(tok, p.algs)
	if err != nil {
		return dss.Caller{}, jwtRefused("the signature algorithm is not allowed for this issuer")
	}
	if len(parsed.Headers) != 1 {
		return dss.Caller{}, jwtRefused("one signature expected")
	}
	hdr := parsed.Headers[0]
	keys, err := p.keysFor(ctx, hdr.KeyID)
	if err != nil {
		return dss.Caller{}, err
	}
	keys = keysForAlg(keys, hdr.Algorithm)
	// One unauthenticated request must not cost a signature verification per key of the set
	// (up to maxJWKSKeys): a token is tried against at most maxCandidateKeys keys.
	switch {
	case len(keys) <= maxCandidateKeys:
	case hdr.KeyID == "":
		// OpenID Connect Core §10.1: with several keys in the set, the token names its key.
		return dss.Caller{}, jwtRefused("the token names no key (kid) and the issuer publishes %d keys for %s; a kid is required", len(keys), hdr.Algorithm)
	default:
		return dss.Caller{}, jwtRefused("the issuer publishes %d keys with key id %q for %s", len(keys), clipReason(hdr.KeyID), hdr.Algorithm)
	}
	var std jwt.Claims
	var rest map[string]any
	verified := false
	for _, k := range keys {
		if parsed.Claims(k.Key, &std, &rest) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return dss.Caller{}, jwtRefused("the signature does not verify with the issuer's key %q", clipReason(hdr.KeyID))
	}
	if std.Expiry == nil {
		return dss.Caller{}, jwtRefused("the token has no expiry (exp)")
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: p.cfg.Issuer, AnyAudience: jwt.Audience{p.cfg.Audience}, Time: p.now()}, p.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return dss.Caller{}, jwtRefused("the token has expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return dss.Caller{}, jwtRefused("the token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return dss.Caller{}, jwtRefused("the token is issued in the future (iat)")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return dss.Caller{}, jwtRefused("the audience (aud) is not this service")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return dss.Caller{}, jwtRefused("the issuer does not match")
	case err != nil:
		return dss.Caller{}, jwtRefused("the claims are invalid")
	}
	user, _ := rest[p.cfg.UserClaim].(string)
	switch {
	case user == "":
		return dss.Caller{}, jwtRefused("the claim %q is missing or not a string", p.cfg.UserClaim)
	case len(user) > defaultJWTUserClaimMaxLen:
		return dss.Caller{}, jwtRefused("the claim %q is too long", p.cfg.UserClaim)
	case !p.cfg.AnyUser && !known(user):
		return dss.Caller{}, jwtRefused("user %q (claim %q) is not a configured user", clipReason(user), p.cfg.UserClaim)
	}
	return dss.Caller{User: user, Via: ViaJWT}, nil
}

// clipReason caps a client-chosen string quoted in a refusal.
func clipReason(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// keysFor returns the keys of the cached set with key id kid (every key when kid is empty).
// The set is fetched when it is missing or older than the TTL, and refetched when kid is
// unknown; fetches are at least Refetch apart, so unknown key ids cannot make dssd hammer
// the provider.
func (p *jwtProvider) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	p.mu.Lock()
	set, got := p.keys, p.got
	p.mu.Unlock()
	stale := set == nil || p.now().Sub(got) >= p.cfg.JWKSTTL
	if !stale {
		if ks := lookup(set, kid); len(ks) > 0 {
			return ks, nil
		}
	}
	if err := p.refresh(ctx, false); err != nil && set == nil {
		return nil, jwtRefused("the issuer's keys are unavailable")
	}
	p.mu.Lock()
	set = p.keys
	p.mu.Unlock()
	if ks := lookup(set, kid); len(ks) > 0 {
		return ks, nil
	}
	return nil, jwtRefused("unknown key id %q", clipReason(kid))
}

// maxCandidateKeys is how many keys a token is tried against: the keys of the set that fit its
// algorithm and carry its key id (kid), any key id when it names none. A set with more such
// keys needs the kid, and distinct kids.
const maxCandidateKeys = 4

// keysForAlg returns the keys that can verify a signature of algorithm alg: the key's own
// "alg", when it has one, is alg, and its type (and curve) is alg's. Only these are tried, so
// a token costs no verification with a key that cannot verify it.
func keysForAlg(keys []jose.JSONWebKey, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != alg || !keyFitsAlg(k.Key, alg) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// keyFitsAlg reports whether a public key of this type can verify a JWS of algorithm alg.
func keyFitsAlg(key any, alg string) bool {
	switch pub := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve.Params().BitSize == 256
		case "ES384":
			return pub.Curve.Params().BitSize == 384
		case "ES512":
			return pub.Curve.Params().BitSize == 521
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func lookup(set *jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	if set == nil {
		return nil
	}
	if kid == "" {
		return set.Keys
	}
	return set.Key(kid)
}

// refresh fetches the key set, unless the last attempt is less than Refetch ago (force: at
// start). A failed fetch keeps the previous set.
func (p *jwtProvider) refresh(ctx context.Context, force bool) error {
	p.fetch.Lock()
	defer p.fetch.Unlock()
	p.mu.Lock()
	if !force && !p.tried.IsZero() && p.now().Sub(p.tried) < p.cfg.Refetch {
		p.mu.Unlock()
		return errors.New("fetched recently")
	}
	p.tried = p.now()
	p.nget++
	p.mu.Unlock()
	set, err := p.load(ctx)
	if err != nil {
		p.log.Warn("identity provider key set not loaded", "jwks", p.source(), "err", err)
		return err
	}
	p.mu.Lock()
	p.keys, p.got = set, p.now()
	p.mu.Unlock()
	return nil
}

func (p *jwtProvider) source() string {
	if p.cfg.JWKSFile != "" {
		return p.cfg.JWKSFile
	}
	return p.cfg.JWKSURL
}

// load reads the key set (at most 1 MiB) and keeps its usable signature keys: public RSA
// (2048 bits or more), EC and Ed25519 keys whose "use" is empty or "sig".
func (p *jwtProvider) load(ctx context.Context) (*jose.JSONWebKeySet, error) {
	var raw []byte
	if p.cfg.JWKSFile != "" {
		f, err := os.Open(p.cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		defer f.Close()
		raw, err = io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.JWKSURL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := p.cfg.HTTPClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("jwks_url: HTTP %d", resp.StatusCode)
		}
		if raw, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1)); err != nil {
			return nil, err
		}
	}
	if len(raw) > maxJWKSBytes {
		return nil, errors.New("the key set is larger than 1 MiB")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	out := &jose.JSONWebKeySet{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" || !k.IsPublic() || !k.Valid() {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		if len(out.Keys) == maxJWKSKeys {
			break
		}
		out.Keys = append(out.Keys, k)
	}
	if len(out.Keys) == 0 {
		return nil, errors.New("the key set holds no usable public signature key")
	}
	return out, nil
}

// fetches returns how many times the provider of issuer tried to load its key set (tests).
func (v *JWTVerifier) fetches(issuer string) int {
	p := v.providers[issuer]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nget
}
