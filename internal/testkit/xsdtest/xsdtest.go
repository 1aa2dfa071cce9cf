// Package xsdtest validates XML produced in tests against the embedded DSS-X schemas with
// libxml2's xmllint (offline: --nonet). A missing xmllint fails the test.
package xsdtest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"dssd/schemas"
)

// Dir writes every embedded schema file into a fresh temporary directory and returns it.
func Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := schemas.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatalf("writing schemas: %v", err)
	}
	return dir
}

// Validate checks doc against the DSS-X core schema (schema is a file name in package
// schemas, e.g. schemas.CoreXSD or schemas.PendingXSD) and fails the test with xmllint's
// output when it is not valid.
func Validate(t testing.TB, schema string, doc []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found on PATH: install it (apt-get install libxml2-utils)")
	}
	dir := Dir(t)
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--nonet", "--noout", "--schema", filepath.Join(dir, schema), f).CombinedOutput()
	if err != nil {
		t.Fatalf("schema validation against %s failed: %v\n%s\ndocument:\n%s", schema, err, out, doc)
	}
}
