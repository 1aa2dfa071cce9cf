package soap

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dssd/binding/internal/exchange"
	"dssd/binding/internal/xmlwire"
)

// FuzzSOAPEnvelope: any input behind the gate either parses or yields a fault; no panic,
// no hang; and the gate's recorded tokens decode to exactly what a decoder of the bytes
// decodes (request, version, fault). Seeds are the SOAP requests of testdata/requests.
func FuzzSOAPEnvelope(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "requests", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if base := filepath.Base(p); strings.Contains(base, "soap") || strings.HasPrefix(base, "bad-") {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		toks, err := exchange.GateTokens(b, 1<<20)
		if err != nil {
			return
		}
		for _, peek := range []bool{false, true} {
			p, v, fl := parseEnvelope(toks, peek, v12)
			if (p == nil) == (fl == nil) {
				t.Fatalf("parseEnvelope returned %v and %v", p, fl)
			}
			// The gate's tokens decode to what a decoder of the bytes reads.
			bp, bv, bfl := decodeEnvelope(xmlwire.NewDecoder(bytes.NewReader(exchange.StripBOM(b))), peek, v12)
			if !reflect.DeepEqual(p, bp) || v != bv || !reflect.DeepEqual(fl, bfl) {
				t.Fatalf("%q (peek %v): from tokens %+v %v %+v, from bytes %+v %v %+v", b, peek, p, v, fl, bp, bv, bfl)
			}
			if fl != nil {
				if _, status, _ := faultMessage(v12, fl); status != 400 && status != 500 {
					t.Fatalf("fault status %d", status)
				}
			}
		}
	})
}
