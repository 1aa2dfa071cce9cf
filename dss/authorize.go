package dss

import "context"

// AuthorizeRequest is a request for signature activation data (CSC credentials/authorize,
// interface.md §5).
type AuthorizeRequest struct {
	RequestID        string
	CredentialID     string
	NumSignatures    int
	Hashes           [][]byte // exactly what will be signed
	HashAlgorithmOID string   // 2.16.840.1.101.3.4.2.1 (SHA-256)
	PIN              string
	OTP              string
}

// Authorization is granted signature activation data.
type Authorization struct {
	SAD       string
	ExpiresIn int // seconds, 1..300
}

// Authorize issues signature activation data for a SCAL2 credential (issue 4).
func (s *Service) Authorize(_ context.Context, _ Caller, _ *AuthorizeRequest) (*Authorization, error) {
	return nil, Errorf(KindNotSupported, "signature activation is not supported yet")
}
