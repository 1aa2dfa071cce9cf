package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"io"
)

// Guard wraps s so that every signature is checked before and after the device is called.
//
// Before: the hash must be SHA-256, SHA-384 or SHA-512 and the digest exactly as long as that
// hash, else ErrInvalidDigest and s is not called (a device would otherwise sign raw caller
// bytes, see hardening.md §2.8). RSA-PSS options are rewritten to PSSSaltLengthEqualsHash
// (PSSSaltLengthAuto and an explicit salt length equal to the hash size are accepted, other salt
// lengths are ErrNotSupported), because PKCS#11 tokens cannot do the "auto" salt.
//
// After: the signature is verified with s.Public() (RSA PKCS#1 v1.5, RSA-PSS with salt length
// equal to the hash, ECDSA as ASN.1 DER); a signature that does not verify is never returned,
// the call fails with ErrBadSignature.
//
// Only RSA and ECDSA public keys are supported (ErrNotSupported otherwise). Guard(Guard(s)) is
// Guard(s). The result is safe for concurrent use when s is.
func Guard(s crypto.Signer) crypto.Signer {
	if g, ok := s.(*guarded); ok {
		return g
	}
	return &guarded{inner: s}
}

type guarded struct {
	inner crypto.Signer
}

func (g *guarded) Public() crypto.PublicKey { return g.inner.Public() }

// VerifiesSignatures marks a signer that verifies every signature it returns with its public
// key (dss/xades.VerifyingSigner): a self-check of the same value over the same digest need not
// verify it again.
func (g *guarded) VerifiesSignatures() {}

// Unwrap returns the signer Guard wraps (for tests and diagnostics).
func (g *guarded) Unwrap() crypto.Signer { return g.inner }

func (g *guarded) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: no hash given", ErrInvalidDigest)
	}
	h := opts.HashFunc()
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("%w: hash %s is not allowed (SHA-256, SHA-384, SHA-512 only)", ErrInvalidDigest, hashName(h))
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("%w: digest is %d bytes, %s needs %d", ErrInvalidDigest, len(digest), h, h.Size())
	}
	pss, isPSS := opts.(*rsa.PSSOptions)
	switch pub := g.inner.Public().(type) {
	case *rsa.PublicKey:
		if isPSS {
			if pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size() {
				return nil, fmt.Errorf("%w: RSA-PSS salt length %d (only the hash length is supported)", ErrNotSupported, pss.SaltLength)
			}
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
		}
		sig, err := g.inner.Sign(rand, digest, opts)
		if err != nil {
			return nil, err
		}
		if isPSS {
			err = rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		} else {
			err = rsa.VerifyPKCS1v15(pub, h, digest, sig)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return sig, nil
	case *ecdsa.PublicKey:
		if isPSS {
			return nil, fmt.Errorf("%w: RSA-PSS options with an ECDSA key", ErrNotSupported)
		}
		sig, err := g.inner.Sign(rand, digest, opts)
		if err != nil {
			return nil, err
		}
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return nil, fmt.Errorf("%w: ECDSA signature (ASN.1 DER expected)", ErrBadSignature)
		}
		return sig, nil
	default:
		return nil, fmt.Errorf("%w: public key type %T", ErrNotSupported, pub)
	}
}

func hashName(h crypto.Hash) string {
	if h == 0 {
		return "none"
	}
	return h.String()
}
