//go:build e2e

package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/cmd/dssd/devenv"
	"dssd/dss/xades"
)

// Issue 10: the verifier cannot be talked into "valid" by a revoked signer's old revocation
// data, a verification time, a certificate meant for something else, or a borrowed archive
// timestamp. These tests attack the running `dssd serve --dev` as the issue did.

const (
	minorBadArchiveTS = "urn:dssd:resultminor:InvalidArchiveTimestamp"
)

// trustReq is a VerifyRequest for a signature document with AdditionalKeyInfo OCSP
// responses and CRLs and an optional UseVerificationTime, in schema order.
func trustReq(doc []byte, useTime time.Time, ocsps, crls [][]byte) string {
	var b strings.Builder
	b.WriteString(`<dss2:VerifyRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="trust-1">`)
	b.WriteString(`<dss2:InputDocuments>` + docElem("doc-1", "", doc) + `</dss2:InputDocuments><dss2:OptionalInputs>`)
	if !useTime.IsZero() {
		b.WriteString(`<dss2:UseVerificationTime><dss2:SpecificTime>` + useTime.UTC().Format(time.RFC3339) + `</dss2:SpecificTime></dss2:UseVerificationTime>`)
	}
	b.WriteString(`<dss2:ReturnVerificationTimeInfo>true</dss2:ReturnVerificationTimeInfo>`)
	for _, o := range ocsps {
		b.WriteString(`<dss2:AdditionalKeyInfo><dss2:OCSPResponse><dsb:Value>` + b64(o) + `</dsb:Value></dss2:OCSPResponse></dss2:AdditionalKeyInfo>`)
	}
	for _, c := range crls {
		b.WriteString(`<dss2:AdditionalKeyInfo><dss2:X509CRL><dsb:Value>` + b64(c) + `</dsb:Value></dss2:X509CRL></dss2:AdditionalKeyInfo>`)
	}
	b.WriteString(`<dss2:ReturnProcessingDetails>true</dss2:ReturnProcessingDetails><dss2:ReturnSignerIdentity>true</dss2:ReturnSignerIdentity>`)
	b.WriteString(`</dss2:OptionalInputs></dss2:VerifyRequest>`)
	return b.String()
}

