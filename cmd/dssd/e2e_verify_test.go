//go:build e2e

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/cmd/dssd/devenv"
	"dssd/dss/xades"
)

const (
	minorValidAll    = "urn:oasis:names:tc:dss:1.0:resultminor:valid:signature:OnAllDocuments"
	minorIncorrect   = "urn:oasis:names:tc:dss:1.0:resultminor:invalid:IncorrectSignature"
	minorChain       = "urn:oasis:names:tc:dss:1.0:resultminor:CertificateChainNotComplete"
	minorRefNotThere = "urn:oasis:names:tc:dss:1.0:resultminor:ReferencedDocumentNotPresent"
	majorSuccessURI  = "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
	majorInsuffURI   = "urn:oasis:names:tc:dss:1.0:resultmajor:InsufficientInformation"
	minorNoKey       = "urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed"
)

// devStatus returns OCSP responses, made with the development CAs' keys, saying that the
// credential's certificate and the issuing CA are good: the revocation material a client
// passes in AdditionalKeyInfo, so these tests do not depend on an online source.
func devStatus(t *testing.T, s *server, credID string) [][]byte {
	t.Helper()
	env, err := devenv.Load(s.devDir)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := env.IssuingCA()
	if err != nil {
		t.Fatal(err)
	}
	root, err := devenv.LoadKeyPair(env.RootCACert, filepath.Join(s.devDir, "pki", "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := devenv.ReadCertificates(s.certFile(t, credID))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(subject *x509.Certificate, issuer *devenv.KeyPair) []byte {
		der, err := ocsp.CreateResponse(issuer.Cert, issuer.Cert, ocsp.Response{Status: ocsp.Good, SerialNumber: subject.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}, issuer.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	return [][]byte{mk(signer[0], ca), mk(ca.Cert, root)}
}

// signOnServer signs doc with the credential through POST /sign and returns the enveloped
// document (placement enveloped) or the signature.
func signOnServer(t *testing.T, s *server, cred, placement string, doc []byte, refURI string) []byte {
	t.Helper()
	d := `<dss2:Document ID="doc-1"`
	opt := `<dss2:KeySelector><dss2:KeyName>` + cred + `</dss2:KeyName></dss2:KeySelector>`
	mime := "application/octet-stream"
	switch placement {
	case "enveloped":
		d += ` RefURI=""`
		mime = "application/xml"
		opt += `<dss2:SignaturePlacement WhichData="doc-1"><dss2:XPathFirstChildOf>/*</dss2:XPathFirstChildOf></dss2:SignaturePlacement>`
	case "detached":
		d += ` RefURI="` + refURI + `"`
	}
	req := `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="sign-for-verify"><dss2:InputDocuments>` +
		d + `><dss2:Base64Data MimeType="` + mime + `"><dsb:Value>` + b64(doc) + `</dsb:Value></dss2:Base64Data></dss2:Document>` +
		`</dss2:InputDocuments><dss2:OptionalInputs>` + opt + `</dss2:OptionalInputs></dss2:SignRequest>`
	status, raw := s.send(t, viaPOST, s.token("alice"), req)
	root, r := parseResponse(t, raw)
	if status != 200 || !r.ok() {
		t.Fatalf("sign: %d %+v\n%s", status, r, raw)
	}
	v := find(root, nsDSB, "Value")
	if v == nil {
		t.Fatalf("no signed output:\n%s", raw)
	}
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v.Text()), ""))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyReq builds a VerifyRequest asking for every output.
type verifyReq struct {
	docs      []string // Document elements
	signature []byte   // Base64Signature, or nil
	ocsp      [][]byte
	extra     string // more OptionalInputs, in schema order after ReturnSignerIdentity
}

func (v verifyReq) xml() string {
	var b strings.Builder
	b.WriteString(`<dss2:VerifyRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="verify-1">`)
	if len(v.docs) > 0 {
		b.WriteString(`<dss2:InputDocuments>` + strings.Join(v.docs, "") + `</dss2:InputDocuments>`)
	}
	b.WriteString(`<dss2:OptionalInputs><dss2:ReturnVerificationTimeInfo>true</dss2:ReturnVerificationTimeInfo>`)
	for _, o := range v.ocsp {
		b.WriteString(`<dss2:AdditionalKeyInfo><dss2:OCSPResponse><dsb:Value>` + b64(o) + `</dsb:Value></dss2:OCSPResponse></dss2:AdditionalKeyInfo>`)
	}
	b.WriteString(`<dss2:ReturnProcessingDetails>true</dss2:ReturnProcessingDetails><dss2:ReturnSigningTimeInfo>true</dss2:ReturnSigningTimeInfo>` +
		`<dss2:ReturnSignerIdentity>true</dss2:ReturnSignerIdentity>` + v.extra + `</dss2:OptionalInputs>`)
	if v.signature != nil {
		b.WriteString(`<dss2:SignatureObject><dss2:Base64Signature MimeType="application/xml"><dsb:Value>` + b64(v.signature) + `</dsb:Value></dss2:Base64Signature></dss2:SignatureObject>`)
	}
	b.WriteString(`</dss2:VerifyRequest>`)
	return b.String()
}

func docElem(id, refURI string, data []byte) string {
	ref := ""
	if refURI != "" {
		ref = ` RefURI="` + refURI + `"`
	}
	return `<dss2:Document ID="` + id + `"` + ref + `><dss2:Base64Data><dsb:Value>` + b64(data) + `</dsb:Value></dss2:Base64Data></dss2:Document>`
}

// verifyVia sends a VerifyRequest over the binding (POST goes to /verify) and returns the
// response element, written to a file for schema validation.
func verifyVia(t *testing.T, s *server, b binding, token, req, dir string, files *[]string) ([]byte, result) {
	t.Helper()
	var status int
	var raw []byte
	if b == viaPOST {
		status, raw = s.post(t, "/verify", "application/xml", token, []byte(req))
	} else {
		status, raw = s.send(t, b, token, req)
	}
	if status != 200 {
		t.Fatalf("HTTP %d\n%s", status, raw)
	}
	root, r := parseResponse(t, raw)
	if root.Tag != "VerifyResponse" {
		t.Fatalf("not a VerifyResponse:\n%s", raw)
	}
	*files = append(*files, writeOut(t, filepath.Join(dir, fmt.Sprintf("verify-%d.xml", len(*files))), raw))
	return raw, r
}

// TestVerifyEndToEnd verifies signatures produced by the server itself, and hostile variants,
// through the real server over SOAP 1.2, SOAP 1.1 and POST; every response validates against
// the DSS-X 2.0 schema.
func TestVerifyEndToEnd(t *testing.T) {
	s := start(t)
	tok := s.token("alice")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	enveloped := signOnServer(t, s, "alice-rsa", "enveloped", invoice, "")
	pdf := []byte("%PDF-1.7 not really a pdf \x00\x01")
	detached := signOnServer(t, s, "alice-ec", "detached", pdf, "report.pdf")
	rsaStatus := devStatus(t, s, "alice-rsa")
	ecStatus := devStatus(t, s, "alice-ec")
	untrusted := foreignSignature(t, invoice)

	var files []string
	dir := t.TempDir()
	tests := []struct {
		name         string
		via          binding
		req          verifyReq
		major, minor string
		detail       string // in the response (a sub-indication or a scope)
	}{
		{"enveloped valid", viaPOST, verifyReq{docs: []string{docElem("doc-1", "", enveloped)}, ocsp: rsaStatus},
			majorSuccessURI, minorValidAll, "urn:dssd:scope:document"},
		{"enveloped valid soap12", viaSOAP12, verifyReq{docs: []string{docElem("doc-1", "", enveloped)}, ocsp: rsaStatus},
			majorSuccessURI, minorValidAll, "urn:dssd:indication:TOTAL-PASSED"},
		{"enveloped as Base64Signature soap11", viaSOAP11, verifyReq{signature: enveloped, ocsp: rsaStatus},
			majorSuccessURI, minorValidAll, "urn:dssd:indication:TOTAL-PASSED"},
		{"detached valid", viaPOST, verifyReq{signature: detached, docs: []string{docElem("data", "report.pdf", pdf)}, ocsp: ecStatus},
			majorSuccessURI, minorValidAll, "urn:dssd:scope:detached"},
		{"changed byte", viaSOAP12, verifyReq{docs: []string{docElem("doc-1", "", []byte(strings.Replace(string(enveloped), "INV-2026-0042", "INV-2026-0043", 1)))}},
			majorSuccessURI, minorIncorrect, "urn:dssd:subindication:HASH_FAILURE"},
		{"detached data changed", viaPOST, verifyReq{signature: detached, docs: []string{docElem("data", "report.pdf", append(pdf, 'x'))}},
			majorSuccessURI, minorIncorrect, "urn:dssd:subindication:HASH_FAILURE"},
		{"detached data missing", viaSOAP12, verifyReq{signature: detached},
			majorInsuffURI, minorRefNotThere, "urn:dssd:subindication:SIGNED_DATA_NOT_FOUND"},
		{"second SignedInfo", viaPOST, verifyReq{docs: []string{docElem("doc-1", "", secondSignedInfo(t, enveloped))}},
			majorSuccessURI, minorIncorrect, "urn:dssd:subindication:FORMAT_FAILURE"},
		// Integrity first (issue 10): a 32-byte value cannot be a SHA-1 digest, whatever the policy.
		{"SHA-1 digest method over a SHA-256 value", viaSOAP11, verifyReq{docs: []string{docElem("doc-1", "", []byte(strings.Replace(string(enveloped), xades.DigestSHA256, "http://www.w3.org/2000/09/xmldsig#sha1", 1)))}},
			majorSuccessURI, minorIncorrect, "urn:dssd:subindication:HASH_FAILURE"},
		// Intact digests, a signature method the policy refuses: INDETERMINATE on the policy.
		{"SHA-1 signature method", viaSOAP11, verifyReq{docs: []string{docElem("doc-1", "", sha1Method(t, enveloped))}},
			majorInsuffURI, "urn:dssd:resultminor:indeterminate:CRYPTO_CONSTRAINTS_FAILURE", "urn:dssd:subindication:CRYPTO_CONSTRAINTS_FAILURE"},
		{"untrusted root", viaPOST, verifyReq{docs: []string{docElem("doc-1", "", untrusted)}},
			majorInsuffURI, minorChain, "urn:dssd:subindication:NO_CERTIFICATE_CHAIN_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, r := verifyVia(t, s, tt.via, tok, tt.req.xml(), dir, &files)
			if r.major != tt.major || r.minor != tt.minor {
				t.Fatalf("got %s / %s (%s), want %s / %s\n%s", r.major, r.minor, r.message, tt.major, tt.minor, raw)
			}
			if !strings.Contains(string(raw), tt.detail) {
				t.Errorf("response lacks %s:\n%s", tt.detail, raw)
			}
			if tt.minor == minorValidAll && (!strings.Contains(string(raw), "SignerIdentity") || !strings.Contains(string(raw), "SigningTimeInfo") ||
				!strings.Contains(string(raw), "VerificationTimeInfo")) {
				t.Errorf("optional outputs missing:\n%s", raw)
			}
		})
	}
	validateResponses(t, t.TempDir(), files)
}

