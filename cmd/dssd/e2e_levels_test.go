//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/dss/xades/interop"
)

// tokenScript extracts the SignatureTimeStamp (and the first archive timestamp) tokens of a
// signed file and computes, with libxml2's exclusive c14n (independent of dssd's Go
// canonicaliser), the SHA-256 of the canonicalised ds:SignatureValue: the imprint the
// signature timestamp must carry. It prints "<token file> <imprint hex>".
const tokenScript = `
import base64, hashlib, sys
from lxml import etree
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
tree = etree.parse(sys.argv[1])
sv = tree.find(".//{%s}SignatureValue" % DS)
imprint = hashlib.sha256(etree.tostring(sv, method="c14n", exclusive=True, with_comments=False)).hexdigest()
tok = tree.find(".//{%s}SignatureTimeStamp/{%s}EncapsulatedTimeStamp" % (XADES, XADES))
out = sys.argv[1] + ".tst"
open(out, "wb").write(base64.b64decode("".join(tok.text.split())))
print(out, imprint)
`

// TestLevelsEndToEnd: XAdES B-T, B-LT and B-LTA through the running dev server (its own TSA,
// OCSP responder and CRL), enveloped, enveloping and detached, RSA and EC: schema-valid
// responses with the level echoed, the expected unsigned properties, signature timestamps
// that `openssl ts -verify` accepts with the imprint computed by libxml2, and signatures the
// independent verifiers accept (and reject when tampered).
func TestLevelsEndToEnd(t *testing.T) {
	s := start(t)
	interop.Require(t)
	if out, err := exec.Command("/usr/bin/python3", "-c", "import lxml").CombinedOutput(); err != nil {
		t.Fatalf("python3-lxml is missing (apt-get install python3-lxml): %v\n%s", err, out)
	}
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	dir := t.TempDir()
	token := s.token("alice")
	want := map[string][]string{
		"B-T":   {"SignatureTimeStamp"},
		"B-LT":  {"SignatureTimeStamp", "CertificateValues", "RevocationValues"},
		"B-LTA": {"SignatureTimeStamp", "CertificateValues", "RevocationValues", "ArchiveTimeStamp"},
	}
	var responses []string
	var cases []interop.Case
	tampered := map[string]bool{}
	n := 0
	for _, level := range []string{"B-T", "B-LT", "B-LTA"} {
		for _, pl := range []string{"enveloped", "enveloping", "detached"} {
			for _, a := range []struct{ alg, cred string }{{rsaSHA256, "alice-rsa"}, {ecdsaSHA256, "alice-ec"}} {
				c := signCase{sigType: xadesURI, placement: pl, alg: a.alg, cred: a.cred, via: binding(n % 3)}
				n++
				name := fmt.Sprintf("%s-%s-%s", level, pl, a.cred)
				req := strings.Replace(signRequestXML("lvl-"+name, c, invoice), "<dss2:InputDocuments>",
					"<dsb:Profile>urn:dssd:level:"+level+"</dsb:Profile><dss2:InputDocuments>", 1)
				status, raw := s.send(t, c.via, token, req)
				responses = append(responses, writeOut(t, filepath.Join(dir, name+".response.xml"), raw))
				root, r := parseResponse(t, raw)
				if status != http.StatusOK || !r.ok() {
					t.Fatalf("%s: HTTP %d, %s %s: %s", name, status, r.major, r.minor, r.message)
				}
				if p := find(root, nsDSB, "AppliedProfile"); p == nil || p.Text() != "urn:dssd:level:"+level {
					t.Errorf("%s: AppliedProfile does not echo %s", name, level)
				}
				var sig []byte
				if pl == "enveloped" {
					sig = decodeValue(t, find(root, nsDSS2, "DocumentWithSignature"))
				} else {
					sig = decodeValue(t, find(root, nsDSS2, "Base64Signature"))
				}
				for _, el := range want[level] {
					if !bytes.Contains(sig, []byte(":"+el)) {
						t.Errorf("%s: no %s in the signature", name, el)
					}
				}
				file := writeOut(t, filepath.Join(dir, name+".xml"), sig)
				checkSignatureTimestamp(t, s, name, file)
				good := interop.Case{Name: name, File: file, Cert: s.certFile(t, a.cred), XAdES: true, Alg: a.alg}
				bad := good
				bad.Name = "tampered-" + name
				tampered[bad.Name] = true
				if pl == "detached" {
					good.Detached = map[string]string{detachedURI: writeOut(t, file+".content", invoice)}
					bad.Detached = map[string]string{detachedURI: writeOut(t, file+".tampered-content", bytes.Replace(invoice, []byte("1210.00"), []byte("9210.00"), 1))}
				} else {
					bad.File = writeOut(t, file+".tampered.xml", bytes.Replace(sig, []byte("1210.00"), []byte("9210.00"), 1))
				}
				cases = append(cases, good, bad)
			}
		}
	}
	validateResponses(t, dir, responses)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], !tampered[c.Name])
	}
}

