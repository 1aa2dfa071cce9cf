// Package interop runs independent XML signature verifiers over signed files:
// xmlsec1 (libxmlsec1 with OpenSSL), Apache Santuario and the JDK's
// javax.xml.crypto.dsig (one Java program, testdata/verifiers/santuario/Verify.java)
// and xadesjs (testdata/verifiers/xadesjs/verify.mjs). Tests use it to show that
// what dss/xades produces verifies elsewhere, and that tampered copies do not.
//
// Every verifier is handed the signer certificate and must verify with its key;
// the Java and node verifiers also require it to be the first KeyInfo
// certificate, and xmlsec1 gets it as its only key.
//
// Batching keeps tests fast: VerifyAll starts one Java process and one node
// process for all cases and runs xmlsec1 (about 40 ms a call, mostly start-up)
// once per case, two at a time.
//
// Known limits, reported as skipped verdicts rather than failures: xmlsec1
// 1.2.37 has no RSA-PSS, and xadesjs 2.6.8 has no c14n 1.1.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Verifier names used in Verdict.Verifier.
const (
	NameXmlsec1   = "xmlsec1"
	NameSantuario = "santuario"
	NameJDK       = "jdk"
	NameXadesjs   = "xadesjs"
)

// Java class path for the Java verifiers (Debian package paths).
var javaJars = []struct{ path, pkg string }{
	{"/usr/share/java/xmlsec.jar", "libxml-security-java"},
	{"/usr/share/java/commons-codec.jar", "libcommons-codec-java"},
	{"/usr/share/java/slf4j-api.jar", "libslf4j-java"},
	{"/usr/share/java/bcprov.jar", "libbcprov-java"}, // Santuario 2.1.7 needs it for sha*-rsa-MGF1
}

// Case is one signed file to verify.
type Case struct {
	Name        string            // unique within a batch
	File        string            // the signed XML file (a ds:Signature document or a document containing one)
	Cert        string            // PEM file of the signer certificate
	Detached    map[string]string // Reference URI -> file holding the detached content
	XAdES       bool              // the signature is XAdES (xmlsec1 then registers SignedProperties/@Id as an ID)
	Alg         string            // SignatureMethod URI
	SignatureID string            // Id of the ds:Signature to verify; empty: the only ds:Signature in File
}

// Verdict is one verifier's judgement of one case.
type Verdict struct {
	Verifier string
	OK       bool
	Skipped  bool   // the verifier cannot judge this case (Output says why); OK is false
	Output   string // the verifier's message (trimmed)
}

func (v Verdict) String() string {
	switch {
	case v.Skipped:
		return fmt.Sprintf("%s: skipped (%s)", v.Verifier, v.Output)
	case v.OK:
		return fmt.Sprintf("%s: valid", v.Verifier)
	default:
		return fmt.Sprintf("%s: INVALID: %s", v.Verifier, v.Output)
	}
}

// VerifiersDir returns <module root>/testdata/verifiers, found by walking up
// from the working directory to go.mod.
func VerifiersDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "verifiers"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("interop: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Missing lists what the verifiers need and is not installed, each with the
// way to get it. Empty means all four verifiers can run.
func Missing() []string {
	var miss []string
	for _, t := range []struct{ cmd, pkg string }{{"xmlsec1", "xmlsec1"}, {"java", "default-jre-headless"}, {"node", "nodejs"}} {
		if _, err := exec.LookPath(t.cmd); err != nil {
			miss = append(miss, fmt.Sprintf("%s (apt-get install %s)", t.cmd, t.pkg))
		}
	}
	for _, j := range javaJars {
		if _, err := os.Stat(j.path); err != nil {
			miss = append(miss, fmt.Sprintf("%s (apt-get install %s)", j.path, j.pkg))
		}
	}
	dir, err := VerifiersDir()
	if err != nil {
		return append(miss, err.Error())
	}
	if _, err := os.Stat(filepath.Join(dir, "xadesjs", "node_modules", "xadesjs", "package.json")); err != nil {
		miss = append(miss, fmt.Sprintf("xadesjs node_modules (run: cd %s && npm ci)", filepath.Join("testdata", "verifiers", "xadesjs")))
	}
	return miss
}

// Require fails the test at once, naming every missing tool or package, when
// a verifier cannot run. It never skips.
func Require(t testing.TB) {
	t.Helper()
	if miss := Missing(); len(miss) > 0 {
		t.Fatalf("independent verifiers unavailable; install: %s", strings.Join(miss, "; "))
	}
}

// VerifyAll runs every verifier on every case and returns the verdicts by
// case name, in the order xmlsec1, santuario, jdk, xadesjs.
func VerifyAll(ctx context.Context, cases []Case) (map[string][]Verdict, error) {
	if err := checkNames(cases); err != nil {
		return nil, err
	}
	var (
		wg              sync.WaitGroup
		javaV, nodeV    map[string][]Verdict
		javaErr, nodeEr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		javaV, javaErr = runJava(ctx, cases, []string{NameSantuario, NameJDK})
	}()
	go func() {
		defer wg.Done()
		var m map[string]Verdict
		m, nodeEr = Xadesjs(ctx, cases)
		nodeV = map[string][]Verdict{}
		for k, v := range m {
			nodeV[k] = []Verdict{v}
		}
	}()
	xv := make([]Verdict, len(cases))
	sem := make(chan struct{}, 2)
	var xwg sync.WaitGroup
	for i, c := range cases {
		xwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; xwg.Done() }()
			xv[i] = Xmlsec1(ctx, c)
		}()
	}
	xwg.Wait()
	wg.Wait()
	if err := errors.Join(javaErr, nodeEr); err != nil {
		return nil, err
	}
	out := make(map[string][]Verdict, len(cases))
	for i, c := range cases {
		vs := []Verdict{xv[i]}
		vs = append(vs, javaV[c.Name]...)
		vs = append(vs, nodeV[c.Name]...)
		out[c.Name] = vs
	}
	return out, nil
}

