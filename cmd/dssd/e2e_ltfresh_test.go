//go:build e2e

package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/dss/verify"
)

var ocspValueRE = regexp.MustCompile(`<xades:EncapsulatedOCSPValue[^>]*>([^<]*)</xades:EncapsulatedOCSPValue>`)

// TestBLTRevocationFreshAfterTimestamp (issue 10, revocation freshness): the OCSP responses
// dssd embeds at B-LT are issued at or after the signature timestamp, also when the revocation
// cache holds answers from an earlier signing (here: a first B-LT signing a second earlier).
// dss/verify, with no online source, no freshness window and a clock three hours later (so
// that only the proof of existence can make the data fresh), gives the signature
// TOTAL-PASSED: the verifier's freshness rule holds for what the producer embedded.
func TestBLTRevocationFreshAfterTimestamp(t *testing.T) {
	s := start(t)
	token := s.token("alice")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	c := signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: "alice-rsa", via: viaPOST}
	sign := func(id string) []byte {
		t.Helper()
		req := withProfiles(signRequestXML(id, c, invoice), "urn:dssd:level:B-LT")
		status, raw := s.send(t, c.via, token, req)
		root, r := parseResponse(t, raw)
		if status != http.StatusOK || !r.ok() {
			t.Fatalf("%s: HTTP %d %s %s: %s", id, status, r.major, r.minor, r.message)
		}
		return decodeValue(t, find(root, nsDSS2, "Base64Signature"))
	}
	run := time.Now().UnixNano()
	start := time.Now()
	sign(fmt.Sprintf("ltfresh-warm-%d", run)) // fills the revocation cache
	warm := time.Since(start)
	time.Sleep(1100 * time.Millisecond) // the next timestamp is at least one second later
	start = time.Now()
	sig := sign(fmt.Sprintf("ltfresh-%d", run))
	t.Logf("B-LT signing: first %v, second %v (its revocation data fetched again after its timestamp)", warm, time.Since(start))

	var anchors []*x509.Certificate
	rest := readFile(t, s.dev.CA)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, cert)
	}
	later := time.Now().Add(3 * time.Hour)
	v, err := verify.New(verify.Config{Anchors: anchors, Clock: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(context.Background(), verify.Input{Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Signatures) != 1 {
		t.Fatalf("%d signatures", len(rep.Signatures))
	}
	res := rep.Signatures[0]
	if res.Indication != verify.TotalPassed || len(res.TimestampTimes) != 1 {
		t.Fatalf("B-LT signature verified three hours later without online revocation: %s %s %s: %s",
			res.Indication, res.SubIndication, res.Reason, res.Detail)
	}
	genTime := res.TimestampTimes[0]
	matches := ocspValueRE.FindAllSubmatch(sig, -1)
	if len(matches) == 0 {
		t.Fatal("no OCSP response embedded at B-LT")
	}
	for i, m := range matches {
		der, err := base64.StdEncoding.DecodeString(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		r, err := ocsp.ParseResponse(der, nil)
		if err != nil {
			t.Fatalf("embedded OCSP response %d: %v", i, err)
		}
		if r.ThisUpdate.Before(genTime.Truncate(time.Second)) {
			t.Errorf("embedded OCSP response %d issued %s, before the signature timestamp %s", i, r.ThisUpdate, genTime)
		}
	}
}
