//go:build e2e

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/dss/xades/interop"
)

// verifyFiles runs the independent verifiers on signatures produced outside the matrix and
// requires that at least two of them judge and all that judge accept.
func verifyFiles(t *testing.T, cases []interop.Case) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], true)
	}
}

// TestCLISign: after `dssd serve --dev`, `dss sign --dev --credential alice-rsa|alice-ec FILE`
// writes a signature beside the file that the independent verifiers accept; `dss info --dev`
// lists the user's credentials.
func TestCLISign(t *testing.T) {
	s := start(t)
	interop.Require(t)
	dir := t.TempDir()
	doc := writeOut(t, filepath.Join(dir, "invoice.xml"), readFile(t, "../../testdata/documents/invoice.xml"))
	var cases []interop.Case
	for _, cred := range []string{"alice-rsa", "alice-ec"} {
		cmd := exec.Command(s.cli, "sign", "--dev", "--credential", cred, "--out", filepath.Join(dir, cred+".signed.xml"), doc)
		cmd.Env = append(os.Environ(), "DSSD_DEV_DIR="+s.devDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dss sign --credential %s: %v\n%s", cred, err, out)
		}
		cases = append(cases, interop.Case{Name: "cli-" + cred, File: filepath.Join(dir, cred+".signed.xml"), Cert: s.certFile(t, cred), XAdES: true})
	}
	// The default output name: beside the file.
	cmd := exec.Command(s.cli, "sign", "--dev", "--dev-dir", s.devDir, "--credential", "alice-rsa", "--format", "xmldsig", doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dss sign: %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "invoice.xml.*"))
	if len(matches) != 1 {
		t.Fatalf("dss sign wrote %v beside the file, want one file", matches)
	}
	cases = append(cases, interop.Case{Name: "cli-default-out", File: matches[0], Cert: s.certFile(t, "alice-rsa")})
	verifyFiles(t, cases)

	out, err := exec.Command(s.cli, "info", "--dev", "--dev-dir", s.devDir).CombinedOutput()
	if err != nil {
		t.Fatalf("dss info: %v\n%s", err, out)
	}
	for _, want := range []string{"alice-rsa", "alice-ec", "alice-qes"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dss info does not list %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "bob-rsa") {
		t.Errorf("dss info for alice lists bob's credential:\n%s", out)
	}
}

// TestReadmeCurl: the curl command of the README signs over SOAP 1.2.
func TestReadmeCurl(t *testing.T) {
	s := start(t)
	interop.Require(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: apt-get install curl")
	}
	// The README's command, with the URL, CA and token of this server.
	out, err := exec.Command("curl", "-sS", "--fail-with-body", "--cacert", s.dev.CA,
		"-H", "Authorization: Bearer "+s.token("alice"),
		"-H", "Content-Type: application/soap+xml; charset=utf-8",
		"--data-binary", "@../../testdata/requests/soap12-sign-enveloped.xml",
		s.dev.URL+"/soap").Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	body := soapBodyChild(t, out)
	root, r := parseResponse(t, body)
	if !r.ok() {
		t.Fatalf("README request failed: %s %s %s", r.major, r.minor, r.message)
	}
	dir := t.TempDir()
	validateResponses(t, dir, []string{writeOut(t, filepath.Join(dir, "resp.xml"), body)})
	signedDoc := decodeValue(t, find(root, nsDSS2, "DocumentWithSignature"))
	verifyFiles(t, []interop.Case{{Name: "readme-curl", File: writeOut(t, filepath.Join(dir, "signed.xml"), signedDoc), Cert: s.certFile(t, "alice-rsa"), XAdES: true}})
}

// TestZeepClient: python3-zeep, an independent SOAP client, loads the WSDL from the running
// service and signs over SOAP 1.2 and 1.1.
func TestZeepClient(t *testing.T) {
	s := start(t)
	interop.Require(t)
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import zeep").CombinedOutput(); err != nil {
		t.Fatalf("python3-zeep is missing (apt-get install python3-zeep): %v\n%s", err, out)
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "zeep")
	cmd := exec.Command(py, "../../testdata/clients/zeep_sign.py", s.dev.URL, s.dev.CA, s.token("alice"), "alice-ec",
		"../../testdata/documents/invoice.xml", prefix)
	cmd.Env = append(os.Environ(), "HOME="+dir, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zeep: %v\n%s", err, out)
	}
	for _, v := range []string{"soap12", "soap11"} {
		if !strings.Contains(string(out), "zeep-"+v+" urn:oasis:names:tc:dss:1.0:resultmajor:Success") {
			t.Fatalf("zeep %s did not succeed:\n%s", v, out)
		}
	}
	verifyFiles(t, []interop.Case{
		{Name: "zeep-soap12", File: prefix + "-soap12.xml", Cert: s.certFile(t, "alice-ec"), XAdES: true},
		{Name: "zeep-soap11", File: prefix + "-soap11.xml", Cert: s.certFile(t, "alice-ec"), XAdES: true},
	})
}

// TestCLISCAL2: the README's SCAL2 flow, `dss sign --dev --credential alice-qes FILE`: the CLI
// authorizes the document's hash with the PIN and the current TOTP code from dev.json, then
// signs with the SAD; the signature verifies. Each TOTP code is accepted once, so when another
// test of this process already spent the current step, the CLI is run again in the next one.
func TestCLISCAL2(t *testing.T) {
	s := start(t)
	interop.Require(t)
	dir := t.TempDir()
	doc := writeOut(t, filepath.Join(dir, "contract.xml"), readFile(t, "../../testdata/documents/invoice.xml"))
	out := filepath.Join(dir, "contract-qes.xml")
	var b []byte
	var err error
	// The CLI spends the current TOTP step: reserve it (and the next, should the run cross a step
	// boundary) so that the other SCAL2 tests of this process pick other steps (freshOTP).
	reserve := func(at time.Time) {
		otpMu.Lock()
		defer otpMu.Unlock()
		for _, d := range []time.Duration{0, 30 * time.Second} {
			otpUsed[fmt.Sprintf("%s|%s|%d", s.target().cfg, "alice-qes", at.Add(d).Unix()/30)] = true
		}
	}
	for attempt := 0; attempt < 3; attempt++ {
		reserve(time.Now())
		b, err = exec.Command(s.cli, "sign", "--dev", "--dev-dir", s.devDir, "--credential", "alice-qes", "--out", out, doc).CombinedOutput()
		if err == nil || !strings.Contains(string(b), "OTP") {
			break
		}
		t.Logf("attempt %d: %s; waiting for the next TOTP step", attempt+1, strings.TrimSpace(string(b)))
		time.Sleep(time.Duration(31-time.Now().Unix()%30) * time.Second)
	}
	if err != nil {
		t.Fatalf("dss sign --credential alice-qes: %v\n%s", err, b)
	}
	verifyFiles(t, []interop.Case{{Name: "cli-scal2", File: out, Cert: s.certFile(t, "alice-qes"), XAdES: true}})
}
