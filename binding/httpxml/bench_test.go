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
	"testing"

	"dssd/binding/authn"
	"dssd/binding/httpxml"
	"dssd/binding/internal/fakesvc"
)

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
