//go:build e2e

// End-to-end tests: a real `dssd serve --dev` process (SoftHSM2 token, development PKI, TLS on
// loopback) driven as an outside client would drive it, with hand-written DSS-X messages; every
// response is validated against the DSS-X 2.0 schema and every signature is verified by
// independent verifiers (xmlsec1, Apache Santuario, the JDK, xadesjs).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades/interop"
)

// devJSON is the contract of interface.md §2, read independently of the server's own types.
type devJSON struct {
	URL   string `json:"url"`
	CA    string `json:"ca"`
	Users []struct {
		Name        string `json:"name"`
		Token       string `json:"token"`
		Credentials []struct {
			ID   string `json:"id"`
			Key  string `json:"key"`
			SCAL int    `json:"scal"`
			Cert string `json:"cert"`
		} `json:"credentials"`
	} `json:"users"`
	TSA  string `json:"tsa"`
	OCSP string `json:"ocsp"`
}

// server is the dssd process shared by the tests of this file.
type server struct {
	bin, cli string // built binaries
	devDir   string
	dev      devJSON
	client   *http.Client
	work     string // scratch directory for signed files
}

var (
	srvOnce sync.Once
	srv     *server
	srvErr  error
	stopSrv func()
)

const (
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsDSS2   = "http://docs.oasis-open.org/dss-x/ns/core"
	nsDSB    = "http://docs.oasis-open.org/dss-x/ns/base"
	xadesURI = "http://uri.etsi.org/01903/v1.3.2#"
	dsigURI  = "urn:ietf:rfc:3275"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopSrv != nil {
		stopSrv()
	}
	os.Exit(code)
}

// start builds dssd and dss, starts `dssd serve --dev` on a free loopback port and waits
// until it is ready.
func start(t *testing.T) *server {
	t.Helper()
	srvOnce.Do(func() { srv, srvErr = startServer() })
	if srvErr != nil {
		t.Fatalf("starting dssd: %v", srvErr)
	}
	return srv
}