// signWithKey signs doc (enveloped XAdES B-B) in Go with any key and chain, as an attacker
// holding that key would.
func signWithKey(t *testing.T, key crypto.Signer, chain []*x509.Certificate, doc []byte) *xades.Signed {
	t.Helper()
	alg := xades.ECDSASHA256
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		alg = xades.RSASHA256
	}
	s, err := xades.Sign(xades.Object{ID: "doc-1", Data: doc, XML: true}, xades.Params{Type: xades.TypeXAdES, Packaging: xades.Enveloped,
		SignatureMethod: alg, Signer: key, Chain: chain, SigningTime: time.Now().Add(-time.Minute), SignatureID: "sig-attack"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func devEnv(t *testing.T, s *server) *devenv.Env {
	t.Helper()
	env, err := devenv.Load(s.devDir)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// mustNotPass fails unless the verdict is InsufficientInformation with want in the response.
func mustNotPass(t *testing.T, raw []byte, r result, want string) {
	t.Helper()
	if r.minor == minorValidAll || r.major != majorInsuffURI || !strings.Contains(string(raw), want) {
		t.Fatalf("got %s / %s (%s), want InsufficientInformation with %s\n%s", r.major, r.minor, r.message, want, raw)
	}
}

// TestVerifyRevokedSignerE2E: a signer certificate of the development CA signs, the client
// keeps the "good" OCSP answer and the CRL of that moment, the certificate is revoked
// (revoked.txt), and no VerifyRequest gets TOTAL-PASSED: not with the old answer in
// AdditionalKeyInfo, nor in the unsigned RevocationValues, nor with the old CRL, nor with a
// verification time before the revocation.
func TestVerifyRevokedSignerE2E(t *testing.T) {
	s := start(t)
	tok := s.token("alice")
	env := devEnv(t, s)
	ca, err := env.IssuingCA()
	if err != nil {
		t.Fatal(err)
	}
	alice, err := devenv.ReadCertificates(s.certFile(t, "alice-rsa"))
	if err != nil {
		t.Fatal(err)
	}
	// The victim and its twin: document-signing certificates of the dev CA, with the dev OCSP
	// responder and CRL.
	mkSigner := func(cn string) (*ecdsa.PrivateKey, *x509.Certificate) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		tmpl := &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, BasicConstraintsValid: true,
			OCSPServer: alice[0].OCSPServer, CRLDistributionPoints: alice[0].CRLDistributionPoints}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Signer)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return key, cert
	}
	key, cert := mkSigner("e2e revoked signer")
	serial := cert.SerialNumber
	twinKey, twin := mkSigner("e2e twin signer")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	signed := signWithKey(t, key, []*x509.Certificate{cert, ca.Cert}, invoice)

	// What the client keeps from before the revocation.
	oldGood := ocspAsk(t, s, ca.Cert, serial).Raw
	caGood := devStatus(t, s, "alice-rsa")[1]
	hr, err := s.client.Get(s.dev.URL + "/dev/crl")
	if err != nil {
		t.Fatal(err)
	}
	oldCRL, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	withValues, err := xades.AddValidationData(signed, nil, [][]byte{oldGood, caGood}, [][]byte{oldCRL})
	if err != nil {
		t.Fatal(err)
	}

	var files []string
	dir := t.TempDir()
	// The twin, never revoked, is valid (the test can fail). The victim is not verified
	// before its revocation: the server's revocation cache (revocation.max_age, 1m in
	// development) would keep its "good" answer for that long, by design.
	raw, r := verifyVia(t, s, viaPOST, tok, trustReq(signWithKey(t, twinKey, []*x509.Certificate{twin, ca.Cert}, invoice).Document, time.Time{}, nil, nil), dir, &files)
	if r.minor != minorValidAll {
		t.Fatalf("the twin: %s / %s (%s)\n%s", r.major, r.minor, r.message, raw)
	}
	revokedAt := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	revFile := filepath.Join(s.devDir, "revoked.txt")
	line := fmt.Sprintf("%x %s # e2e revoked signer\n", serial, revokedAt.Format(time.RFC3339))
	if err := os.WriteFile(revFile, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(revFile) })
	time.Sleep(1100 * time.Millisecond) // the kept answers are now older than the server's clock

	for _, tt := range []struct {
		name    string
		via     binding
		req     string
		comment string
	}{
		{"old good OCSP in AdditionalKeyInfo", viaSOAP12, trustReq(signed.Document, time.Time{}, [][]byte{oldGood, caGood}, nil), ""},
		{"old good OCSP and CRL in unsigned RevocationValues", viaPOST, trustReq(withValues.Document, time.Time{}, nil, nil), ""},
		{"CRL fetched before the revocation", viaSOAP11, trustReq(signed.Document, time.Time{}, nil, [][]byte{oldCRL}), ""},
		{"verification time before the revocation", viaPOST, trustReq(withValues.Document, revokedAt.Add(-time.Minute), [][]byte{oldGood, caGood}, [][]byte{oldCRL}), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, r := verifyVia(t, s, tt.via, tok, tt.req, dir, &files)
			mustNotPass(t, raw, r, "REVOKED_NO_POE")
			if bytes.Contains(raw, []byte("SignerIdentity")) {
				t.Errorf("a SignerIdentity for a revoked signer:\n%s", raw)
			}
		})
	}
	validateResponses(t, t.TempDir(), files)
}

