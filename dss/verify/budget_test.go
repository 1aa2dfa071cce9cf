package verify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
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
		c := &sigCtx{doc: doc, ids: buildIDIndex(doc.Root())}
		var all []*etree.Element
		var collect func(e *etree.Element)
		collect = func(e *etree.Element) {
			all = append(all, e)
			for _, k := range e.ChildElements() {
				collect(k)
			}
		}
		collect(doc.Root())
		c.sig = all[rng.IntN(len(all))]
		xf := etree.NewElement("XPath")
		xf.CreateAttr("xmlns:ds", xades.NSXMLDSig)
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
			bs, v := c.bind(sel)
			if v != nil {
				t.Fatal(v)
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

// bogusEnveloped is a ds:Signature over URI="" with the given transforms and junk digest and
// value: the reference is canonicalized and digested, then found changed.
func bogusEnveloped(id, transforms string, refs int) string {
	return bogusSig(id, transforms, refs, make([]byte, 32))
}

// bogusSig is bogusEnveloped with the given digest value in every Reference.
func bogusSig(id, transforms string, refs int, digest []byte) string {
	zero := base64.StdEncoding.EncodeToString(digest)
	var b strings.Builder
	b.WriteString(`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="` + id + `"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + xades.ExcC14N + `"/><ds:SignatureMethod Algorithm="` + xades.ECDSASHA256 + `"/>`)
	for i := 0; i < refs; i++ {
		b.WriteString(`<ds:Reference URI=""><ds:Transforms>` + transforms + `</ds:Transforms>` +
			`<ds:DigestMethod Algorithm="` + xades.DigestSHA256 + `"/><ds:DigestValue>` + zero + `</ds:DigestValue></ds:Reference>`)
	}
	b.WriteString(`</ds:SignedInfo><ds:SignatureValue>` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `</ds:SignatureValue></ds:Signature>`)
	return b.String()
}

// TestMaxNodes: a document over Limits.MaxNodes is a limit error before any signature is looked
// at; at the limit it is verified.
func TestMaxNodes(t *testing.T) {
	sig := bogusEnveloped("s", `<ds:Transform Algorithm="`+xades.TransformEnveloped+`"/>`, 1)
	doc := []byte(`<r xmlns="urn:x">` + strings.Repeat(`<e a="1">t</e>`, 1000) + sig + `</r>`)
	d, err := xmlsafe.Parse(doc, xmlsafe.DocumentLimits())
	if err != nil {
		t.Fatal(err)
	}
	n := countNodes(&d.Element)
	v, err := New(Config{Limits: Limits{MaxNodes: n}})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := v.Verify(context.Background(), Input{Signature: doc}); err != nil || rep.Signatures[0].SubIndication != HashFailure {
		t.Fatalf("at the limit (%d nodes): %v %+v", n, err, rep)
	}
	v, _ = New(Config{Limits: Limits{MaxNodes: n - 1}})
	if _, err := v.Verify(context.Background(), Input{Signature: doc}); !errorsIsLimit(err) {
		t.Fatalf("one node over the limit: %v, want ErrLimit", err)
	}
	// The defaults refuse 5 000 elements of 255 attributes (issue 10), and a document of
	// 2.1 M elements (the element limit at 64 MiB).
	var b strings.Builder
	b.WriteString(`<r xmlns="urn:x">`)
	for i := 0; i < 5000; i++ {
		b.WriteString(`<e`)
		for j := 0; j < 255; j++ {
			fmt.Fprintf(&b, ` a%d="v"`, j)
		}
		b.WriteString(`/>`)
	}
	b.WriteString(sig + `</r>`)
	v, _ = New(Config{})
	if _, err := v.Verify(context.Background(), Input{Signature: []byte(b.String())}); !errorsIsLimit(err) {
		t.Fatalf("5 000 x 255 attributes: %v, want ErrLimit", err)
	}
}

func errorsIsLimit(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), ErrLimit.Error())
}

