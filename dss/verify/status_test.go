package verify

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/dss/xades"
)

// ocspBy returns an OCSP response about subject (serial), whose CertID names certIssuer,
// signed by the responder's key (embedding the responder certificate unless it is the CA).
func ocspBy(t testing.TB, certIssuer *x509.Certificate, responder party, serial *big.Int, status int, thisUpdate time.Time, revokedAt time.Time) []byte {
	t.Helper()
	tmpl := ocsp.Response{Status: status, SerialNumber: serial, ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(24 * time.Hour),
		RevokedAt: revokedAt}
	if !sameCert(responder.cert, certIssuer) {
		tmpl.Certificate = responder.cert
	}
	der, err := ocsp.CreateResponse(certIssuer, responder.cert, tmpl, responder.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// crlWith returns a CRL of the issuing CA at thisUpdate, listing entries, with extra
// extensions.
func (p *testPKI) crlWith(t testing.TB, thisUpdate time.Time, entries []x509.RevocationListEntry, ext ...pkix.Extension) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(7), ThisUpdate: thisUpdate,
		NextUpdate: thisUpdate.Add(24 * time.Hour), RevokedCertificateEntries: entries, ExtraExtensions: ext}, p.ca.cert, p.ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestRevokedSignerNeverPassed reproduces the attack of issue 10: the revoked signer's old
// "good" answers, wherever the request puts them, and any verification time, never make the
// signature TOTAL-PASSED.
func TestRevokedSignerNeverPassed(t *testing.T) {
	p := newPKI(t)
	obj := xades.Object{Data: []byte(smallDoc), XML: true}
	base := sign(t, p.revoked, p.chainOf(p.revoked), obj, xades.TypeXAdES, xades.Enveloped, "")
	before := p.revokedAt.Add(-2 * time.Hour)
	oldGood := p.ocspAt(t, p.revoked, false, before)
	caGood := p.ocspAt(t, party{cert: p.ca.cert}, false, before)
	oldCRL := p.crlWith(t, before, nil)
	withValues, err := xades.AddValidationData(base, nil, [][]byte{oldGood, caGood}, [][]byte{oldCRL})
	if err != nil {
		t.Fatal(err)
	}
	noPOE := want{Indeterminate, RevokedNoPOE, ReasonRevocation}
	for _, tt := range []struct {
		name string
		sig  []byte
		in   Input
	}{
		{"old good OCSP in AdditionalKeyInfo", bytesOf(base), Input{OCSP: [][]byte{oldGood, caGood}}},
		{"old good OCSP and CRL in RevocationValues", bytesOf(withValues), Input{}},
		{"CRL fetched before the revocation", bytesOf(base), Input{CRLs: [][]byte{oldCRL}}},
		{"verification time before the revocation", bytesOf(base), Input{OCSP: [][]byte{oldGood, caGood}, Time: p.revokedAt.Add(-time.Hour)}},
		{"verification time months later", bytesOf(withValues), Input{Time: testNow.Add(90 * 24 * time.Hour)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Signature = tt.sig
			if tt.name == "verification time months later" {
				// Past the signer's validity: the path fails first, and still never PASSED.
				rep, err := newVerifier(t, p, nil).Verify(context.Background(), in)
				if err != nil || rep.Signatures[0].Indication == TotalPassed {
					t.Fatalf("%v %+v", err, rep)
				}
				return
			}
			check(t, newVerifier(t, p, nil), in, noPOE)
			// Without an online source the stale "good" is no status at all.
			check(t, newVerifier(t, p, func(c *Config) { c.Revocation = nil }), in, want{Indeterminate, TryLater, ReasonRevocation})
		})
	}
	t.Run("revoked wins over a fresh good", func(t *testing.T) {
		fresh := p.ocspAt(t, p.revoked, false, testNow.Add(-time.Minute))
		in := Input{Signature: bytesOf(base), OCSP: [][]byte{fresh, p.ocspAt(t, party{cert: p.ca.cert}, false, testNow)},
			CRLs: [][]byte{p.crl(t)}}
		check(t, newVerifier(t, p, func(c *Config) { c.Revocation = nil; c.RevocationFreshness = time.Hour }), in, noPOE)
	})
	t.Run("online revocation with its time, timestamp before it", func(t *testing.T) {
		s := p.addTimestamp(t, base, p.revokedAt.Add(-time.Hour), false)
		on := &timedRevocation{at: p.revokedAt}
		check(t, newVerifier(t, p, func(c *Config) { c.Revocation = on }), Input{Signature: bytesOf(s)}, passed)
		check(t, newVerifier(t, p, func(c *Config) { c.Revocation = on }), Input{Signature: bytesOf(base)}, noPOE)
	})
}

// timedRevocation says every chain is revoked at a time, the way dss/revocation's
// RevokedError does.
type timedRevocation struct{ at time.Time }

type timedErr struct{ at time.Time }

func (e timedErr) Error() string             { return "revoked" }
func (e timedErr) Unwrap() error             { return ErrRevoked }
func (e timedErr) RevocationTime() time.Time { return e.at }
func (r *timedRevocation) Validation(context.Context, []*x509.Certificate) ([][]byte, [][]byte, error) {
	return nil, nil, fmt.Errorf("source: %w", timedErr{r.at})
}

// TestRevocationFreshness: a "good" given with the request counts within the freshness
// window and before its nextUpdate, or when issued after a signature timestamp.
func TestRevocationFreshness(t *testing.T) {
	p := newPKI(t)
	base := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, "")
	caNow := p.ocspAt(t, party{cert: p.ca.cert}, false, testNow)
	offline := func(window time.Duration) *Verifier {
		return newVerifier(t, p, func(c *Config) { c.Revocation = nil; c.RevocationFreshness = window })
	}
	tryLater := want{Indeterminate, TryLater, ReasonRevocation}
	hourOld := p.ocspAt(t, p.ec, false, testNow.Add(-time.Hour))
	in := Input{Signature: bytesOf(base), OCSP: [][]byte{hourOld, caNow}}
	check(t, offline(0), in, tryLater)
	check(t, offline(2*time.Hour), in, passed)
	check(t, offline(30*time.Minute), in, tryLater)
	// Past its nextUpdate: never fresh, whatever the window.
	check(t, offline(100*24*time.Hour), Input{Signature: bytesOf(base), OCSP: [][]byte{p.ocspAt(t, p.ec, false, testNow.Add(-30*time.Hour)), caNow}}, tryLater)
	// Issued in the future.
	check(t, offline(time.Hour), Input{Signature: bytesOf(base), OCSP: [][]byte{p.ocspAt(t, p.ec, false, testNow.Add(time.Hour)), caNow}}, tryLater)
	// The online source is asked when the given data is stale.
	on := &fakeRevocation{p: p, t: t}
	check(t, newVerifier(t, p, func(c *Config) { c.Revocation = on }), in, passed)
	if on.calls != 1 {
		t.Errorf("online source asked %d times, want 1", on.calls)
	}
	on.calls = 0
	check(t, newVerifier(t, p, func(c *Config) { c.Revocation = on; c.RevocationFreshness = 2 * time.Hour }), in, passed)
	if on.calls != 0 {
		t.Errorf("online source asked %d times with fresh data, want 0", on.calls)
	}
	// With a signature timestamp, data issued after it is fresh however old (B-LT).
	ts := p.addTimestamp(t, base, testNow.Add(-50*24*time.Hour), false)
	after := testNow.Add(-49 * 24 * time.Hour)
	in = Input{Signature: bytesOf(ts), OCSP: [][]byte{p.ocspAt(t, p.ec, false, after), p.ocspAt(t, party{cert: p.ca.cert}, false, after),
		p.ocspAt(t, p.tsa, false, after)}}
	check(t, offline(0), in, passed)
	in.OCSP[0] = p.ocspAt(t, p.ec, false, testNow.Add(-51*24*time.Hour)) // before the timestamp
	check(t, offline(0), in, tryLater)
}

