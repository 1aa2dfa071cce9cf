package xmldsig

import (
	"os"
	"testing"
)

// BenchmarkAppendEscaped escapes the text of testdata/documents/invoice.xml as text and as an
// attribute value, as canonicalization and xades serialisation do for every node.
func BenchmarkAppendEscaped(b *testing.B) {
	doc, err := os.ReadFile("../../testdata/documents/invoice.xml")
	if err != nil {
		b.Fatal(err)
	}
	s := string(doc)
	buf := make([]byte, 0, 2*len(s))
	b.SetBytes(int64(2 * len(s)))
	for b.Loop() {
		buf = AppendEscaped(buf[:0], s, false)
		buf = AppendEscaped(buf, s, true)
	}
}
