package schemasrv_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"dssd/binding/schemasrv"
	"dssd/schemas"
)

// Every served schema, the metadata one with its imports rewritten, compiles offline from a
// directory holding only what the server serves.
func TestServedSchemasCompile(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found on PATH: install it (apt-get install libxml2-utils)")
	}
	srv := httptest.NewServer(schemasrv.New())
	defer srv.Close()
	dir := t.TempDir()
	entries, err := schemas.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var xsds []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".xsd") {
			continue
		}
		resp, err := srv.Client().Get(srv.URL + "/schemas/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", e.Name(), resp.StatusCode)
		}
		if strings.Contains(string(b), "https://docs.oasis-open.org/dss-x/dss-core") {
			t.Errorf("%s still imports by absolute URL", e.Name())
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		xsds = append(xsds, e.Name())
	}
	// An empty instance fails validation but proves the schema compiles; exit code 5 means
	// the schema itself did not compile.
	inst := filepath.Join(dir, "empty.xml")
	if err := os.WriteFile(inst, []byte("<x/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, x := range []string{schemas.CoreXSD, schemas.PendingXSD, schemas.MetadataXSD} {
		out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", filepath.Join(dir, x), inst).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 5 || strings.Contains(string(out), "failed to compile") {
			t.Errorf("%s does not compile:\n%s", x, out)
		}
	}
	if len(xsds) < 8 {
		t.Errorf("served %d schemas: %v", len(xsds), xsds)
	}
	for _, bad := range []string{"/schemas/dssd.wsdl", "/schemas/../go.mod", "/schemas/nope.xsd"} {
		resp, err := srv.Client().Get(srv.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, resp.StatusCode)
		}
	}
}