// TestRevocationAuthority: OCSP answers and CRLs count only from the certificate's issuer or
// its delegated OCSP responder, about that certificate, within the CRL's scope.
func TestRevocationAuthority(t *testing.T) {
	p := newPKI(t)
	base := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, "")
	caNow := p.ocspAt(t, party{cert: p.ca.cert}, false, testNow)
	v := newVerifier(t, p, func(c *Config) { c.Revocation = nil })
	tryLater := want{Indeterminate, TryLater, ReasonRevocation}
	serial := p.ec.cert.SerialNumber
	mkResponder := func(ekus []x509.ExtKeyUsage, parent *party) party {
		k := ecKeyP256(t)
		return signerCert(t, "OCSP responder", k, parent, func(c *x509.Certificate) { c.ExtKeyUsage = ekus })
	}
	delegated := mkResponder([]x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, &p.ca)
	noEKU := mkResponder(nil, &p.ca)
	foreign := mkResponder([]x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, &p.otherRoot)

	for _, tt := range []struct {
		name string
		in   Input
		w    want
	}{
		{"issuer's own answer", Input{OCSP: [][]byte{ocspBy(t, p.ca.cert, p.ca, serial, ocsp.Good, testNow, time.Time{}), caNow}}, passed},
		{"delegated responder", Input{OCSP: [][]byte{ocspBy(t, p.ca.cert, delegated, serial, ocsp.Good, testNow, time.Time{}), caNow}}, passed},
		{"responder without OCSPSigning", Input{OCSP: [][]byte{ocspBy(t, p.ca.cert, noEKU, serial, ocsp.Good, testNow, time.Time{}), caNow}}, tryLater},
		{"responder of another CA", Input{OCSP: [][]byte{ocspBy(t, p.ca.cert, foreign, serial, ocsp.Good, testNow, time.Time{}), caNow}}, tryLater},
		// Signed by the CA but about the same serial under another issuer (CertID hashes).
		{"issuer hashes of another CA", Input{OCSP: [][]byte{ocspBy(t, p.root.cert, p.ca, serial, ocsp.Good, testNow, time.Time{}), caNow}}, tryLater},
		{"complete CRL", Input{CRLs: [][]byte{p.crlWith(t, testNow, nil)}, OCSP: [][]byte{caNow}}, passed},
		{"delta CRL", Input{CRLs: [][]byte{p.crlWith(t, testNow, nil, pkix.Extension{Id: oidDeltaCRLIndicator, Critical: true, Value: mustASN1(t, 3)})}, OCSP: [][]byte{caNow}}, tryLater},
		{"CRL partitioned by reason", Input{CRLs: [][]byte{p.crlWith(t, testNow, nil, idpExt(t, "", false, true))}, OCSP: [][]byte{caNow}}, tryLater},
		{"CRL of another distribution point", Input{CRLs: [][]byte{p.crlWith(t, testNow, nil, idpExt(t, "http://crl.example/part7.crl", false, false))}, OCSP: [][]byte{caNow}}, tryLater},
		{"CRL of CA certificates only", Input{CRLs: [][]byte{p.crlWith(t, testNow, nil, idpExt(t, "", true, false))}, OCSP: [][]byte{caNow}}, tryLater},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Signature = bytesOf(base)
			check(t, v, in, tt.w)
		})
	}
}

