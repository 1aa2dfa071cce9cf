package verify

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"

	"dssd/dss/xmldsig"
	"dssd/dss/xmlsafe"
)

// corpusFiles returns the XML files of docs/ and signed/ of the real-world corpus (corpusDir:
// the test is skipped with one line when it is absent).
func corpusFiles(t *testing.T) []string {
	t.Helper()
	dir := corpusDir(t)
	var files []string
	for _, sub := range []string{"docs", "signed"} {
		m, err := filepath.Glob(filepath.Join(dir, sub, "*.xml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no XML files in %s", dir)
	}
	return files
}

// TestCorpusCanonicalForms compares, on every element of every corpus document the ingress
// gate accepts (and on each whole document), the canonical forms of the signer's former
// engine — the direct writers xmldsig.ExclusiveC14N and xmldsig.InclusiveC14N that dss/xades called, kept
// verbatim — with those of the one entry point both packages now call (xmldsig.Canonicalize, in the
// signer's and in the verifier's mode, over CanonicalSubset, the verifier's former engine).
// Any difference would change a produced signature or a verification.
func TestCorpusCanonicalForms(t *testing.T) {
	files := corpusFiles(t)
	docs, elements := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := xmlsafe.Parse(b, xmlsafe.DocumentLimitsFor(int64(len(b))))
		if err != nil || doc.Root() == nil {
			continue // refused by the gate: never canonicalized by either package
		}
		docs++
		name := filepath.Base(f)
		var walk func(el *etree.Element)
		walk = func(el *etree.Element) {
			elements++
			compareEngines(t, name, el)
			for _, c := range el.ChildElements() {
				walk(c)
			}
		}
		walk(doc.Root())
		for _, alg := range []string{xmldsig.ExcC14N, xmldsig.C14N11} {
			signer, err := xmldsig.CanonicalizeDocument(doc, alg, xmldsig.Options{SignerXMLAttrs: true})
			verifier, verr := xmldsig.CanonicalizeDocument(doc, alg, xmldsig.Options{})
			if err != nil || verr != nil || !bytes.Equal(signer, verifier) {
				t.Errorf("%s document %s: signer and verifier modes differ (%v, %v)", name, alg, err, verr)
			}
		}
	}
	if docs < 50 || elements < 10000 {
		t.Fatalf("only %d documents, %d elements compared", docs, elements)
	}
	t.Logf("%d of %d files, %d elements compared", docs, len(files), elements)
}

func compareEngines(t *testing.T, name string, el *etree.Element) {
	t.Helper()
	old, err := xmldsig.ExclusiveC14N(el, nil, nil)
	if err != nil {
		t.Errorf("%s <%s>: the direct writer refuses: %v", name, el.FullTag(), err)
		return
	}
	for _, signer := range []bool{true, false} {
		got, err := xmldsig.Canonicalize(el, xmldsig.ExcC14N, xmldsig.Options{SignerXMLAttrs: signer})
		if err != nil || !bytes.Equal(got, old) {
			t.Errorf("%s <%s> exclusive (signer mode %v): %v\n got %.200s\nwant %.200s", name, el.FullTag(), signer, err, got, old)
		}
	}
	inh, err := xmldsig.InheritedXMLAttrs(el, false, true)
	if err != nil {
		if _, err := xmldsig.Canonicalize(el, xmldsig.C14N11, xmldsig.Options{SignerXMLAttrs: true}); err == nil {
			t.Errorf("%s <%s>: c14n 1.1 accepted below refused xml:* attributes", name, el.FullTag())
		}
		return
	}
	old, err = xmldsig.InclusiveC14N(el, nil, inh)
	if err != nil {
		t.Errorf("%s <%s>: the inclusive writer refuses: %v", name, el.FullTag(), err)
		return
	}
	got, err := xmldsig.Canonicalize(el, xmldsig.C14N11, xmldsig.Options{SignerXMLAttrs: true})
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("%s <%s> c14n 1.1: %v\n got %.200s\nwant %.200s", name, el.FullTag(), err, got, old)
	}
}
