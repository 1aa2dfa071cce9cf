package tsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// tsaBehaviour is how a test authority answers: it may change the token's content before
// signing (mutate) or the response bytes after (post).
type tsaBehaviour struct {
	cert   *x509.Certificate
	chain  []*x509.Certificate
	key    crypto.Signer
	mutate func(*timestamp.Timestamp)
	post   func([]byte) []byte
}

func (b tsaBehaviour) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			t.Errorf("test TSA: %v", err)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{
			HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage,
			Time: time.Now().UTC().Truncate(time.Second), Policy: DevPolicy, Nonce: req.Nonce,
			AddTSACertificate: true, Certificates: b.chain,
		}
		if b.mutate != nil {
			b.mutate(&ts)
		}
		resp, err := ts.CreateResponseWithOpts(b.cert, b.key, crypto.SHA256)
		if err != nil {
			t.Errorf("test TSA: %v", err)
			http.Error(w, "bad", http.StatusInternalServerError)
			return
		}
		if b.post != nil {
			resp = b.post(resp)
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	})
}

func (p *testPKI) behaviour() tsaBehaviour {
	return tsaBehaviour{cert: p.tsa, chain: []*x509.Certificate{p.ca}, key: p.tsaKey}
}

// hang answers nothing until the client gives up (or 10 s pass). The body is read first: only
// then does the server notice the client closing the connection.
func hang(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, p *testPKI, timeout time.Duration, urls ...string) *Client {
	t.Helper()
	var auths []Authority
	for _, u := range urls {
		auths = append(auths, Authority{URL: u, Timeout: timeout})
	}
	c, err := New(Config{Authorities: auths, Anchors: []*x509.Certificate{p.root}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func digestOf(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func TestTimestampFromServer(t *testing.T) {
	p := newPKI(t, "good")
	srv := serve(t, NewServer(p.tsa, []*x509.Certificate{p.ca}, p.tsaKey, nil))
	c := newClient(t, p, 2*time.Second, srv.URL)
	d := digestOf("signature value")
	tok, err := c.Timestamp(context.Background(), crypto.SHA256, d)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := timestamp.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ts.HashedMessage, d) || ts.HashAlgorithm != crypto.SHA256 {
		t.Fatalf("imprint %x/%v, want %x/SHA-256", ts.HashedMessage, ts.HashAlgorithm, d)
	}
	if at, err := c.VerifyToken(tok, crypto.SHA256, d); err != nil || !at.Equal(ts.Time) {
		t.Fatalf("VerifyToken = %v, %v", at, err)
	}
	if _, err := c.VerifyToken(tok, crypto.SHA256, digestOf("other")); err == nil {
		t.Fatal("VerifyToken accepted a token for another digest")
	}

	// SHA-384 and SHA-512 imprints.
	for _, h := range []crypto.Hash{crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write([]byte("x"))
		if _, err := c.Timestamp(context.Background(), h, hh.Sum(nil)); err != nil {
			t.Errorf("%v: %v", h, err)
		}
	}
	// A digest of the wrong length never reaches the authority.
	if _, err := c.Timestamp(context.Background(), crypto.SHA256, []byte("short")); err == nil {
		t.Error("a 5-byte SHA-256 digest was accepted")
	}
}

// TestOpenSSLVerifies checks tokens of the dev server with `openssl ts -verify`, both the
// whole response and the token the client returns.
func TestOpenSSLVerifies(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is not installed: apt-get install openssl")
	}
	p := newPKI(t, "openssl")
	dir := t.TempDir()
	rootPEM, chainPEM := filepath.Join(dir, "root.pem"), filepath.Join(dir, "tsa-chain.pem")
	writePEM(t, rootPEM, p.root)
	writePEM(t, chainPEM, p.tsa, p.ca)
	s := NewServer(p.tsa, []*x509.Certificate{p.ca}, p.tsaKey, nil)

	d := digestOf("canonical SignatureValue")
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: d, Certificates: true, Nonce: big.NewInt(42)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Respond(req)
	if err != nil {
		t.Fatal(err)
	}
	tsr := filepath.Join(dir, "resp.tsr")
	if err := os.WriteFile(tsr, resp, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(openssl, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("ts", "-verify", "-in", tsr, "-digest", hex.EncodeToString(d), "-CAfile", rootPEM, "-untrusted", chainPEM); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify (response): %v\n%s", err, out)
	}
	if out, err := run("ts", "-verify", "-in", tsr, "-digest", hex.EncodeToString(digestOf("other")), "-CAfile", rootPEM, "-untrusted", chainPEM); err == nil {
		t.Fatalf("openssl accepted the token for another digest:\n%s", out)
	}

	srv := serve(t, s)
	tok, err := newClient(t, p, 2*time.Second, srv.URL).Timestamp(context.Background(), crypto.SHA256, d)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "token.der")
	if err := os.WriteFile(tokFile, tok, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("ts", "-verify", "-token_in", "-in", tokFile, "-digest", hex.EncodeToString(d), "-CAfile", rootPEM, "-untrusted", chainPEM); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify (client token): %v\n%s", err, out)
	}
}

func TestMisbehavingAuthorities(t *testing.T) {
	p := newPKI(t, "main")
	other := newPKI(t, "stranger")
	nonCritical := mkCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "lax TSA"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{tsaEKU(t, false)},
	}, p.tsaKey.Public(), p.ca, p.caKey)
	serverAuth := mkCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "web server"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.tsaKey.Public(), p.ca, p.caKey)

	with := func(f func(*tsaBehaviour)) http.Handler {
		b := p.behaviour()
		f(&b)
		return b.handler(t)
	}
	cases := []struct {
		name string
		h    http.Handler
		want string
	}{
		{"http 500", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusInternalServerError)
		}), "HTTP status 500"},
		{"garbage body", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html>hello</html>"))
		}), "not a DER TimeStampResp"},
		{"wrong nonce", with(func(b *tsaBehaviour) {
			b.mutate = func(ts *timestamp.Timestamp) { ts.Nonce = new(big.Int).Add(ts.Nonce, big.NewInt(1)) }
		}), "nonce"},
		{"no nonce", with(func(b *tsaBehaviour) {
			b.mutate = func(ts *timestamp.Timestamp) { ts.Nonce = nil }
		}), "nonce"},
		{"wrong imprint", with(func(b *tsaBehaviour) {
			b.mutate = func(ts *timestamp.Timestamp) { ts.HashedMessage = digestOf("something else") }
		}), "message imprint"},
		{"wrong imprint algorithm", with(func(b *tsaBehaviour) {
			b.mutate = func(ts *timestamp.Timestamp) {
				d := sha512.Sum512(ts.HashedMessage)
				ts.HashAlgorithm, ts.HashedMessage = crypto.SHA512, d[:]
			}
		}), "imprint uses SHA-512"},
		{"untrusted TSA certificate", other.behaviour().handler(t), "does not chain to a configured anchor"},
		{"non-critical EKU", with(func(b *tsaBehaviour) { b.cert = nonCritical }), "non-critical extended key usage"},
		{"not a TSA certificate", with(func(b *tsaBehaviour) { b.cert = serverAuth }), "not for timestamping"},
		{"clock far off", with(func(b *tsaBehaviour) {
			b.mutate = func(ts *timestamp.Timestamp) { ts.Time = ts.Time.Add(-2 * time.Hour) }
		}), "away from the local clock"},
		{"rejection", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			resp, _ := timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.SystemFailure)
			_, _ = w.Write(resp)
		}), "request refused: rejection (systemFailure)"},
		{"tampered signature", with(func(b *tsaBehaviour) {
			b.post = func(resp []byte) []byte {
				// Flip the last byte: the end of the signature value.
				out := bytes.Clone(resp)
				out[len(out)-1] ^= 0xff
				return out
			}
		}), "does not verify"},
		{"timeout", http.HandlerFunc(hang), "no answer within 300ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, tc.h)
			// The authorities that answer get a deadline a loaded machine cannot miss (with
			// 300 ms "http 500" once failed as a timeout under load 15); the one that hangs
			// gets a short one.
			limit := 10 * time.Second
			if tc.name == "timeout" {
				limit = 300 * time.Millisecond
			}
			c := newClient(t, p, limit, srv.URL)
			tok, err := c.Timestamp(context.Background(), crypto.SHA256, digestOf(tc.name))
			if err == nil {
				t.Fatalf("accepted a token (%d bytes)", len(tok))
			}
			if tok != nil {
				t.Errorf("returned %d bytes with the error", len(tok))
			}
			t.Log(err)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("error does not wrap ErrUnavailable: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name %q and the authority", err, tc.want)
			}
		})
	}
}