func ecKeyP256(t testing.TB) crypto.Signer { return ecKey(t, elliptic.P256()) }

func mustASN1(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idpExt is an IssuingDistributionPoint: a distribution point URI (optional), onlyContainsCACerts,
// onlySomeReasons (keyCompromise).
func idpExt(t testing.TB, uri string, onlyCA, someReasons bool) pkix.Extension {
	t.Helper()
	var body []byte
	if uri != "" {
		gn := mustASN1(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)})
		full := mustASN1(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: gn})
		body = append(body, mustASN1(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: full})...)
	}
	if onlyCA {
		body = append(body, mustASN1(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte{0xff}})...)
	}
	if someReasons {
		body = append(body, mustASN1(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 3, Bytes: []byte{0x06, 0x40}})...)
	}
	return pkix.Extension{Id: oidIssuingDistributionPoint, Critical: true, Value: mustASN1(t, asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: body})}
}

// TestTSARevocation: the timestamp authority's certificate needs a status too; revoked
// before its token's time, the timestamp proves nothing.
func TestTSARevocation(t *testing.T) {
	p := newPKI(t)
	base := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, "")
	s := p.addTimestamp(t, base, testNow.Add(-30*time.Minute), false)
	after := testNow.Add(-10 * time.Minute)
	good := [][]byte{p.ocspAt(t, p.ec, false, after), p.ocspAt(t, party{cert: p.ca.cert}, false, after)}
	v := newVerifier(t, p, func(c *Config) { c.Revocation = nil })
	check(t, v, Input{Signature: bytesOf(s), OCSP: good}, want{Indeterminate, TryLater, ReasonTimestamp})
	tsaRevokedBefore := ocspBy(t, p.ca.cert, p.ca, p.tsa.cert.SerialNumber, ocsp.Revoked, after, testNow.Add(-time.Hour))
	check(t, v, Input{Signature: bytesOf(s), OCSP: append(good, tsaRevokedBefore)}, want{Indeterminate, RevokedNoPOE, ReasonTimestamp})
	tsaRevokedAfter := ocspBy(t, p.ca.cert, p.ca, p.tsa.cert.SerialNumber, ocsp.Revoked, after, testNow.Add(-20*time.Minute))
	check(t, v, Input{Signature: bytesOf(s), OCSP: append(good, tsaRevokedAfter)}, passed)
}

