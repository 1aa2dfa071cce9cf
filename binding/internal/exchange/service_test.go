package exchange_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"dssd/binding/authn"
	"dssd/binding/csc"
	"dssd/binding/httpxml"
	"dssd/binding/internal/exchange"
	"dssd/binding/soap"
	"dssd/dss"
	"dssd/internal/testkit/fakesvc"
)

// counting wraps a Service as a decorator would (metrics, tracing): it overrides one
// operation and gets the others, the audit included, from the embedded Service.
type counting struct {
	exchange.Service
	signs int
}

func (c *counting) Sign(ctx context.Context, caller dss.Caller, req *dss.SignRequest) (*dss.SignResponse, error) {
	c.signs++
	return c.Service.Sign(ctx, caller, req)
}

// opsOnly has the three operations and no audit: it must not be a Service.
type opsOnly struct{}

func (opsOnly) Sign(context.Context, dss.Caller, *dss.SignRequest) (*dss.SignResponse, error) {
	return nil, nil
}
func (opsOnly) Verify(context.Context, dss.Caller, *dss.VerifyRequest) (*dss.VerifyResponse, error) {
	return nil, nil
}
func (opsOnly) Pending(context.Context, dss.Caller, *dss.PendingRequest) (*dss.SignResponse, error) {
	return nil, nil
}

// TestServiceDeclaresTheAudit: the Service every binding takes declares the audit of failed
// authentications and of the binding's refusals, so a wrapper without them does not compile
// (here: is not assignable), instead of losing the records at run time.
func TestServiceDeclaresTheAudit(t *testing.T) {
	if reflect.TypeFor[opsOnly]().Implements(reflect.TypeFor[exchange.Service]()) {
		t.Error("a service without the audit methods is an exchange.Service")
	}
	for name, newFn := range map[string]any{"soap": soap.New, "httpxml": httpxml.New, "csc": csc.New} {
		svc := reflect.TypeOf(newFn).In(0)
		for _, m := range []string{"AuditAuthFailure", "AuditRefusal"} {
			if _, ok := svc.MethodByName(m); !ok {
				t.Errorf("%s.New takes a %v without %s", name, svc, m)
			}
		}
	}
}

// TestWrappedServiceAudits: a failed login and a refusal decided by the binding reach the
// audit of a wrapped service, in both XML bindings.
func TestWrappedServiceAudits(t *testing.T) {
	const token = "wrapped-test-token-0123456789"
	auth := authn.New([]authn.User{{Name: "carol", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "requests", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name, path, ct   string
		handler          func(exchange.Service) http.Handler
		request, refused string // a valid request; one the binding refuses after authentication
	}{
		{"soap", "/soap", "application/soap+xml; charset=utf-8",
			func(s exchange.Service) http.Handler { return soap.New(s, auth, soap.Options{}) },
			"soap12-sign-enveloped.xml", "bad-soap12-two-bodies.xml"},
		{"httpxml", httpxml.PathSign, "application/xml",
			func(s exchange.Service) http.Handler { return httpxml.New(s, auth, httpxml.Options{}) },
			"sign-enveloped.xml", "verify.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fakesvc.Service{}
			wrapped := &counting{Service: inner}
			h := tt.handler(wrapped)
			post := func(tok string, body []byte) int {
				req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(body))
				req.Header.Set("Content-Type", tt.ct)
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w.Code
			}
			if st := post(token, read(tt.request)); st != http.StatusOK || wrapped.signs != 1 {
				t.Fatalf("valid request: status %d, %d signs through the wrapper", st, wrapped.signs)
			}
			if st := post("not-the-token", read(tt.request)); st != http.StatusUnauthorized {
				t.Fatalf("wrong token: status %d", st)
			}
			if fs := inner.Failures(); len(fs) != 1 || fs[0].Reason == "" || fs[0].ProblemRef == "" {
				t.Errorf("failed login through the wrapper: %d records %+v, want 1", len(fs), fs)
			}
			if st := post(token, read(tt.refused)); st != http.StatusBadRequest {
				t.Fatalf("refused request: status %d", st)
			}
			if rs := inner.Refusals; len(rs) != 1 || rs[0].Caller.User != "carol" || rs[0].Err == nil {
				t.Errorf("refusal through the wrapper: %d records %+v, want 1", len(rs), rs)
			}
		})
	}
}
