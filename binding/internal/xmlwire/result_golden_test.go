package xmlwire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/results")

// goldenDetail and goldenCause are the Detail and the internal cause of the error each golden
// Result is made from: the file shows whether the Kind exposes its Detail, and that the cause
// never reaches the wire.
const (
	goldenDetail = "the client-safe detail of the error"
	goldenCause  = "the internal cause, never on the wire"
)

// goldenResult is the golden file of Kind k: a comment naming the Kind and the ResultMessage
// of an error without Detail, then the dsb:Result of an error with a Detail and a cause, as
// the XML bindings write it.
func goldenResult(t *testing.T, k dss.Kind) []byte {
	t.Helper()
	var b bytes.Buffer
	bare := dss.ResultOf(&dss.Error{Kind: k}, "")
	fmt.Fprintf(&b, "<!-- dss.Kind %d (%s); the ResultMessage without a Detail: %q -->\n", int(k), k, bare.Message)
	r := dss.ResultOf(&dss.Error{Kind: k, Detail: goldenDetail, Err: errors.New(goldenCause)}, "request-id")
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.EncodeElement(resultToWire(r), xml.StartElement{Name: xml.Name{Space: NSBase, Local: "Result"}}); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func goldenName(k dss.Kind) string {
	return strings.ReplaceAll(strings.ToLower(k.String()), " ", "-") + ".xml"
}

// TestGoldenResults: the Result of every dss error Kind (the table of dss/result.go as the
// wire shows it) is the one in testdata/results, and validates against the DSS-X schema.
// Regenerate with: make golden-update (go test ./binding/internal/xmlwire -run TestGoldenResults -update).
func TestGoldenResults(t *testing.T) {
	dir := filepath.Join("testdata", "results")
	seen := map[string]bool{}
	for _, k := range dss.Kinds() {
		name := goldenName(k)
		if seen[name] {
			t.Fatalf("two kinds share the golden file %s", name)
		}
		seen[name] = true
		t.Run(strings.TrimSuffix(name, ".xml"), func(t *testing.T) {
			got := goldenResult(t, k)
			file := filepath.Join(dir, name)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Result differs from %s (run with -update after reviewing):\ngot:\n%s\nwant:\n%s", file, got, want)
			}
			if strings.Contains(string(got), goldenCause) {
				t.Errorf("the internal cause reached the wire:\n%s", got)
			}
			xsdtest.Validate(t, schemas.CoreXSD, want)
		})
	}
	// A file without a Kind is a Kind that was removed or renamed: the table changed.
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s belongs to no dss.Kind", f)
		}
	}
}
