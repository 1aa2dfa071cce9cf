package revocation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/dss/verify"
)

// env is a PKI (root → issuing CA → leaf, plus a delegated OCSP responder of the issuing CA)
// whose certificates point at one loopback HTTP server with /ocsp and /crl.
type env struct {
	root, ca, leaf, responder *x509.Certificate
	rootKey, caKey, respKey   crypto.Signer
	srv                       *httptest.Server
	ocspHits, crlHits         atomic.Int32

	mu      sync.Mutex
	revoked []Revocation
	ocspH   http.Handler
	crlH    http.Handler
}

func key(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t *testing.T, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, k crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.BasicConstraintsValid = true
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deadURL is an http URL on loopback where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/ocsp"
}

type envOptions struct {
	leafOCSP []string // AIA OCSP of the leaf; default the server's /ocsp
	leafCRL  []string // CDP of the leaf; default the server's /crl
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{rootKey: key(t), caKey: key(t), respKey: key(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/ocsp", func(w http.ResponseWriter, r *http.Request) {
		e.ocspHits.Add(1)
		e.mu.Lock()
		h := e.ocspH
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	mux.HandleFunc("/crl", func(w http.ResponseWriter, r *http.Request) {
		e.crlHits.Add(1)
		e.mu.Lock()
		h := e.crlH
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	ocspURL, crlURL := e.srv.URL+"/ocsp", e.srv.URL+"/crl"

	e.root = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "test root"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, e.rootKey.Public(), nil, e.rootKey)
	e.ca = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "test issuing CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, OCSPServer: []string{ocspURL}},
		e.caKey.Public(), e.root, e.rootKey)
	e.responder = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "test OCSP responder"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}},
		e.respKey.Public(), e.ca, e.caKey)
	leafOCSP, leafCRL := o.leafOCSP, o.leafCRL
	if leafOCSP == nil {
		leafOCSP = []string{ocspURL}
	}
	if leafCRL == nil {
		leafCRL = []string{crlURL}
	}
	e.leaf = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"},
		KeyUsage: x509.KeyUsageDigitalSignature, OCSPServer: leafOCSP, CRLDistributionPoints: leafCRL},
		key(t).Public(), e.ca, e.caKey)

	e.ocspH = NewOCSPResponder(e.keys(), e.list, ResponderOptions{})
	e.crlH = NewCRLHandler(e.ca, e.caKey, e.list, ResponderOptions{})
	return e
}

func (e *env) keys() []OCSPKey {
	return []OCSPKey{
		{Issuer: e.ca, Responder: e.responder, Signer: e.respKey},
		{Issuer: e.root, Responder: e.root, Signer: e.rootKey},
	}
}

func (e *env) list() ([]Revocation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Revocation(nil), e.revoked...), nil
}

func (e *env) revoke(c *x509.Certificate, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revoked = append(e.revoked, Revocation{Serial: c.SerialNumber, RevokedAt: at, Reason: 1})
}

func (e *env) set(ocspH, crlH http.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ocspH != nil {
		e.ocspH = ocspH
	}
	if crlH != nil {
		e.crlH = crlH
	}
}

func (e *env) chain() []*x509.Certificate { return []*x509.Certificate{e.leaf, e.ca, e.root} }

func status(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
}

func TestGood(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := New(Config{})
	ocsps, crls, err := s.Validation(context.Background(), e.chain())
	if err != nil {
		t.Fatal(err)
	}
	if len(ocsps) != 2 || len(crls) != 0 {
		t.Fatalf("got %d OCSP responses and %d CRLs, want 2 and 0", len(ocsps), len(crls))
	}
	// The first answers for the leaf (delegated responder), the second for the issuing CA
	// (signed by the root itself).
	if r, err := ocsp.ParseResponseForCert(ocsps[0], e.leaf, e.ca); err != nil || r.Status != ocsp.Good {
		t.Errorf("leaf response: %v", err)
	}
	if r, err := ocsp.ParseResponseForCert(ocsps[1], e.ca, e.root); err != nil || r.Status != ocsp.Good {
		t.Errorf("CA response: %v", err)
	}
	if e.crlHits.Load() != 0 {
		t.Errorf("the CRL was fetched although OCSP answered")
	}
}

