// Package algnames holds the short names of signature algorithms that the commands accept
// (dss --algorithm, the verify section of dssd's configuration).
package algnames

// Signature maps the short names of the SHA-2 signature algorithms to XMLDSig URIs
// (RFC 6931). The map is new at each call: the caller may add to it.
func Signature() map[string]string {
	return map[string]string{
		"rsa-sha256":     "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
		"rsa-sha384":     "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
		"rsa-sha512":     "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
		"rsa-pss-sha256": "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
		"rsa-pss-sha384": "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1",
		"rsa-pss-sha512": "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1",
		"ecdsa-sha256":   "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
		"ecdsa-sha384":   "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
		"ecdsa-sha512":   "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
	}
}
