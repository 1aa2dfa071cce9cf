//go:build e2e

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades/interop"
)

// MTOM end to end: SOAP clients nobody here wrote (node-soap with forceMTOM, JAX-WS RI with
// wsimport's default settings and MTOMFeature) and the CLI send a binary file as an MTOM
// attachment; dssd streams it into the digest. For each, the detached Reference's digest is
// the SHA-256 of the file (computed here, independently), the independent verifiers accept the
// signature with the file as its detached data, and the request log shows an MTOM request
// whose attachment carried the whole file.

// randomFile writes n random bytes to dir/name and returns the path and its SHA-256.
func randomFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return writeOut(t, filepath.Join(dir, name), b), sum[:]
}

// checkDetachedDigest asserts that the signature in file has a Reference with URI uri whose
// DigestValue is sum (SHA-256).
func checkDetachedDigest(t *testing.T, file, uri string, sum []byte) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromFile(file); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, ref := range doc.FindElements("//Reference") {
		if ref.SelectAttrValue("URI", "") != uri {
			continue
		}
		dm := ref.FindElement("DigestMethod")
		dv := ref.FindElement("DigestValue")
		if dm == nil || dv == nil || dm.SelectAttrValue("Algorithm", "") != "http://www.w3.org/2001/04/xmlenc#sha256" {
			t.Fatalf("%s: Reference %q has no SHA-256 digest", file, uri)
		}
		if got := strings.TrimSpace(dv.Text()); got != base64.StdEncoding.EncodeToString(sum) {
			t.Fatalf("%s: Reference %q digest %s, want sha256 of the file %x", file, uri, got, sum)
		}
		return
	}
	t.Fatalf("%s: no Reference with URI %q", file, uri)
}

// logEvent returns the request log event of dssd whose request_id is rid.
func (s *server) logEvent(t *testing.T, rid string) map[string]any {
	t.Helper()
	b := readFile(t, filepath.Join(filepath.Dir(s.devDir), "dssd.log"))
	for _, line := range bytes.Split(b, []byte("\n")) {
		var ev map[string]any
		if json.Unmarshal(line, &ev) != nil || ev["msg"] != "request" || ev["request_id"] != rid {
			continue
		}
		return ev
	}
	t.Fatalf("no request log event for %q", rid)
	return nil
}

// checkMTOMLogged asserts that the request rid was MTOM and carried n attachment bytes.
func (s *server) checkMTOMLogged(t *testing.T, rid string, n int) {
	t.Helper()
	ev := s.logEvent(t, rid)
	if ev["mtom"] != true || ev["attachment_bytes"] != float64(n) {
		t.Errorf("request %s: logged mtom=%v attachment_bytes=%v, want an MTOM request of %d attachment bytes", rid, ev["mtom"], ev["attachment_bytes"], n)
	}
}

// TestMTOMNodeSoap: node-soap (npm "soap", pinned in testdata/clients/nodesoap) loads the
// WSDL and signs a binary file detached with forceMTOM over SOAP 1.2 (its root part labelled
// text/xml); the signature comes back as an MTOM attachment node-soap parses.
func TestMTOMNodeSoap(t *testing.T) {
	s := start(t)
	interop.Require(t)
	script, _ := filepath.Abs("../../testdata/clients/nodesoap/sign_mtom.js")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "soap")); err != nil {
		t.Fatal("node-soap is not installed: run bash .ci/deps.sh test")
	}
	dir := t.TempDir()
	file, sum := randomFile(t, dir, "payload.bin", 5<<20+123)
	out := filepath.Join(dir, "nodesoap.sig.xml")
	cmd := exec.Command("node", script, s.dev.URL, s.token("alice"), "alice-ec", file, "payload.bin", out)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+s.dev.CA, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node-soap: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "nodesoap-mtom urn:oasis:names:tc:dss:1.0:resultmajor:Success") {
		t.Fatalf("node-soap did not succeed:\n%s", b)
	}
	if !strings.Contains(string(b), "signature received as MTOM attachment") {
		t.Errorf("the answer to an MTOM request carried its signature inline:\n%s", b)
	}
	s.checkMTOMLogged(t, "nodesoap-mtom", 5<<20+123)
	checkDetachedDigest(t, out, "payload.bin", sum)
	verifyFiles(t, []interop.Case{{Name: "nodesoap-mtom", File: out, Cert: s.certFile(t, "alice-ec"), XAdES: true,
		Detached: map[string]string{"payload.bin": file}}})
}