// TestMaxC14NNodes: many References walking the whole document through an XPath filter that
// selects nothing (no output, so MaxC14NBytes does not stop them) use up the walk budget; the
// signatures are then INDETERMINATE/SIG_CONSTRAINTS_FAILURE, not digested one walk after the
// other. Under the budget the same document is digested (HASH_FAILURE: junk digests).
func TestMaxC14NNodes(t *testing.T) {
	nothing := `<ds:Transform Algorithm="` + TransformXPath2 + `"><xf:XPath xmlns:xf="` + TransformXPath2 + `" Filter="intersect">/descendant::*[name()='none']</xf:XPath></ds:Transform>`
	var b strings.Builder
	b.WriteString(`<r xmlns="urn:x">` + strings.Repeat(`<e/>`, 10000))
	for i := 0; i < 4; i++ {
		empty := sha256.Sum256(nil) // the filter selects nothing: every digest matches
		b.WriteString(bogusSig(fmt.Sprintf("s%d", i), nothing, 8, empty[:]))
	}
	b.WriteString(`</r>`)
	doc := []byte(b.String())
	// 4 signatures x 8 References x about 10 000 nodes: 320 000 node visits.
	v, _ := New(Config{Limits: Limits{MaxC14NNodes: 100000}})
	rep, err := v.Verify(context.Background(), Input{Signature: doc})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Signatures {
		if i == 0 {
			// 8 walks of 10 000 nodes fit: the first signature's digests are compared, and
			// it goes on to the next checks (its junk has no certificate).
			if r.SubIndication == SigConstraintsFailure || r.SubIndication == HashFailure || r.Reason == ReasonDigest {
				t.Fatalf("signature 1: %s/%s %s, want past the digests", r.Indication, r.SubIndication, r.Detail)
			}
			continue
		}
		if r.Indication != Indeterminate || r.SubIndication != SigConstraintsFailure || !strings.Contains(r.Detail, "more than 100000 nodes") {
			t.Fatalf("signature %d: %s/%s %s, want the walk budget", i+1, r.Indication, r.SubIndication, r.Detail)
		}
	}
	v, _ = New(Config{Limits: Limits{MaxC14NNodes: 400000}})
	rep, err = v.Verify(context.Background(), Input{Signature: doc})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Signatures {
		if r.SubIndication == SigConstraintsFailure || r.Reason == ReasonDigest {
			t.Fatalf("under the budget, signature %d: %s/%s %s", i+1, r.Indication, r.SubIndication, r.Detail)
		}
	}
}

// doneCounter wraps a real context and counts the checks made after it first answered done.
type doneCounter struct {
	context.Context
	done  atomic.Bool
	after atomic.Int64
}

func (d *doneCounter) Err() error {
	err := d.Context.Err()
	if err != nil {
		if d.done.Swap(true) {
			d.after.Add(1)
		}
	}
	return err
}

// TestVerifyDeadlineStopsWork: a request with a short real timeout on a document at the node
// limit under the worst XPath Filter 2.0 returns the deadline (as an error, or TRY_LATER)
// and no loop asks the context again after the first "done": every loop stops at its first
// check past the deadline (at most 1 024 tokens or 256 nodes later), whatever the machine's
// speed. No wall-clock assertion.
func TestVerifyDeadlineStopsWork(t *testing.T) {
	xf := `<ds:Transform Algorithm="` + TransformXPath2 + `">` +
		`<xf:XPath xmlns:xf="` + TransformXPath2 + `" Filter="union">/</xf:XPath>` +
		`<xf:XPath xmlns:xf="` + TransformXPath2 + `" Filter="subtract">/descendant::ds:Signature</xf:XPath>` +
		`<xf:XPath xmlns:xf="` + TransformXPath2 + `" Filter="intersect">/descendant::*[name()='f']</xf:XPath>` +
		`<xf:XPath xmlns:xf="` + TransformXPath2 + `" Filter="union">here()/ancestor::ds:Signature[1]</xf:XPath></ds:Transform>`
	var b strings.Builder
	b.WriteString(`<r xmlns="urn:x">` + strings.Repeat(`<e>`, 200) + strings.Repeat(`<f>x</f>`, 240000) + strings.Repeat(`</e>`, 200))
	b.WriteString(bogusEnveloped("s", xf, 1) + `</r>`)
	doc := []byte(b.String())
	v, _ := New(Config{})
	for _, timeout := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond} {
		base, cancel := context.WithTimeout(context.Background(), timeout)
		ctx := &doneCounter{Context: base}
		rep, err := v.Verify(ctx, Input{Signature: doc})
		cancel()
		switch {
		case err != nil:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v: %v, want the deadline", timeout, err)
			}
		case rep.Signatures[0].SubIndication == TryLater:
		case !ctx.done.Load():
			continue // the machine finished before the deadline: nothing to check
		default:
			t.Fatalf("%v: %+v after the deadline, want it stopped", timeout, rep.Signatures[0])
		}
		if n := ctx.after.Load(); n > 1 {
			t.Fatalf("%v: the context was asked %d more times after it was done: work went on", timeout, n)
		}
	}
}
