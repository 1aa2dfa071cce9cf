package httpxml_test

import (
	"strings"
	"testing"

	"dssd/binding/httpxml"
)

// TestFailedAuthenticationIsReported: every 401 is reported once to the service's audit,
// with the request id and problem reference, and never with the presented token.
func TestFailedAuthenticationIsReported(t *testing.T) {
	s := newServer(t, httpxml.Options{})
	body := readRequest(t, "sign-detached.xml")
	const wrong = "CANARY-WRONG-TOKEN-31337"
	for _, tok := range []string{wrong, ""} {
		if r := s.post(t, httpxml.PathSign, "application/xml", tok, body); r.status != 401 {
			t.Fatalf("status %d", r.status)
		}
	}
	if r := s.post(t, httpxml.PathSign, "application/xml", token, body); r.status != 200 {
		t.Fatalf("authenticated request: status %d", r.status)
	}
	fs := s.svc.Failures()
	if len(fs) != 2 {
		t.Fatalf("%d failures reported, want 2: %+v", len(fs), fs)
	}
	for _, f := range fs {
		if f.ProblemRef == "" || f.RemoteAddr == "" || f.Reason == "" || !strings.Contains(string(body), f.RequestID) || f.RequestID == "" {
			t.Errorf("report %+v", f)
		}
		if strings.Contains(f.Reason, wrong) {
			t.Error("the token reached the audit")
		}
	}
}
