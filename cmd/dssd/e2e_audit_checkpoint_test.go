//go:build e2e

package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevAuditCheckpoint: dev mode has an audit key and a checkpoint key, as production
// should: `dssd audit checkpoint --dev` signs the running server's chain head in the token,
// and `dssd audit verify --dev --checkpoint` confirms it while the server keeps appending.
func TestDevAuditCheckpoint(t *testing.T) {
	s := start(t)
	cp := filepath.Join(t.TempDir(), "checkpoint.json")
	out, err := exec.Command(s.bin, "audit", "checkpoint", "--dev", "--dev-dir", s.devDir, "--out", cp).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "checkpoint: seq ") {
		t.Fatalf("dssd audit checkpoint --dev: %v\n%s", err, out)
	}
	if o := signOnce(&node{url: s.dev.URL, client: s.client, token: s.token("alice")}, "after-checkpoint"); !o.ok {
		t.Fatalf("sign after the checkpoint: %+v", o)
	}
	out, err = exec.Command(s.bin, "audit", "verify", "--dev", "--dev-dir", s.devDir, "--checkpoint", cp).CombinedOutput()
	if err != nil {
		t.Fatalf("dssd audit verify --dev --checkpoint: %v\n%s", err, out)
	}
	for _, want := range []string{"mac: every record authenticated with the audit key, and the chain head", "confirmed", "chain: intact"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
