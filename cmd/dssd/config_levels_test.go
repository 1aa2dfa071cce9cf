package main

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/dss/revocation"
	"dssd/dss/verify"
)

// levelsBase is a minimal valid configuration (soft HSM) to which the tests append sections.
const levelsBase = `
listen:
  tls: {cert: tls.pem, key: tls.key}
hsm: {type: soft}
`

func loadLevels(t *testing.T, extra string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key"), testKey(t, "EC-P256"))
	writeCert(t, filepath.Join(dir, "ca.pem"), "", testKey(t, "EC-P256"))
	path := filepath.Join(dir, "dssd.yaml")
	writeFile(t, path, []byte(levelsBase+extra))
	return LoadConfig(path)
}

func TestLevelsConfig(t *testing.T) {
	cases := []struct {
		name, yaml string
		errs       []string // every one must appear; none means valid
	}{
		{"nothing", "", nil},
		{"one authority", "timestamp: {url: https://tsa.example/tsa, ca: ca.pem, trust_anchors: [ca.pem]}\n", nil},
		{"several authorities", `
timestamp:
  authorities:
    - {url: https://a.example/tsa}
    - {url: http://b.example/tsa, ca: ca.pem, timeout: 2s}
  trust_anchors: [ca.pem]
`, nil},
		{"no anchors", "timestamp: {url: https://tsa.example/tsa}\n", []string{"timestamp.trust_anchors: required"}},
		{"anchors without authority", "timestamp: {trust_anchors: [ca.pem]}\n", []string{"timestamp.trust_anchors: set but no timestamp authority"}},
		{"url and list", "timestamp: {url: https://a.example, authorities: [{url: https://b.example}], trust_anchors: [ca.pem]}\n",
			[]string{"timestamp: give either url or authorities"}},
		{"bad urls", "timestamp: {authorities: [{url: ftp://a.example}, {}], trust_anchors: [missing.pem]}\n",
			[]string{"timestamp.authorities[0].url: must be an http(s) URL", "timestamp.authorities[1].url: required", "timestamp.trust_anchors[0]: file"}},
		{"revocation", "revocation: {enabled: true, ca: ca.pem, trust_anchors: [ca.pem], ocsp_timeout: 2s, max_age: 10m}\n", nil},
		{"revocation off with ca", "revocation: {ca: ca.pem}\n", []string{"revocation: ca or trust_anchors set but revocation.enabled is false"}},
		{"revocation bad values", "revocation: {enabled: true, crl_timeout: -1s, cache_entries: -2}\n",
			[]string{"revocation.crl_timeout: must be positive", "revocation.cache_entries: must be positive"}},
		{"unknown key", "revocation: {enabled: true, ocsp_url: x}\n", []string{"ocsp_url"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadLevels(t, tc.yaml)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLevelsDefaults(t *testing.T) {
	c, err := loadLevels(t, `
timestamp:
  authorities:
    - {url: https://a.example/tsa}
    - {url: https://b.example/tsa, timeout: 2s}
  ca: ca.pem
  trust_anchors: [ca.pem]
revocation: {enabled: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	auths := c.Timestamp.authorities()
	if len(auths) != 2 || auths[0].Timeout.Duration() != 10*time.Second || auths[1].Timeout.Duration() != 2*time.Second ||
		auths[1].CA != c.Timestamp.CA || !filepath.IsAbs(auths[0].CA) {
		t.Fatalf("authorities = %+v", auths)
	}
	r := c.Revocation
	if r.OCSPTimeout.Duration() != 5*time.Second || r.CRLTimeout.Duration() != 10*time.Second ||
		r.MaxAge.Duration() != time.Hour || r.CacheEntries != 1024 || r.MaxCRLBytes != 16<<20 {
		t.Fatalf("revocation defaults = %+v", r)
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tsa, rev, err := levelSources(context.Background(), c, logger, nil)
	if err != nil || tsa == nil || rev == nil {
		t.Fatalf("levelSources = %v, %v, %v", tsa, rev, err)
	}
	c2, err := loadLevels(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if tsa, rev, err := levelSources(context.Background(), c2, logger, nil); err != nil || tsa != nil || rev != nil {
		t.Fatalf("unconfigured levelSources = %v, %v, %v; want nil, nil, nil", tsa, rev, err)
	}
}

// TestRevokedAdapter: a revocation from dss/revocation is verify.ErrRevoked, the one sentinel
// the service matches, with the revocation's own message.
func TestRevokedAdapter(t *testing.T) {
	inner := &revocation.RevokedError{Subject: "CN=x", RevokedAt: time.Unix(0, 0), Source: "OCSP"}
	err := error(inner)
	if !errors.Is(err, verify.ErrRevoked) || err.Error() != `certificate "CN=x" (serial <nil>) was revoked at 1970-01-01T00:00:00Z, reason unspecified (OCSP)` {
		t.Fatalf("adapter: %v", err)
	}
	// A chain without issuer is an error, not a revocation.
	src := revocationSource{revocation.New(revocation.Config{})}
	_, _, err = src.Validation(context.Background(), []*x509.Certificate{{Raw: []byte{1}, RawIssuer: []byte{1}, RawSubject: []byte{2}}}, nil)
	if err == nil || errors.Is(err, verify.ErrRevoked) {
		t.Fatalf("Validation = %v", err)
	}
}

func TestReadDevRevoked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "revoked.txt")
	if l, err := readDevRevoked(path); err != nil || l != nil {
		t.Fatalf("missing file: %v, %v", l, err)
	}
	writeFile(t, path, []byte("# revoked in development\n0A:1b 2025-01-02T03:04:05Z\n\nff # the other one\n"))
	l, err := readDevRevoked(path)
	if err != nil || len(l) != 2 {
		t.Fatalf("%v, %v", l, err)
	}
	st, _ := os.Stat(path)
	if l[0].Serial.Int64() != 0x0a1b || !l[0].RevokedAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		l[1].Serial.Int64() != 0xff || !l[1].RevokedAt.Equal(st.ModTime()) {
		t.Fatalf("parsed %+v", l)
	}
	writeFile(t, path, []byte("xyz\n"))
	if _, err := readDevRevoked(path); err == nil || !strings.Contains(err.Error(), "revoked.txt:1") {
		t.Fatalf("bad line: %v", err)
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@tsa.example/x?key=s#f": "https://tsa.example/x",
		"http://tsa.example":                "http://tsa.example",
	} {
		if got := safeURL(in); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", in, got, want)
		}
	}
}
