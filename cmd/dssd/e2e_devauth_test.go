//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/dss/revocation"
	"dssd/dss/tsp"
)

// TestDevAuthorities drives /dev/tsa, /dev/ocsp and /dev/crl of `dssd serve --dev` with the
// production clients, configured as the dev dssd.yaml configures them (dev root for TLS and
// as anchor).
func TestDevAuthorities(t *testing.T) {
	s := start(t)
	roots, err := readCertificates(s.dev.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	ctx := context.Background()

	if s.dev.TSA != s.dev.URL+"/dev/tsa" || s.dev.OCSP != s.dev.URL+"/dev/ocsp" {
		t.Fatalf("dev.json tsa %q, ocsp %q", s.dev.TSA, s.dev.OCSP)
	}

	// Timestamp: the client verifies the token; openssl ts -verify agrees.
	c, err := tsp.New(tsp.Config{Authorities: []tsp.Authority{{URL: s.dev.TSA, Timeout: 10 * time.Second, RootCAs: pool}}, Anchors: roots})
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("e2e"))
	tok, err := c.Timestamp(ctx, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is not installed: apt-get install openssl")
	}
	tokFile := filepath.Join(t.TempDir(), "token.der")
	if err := os.WriteFile(tokFile, tok, 0o600); err != nil {
		t.Fatal(err)
	}
	tsaChain := filepath.Join(s.devDir, "pki", "tsa.pem")
	out, err := exec.Command(openssl, "ts", "-verify", "-token_in", "-in", tokFile, "-digest", hex.EncodeToString(d[:]),
		"-CAfile", s.dev.CA, "-untrusted", tsaChain).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}

	// Revocation of every credential chain and of the TSA chain: OCSP for the leaf (delegated
	// responder) and for the issuing CA (root), no CRL needed.
	src := revocation.New(revocation.Config{RootCAs: pool, Anchors: roots})
	chains := map[string]string{"tsa": tsaChain}
	for _, u := range s.dev.Users {
		for _, cr := range u.Credentials {
			chains[cr.ID] = cr.Cert
		}
	}
	for name, file := range chains {
		chain, err := readCertificates(file)
		if err != nil {
			t.Fatal(err)
		}
		ocsps, crls, err := src.Validation(ctx, chain)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ocsps) != 2 || len(crls) != 0 {
			t.Errorf("%s: %d OCSP responses, %d CRLs; want 2, 0", name, len(ocsps), len(crls))
		}
	}

	// revoked.txt: a serial nobody uses is reported revoked by OCSP and the CRL.
	issuing, err := readCertificates(filepath.Join(s.devDir, "pki", "issuing-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(0x0dead5e7)
	revFile := filepath.Join(s.devDir, "revoked.txt")
	if err := os.WriteFile(revFile, []byte("0d:ea:d5:e7 2025-06-07T08:09:10Z # e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(revFile) })
	resp := ocspAsk(t, s, issuing[0], serial)
	if resp.Status != ocsp.Revoked || !resp.RevokedAt.Equal(time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)) {
		t.Errorf("OCSP for a listed serial: status %d at %v", resp.Status, resp.RevokedAt)
	}
	if resp := ocspAsk(t, s, issuing[0], big.NewInt(0x0dead5e8)); resp.Status != ocsp.Good {
		t.Errorf("OCSP for another serial: status %d", resp.Status)
	}
	hr, err := s.client.Get(s.dev.URL + "/dev/crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	crl, err := x509.ParseRevocationList(der)
	if err != nil || crl.CheckSignatureFrom(issuing[0]) != nil || len(crl.RevokedCertificateEntries) != 1 ||
		crl.RevokedCertificateEntries[0].SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("CRL: %v", err)
	}
}

// ocspAsk posts an OCSP request for serial under issuer to /dev/ocsp.
func ocspAsk(t *testing.T, s *server, issuer *x509.Certificate, serial *big.Int) *ocsp.Response {
	t.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	nh := sha1.Sum(issuer.RawSubject)
	kh := sha1.Sum(spki.PublicKey.RightAlign())
	req, err := (&ocsp.Request{HashAlgorithm: crypto.SHA1, IssuerNameHash: nh[:], IssuerKeyHash: kh[:], SerialNumber: serial}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hr, err := s.client.Post(s.dev.OCSP, "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	body, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != http.StatusOK {
		t.Fatalf("OCSP: HTTP %d", hr.StatusCode)
	}
	resp, err := ocsp.ParseResponse(body, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
