package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGuardConfig: the guard defaults follow limits.max_body_bytes, explicit values and -1
// (no limit) are kept, and impossible values are refused with the key named.
func TestGuardConfig(t *testing.T) {
	dir := fixture(t)
	load := func(name, extra string) (*Config, error) {
		path := filepath.Join(dir, name+".yaml")
		writeFile(t, path, []byte(baseConfig+extra))
		return LoadConfig(path)
	}
	c, err := load("guard-defaults", "limits: {max_body_bytes: 1048576}\n")
	if err != nil {
		t.Fatal(err)
	}
	g := c.Guard
	if g.MaxConnections != 2048 || g.MaxConnectionsPerClient != 256 || g.MaxInflightBytesPerClient != 2<<20 ||
		g.MaxInflightBytes != 17<<20 || g.RetryAfter.Duration() != 2*time.Second || g.AuthFailureRate != 1 ||
		g.AuthFailureBurst != 10 || g.AuthFailureWindow.Duration() != time.Minute || g.AuthFailureClients != 10000 {
		t.Errorf("defaults %+v", g)
	}
	c, err = load("guard-explicit", "guard: {max_connections: -1, max_inflight_bytes: -1, auth_failure_rate: -1, auth_failure_window: 5s}\nmetrics: {addr: \"127.0.0.1:0\", users: [alice]}\n")
	if err != nil {
		t.Fatal(err)
	}
	if guardLimit(c.Guard.MaxConnections) != 0 || guardLimit(c.Guard.MaxInflightBytes) != 0 || c.Guard.AuthFailureWindow.Duration() != 5*time.Second {
		t.Errorf("explicit values %+v", c.Guard)
	}
	for _, tc := range []struct{ extra, want string }{
		{"guard: {max_inflight_bytes_per_client: 1000}\n", "guard.max_inflight_bytes_per_client: is below limits.max_body_bytes"},
		{"guard: {max_connections: -5}\n", "guard.max_connections: must be positive"},
		{"guard: {auth_failure_rate: -2}\n", "guard.auth_failure_rate"},
		{"metrics: {users: [carol]}\n", `metrics.users[0]: user "carol" is not configured`},
		{"metrics: {addr: nowhere}\n", "metrics.addr"},
	} {
		if _, err := load("guard-bad", tc.extra); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.extra, err, tc.want)
		}
	}
}

// TestMetricsListener: with metrics.addr, /metrics is served on its own HTTPS listener; with
// metrics.users, only those users may read it.
func TestMetricsListener(t *testing.T) {
	dir := fixture(t)
	path := filepath.Join(dir, "metrics.yaml")
	writeFile(t, path, []byte(baseConfig+"metrics: {addr: \"127.0.0.1:0\", users: [alice]}\n"))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for metrics.addr
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Addr = ln.Addr().String()
	ln.Close()
	aliceTok, bobTok := "alice-token", "bob-token"
	for i, tok := range []string{aliceTok, bobTok} {
		s := sha256.Sum256([]byte(tok))
		cfg.Users[i].TokenSHA256 = []string{hex.EncodeToString(s[:])}
	}
	auth, _, err := authenticator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := metricsHandler(cfg, auth, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "dssd_up 1\n") }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := serveMetrics(ctx, cfg, tlsCfg, h, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the test's own self-signed certificate
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/metrics", aliceTok, 200},
		{"/metrics", bobTok, 403},
		{"/metrics", "", 401},
		{"/metrics", "wrong", 401},
		{"/sign", aliceTok, 404},
	} {
		var resp *http.Response
		for i := 0; i < 50; i++ { // the listener starts in the background
			req, _ := http.NewRequest(http.MethodGet, "https://"+cfg.Metrics.Addr+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if resp, err = client.Do(req); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s with %q: %d, want %d", tc.path, tc.token, resp.StatusCode, tc.status)
		}
	}
	// Without metrics.users the handler is the plain one.
	cfg.Metrics.Users = nil
	rec := httptest.NewRecorder()
	metricsHandler(cfg, auth, h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 401 { // h itself still requires alice: the wrapper added nothing
		t.Errorf("unwrapped handler: %d", rec.Code)
	}
}
