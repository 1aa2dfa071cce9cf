package soap

import (
	"os"
	"path/filepath"
	"testing"

	"dssd/binding/internal/exchange"
)

// BenchmarkParseEnvelope measures the SOAP envelope parse and the DSS request decode from
// the gate's tokens (the gate itself runs once, outside the loop).
func BenchmarkParseEnvelope(b *testing.B) {
	for _, name := range []string{"soap12-sign-enveloped.xml", "soap12-verify.xml"} {
		b.Run(name, func(b *testing.B) {
			body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "requests", name))
			if err != nil {
				b.Fatal(err)
			}
			toks, err := exchange.GateTokens(body, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if p, _, f := parseEnvelope(toks, false, v12); p == nil || f != nil {
					b.Fatal(f)
				}
			}
		})
	}
}