// secondSignedInfo inserts a copy of SignedInfo (CVE-2020-15216's shape).
func secondSignedInfo(t *testing.T, signed []byte) []byte {
	t.Helper()
	s := string(signed)
	i, j := strings.Index(s, "<ds:SignedInfo>"), strings.Index(s, "</ds:SignedInfo>")
	if i < 0 || j < 0 {
		t.Fatal("no SignedInfo")
	}
	si := s[i : j+len("</ds:SignedInfo>")]
	return []byte(s[:j+len("</ds:SignedInfo>")] + si + s[j+len("</ds:SignedInfo>"):])
}

// foreignSignature is a valid XAdES signature by a key whose self-signed certificate no
// configured anchor vouches for.
func foreignSignature(t *testing.T, doc []byte) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "mallory"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	out, err := xades.Sign(xades.Object{Data: doc, XML: true}, xades.Params{Type: xades.TypeXAdES, Packaging: xades.Enveloped,
		SignatureMethod: xades.ECDSASHA256, Signer: crypto.Signer(k), Chain: []*x509.Certificate{cert}, SigningTime: time.Now(), SignatureID: "sig-mallory"})
	if err != nil {
		t.Fatal(err)
	}
	return out.Document
}

// TestVerifySignerCertificate is TS 119 432 V1.3.1 clause 8.3.1 through the server: the
// caller's own credential certificate comes back, another user's is KeyLookupFailed.
func TestVerifySignerCertificate(t *testing.T) {
	s := start(t)
	var files []string
	dir := t.TempDir()
	req := func(cred string) string {
		return `<dss2:VerifyRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="cert-1"><dss2:OptionalInputs>` +
			`<dss2:ClaimedIdentity><dss2:Name>alice</dss2:Name></dss2:ClaimedIdentity>` +
			`<dss2:AdditionalKeyInfo><dss2:KeyName>` + cred + `</dss2:KeyName></dss2:AdditionalKeyInfo>` +
			`<dss2:ReturnSignerIdentity>true</dss2:ReturnSignerIdentity></dss2:OptionalInputs></dss2:VerifyRequest>`
	}
	raw, r := verifyVia(t, s, viaSOAP12, s.token("alice"), req("alice-ec"), dir, &files)
	if !r.ok() {
		t.Fatalf("%+v\n%s", r, raw)
	}
	certs, err := devenv.ReadCertificates(s.certFile(t, "alice-ec"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `MimeType="application/pkix-cert"`) || !strings.Contains(string(raw), b64(certs[0].Raw)) ||
		!strings.Contains(string(raw), "CN=") {
		t.Errorf("certificate not returned:\n%s", raw)
	}
	raw, r = verifyVia(t, s, viaPOST, s.token("alice"), req("bob-rsa"), dir, &files)
	if r.minor != minorNoKey {
		t.Errorf("another user's credential: %+v\n%s", r, raw)
	}
	validateResponses(t, t.TempDir(), files)
}

// TestVerifyCLI: `dss verify --dev FILE` prints a readable verdict and exits 0 only when valid.
func TestVerifyCLI(t *testing.T) {
	s := start(t)
	dir := t.TempDir()
	signed := writeOut(t, filepath.Join(dir, "invoice.xml.signed.xml"),
		signOnServer(t, s, "alice-rsa", "enveloped", readFile(t, "../../testdata/documents/invoice.xml"), ""))
	var ocspArgs []string
	for i, o := range devStatus(t, s, "alice-rsa") {
		ocspArgs = append(ocspArgs, "--ocsp", writeOut(t, filepath.Join(dir, "status-"+string(rune('a'+i))+".der"), o))
	}
	cli := func(args ...string) (int, string) {
		cmd := exec.Command(s.cli, append([]string{"verify", "--dev", "--dev-dir", s.devDir}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	code, out := cli(append(ocspArgs, signed)...)
	if code != 0 || !strings.Contains(out, signed+": VALID") || !strings.Contains(out, "signer:  CN=") || !strings.Contains(out, "TOTAL-PASSED") {
		t.Errorf("valid: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	bad := writeOut(t, filepath.Join(dir, "tampered.xml"), []byte(strings.Replace(string(b), "INV-2026-0042", "INV-2026-0043", 1)))
	code, out = cli(bad)
	if code != 1 || !strings.Contains(out, bad+": INVALID") || !strings.Contains(out, "HASH_FAILURE") {
		t.Errorf("tampered: exit %d\n%s", code, out)
	}
	t.Logf("dss verify output:\n%s", out)
}

// sha1Method names the SHA-1 variant of the signature's method in its SignatureMethod.
func sha1Method(t *testing.T, signed []byte) []byte {
	t.Helper()
	for old, sha1 := range map[string]string{xades.RSASHA256: "http://www.w3.org/2000/09/xmldsig#rsa-sha1", xades.ECDSASHA256: "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"} {
		if m := `SignatureMethod Algorithm="` + old + `"`; strings.Contains(string(signed), m) {
			return []byte(strings.Replace(string(signed), m, `SignatureMethod Algorithm="`+sha1+`"`, 1))
		}
	}
	t.Fatal("no SHA-256 SignatureMethod in the signed document")
	return nil
}
