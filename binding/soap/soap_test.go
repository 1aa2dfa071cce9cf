package soap_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"dssd/binding/authn"
	"dssd/binding/schemasrv"
	"dssd/binding/soap"
	"dssd/dss"
	"dssd/internal/testkit/fakesvc"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

const (
	token   = "alice-test-token-0123456789"
	invoice = `<invoice xmlns="urn:example:invoice"><id>42</id><amount currency="EUR">10.00</amount></invoice>`
	ct12    = "application/soap+xml; charset=utf-8"
	ct11    = "text/xml; charset=utf-8"
)

func authenticator() *authn.Authenticator {
	return authn.New([]authn.User{{Name: "alice", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
}

type server struct {
	*httptest.Server
	svc *fakesvc.Service
	log *bytes.Buffer
}

func newServer(t *testing.T, opts soap.Options) *server {
	t.Helper()
	s := &server{svc: &fakesvc.Service{}, log: &bytes.Buffer{}}
	opts.Logger = slog.New(slog.NewJSONHandler(s.log, nil))
	mux := http.NewServeMux()
	mux.Handle("/soap", soap.New(s.svc, authenticator(), opts))
	mux.Handle("/schemas/", schemasrv.New())
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func readRequest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "requests", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (s *server) post(t *testing.T, contentType, tok string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/soap", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("SOAPAction", `"urn:anything"`)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// bodyChild returns the single element inside soap:Body of an envelope written by dssd.
func bodyChild(t *testing.T, env []byte) []byte {
	t.Helper()
	_, after, ok := bytes.Cut(env, []byte("<soap:Body>"))
	if !ok {
		t.Fatalf("no soap:Body in\n%s", env)
	}
	child, _, ok := bytes.Cut(after, []byte("</soap:Body>"))
	if !ok {
		t.Fatalf("unterminated soap:Body in\n%s", env)
	}
	return child
}

func TestGoldenRequests(t *testing.T) {
	tests := []struct {
		file, ct, envNS, requestID, major, minor string
	}{
		{"soap12-sign-enveloped.xml", ct12, soap.NS12, "req-enveloped", dss.MajorSuccess, ""},
		{"soap12-sign-hash.xml", ct12, soap.NS12, "req-hash", dss.MajorSuccess, ""},
		{"soap11-sign-enveloping.xml", ct11, soap.NS11, "req-enveloping", dss.MajorSuccess, ""},
		{"soap11-sign-detached.xml", "text/xml", soap.NS11, "req-detached", dss.MajorSuccess, ""},
		{"soap12-verify.xml", ct12, soap.NS12, "req-verify", dss.MajorSuccess, ""},
		{"soap12-pending.xml", "application/soap+xml", soap.NS12, "async-5c0d", dss.MajorRequesterError, dss.MinorReferencedDocNotFound},
		{"soap12-sign-bad-base64.xml", ct12, soap.NS12, "req-bad-base64", dss.MajorRequesterError, dss.MinorMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s := newServer(t, soap.Options{})
			r := s.post(t, tt.ct, token, readRequest(t, tt.file))
			if r.status != http.StatusOK {
				t.Fatalf("status %d, want 200\n%s", r.status, r.body)
			}
			wantCT := ct12
			if tt.envNS == soap.NS11 {
				wantCT = ct11
			}
			if got := r.header.Get("Content-Type"); got != wantCT {
				t.Errorf("Content-Type %q, want %q", got, wantCT)
			}
			if !bytes.Contains(r.body, []byte(`xmlns:soap="`+tt.envNS+`"`)) {
				t.Errorf("answer not in the version received:\n%s", r.body)
			}
			child := bodyChild(t, r.body)
			xsdtest.Validate(t, schemas.CoreXSD, child)
			for _, want := range []string{`RequestID="` + tt.requestID + `"`, ">" + tt.major + "</ResultMajor>"} {
				if !bytes.Contains(child, []byte(want)) {
					t.Errorf("answer lacks %s:\n%s", want, child)
				}
			}
			if tt.minor != "" && !bytes.Contains(child, []byte(">"+tt.minor+"</ResultMinor>")) {
				t.Errorf("answer lacks minor %s:\n%s", tt.minor, child)
			}
			if tt.major == dss.MajorSuccess {
				if c := s.svc.Callers[0]; c.User != "alice" || c.Via != "token" {
					t.Errorf("caller %+v", c)
				}
			}
		})
	}
}

func TestDocumentBytesReachService(t *testing.T) {
	s := newServer(t, soap.Options{})
	r := s.post(t, ct12, token, readRequest(t, "soap12-sign-enveloped.xml"))
	if r.status != http.StatusOK {
		t.Fatalf("status %d\n%s", r.status, r.body)
	}
	got := s.svc.LastSign()
	if got == nil || len(got.Documents) != 1 || string(got.Documents[0].Data) != invoice {
		t.Fatalf("service got %+v", got)
	}
	if got.Options.Placement == nil || got.Options.Placement.XPath != "/inv:invoice" {
		t.Errorf("placement %+v", got.Options.Placement)
	}
}

func TestUnsupportedOptionalInput(t *testing.T) {
	s := newServer(t, soap.Options{})
	env := bytes.Replace(readRequest(t, "soap12-sign-enveloped.xml"), []byte("<dsb:Language>en</dsb:Language>"),
		[]byte("<dss2:Nonce>7</dss2:Nonce>"), 1)
	// Nonce belongs after dsb children; put it in a schema-valid position is not needed: the
	// converter reads by name.
	r := s.post(t, ct12, token, env)
	if r.status != http.StatusOK {
		t.Fatalf("status %d\n%s", r.status, r.body)
	}
	if u := s.svc.LastSign().Options.Unsupported; len(u) != 1 || u[0] != "Nonce" {
		t.Errorf("Unsupported = %v, want [Nonce]", u)
	}
	child := bodyChild(t, r.body)
	xsdtest.Validate(t, schemas.CoreXSD, child)
	if !bytes.Contains(child, []byte(dss.MinorNotSupported)) || !bytes.Contains(child, []byte("Nonce")) {
		t.Errorf("answer does not name the unsupported input:\n%s", child)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name, file, ct string
		status         int
		code           string
	}{
		{"malformed XML", "bad-malformed.xml", ct12, 400, "<soap:Value>soap:Sender</soap:Value>"},
		{"DOCTYPE and entity", "bad-soap12-doctype.xml", ct12, 400, "<soap:Value>soap:Sender</soap:Value>"},
		{"two Body children", "bad-soap12-two-bodies.xml", ct12, 400, "<soap:Value>soap:Sender</soap:Value>"},
		{"mustUnderstand 1.2", "bad-soap12-mustunderstand.xml", ct12, 500, "<soap:Value>soap:MustUnderstand</soap:Value>"},
		{"mustUnderstand 1.1", "bad-soap11-mustunderstand.xml", ct11, 500, "<faultcode>soap:MustUnderstand</faultcode>"},
		{"wrong envelope namespace", "bad-soap-wrong-envelope-ns.xml", ct12, 500, "<soap:Value>soap:VersionMismatch</soap:Value>"},
		{"DSS 1.0 element", "bad-soap12-dss1-element.xml", ct12, 400, "<soap:Value>soap:Sender</soap:Value>"},
		{"malformed XML 1.1", "bad-malformed.xml", ct11, 500, "<faultcode>soap:Client</faultcode>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, soap.Options{})
			r := s.post(t, tt.ct, token, readRequest(t, tt.file))
			if r.status != tt.status {
				t.Errorf("status %d, want %d", r.status, tt.status)
			}
			if !bytes.Contains(r.body, []byte(tt.code)) {
				t.Errorf("fault lacks %s:\n%s", tt.code, r.body)
			}
			if s.svc.Calls() != 0 {
				t.Errorf("service called on a fault")
			}
			if bytes.Contains(r.body, []byte("passwd")) {
				t.Errorf("fault echoes attacker input:\n%s", r.body)
			}
			assertWellFormed(t, r.body)
		})
	}
}

func TestFaultDetails(t *testing.T) {
	s := newServer(t, soap.Options{})
	r := s.post(t, ct12, token, readRequest(t, "bad-soap12-mustunderstand.xml"))
	if !bytes.Contains(r.body, []byte(`<soap:NotUnderstood qname="h:Security"`)) {
		t.Errorf("no NotUnderstood header block:\n%s", r.body)
	}
	r = s.post(t, ct12, token, readRequest(t, "bad-soap-wrong-envelope-ns.xml"))
	if !bytes.Contains(r.body, []byte(`<soap:Upgrade>`)) {
		t.Errorf("no Upgrade header block:\n%s", r.body)
	}
	r = s.post(t, ct12, token, readRequest(t, "bad-soap12-doctype.xml"))
	if !bytes.Contains(r.body, []byte("dtd")) {
		t.Errorf("DOCTYPE fault does not say why:\n%s", r.body)
	}
}

func assertWellFormed(t *testing.T, b []byte) {
	t.Helper()
	if err := xmlWellFormed(b); err != nil {
		t.Errorf("answer is not well-formed XML: %v\n%s", err, b)
	}
}

func TestOversize(t *testing.T) {
	s := newServer(t, soap.Options{MaxBody: 1024})
	r := s.post(t, ct12, token, readRequest(t, "soap12-sign-enveloped.xml"))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", r.status)
	}
	if !bytes.Contains(r.body, []byte("soap:Sender")) {
		t.Errorf("413 without a fault body:\n%s", r.body)
	}
	if s.svc.Calls() != 0 {
		t.Error("service called")
	}
}

// The default limit (64 MiB) is enforced from Content-Length before anything is read.
func TestOversizeDefault(t *testing.T) {
	s := newServer(t, soap.Options{})
	req, err := http.NewRequest(http.MethodPost, s.URL+"/soap", io.LimitReader(zeros{}, 64<<20+1))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 64<<20 + 1
	req.Header.Set("Content-Type", ct12)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestAuthentication(t *testing.T) {
	for _, tok := range []string{"", "wrong-token"} {
		t.Run("token="+tok, func(t *testing.T) {
			s := newServer(t, soap.Options{})
			r := s.post(t, ct12, tok, readRequest(t, "soap12-sign-enveloped.xml"))
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.status)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			child := bodyChild(t, r.body)
			xsdtest.Validate(t, schemas.CoreXSD, child)
			for _, want := range []string{"<SignResponse", `RequestID="req-enveloped"`, dss.MajorRequesterError, dss.MinorNotAuthenticated} {
				if !bytes.Contains(child, []byte(want)) {
					t.Errorf("answer lacks %s:\n%s", want, child)
				}
			}
			if s.svc.Calls() != 0 {
				t.Error("service called without authentication")
			}
			if tok != "" && (bytes.Contains(r.body, []byte(tok)) || strings.Contains(s.log.String(), tok)) {
				t.Error("token echoed in the answer or the log")
			}
		})
	}
}

func TestContentType(t *testing.T) {
	s := newServer(t, soap.Options{})
	for _, ct := range []string{"application/json", "", "text/plain", "application/soap+xml; charset=iso-8859-1"} {
		r := s.post(t, ct, token, readRequest(t, "soap12-pending.xml"))
		if r.status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want 415", ct, r.status)
		}
	}
}

func TestWSDL(t *testing.T) {
	s := newServer(t, soap.Options{})
	resp, err := s.Client().Get(s.URL + "/soap?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`location="` + s.URL + `/soap"`,
		`<xs:element name="PendingRequest" type="dss2:PendingRequestType"/>`,
		`targetNamespace="http://docs.oasis-open.org/dss-x/ns/base"`,
		`<wsoma:OptimizedMimeSerialization wsp:Optional="true"/>`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("WSDL lacks %s", want)
		}
	}
	// Everything inline: a client fetches nothing (JAX-WS wsimport, by default, fetches no
	// schema at all).
	// (The xml namespace keeps its location on this server, for python3-zeep: wsdl.go.)
	for _, m := range regexp.MustCompile(`<(xs:)?(import|include)\b[^>]*schemaLocation="([^"]*)"`).FindAllSubmatch(b, -1) {
		if string(m[3]) != s.URL+"/schemas/xml.xsd" {
			t.Errorf("the served WSDL imports %s", m[3])
		}
	}
	if bytes.Contains(b, []byte("dssd.invalid")) {
		t.Error("placeholder left in the served WSDL")
	}
	assertWellFormed(t, b)
	// The schemas are still served by name.
	for _, name := range []string{schemas.PendingXSD, schemas.CoreXSD, "oasis-dss-base-schema.xsd", "xml.xsd"} {
		resp, err := s.Client().Get(s.URL + "/schemas/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /schemas/%s: %d", name, resp.StatusCode)
		}
	}
}

