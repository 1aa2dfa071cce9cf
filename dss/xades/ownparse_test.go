package xades

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"dssd/dss/internal/etreecmp"
	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
)

// etreeParse is what parseOwn used to be: etree's own parser with its default settings.
func etreeParse(b []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, err
	}
	return doc, nil
}

// sameAsEtree parses b with parseOwnBytes and with etree and compares the trees.
func sameAsEtree(b []byte) error {
	got, err := parseOwnBytes(b)
	if err != nil {
		return err
	}
	want, err := etreeParse(b)
	if err != nil {
		return fmt.Errorf("parseOwnBytes accepted what etree refuses (%v)", err)
	}
	return etreecmp.Equal(&want.Element, &got.Element)
}

// TestParseOwnMatchesEtree: on everything Sign produces for the trace cases (every packaging,
// both c14n, XAdES and XMLDSig, documents with CDATA, comments, CR, default namespaces,
// xml:lang, unused declarations) and on every corpus document as serialize writes it,
// parseOwnBytes builds etree's tree.
func TestParseOwnMatchesEtree(t *testing.T) {
	t.Parallel()
	n := 0
	for _, tc := range traceCases(t) {
		s, err := Sign(tc.obj, tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out := s.Document
		if out == nil {
			out = s.Signature
		}
		if err := sameAsEtree(out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		n++
	}
	for name, b := range c14nCorpus(t) {
		doc, err := xmlsafe.Parse(b, xmlsafe.DocumentLimits())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := serialize(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameAsEtree(out); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		n++
	}
	if n < 50 {
		t.Fatalf("only %d documents compared", n)
	}
}

// TestParseOwnRejects: parseOwnBytes refuses what is not well-formed XML 1.0 without a DOCTYPE.
func TestParseOwnRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``,
		`text`,
		`<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>`,
		`<r>&e;</r>`,
		`<r>&#0;</r>`,
		`<r>&#xD800;</r>`,
		`<r>&amp</r>`,
		`<r a="&#x1;"/>`,
		"<r>\x01</r>",
		"<r>\xff</r>",
		`<r><a></b></r>`,
		`<r><a></r></a>`,
		`<r>`,
		`<r/><s/>`,
		`<r/>text`,
		`text<r/>`,
		`<r a="1" a="2"/>`,
		`<r p:a="1" p:a="2"/>`,
		`<r a="1"b="2"/>`,
		`<r a=1/>`,
		`<r a="1/>`,
		`<r a="<"/>`,
		`<r><!-- a -- b --></r>`,
		`<r><!-- a ---></r>`,
		`<r><![CDATA[x</r>`,
		`<![CDATA[x]]><r/>`,
		`<r><?pi x?></r>`,
		`<r/><?pi x?>`,
		`<?pi?x?><r/>`,
		`<r></>`,
		`< r/>`,
		`<1r/>`,
		`<r / >`,
		`<x:y:z/>`,
		`<r>a]]>b</r>`,
		`<?xml version="1.1"?><r/>`,
		`<?xml version="1.0" encoding="latin1"?><r/>`,
		`<:r/>`,
		`<r: a="1"/>`,
	} {
		if _, err := parseOwnBytes([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", in, err)
		}
	}
}

// FuzzParseOwnBytes: whatever parseOwnBytes accepts, etree accepts with the same tree; and
// whatever the gate accepts, serialize writes as etree's writer does and parseOwnBytes reads
// as etree does.
func FuzzParseOwnBytes(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0"?>` + "\n" + `<a:r xmlns:a="urn:a" a:x="1" y='2'><b>t&amp;&#xD;</b><!-- c --><![CDATA[<d>]]></a:r>` + "\n",
		"<r a=\"&#x9;&#xA;&#xD;&lt;\"> \r\n x \r y<s/></r>",
		`<?pi data?><!-- c --><r xml:lang="en"><x:y/></r><!-- e -->`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := parseOwnBytes(b); err == nil {
			want, err := etreeParse(b)
			if err != nil {
				t.Fatalf("%q: parseOwnBytes accepted what etree refuses: %v", b, err)
			}
			if err := etreecmp.Equal(&want.Element, &got.Element); err != nil {
				t.Fatalf("%q: %v", b, err)
			}
		}
		doc, err := xmlsafe.Parse(b, xmlsafe.Limits{MaxBytes: 1 << 16, MaxDepth: 32})
		if err != nil {
			return
		}
		out, err := serialize(doc)
		if err != nil {
			t.Fatal(err)
		}
		if want := etreeSerialize(doc); !bytes.Equal(out, want) {
			t.Fatalf("%q: serialize wrote %q, etree %q", b, out, want)
		}
		if err := sameAsEtree(out); err != nil {
			t.Fatalf("%q serialized as %q: %v", b, out, err)
		}
	})
}

// etreeSerialize is what serialize used to be: etree's writer with the same settings.
func etreeSerialize(doc *etree.Document) []byte {
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	b, err := doc.WriteToBytes()
	if err != nil {
		panic(err)
	}
	return b
}

// TestSerializeMatchesEtree: serialize writes the bytes etree's writer writes, for every Sign
// output reparsed, every corpus document, and trees with the tokens only hand-made trees hold
// (CDATA with "]]>", comments with "--" and a trailing '-', processing instructions with "?>",
// characters outside XML 1.0).
func TestSerializeMatchesEtree(t *testing.T) {
	t.Parallel()
	var docs []*etree.Document
	for _, tc := range traceCases(t) {
		s, err := Sign(tc.obj, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Document
		if out == nil {
			out = s.Signature
		}
		doc, err := etreeParse(out)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	for name, b := range c14nCorpus(t) {
		doc, err := xmlsafe.Parse(b, xmlsafe.DocumentLimits())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, doc)
	}
	odd := etree.NewDocument()
	odd.CreateProcInst("pi", "a ?> b")
	r := odd.CreateElement("p:r")
	r.CreateAttr("a", "x\t\n\r<&\"'>\x01\xff")
	r.CreateCData("c ]]> d")
	r.CreateComment("a--b-")
	r.CreateText("t\r\n<&>\"'\x02\uFFFE")
	r.CreateElement("empty")
	docs = append(docs, odd)
	for i, doc := range docs {
		got, err := serialize(doc)
		if err != nil {
			t.Fatal(err)
		}
		if want := etreeSerialize(doc); !bytes.Equal(got, want) {
			t.Fatalf("document %d:\n got %q\nwant %q", i, got, want)
		}
	}
}
