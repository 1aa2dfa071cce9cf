package xmlsafe

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
		b.Run(s.name, func(b *testing.B) { benchParse(b, doc) })
	}
}

// benchParse measures Parse of doc with the document limits.
func benchParse(b *testing.B, doc []byte) {
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc, DocumentLimits()); err != nil {
			b.Fatal(err)
		}
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

// corpusFile reads a document of the real-world corpus ($DSSD_CORPUS, or ../shared/corpus
// beside the repository), or skips with one line when the corpus is absent.
func corpusFile(b *testing.B, name string) []byte {
	b.Helper()
	dir := os.Getenv("DSSD_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	doc, err := os.ReadFile(filepath.Join(dir, "docs", name))
	if errors.Is(err, fs.ErrNotExist) {
		b.Skipf("real-world corpus not found at %s (set DSSD_CORPUS); benchmark skipped", dir)
	}
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

func readFile(b *testing.B, path string) []byte {
	b.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

// BenchmarkParseRequestInputs is Parse of what a signing request parses: the document dssbench
// signs (testdata/documents/invoice.xml), a Peppol BIS invoice of the corpus, and a signed
// XAdES B-B output (enveloped, ECDSA P-256; the self-check parses such bytes).
func BenchmarkParseRequestInputs(b *testing.B) {
	for _, in := range []struct {
		name string
		doc  func(*testing.B) []byte
	}{
		{"invoice", func(b *testing.B) []byte { return readFile(b, "../../testdata/documents/invoice.xml") }},
		{"peppol", func(b *testing.B) []byte { return corpusFile(b, "peppol-base-example.xml") }},
		{"signed-B-B", func(b *testing.B) []byte {
			// The golden file starts with a line naming the XPath of the signature: not part of the output.
			out := readFile(b, "../xades/testdata/golden/levels/enveloped-ecdsa-p256-B-B.xml")
			return out[bytes.IndexByte(out, '\n')+1:]
		}},
	} {
		b.Run(in.name, func(b *testing.B) { benchParse(b, in.doc(b)) })
	}
}

// BenchmarkTokensSignRequest is Tokens of a SOAP 1.2 SignRequest carrying the document dssbench
// signs in base64, as the bindings gate a request body (exchange.GateTokens).
func BenchmarkTokensSignRequest(b *testing.B) {
	env := readFile(b, "../../testdata/requests/soap12-sign-enveloped.xml")
	doc := readFile(b, "../../testdata/documents/invoice.xml")
	i := bytes.Index(env, []byte("<dsb:Value>")) + len("<dsb:Value>")
	j := bytes.Index(env, []byte("</dsb:Value>"))
	req := slices.Concat(env[:i], []byte(base64.StdEncoding.EncodeToString(doc)), env[j:])
	lim := EnvelopeLimits()
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Tokens(req, lim); err != nil {
			b.Fatal(err)
		}
	}
}