func checkNames(cases []Case) error {
	seen := map[string]bool{}
	for _, c := range cases {
		if c.Name == "" || strings.ContainsAny(c.Name, "\t\r\n") || seen[c.Name] {
			return fmt.Errorf("interop: case names must be unique and free of tabs and newlines: %q", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// isPSS reports whether alg is an RSA-PSS SignatureMethod.
func isPSS(alg string) bool {
	return strings.HasSuffix(alg, "-rsa-MGF1") || strings.HasSuffix(alg, "#rsa-pss")
}

// Xmlsec1 verifies one case with xmlsec1, judged by its exit code (it
// prints certificate-chain complaints about KeyInfo and still exits 0 when
// the signature verifies with the given key). The signer certificate is
// loaded as its key; a certificate for another key makes it fail.
func Xmlsec1(ctx context.Context, c Case) Verdict {
	v := Verdict{Verifier: NameXmlsec1}
	if isPSS(c.Alg) {
		v.Skipped, v.Output = true, "xmlsec1 1.2.37 has no RSA-PSS"
		return v
	}
	args := []string{"--verify", "--pubkey-cert-pem", c.Cert,
		"--id-attr:Id", "Signature", "--id-attr:Id", "Object"}
	if c.XAdES {
		args = append(args, "--id-attr:Id", "SignedProperties")
	}
	if c.SignatureID != "" {
		args = append(args, "--node-id", c.SignatureID)
	}
	uris := make([]string, 0, len(c.Detached))
	for u := range c.Detached {
		uris = append(uris, u)
	}
	sort.Strings(uris)
	for _, u := range uris {
		args = append(args, "--url-map:"+u, c.Detached[u])
	}
	args = append(args, c.File)
	cmd := exec.CommandContext(ctx, "xmlsec1", args...)
	out, err := cmd.CombinedOutput()
	v.Output = strings.TrimSpace(string(out))
	var ee *exec.ExitError
	switch {
	case err == nil:
		v.OK = true
	case errors.As(err, &ee):
		v.OK = false
	default:
		v.Output = "xmlsec1 did not run: " + err.Error()
	}
	return v
}

// Santuario verifies the cases with Apache Santuario in one Java process.
func Santuario(ctx context.Context, cases []Case) (map[string]Verdict, error) {
	return single(runJava(ctx, cases, []string{NameSantuario}))
}

// JDK verifies the cases with javax.xml.crypto.dsig in one Java process.
func JDK(ctx context.Context, cases []Case) (map[string]Verdict, error) {
	return single(runJava(ctx, cases, []string{NameJDK}))
}

// SantuarioAndJDK verifies the cases with Apache Santuario and the JDK in one Java process:
// two verdicts per case, Santuario's first.
func SantuarioAndJDK(ctx context.Context, cases []Case) (map[string][]Verdict, error) {
	return runJava(ctx, cases, []string{NameSantuario, NameJDK})
}

func single(m map[string][]Verdict, err error) (map[string]Verdict, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[string]Verdict, len(m))
	for k, v := range m {
		out[k] = v[0]
	}
	return out, nil
}

// runJava runs Verify.java once for all cases and the named verifiers.
func runJava(ctx context.Context, cases []Case, verifiers []string) (map[string][]Verdict, error) {
	if err := checkNames(cases); err != nil {
		return nil, err
	}
	if len(cases) == 0 {
		return map[string][]Verdict{}, nil
	}
	dir, err := VerifiersDir()
	if err != nil {
		return nil, err
	}
	var man bytes.Buffer
	for _, c := range cases {
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		sigID := c.SignatureID
		if sigID == "" {
			sigID = "-"
		}
		fields := []string{c.Name, abs(c.File), abs(c.Cert), sigID, strings.Join(verifiers, ",")}
		for u, f := range c.Detached {
			if strings.ContainsAny(u, "\t\r\n") {
				return nil, fmt.Errorf("interop: detached uri %q has a tab or newline", u)
			}
			fields = append(fields, u, abs(f))
		}
		man.WriteString(strings.Join(fields, "\t") + "\n")
	}
	manifest, err := writeManifest(cases, "manifest-*.tsv", man.Bytes())
	if err != nil {
		return nil, err
	}
	defer os.Remove(manifest)
	cp := make([]string, len(javaJars))
	for i, j := range javaJars {
		cp[i] = j.path
	}
	cmd := exec.CommandContext(ctx, "java", "-cp", strings.Join(cp, string(os.PathListSeparator)),
		filepath.Join(dir, "santuario", "Verify.java"), manifest)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("interop: java verifier: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	res := map[string][]Verdict{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 5)
		if len(f) != 5 || f[0] != "RESULT" {
			continue
		}
		res[f[2]] = append(res[f[2]], Verdict{Verifier: f[1], OK: f[3] == "OK", Output: f[4]})
	}
	for _, c := range cases {
		if len(res[c.Name]) != len(verifiers) {
			return nil, fmt.Errorf("interop: java verifier gave %d verdicts for %q, want %d; stderr: %s", len(res[c.Name]), c.Name, len(verifiers), strings.TrimSpace(stderr.String()))
		}
	}
	return res, nil
}

// Xadesjs verifies the cases with xadesjs in one node process. Signatures
// using c14n 1.1, which xadesjs does not implement, are skipped.
func Xadesjs(ctx context.Context, cases []Case) (map[string]Verdict, error) {
	if err := checkNames(cases); err != nil {
		return nil, err
	}
	dir, err := VerifiersDir()
	if err != nil {
		return nil, err
	}
	type jcase struct {
		Name        string            `json:"name"`
		File        string            `json:"file"`
		Cert        string            `json:"cert"`
		Alg         string            `json:"alg,omitempty"`
		SignatureID string            `json:"signatureId,omitempty"`
		Detached    map[string]string `json:"detached,omitempty"`
	}
	res := map[string]Verdict{}
	var js []jcase
	for _, c := range cases {
		b, err := os.ReadFile(c.File)
		if err != nil {
			return nil, err
		}
		if bytes.Contains(b, []byte("http://www.w3.org/2006/12/xml-c14n11")) {
			res[c.Name] = Verdict{Verifier: NameXadesjs, Skipped: true, Output: "xadesjs 2.6.8 has no c14n 1.1"}
			continue
		}
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		jc := jcase{Name: c.Name, File: abs(c.File), Cert: abs(c.Cert), Alg: c.Alg, SignatureID: c.SignatureID}
		if len(c.Detached) > 0 {
			jc.Detached = map[string]string{}
			for u, f := range c.Detached {
				jc.Detached[u] = abs(f)
			}
		}
		js = append(js, jc)
	}
	if len(js) == 0 {
		return res, nil
	}
	b, err := json.Marshal(js)
	if err != nil {
		return nil, err
	}
	manifest, err := writeManifest(cases, "manifest-*.json", b)
	if err != nil {
		return nil, err
	}
	defer os.Remove(manifest)
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "xadesjs", "verify.mjs"), manifest)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("interop: xadesjs verifier: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Output string `json:"output"`
		}
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("interop: xadesjs output: %w", err)
		}
		res[r.Name] = Verdict{Verifier: NameXadesjs, OK: r.OK, Output: r.Output}
	}
	for _, c := range cases {
		if _, ok := res[c.Name]; !ok {
			return nil, fmt.Errorf("interop: no xadesjs verdict for %q; stderr: %s", c.Name, strings.TrimSpace(stderr.String()))
		}
	}
	return res, nil
}

// writeManifest writes a manifest next to the first case's file (a test's
// temporary directory), so that nothing lands in a shared location.
func writeManifest(cases []Case, pattern string, b []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(cases[0].File), pattern)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}
