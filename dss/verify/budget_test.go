package verify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dssd/dss/xades"
	"dssd/dss/xmlsafe"
)

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

// TestC14NOutputBounded: exclusive c14n writes a namespace declaration again on every element
// that uses it when its parent does not, so a small document can have a canonical form many
// times its size (here 56 KB that canonicalize to 48 MB). The walk stops once its output is
// longer than what Limits.MaxC14NBytes leaves, before the memory is spent, not after.
func TestC14NOutputBounded(t *testing.T) {
	sig := bogusEnveloped("s", `<ds:Transform Algorithm="`+xades.TransformEnveloped+`"/><ds:Transform Algorithm="`+xades.ExcC14N+`"/>`, 1)
	doc := []byte(`<r xmlns:a="urn:` + strings.Repeat("x", 8<<10) + `">` + strings.Repeat(`<a:x/>`, 6000) + sig + `</r>`)
	v, err := New(Config{Limits: Limits{MaxC14NBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := v.Verify(context.Background(), Input{Signature: doc})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Signatures[0]; s.SubIndication != SigConstraintsFailure || !strings.Contains(s.Detail, "more than 1048576 bytes") {
		t.Errorf("verdict %s/%s %q, want the canonical bytes limit", s.Indication, s.SubIndication, s.Detail)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("verification allocated %d MB for a canonical form bounded at 1 MB", alloc>>20)
	}
}

// TestSignerC14NBoundAgrees: the signer's bound on canonical bytes (xades Params.MaxC14NBytes)
// is never looser than the verifier's (Limits.MaxC14NBytes) when both have the same value:
// the largest document of a namespace-repeating shape the signer accepts under 1 MiB verifies
// under 1 MiB, and the next one is refused by the signer with its limit error (decisions §44).
func TestSignerC14NBoundAgrees(t *testing.T) {
	p := newPKI(t)
	const bound = 1 << 20
	v := newVerifier(t, p, func(c *Config) { c.Limits.MaxC14NBytes = bound })
	doc := func(n int) []byte {
		return []byte(`<r xmlns:a="urn:` + strings.Repeat("x", 8<<10) + `">` + strings.Repeat(`<a:x/>`, n) + `</r>`)
	}
	var last *xades.Signed
	n := 110
	for ; n < 140; n++ {
		s, err := xades.Sign(xades.Object{Data: doc(n), XML: true}, xades.Params{Type: xades.TypeXAdES, Packaging: xades.Enveloped,
			SignatureMethod: xades.ECDSASHA256, Signer: p.ec.key, Chain: p.chainOf(p.ec), SigningTime: testNow.Add(-time.Hour),
			SignatureID: "sig-1", MaxC14NBytes: bound})
		if err != nil {
			if !errors.Is(err, xades.ErrLimit) {
				t.Fatalf("%d elements: %v, want xades.ErrLimit", n, err)
			}
			break
		}
		last = s
	}
	if last == nil || n == 140 {
		t.Fatalf("no edge found between 110 and 140 elements (stopped at %d)", n)
	}
	rep, err := v.Verify(context.Background(), Input{Signature: last.Document})
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Signatures[0]; s.Indication != TotalPassed {
		t.Errorf("%d elements, signed under a 1 MiB bound: %s/%s %q, want TOTAL-PASSED under the same bound", n-1, s.Indication, s.SubIndication, s.Detail)
	}
}
