package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"dssd/dss"
)

func TestAuthenticate(t *testing.T) {
	cert := selfSigned(t)
	a := New([]User{
		{Name: "alice", TokenSHA256: [][32]byte{sha256.Sum256([]byte("tok-a1")), sha256.Sum256([]byte("tok-a2"))}},
		{Name: "bob", TokenSHA256: [][32]byte{sha256.Sum256([]byte("tok-b"))}, CertSHA256: [][32]byte{sha256.Sum256(cert.Raw)}},
	})
	tests := []struct {
		name, header string
		tls          bool
		want         dss.Caller
		fail         bool
	}{
		{"token", "Bearer tok-a2", false, dss.Caller{User: "alice", Via: "token"}, false},
		{"scheme case", "bearer tok-b", false, dss.Caller{User: "bob", Via: "token"}, false},
		{"unknown token", "Bearer tok-x", false, dss.Caller{}, true},
		{"basic auth", "Basic dG9rLWE6", false, dss.Caller{}, true},
		{"empty bearer", "Bearer ", false, dss.Caller{}, true},
		{"nothing", "", false, dss.Caller{}, true},
		{"certificate", "", true, dss.Caller{User: "bob", Via: "certificate"}, false},
		{"bad token wins over certificate", "Bearer nope", true, dss.Caller{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/sign", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
			}
			got, err := a.Authenticate(r)
			if tt.fail {
				if dss.KindOf(err) != dss.KindNotAuthenticated || err == nil {
					t.Fatalf("got %v, want KindNotAuthenticated", err)
				}
				if res := dss.ResultOf(err, "x"); res.Minor != dss.MinorNotAuthenticated || res.Major != dss.MajorRequesterError {
					t.Errorf("result %+v", res)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestUnverifiedCertificateIgnored(t *testing.T) {
	cert := selfSigned(t)
	a := New([]User{{Name: "bob", CertSHA256: [][32]byte{sha256.Sum256(cert.Raw)}}})
	r := httptest.NewRequest("POST", "/sign", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}} // presented, not verified
	if _, err := a.Authenticate(r); err == nil {
		t.Fatal("an unverified client certificate authenticated")
	}
}

func selfSigned(t *testing.T) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bob"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
