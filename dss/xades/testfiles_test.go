package xades

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// File helpers shared by the unit tests and the verifier tests (interop_test.go, e2e tag).

func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// binaryData is non-XML content with a NUL, invalid UTF-8 and the tamper mark.
func binaryData() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\x00\xff\xfe binary TAMPER-MARK ")
	for i := range 300 {
		b.WriteByte(byte(i * 7))
	}
	return b.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