// checkSignatureTimestamp verifies the signature timestamp token of a signed file with
// `openssl ts -verify` against the development root, with the imprint libxml2 computes.
func checkSignatureTimestamp(t *testing.T, s *server, name, file string) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", tokenScript, file).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: extracting the timestamp: %v\n%s", name, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("%s: unexpected script output %q", name, out)
	}
	res, err := exec.Command("openssl", "ts", "-verify", "-token_in", "-in", f[0], "-digest", f[1], "-CAfile", s.dev.CA).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "Verification: OK") {
		t.Errorf("%s: openssl ts -verify refused the signature timestamp: %v\n%s", name, err, res)
	}
	// The same token against another imprint must fail: the check is real.
	other := strings.Repeat("0", 64)
	if res, err := exec.Command("openssl", "ts", "-verify", "-token_in", "-in", f[0], "-digest", other, "-CAfile", s.dev.CA).CombinedOutput(); err == nil {
		t.Errorf("%s: openssl accepted the token for a wrong imprint:\n%s", name, res)
	}
	_ = os.Remove(f[0])
}

// TestCLILevelBLTA: `dss sign --dev --level B-LTA` after `dssd serve --dev`.
func TestCLILevelBLTA(t *testing.T) {
	s := start(t)
	interop.Require(t)
	dir := t.TempDir()
	doc := writeOut(t, filepath.Join(dir, "invoice.xml"), readFile(t, "../../testdata/documents/invoice.xml"))
	out := filepath.Join(dir, "invoice-blta.xml")
	cmd := exec.Command(s.cli, "sign", "--dev", "--dev-dir", s.devDir, "--credential", "alice-ec", "--level", "B-LTA", "--out", out, doc)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dss sign --level B-LTA: %v\n%s", err, b)
	}
	signed := readFile(t, out)
	if !bytes.Contains(signed, []byte("ArchiveTimeStamp")) {
		t.Fatal("the B-LTA signature has no ArchiveTimeStamp")
	}
	checkSignatureTimestamp(t, s, "cli-blta", out)
	verifyFiles(t, []interop.Case{{Name: "cli-blta", File: out, Cert: s.certFile(t, "alice-ec"), XAdES: true}})
}

// TestVerifyAugmentEndToEnd: ReturnAugmentedSignature raises a B-B signature made by the server
// to B-T, B-LT and B-LTA; the augmented signature carries the level's properties, its
// signature timestamp verifies with openssl, and the independent verifiers accept it.
func TestVerifyAugmentEndToEnd(t *testing.T) {
	s := start(t)
	interop.Require(t)
	tok := s.token("alice")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	enveloped := signOnServer(t, s, "alice-rsa", "enveloped", invoice, "")
	status := devStatus(t, s, "alice-rsa")
	dir := t.TempDir()
	var files []string
	var cases []interop.Case
	for _, level := range []string{"B-T", "B-LT", "B-LTA"} {
		req := verifyReq{docs: []string{docElem("doc-1", "", enveloped)}, ocsp: status,
			extra: `<dss2:ReturnAugmentedSignature>urn:dssd:level:` + level + `</dss2:ReturnAugmentedSignature>`}
		raw, r := verifyVia(t, s, viaPOST, tok, req.xml(), dir, &files)
		if r.minor != minorValidAll {
			t.Fatalf("%s: %s / %s (%s)", level, r.major, r.minor, r.message)
		}
		root, _ := parseResponse(t, raw)
		aug := find(root, nsDSS2, "AugmentedSignature")
		if aug == nil {
			t.Fatalf("%s: no AugmentedSignature:\n%s", level, raw)
		}
		sig := decodeValue(t, aug)
		for _, el := range map[string][]string{"B-T": {"SignatureTimeStamp"}, "B-LT": {"CertificateValues", "RevocationValues"}, "B-LTA": {"ArchiveTimeStamp"}}[level] {
			if !bytes.Contains(sig, []byte(":"+el)) {
				t.Errorf("%s: the augmented signature has no %s", level, el)
			}
		}
		file := writeOut(t, filepath.Join(dir, "augmented-"+level+".xml"), sig)
		checkSignatureTimestamp(t, s, "augmented-"+level, file)
		cases = append(cases, interop.Case{Name: "augmented-" + level, File: file, Cert: s.certFile(t, "alice-rsa"), XAdES: true, Alg: rsaSHA256})
	}
	validateResponses(t, t.TempDir(), files)
	verifyFiles(t, cases)
}

// TestMetadataListsLevels: with the dev TSA and revocation sources configured, the metadata and
// CSC info advertise every level the service produces.
func TestMetadataListsLevels(t *testing.T) {
	s := start(t)
	for _, u := range []string{"/.well-known/dss-info", "/csc/v2/info"} {
		method := http.MethodGet
		if strings.HasPrefix(u, "/csc") {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, s.dev.URL+u, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"B-T", "B-LT", "B-LTA"} {
			if !strings.Contains(b.String(), want+`"`) && !strings.Contains(b.String(), want+"<") {
				t.Errorf("%s does not list level %s:\n%.600s", u, want, b.String())
			}
		}
	}
}
