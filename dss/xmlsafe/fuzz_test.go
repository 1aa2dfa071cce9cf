package xmlsafe

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
)

// FuzzParse checks the gate's oracle: no panic; every rejection is an *Error; Check and Parse
// agree; anything accepted also passes etree's own ValidateInput with the same tree (Parse
// leaves it off), and its etree serialization passes the
// gate again and is stable under a second parse and serialization.
func FuzzParse(f *testing.F) {
	addHostileSeeds(f)
	for _, s := range []string{
		`<r/>`,
		`<a:r xmlns:a="urn:a" a:x="1" y="2"><b>text</b><!-- c --><![CDATA[<d>]]></a:r>`,
		"\uFEFF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<r xml:lang=\"en\">&#xD;&#xA;&lt;</r>\n",
		`<r xmlns="urn:d"><s xmlns=""><t a="&#x9;&#xA;&#xD;"/></s></r>`,
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxBytes: 1 << 20, MaxDepth: 64, MaxElements: 10000, MaxAttrs: 64, MaxNSPerElement: 16, MaxNSInScope: 64}
	ws := etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, perr := Parse(b, lim)
		cerr := Check(b, lim)
		if (perr == nil) != (cerr == nil) {
			t.Fatalf("Check says %v, Parse says %v", cerr, perr)
		}
		if perr != nil {
			var e *Error
			if !errors.As(perr, &e) {
				t.Fatalf("rejection is not an *Error: %v", perr)
			}
			return
		}
		if doc.Root() == nil {
			t.Fatal("accepted without a root")
		}
		if err := etreeValidatedSame(b, lim, doc); err != nil {
			t.Fatalf("input %q: %v", b, err)
		}
		doc.WriteSettings = ws
		out, err := doc.WriteToBytes()
		if err != nil {
			t.Fatalf("serialize: %v", err)
		}
		doc2, err := Parse(out, lim)
		if err != nil {
			t.Fatalf("serialized tree rejected: %v\ninput:  %q\noutput: %q", err, b, out)
		}
		doc2.WriteSettings = ws
		out2, err := doc2.WriteToBytes()
		if err != nil {
			t.Fatalf("serialize again: %v", err)
		}
		if string(out) != string(out2) {
			t.Fatalf("serialization not stable:\ninput: %q\nfirst: %q\nagain: %q", b, out, out2)
		}
	})
}

// addHostileSeeds adds every input of the shared hostile corpus to f's seed corpus.
func addHostileSeeds(f *testing.F) {
	for _, c := range readManifest(f) {
		b, err := os.ReadFile(filepath.Join(hostileDir, c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
