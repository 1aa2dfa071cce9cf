package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"dssd/dss"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

const mdCore = "https://docs.oasis-open.org/dss-x/dss-core/v2.0/cs02/schema/"

func get(t *testing.T, srv *httptest.Server, path string, accept ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func newServer(t *testing.T, opts Options) *httptest.Server {
	mux := http.NewServeMux()
	h := New(opts)
	mux.Handle(Path, h)
	mux.Handle(LogoPath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

var fullOpts = Options{
	Levels: []string{dss.LevelBB, dss.LevelBT, dss.LevelBLT, dss.LevelBLTA}, TLSClientAuth: true,
	CSCMethods: []string{"info", "credentials/list", "signatures/signHash"},
}

func TestXMLValidates(t *testing.T) {
	for name, opts := range map[string]Options{"defaults": {}, "full": fullOpts} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, opts)
			for _, accept := range [][]string{nil, {"application/xml"}, {"text/html, */*;q=0.8"}, {"application/json;q=0.5, application/xml"}} {
				resp, b := get(t, srv, Path, accept...)
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/xml; charset=utf-8" {
					t.Fatalf("Accept %v: %d %s", accept, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				validateXMLWithLocalSchemas(t, b)
			}
		})
	}
}

// validateXMLWithLocalSchemas validates doc against the DSS-X metadata schema with xmllint,
// offline: the schema's absolute imports of the core schemas are rewritten to the sibling
// files (as binding/schemasrv serves them), among the embedded schema files.
func validateXMLWithLocalSchemas(t *testing.T, doc []byte) {
	t.Helper()
	dir := xsdtest.Dir(t)
	b, err := schemas.FS.ReadFile(schemas.MetadataXSD)
	if err != nil || !bytes.Contains(b, []byte(mdCore)) {
		t.Fatalf("the metadata schema no longer imports the core schemas from %s (%v)", mdCore, err)
	}
	if err := os.WriteFile(filepath.Join(dir, schemas.MetadataXSD), bytes.ReplaceAll(b, []byte(mdCore), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "md.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found on PATH: install it (apt-get install libxml2-utils)")
	}
	out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", filepath.Join(dir, schemas.MetadataXSD), f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "validates") {
		t.Fatalf("md:Provider does not validate against the DSS-X metadata schema: %v\n%s\n%s", err, out, doc)
	}
}

func TestXMLContent(t *testing.T) {
	srv := newServer(t, fullOpts)
	_, b := get(t, srv, Path)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.Tag != "Provider" || root.NamespaceURI() != NS {
		t.Fatalf("root is {%s}%s", root.NamespaceURI(), root.Tag)
	}
	text := func(path string) []string {
		var out []string
		for _, e := range root.FindElements(path) {
			out = append(out, e.Text())
		}
		return out
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	checks := []struct {
		path string
		want []string
	}{
		{"./Name", []string{"dssd"}},
		{"./Logo", []string{"https://" + host + LogoPath}},
		{"./Region", []string{"ZZ"}},
		{"./Protocol/Profile/ProfileIdentifier", []string{ProfileDSSX, ProfileCSC}},
		{"./Protocol[1]/Profile/Operation/Name", []string{"sign", "verify", "retrievePending"}},
		{"./Protocol[1]/Profile/Operation[1]/Option[Name='SignatureType']/Format/FormatID", []string{dss.TypeXAdES, dss.TypeXMLDSig}},
		{"./Protocol[1]/Profile/Operation[1]/Option[Name='Profile']/Format/FormatID", []string{dss.LevelBB, dss.LevelBLT, dss.LevelBLTA, dss.LevelBT}},
		{"./Protocol[1]/Profile/Operation[1]/Option[Name='AddTimestamp']/Format/FormatID", []string{dss.TimestampRFC3161}},
		{"./Protocol[1]/Profile/Operation[1]/Option[Name='ClaimedIdentity']/Format/FormatID", []string{"application/jwt"}},
		{"./Protocol[1]/Profile/Operation[1]/Extension/Name", []string{"SADTransport", "SignerCertificate", "Authentication"}},
		{"./Protocol[2]/Profile/Operation/Name", []string{"/csc/v2/info", "/csc/v2/credentials/list", "/csc/v2/signatures/signHash"}},
	}
	for _, c := range checks {
		if got := text(c.path); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %q, want %q", c.path, got, c.want)
		}
	}
	sad := root.FindElement("./Protocol[1]/Profile/Operation[1]/Extension[Name='SADTransport']/Value").Text()
	for _, must := range []string{"ClaimedIdentity", "SupportingInfo", "application/jwt", "/csc/v2/credentials/authorize"} {
		if !strings.Contains(sad, must) {
			t.Errorf("the SAD transport text lacks %q: %s", must, sad)
		}
	}
	if d := root.FindElement("./Description"); d == nil || d.SelectAttrValue("xml:lang", "") != "en" {
		t.Error("Description without xml:lang")
	}
	// The defaults list B-B only and no AddTimestamp.
	_, b = get(t, newServer(t, Options{}), Path)
	if bytes.Contains(b, []byte(dss.LevelBT)) || bytes.Contains(b, []byte("AddTimestamp")) || bytes.Contains(b, []byte(ProfileCSC)) {
		t.Errorf("defaults advertise more than B-B:\n%s", b)
	}
}

