package dss

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"dssd/dss/sad"
)

// Factors are the two activation factors of one SCAL2 credential (interface.md §5): a
// knowledge factor (the PIN, kept only as a slow hash) and a possession factor (the TOTP
// secret shared with the signer's authenticator).
type Factors struct {
	PIN  *PINHash
	TOTP *TOTP
}

// PIN hashing: argon2id with the OWASP minimum parameters (19 MiB, 2 passes, 1 lane), about
// 30 ms per check on the project's machine. Stored parameters are bounded so that a
// configured hash cannot make every activation arbitrarily expensive.
const (
	pinMemoryKiB  = 19 * 1024
	pinTime       = 2
	pinThreads    = 1
	pinSaltBytes  = 16
	pinHashBytes  = 32
	maxPINBytes   = 256
	maxPINMemory  = 256 * 1024
	maxPINTime    = 10
	maxPINThreads = 8
	phcPrefix     = "$argon2id$"
	maxPINChecks  = 4 // concurrent PIN checks per node
)

// PINHash is an argon2id verifier of a PIN. Its String form is the PHC string
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" (unpadded standard base64), which a
// configuration may hold instead of the PIN itself.
type PINHash struct {
	salt, hash []byte
	memory     uint32
	time       uint32
	threads    uint8
}

// NewPINHash hashes pin with a fresh salt from r (nil: crypto/rand).
func NewPINHash(pin []byte, r io.Reader) (*PINHash, error) {
	if len(pin) == 0 || len(pin) > maxPINBytes {
		return nil, fmt.Errorf("a PIN has 1 to %d bytes", maxPINBytes)
	}
	if r == nil {
		r = rand.Reader
	}
	p := &PINHash{salt: make([]byte, pinSaltBytes), memory: pinMemoryKiB, time: pinTime, threads: pinThreads}
	if _, err := io.ReadFull(r, p.salt); err != nil {
		return nil, fmt.Errorf("pin salt: %w", err)
	}
	p.hash = argon2.IDKey(pin, p.salt, p.time, p.memory, p.threads, pinHashBytes)
	return p, nil
}

// IsPINHash reports whether s looks like a PHC argon2id string rather than a PIN.
func IsPINHash(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), phcPrefix) }

// ParsePINHash parses a PHC argon2id string.
func ParsePINHash(s string) (*PINHash, error) {
	parts := strings.Split(strings.TrimSpace(s), "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return nil, errors.New("not an argon2id PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)")
	}
	p := &PINHash{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("argon2id parameter %q", kv)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("argon2id parameter %q", kv)
			}
			p.threads = uint8(n)
		default:
			return nil, fmt.Errorf("argon2id parameter %q", kv)
		}
	}
	if p.memory < 8*1024 || p.memory > maxPINMemory || p.time < 1 || p.time > maxPINTime || p.threads < 1 || p.threads > maxPINThreads {
		return nil, fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d outside m=8192..%d, t=1..%d, p=1..%d",
			p.memory, p.time, p.threads, maxPINMemory, maxPINTime, maxPINThreads)
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return nil, errors.New("argon2id salt is not base64 of at least 8 bytes")
	}
	if p.hash, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.hash) < 16 {
		return nil, errors.New("argon2id hash is not base64 of at least 16 bytes")
	}
	return p, nil
}

// String returns the PHC string (it contains no secret that allows signing, but it allows
// an offline guessing attack: keep it as protected as the PIN file).
func (p *PINHash) String() string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(p.salt), base64.RawStdEncoding.EncodeToString(p.hash))
}

