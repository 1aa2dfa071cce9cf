// Package fakesvc is an in-memory stand-in for the domain service in binding tests: it
// records what it receives and answers with predictable signatures.
package fakesvc

import (
	"context"
	"sync"

	"dssd/dss"
)

// Service records every call. Sign answers one Base64Signature per document and hash (the
// value is "sig:" + the document bytes or digest) and, for a SignaturePlacement, a
// DocumentWithSignature with a SignaturePtr. Set Err to make every call fail.
type Service struct {
	mu      sync.Mutex
	Err     error
	Signs   []*dss.SignRequest
	Callers []dss.Caller
	Verifys []*dss.VerifyRequest
	Polls   []*dss.PendingRequest

	AuthFailures []AuthFailure
	Refusals     []Refusal
}

// Sign implements the bindings' Service.
func (s *Service) Sign(_ context.Context, c dss.Caller, req *dss.SignRequest) (*dss.SignResponse, error) {
	if err := s.called(c, func() { s.Signs = append(s.Signs, req) }); err != nil {
		return nil, err
	}
	if len(req.Options.Unsupported) > 0 {
		return nil, dss.Errorf(dss.KindNotSupported, "optional input %s is not supported", req.Options.Unsupported[0])
	}
	resp := &dss.SignResponse{RequestID: req.RequestID, Result: dss.Result{Major: dss.MajorSuccess},
		AppliedProfiles: []string{"urn:dssd:level:B-B"}}
	for _, d := range req.Documents {
		if p := req.Options.Placement; p != nil && p.WhichData == d.ID {
			resp.DocumentsWithSignature = append(resp.DocumentsWithSignature, dss.DocumentWithSignature{
				WhichDoc: d.ID, ID: "signed-" + d.ID, MimeType: d.MimeType, Data: append([]byte("<!--signed-->"), d.Data...)})
			resp.Signatures = append(resp.Signatures, dss.SignatureObject{WhichDoc: d.ID,
				Ptr: &dss.SignaturePtr{WhichData: "signed-" + d.ID, XPath: "/*/*[local-name()='Signature']"}})
			continue
		}
		resp.Signatures = append(resp.Signatures, dss.SignatureObject{WhichDoc: d.ID, MimeType: "application/xml",
			Value: append([]byte("sig:"), d.Data...)})
	}
	for _, h := range req.Hashes {
		resp.Signatures = append(resp.Signatures, dss.SignatureObject{WhichDoc: h.ID, MimeType: "application/octet-stream",
			Value: append([]byte("sig:"), h.Digests[0].Value...)})
	}
	return resp, nil
}

// Verify implements the bindings' Service: NotSupported naming the first unsupported input.
func (s *Service) Verify(_ context.Context, c dss.Caller, req *dss.VerifyRequest) (*dss.VerifyResponse, error) {
	if err := s.called(c, func() { s.Verifys = append(s.Verifys, req) }); err != nil {
		return nil, err
	}
	if len(req.Unsupported) > 0 {
		return nil, dss.Errorf(dss.KindNotSupported, "%s is not supported", req.Unsupported[0])
	}
	return &dss.VerifyResponse{RequestID: req.RequestID, Result: dss.Result{Major: dss.MajorSuccess}}, nil
}

// Pending implements the bindings' Service: "async-pending" is still pending, every other
// id is unknown.
func (s *Service) Pending(_ context.Context, c dss.Caller, req *dss.PendingRequest) (*dss.SignResponse, error) {
	if err := s.called(c, func() { s.Polls = append(s.Polls, req) }); err != nil {
		return nil, err
	}
	if req.RequestID == "async-pending" {
		return &dss.SignResponse{RequestID: req.RequestID, ResponseID: req.RequestID, Result: dss.Result{Major: dss.MajorPending}}, nil
	}
	return nil, dss.Errorf(dss.KindDocumentNotFound, "unknown ResponseID")
}

// called records a call of caller c (record adds its request) and returns Err.
func (s *Service) called(c dss.Caller, record func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	record()
	s.Callers = append(s.Callers, c)
	return s.Err
}

// Calls returns the number of calls of any operation.
func (s *Service) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Signs) + len(s.Verifys) + len(s.Polls)
}

// LastSign returns the last SignRequest received, or nil.
func (s *Service) LastSign() *dss.SignRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Signs) == 0 {
		return nil
	}
	return s.Signs[len(s.Signs)-1]
}

// AuthFailure is one failed authentication reported through AuditAuthFailure.
type AuthFailure struct {
	ProblemRef, RemoteAddr, Reason, RequestID string
}

// AuditAuthFailure records a failed authentication (exchange.Auditor).
func (s *Service) AuditAuthFailure(ctx context.Context, remoteAddr, reason, requestID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.AuthFailures = append(s.AuthFailures, AuthFailure{
		ProblemRef: dss.ProblemRefOf(ctx), RemoteAddr: remoteAddr, Reason: reason, RequestID: requestID,
	})
}

// Failures returns the recorded authentication failures.
func (s *Service) Failures() []AuthFailure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuthFailure(nil), s.AuthFailures...)
}

// Refusal is one refusal reported through AuditRefusal.
type Refusal struct {
	Caller            dss.Caller
	Action, RequestID string
	Err               error
}

// AuditRefusal records a refusal decided by a binding (exchange.Auditor) and returns err, as
// the service does when the record is stored.
func (s *Service) AuditRefusal(_ context.Context, c dss.Caller, action, requestID, _ string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Refusals = append(s.Refusals, Refusal{Caller: c, Action: action, RequestID: requestID, Err: err})
	return err
}