// TestVerifyWrongPurposeE2E: documents signed with the development TLS server key and with
// the timestamp authority's key (both certified by the trusted dev CA) are not valid
// signatures: their certificates are not for signing documents.
func TestVerifyWrongPurposeE2E(t *testing.T) {
	s := start(t)
	tok := s.token("alice")
	env := devEnv(t, s)
	tls, err := devenv.LoadKeyPair(env.TLSCert, env.TLSKey)
	if err != nil {
		t.Fatal(err)
	}
	tsa, err := env.TSA()
	if err != nil {
		t.Fatal(err)
	}
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	var files []string
	dir := t.TempDir()
	for _, kp := range []struct {
		name string
		kp   *devenv.KeyPair
	}{{"TLS server key", tls}, {"TSA key", tsa}} {
		t.Run(kp.name, func(t *testing.T) {
			signed := signWithKey(t, kp.kp.Signer, append([]*x509.Certificate{kp.kp.Cert}, kp.kp.Chain...), invoice)
			raw, r := verifyVia(t, s, viaSOAP12, tok, trustReq(signed.Document, time.Time{}, nil, nil), dir, &files)
			mustNotPass(t, raw, r, "CHAIN_CONSTRAINTS_FAILURE")
			if !strings.Contains(r.message, "not for document signing") {
				t.Errorf("message %q does not say why", r.message)
			}
		})
	}
	validateResponses(t, t.TempDir(), files)
}

// TestVerifyBorrowedArchiveTimestampE2E: the archive timestamp of a B-LTA signature made by
// the server, copied into another B-B signature, does not make it B-LTA.
func TestVerifyBorrowedArchiveTimestampE2E(t *testing.T) {
	s := start(t)
	tok := s.token("alice")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	c := signCase{sigType: xadesURI, placement: "enveloped", alg: ecdsaSHA256, cred: "alice-ec", via: viaPOST}
	req := strings.Replace(signRequestXML("lta-a", c, invoice), "<dss2:InputDocuments>", "<dsb:Profile>urn:dssd:level:B-LTA</dsb:Profile><dss2:InputDocuments>", 1)
	status, raw := s.send(t, viaPOST, tok, req)
	root, r := parseResponse(t, raw)
	if status != 200 || !r.ok() {
		t.Fatalf("B-LTA sign: %d %+v", status, r)
	}
	lta := decodeValue(t, find(root, nsDSS2, "DocumentWithSignature"))
	other := signOnServer(t, s, "alice-ec", "enveloped", bytes.Replace(invoice, []byte("1210.00"), []byte("12.10"), 1), "")

	// A's archive timestamp token, appended to B as dss/xades would.
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(lta); err != nil {
		t.Fatal(err)
	}
	ets := doc.FindElement("//ArchiveTimeStamp/EncapsulatedTimeStamp")
	if ets == nil {
		t.Fatalf("no archive timestamp in the B-LTA signature")
	}
	token, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(ets.Text()), ""))
	if err != nil {
		t.Fatal(err)
	}
	otherDoc := etree.NewDocument()
	if err := otherDoc.ReadFromBytes(other); err != nil {
		t.Fatal(err)
	}
	borrowed, err := xades.AddArchiveTimestamp(&xades.Signed{Document: other, SignatureID: otherDoc.FindElement("//Signature").SelectAttrValue("Id", "")}, token)
	if err != nil {
		t.Fatal(err)
	}

	var files []string
	dir := t.TempDir()
	raw, r = verifyVia(t, s, viaPOST, tok, trustReq(lta, time.Time{}, nil, nil), dir, &files)
	if r.minor != minorValidAll || !strings.Contains(r.message, "B-LTA") {
		t.Fatalf("the genuine B-LTA signature: %s / %s (%s)\n%s", r.major, r.minor, r.message, raw)
	}
	raw, r = verifyVia(t, s, viaSOAP12, tok, trustReq(borrowed.Document, time.Time{}, nil, nil), dir, &files)
	if r.minor != minorBadArchiveTS || strings.Contains(r.message, "B-LTA") {
		t.Fatalf("borrowed archive timestamp: %s / %s (%s)\n%s", r.major, r.minor, r.message, raw)
	}
	validateResponses(t, t.TempDir(), files)
}
