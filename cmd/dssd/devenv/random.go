package devenv

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"io"
)

// randomToken returns 32 random bytes, base64url without padding (bearer tokens, PINs of the
// token, the SAD key).
func randomToken(rand io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("devenv: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// randomDigits returns n uniformly random decimal digits (a signing PIN).
func randomDigits(rand io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return "", fmt.Errorf("devenv: random: %w", err)
		}
		if b[0] < 250 { // rejection sampling keeps the digits uniform
			out = append(out, '0'+b[0]%10)
		}
	}
	return string(out), nil
}

// randomBase32 returns n random bytes in base32 without padding (a TOTP secret, RFC 6238).
func randomBase32(rand io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("devenv: random: %w", err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}