// TestRevocationLimits: the request's revocation data is capped in count and size.
func TestRevocationLimits(t *testing.T) {
	p := newPKI(t)
	base := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, "")
	v := newVerifier(t, p, func(c *Config) { c.Limits.MaxRevocationValues = 3; c.Limits.MaxRevocationBytes = 1 << 20 })
	many := [][]byte{{0x30, 1, 1}, {0x30, 1, 2}, {0x30, 1, 3}, {0x30, 1, 4}}
	if _, err := v.Verify(context.Background(), Input{Signature: bytesOf(base), CRLs: many}); !errors.Is(err, ErrLimit) {
		t.Errorf("4 CRLs: %v", err)
	}
	// The same bytes twice count once.
	if _, err := v.Verify(context.Background(), Input{Signature: bytesOf(base), CRLs: [][]byte{many[0], many[0], many[0], many[0]}}); err != nil {
		t.Errorf("one CRL four times: %v", err)
	}
	if _, err := v.Verify(context.Background(), Input{Signature: bytesOf(base), CRLs: [][]byte{make([]byte, 1<<20+1)}}); !errors.Is(err, ErrLimit) {
		t.Errorf("1 MiB + 1: %v", err)
	}
}

// manySignatures returns a document with n enveloping XAdES signatures by the EC signer.
func manySignatures(t testing.TB, p *testPKI, n int) []byte {
	t.Helper()
	one := bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "o", Data: []byte("data"), MimeType: "text/plain"}, xades.TypeXAdES, xades.Enveloping, ""))
	one = []byte(strings.TrimPrefix(string(one), `<?xml version="1.0" encoding="UTF-8"?>`))
	var sb strings.Builder
	sb.WriteString(`<signatures xmlns="urn:example:container">`)
	for i := range n {
		s := strings.ReplaceAll(string(one), `"sig-1`, fmt.Sprintf(`"s%d-sig-1`, i))
		s = strings.ReplaceAll(s, `"#sig-1`, fmt.Sprintf(`"#s%d-sig-1`, i))
		s = strings.ReplaceAll(s, `Id="o"`, fmt.Sprintf(`Id="o%d"`, i))
		s = strings.ReplaceAll(s, `URI="#o"`, fmt.Sprintf(`URI="#o%d"`, i))
		sb.Write(resign(t, []byte(s), p.ec.key))
	}
	sb.WriteString(`</signatures>`)
	return []byte(sb.String())
}

