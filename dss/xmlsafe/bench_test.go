package xmlsafe

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/beevik/etree"
)

// benchDoc builds a namespaced invoice-like document of about size bytes.
func benchDoc(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<inv:Invoice xmlns:inv="urn:example:invoice" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="invoice-1">` + "\n")
	for i := 0; b.Len() < size-200; i++ {
		fmt.Fprintf(&b, `  <inv:Line n="%d" sku="SKU-%05d"><inv:Desc xml:lang="en">Widget %d &amp; co</inv:Desc><inv:Price currency="EUR">12.50</inv:Price></inv:Line>`+"\n", i, i, i)
	}
	b.WriteString(`  <ds:Signature Id="sig-1"><ds:SignatureValue>QUJD</ds:SignatureValue></ds:Signature>` + "\n")
	b.WriteString("</inv:Invoice>\n")
	return b.Bytes()
}

var benchSizes = []struct {
	name string
	size int
}{{"2KB", 2 << 10}, {"1MB", 1 << 20}}

// BenchmarkCheck measures the whole gate (character scan, declaration, tokenizing pass); BenchmarkEtree puts it in proportion.
func BenchmarkCheck(b *testing.B) {
	for _, s := range benchSizes {
		doc := benchDoc(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(doc, DocumentLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse is Check plus the single etree parse; BenchmarkEtree is that etree parse alone.
func BenchmarkParse(b *testing.B) {
	for _, s := range benchSizes {
		doc := benchDoc(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(doc, DocumentLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEtree(b *testing.B) {
	for _, s := range benchSizes {
		doc := benchDoc(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				d := etree.NewDocument()
				d.ReadSettings = etree.ReadSettings{ValidateInput: true, CharsetReader: refuseCharset}
				if err := d.ReadFromBytes(bytes.TrimSpace(doc)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseContext is BenchmarkParse with a cancellable context that the passes check
// (ParseContext); the ratio to BenchmarkParse is the cost of being interruptible.
func BenchmarkParseContext(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, s := range benchSizes {
		doc := benchDoc(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseContext(ctx, doc, DocumentLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