func startServer() (*server, error) {
	root, err := os.MkdirTemp("", "dssd-e2e-")
	if err != nil {
		return nil, err
	}
	s := &server{devDir: filepath.Join(root, "dev"), work: filepath.Join(root, "work")}
	if err := os.MkdirAll(s.work, 0o700); err != nil {
		return nil, err
	}
	s.bin = filepath.Join(root, "dssd")
	s.cli = filepath.Join(root, "dss")
	for out, pkg := range map[string]string{s.bin: ".", s.cli: "../dss"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, s.bin, "serve", "--dev", "--dev-dir", s.devDir, "--addr", addr)
	logf, err := os.Create(filepath.Join(root, "dssd.log"))
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	// exited is closed when dssd has exited (waitErr then holds why): both the start-up loop
	// and stopSrv wait on it, so a dssd that dies at start does not leave TestMain waiting.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopSrv = func() {
		cancel()
		<-exited
		logf.Close()
		os.RemoveAll(root)
	}
	fail := func(err error) (*server, error) {
		log, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("%v\n--- dssd log ---\n%s", err, log)
	}

	// First start creates the SoftHSM token, keys and PKI: allow it a minute.
	deadline := time.Now().Add(90 * time.Second)
	devPath := filepath.Join(s.devDir, "dev.json")
	for {
		select {
		case <-exited:
			return fail(fmt.Errorf("dssd exited: %v", waitErr))
		default:
		}
		if b, err := os.ReadFile(devPath); err == nil && json.Unmarshal(b, &s.dev) == nil && s.dev.CA != "" {
			if s.client == nil {
				pool := x509.NewCertPool()
				ca, err := os.ReadFile(s.dev.CA)
				if err != nil || !pool.AppendCertsFromPEM(ca) {
					return fail(fmt.Errorf("dev.json ca %q unusable: %v", s.dev.CA, err))
				}
				s.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				}}
			}
			if resp, err := s.client.Get(s.dev.URL + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("dssd not ready after 90 s"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if want := "https://" + addr; s.dev.URL != want {
		return fail(fmt.Errorf("dev.json url = %q, want %q", s.dev.URL, want))
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *server) token(user string) string {
	for _, u := range s.dev.Users {
		if u.Name == user {
			return u.Token
		}
	}
	return ""
}

// certFile writes the first certificate of a credential's PEM chain to its own file (what
// the verifiers are given as the signer's certificate) and returns its path.
func (s *server) certFile(t *testing.T, credID string) string {
	t.Helper()
	for _, u := range s.dev.Users {
		for _, c := range u.Credentials {
			if c.ID != credID {
				continue
			}
			b, err := os.ReadFile(c.Cert)
			if err != nil {
				t.Fatal(err)
			}
			blk, _ := pem.Decode(b)
			if blk == nil {
				t.Fatalf("%s: no PEM certificate", c.Cert)
			}
			out := filepath.Join(s.work, credID+"-cert.pem")
			if err := os.WriteFile(out, pem.EncodeToMemory(blk), 0o600); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("dev.json has no credential %q", credID)
	return ""
}

// binding is one way of sending a DSS request.
type binding int

const (
	viaSOAP12 binding = iota
	viaSOAP11
	viaPOST
)

func (b binding) String() string { return [...]string{"soap12", "soap11", "post"}[b] }

// send posts a DSS request element (XML text) through the binding and returns the HTTP
// status and the DSS response element as a standalone document.
func (s *server) send(t *testing.T, b binding, token, dssXML string) (int, []byte) {
	t.Helper()
	var body, path, ctype string
	switch b {
	case viaSOAP12:
		body = `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body>` + dssXML + `</soap:Body></soap:Envelope>`
		path, ctype = "/soap", "application/soap+xml; charset=utf-8"
	case viaSOAP11:
		body = `<soap:Envelope xmlns:soap="` + nsSOAP11 + `"><soap:Body>` + dssXML + `</soap:Body></soap:Envelope>`
		path, ctype = "/soap", "text/xml; charset=utf-8"
	case viaPOST:
		body, path, ctype = dssXML, "/sign", "application/xml"
	}
	status, raw := s.post(t, path, ctype, token, []byte(body))
	if b == viaPOST {
		return status, raw
	}
	return status, soapBodyChild(t, raw)
}

func (s *server) post(t *testing.T, path, ctype, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.dev.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// soapBodyChild returns the single Body child of a SOAP envelope as a standalone document,
// carrying the namespace declarations in scope.
func soapBodyChild(t *testing.T, raw []byte) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatalf("response is not XML: %v\n%s", err, raw)
	}
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" {
		t.Fatalf("response is not a SOAP envelope:\n%s", raw)
	}
	var body *etree.Element
	for _, c := range env.ChildElements() {
		if c.Tag == "Body" {
			body = c
		}
	}
	if body == nil || len(body.ChildElements()) != 1 {
		t.Fatalf("SOAP Body must hold exactly one element:\n%s", raw)
	}
	child := body.ChildElements()[0].Copy()
	for _, scope := range []*etree.Element{env, body} {
		for _, a := range scope.Attr {
			if (a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns")) && child.SelectAttr(a.FullKey()) == nil {
				child.CreateAttr(a.FullKey(), a.Value)
			}
		}
	}
	out := etree.NewDocument()
	out.SetRoot(child)
	b, err := out.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// result reads dsb:Result of a DSS response.
type result struct{ major, minor, message string }

func (r result) ok() bool { return strings.HasSuffix(r.major, ":Success") }

func parseResponse(t *testing.T, raw []byte) (*etree.Element, result) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatalf("DSS response is not XML: %v\n%s", err, raw)
	}
	root := doc.Root()
	res := find(root, nsDSB, "Result")
	if res == nil {
		t.Fatalf("DSS response without dsb:Result:\n%s", raw)
	}
	var r result
	if e := find(res, nsDSB, "ResultMajor"); e != nil {
		r.major = e.Text()
	}
	if e := find(res, nsDSB, "ResultMinor"); e != nil {
		r.minor = e.Text()
	}
	if e := find(res, nsDSB, "ResultMessage"); e != nil {
		r.message = e.Text()
	}
	return root, r
}

// find returns the first descendant-or-self element with the namespace and local name.
func find(e *etree.Element, ns, local string) *etree.Element {
	if e.Tag == local && e.NamespaceURI() == ns {
		return e
	}
	for _, c := range e.ChildElements() {
		if f := find(c, ns, local); f != nil {
			return f
		}
	}
	return nil
}

func findAll(e *etree.Element, ns, local string, out []*etree.Element) []*etree.Element {
	if e.Tag == local && e.NamespaceURI() == ns {
		out = append(out, e)
	}
	for _, c := range e.ChildElements() {
		out = findAll(c, ns, local, out)
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// validateResponses validates DSS response documents against the DSS-X 2.0 core schema in
// one xmllint run.
func validateResponses(t *testing.T, dir string, files []string) {
	t.Helper()
	if len(files) == 0 {
		return
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is missing: apt-get install libxml2-utils (make test installs it)")
	}
	args := append([]string{"--nonet", "--noout", "--schema", "../../schemas/oasis-dss-core-schema-v2.0.xsd"}, files...)
	out, err := exec.Command("xmllint", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("responses do not validate against the DSS-X 2.0 schema: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), " validates"); got != len(files) {
		t.Fatalf("xmllint validated %d of %d responses:\n%s", got, len(files), out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeOut(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// judge checks the verdicts of the independent verifiers on one case. Those that must judge:
// Santuario and the JDK always, xmlsec1 unless the algorithm is RSA-PSS (xmlsec1 1.2.37 lacks
// it), xadesjs for XAdES. Every verifier that judged must accept a valid signature and reject
// a tampered one.
func judge(t *testing.T, c interop.Case, vs []interop.Verdict, valid bool) {
	t.Helper()
	judged := map[string]bool{}
	for _, v := range vs {
		if !v.Skipped {
			judged[v.Verifier] = v.OK
		}
	}
	required := []string{interop.NameSantuario, interop.NameJDK}
	if !strings.Contains(c.Alg, "rsa-MGF1") {
		required = append(required, interop.NameXmlsec1)
	}
	if c.XAdES {
		required = append(required, interop.NameXadesjs)
	}
	for _, name := range required {
		if _, ok := judged[name]; !ok {
			t.Errorf("%s: %s did not judge it: %v", c.Name, name, vs)
		}
	}
	for name, ok := range judged {
		if valid && !ok {
			t.Errorf("%s: rejected by %s: %v", c.Name, name, vs)
		}
		if !valid && ok {
			t.Errorf("%s: tampered, yet accepted by %s: %v", c.Name, name, vs)
		}
	}
}