func TestGrantedWithMods(t *testing.T) {
	p := newPKI(t, "mods")
	b := p.behaviour()
	b.post = func(resp []byte) []byte {
		var r timeStampResp
		if _, err := asn1.Unmarshal(resp, &r); err != nil {
			t.Fatal(err)
		}
		r.Status.Status = statusGrantedWithMods
		out, err := asn1.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	srv := serve(t, b.handler(t))
	if _, err := newClient(t, p, time.Second, srv.URL).Timestamp(context.Background(), crypto.SHA256, digestOf("m")); err != nil {
		t.Fatal(err)
	}
}

// TestFailover: with the first authority hanging, the second answers, and the whole call takes
// about the first authority's timeout plus one request.
func TestFailover(t *testing.T) {
	p := newPKI(t, "failover")
	var firstHits, secondHits atomic.Int32
	hang := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		firstHits.Add(1)
		hang(w, r)
	}))
	good := NewServer(p.tsa, []*x509.Certificate{p.ca}, p.tsaKey, nil)
	second := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secondHits.Add(1)
		good.ServeHTTP(w, r)
	}))
	const timeout = 400 * time.Millisecond
	c := newClient(t, p, timeout, hang.URL, second.URL)
	start := time.Now()
	if _, err := c.Timestamp(context.Background(), crypto.SHA256, digestOf("f")); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("failover took %s (timeout %s)", took, timeout)
	if took < timeout || took > timeout+time.Second {
		t.Errorf("failover took %s, want between %s and %s", took, timeout, timeout+time.Second)
	}
	if firstHits.Load() != 1 || secondHits.Load() != 1 {
		t.Errorf("hits = %d, %d; want 1, 1", firstHits.Load(), secondHits.Load())
	}

	// With the first authority up, the second is never asked.
	c2 := newClient(t, p, timeout, second.URL, hang.URL)
	if _, err := c2.Timestamp(context.Background(), crypto.SHA256, digestOf("g")); err != nil {
		t.Fatal(err)
	}
	if firstHits.Load() != 1 {
		t.Errorf("the second authority was asked although the first answered")
	}

	// None reachable: one error naming both.
	down := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	c3 := newClient(t, p, timeout, hang.URL, down.URL)
	_, err := c3.Timestamp(context.Background(), crypto.SHA256, digestOf("h"))
	if err == nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (an authority's timeout must not read as the caller's deadline)", err)
	}
	for _, want := range []string{hang.URL + ": no answer within", down.URL + ": HTTP status 503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestCallerDeadline: when the caller's context ends, the remaining authorities are not asked
// and the error wraps the context's error.
func TestCallerDeadline(t *testing.T) {
	p := newPKI(t, "deadline")
	var hits atomic.Int32
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		hang(w, r)
	}))
	c := newClient(t, p, 5*time.Second, srv.URL, srv.URL+"/second")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Timestamp(ctx, crypto.SHA256, digestOf("d"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interrupted: context deadline exceeded") || !strings.Contains(err.Error(), "not tried") || hits.Load() != 1 {
		t.Fatalf("err = %v, hits %d", err, hits.Load())
	}
}

