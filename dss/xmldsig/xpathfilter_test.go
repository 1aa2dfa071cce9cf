package xmldsig

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"dssd/dss/xmlsafe"
)

// naiveWithin is the definition the nodeSetFilter implements in one pass: t is within s when
// t or one of its ancestors (up to the document node) is selected, a name resolved with
// etree's own NamespaceURI.
func naiveWithin(s *boundSelector, t etree.Token) bool {
	for n := t; n != nil; n = n.Parent() {
		if naiveSelects(s, n) {
			return true
		}
		if n.Parent() == nil {
			break
		}
	}
	return false
}

func naiveSelects(b *boundSelector, t etree.Token) bool {
	switch b.s.kind {
	case selRoot:
		return true
	case selName:
		el, ok := t.(*etree.Element)
		if !ok || el.Tag != b.s.name.local {
			return false
		}
		if b.s.byQName {
			return el.Space == b.s.prefix
		}
		return el.NamespaceURI() == b.s.name.ns
	case selHereSig:
		return t == etree.Token(b.one)
	case selID:
		var sel []*etree.Element
		if b.one != nil {
			sel = append(sel, b.one)
		}
		for e := range b.els {
			sel = append(sel, e)
		}
		for _, e := range sel {
			if b.s.nodeKids && t.Parent() == e || !b.s.nodeKids && t == etree.Token(e) {
				return true
			}
		}
	}
	return false
}

// TestXPathFilterMatchesNaive: the one-pass filter (ancestor bits on the walk's path, namespace
// scope kept as the walk goes) decides every node of random documents as the definition does
// (a walk of the ancestors per node), for every selector shape and operation, with prefixes
// redeclared at random depths, and whether the walk starts at the document or below it.
func TestXPathFilterMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 60; round++ {
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:a" xmlns:p="urn:p" xmlns:q="urn:q">`)
		depth, ids := 0, 0
		var open []string
		for i := 0; i < 300; i++ {
			switch rng.IntN(6) {
			case 0, 1:
				names := []string{"p:Signature", "q:Signature", "Signature", "f", "p:f", "q:x"}
				n := names[rng.IntN(len(names))]
				attrs := ""
				switch rng.IntN(5) {
				case 0:
					attrs = ` xmlns:p="urn:q"`
				case 1:
					attrs = ` xmlns:q="urn:p"`
				case 2:
					attrs = ` xmlns="urn:p"`
				case 3:
					ids++
					attrs = fmt.Sprintf(` Id="i%d"`, ids)
				}
				fmt.Fprintf(&b, `<%s%s>`, n, attrs)
				depth++
				open = append(open, n)
			case 2:
				if depth > 0 {
					b.WriteString("</" + open[len(open)-1] + ">")
					open = open[:len(open)-1]
					depth--
				}
			case 3:
				b.WriteString("t")
			case 4:
				b.WriteString("<!--c-->")
			default:
				b.WriteString(`<e/>`)
			}
		}
		for ; depth > 0; depth-- {
			b.WriteString("</" + open[len(open)-1] + ">")
			open = open[:len(open)-1]
		}
		b.WriteString(`</r>`)
		doc, err := xmlsafe.Parse([]byte(b.String()), xmlsafe.DocumentLimits())
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, b.String())
		}
		index := IndexIDs(doc.Root())
		var all []*etree.Element
		var collect func(e *etree.Element)
		collect = func(e *etree.Element) {
			all = append(all, e)
			for _, k := range e.ChildElements() {
				collect(k)
			}
		}
		collect(doc.Root())
		sig := all[rng.IntN(len(all))]
		xf := etree.NewElement("XPath")
		xf.CreateAttr("xmlns:ds", NS)
		xf.CreateAttr("xmlns:p", "urn:p")
		xf.CreateAttr("xmlns:q", "urn:q")
		exprs := []string{"/", "/descendant::p:Signature", "//q:Signature", "/descendant::*[name()='p:f']", "/descendant::*[name()='f']",
			"here()/ancestor::ds:Signature[1]", "/descendant::p:f"}
		for i := 1; i <= ids; i++ {
			exprs = append(exprs, fmt.Sprintf("id('i%d')", i), fmt.Sprintf("id('i%d')/node()", i), fmt.Sprintf("id('i%d')/p:f", i))
		}
		f := &nodeSetFilter{}
		type op struct {
			op  string
			sel *boundSelector
		}
		var ops []op
		var rms []*boundSelector
		for k := 0; k < 1+rng.IntN(4); k++ {
			sel, ok := parseFilter2Expr(exprs[rng.IntN(len(exprs))], xf)
			if !ok {
				t.Fatal("expression refused")
			}
			bs, err := bind(sel, index, sig)
			if err != nil {
				t.Fatal(err)
			}
			bit, _ := f.addSelector(&bs)
			if k == 3 {
				f.rmBits |= bit
				rms = append(rms, &bs)
				continue
			}
			o := []string{"intersect", "subtract", "union"}[rng.IntN(3)]
			ops = append(ops, op{o, &bs})
			if len(f.xf2) == 0 {
				f.xf2 = append(f.xf2, nil)
			}
			f.xf2[0] = append(f.xf2[0], boundOp{op: o, bit: bit})
		}
		naive := func(tk etree.Token) bool {
			for _, s := range rms {
				if naiveWithin(s, tk) {
					return false
				}
			}
			z := true
			for _, o := range ops {
				in := naiveWithin(o.sel, tk)
				switch o.op {
				case "intersect":
					z = z && in
				case "subtract":
					z = z && !in
				case "union":
					z = z || in
				}
			}
			return z
		}
		// Ask in document order, from the root or from a subtree, as canonicalization does.
		start := doc.Root()
		if round%3 == 1 {
			start = all[rng.IntN(len(all))]
		}
		var walk func(tk etree.Token)
		walk = func(tk etree.Token) {
			if got, want := f.include(tk), naive(tk); got != want {
				t.Fatalf("round %d: node %#v: filter %v, definition %v\n%s", round, tk, got, want, b.String())
			}
			if e, ok := tk.(*etree.Element); ok {
				for _, k := range e.Child {
					walk(k)
				}
			}
		}
		walk(start)
	}
}

