package xades

import (
	"bytes"
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
	if out, ok := rawECDSAPlain(der, pub.Curve.Params().N); ok {
		return out, nil
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

// rawECDSAPlain converts the DER every signer returns — SEQUENCE { INTEGER r, INTEGER s },
// definite minimal lengths, minimal positive integers, nothing after — without big.Int. It
// answers false for anything else, and for r or s outside [1, n-1], which RawECDSA then reads
// with encoding/asn1 to refuse it with that package's reason (or to accept an encoding this
// shortcut does not know, with the same result).
func rawECDSAPlain(der []byte, n *big.Int) ([]byte, bool) {
	size := (n.BitLen() + 7) / 8
	var nb [66]byte // the order of P-521, the largest curve, has 66 bytes
	if size > len(nb) {
		return nil, false
	}
	n.FillBytes(nb[:size])
	seq, rest, ok := derElement(der, 0x30)
	if !ok || len(rest) != 0 {
		return nil, false
	}
	r, seq, ok := derElement(seq, 0x02)
	if !ok {
		return nil, false
	}
	s, seq, ok := derElement(seq, 0x02)
	if !ok || len(seq) != 0 {
		return nil, false
	}
	out := make([]byte, 2*size)
	for i, v := range [2][]byte{r, s} {
		// Minimal and positive: not empty, no sign bit, no redundant leading zero.
		if len(v) == 0 || v[0]&0x80 != 0 || len(v) > 1 && v[0] == 0 && v[1]&0x80 == 0 {
			return nil, false
		}
		if v[0] == 0 {
			v = v[1:]
		}
		if len(v) == 0 || len(v) > size { // zero, or longer than the order
			return nil, false
		}
		x := out[i*size : (i+1)*size]
		copy(x[size-len(v):], v)
		if bytes.Compare(x, nb[:size]) >= 0 { // not below n
			return nil, false
		}
	}
	return out, true
}

// derElement reads one DER element with the given tag (low-tag-number form) and a definite
// minimal length below 256 from the front of b: its contents and what follows.
func derElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	l := int(b[1])
	b = b[2:]
	switch {
	case l < 0x80:
	case l == 0x81 && len(b) > 0 && b[0] >= 0x80:
		l = int(b[0])
		b = b[1:]
	default:
		return nil, nil, false
	}
	if len(b) < l {
		return nil, nil, false
	}
	return b[:l], b[l:], true
}
