package xmldsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
)

// KeyKind is the family of a SignatureMethod.
type KeyKind int

// Signature method families.
const (
	RSA   KeyKind = iota + 1 // RSASSA-PKCS1-v1_5
	PSS                      // RSASSA-PSS, MGF1 with the same hash, salt length = hash length (RFC 6931)
	ECDSA                    // ECDSA with the raw r‖s value of XMLDSig 1.1 §6.4.3
)

// Method is a SignatureMethod: its family and hash.
type Method struct {
	Kind KeyKind
	Hash crypto.Hash
}

// ErrKeyMismatch is returned by VerifyValue when the method does not fit the key.
var ErrKeyMismatch = errors.New("the signature method does not fit the key")

// VerifyValue verifies the signature value sv over digest (the hash of the canonical
// SignedInfo under m.Hash) with pub.
func VerifyValue(m Method, pub crypto.PublicKey, digest, sv []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch m.Kind {
		case RSA:
			return rsa.VerifyPKCS1v15(k, m.Hash, digest, sv)
		case PSS:
			return rsa.VerifyPSS(k, m.Hash, digest, sv, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: m.Hash})
		}
	case *ecdsa.PublicKey:
		if m.Kind == ECDSA {
			return VerifyRawECDSA(k, digest, sv)
		}
	}
	return ErrKeyMismatch
}

// VerifyRawECDSA checks a raw r‖s value: exactly 2×size bytes, 0 < r, s < n (hardening.md
// §2.9).
func VerifyRawECDSA(pub *ecdsa.PublicKey, digest, sig []byte) error {
	n := pub.Curve.Params().N
	size := (n.BitLen() + 7) / 8
	if len(sig) != 2*size {
		return fmt.Errorf("the ecdsa value has %d bytes, want %d (r‖s)", len(sig), 2*size)
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return errors.New("the ecdsa value is out of range")
	}
	if !ecdsa.Verify(pub, digest, r, s) {
		return errors.New("ecdsa verification failed")
	}
	return nil
}
