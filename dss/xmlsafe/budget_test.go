package xmlsafe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// countingCtx answers Canceled from its after-th Err call on, and counts the calls.
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

// TestParseContextStops: the passes of ParseContext ask the context as often as documented
// and stop at the first "done" answer, wherever it comes (the byte pass or the tokenizing pass):
// no further check, so no further work beyond CtxCheckTokens tokens or CtxCheckBytes bytes.
// issue 10: the gate's parse went on up to 0.5 s after the request's deadline.
func TestParseContextStops(t *testing.T) {
	doc := []byte(`<r xmlns="urn:x">` + strings.Repeat(`<e a="1">t</e>`, 100000) + `</r>`)
	// Never done: the number of checks follows the input.
	ctx := &countingCtx{Context: context.Background(), after: 1 << 62}
	if _, err := ParseContext(ctx, doc, DocumentLimits()); err != nil {
		t.Fatal(err)
	}
	tokens := int64(300002) // start, end and text of each e, and the root's two tags
	bytePasses := int64(len(doc)/CtxCheckBytes + 1)
	min := tokens/CtxCheckTokens + bytePasses
	if n := ctx.calls.Load(); n < min {
		t.Fatalf("the context was asked %d times over %d tokens and %d bytes, want at least %d", n, tokens, len(doc), min)
	}
	total := ctx.calls.Load()
	for _, after := range []int64{1, 2, bytePasses, bytePasses + 1, total / 2, total - 1, total} {
		ctx := &countingCtx{Context: context.Background(), after: after}
		d, err := ParseContext(ctx, doc, DocumentLimits())
		if !errors.Is(err, context.Canceled) || d != nil {
			t.Fatalf("done at check %d: got %v, want context.Canceled", after, err)
		}
		if IsLimit(err) {
			t.Fatalf("a cancellation reported as a limit: %v", err)
		}
		if n := ctx.calls.Load(); n != after {
			t.Fatalf("done at check %d: asked %d times, want %d (stop at the first done answer)", after, n, after)
		}
	}
	// A nil context never stops the work (Parse).
	if _, err := ParseContext(nil, doc, DocumentLimits()); err != nil {
		t.Fatal(err)
	}
}

// TestMaxNodes: elements, attributes (declarations included), text nodes, comments and
// processing instructions count; exactly MaxNodes passes, one more is a limit error.
func TestMaxNodes(t *testing.T) {
	// <?pi?> 1, r 1 + xmlns 1, e 1 + 2 attributes, text 1, comment 1, f 1, text 1 = 10
	doc := []byte(`<?pi x?><r xmlns="urn:x"><e a="1" b="2">t</e><!--c--><f/>u</r>`)
	lim := DocumentLimits()
	lim.MaxNodes = 10
	if _, err := Parse(doc, lim); err != nil {
		t.Fatalf("10 nodes with MaxNodes 10: %v", err)
	}
	lim.MaxNodes = 9
	_, err := Parse(doc, lim)
	if !IsLimit(err) || !strings.Contains(err.Error(), "more than 9 nodes") {
		t.Fatalf("10 nodes with MaxNodes 9: %v, want a limit error", err)
	}
	// The default bound is the size: no document reaches it.
	if l := (Limits{MaxBytes: 1000}).normalize(); l.MaxNodes != 1000 {
		t.Fatalf("default MaxNodes %d, want MaxBytes", l.MaxNodes)
	}
	// 5 000 elements of 255 attributes (issue 10) stop at the limit, early.
	var b strings.Builder
	b.WriteString(`<r>`)
	for i := 0; i < 5000; i++ {
		b.WriteString(`<e`)
		for j := 0; j < 255; j++ {
			fmt.Fprintf(&b, ` a%d=""`, j)
		}
		b.WriteString(`/>`)
	}
	b.WriteString(`</r>`)
	lim.MaxNodes = 500000
	if _, err := Parse([]byte(b.String()), lim); !IsLimit(err) {
		t.Fatalf("1 280 000 nodes with MaxNodes 500 000: %v", err)
	}
	// Envelopes have a node limit of their own (decisions §44): the same 10 MB of attributes,
	// within their size and element limits, is refused.
	if err := Check([]byte(b.String()), EnvelopeLimits()); !IsLimit(err) || !strings.Contains(err.Error(), "more than 400000 nodes") {
		t.Fatalf("1 280 000 nodes with EnvelopeLimits: %v, want the node limit", err)
	}
}