// TestMTOMJAXWS: JAX-WS RI's wsimport reads the WSDL with its default settings (no
// -Djavax.xml.accessExternalSchema, no binding files); a small client compiled against the
// generated classes enables MTOM on the SOAP 1.1 port (MTOMFeature) and signs a binary file.
func TestMTOMJAXWS(t *testing.T) {
	s := start(t)
	interop.Require(t)
	for _, tool := range []string{"wsimport", "javac", "java", "keytool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run bash .ci/deps.sh test (Debian jaxws, default-jdk-headless)", tool)
		}
	}
	dir := t.TempDir()
	// The dev CA, for the JVM's TLS (a JVM setting, not a wsimport option).
	trust := filepath.Join(dir, "trust.p12")
	if b, err := exec.Command("keytool", "-importcert", "-noprompt", "-alias", "dssd-dev", "-file", s.dev.CA,
		"-keystore", trust, "-storetype", "PKCS12", "-storepass", "changeit").CombinedOutput(); err != nil {
		t.Fatalf("keytool: %v\n%s", err, b)
	}
	tls := "-Djavax.net.ssl.trustStore=" + trust + " -Djavax.net.ssl.trustStorePassword=changeit"
	src, classes := filepath.Join(dir, "src"), filepath.Join(dir, "classes")
	for _, d := range []string{src, classes} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("wsimport", "-keep", "-Xnocompile", "-s", src, "-d", classes, s.dev.URL+"/soap?wsdl")
	cmd.Env = append(os.Environ(), "JAVA_TOOL_OPTIONS="+tls)
	b, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(b, []byte("[ERROR]")) {
		t.Fatalf("wsimport with default settings: %v\n%s", err, b)
	}
	// wsimport's schema check cannot follow the one xml.xsd import (served by dssd itself,
	// read by the WSDL parser): that warning is expected; no DSS-X schema may be unreadable.
	for _, m := range regexp.MustCompile(`Failed to read schema document '([^']*)'`).FindAllSubmatch(b, -1) {
		if string(m[1]) != "xml.xsd" {
			t.Errorf("wsimport could not read %s:\n%s", m[1], b)
		}
	}
	javaSrc, _ := filepath.Abs("../../testdata/clients/jaxws/SignMTOM.java")
	var sources []string
	_ = filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".java") {
			sources = append(sources, p)
		}
		return nil
	})
	if len(sources) < 20 {
		t.Fatalf("wsimport generated %d classes:\n%s", len(sources), b)
	}
	cp := "/usr/share/jaxws/lib/*"
	args := append([]string{"-nowarn", "-cp", cp, "-d", classes, javaSrc}, sources...)
	if b, err := exec.Command("javac", args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	file, sum := randomFile(t, dir, "scan.tiff", 3<<20+7)
	out := filepath.Join(dir, "jaxws.sig.xml")
	run := exec.Command("java", "-Djavax.net.ssl.trustStore="+trust, "-Djavax.net.ssl.trustStorePassword=changeit",
		"-cp", classes+":"+cp, "SignMTOM", s.dev.URL, s.token("alice"), "alice-rsa", file, "scan.tiff", out)
	b, err = run.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "jaxws-mtom urn:oasis:names:tc:dss:1.0:resultmajor:Success") {
		t.Fatalf("JAX-WS client: %v\n%s", err, b)
	}
	s.checkMTOMLogged(t, "jaxws-mtom", 3<<20+7)
	checkDetachedDigest(t, out, "scan.tiff", sum)
	verifyFiles(t, []interop.Case{{Name: "jaxws-mtom", File: out, Cert: s.certFile(t, "alice-rsa"), XAdES: true,
		Detached: map[string]string{"scan.tiff": file}}})
}

