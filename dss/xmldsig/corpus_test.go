package xmldsig

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"

	"dssd/dss/xmlsafe"
)

// corpusFiles returns the XML files of the real-world corpus (docs/ and signed/ of
// $DSSD_CORPUS, or ../shared/corpus beside the repository), or skips the test with one line
// when it is absent.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	dir := os.Getenv("DSSD_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "signed")); err != nil {
		t.Skipf("real-world corpus not found at %s (set DSSD_CORPUS); corpus test skipped", dir)
	}
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
// engine — the direct writers ExclusiveC14N and InclusiveC14N that dss/xades called, kept
// verbatim — with those of the one entry point both packages now call (Canonicalize, in the
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
		for _, alg := range []string{ExcC14N, C14N11} {
			signer, err := CanonicalizeDocument(doc, alg, Options{SignerXMLAttrs: true})
			verifier, verr := CanonicalizeDocument(doc, alg, Options{})
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
	old, err := ExclusiveC14N(el, nil, nil)
	if err != nil {
		t.Errorf("%s <%s>: the direct writer refuses: %v", name, el.FullTag(), err)
		return
	}
	for _, signer := range []bool{true, false} {
		got, err := Canonicalize(el, ExcC14N, Options{SignerXMLAttrs: signer})
		if err != nil || !bytes.Equal(got, old) {
			t.Errorf("%s <%s> exclusive (signer mode %v): %v\n got %.200s\nwant %.200s", name, el.FullTag(), signer, err, got, old)
		}
	}
	inh, err := InheritedXMLAttrs(el, false, true)
	if err != nil {
		if _, err := Canonicalize(el, C14N11, Options{SignerXMLAttrs: true}); err == nil {
			t.Errorf("%s <%s>: c14n 1.1 accepted below refused xml:* attributes", name, el.FullTag())
		}
		return
	}
	old, err = InclusiveC14N(el, nil, inh)
	if err != nil {
		t.Errorf("%s <%s>: the inclusive writer refuses: %v", name, el.FullTag(), err)
		return
	}
	got, err := Canonicalize(el, C14N11, Options{SignerXMLAttrs: true})
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("%s <%s> c14n 1.1: %v\n got %.200s\nwant %.200s", name, el.FullTag(), err, got, old)
	}
}
