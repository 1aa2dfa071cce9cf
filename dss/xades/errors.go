package xades

import "errors"

// Sentinel errors. Every error this package creates wraps exactly one of
// them; errors from the crypto.Signer are passed through wrapped.
var (
	// ErrMalformed: the input is not acceptable as given (not well-formed
	// XML, a DOCTYPE, an invalid Id, an XPath that selects nothing, ...).
	ErrMalformed = errors.New("malformed input")
	// ErrNotSupported: a valid request this package does not implement (an
	// unknown algorithm URI, an XPath outside the supported subset, ...).
	ErrNotSupported = errors.New("not supported")
	// ErrHashAlgorithm: a refused digest algorithm (SHA-1, MD5, unknown) or a
	// digest whose length does not match its algorithm.
	ErrHashAlgorithm = errors.New("inappropriate hash algorithm")
	// ErrInappropriate: the SignatureMethod does not fit the key (type or
	// curve), or the certificate does not belong to the signer.
	ErrInappropriate = errors.New("signature method does not fit the key")
	// ErrInvalidRefURI: a Reference URI that the packaging does not allow.
	ErrInvalidRefURI = errors.New("invalid reference uri")
	// ErrLimit: the signature would go beyond a bound on what it costs (Params.MaxC14NBytes).
	ErrLimit = errors.New("limit exceeded")
	// ErrSelfCheck: Check found that a produced signature does not verify.
	ErrSelfCheck = errors.New("signature self-check failed")
)