func TestErrorsHideURLSecrets(t *testing.T) {
	p := newPKI(t, "secret")
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/tsa?apikey=s3cret"
	_, err := newClient(t, p, time.Second, u).Timestamp(context.Background(), crypto.SHA256, digestOf("s"))
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "HTTP status 403") {
		t.Fatalf("err = %v", err)
	}
}

func TestServerRejects(t *testing.T) {
	p := newPKI(t, "server")
	s := NewServer(p.tsa, []*x509.Certificate{p.ca}, p.tsaKey, func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) })
	status := func(resp []byte) int {
		var r timeStampResp
		if _, err := asn1.Unmarshal(resp, &r); err != nil {
			t.Fatal(err)
		}
		return r.Status.Status
	}
	resp, err := s.Respond([]byte("not a request"))
	if err != nil || status(resp) != 2 {
		t.Fatalf("garbage request: status %v, %v", status(resp), err)
	}
	d := make([]byte, 20)
	_, _ = rand.Read(d)
	req, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA1, HashedMessage: d}).Marshal()
	if resp, err = s.Respond(req); err != nil || status(resp) != 2 {
		t.Fatalf("SHA-1 request: status %v, %v", status(resp), err)
	}
	req, _ = (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("t")}).Marshal()
	if resp, err = s.Respond(req); err != nil || status(resp) != 0 {
		t.Fatalf("good request: status %v, %v", status(resp), err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil || !ts.Time.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("token time %v (%v), want the injected clock", ts, err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/tsa", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", rec.Code)
	}
}
