package xmldsig

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestOutputBoundInsideNodes: the bound on the canonical form holds inside one text node or
// one attribute value, whose escaping writes up to six bytes for one, and after the last
// node: the walk stops within one escape chunk of the bound instead of writing the whole
// expansion. Below the bound the output is what it is without one.
func TestOutputBoundInsideNodes(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct{ name, doc string }{
		{"text", "<r>" + strings.Repeat(">", 2<<20) + "</r>"},
		{"attribute", "<r a='" + strings.Repeat(`"`, 1<<20) + "'/>"},
		{"namespace", "<r xmlns:p='" + strings.Repeat(`"`, 1<<20) + "' p:a=''/>"},
		{"end tags", "<r>" + strings.Repeat("x", limit-2) + "</r>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(tc.doc); err != nil {
				t.Fatal(err)
			}
			for _, alg := range []string{ExcC14N, C14N10, C14N11} {
				out, err := Canonicalize(doc.Root(), alg, Options{MaxBytes: limit})
				if !errors.Is(err, ErrOutputLimit) {
					t.Fatalf("%s: %d bytes, error %v; want ErrOutputLimit", alg, len(out), err)
				}
				full, err := Canonicalize(doc.Root(), alg, Options{MaxBytes: 16 * limit})
				if err != nil || len(full) <= limit {
					t.Fatalf("%s without the bound: %d bytes, %v", alg, len(full), err)
				}
			}
		})
	}
}

// TestAppendEscapedChunks: escaping a value a chunk at a time writes AppendEscaped's bytes,
// runes split by no chunk boundary.
func TestAppendEscapedChunks(t *testing.T) {
	s := strings.Repeat("é\"<\r€\x01𝄞", escapeChunk/3)
	c := excWriter{maxBytes: 1 << 40}
	for _, attr := range []bool{false, true} {
		got, err := c.appendEscaped(nil, s, attr)
		if err != nil || string(got) != string(AppendEscaped(nil, s, attr)) {
			t.Fatalf("attr %v: chunked escaping differs (%v)", attr, err)
		}
	}
}
