package httpxml_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"dssd/binding/authn"
	"dssd/binding/guard"
	"dssd/binding/httpxml"
	"dssd/dss"
	"dssd/internal/testkit/fakesvc"
	"dssd/internal/testkit/xmlnstest"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

// TestOverloadAndThrottle: a body over the in-flight limit is answered 503 with Retry-After
// and a DSS response (ResponderError, ServerBusy) before any of it is read; a client address
// that failed authentication too often is answered 429 with Retry-After and a DSS response,
// without its body being read.
func TestOverloadAndThrottle(t *testing.T) {
	svc := &fakesvc.Service{}
	auth := authn.New([]authn.User{{Name: "bob", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
	auth.LimitFailures(authn.NewFailures(authn.FailureLimits{Rate: 0.001, Burst: 1}, svc))
	g := guard.New(guard.Config{MaxInflight: 4 << 10})
	srv := httptest.NewServer(g.Handler(httpxml.New(svc, auth, httpxml.Options{})))
	defer srv.Close()
	send := func(tok string, body []byte) (int, http.Header, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/sign", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/xml")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, raw
	}
	big := []byte(`<SignRequest xmlns="http://docs.oasis-open.org/dss-x/ns/core" RequestID="r">` + strings.Repeat(" ", 8<<10) + `</SignRequest>`)
	st, h, raw := send(token, big)
	if st != 503 || h.Get("Retry-After") == "" || !bytes.Contains(raw, []byte(dss.MinorBusy)) {
		t.Errorf("over the in-flight limit: %d %v %s", st, h, raw)
	}
	xsdtest.Validate(t, schemas.CoreXSD, raw)
	if len(svc.Signs) != 0 {
		t.Error("a busy request reached the service")
	}
	if st, _, _ := send("wrong", []byte(`<SignRequest xmlns="http://docs.oasis-open.org/dss-x/ns/core"/>`)); st != 401 {
		t.Errorf("first failure: %d", st)
	}
	st, h, raw = send("wrong", []byte(`<SignRequest xmlns="http://docs.oasis-open.org/dss-x/ns/core" RequestID="r2"/>`))
	if st != 429 || h.Get("Retry-After") == "" || !bytes.Contains(raw, []byte(dss.MinorNotAuthenticated)) || bytes.Contains(raw, []byte("r2")) {
		t.Errorf("throttled failure: %d %v %s", st, h, raw)
	}
	xsdtest.Validate(t, schemas.CoreXSD, raw)
	if st, _, _ := send(token, []byte(`<SignRequest xmlns="http://docs.oasis-open.org/dss-x/ns/core"/>`)); st != 200 {
		t.Errorf("a valid token from the throttled address: %d", st)
	}
}

// TestNamespaceTranslatedOnce: with xmlns:a="b" and xmlns:b="(core)" in scope, a:SignRequest
// is {b}SignRequest and an a:InputDocuments child {b}InputDocuments (Namespaces in XML 1.0
// §6: a namespace URI is not looked up again as a prefix): each is answered as the same
// request without the xmlns:b declaration is, and neither reaches the service.
func TestNamespaceTranslatedOnce(t *testing.T) {
	s := newServer(t, httpxml.Options{})
	for _, tt := range xmlnstest.Requests() {
		t.Run(tt.Name, func(t *testing.T) {
			got := s.post(t, httpxml.PathSign, "application/xml", token, []byte(tt.Trick))
			plain := s.post(t, httpxml.PathSign, "application/xml", token, []byte(tt.Plain))
			want := "expects a dss2:SignRequest element"
			if tt.Child {
				want = xmlnstest.ChildError
			}
			if !bytes.Contains(got.body, []byte(want)) || !bytes.Contains(got.body, []byte(dss.MinorMalformed)) {
				t.Errorf("status %d, answer:\n%s", got.status, got.body)
			}
			xmlnstest.SameAnswer(t, got.status, got.body, plain.status, plain.body)
		})
	}
	if len(s.svc.Signs) != 0 {
		t.Error("a request in a foreign namespace reached the service")
	}
}

// attributeFlood is a SignRequest of about size bytes made of empty elements with 256
// attributes each, the most the envelope limits allow on one element: about 2.2 million
// attribute nodes in 16 MiB, within the element limit (8 700 elements).
func attributeFlood(size int) []byte {
	var el strings.Builder
	el.WriteString("<x")
	for i := range 256 {
		el.WriteString(" a" + strconv.Itoa(i) + `=""`)
	}
	el.WriteString("/>")
	head := `<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" RequestID="flood">`
	tail := `</dss2:SignRequest>`
	n := (size - len(head) - len(tail)) / el.Len()
	return []byte(head + strings.Repeat(el.String(), n) + tail)
}

// TestAttributeFlood: an authenticated 16 MiB request of attributes is refused by the ingress
// gate with its limit error (400, LimitExceeded, the node limit named) before it is decoded,
// and costs a bounded amount of memory: before the envelope node limit (decisions §44) it
// passed the gate, was decoded and refused as NotSupported after allocating 520 MB. A node
// limit set in the options applies.
func TestAttributeFlood(t *testing.T) {
	body := attributeFlood(16 << 20)
	svc := &fakesvc.Service{}
	auth := authn.New([]authn.User{{Name: "bob", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
	send := func(h http.Handler, body []byte) (*httptest.ResponseRecorder, uint64) {
		req := httptest.NewRequest(http.MethodPost, "/sign", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/xml")
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		h.ServeHTTP(w, req)
		runtime.ReadMemStats(&m1)
		return w, m1.TotalAlloc - m0.TotalAlloc
	}
	w, alloc := send(httpxml.New(svc, auth, httpxml.Options{}), body)
	t.Logf("%d bytes: status %d, %d MB allocated", len(body), w.Code, alloc>>20)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), dss.MinorTooLarge) ||
		!strings.Contains(w.Body.String(), "more than 400000 nodes") {
		t.Errorf("status %d, want 400 with LimitExceeded for the node limit:\n%.600s", w.Code, w.Body.String())
	}
	xsdtest.Validate(t, schemas.CoreXSD, w.Body.Bytes())
	// The body read (17 MB), the gate's copy of it (17 MB) and the tokens of 400 000 nodes.
	if alloc > 96<<20 {
		t.Errorf("%d MB allocated for a refused 16 MiB request, want at most 96 MB", alloc>>20)
	}
	if svc.Calls() != 0 {
		t.Error("service called")
	}

	req := readRequest(t, "sign-enveloped.xml") // 57 nodes
	w, _ = send(httpxml.New(svc, auth, httpxml.Options{MaxNodes: 50}), req)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "more than 50 nodes") {
		t.Errorf("MaxNodes 50: status %d:\n%.600s", w.Code, w.Body.String())
	}
	if w, _ = send(httpxml.New(svc, auth, httpxml.Options{MaxNodes: 57}), req); w.Code != http.StatusOK {
		t.Errorf("MaxNodes 57: status %d:\n%.600s", w.Code, w.Body.String())
	}
}
