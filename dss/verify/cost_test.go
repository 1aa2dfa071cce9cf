package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"

	"dssd/dss/xades"
)

// countingCtx reports Canceled from its n-th Err call on, and counts the calls.
type countingCtx struct {
	context.Context
	after int64
	calls atomic.Int64
}

func (c *countingCtx) Err() error {
	if c.calls.Add(1) >= c.after {
		return context.Canceled
	}
	return nil
}

// bigTree returns a document of n elements under the root.
func bigTree(t testing.TB, n int) *etree.Document {
	var b strings.Builder
	b.WriteString(`<r xmlns="urn:x">`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<e a="%d">t</e>`, i)
	}
	b.WriteString(`</r>`)
	d := etree.NewDocument()
	if err := d.ReadFromString(b.String()); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCanonicalizationStopsOnCancel: canonicalization checks the request context as it goes
// and stops within 256 nodes once it is done (issue 10: at 11 000 elements the work went on
// after the client's 503).
func TestCanonicalizationStopsOnCancel(t *testing.T) {
	d := bigTree(t, 11000)
	for _, alg := range []string{xades.ExcC14N, xades.C14N11, C14N10, ExcC14NComments} {
		ctx := &countingCtx{Context: context.Background(), after: 3}
		_, err := canonicalizeSet(ctx, d.Root(), alg, "", nil, nil)
		if !errors.Is(err, errCancelled) {
			t.Fatalf("%s: err = %v, want the cancellation", alg, err)
		}
		if n := ctx.calls.Load(); n != 3 {
			t.Fatalf("%s: the context was asked %d times after it was done, want exactly 3 (it stops at once)", alg, n)
		}
		if _, err := canonicalizeSet(context.Background(), d.Root(), alg, "", nil, nil); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
	}
}

// TestVerifyStopsOnCancel: a Verify whose context ends during the digests returns
// INDETERMINATE/TRY_LATER instead of finishing the work.
func TestVerifyStopsOnCancel(t *testing.T) {
	p := newPKI(t)
	var b strings.Builder
	b.WriteString(`<doc xmlns="urn:example:doc">`)
	for i := 0; i < 11000; i++ {
		b.WriteString(`<e>x</e>`)
	}
	b.WriteString(`</doc>`)
	s := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(b.String()), XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	v := newVerifier(t, p, nil)
	// The context is done after a few checks: the gate and the tree are built, then the
	// digests of the 11 000 elements start and must stop.
	ctx := &countingCtx{Context: context.Background(), after: 4}
	rep, err := v.Verify(ctx, Input{Signature: s})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Signatures[0]
	if r.Indication != Indeterminate || r.SubIndication != TryLater {
		t.Fatalf("got %s/%s %s, want INDETERMINATE/TRY_LATER", r.Indication, r.SubIndication, r.Detail)
	}
	if n := ctx.calls.Load(); n > 6 {
		t.Fatalf("the context was asked %d times: the work went on after it was done", n)
	}
}

// TestPrefixListBounded: an InclusiveNamespaces PrefixList is deduplicated, and more distinct
// prefixes than Limits.MaxPrefixes are refused before any canonicalization (issue 10: a
// million names over 3 000 elements cost 10 s).
func TestPrefixListBounded(t *testing.T) {
	mk := func(list string) *etree.Element {
		el := etree.NewElement("Transform")
		el.CreateAttr("Algorithm", xades.ExcC14N)
		in := el.CreateElement("ec:InclusiveNamespaces")
		in.CreateAttr("xmlns:ec", xades.ExcC14N)
		in.CreateAttr("PrefixList", list)
		return el
	}
	got, v := inclusiveNamespaces(mk(strings.Repeat("a b #default ", 200000)), xades.ExcC14N, 64)
	if v != nil || got != "a b #default" {
		t.Fatalf("duplicates: got %q, %v", got, v)
	}
	var many []string
	for i := 0; i < 1000000; i++ {
		many = append(many, fmt.Sprintf("p%d", i))
	}
	if _, v := inclusiveNamespaces(mk(strings.Join(many, " ")), xades.ExcC14N, 64); v == nil || v.sub != SigConstraintsFailure {
		t.Fatalf("a million prefixes: %v, want SIG_CONSTRAINTS_FAILURE", v)
	}
}

// TestXPathAllowList: the XPath shapes of real profiles parse, anything else is refused.
func TestXPathAllowList(t *testing.T) {
	el := etree.NewElement("XPath")
	el.CreateAttr("xmlns:ds", xades.NSXMLDSig)
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
