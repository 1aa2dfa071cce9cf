package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seeds in testdata/verify")

// seedFiles are the verifier's seeds: signed documents (valid and hostile) from
// testdata/verify and the dss/xades golden signatures.
func seedFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{
		filepath.Join("..", "..", "testdata", "verify", "*.xml"),
		filepath.Join("..", "xades", "testdata", "golden", "*.xml"),
	} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 10 {
		t.Fatalf("only %d fuzz seeds found", len(out))
	}
	return out
}

// FuzzVerify feeds arbitrary bytes to the verifier. Oracle: no panic (also none recovered
// inside), no hang; either one of the documented errors or a report whose verdicts are
// complete, and TOTAL-PASSED only with a signer, a path and a scope.
func FuzzVerify(f *testing.F) {
	for _, p := range seedFiles(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p := newPKI(f)
	v, err := New(Config{Anchors: []*x509.Certificate{p.root.cert}, Clock: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	detached := []Document{{ID: "doc-1", URI: "report.pdf", HasURI: true, Data: []byte("%PDF-1.7 binary")}, {ID: "no-uri", Data: []byte("data")}}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := v.Verify(context.Background(), Input{Signature: b, Detached: detached})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) && !errors.Is(err, ErrNoSignature) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if len(rep.Signatures) == 0 {
			t.Fatal("a report without signatures")
		}
		for _, r := range rep.Signatures {
			if r.Detail == panicDetail {
				t.Fatalf("validation panicked (recovered) on signature %s", r.Name())
			}
			switch r.Indication {
			case TotalPassed:
				if r.Signer == nil || len(r.Chain) == 0 || len(r.Scope) == 0 || r.SubIndication != "" {
					t.Fatalf("TOTAL-PASSED without signer, path or scope: %+v", r)
				}
			case TotalFailed, Indeterminate:
				if r.SubIndication == "" || r.Reason == "" || r.Detail == "" {
					t.Fatalf("incomplete verdict: %+v", r)
				}
			default:
				t.Fatalf("no indication: %+v", r)
			}
		}
	})
}

// TestWriteSeeds regenerates testdata/verify with -update-seeds: signatures of the test PKI
// (valid ones, B-T, and hostile shapes). The test PKI is random, so these are structure
// seeds: the fuzz target's verifier does not trust them.
func TestWriteSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/verify")
	}
	p := newPKI(t)
	doc := []byte(smallDoc)
	dir := filepath.Join("..", "..", "testdata", "verify")
	env := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: doc, XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	bt := p.addTimestamp(t, sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: doc, XML: true}, xades.TypeXAdES, xades.Enveloped, ""), testNow, false)
	blt, err := xades.AddValidationData(bt, [][]byte{p.ca.cert.Raw}, [][]byte{p.ocspFor(t, p.ec, false)}, [][]byte{p.crl(t)})
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{
		"xades-enveloped-rsa.xml":     env,
		"xades-bt-ec.xml":             bytesOf(bt),
		"xades-blt-ec.xml":            bytesOf(blt),
		"xades-enveloping-binary.xml": bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "doc-1", Data: []byte("%PDF-1.7 binary")}, xades.TypeXAdES, xades.Enveloping, "")),
		"xades-detached.xml":          bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "doc-1", Data: []byte("%PDF-1.7 binary"), URI: "report.pdf"}, xades.TypeXAdES, xades.Detached, "")),
		"xmldsig-detached-no-uri.xml": bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: []byte("data")}, xades.TypeXMLDSig, xades.Detached, "")),
		"hostile-two-signedinfo.xml": edit(t, env, func(d *etree.Document, sig *etree.Element) {
			sig.InsertChildAt(1, sig.SelectElement("SignedInfo").Copy())
		}),
		"hostile-xpath-transform.xml":    replaceOnce(t, env, xades.TransformEnveloped, TransformXPath),
		"hostile-sha1.xml":               refDigests(t, env, DigestSHA1),
		"hostile-external-uri.xml":       signDetachedURI(t, p, "http://attacker.example/x"),
		"hostile-duplicate-id.xml":       replaceOnce(t, env, `<data Id="d1">`, `<data Id="sig-1-signedprops">`),
		"hostile-changed-signed-doc.xml": replaceOnce(t, env, "signed content", "signed c0ntent"),
	}
	for name, b := range seeds {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
