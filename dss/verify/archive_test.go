package verify

import (
	"crypto/sha256"
	"runtime"
	"strings"
	"testing"
	"time"

	"dssd/dss/xades"
	"dssd/dss/xmldsig"

	"github.com/beevik/etree"
)

// toBLTA raises s (B-B) to B-LTA the way dss does: signature timestamp, validation data, an
// archive timestamp over dss/xades's archive input, the archive TSA's validation data.
func (p *testPKI) toBLTA(t testing.TB, signer party, s *xades.Signed, detached map[string][]byte) (*xades.Signed, []byte) {
	t.Helper()
	s = p.addTimestamp(t, s, testNow.Add(-30*time.Minute), false)
	after := testNow.Add(-20 * time.Minute)
	var err error
	s, err = xades.AddValidationData(s, [][]byte{p.ca.cert.Raw, p.root.cert.Raw}, [][]byte{p.ocspAt(t, signer, false, after),
		p.ocspAt(t, party{cert: p.ca.cert}, false, after), p.ocspAt(t, p.tsa, false, after)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := xades.ArchiveTimestampInput(s, detached)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(in)
	tok := p.token(t, d[:], testNow.Add(-10*time.Minute))
	if s, err = xades.AddArchiveTimestamp(s, tok); err != nil {
		t.Fatal(err)
	}
	if s, err = xades.AddTimestampValidationData(s, nil, [][]byte{p.ocspAt(t, p.tsa, false, testNow.Add(-5*time.Minute)),
		p.ocspAt(t, party{cert: p.ca.cert}, false, testNow.Add(-5*time.Minute))}, nil); err != nil {
		t.Fatal(err)
	}
	return s, tok
}

// TestArchiveTimestamp: B-LTA is reported only when the archive timestamp's imprint is the
// recomputed EN 319 132-1 §5.5.2 input; a token borrowed from another document is
// INDETERMINATE with its own reason.
func TestArchiveTimestamp(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, func(c *Config) { c.Revocation = nil })
	mismatch := want{Indeterminate, SigConstraintsFailure, ReasonArchiveTimestamp}
	for name, pkg := range map[string]xades.Packaging{"enveloped": xades.Enveloped, "enveloping": xades.Enveloping} {
		t.Run(name, func(t *testing.T) {
			a := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, pkg, "")
			lta, tok := p.toBLTA(t, p.ec, a, nil)
			rep := check(t, v, Input{Signature: bytesOf(lta)}, passed)
			if rep.Signatures[0].Level != "B-LTA" {
				t.Errorf("level %s, want B-LTA", rep.Signatures[0].Level)
			}
			// Another document signed by the same signer, B-B, with A's archive token.
			b := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(strings.Replace(smallDoc, "signed content", "other content", 1)), XML: true},
				xades.TypeXAdES, pkg, "")
			borrowed, err := xades.AddArchiveTimestamp(b, tok)
			if err != nil {
				t.Fatal(err)
			}
			rep = check(t, v, Input{Signature: bytesOf(borrowed), OCSP: [][]byte{p.ocspAt(t, p.tsa, false, testNow), p.ocspAt(t, party{cert: p.ca.cert}, false, testNow)}}, mismatch)
			if rep.Signatures[0].Level == "B-LTA" {
				t.Error("a borrowed archive timestamp reported B-LTA")
			}
			// The same signature, its validation data changed after the archive timestamp
			// was made: the imprint no longer matches.
			changed := []byte(strings.Replace(string(bytesOf(lta)), "<xades:EncapsulatedX509Certificate>", "<xades:EncapsulatedX509Certificate>\n", 1))
			check(t, v, Input{Signature: changed}, mismatch)
		})
	}
}

// TestArchiveInputChargedAsWritten: the parts of an archive timestamp's input are charged to
// Limits.MaxC14NBytes as they are written, so that the input stops at the bound. A namespace
// declaration of 2 MB on ds:Signature, which an inclusive canonicalization renders on each of
// the six elements of the input, cost 12 MB of canonical bytes (and a buffer grown to hold
// them) under a bound of 5 MB when the input was charged once, at its end.
func TestArchiveInputChargedAsWritten(t *testing.T) {
	p := newPKI(t)
	const bound = 5 << 20
	v := newVerifier(t, p, func(c *Config) { c.Revocation = nil; c.Limits.MaxC14NBytes = bound })
	a := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloping, "")
	lta, _ := p.toBLTA(t, p.ec, a, nil)
	doc := string(bytesOf(lta))
	big := ` xmlns:big="urn:` + strings.Repeat("x", 2<<20) + `"`
	doc = strings.Replace(doc, `Id="sig-1">`, `Id="sig-1"`+big+`>`, 1)
	at := strings.Index(doc, "ArchiveTimeStamp ")
	if at < 0 || !strings.Contains(doc[at:], xades.ExcC14N) {
		t.Fatal("no archive timestamp with exclusive c14n")
	}
	doc = doc[:at] + strings.Replace(doc[at:], xades.ExcC14N, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// The walk of the second element stops at what the first one left.
	rep := check(t, v, Input{Signature: []byte(doc)}, want{Indeterminate, SigConstraintsFailure, ReasonFormat})
	runtime.ReadMemStats(&after)
	mb := (after.TotalAlloc - before.TotalAlloc) >> 20
	t.Logf("%s; %d MB allocated", rep.Signatures[0].Detail, mb)
	if !strings.Contains(rep.Signatures[0].Detail, "canonical forms of more than") || mb > 24 {
		t.Errorf("%q after %d MB allocated, want the canonical-form bound within 24 MB", rep.Signatures[0].Detail, mb)
	}
}

// TestSignatureTimestampsCharged: the canonical forms of SignedInfo and of every signature
// timestamp's input are charged to Limits.MaxC14NBytes, so that the next walk is bounded by
// what they left. Two signature timestamps over a SignatureValue whose inclusive canonical
// form renders a 2 MB namespace declaration of ds:Signature went beyond a bound of 3 MB
// without a word when only the references and the archive input were charged.
func TestSignatureTimestampsCharged(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, func(c *Config) { c.Limits.MaxC14NBytes = 3 << 20 })
	a := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloping, "")
	big := ` xmlns:big="urn:` + strings.Repeat("x", 2<<20) + `"`
	withBig := func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `Id="sig-1">`, `Id="sig-1"`+big+`>`, 1))
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(withBig(bytesOf(a))); err != nil {
		t.Fatal(err)
	}
	const c14n10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	in, err := xmldsig.Canonicalize(doc.Root().SelectElement("ds:SignatureValue"), c14n10, xmldsig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(in)
	s := a
	for range 2 {
		if s, err = xades.AddSignatureTimestamp(s, p.token(t, d[:], testNow.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	out := string(withBig(bytesOf(s)))
	at := strings.Index(out, "SignatureTimeStamp")
	if at < 0 || strings.Count(out[at:], xades.ExcC14N) < 2 {
		t.Fatal("no two signature timestamps with exclusive c14n")
	}
	out = out[:at] + strings.Replace(out[at:], xades.ExcC14N, c14n10, 2)
	rep := check(t, v, Input{Signature: []byte(out)}, want{Indeterminate, SigConstraintsFailure, ReasonFormat})
	if !strings.Contains(rep.Signatures[0].Detail, "canonical forms of more than") {
		t.Errorf("%q, want the canonical-form bound", rep.Signatures[0].Detail)
	}
}
