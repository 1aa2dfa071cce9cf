package verify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeafPackage: dss/verify is a leaf (house-style.md §3): it imports neither dss nor a
// binding nor an hsm package, and nothing that does network I/O.
func TestLeafPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "dssd/dss/verify").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case dep == "dssd/dss", strings.HasPrefix(dep, "dssd/binding"), strings.HasPrefix(dep, "dssd/hsm"),
			strings.HasPrefix(dep, "dssd/cmd"), dep == "net/http", strings.HasPrefix(dep, "github.com/ThalesGroup"):
			t.Errorf("dss/verify depends on %s", dep)
		}
	}
}
