//go:build softhsm

package softhsm

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestInitCreatesAndReusesToken(t *testing.T) {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		t.Fatal("softhsm2-util is missing: apt-get install softhsm2")
	}
	dir := t.TempDir()
	tok, err := Init(dir, "dssd-test", "12345678", "98765432")
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if tok.Conf != filepath.Join(dir, "softhsm2.conf") || tok.Label != "dssd-test" {
		t.Fatalf("Init = %+v", tok)
	}
	if want, _ := ModulePath(); tok.Module != want || want == "" {
		t.Fatalf("Module = %q, want %q", tok.Module, want)
	}
	conf, err := os.ReadFile(tok.Conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "directories.tokendir = "+filepath.Join(dir, "tokens")+"\n") {
		t.Fatalf("conf does not point into the test directory:\n%s", conf)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "tokens"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("token directory holds %d entries (%v), want 1", len(entries), err)
	}

	// Idempotent: same label again reuses the token, even with other PINs.
	if _, err := Init(dir, "dssd-test", "other-so-pin", "other-pin"); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	// A second label adds a token.
	if _, err := Init(dir, "dssd-second", "12345678", "98765432"); err != nil {
		t.Fatalf("Init second label: %v", err)
	}
	labels, err := tok.Labels()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(labels)
	if want := []string{"dssd-second", "dssd-test"}; !slices.Equal(labels, want) {
		t.Fatalf("labels = %q, want %q", labels, want)
	}
}
