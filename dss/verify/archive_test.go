package verify

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"dssd/dss/xades"
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
