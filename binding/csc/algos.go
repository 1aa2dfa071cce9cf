package csc

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Object identifiers of the CSC API (RFC 3279, RFC 4055, RFC 5758, NIST).
const (
	OIDSHA256 = "2.16.840.1.101.3.4.2.1"
	OIDSHA384 = "2.16.840.1.101.3.4.2.2"
	OIDSHA512 = "2.16.840.1.101.3.4.2.3"

	OIDRSA           = "1.2.840.113549.1.1.1" // rsaEncryption: the hash comes from hashAlgorithmOID
	OIDRSAPSS        = "1.2.840.113549.1.1.10"
	OIDMGF1          = "1.2.840.113549.1.1.8"
	OIDSHA256WithRSA = "1.2.840.113549.1.1.11"
	OIDSHA384WithRSA = "1.2.840.113549.1.1.12"
	OIDSHA512WithRSA = "1.2.840.113549.1.1.13"
	OIDECPublicKey   = "1.2.840.10045.2.1" // id-ecPublicKey: the hash comes from hashAlgorithmOID
	OIDECDSASHA256   = "1.2.840.10045.4.3.2"
	OIDECDSASHA384   = "1.2.840.10045.4.3.3"
	OIDECDSASHA512   = "1.2.840.10045.4.3.4"

	OIDCurveP256 = "1.2.840.10045.3.1.7"
	OIDCurveP384 = "1.3.132.0.34"
	OIDCurveP521 = "1.3.132.0.35"
)