// Verify reports whether pin matches, in time independent of where it differs.
func (p *PINHash) Verify(pin string) bool {
	if p == nil || len(pin) == 0 || len(pin) > maxPINBytes {
		return false
	}
	got := argon2.IDKey([]byte(pin), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	return subtle.ConstantTimeCompare(got, p.hash) == 1
}

// TOTP checks one-time passwords per RFC 6238 with its defaults: HMAC-SHA-1, 30 s steps,
// 6 digits, and one step of tolerated clock drift either way.
type TOTP struct {
	secret string // normalised base32, unpadded
}

const (
	totpPeriod = 30
	totpSkew   = 1
)

// NewTOTP accepts a base32 secret of at least 16 bytes (case, spaces and padding ignored).
func NewTOTP(secret string) (*TOTP, error) {
	s := strings.ToUpper(strings.TrimRight(strings.Join(strings.Fields(secret), ""), "="))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(key) < 16 {
		return nil, errors.New("a TOTP secret is base32 of at least 16 bytes")
	}
	return &TOTP{secret: s}, nil
}

// Match returns the time step whose code is code (now, one step before or one after).
func (t *TOTP) Match(code string, now time.Time) (step int64, ok bool) {
	if t == nil || len(code) != 6 {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	found := int64(-1)
	for off := int64(-totpSkew); off <= totpSkew; off++ {
		at := now.Add(time.Duration(off*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(t.secret, at, opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found < 0 {
			found = at.Unix() / totpPeriod
		}
	}
	return found, found >= 0
}

// hashOfOID maps the hash algorithm OID of an authorization request; "" means SHA-256.
func hashOfOID(oid string) crypto.Hash {
	switch strings.TrimSpace(oid) {
	case "", "2.16.840.1.101.3.4.2.1":
		return crypto.SHA256
	case "2.16.840.1.101.3.4.2.2":
		return crypto.SHA384
	case "2.16.840.1.101.3.4.2.3":
		return crypto.SHA512
	}
	return 0
}

// MimeSAD is the SupportingInfo MimeType of signature activation data (interface.md §5).
const MimeSAD = "application/jwt"

// activate enforces signature activation before the device is used. A SCAL2 credential needs
// a SAD in ClaimedIdentity/SupportingInfo, issued to the caller for this credential and for
// exactly the hashes (algorithm and count included) of this request; it is consumed here,
// once across all nodes, after every other check passed. A SCAL1 credential needs no SAD;
// one sent anyway (CSC v2 explicit mode, or an OAuth2 credential token) is checked and
// consumed exactly like a SCAL2 one, never ignored.
func (s *Service) activate(ctx context.Context, c Caller, cred *Credential, ci *ClaimedIdentity, hs []crypto.Hash, ds [][]byte) (err error) {
	hasSAD := ci != nil && len(ci.SupportingInfo) > 0
	if cred.SCAL < 2 && !hasSAD {
		return nil
	}
	defer func() {
		switch {
		case err == nil:
			s.meter.Activation(SADConsumed)
		case KindOf(err) == KindSADInvalid:
			s.meter.Activation(SADRefused)
		}
	}()
	if !hasSAD {
		return Errorf(KindSADInvalid, "credential %s is SCAL2: the request needs signature activation data in ClaimedIdentity/SupportingInfo", cred.ID)
	}
	if s.sad == nil || s.replay == nil {
		return Wrap(KindInternal, fmt.Errorf("signature activation is not configured for %s", cred.ID), "")
	}
	if mt, _, err := mime.ParseMediaType(ci.SupportingInfoMimeType); err != nil || mt != MimeSAD {
		return Errorf(KindSADInvalid, "ClaimedIdentity/SupportingInfo must have MimeType %s", MimeSAD)
	}
	if ci.Name != c.User {
		return Errorf(KindSADInvalid, "ClaimedIdentity/Name must be the authenticated user")
	}
	for _, h := range hs {
		if h != hs[0] {
			return Errorf(KindSADInvalid, "one SAD covers hashes of one algorithm; this request mixes %v and %v", hs[0], h)
		}
	}
	claims, err := s.sad.Check(string(ci.SupportingInfo), sad.Grant{User: c.User, Credential: cred.ID, Hash: hs[0], Hashes: ds})
	if err != nil {
		return Wrap(KindSADInvalid, err, err.Error())
	}
	if err := s.sad.Consume(ctx, s.replay, claims); err != nil {
		if errors.Is(err, sad.ErrInvalid) {
			return Wrap(KindSADInvalid, err, err.Error())
		}
		return Wrap(KindInternal, err, "")
	}
	return nil
}
