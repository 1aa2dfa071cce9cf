package verify

import (
	"crypto"
	_ "crypto/md5" // integrity comparison only (integrityHashes)
	"fmt"
	"slices"
	"strings"

	"dssd/dss/xades"
	"dssd/dss/xmldsig"
)

// Policy is the algorithm policy of a Verifier: which digests, signature methods and key
// sizes it accepts. Anything not allowed is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE; a
// document never chooses a weak algorithm (hardening.md §2.7).
type Policy struct {
	// Digests are the allowed DigestMethod URIs for References, SigningCertificate(V2)
	// CertDigest and timestamp imprints. Empty: SHA-256, SHA-384, SHA-512.
	Digests []string
	// SignatureMethods are the allowed SignatureMethod URIs. Empty: RSA PKCS#1 v1.5,
	// RSA-PSS and ECDSA with SHA-256/384/512.
	SignatureMethods []string
	// MinRSABits is the smallest accepted RSA modulus (default 2048; at most 8192 is ever
	// accepted).
	MinRSABits int
}

// Algorithm URIs this package knows beyond the ones dss/xades names.
const (
	DigestSHA1       = xmldsig.DigestSHA1
	DigestMD5        = xmldsig.DigestMD5
	DigestSHA224     = xmldsig.DigestSHA224
	RSASHA1          = xmldsig.RSASHA1
	RSAMD5           = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
	ECDSASHA1        = xmldsig.ECDSASHA1
	RSAPSSSHA1       = xmldsig.RSAPSSSHA1
	HMACSHA1         = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
	C14N10           = xmldsig.C14N10
	C14N10Comments   = xmldsig.C14N10Comments
	C14N11Comments   = xmldsig.C14N11Comments
	ExcC14NComments  = xmldsig.ExcC14NComments
	TransformXPath   = xmldsig.TransformXPath
	TransformXPath2  = xmldsig.TransformXPath2
	TransformXSLT    = "http://www.w3.org/TR/1999/REC-xslt-19991116"
	maxRSABits       = 8192
	defaultMinRSABit = 2048
)

// DefaultPolicy is SHA-2 digests, RSA (PKCS#1 v1.5 and PSS) and ECDSA with SHA-2, RSA keys of
// at least 2048 bits.
func DefaultPolicy() Policy {
	return Policy{
		Digests: []string{xades.DigestSHA256, xades.DigestSHA384, xades.DigestSHA512},
		SignatureMethods: []string{
			xades.RSASHA256, xades.RSASHA384, xades.RSASHA512,
			xades.RSAPSSSHA256, xades.RSAPSSSHA384, xades.RSAPSSSHA512,
			xades.ECDSASHA256, xades.ECDSASHA384, xades.ECDSASHA512,
		},
		MinRSABits: defaultMinRSABit,
	}
}

func (p Policy) isZero() bool {
	return len(p.Digests) == 0 && len(p.SignatureMethods) == 0 && p.MinRSABits == 0
}

// check refuses a policy naming algorithms this package cannot compute or must never accept.
func (p *Policy) check() error {
	d := DefaultPolicy()
	if len(p.Digests) == 0 {
		p.Digests = d.Digests
	}
	if len(p.SignatureMethods) == 0 {
		p.SignatureMethods = d.SignatureMethods
	}
	if p.MinRSABits == 0 {
		p.MinRSABits = d.MinRSABits
	}
	if p.MinRSABits < 1024 || p.MinRSABits > maxRSABits {
		return fmt.Errorf("verify: policy: min RSA bits %d is outside 1024..%d", p.MinRSABits, maxRSABits)
	}
	for _, u := range p.Digests {
		if _, ok := digestHashes[u]; !ok {
			return fmt.Errorf("verify: policy: digest %q is not supported (MD5 is never accepted)", u)
		}
	}
	for _, u := range p.SignatureMethods {
		if _, ok := sigMethods[u]; !ok {
			return fmt.Errorf("verify: policy: signature method %q is not supported (MD5 and HMAC are never accepted)", u)
		}
	}
	return nil
}

// digestHashes are the DigestMethod URIs this package can compute (xmldsig.DigestMethods).
// MD5 is absent: never.
var digestHashes = xmldsig.DigestMethods

type sigMethod struct {
	kind xmldsig.KeyKind
	hash crypto.Hash
}

// sigMethods are the SignatureMethod URIs this package can verify (xmldsig.SignatureMethods).
// MD5 and HMAC are absent.
var sigMethods = func() map[string]sigMethod {
	m := map[string]sigMethod{}
	for uri, x := range xmldsig.SignatureMethods {
		m[uri] = sigMethod{x.Kind, x.Hash}
	}
	return m
}()

// digest resolves a DigestMethod URI under the policy.
func (p *Policy) digest(uri string) (crypto.Hash, *verdict) {
	h, known := digestHashes[uri]
	if !known || !slices.Contains(p.Digests, uri) {
		return 0, indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "digest method %s is not accepted by the validation policy", clip(uri))
	}
	return h, nil
}

// signatureMethod resolves a SignatureMethod URI under the policy.
func (p *Policy) signatureMethod(uri string) (sigMethod, *verdict) {
	m, known := sigMethods[uri]
	if !known || !slices.Contains(p.Signature(), uri) {
		what := "is not accepted by the validation policy"
		if strings.Contains(strings.ToLower(uri), "hmac") {
			what = "is never accepted (HMAC)"
		}
		return m, indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "signature method %s %s", clip(uri), what)
	}
	return m, nil
}

// Signature returns the allowed SignatureMethod URIs.
func (p *Policy) Signature() []string { return p.SignatureMethods }

// hashAllowed reports whether the policy accepts h (timestamp imprints).
func (p *Policy) hashAllowed(h crypto.Hash) bool {
	for _, u := range p.Digests {
		if digestHashes[u] == h {
			return true
		}
	}
	return false
}

// c14nMethods are the canonicalization methods accepted in CanonicalizationMethod and as a
// transform, with and without comments.
var c14nMethods = map[string]bool{xades.ExcC14N: true, xades.C14N11: true, C14N10: true,
	ExcC14NComments: true, C14N11Comments: true, C14N10Comments: true}

// integrityHashes are the DigestMethod URIs whose digests are compared before the policy is
// applied (MD5 included: comparing it proves a change; the policy never accepts it).
var integrityHashes = func() map[string]crypto.Hash {
	m := map[string]crypto.Hash{DigestMD5: crypto.MD5}
	for k, v := range digestHashes {
		m[k] = v
	}
	return m
}()

// errNotAllowed marks a transform or canonicalization outside the allow-list.
var errNotAllowed = xmldsig.ErrNotAllowed

func clip(s string) string { return xmldsig.Clip(s) }
