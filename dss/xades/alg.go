package xades

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"

	"dssd/dss/xmldsig"

	// The hash implementations must be linked in for crypto.Hash.New.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Signature types (DSS-X SignatureType values).
const (
	TypeXMLDSig = "urn:ietf:rfc:3275"
	TypeXAdES   = "http://uri.etsi.org/01903/v1.3.2#"
)

// Namespaces and related URIs.
const (
	NSXMLDSig      = xmldsig.NS
	NSXAdES        = "http://uri.etsi.org/01903/v1.3.2#"
	NSXML          = xmldsig.NSXML
	SignedPropsRef = "http://uri.etsi.org/01903#SignedProperties"     // Reference/@Type of the SignedProperties reference
	EncodingBase64 = "http://www.w3.org/TR/xmlschema-2/#base64Binary" // ds:Object/@Encoding of base64 content (DSS-X [DSS-5.1.2.1-4])
)

// SignatureMethod URIs (RFC 6931).
const (
	RSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	RSAPSSSHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
	RSAPSSSHA384 = "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
	RSAPSSSHA512 = "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"
	ECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ECDSASHA512  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
	rsaMD5       = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
)

// DigestMethod URIs (RFC 6931).
const (
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
	digestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	digestMD5    = "http://www.w3.org/2001/04/xmldsig-more#md5"
)

// Canonicalization and transform URIs.
const (
	ExcC14N            = xmldsig.ExcC14N
	C14N11             = xmldsig.C14N11
	TransformEnveloped = xmldsig.TransformEnveloped
	TransformBase64    = xmldsig.TransformBase64
)

type keyKind = xmldsig.KeyKind

const (
	kindRSA   = xmldsig.RSA
	kindPSS   = xmldsig.PSS
	kindECDSA = xmldsig.ECDSA
)

// sigMethod describes a supported SignatureMethod.
type sigMethod struct {
	uri  string
	kind keyKind
	hash crypto.Hash
}

// lookupSigMethod resolves a SignatureMethod URI through the core's table: the SHA-2
// methods are signed with; SHA-1 and MD5 ones are refused as a digest, anything else is not
// supported.
func lookupSigMethod(uri string) (sigMethod, error) {
	m := sigMethod{uri: uri}
	x, ok := xmldsig.SignatureMethods[uri]
	switch {
	case uri == rsaMD5 || ok && x.Hash == crypto.SHA1:
		return m, fmt.Errorf("%w: signature method %q uses a refused digest", ErrHashAlgorithm, uri)
	case !ok:
		return m, fmt.Errorf("%w: signature method %q", ErrNotSupported, uri)
	}
	m.kind, m.hash = x.Kind, x.Hash
	return m, nil
}

// fits reports whether the method can be used with pub: RSA methods with RSA keys, ECDSA
// methods with P-256, P-384 or P-521 keys. Any SHA-2 hash goes with any curve (the service
// chooses the curve's own hash by default).
func (m sigMethod) fits(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if m.kind == kindRSA || m.kind == kindPSS {
			return nil
		}
		return fmt.Errorf("%w: %s with an RSA key", ErrInappropriate, m.uri)
	case *ecdsa.PublicKey:
		if m.kind != kindECDSA {
			return fmt.Errorf("%w: %s with an ECDSA key", ErrInappropriate, m.uri)
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("%w: curve %s", ErrInappropriate, k.Curve.Params().Name)
	default:
		return fmt.Errorf("%w: key type %T", ErrInappropriate, pub)
	}
}

// digestURI returns the DigestMethod URI of h.
func digestURI(h crypto.Hash) (string, error) {
	switch h {
	case crypto.SHA256:
		return DigestSHA256, nil
	case crypto.SHA384:
		return DigestSHA384, nil
	case crypto.SHA512:
		return DigestSHA512, nil
	default:
		return "", fmt.Errorf("%w: digest %v", ErrHashAlgorithm, h)
	}
}

// digestHash resolves a DigestMethod URI.
func digestHash(uri string) (crypto.Hash, error) {
	switch uri {
	case DigestSHA256:
		return crypto.SHA256, nil
	case DigestSHA384:
		return crypto.SHA384, nil
	case DigestSHA512:
		return crypto.SHA512, nil
	case digestSHA1, digestMD5:
		return 0, fmt.Errorf("%w: digest method %q is refused", ErrHashAlgorithm, uri)
	default:
		return 0, fmt.Errorf("%w: digest method %q", ErrHashAlgorithm, uri)
	}
}

// checkC14N accepts the two allowed canonicalization methods (both without
// comments).
func checkC14N(uri string) error {
	switch uri {
	case ExcC14N, C14N11:
		return nil
	default:
		return fmt.Errorf("%w: canonicalization method %q (only exclusive c14n and c14n 1.1 without comments)", ErrNotSupported, uri)
	}
}

// checkTransform accepts the transforms a hash-signing client may declare.
func checkTransform(uri string) error {
	switch uri {
	case ExcC14N, C14N11, TransformEnveloped, TransformBase64:
		return nil
	default:
		return fmt.Errorf("%w: transform %q", ErrNotSupported, uri)
	}
}
