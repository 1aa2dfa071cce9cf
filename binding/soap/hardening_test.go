package soap_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"dssd/binding/authn"
	"dssd/binding/guard"
	"dssd/binding/soap"
	"dssd/dss"
	"dssd/internal/testkit/fakesvc"
	"dssd/internal/testkit/xmlnstest"
)

// TestOverloadAndThrottle: over the in-flight limit, 503 with Retry-After and a DSS response
// in the envelope's version; a client address that failed authentication too often, 429 with
// Retry-After; neither reads the body nor reaches the service.
func TestOverloadAndThrottle(t *testing.T) {
	svc := &fakesvc.Service{}
	auth := authn.New([]authn.User{{Name: "alice", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
	auth.LimitFailures(authn.NewFailures(authn.FailureLimits{Rate: 0.001, Burst: 1}, svc))
	g := guard.New(guard.Config{MaxInflight: 4 << 10})
	srv := httptest.NewServer(g.Handler(soap.New(svc, auth, soap.Options{})))
	defer srv.Close()
	send := func(ct, tok string, body []byte) (int, http.Header, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/soap", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, raw
	}
	env := func(ns, inner string) []byte {
		return []byte(`<s:Envelope xmlns:s="` + ns + `"><s:Body><SignRequest xmlns="http://docs.oasis-open.org/dss-x/ns/core">` + inner + `</SignRequest></s:Body></s:Envelope>`)
	}
	const s11, s12 = "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
	for _, v := range []struct{ ct, ns string }{{"text/xml", s11}, {"application/soap+xml", s12}} {
		st, h, raw := send(v.ct, token, env(v.ns, strings.Repeat(" ", 8<<10)))
		if st != 503 || h.Get("Retry-After") == "" || !bytes.Contains(raw, []byte(dss.MinorBusy)) || !bytes.Contains(raw, []byte(v.ns)) {
			t.Errorf("%s over the in-flight limit: %d %v %s", v.ct, st, h, raw)
		}
	}
	if st, _, _ := send("application/soap+xml", "wrong", env(s12, "")); st != 401 {
		t.Errorf("first failure: %d", st)
	}
	st, h, raw := send("application/soap+xml", "wrong", env(s12, ""))
	if st != 429 || h.Get("Retry-After") == "" || !bytes.Contains(raw, []byte(dss.MinorNotAuthenticated)) {
		t.Errorf("throttled failure: %d %v %s", st, h, raw)
	}
	if len(svc.Signs) != 0 {
		t.Error("a refused request reached the service")
	}
}

// TestWrongNamespaceInEnvelopeVersion: a dss2:Value where dsb:Value belongs is
// MalformedRequest naming dsb:Value, answered in the envelope's SOAP version even when the
// Content-Type names the other one (real clients mislabel).
func TestWrongNamespaceInEnvelopeVersion(t *testing.T) {
	s := newServer(t, soap.Options{})
	const s12 = "http://www.w3.org/2003/05/soap-envelope"
	body := []byte(`<s:Envelope xmlns:s="` + s12 + `"><s:Body><dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" RequestID="r-ns">` +
		`<dss2:InputDocuments><dss2:Document ID="d"><dss2:Base64Data><dss2:Value>aGk=</dss2:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>` +
		`</dss2:SignRequest></s:Body></s:Envelope>`)
	r := s.post(t, ct11, token, body) // SOAP 1.2 envelope labelled as SOAP 1.1
	if r.status != http.StatusOK || r.header.Get("Content-Type") != ct12 || !bytes.Contains(r.body, []byte(s12)) {
		t.Fatalf("status %d, Content-Type %q:\n%s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if !bytes.Contains(r.body, []byte(dss.MinorMalformed)) || !bytes.Contains(r.body, []byte("the schema expects dsb:Value")) || !bytes.Contains(r.body, []byte("r-ns")) {
		t.Errorf("answer:\n%s", r.body)
	}
	if len(s.svc.Signs) != 0 {
		t.Error("a request with a wrong namespace reached the service")
	}
}

// TestNamespaceTranslatedOnce: a prefix names the namespace URI declared for it, which is not
// looked up again as a prefix (Namespaces in XML 1.0 §6). With xmlns:a="b" and
// xmlns:b="(core)" in scope, a:SignRequest is {b}SignRequest, not a DSS request, and an
// a:InputDocuments child is {b}InputDocuments, in the wrong namespace: each is answered as the
// same request without the xmlns:b declaration (plainly in the namespace "b") is, and
// neither reaches the service.
func TestNamespaceTranslatedOnce(t *testing.T) {
	s := newServer(t, soap.Options{})
	env := func(req string) []byte {
		return []byte(`<s:Envelope xmlns:s="` + soap.NS12 + `"><s:Body>` + req + `</s:Body></s:Envelope>`)
	}
	for _, tt := range xmlnstest.Requests() {
		t.Run(tt.Name, func(t *testing.T) {
			got, plain := s.post(t, ct12, token, env(tt.Trick)), s.post(t, ct12, token, env(tt.Plain))
			want := "element {b}SignRequest is not a DSS-X 2.0 request"
			if tt.Child {
				want = xmlnstest.ChildError
			}
			if !bytes.Contains(got.body, []byte(want)) {
				t.Errorf("status %d, answer:\n%s", got.status, got.body)
			}
			xmlnstest.SameAnswer(t, got.status, got.body, plain.status, plain.body)
		})
	}
	if len(s.svc.Signs) != 0 {
		t.Error("a request in a foreign namespace reached the service")
	}
}