func TestCache(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	clock := func() time.Time { return now }
	s := New(Config{Now: clock, MaxAge: time.Hour})
	if _, _, err := s.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	if got := e.ocspHits.Load(); got != 2 {
		t.Fatalf("%d OCSP requests, want 2", got)
	}
	if _, _, err := s.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	if got := e.ocspHits.Load(); got != 2 {
		t.Fatalf("%d OCSP requests after a cached call, want still 2", got)
	}
	// The responder's answers are good for 10 minutes: after that they are fetched again,
	// although MaxAge (1h) has not passed.
	now = now.Add(11 * time.Minute)
	e.set(NewOCSPResponder(e.keys(), e.list, ResponderOptions{Now: clock}), nil)
	if _, _, err := s.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	if got := e.ocspHits.Load(); got != 4 {
		t.Fatalf("%d OCSP requests after nextUpdate, want 4", got)
	}

	// MaxAge shorter than nextUpdate wins.
	s2 := New(Config{Now: clock, MaxAge: time.Minute})
	if _, _, err := s2.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, _, err := s2.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	if got := e.ocspHits.Load(); got != 8 {
		t.Fatalf("%d OCSP requests after MaxAge, want 8", got)
	}
}

func TestRevoked(t *testing.T) {
	e := newEnv(t, envOptions{})
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	e.revoke(e.leaf, at)
	ocsps, crls, err := New(Config{}).Validation(context.Background(), e.chain())
	if !errors.Is(err, verify.ErrRevoked) {
		t.Fatalf("err = %v, want ErrRevoked", err)
	}
	if ocsps != nil || crls != nil {
		t.Error("material returned with the error")
	}
	var re *RevokedError
	if !errors.As(err, &re) || !re.RevokedAt.Equal(at) || re.Source != "OCSP" || re.Serial.Cmp(e.leaf.SerialNumber) != 0 {
		t.Fatalf("RevokedError = %+v", re)
	}
	// dss/verify reads the time through this interface, across dss's wrapping.
	var timer interface{ RevocationTime() time.Time }
	if !errors.As(fmt.Errorf("dss: %w", err), &timer) || !timer.RevocationTime().Equal(at) {
		t.Errorf("RevocationTime through a wrapped error: %v", timer)
	}
	for _, want := range []string{`"CN=alice"`, "revoked at 2025-03-04T05:06:07Z", "keyCompromise"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestCRLFallback(t *testing.T) {
	e := newEnv(t, envOptions{leafOCSP: []string{deadURL(t)}})
	s := New(Config{})
	ocsps, crls, err := s.Validation(context.Background(), e.chain())
	if err != nil {
		t.Fatal(err)
	}
	if len(ocsps) != 1 || len(crls) != 1 {
		t.Fatalf("got %d OCSP responses and %d CRLs, want 1 and 1", len(ocsps), len(crls))
	}
	crl, err := x509.ParseRevocationList(crls[0])
	if err != nil || crl.CheckSignatureFrom(e.ca) != nil {
		t.Fatalf("CRL: %v", err)
	}

	// Revoked, seen through the CRL.
	e.revoke(e.leaf, time.Now().Add(-time.Minute))
	_, _, err = New(Config{}).Validation(context.Background(), e.chain())
	var re *RevokedError
	if !errors.As(err, &re) || re.Source != "CRL" || !errors.Is(err, verify.ErrRevoked) {
		t.Fatalf("err = %v, want a revocation from the CRL", err)
	}
}

func TestOCSPTimeoutFallsBack(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.set(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}), nil)
	start := time.Now()
	// The issuing CA has no CRL distribution point: its status fails; the leaf's comes from
	// the CRL after one OCSP timeout.
	_, _, err := New(Config{OCSPTimeout: 200 * time.Millisecond}).Validation(context.Background(), e.chain()[:1:1])
	if err == nil || !strings.Contains(err.Error(), "issuer") {
		// The chain of one certificate has no issuer: that is the expected refusal.
		t.Fatalf("err = %v", err)
	}
	ocsps, crls, err := New(Config{OCSPTimeout: 200 * time.Millisecond, Anchors: []*x509.Certificate{e.ca}}).
		Validation(context.Background(), []*x509.Certificate{e.leaf})
	if err != nil {
		t.Fatal(err)
	}
	if len(ocsps) != 0 || len(crls) != 1 {
		t.Fatalf("got %d OCSP responses and %d CRLs, want 0 and 1", len(ocsps), len(crls))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestBadAnswers(t *testing.T) {
	wrongKey := key(t)
	cases := []struct {
		name  string
		setup func(e *env)
		want  []string
	}{
		{"bad responder signature", func(e *env) {
			e.set(NewOCSPResponder([]OCSPKey{{Issuer: e.ca, Responder: e.responder, Signer: wrongKey}}, e.list, ResponderOptions{}), status(http.StatusNotFound))
		}, []string{"bad signature", "crl " + "http://", "HTTP status 404"}},
		{"responder without OCSPSigning", func(e *env) {
			plain := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "not a responder"}, KeyUsage: x509.KeyUsageDigitalSignature},
				wrongKey.Public(), e.ca, e.caKey)
			e.set(NewOCSPResponder([]OCSPKey{{Issuer: e.ca, Responder: plain, Signer: wrongKey}}, e.list, ResponderOptions{}), status(http.StatusNotFound))
		}, []string{"did not authorise", "OCSPSigning"}},
		{"responder of another CA", func(e *env) {
			other := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "rogue CA"}, IsCA: true, KeyUsage: x509.KeyUsageCertSign},
				wrongKey.Public(), nil, wrongKey)
			e.set(NewOCSPResponder([]OCSPKey{{Issuer: other, Responder: other, Signer: wrongKey}}, e.list, ResponderOptions{}), status(http.StatusNotFound))
		}, []string{"the responder answers unauthorized"}},
		{"stale OCSP and CRL", func(e *env) {
			past := ResponderOptions{Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }, Validity: time.Hour}
			e.set(NewOCSPResponder(e.keys(), e.list, past), NewCRLHandler(e.ca, e.caKey, e.list, past))
		}, []string{"ocsp ", "crl ", "stale: nextUpdate"}},
		{"future OCSP", func(e *env) {
			future := ResponderOptions{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
			e.set(NewOCSPResponder(e.keys(), e.list, future), status(http.StatusInternalServerError))
		}, []string{"lies in the future", "HTTP status 500"}},
		{"CRL signed by another key", func(e *env) {
			e.set(status(http.StatusBadGateway), NewCRLHandler(e.ca, wrongKey, e.list, ResponderOptions{}))
		}, []string{"HTTP status 502", "bad CRL signature"}},
		{"garbage", func(e *env) {
			g := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
			e.set(g, g)
		}, []string{"not a DER OCSP response", "not a DER CRL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			tc.setup(e)
			ocsps, crls, err := New(Config{}).Validation(context.Background(), e.chain())
			if err == nil {
				t.Fatalf("accepted: %d OCSP responses, %d CRLs", len(ocsps), len(crls))
			}
			t.Log(err)
			if errors.Is(err, verify.ErrRevoked) {
				t.Errorf("a failure reads as a revocation: %v", err)
			}
			for _, w := range append(tc.want, `"CN=alice"`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNoRevocationInformation(t *testing.T) {
	e := newEnv(t, envOptions{leafOCSP: []string{}, leafCRL: []string{}})
	_, _, err := New(Config{}).Validation(context.Background(), e.chain())
	if err == nil || !strings.Contains(err.Error(), "names no OCSP responder and no CRL distribution point") {
		t.Fatalf("err = %v", err)
	}
}

func TestDevResponders(t *testing.T) {
	e := newEnv(t, envOptions{})
	rec := httptest.NewRecorder()
	e.ocspH.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ocsp", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("OCSP GET: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	e.ocspH.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ocsp", strings.NewReader("junk")))
	if _, err := ocsp.ParseResponse(rec.Body.Bytes(), nil); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("junk request: %v", err)
	}
	e.revoke(e.leaf, time.Now())
	rec = httptest.NewRecorder()
	e.crlH.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/crl", nil))
	crl, err := x509.ParseRevocationList(rec.Body.Bytes())
	if err != nil || len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(e.leaf.SerialNumber) != 0 {
		t.Fatalf("CRL: %v", err)
	}
}

// TestVerifiedLinks: the cache of verified certificate signatures makes a second call verify
// nothing, and never vouches for a certificate that carries the right subject but a different
// key: a chain whose "issuing CA" is an impostor is refused after the real chain was accepted.
func TestVerifiedLinks(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := New(Config{})
	if _, _, err := s.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	// leaf→ca, ca→root and root→root (self-signed check) were verified once.
	if got := len(s.links); got != 3 {
		t.Fatalf("%d verified links after one chain, want 3", got)
	}
	if _, _, err := s.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	if got := len(s.links); got != 3 {
		t.Fatalf("%d verified links after the same chain again, want still 3", got)
	}
	impostorKey := key(t)
	impostor := issue(t, &x509.Certificate{Subject: e.ca.Subject, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, impostorKey.Public(), nil, impostorKey)
	_, _, err := s.Validation(context.Background(), []*x509.Certificate{e.leaf, impostor})
	if err == nil || !strings.Contains(err.Error(), "neither in the chain nor an anchor") {
		t.Fatalf("chain with an impostor issuer: %v, want the issuer refused", err)
	}
}

// TestValidationFresh: an answer in the cache that the caller's freshness rule refuses (here:
// issued before a signature timestamp) is not returned; a new one is fetched and returned,
// and cached for the next caller. A responder that can only give answers issued before is no
// status, and "revoked" is returned whatever its date.
func TestValidationFresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	e.set(NewOCSPResponder(e.keys(), e.list, ResponderOptions{Now: clock, Validity: time.Hour}), nil)
	s := New(Config{Now: clock, MaxAge: time.Hour})
	if _, _, err := s.Validation(context.Background(), e.chain()); err != nil {
		t.Fatal(err)
	}
	old := now

	// Five minutes later a timestamp is made; the cached answers predate it.
	now = now.Add(5 * time.Minute)
	genTime := now
	after := func(thisUpdate, _ time.Time) bool { return !thisUpdate.Before(genTime) }
	ocsps, _, err := s.ValidationFresh(context.Background(), e.chain(), after)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ocspHits.Load(); got != 4 {
		t.Fatalf("%d OCSP requests; want 4 (the cached answers predate the timestamp)", got)
	}
	for i, der := range ocsps {
		r, err := ocsp.ParseResponse(der, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.ThisUpdate.Before(genTime) {
			t.Errorf("answer %d issued %s, before the timestamp %s", i, r.ThisUpdate, genTime)
		}
	}
	// The fresh answers replaced the cached ones.
	if _, _, err := s.ValidationFresh(context.Background(), e.chain(), after); err != nil {
		t.Fatal(err)
	}
	if got := e.ocspHits.Load(); got != 4 {
		t.Errorf("%d OCSP requests; want still 4", got)
	}

	// A responder whose answers are always issued at "old" (pre-produced): no fresh status.
	e.set(NewOCSPResponder(e.keys(), e.list, ResponderOptions{Now: func() time.Time { return old }, Validity: time.Hour}),
		NewCRLHandler(e.ca, e.caKey, e.list, ResponderOptions{Now: func() time.Time { return old }, Validity: time.Hour}))
	genTime = now.Add(time.Minute)
	now = genTime
	if _, _, err := s.ValidationFresh(context.Background(), e.chain(), after); err == nil || !strings.Contains(err.Error(), "not fresh enough") {
		t.Errorf("pre-produced answers only: %v; want no fresh status", err)
	}

	// Revoked is revoked, whatever the date of the answer.
	e.revoke(e.leaf, old.Add(-time.Minute))
	_, _, err = s.ValidationFresh(context.Background(), e.chain(), after)
	var re *RevokedError
	if !errors.As(err, &re) {
		t.Errorf("revoked leaf: %v; want a RevokedError", err)
	}
}
