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

// TestVerifyStopsOnCancel: a Verify whose context ends at any point (the gate's passes, the
// tree, the digests) stops there: it returns the context's error, or INDETERMINATE/TRY_LATER
// for the signature under way, and asks the context at most once more (the loop over the
// signatures) — no loop goes on working after the deadline (issue 10: the work went on after
// the client's 503).
func TestVerifyStopsOnCancel(t *testing.T) {
	p := newPKI(t)
	var b strings.Builder
	b.WriteString(`<doc xmlns="urn:example:doc">`)
	for i := 0; i < 11000; i++ {
		b.WriteString(`<e>x</e>`)
	}
	b.WriteString(`</doc>`)
	s := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(b.String()), XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	v := newVerifier(t, p, func(c *Config) { c.Revocation = nil })
	// Never done: how many checks does the whole verification make?
	all := &countingCtx{Context: context.Background(), after: 1 << 62}
	if _, err := v.Verify(all, Input{Signature: s}); err != nil {
		t.Fatal(err)
	}
	total := all.calls.Load()
	if total < 30 {
		t.Fatalf("only %d checks of the context over 11 000 elements", total)
	}
	sawErr, sawVerdict := false, false
	for after := int64(1); after <= total; after++ {
		ctx := &countingCtx{Context: context.Background(), after: after}
		rep, err := v.Verify(ctx, Input{Signature: s})
		switch {
		case err != nil:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("done at check %d: %v, want context.Canceled", after, err)
			}
			sawErr = true
		default:
			r := rep.Signatures[0]
			if r.Indication != Indeterminate || r.SubIndication != TryLater {
				t.Fatalf("done at check %d: got %s/%s %s, want INDETERMINATE/TRY_LATER", after, r.Indication, r.SubIndication, r.Detail)
			}
			sawVerdict = true
		}
		if n := ctx.calls.Load(); n > after+1 {
			t.Fatalf("done at check %d: the context was asked %d times: the work went on after it was done", after, n)
		}
	}
	if !sawErr || !sawVerdict {
		t.Fatalf("cancellation seen as an error %v, as a verdict %v: want both (the gate and the digests)", sawErr, sawVerdict)
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
