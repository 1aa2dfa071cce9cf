package xmldsig

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