// XMLDSig signature method URIs (RFC 6931) for the algorithms dssd's XML signatures use.
const (
	uriRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	uriRSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	uriRSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	uriPSSSHA256   = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
	uriPSSSHA384   = "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
	uriPSSSHA512   = "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"
	uriECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	uriECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	uriECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

var hashByOID = map[string]crypto.Hash{OIDSHA256: crypto.SHA256, OIDSHA384: crypto.SHA384, OIDSHA512: crypto.SHA512}

// family is the key type a signature algorithm needs.
type family int

const (
	famRSA family = iota + 1
	famEC
)

// sigAlgo is one combined signature algorithm OID.
type sigAlgo struct {
	fam  family
	hash string // hash OID
	uri  string // the XMLDSig method (document signing)
}

var combined = map[string]sigAlgo{
	OIDSHA256WithRSA: {famRSA, OIDSHA256, uriRSASHA256},
	OIDSHA384WithRSA: {famRSA, OIDSHA384, uriRSASHA384},
	OIDSHA512WithRSA: {famRSA, OIDSHA512, uriRSASHA512},
	OIDECDSASHA256:   {famEC, OIDSHA256, uriECDSASHA256},
	OIDECDSASHA384:   {famEC, OIDSHA384, uriECDSASHA384},
	OIDECDSASHA512:   {famEC, OIDSHA512, uriECDSASHA512},
}

var pssURI = map[string]string{OIDSHA256: uriPSSSHA256, OIDSHA384: uriPSSSHA384, OIDSHA512: uriPSSSHA512}

// combine returns the combined OID of a key algorithm and a hash.
func combine(fam family, hash string) string {
	for oid, a := range combined {
		if a.fam == fam && a.hash == hash {
			return oid
		}
	}
	return ""
}

// hashSignAlgos lists the signAlgo values signHash accepts, for info.
var hashSignAlgos = []string{
	OIDRSA, OIDSHA256WithRSA, OIDSHA384WithRSA, OIDSHA512WithRSA, OIDRSAPSS,
	OIDECPublicKey, OIDECDSASHA256, OIDECDSASHA384, OIDECDSASHA512,
}

// algoChoice is what the binding hands to the domain for one signAlgo.
type algoChoice struct {
	signatureAlgorithm string // dss SignOptions.SignatureAlgorithm: an OID, or the XMLDSig URI for RSA-PSS
	hashOID            string // the digest algorithm of the hashes
	uri                string // the XMLDSig method, for document signing
}

// errAlgo is a client error in signAlgo, hashAlgorithmOID or signAlgoParams.
type errAlgo struct{ msg string }

func (e *errAlgo) Error() string { return e.msg }

func algoErr(format string, args ...any) error { return &errAlgo{fmt.Sprintf(format, args...)} }

// chooseAlgo resolves signAlgo (+ hashAlgorithmOID, + signAlgoParams) into what dss needs.
// Key-only OIDs (rsaEncryption, id-ecPublicKey) take the hash from hashAlgorithmOID; a
// combined OID fixes the hash, which hashAlgorithmOID must then match; RSASSA-PSS needs its
// parameters with MGF1 over the same hash and a salt as long as the hash (the only form dssd
// creates). Unknown OIDs are passed through for dss to refuse with its own words.
func chooseAlgo(signAlgo, hashOID, params string) (algoChoice, error) {
	signAlgo, hashOID = strings.TrimSpace(signAlgo), strings.TrimSpace(hashOID)
	if signAlgo == "" {
		return algoChoice{}, algoErr("missing (or invalid type) string parameter signAlgo")
	}
	if params != "" && signAlgo != OIDRSAPSS {
		return algoChoice{}, algoErr("signAlgoParams is only defined for RSASSA-PSS (%s)", OIDRSAPSS)
	}
	switch signAlgo {
	case OIDRSA, OIDECPublicKey:
		if hashOID == "" {
			return algoChoice{}, algoErr("signAlgo %s needs hashAlgorithmOID", signAlgo)
		}
		fam := famRSA
		if signAlgo == OIDECPublicKey {
			fam = famEC
		}
		oid := combine(fam, hashOID)
		if oid == "" {
			return algoChoice{}, algoErr("invalid parameter hashAlgorithmOID: %q is not supported", hashOID)
		}
		return algoChoice{signatureAlgorithm: oid, hashOID: hashOID, uri: combined[oid].uri}, nil
	case OIDRSAPSS:
		if params == "" {
			return algoChoice{}, algoErr("signAlgo %s (RSASSA-PSS) needs signAlgoParams", signAlgo)
		}
		h, err := pssHash(params)
		if err != nil {
			return algoChoice{}, err
		}
		if hashOID != "" && hashOID != h {
			return algoChoice{}, algoErr("hashAlgorithmOID %s differs from the RSASSA-PSS hash %s", hashOID, h)
		}
		return algoChoice{signatureAlgorithm: pssURI[h], hashOID: h, uri: pssURI[h]}, nil
	}
	if a, ok := combined[signAlgo]; ok {
		if hashOID != "" && hashOID != a.hash {
			return algoChoice{}, algoErr("hashAlgorithmOID %s differs from the hash of signAlgo %s", hashOID, signAlgo)
		}
		return algoChoice{signatureAlgorithm: signAlgo, hashOID: a.hash, uri: a.uri}, nil
	}
	if hashOID == "" {
		return algoChoice{}, algoErr("invalid parameter signAlgo: %q is not supported", signAlgo)
	}
	return algoChoice{signatureAlgorithm: signAlgo, hashOID: hashOID}, nil
}

// pssParams is RSASSA-PSS-params (RFC 4055 §3.1).
type pssParams struct {
	Hash    pkix.AlgorithmIdentifier `asn1:"explicit,tag:0,optional"`
	MGF     pkix.AlgorithmIdentifier `asn1:"explicit,tag:1,optional"`
	Salt    int                      `asn1:"explicit,tag:2,optional,default:20"`
	Trailer int                      `asn1:"explicit,tag:3,optional,default:1"`
}

// pssHash checks base64 DER RSASSA-PSS-params and returns their hash OID.
func pssHash(b64 string) (string, error) {
	der, err := decodeB64(b64)
	if err != nil {
		return "", algoErr("invalid parameter signAlgoParams: not base64")
	}
	var p pssParams
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) != 0 {
		return "", algoErr("invalid parameter signAlgoParams: not DER RSASSA-PSS-params")
	}
	h := p.Hash.Algorithm.String()
	if len(p.Hash.Algorithm) == 0 {
		return "", algoErr("RSASSA-PSS with the default SHA-1 is not supported")
	}
	hash, ok := hashByOID[h]
	if !ok {
		return "", algoErr("RSASSA-PSS hash %s is not supported", h)
	}
	var mgfHash pkix.AlgorithmIdentifier
	if p.MGF.Algorithm.String() != OIDMGF1 {
		return "", algoErr("RSASSA-PSS mask generation must be MGF1")
	}
	if rest, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfHash); err != nil || len(rest) != 0 || mgfHash.Algorithm.String() != h {
		return "", algoErr("RSASSA-PSS MGF1 must use the signature's hash %s", h)
	}
	if p.Salt != hash.Size() {
		return "", algoErr("RSASSA-PSS salt length must be %d (the hash length), not %d", hash.Size(), p.Salt)
	}
	if p.Trailer != 1 {
		return "", algoErr("RSASSA-PSS trailer field must be 1")
	}
	return h, nil
}

// PSSParams returns base64 DER RSASSA-PSS-params for hash OID h with MGF1(h) and a salt of
// the hash length: the only RSASSA-PSS form dssd creates. Clients and tests use it.
func PSSParams(h string) (string, error) {
	hash, ok := hashByOID[h]
	if !ok {
		return "", errors.New("unsupported hash")
	}
	oid, err := parseOID(h)
	if err != nil {
		return "", err
	}
	null := asn1.RawValue{FullBytes: []byte{5, 0}}
	hashAlg := pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: null}
	hb, err := asn1.Marshal(hashAlg)
	if err != nil {
		return "", err
	}
	mgf, _ := parseOID(OIDMGF1)
	der, err := asn1.Marshal(pssParams{
		Hash: hashAlg, MGF: pkix.AlgorithmIdentifier{Algorithm: mgf, Parameters: asn1.RawValue{FullBytes: hb}},
		Salt: hash.Size(), Trailer: 1,
	})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, p := range strings.Split(s, ".") {
		n := 0
		if p == "" {
			return nil, fmt.Errorf("bad oid %q", s)
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("bad oid %q", s)
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	return oid, nil
}

// decodeB64 decodes standard base64 (interface.md §5); base64url, with or without padding,
// is accepted as well since CSC clients differ.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty")
	}
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.URLEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}
