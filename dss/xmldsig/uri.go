package xmldsig

import (
	"crypto"

	// The hash implementations must be linked in for crypto.Hash.New.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Namespaces.
const (
	NS    = "http://www.w3.org/2000/09/xmldsig#" // XMLDSig
	NSXML = "http://www.w3.org/XML/1998/namespace"
)

// Canonicalization methods (as CanonicalizationMethod and as transforms).
const (
	ExcC14N         = "http://www.w3.org/2001/10/xml-exc-c14n#"
	ExcC14NComments = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	C14N11          = "http://www.w3.org/2006/12/xml-c14n11"
	C14N11Comments  = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
	C14N10          = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	C14N10Comments  = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
)

// Transforms.
const (
	TransformEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	TransformBase64    = "http://www.w3.org/2000/09/xmldsig#base64"
	TransformXPath     = "http://www.w3.org/TR/1999/REC-xpath-19991116"
	TransformXPath2    = "http://www.w3.org/2002/06/xmldsig-filter2"
)

// IsC14N reports whether alg is one of the six canonicalization methods.
func IsC14N(alg string) bool {
	switch alg {
	case ExcC14N, ExcC14NComments, C14N11, C14N11Comments, C14N10, C14N10Comments:
		return true
	}
	return false
}

// C14NBase returns the canonicalization method without comments and whether alg keeps them.
func C14NBase(alg string) (string, bool) {
	switch alg {
	case C14N10Comments:
		return C14N10, true
	case C14N11Comments:
		return C14N11, true
	case ExcC14NComments:
		return ExcC14N, true
	}
	return alg, false
}

// SignatureMethod URIs (RFC 6931).
const (
	RSASHA1      = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	RSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	RSAPSSSHA1   = "http://www.w3.org/2007/05/xmldsig-more#sha1-rsa-MGF1"
	RSAPSSSHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
	RSAPSSSHA384 = "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
	RSAPSSSHA512 = "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"
	ECDSASHA1    = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
	ECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ECDSASHA512  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

// DigestMethod URIs (RFC 6931).
const (
	DigestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA224 = "http://www.w3.org/2001/04/xmldsig-more#sha224"
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
	DigestMD5    = "http://www.w3.org/2001/04/xmldsig-more#md5"
)

// DigestMethods are the DigestMethod URIs the core can compute (MD5 is absent: a caller that
// compares MD5 digests adds it). Which of them is accepted is the caller's policy.
var DigestMethods = map[string]crypto.Hash{
	DigestSHA1:   crypto.SHA1,
	DigestSHA224: crypto.SHA224,
	DigestSHA256: crypto.SHA256,
	DigestSHA384: crypto.SHA384,
	DigestSHA512: crypto.SHA512,
}

// SignatureMethods are the SignatureMethod URIs the core can verify (MD5 and HMAC are
// absent). Which of them is accepted is the caller's policy.
var SignatureMethods = func() map[string]Method {
	m := map[string]Method{}
	hashes := [4]crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512}
	for kind, uris := range map[KeyKind][4]string{
		RSA:   {RSASHA1, RSASHA256, RSASHA384, RSASHA512},
		PSS:   {RSAPSSSHA1, RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512},
		ECDSA: {ECDSASHA1, ECDSASHA256, ECDSASHA384, ECDSASHA512},
	} {
		for i, uri := range uris {
			m[uri] = Method{Kind: kind, Hash: hashes[i]}
		}
	}
	return m
}()
