package main

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckoutRev: the baseline's sources are the files of the commit, written outside the
// repository.
func TestCheckoutRev(t *testing.T) {
	dir := t.TempDir()
	commit, err := checkoutRev(context.Background(), "../..", "HEAD", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(commit) != 40 {
		t.Errorf("commit %q is not a full id", commit)
	}
	for _, f := range []string{"go.mod", "cmd/dssd/main.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not checked out: %v", f, err)
		}
	}
	if _, err := checkoutRev(context.Background(), "../..", "no-such-revision-xyz", t.TempDir()); err == nil {
		t.Error("an unknown revision was accepted")
	}
}

// TestUntarStaysInside: an archive entry that climbs out of the directory is refused.
func TestUntarStaysInside(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	body := []byte("x")
	if err := tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	dir := t.TempDir()
	if err := untar(&b, filepath.Join(dir, "in")); err == nil || !strings.Contains(err.Error(), "leaves") {
		t.Fatalf("untar of ../escape: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Fatal("the entry was written outside")
	}

	// A symbolic link to the parent, then a file through it.
	b.Reset()
	tw = tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "up", Linkname: "..", Typeflag: tar.TypeSymlink}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "up/escape2", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	if err := untar(&b, filepath.Join(dir, "in2")); err == nil {
		t.Error("untar wrote a file through a symbolic link to the parent")
	}
	if _, err := os.Stat(filepath.Join(dir, "escape2")); err == nil {
		t.Fatal("the entry was written outside through a symbolic link")
	}
}

// TestCompareTargets: the before/after goals at concurrency 4 are judged on the ratios.
func TestCompareTargets(t *testing.T) {
	r := &Report{Valid: true, Compare: &Comparison{VmHWMRatio: 0.98, Points: []ComparePoint{
		{Key: "EC-P256", Concurrency: 4, CPURatio: 0.6, Candidate: CompareSide{OverRaw: 0.25}},
		{Key: "RSA-2048", Concurrency: 4, CPURatio: 0.85, Baseline: CompareSide{Errors: 1}},
		{Key: "RSA-2048", Concurrency: 1, CPURatio: 0.1},
	}}}
	got := map[string]bool{}
	r.compareTargets(func(name, want string, v float64, met bool) { got[name] = met })
	want := map[string]bool{
		"compare: dssd CPU/request EC-P256, candidate / baseline":  true,
		"compare: candidate e2e EC-P256 / raw PKCS#11 EC-P256":     true,
		"compare: dssd CPU/request RSA-2048, candidate / baseline": false,
		"compare: dssd peak RSS (VmHWM), candidate / baseline":     true,
	}
	for name, met := range want {
		if m, ok := got[name]; !ok || m != met {
			t.Errorf("%s: met %v (present %v), want %v", name, m, ok, met)
		}
	}
	if r.Valid || len(r.Problems) != 1 {
		t.Errorf("a point with errors must invalidate the run: valid %v, problems %q", r.Valid, r.Problems)
	}
}
