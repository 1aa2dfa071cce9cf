package dss

import (
	"crypto"
	"strings"

	"dssd/dss/xades"
)

// Signature types (interface.md §4).
const (
	TypeXMLDSig = xades.TypeXMLDSig
	TypeXAdES   = xades.TypeXAdES
)

// Level profiles (interface.md §4). The applied one is echoed in dsb:AppliedProfile.
const (
	LevelBB   = "urn:dssd:level:B-B"
	LevelBT   = "urn:dssd:level:B-T"
	LevelBLT  = "urn:dssd:level:B-LT"
	LevelBLTA = "urn:dssd:level:B-LTA"
)

// TimestampRFC3161 is the AddTimestamp type dssd understands.
const TimestampRFC3161 = "urn:ietf:rfc:3161"

// keyFamily is the kind of key a signature algorithm needs.
type keyFamily int

const (
	familyRSA keyFamily = iota + 1
	familyEC
)

// sigAlg describes one allowed XML signature algorithm.
type sigAlg struct {
	hash   crypto.Hash
	family keyFamily
	pss    bool
}

// allowedSigAlgs is the allow-list of SignatureAlgorithm URIs (RFC 6931). SHA-1 and MD5 are
// absent on purpose: asking for them is NotSupported.
var allowedSigAlgs = map[string]sigAlg{
	xades.RSASHA256:    {crypto.SHA256, familyRSA, false},
	xades.RSASHA384:    {crypto.SHA384, familyRSA, false},
	xades.RSASHA512:    {crypto.SHA512, familyRSA, false},
	xades.RSAPSSSHA256: {crypto.SHA256, familyRSA, true},
	xades.RSAPSSSHA384: {crypto.SHA384, familyRSA, true},
	xades.RSAPSSSHA512: {crypto.SHA512, familyRSA, true},
	xades.ECDSASHA256:  {crypto.SHA256, familyEC, false},
	xades.ECDSASHA384:  {crypto.SHA384, familyEC, false},
	xades.ECDSASHA512:  {crypto.SHA512, familyEC, false},
}

const (
	defaultRSAAlg = xades.RSASHA256
	defaultECAlg  = xades.ECDSASHA256
	defaultP384   = xades.ECDSASHA384
)

func familyOf(keyType string) keyFamily {
	switch {
	case strings.HasPrefix(keyType, "RSA"):
		return familyRSA
	case strings.HasPrefix(keyType, "EC"):
		return familyEC
	}
	return 0
}

// signatureAlgorithm picks the XML signature algorithm for a credential: the requested one
// when it is allowed and fits the key, else the key's default.
func signatureAlgorithm(requested, keyType string) (string, error) {
	fam := familyOf(keyType)
	if requested == "" {
		switch fam {
		case familyRSA:
			return defaultRSAAlg, nil
		case familyEC:
			if keyType == "EC-P384" {
				return defaultP384, nil // the hash follows the curve's strength
			}
			return defaultECAlg, nil
		}
		return "", Errorf(KindInternal, "credential has unknown key type %q", keyType)
	}
	alg, ok := allowedSigAlgs[strings.TrimSpace(requested)]
	if !ok {
		return "", Errorf(KindNotSupported, "SignatureAlgorithm %q is not supported", requested)
	}
	if alg.family != fam {
		return "", Errorf(KindInappropriate, "SignatureAlgorithm %q does not fit the credential's %s key", requested, keyType)
	}
	return strings.TrimSpace(requested), nil
}

// levelOf reads the requested XAdES level from the profiles and AddTimestamp.
// Unknown profiles are NotSupported.
func levelOf(profiles, addTimestamp []string) (string, error) {
	level := ""
	for _, p := range profiles {
		switch p {
		case LevelBB, LevelBT, LevelBLT, LevelBLTA:
			if level != "" && level != p {
				return "", Errorf(KindMalformed, "more than one level profile: %q and %q", level, p)
			}
			level = p
		default:
			return "", Errorf(KindNotSupported, "profile %q is not supported", p)
		}
	}
	for _, t := range addTimestamp {
		if t != TimestampRFC3161 {
			return "", Errorf(KindNotSupported, "AddTimestamp type %q is not supported", t)
		}
		if level == "" || level == LevelBB {
			level = LevelBT
		}
	}
	if level == "" {
		level = LevelBB
	}
	return level, nil
}
