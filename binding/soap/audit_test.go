package soap_test

import (
	"strings"
	"testing"

	"dssd/binding/soap"
)

// TestFailedAuthenticationIsReported: every 401 answer, DSS response or fault, is reported
// once to the service's audit, never with the presented token.
func TestFailedAuthenticationIsReported(t *testing.T) {
	s := newServer(t, soap.Options{})
	const wrong = "CANARY-WRONG-TOKEN-4242"
	for _, name := range []string{"soap11-sign-detached.xml", "bad-soap12-two-bodies.xml"} {
		ct := "application/soap+xml; charset=utf-8"
		if strings.HasPrefix(name, "soap11") {
			ct = "text/xml; charset=utf-8"
		}
		if r := s.post(t, ct, wrong, readRequest(t, name)); r.status != 401 {
			t.Fatalf("%s: status %d", name, r.status)
		}
	}
	fs := s.svc.Failures()
	if len(fs) != 2 {
		t.Fatalf("%d failures reported, want 2: %+v", len(fs), fs)
	}
	for _, f := range fs {
		if f.ProblemRef == "" || f.Reason == "" || strings.Contains(f.Reason, wrong) {
			t.Errorf("report %+v", f)
		}
	}
	if fs[0].RequestID == "" {
		t.Error("the request id of a parsed request is not reported")
	}
}
