package dss

import "context"

// Verify answers every VerifyRequest with NotSupported until verification is built (issue 5).
func (s *Service) Verify(_ context.Context, _ Caller, req *VerifyRequest) (*VerifyResponse, error) {
	return nil, Errorf(KindNotSupported, "VerifyRequest is not supported yet")
}
