package dss

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// claimsVerification is a signer that says it verifies its signatures (xades.VerifyingSigner,
// as hsm.Guard does) without doing so; pub, when set, is the key it claims.
type claimsVerification struct {
	*countingSigner
	pub crypto.PublicKey
}

func (c claimsVerification) VerifiesSignatures() {}
func (c claimsVerification) Public() crypto.PublicKey {
	if c.pub != nil {
		return c.pub
	}
	return c.countingSigner.Public()
}

// TestRawSelfCheckOnce: a raw signature value is verified once. A VerifyingSigner with the
// certificate's key has verified it (so even its corrupted value, which hsm.Guard would never
// return, is not verified again); a signer that does not verify, or one whose key is not the
// certificate's, gets the public-key verification here, and a corrupted value is refused.
func TestRawSelfCheckOnce(t *testing.T) {
	d := sha256.Sum256([]byte("tbs"))
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, cred := range []string{"alice-rsa", "alice-ec"} {
		for _, tc := range []struct {
			name     string
			wrap     func(*countingSigner) any
			released bool
		}{
			{"plain signer", func(c *countingSigner) any { return c }, false},
			{"verifying signer, the certificate's key", func(c *countingSigner) any { return claimsVerification{countingSigner: c} }, true},
			{"verifying signer, another key", func(c *countingSigner) any { return claimsVerification{countingSigner: c, pub: other.Public()} }, false},
		} {
			f := newFixture(t)
			cs := f.signers[cred]
			cs.flip = true
			keys := f.svc.keys.(keyMap)
			keys[cred] = tc.wrap(cs).(crypto.Signer)
			resp, err := f.svc.Sign(context.Background(), alice, &SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{"SHA-256", d[:]}}}},
				Options: SignOptions{CredentialID: cred}})
			if tc.released != (err == nil) {
				t.Errorf("%s, %s: a corrupted signature value: released %v, want %v (%v)", cred, tc.name, err == nil, tc.released, err)
			}
			if err == nil && len(resp.Signatures) != 1 {
				t.Errorf("%s, %s: %d signatures", cred, tc.name, len(resp.Signatures))
			}
		}
	}
}