// junkCRL is a 2 MB CRL of an unrelated CA (well-formed, so parsing it costs what a real
// one does): about 55 000 entries.
func junkCRL(t testing.TB, p *testPKI) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for i := range 55000 {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: new(big.Int).Lsh(big.NewInt(int64(i)+1), 100), RevocationTime: testNow.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: testNow.Add(-time.Hour),
		NextUpdate: testNow.Add(time.Hour), RevokedCertificateEntries: entries}, p.otherRoot.cert, p.otherRoot.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestManySignaturesOneCRL: 32 signatures and one 2 MB CRL of another CA; each CRL is parsed once per
// request. The time is logged (machines are noisy: not asserted).
func TestManySignaturesOneCRL(t *testing.T) {
	p := newPKI(t)
	doc := manySignatures(t, p, 32)
	v := newVerifier(t, p, nil)
	start := time.Now()
	rep, err := v.Verify(context.Background(), Input{Signature: doc, CRLs: [][]byte{junkCRL(t, p)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("32 signatures + 2 MB junk CRL: %v", time.Since(start))
	if len(rep.Signatures) != 32 {
		t.Fatalf("%d signatures", len(rep.Signatures))
	}
	for _, r := range rep.Signatures {
		if r.Indication != TotalPassed {
			t.Fatalf("%s: %s/%s %s", r.Name(), r.Indication, r.SubIndication, r.Detail)
		}
	}
}

// BenchmarkManySignaturesJunkCRL is the issue-10 cost attack: 32 signatures in one request
// and a 2 MB junk CRL.
func BenchmarkManySignaturesJunkCRL(b *testing.B) {
	p := newPKI(b)
	doc := manySignatures(b, p, 32)
	crl := junkCRL(b, p)
	v := newVerifier(b, p, nil)
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), Input{Signature: doc, CRLs: [][]byte{crl}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPathBudget: certificate paths are built at most Limits.MaxPathBuilds times per
// request; the same signer again costs nothing.
func TestPathBudget(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, func(c *Config) { c.Limits.MaxPathBuilds = 1 })
	rep, err := v.Verify(context.Background(), Input{Signature: manySignatures(t, p, 4)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Signatures {
		if r.Indication != TotalPassed {
			t.Fatalf("same signer: %s %s", r.Indication, r.Detail)
		}
	}
	a := bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "a", Data: []byte("first"), MimeType: "text/plain"}, xades.TypeXAdES, xades.Enveloping, ""))
	b := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{ID: "b", Data: []byte("second")}, xades.TypeXMLDSig, xades.Enveloping, ""))
	b = resign(t, []byte(strings.ReplaceAll(string(b), "sig-1", "sig-2")), p.rsa.key)
	doc := `<signatures xmlns="urn:example:container">` + strings.TrimPrefix(string(a), `<?xml version="1.0" encoding="UTF-8"?>`) +
		strings.TrimPrefix(string(b), `<?xml version="1.0" encoding="UTF-8"?>`) + `</signatures>`
	rep, err = v.Verify(context.Background(), Input{Signature: []byte(doc)})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Signatures[0]; r.Indication != TotalPassed {
		t.Fatalf("first signer: %s %s", r.Indication, r.Detail)
	}
	if r := rep.Signatures[1]; r.SubIndication != ChainConstraintsFailure || !strings.Contains(r.Detail, "limit of 1 per request") {
		t.Fatalf("second signer over the budget: %s/%s %s", r.Indication, r.SubIndication, r.Detail)
	}
}
