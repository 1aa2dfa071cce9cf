package httpxml_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dssd/binding/authn"
	"dssd/binding/httpxml"
	"dssd/dss"
	"dssd/internal/testkit/fakesvc"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

const token = "bob-test-token-abcdefghijklmnop"

type server struct {
	*httptest.Server
	svc *fakesvc.Service
}

func newServer(t *testing.T, opts httpxml.Options) *server {
	t.Helper()
	s := &server{svc: &fakesvc.Service{}}
	auth := authn.New([]authn.User{{Name: "bob", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
	h := httpxml.New(s.svc, auth, opts)
	mux := http.NewServeMux()
	for _, p := range []string{httpxml.PathSign, httpxml.PathVerify, httpxml.PathPending} {
		mux.Handle(p, h)
	}
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

func (s *server) post(t *testing.T, path, ct, tok string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		path, file, ct string
		status         int
		major, minor   string
	}{
		{"/sign", "sign-enveloped.xml", "application/xml", 200, dss.MajorSuccess, ""},
		{"/sign", "sign-enveloping.xml", "text/xml; charset=utf-8", 200, dss.MajorSuccess, ""},
		{"/sign", "sign-detached.xml", "application/xml; charset=UTF-8", 200, dss.MajorSuccess, ""},
		{"/sign", "sign-hash.xml", "application/xml", 200, dss.MajorSuccess, ""},
		{"/sign", "sign-wrong-namespace.xml", "application/xml", 200, dss.MajorRequesterError, dss.MinorMalformed},
		{"/sign", "sign-unsupported.xml", "application/xml", 200, dss.MajorRequesterError, dss.MinorNotSupported},
		{"/sign", "sign-bad-base64.xml", "application/xml", 200, dss.MajorRequesterError, dss.MinorMalformed},
		{"/verify", "verify.xml", "application/xml", 200, dss.MajorSuccess, ""},
		{"/retrievePending", "pending.xml", "application/xml", 200, dss.MajorRequesterError, dss.MinorReferencedDocNotFound},
		{"/sign", "verify.xml", "application/xml", 400, dss.MajorRequesterError, dss.MinorMalformed},
		{"/sign", "bad-malformed.xml", "application/xml", 400, dss.MajorRequesterError, dss.MinorMalformed},
		{"/sign", "bad-soap12-doctype.xml", "application/xml", 400, dss.MajorRequesterError, dss.MinorMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.file, func(t *testing.T) {
			s := newServer(t, httpxml.Options{})
			r := s.post(t, tt.path, tt.ct, token, readRequest(t, tt.file))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			xsdtest.Validate(t, schemas.CoreXSD, r.body)
			if !bytes.Contains(r.body, []byte(">"+tt.major+"</ResultMajor>")) {
				t.Errorf("answer lacks %s:\n%s", tt.major, r.body)
			}
			if tt.minor != "" && !bytes.Contains(r.body, []byte(">"+tt.minor+"</ResultMinor>")) {
				t.Errorf("answer lacks %s:\n%s", tt.minor, r.body)
			}
		})
	}
}

func TestDocumentBytesReachService(t *testing.T) {
	s := newServer(t, httpxml.Options{})
	r := s.post(t, "/sign", "application/xml", token, readRequest(t, "sign-detached.xml"))
	if r.status != 200 {
		t.Fatalf("status %d\n%s", r.status, r.body)
	}
	got := s.svc.LastSign()
	if got == nil || len(got.Documents) != 2 || string(got.Documents[0].Data) != "hello, world\n" {
		t.Fatalf("service got %+v", got)
	}
	if c := s.svc.Callers[0]; c.User != "bob" {
		t.Errorf("caller %+v", c)
	}
	if !bytes.Contains(r.body, []byte(`RequestID="req-detached"`)) {
		t.Errorf("RequestID not echoed:\n%s", r.body)
	}
}

func TestMediaTypes(t *testing.T) {
	s := newServer(t, httpxml.Options{})
	for _, ct := range []string{"application/json", "text/plain", "", "application/xml; charset=iso-8859-1"} {
		r := s.post(t, "/sign", ct, token, readRequest(t, "sign-hash.xml"))
		if r.status != http.StatusUnsupportedMediaType {
			t.Errorf("%q: status %d, want 415", ct, r.status)
		}
		if ct == "application/json" && !strings.Contains(string(r.body), "JSON") {
			t.Errorf("415 for JSON without a clear message: %s", r.body)
		}
	}
	if s.svc.Calls() != 0 {
		t.Error("service called")
	}
}

func TestOversize(t *testing.T) {
	s := newServer(t, httpxml.Options{MaxBody: 512})
	r := s.post(t, "/sign", "application/xml", token, readRequest(t, "sign-enveloped.xml"))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", r.status)
	}
	xsdtest.Validate(t, schemas.CoreXSD, r.body)
	if !bytes.Contains(r.body, []byte(dss.MinorTooLarge)) {
		t.Errorf("413 body:\n%s", r.body)
	}
}

func TestAuthentication(t *testing.T) {
	for _, tok := range []string{"", "not-the-token"} {
		s := newServer(t, httpxml.Options{})
		r := s.post(t, "/retrievePending", "application/xml", tok, readRequest(t, "pending.xml"))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d, want 401", tok, r.status)
		}
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
		xsdtest.Validate(t, schemas.CoreXSD, r.body)
		for _, want := range []string{"<Response", `RequestID="async-5c0d"`, dss.MinorNotAuthenticated} {
			if !bytes.Contains(r.body, []byte(want)) {
				t.Errorf("401 body lacks %s:\n%s", want, r.body)
			}
		}
		if s.svc.Calls() != 0 {
			t.Error("service called")
		}
	}
}

func TestInternalErrorHidden(t *testing.T) {
	s := newServer(t, httpxml.Options{NewID: func() string { return "pr-1" }})
	s.svc.Err = io.ErrUnexpectedEOF
	r := s.post(t, "/sign", "application/xml", token, readRequest(t, "sign-hash.xml"))
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	xsdtest.Validate(t, schemas.CoreXSD, r.body)
	if bytes.Contains(r.body, []byte("EOF")) || !bytes.Contains(r.body, []byte(">pr-1</ProblemReference>")) ||
		!bytes.Contains(r.body, []byte(dss.MajorResponderError)) {
		t.Errorf("internal error answer:\n%s", r.body)
	}
}

// BenchmarkHandler measures the binding's own work on one request (path, media type,
// authentication, read, gate, decode, call of an in-memory service, encode, request log).
func BenchmarkHandler(b *testing.B) {
	for _, tt := range []struct{ name, path string }{{"sign-enveloped.xml", httpxml.PathSign}, {"verify.xml", httpxml.PathVerify}} {
		b.Run(tt.name, func(b *testing.B) {
			body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "requests", tt.name))
			if err != nil {
				b.Fatal(err)
			}
			auth := authn.New([]authn.User{{Name: "bob", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
			h := httpxml.New(&fakesvc.Service{}, auth, httpxml.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/xml")
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
