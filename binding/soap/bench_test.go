package soap_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"dssd/binding/internal/fakesvc"
	"dssd/binding/soap"
)

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