// TestXPathAllowList: the XPath shapes of real profiles parse, anything else is refused.
func TestXPathAllowList(t *testing.T) {
	el := etree.NewElement("XPath")
	el.CreateAttr("xmlns:ds", NS)
	el.CreateAttr("xmlns:etsi", "http://uri.etsi.org/01903/v1.1.1#")
	for _, e := range []string{"id('signed-data-0')/node()", "id('refetsi')/etsi:QualifyingProperties/etsi:SignedProperties",
		"/descendant::*[name()='ds:Signature']", "/descendant::ds:Signature", "here()/ancestor::ds:Signature[1]", "/", " id( \"x\" ) "} {
		if _, ok := parseFilter2Expr(e, el); !ok {
			t.Errorf("XPath Filter 2.0 %q refused", e)
		}
	}
	for _, e := range []string{"//*", "id('x')//node()", "/descendant::foo:Signature", "document('http://x')", "id(concat('a','b'))",
		"/descendant::*[name()='ds:Signature' or 1=1]", "ancestor-or-self::ds:Signature", ""} {
		if _, ok := parseFilter2Expr(e, el); ok {
			t.Errorf("XPath Filter 2.0 %q accepted", e)
		}
	}
	for _, e := range []string{"not(ancestor-or-self::ds:Signature)",
		"count(ancestor-or-self::ds:Signature | here()/ancestor::ds:Signature[1]) > count(ancestor-or-self::ds:Signature)"} {
		if _, ok := parseXPathExpr(e, el); !ok {
			t.Errorf("XPath %q refused", e)
		}
	}
	for _, e := range []string{"1", "true()", "self::node()", "not(ancestor::ds:Signature)", "ancestor-or-self::ds:Signature"} {
		if _, ok := parseXPathExpr(e, el); ok {
			t.Errorf("XPath %q accepted", e)
		}
	}
}
