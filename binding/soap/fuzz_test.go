package soap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dssd/binding/internal/exchange"
)

// FuzzSOAPEnvelope: any input behind the gate either parses or yields a fault; no panic,
// no hang. Seeds are the SOAP requests of testdata/requests.
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
		if exchange.Gate(b, 1<<20) != nil {
			return
		}
		for _, peek := range []bool{false, true} {
			p, _, fl := parseEnvelope(b, peek, v12)
			if (p == nil) == (fl == nil) {
				t.Fatalf("parseEnvelope returned %v and %v", p, fl)
			}
			if fl != nil {
				if _, status, _ := faultMessage(v12, fl); status != 400 && status != 500 {
					t.Fatalf("fault status %d", status)
				}
			}
		}
	})
}