func TestRequestLog(t *testing.T) {
	s := newServer(t, soap.Options{NewID: func() string { return "fixed-id" }})
	s.post(t, ct12, token, readRequest(t, "soap12-sign-enveloped.xml"))
	var ev map[string]any
	if err := json.Unmarshal(s.log.Bytes(), &ev); err != nil {
		t.Fatalf("not one JSON event: %v\n%s", err, s.log)
	}
	want := map[string]any{"id": "fixed-id", "binding": "soap12", "operation": "sign", "request_id": "req-enveloped",
		"user": "alice", "result_major": dss.MajorSuccess, "status": float64(200)}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("log %s = %v, want %v", k, ev[k], v)
		}
	}
	if _, ok := ev["latency_ms"]; !ok {
		t.Error("no latency in the log event")
	}
	for _, secret := range []string{token, "PGludm9pY2"} {
		if strings.Contains(s.log.String(), secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// BenchmarkHandler measures the binding's own work on one request (media type, authentication,
// read, gate, envelope parse, decode, call of an in-memory service, encode, request log), without
// a network or a real service: the share of the SOAP handler that is not dss.
func BenchmarkHandler(b *testing.B) {
	for _, name := range []string{"soap12-sign-enveloped.xml", "soap12-verify.xml"} {
		b.Run(name, func(b *testing.B) {
			body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "requests", name))
			if err != nil {
				b.Fatal(err)
			}
			h := soap.New(&fakesvc.Service{}, authenticator(),
				soap.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				req := httptest.NewRequest(http.MethodPost, "/soap", bytes.NewReader(body))
				req.Header.Set("Content-Type", ct12)
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