// TestMTOMCLI: `dss sign --placement detached FILE` streams the file as an MTOM attachment;
// with stderr not a terminal it draws no progress bar.
func TestMTOMCLI(t *testing.T) {
	s := start(t)
	interop.Require(t)
	dir := t.TempDir()
	file, sum := randomFile(t, dir, "archive.tar", 8<<20+1)
	out := filepath.Join(dir, "archive.sig.xml")
	cmd := exec.Command(s.cli, "sign", "--dev", "--dev-dir", s.devDir, "--credential", "alice-rsa",
		"--placement", "detached", "--out", out, file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("dss sign: %v\n%s%s", err, stdout, stderr.Bytes())
	}
	if stderr.Len() != 0 {
		t.Errorf("dss sign wrote to a stderr that is not a terminal: %q", stderr.String())
	}
	checkDetachedDigest(t, out, "archive.tar", sum)
	verifyFiles(t, []interop.Case{{Name: "cli-mtom", File: out, Cert: s.certFile(t, "alice-rsa"), XAdES: true,
		Detached: map[string]string{"archive.tar": file}}})
	// The request ids of the CLI are random: find the MTOM event of this size.
	found := false
	for _, line := range bytes.Split(readFile(t, filepath.Join(filepath.Dir(s.devDir), "dssd.log")), []byte("\n")) {
		var ev map[string]any
		if json.Unmarshal(line, &ev) == nil && ev["msg"] == "request" && ev["mtom"] == true && ev["attachment_bytes"] == float64(8<<20+1) {
			found = true
		}
	}
	if !found {
		t.Error("no MTOM request of the file's size in the request log")
	}
}

// TestMTOMRefusedE2E: MTOM messages that name a missing attachment, carry one nobody names, or
// are cut short get a RequesterError naming the problem, and each refusal has its audit record.
func TestMTOMRefusedE2E(t *testing.T) {
	s := start(t)
	envelope := func(rid, cid string) string {
		return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="` + nsSOAP12 + `"><s:Body>` +
			`<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="` + rid + `">` +
			`<dss2:InputDocuments><dss2:Document ID="d" RefURI="d.bin"><dss2:Base64Data><dsb:Value>` +
			`<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:` + cid + `"/>` +
			`</dsb:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>` +
			`<dss2:OptionalInputs><dss2:KeySelector><dss2:KeyName>alice-rsa</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs>` +
			`</dss2:SignRequest></s:Body></s:Envelope>`
	}
	message := func(env string, parts map[string][]byte, cut int) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", `application/xop+xml; charset=UTF-8; type="application/soap+xml"`)
		h.Set("Content-ID", "<root@test>")
		w, _ := mw.CreatePart(h)
		io.WriteString(w, env)
		for cid, body := range parts {
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Transfer-Encoding", "binary")
			h.Set("Content-ID", "<"+cid+">")
			w, _ := mw.CreatePart(h)
			w.Write(body)
		}
		mw.Close()
		return b.Bytes()[:b.Len()-cut], `multipart/related; type="application/xop+xml"; boundary="` + mw.Boundary() +
			`"; start="<root@test>"; start-info="application/soap+xml"`
	}
	data := bytes.Repeat([]byte("data"), 4096)
	tests := []struct {
		rid, cid string
		parts    map[string][]byte
		cut      int
		msg      string
	}{
		{"mtom-missing", "a@test", map[string][]byte{}, 0, "which the message does not carry"},
		{"mtom-unreferenced", "a@test", map[string][]byte{"a@test": data, "b@test": data}, 0, "is not referenced by any xop:Include"},
		{"mtom-truncated", "a@test", map[string][]byte{"a@test": data}, 9000, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.rid, func(t *testing.T) {
			body, ct := message(envelope(tt.rid, tt.cid), tt.parts, tt.cut)
			req, _ := http.NewRequest(http.MethodPost, s.dev.URL+"/soap", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+s.token("alice"))
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("resultmajor:RequesterError")) || !bytes.Contains(b, []byte(tt.msg)) {
				t.Fatalf("status %d, want a RequesterError naming %q:\n%s", resp.StatusCode, tt.msg, b)
			}
			// The refusal's audit record (an "audit" line of the log with the RequestID).
			deadline := time.Now().Add(5 * time.Second)
			for {
				log := readFile(t, filepath.Join(filepath.Dir(s.devDir), "dssd.log"))
				if regexp.MustCompile(`"msg":"audit".*"major":"urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError".*"request_id":"` + tt.rid + `"`).Match(log) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no audit record of the refusal of %s", tt.rid)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
