package dss

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the package layering of house-style.md §3 mechanically.
// "direct" rules look at a package's own imports, the others at everything it pulls in.
func TestDependencyDirection(t *testing.T) {
	rules := []struct {
		pkg       string
		direct    bool
		forbidden []string // import path prefixes; a trailing "$" means the exact path
	}{
		{"dssd/dss", false, []string{"net/http$", "dssd/binding", "dssd/dss/store", "dssd/dss/metrics", "dssd/hsm/pkcs11", "github.com/ThalesGroup/crypto11", "github.com/prometheus"}},
		{"dssd/dss", true, []string{"encoding/xml$", "github.com/beevik/etree"}},
		{"dssd/dss/xades", false, []string{"dssd/dss$", "dssd/binding", "dssd/hsm", "net/http$", "dssd/dss/verify", "github.com/russellhaering/goxmldsig"}},
		{"dssd/dss/verify", false, []string{"dssd/dss$", "dssd/binding", "dssd/hsm", "net/http$", "github.com/russellhaering/goxmldsig"}},
		// The XMLDSig core serves both dss/xades and dss/verify and depends on neither.
		{"dssd/dss/xmldsig", false, []string{"dssd/dss$", "dssd/binding", "dssd/hsm", "net/http$", "dssd/dss/xades", "dssd/dss/verify", "github.com/russellhaering/goxmldsig"}},
		{"dssd/dss/xmlsafe", false, []string{"dssd/dss$", "dssd/binding", "dssd/hsm", "net/http$"}},
		{"dssd/hsm", false, []string{"dssd/", "github.com/"}},
		{"dssd/binding/soap", true, []string{"dssd/hsm", "dssd/dss/xades", "dssd/dss/store", "github.com/ThalesGroup/crypto11"}},
		{"dssd/binding/httpxml", true, []string{"dssd/hsm", "dssd/dss/xades", "dssd/dss/store", "github.com/ThalesGroup/crypto11"}},
		{"dssd/binding/authn", true, []string{"dssd/hsm", "dssd/dss/xades", "dssd/dss/store"}},
		{"dssd/binding/oauth2", true, []string{"dssd/hsm", "dssd/dss/xades", "dssd/dss/store", "dssd/dss/sad", "github.com/ThalesGroup/crypto11"}},
		{"dssd/binding/csc", true, []string{"dssd/hsm", "dssd/dss/xades", "dssd/dss/store", "dssd/dss/sad", "github.com/ThalesGroup/crypto11"}},
	}
	for _, r := range rules {
		args := []string{"list", "-deps", r.pkg}
		if r.direct {
			args = []string{"list", "-f", `{{join .Imports "\n"}}`, r.pkg}
		}
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Fatalf("go %v: %v", args, err)
		}
		for _, dep := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if dep == r.pkg {
				continue
			}
			for _, f := range r.forbidden {
				exact := strings.HasSuffix(f, "$")
				p := strings.TrimSuffix(f, "$")
				if (exact && dep == p) || (!exact && strings.HasPrefix(dep, p)) {
					t.Errorf("%s imports %s (forbidden: %s)", r.pkg, dep, f)
				}
			}
		}
	}
}

// TestTestkitOnlyInTests: the test-support packages under internal/testkit (fakes, the
// schema validator, the store and HSM conformance suites, the test TSA) are imported by
// tests only, never by code that ships.
func TestTestkitOnlyInTests(t *testing.T) {
	const kit = "dssd/internal/testkit/"
	out, err := exec.Command("go", "list", "-tags", "softhsm,e2e,postgres", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "dssd/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 20 {
		t.Fatalf("go list listed %d packages", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if strings.HasPrefix(f[0], kit) {
			continue
		}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, kit) {
				t.Errorf("%s imports %s outside its tests", f[0], imp)
			}
		}
	}
}