func TestJSON(t *testing.T) {
	schema := loadSchemas(t)
	for name, opts := range map[string]Options{"defaults": {}, "full": fullOpts} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, opts)
			for _, accept := range []string{"application/json", "application/xml;q=0.4, application/json"} {
				resp, b := get(t, srv, Path, accept)
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Vary") != "Accept" {
					t.Fatalf("Accept %q: %d %v", accept, resp.StatusCode, resp.Header)
				}
				var v any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatal(err)
				}
				if errs := schema.validate(v, schema.root, "$"); len(errs) > 0 {
					t.Fatalf("JSON metadata does not follow oasis-dss-metadata-schema.json:\n%s\n%s", strings.Join(errs, "\n"), b)
				}
				svc := v.(map[string]any)["service"].(map[string]any)
				if svc["name"] != "dssd" || len(svc["protocol"].([]any)) == 0 {
					t.Errorf("service = %v", svc)
				}
			}
		})
	}
}

// The validator itself rejects what the schema rejects (and misspelt members).
func TestJSONValidatorRejects(t *testing.T) {
	schema := loadSchemas(t)
	for _, doc := range []string{
		`{"service":{"name":"x","logo":"l","region":"ZZ"}}`,                                             // no protocol
		`{"service":{"name":"x","logo":"l","region":"ZZ","protocol":[{"profile":[{"pid":"p"}]}]}}`,      // no op
		`{"service":{"name":"x","logo":"l","region":"ZZ","desc":[],"protocol":[]}}`,                     // misspelt member
		`{"service":{"name":"x","logo":"l","region":"ZZ","description":[{"value":"v"}],"protocol":[]}}`, // lang missing
		`{"service":{"name":1,"logo":"l","region":"ZZ","protocol":[]}}`,                                 // wrong type
	} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if errs := schema.validate(v, schema.root, "$"); len(errs) == 0 {
			t.Errorf("accepted %s", doc)
		}
	}
}

func TestHTTP(t *testing.T) {
	srv := newServer(t, Options{})
	resp, b := get(t, srv, LogoPath)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("logo: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+Path, nil)
	r, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %q", r.StatusCode, r.Header.Get("Allow"))
	}
	if got := SafeHost(`evil"><x>`); got != "localhost" {
		t.Errorf("safeHost accepted markup: %q", got)
	}
	if got := SafeHost("127.0.0.1:8443"); got != "127.0.0.1:8443" {
		t.Errorf("safeHost(127.0.0.1:8443) = %q", got)
	}
}

func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "application/json": true, "application/xml": false, "*/*": false,
		"application/json, application/xml": false, "application/json, application/xml;q=0.9": true,
		"application/json;q=0": false, "text/html, application/json": true, "garbage;;": false,
	} {
		var in []string
		if accept != "" {
			in = []string{accept}
		}
		if got := wantsJSON(in); got != want {
			t.Errorf("wantsJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

// jsonSchema is the small draft-04 subset the DSS-X JSON schemas use: type, properties,
// required, items and $ref (local and into the core schema). It is stricter than the
// schemas in one way: members not declared in properties are errors, since the schemas
// (which lack additionalProperties) would let a misspelt short name pass silently.
type jsonSchema struct {
	root map[string]any
	core map[string]any
}

func loadSchemas(t *testing.T) *jsonSchema {
	t.Helper()
	load := func(name string) map[string]any {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return &jsonSchema{root: load("oasis-dss-metadata-schema.json"), core: load("oasis-dss-core-schema.json")}
}

func (s *jsonSchema) resolve(ref string) map[string]any {
	doc := s.root
	if i := strings.Index(ref, "#"); i > 0 {
		if !strings.HasSuffix(ref[:i], "/oasis-dss-core-schema.json") {
			return nil
		}
		doc, ref = s.core, ref[i:]
	}
	name := strings.TrimPrefix(ref, "#/definitions/")
	def, _ := doc["definitions"].(map[string]any)[name].(map[string]any)
	if def != nil {
		if r, ok := def["$ref"].(string); ok {
			return s.resolve(r)
		}
	}
	return def
}

func (s *jsonSchema) validate(v any, sch map[string]any, path string) []string {
	if r, ok := sch["$ref"].(string); ok {
		def := s.resolve(r)
		if def == nil {
			return []string{path + ": unresolvable $ref " + r}
		}
		return s.validate(v, def, path)
	}
	var errs []string
	switch typ, _ := sch["type"].(string); typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{path + ": not an object"}
		}
		props, _ := sch["properties"].(map[string]any)
		req, _ := sch["required"].([]any)
		for _, r := range req {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required member %s missing", path, r))
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, ok := props[k].(map[string]any)
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: member %s is not defined by the schema", path, k))
				continue
			}
			errs = append(errs, s.validate(m[k], p, path+"."+k)...)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return []string{path + ": not an array"}
		}
		items, _ := sch["items"].(map[string]any)
		for i, e := range a {
			errs = append(errs, s.validate(e, items, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case "string":
		if _, ok := v.(string); !ok {
			errs = append(errs, path+": not a string")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			errs = append(errs, path+": not a boolean")
		}
	case "":
	default:
		errs = append(errs, path+": schema type "+typ+" not handled by this validator")
	}
	return errs
}
