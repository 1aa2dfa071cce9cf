package xades

import (
	"crypto/ecdsa"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// RawECDSA converts an ASN.1 DER ECDSA-Sig-Value, as a crypto.Signer
// returns it, into the fixed-width r‖s form XMLDSig requires (RFC 4050,
// XMLDSig 1.1 §6.4.3): r and s each left-padded with zeros to the byte
// length of the curve order (32 for P-256, 48 for P-384, 66 for P-521).
// It refuses trailing data, negative values and r or s outside [1, n-1].
func RawECDSA(der []byte, pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve == nil {
		return nil, fmt.Errorf("%w: no ecdsa public key", ErrInappropriate)
	}
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil {
		return nil, fmt.Errorf("ecdsa signature is not der: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("ecdsa signature has %d bytes after the der value", len(rest))
	}
	n := pub.Curve.Params().N
	size := (n.BitLen() + 7) / 8
	for _, x := range []*big.Int{v.R, v.S} {
		if x.Sign() <= 0 || x.Cmp(n) >= 0 {
			return nil, fmt.Errorf("ecdsa signature value out of range")
		}
	}
	out := make([]byte, 2*size)
	v.R.FillBytes(out[:size])
	v.S.FillBytes(out[size:])
	return out, nil
}
