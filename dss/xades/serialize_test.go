package xades

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"dssd/dss/xmldsig"
	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
)

// FuzzSerializeRoundTrip: whatever the gate accepts, serialize writes as etree's writer does,
// and the gate reads those bytes back into a tree that serialize writes the same again: a
// signature's bytes, parsed for the self-check or for augmentation, are what was serialised.
// (One exception, an empty CDATA section, reaches the fixed point one writing later.)
func FuzzSerializeRoundTrip(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0"?>` + "\n" + `<a:r xmlns:a="urn:a" a:x="1" y='2'><b>t&amp;&#xD;</b><!-- c --><![CDATA[<d>]]></a:r>` + "\n",
		"<r a=\"&#x9;&#xA;&#xD;&lt;\"> \r\n x \r y<s/></r>",
		`<?pi data?><!-- c --><r xml:lang="en"><x:y/></r><!-- e -->`,
		`<?A?><a:r xmlns:a="0"><![CDATA[]]></a:r>`, // an empty CDATA section: <a:r></a:r>, then <a:r/>
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
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
		if err := sameAfterGate(out); err != nil {
			if !hasEmptyText(&doc.Element) {
				t.Fatalf("%q serialized as %q: %v", b, out, err)
			}
			// An element whose only content is an empty CDATA section keeps an empty text
			// node, which serialize writes <a></a> as etree does; read again it has no child
			// and is written <a/>. Both have one canonical form, and the second writing is
			// serialize's fixed point.
			redoc, err := parseSigned(out, 0)
			if err != nil {
				t.Fatal(err)
			}
			again, err := serialize(redoc)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameAfterGate(again); err != nil {
				t.Fatalf("%q serialized as %q, then %q: %v", b, out, again, err)
			}
			c1, err1 := xmldsig.ExclusiveC14N(doc.Root(), nil, nil)
			c2, err2 := xmldsig.ExclusiveC14N(redoc.Root(), nil, nil)
			if err1 != nil || err2 != nil || !bytes.Equal(c1, c2) {
				t.Fatalf("%q: canonical forms differ after the gate: %q %v, %q %v", b, c1, err1, c2, err2)
			}
		}
	})
}

// hasEmptyText reports whether a text node without data is in the tree of e.
func hasEmptyText(e *etree.Element) bool {
	for _, c := range e.Child {
		switch c := c.(type) {
		case *etree.CharData:
			if c.Data == "" {
				return true
			}
		case *etree.Element:
			if hasEmptyText(c) {
				return true
			}
		}
	}
	return false
}

// sameAfterGate parses b (serialize's output) with the gate, as Check and Open do, and
// requires serialize to write b again.
func sameAfterGate(b []byte) error {
	doc, err := parseSigned(b, 0)
	if err != nil {
		return err
	}
	again, err := serialize(doc)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("reparsed and serialised again: %q", again)
	}
	return nil
}

// TestSerializeRoundTrip: every Sign output and every corpus document as serialize writes it
// come back from the gate as a tree serialize writes the same.
func TestSerializeRoundTrip(t *testing.T) {
	t.Parallel()
	n := 0
	for _, tc := range selfCheckCases(t) {
		s, err := Sign(tc.obj, tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out := s.Document
		if out == nil {
			out = s.Signature
		}
		if err := sameAfterGate(out); err != nil {
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
		if err := sameAfterGate(out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n++
	}
	t.Logf("%d documents", n)
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
	for _, tc := range selfCheckCases(t) {
		s, err := Sign(tc.obj, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Document
		if out == nil {
			out = s.Signature
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(out); err != nil {
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

// TestParseSignedRejects: the parser of the self-check and of augmentation (the gate) refuses
// what is not well-formed XML 1.0 without a DOCTYPE, and any encoding but UTF-8 (a signature's
// bytes are UTF-8). (The gate, like encoding/xml, reads "<?pi?x?>" as a processing instruction;
// the deleted parser of our own output refused it.)
func TestParseSignedRejects(t *testing.T) {
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
		if _, err := parseSigned([]byte(in), 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", in, err)
		}
	}
}
