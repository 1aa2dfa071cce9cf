//go:build e2e

// End-to-end tests of the ETSI TS 119 432 JSON binding (CSC API v2, /csc/v2/...) and the
// DSS-X metadata (/.well-known/dss-info) against the shared `dssd serve --dev`. Raw
// signatures are verified here with the public key of the certificate dev.json names.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/dss/xades/interop"
)

const (
	oidSHA256        = "2.16.840.1.101.3.4.2.1"
	oidSHA384        = "2.16.840.1.101.3.4.2.2"
	oidRSA           = "1.2.840.113549.1.1.1"
	oidSHA256WithRSA = "1.2.840.113549.1.1.11"
	oidECDSASHA256   = "1.2.840.10045.4.3.2"
	oidECDSASHA384   = "1.2.840.10045.4.3.3"
)

// cscAnswer is one JSON answer of the CSC binding.
type cscAnswer struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (s *server) csc(t *testing.T, method, token string, body any) cscAnswer {
	t.Helper()
	return cscCall(t, s.client, s.dev.URL, method, token, body)
}

// refused checks a CSC error answer: a 4xx status, an error code, and neither a SAD nor
// signatures.
func (a cscAnswer) refused(t *testing.T, what string) {
	t.Helper()
	if a.status < 400 || a.status > 499 || a.json["error"] == nil || a.json["error_description"] == nil {
		t.Fatalf("%s: want a 4xx CSC error, got %d %s", what, a.status, a.raw)
	}
	for _, k := range []string{"SAD", "signatures", "DocumentWithSignature", "SignatureObject"} {
		if _, ok := a.json[k]; ok {
			t.Errorf("%s: a refusal carries %s: %s", what, k, a.raw)
		}
	}
}

// credChain reads the PEM certificates of a credential's dev.json cert file.
func (s *server) credChain(t *testing.T, credID string) []*x509.Certificate {
	t.Helper()
	for _, u := range s.dev.Users {
		for _, c := range u.Credentials {
			if c.ID != credID {
				continue
			}
			rest := readFile(t, c.Cert)
			var chain []*x509.Certificate
			for {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				cert, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, cert)
			}
			if len(chain) == 0 {
				t.Fatalf("%s: no certificate", c.Cert)
			}
			return chain
		}
	}
	t.Fatalf("dev.json has no credential %q", credID)
	return nil
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// verifyRaw checks raw signature values (base64) over the digests with the public key of
// cert: RSA PKCS#1 v1.5 or ECDSA DER (X9.62 Ecdsa-Sig-Value).
func verifyRaw(t *testing.T, cert *x509.Certificate, h crypto.Hash, digests [][]byte, sigs []string) {
	t.Helper()
	if len(sigs) != len(digests) {
		t.Fatalf("%d signatures for %d hashes", len(sigs), len(digests))
	}
	for i, s := range sigs {
		sig, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("signature %d is not base64: %v", i, err)
		}
		switch pub := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			if err := rsa.VerifyPKCS1v15(pub, h, digests[i], sig); err != nil {
				t.Errorf("signature %d does not verify with %s: %v", i, cert.Subject, err)
			}
		case *ecdsa.PublicKey:
			if sig[0] != 0x30 {
				t.Errorf("ECDSA signature %d is not DER", i)
			}
			if !ecdsa.VerifyASN1(pub, digests[i], sig) {
				t.Errorf("signature %d does not verify with %s", i, cert.Subject)
			}
		default:
			t.Fatalf("unexpected key %T", pub)
		}
		// A signature over another digest must not verify: the check can fail.
		other := append([]byte(nil), digests[i]...)
		other[0] ^= 1
		switch pub := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			if rsa.VerifyPKCS1v15(pub, h, other, sig) == nil {
				t.Error("a signature verified over a different digest")
			}
		case *ecdsa.PublicKey:
			if ecdsa.VerifyASN1(pub, other, sig) {
				t.Error("a signature verified over a different digest")
			}
		}
	}
}

func sha256s(parts ...string) ([][]byte, []string) {
	var ds [][]byte
	var bs []string
	for _, p := range parts {
		d := sha256.Sum256([]byte(p))
		ds = append(ds, d[:])
		bs = append(bs, b64(d[:]))
	}
	return ds, bs
}

func TestCSCInfoAndMetadata(t *testing.T) {
	s := start(t)
	a := s.csc(t, "info", "", map[string]any{})
	if a.status != 200 || a.json["specs"] != "2.0.0.2" || a.json["oauth2FAPIsupport"] != false {
		t.Fatalf("info: %d %s", a.status, a.raw)
	}
	methods := strings.Join(strs(a.json["methods"]), ",")
	for _, m := range []string{"credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash"} {
		if !strings.Contains(methods, m) {
			t.Errorf("info methods lack %s: %s", m, methods)
		}
	}
	if !strings.Contains(strings.Join(strs(a.json["conformance_levels"]), ","), "Ades-B-B") {
		t.Errorf("conformance_levels = %v", a.json["conformance_levels"])
	}

	// The metadata, as XML (default) validated against the DSS-X metadata schema, and as JSON.
	get := func(accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, s.dev.URL+"/.well-known/dss-info", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, xmlDoc := get("")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
		t.Fatalf("dss-info: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, must := range []string{"urn:dssd:profile:etsi-119432-dssx", "SADTransport", "application/jwt", "urn:dssd:level:B-B", "SignerCertificate"} {
		if !bytes.Contains(xmlDoc, []byte(must)) {
			t.Errorf("dss-info lacks %s", must)
		}
	}
	validateMetadataXML(t, s, xmlDoc)
	resp, js := get("application/json")
	var md struct {
		Service struct {
			Name     string `json:"name"`
			Protocol []struct {
				Profile []struct {
					PID string `json:"pid"`
				} `json:"profile"`
			} `json:"protocol"`
		} `json:"service"`
	}
	if err := json.Unmarshal(js, &md); err != nil || resp.Header.Get("Content-Type") != "application/json" ||
		md.Service.Name != "dssd" || len(md.Service.Protocol) == 0 || md.Service.Protocol[0].Profile[0].PID != "urn:dssd:profile:etsi-119432-dssx" {
		t.Errorf("dss-info JSON: %v %s", err, js)
	}
}

// validateMetadataXML validates md:Provider with xmllint against the schemas dssd serves
// (GET /schemas/..., where the metadata schema imports its siblings).
func validateMetadataXML(t *testing.T, s *server, doc []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is missing: apt-get install libxml2-utils (make test installs it)")
	}
	dir := t.TempDir()
	for _, f := range []string{"oasis-dss-metadata-schema.xsd", "oasis-dss-base-schema.xsd", "oasis-dss-rw-xmldsig-core-schema.xsd", "oasis-dss-nslist-schema.xsd", "oasis-dss-rw-saml-schema-assertion-2.0.xsd", "xml.xsd"} {
		resp, err := s.client.Get(s.dev.URL + "/schemas/" + f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /schemas/%s: %d", f, resp.StatusCode)
		}
		writeOut(t, filepath.Join(dir, f), b)
	}
	f := writeOut(t, filepath.Join(dir, "md.xml"), doc)
	out, err := exec.Command("xmllint", "--nonet", "--noout", "--schema", filepath.Join(dir, "oasis-dss-metadata-schema.xsd"), f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "validates") {
		t.Fatalf("dss-info does not validate against the DSS-X metadata schema: %v\n%s", err, out)
	}
}

func TestCSCCredentials(t *testing.T) {
	s := start(t)
	alice, bob := s.token("alice"), s.token("bob")
	a := s.csc(t, "credentials/list", alice, map[string]any{})
	ids := strings.Join(strs(a.json["credentialIDs"]), ",")
	for _, want := range []string{"alice-rsa", "alice-ec", "alice-qes"} {
		if !strings.Contains(ids, want) {
			t.Errorf("alice's list lacks %s: %s", want, ids)
		}
	}
	if strings.Contains(ids, "bob") {
		t.Errorf("alice's list names bob's credential: %s", ids)
	}
	if b := s.csc(t, "credentials/list", bob, map[string]any{}); strings.Join(strs(b.json["credentialIDs"]), ",") != "bob-rsa" {
		t.Errorf("bob's list: %s", b.raw)
	}
	s.csc(t, "credentials/list", "", map[string]any{}).refused(t, "list without a token")

	for _, id := range []string{"alice-rsa", "alice-ec", "alice-qes"} {
		a := s.csc(t, "credentials/info", alice, map[string]any{"credentialID": id, "certificates": "chain", "certInfo": true, "authInfo": true})
		if a.status != 200 {
			t.Fatalf("credentials/info %s: %d %s", id, a.status, a.raw)
		}
		want := s.credChain(t, id)
		cert := a.json["cert"].(map[string]any)
		got := strs(cert["certificates"])
		if len(got) != len(want) {
			t.Fatalf("%s: %d certificates, dev.json's file holds %d", id, len(got), len(want))
		}
		for i := range want {
			if got[i] != base64.StdEncoding.EncodeToString(want[i].Raw) {
				t.Errorf("%s: certificate %d differs from dev.json's file", id, i)
			}
		}
		if cert["subjectDN"] != want[0].Subject.String() || cert["status"] != "valid" {
			t.Errorf("%s: cert = %v", id, cert)
		}
		wantSCAL := "1"
		if id == "alice-qes" {
			wantSCAL = "2"
		}
		auth, _ := a.json["auth"].(map[string]any)
		if a.json["SCAL"] != wantSCAL || auth["mode"] != "explicit" || a.json["authMode"] != nil {
			t.Errorf("%s: SCAL %v auth %v authMode %v", id, a.json["SCAL"], a.json["auth"], a.json["authMode"])
		}
	}
	s.csc(t, "credentials/info", alice, map[string]any{"credentialID": "bob-rsa"}).refused(t, "alice asks for bob's credential")
}

func TestCSCSignHashSCAL1(t *testing.T) {
	s := start(t)
	alice := s.token("alice")
	digests, hashes := sha256s("first document", "second document")
	tests := []struct {
		cred string
		body map[string]any
		hash crypto.Hash
	}{
		{"alice-rsa", map[string]any{"signAlgo": oidSHA256WithRSA}, crypto.SHA256},
		{"alice-rsa", map[string]any{"signAlgo": oidRSA, "hashAlgorithmOID": oidSHA256}, crypto.SHA256},
		{"alice-ec", map[string]any{"signAlgo": oidECDSASHA256, "hashAlgorithmOID": oidSHA256}, crypto.SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.cred+"/"+tt.body["signAlgo"].(string), func(t *testing.T) {
			body := map[string]any{"credentialID": tt.cred, "hashes": hashes}
			for k, v := range tt.body {
				body[k] = v
			}
			a := s.csc(t, "signatures/signHash", alice, body)
			if a.status != 200 {
				t.Fatalf("signHash: %d %s", a.status, a.raw)
			}
			verifyRaw(t, s.credChain(t, tt.cred)[0], tt.hash, digests, strs(a.json["signatures"]))
		})
	}
	t.Run("alice-ec384/sha384", func(t *testing.T) {
		d := sha512.Sum384([]byte("a P-384 document"))
		a := s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-ec384", "hashes": []string{b64(d[:])}, "signAlgo": oidECDSASHA384, "hashAlgorithmOID": oidSHA384})
		if a.status != 200 {
			t.Fatalf("signHash: %d %s", a.status, a.raw)
		}
		verifyRaw(t, s.credChain(t, "alice-ec384")[0], crypto.SHA384, [][]byte{d[:]}, strs(a.json["signatures"]))
	})
	// Refusals: another user's credential, a digest of the wrong length, a SCAL2 credential
	// without SAD.
	s.csc(t, "signatures/signHash", s.token("bob"), map[string]any{"credentialID": "alice-rsa", "hashes": hashes, "signAlgo": oidSHA256WithRSA}).
		refused(t, "bob signs with alice-rsa")
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-rsa", "hashes": []string{b64([]byte("short"))}, "signAlgo": oidSHA256WithRSA}).
		refused(t, "a 5-byte SHA-256 digest")
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "hashes": hashes, "signAlgo": oidSHA256WithRSA}).
		refused(t, "SCAL2 without SAD")
}

func TestCSCSCAL2(t *testing.T) {
	s := start(t)
	alice := s.token("alice")
	// The OTP of a time step is accepted once: freshOTP (e2e_scal2_test.go) hands out steps
	// no other test of this process used.
	q := s.qes(t, "alice-qes")
	otpStore := s.target().cfg
	digests, hashes := sha256s("contract page 1", "contract page 2")

	wrong := s.csc(t, "credentials/authorize", alice, map[string]any{
		"credentialID": "alice-qes", "numSignatures": 2, "hashes": hashes, "hashAlgorithmOID": oidSHA256,
		"PIN": q.pin + "0", "OTP": freshOTP(t, otpStore, q),
	})
	wrong.refused(t, "authorize with a wrong PIN")

	a := s.csc(t, "credentials/authorize", alice, map[string]any{
		"credentialID": "alice-qes", "numSignatures": 2, "hashes": hashes, "hashAlgorithmOID": oidSHA256,
		"authData": []map[string]string{{"id": "PIN", "value": q.pin}, {"id": "OTP", "value": freshOTP(t, otpStore, q)}},
	})
	sad, _ := a.json["SAD"].(string)
	if exp, _ := a.json["expiresIn"].(float64); a.status != 200 || exp < 1 || exp > 300 || sad == "" {
		t.Fatalf("authorize with the right PIN and OTP (CSC v2 authData): %d %s", a.status, a.raw)
	}
	if strings.Contains(sad, q.pin) {
		t.Fatal("the SAD contains the PIN")
	}

	// A SAD for other hashes, and for more hashes than authorised, is refused.
	_, others := sha256s("contract page 1", "a page nobody approved")
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "SAD": sad, "hashes": others, "signAlgo": oidSHA256WithRSA}).
		refused(t, "SAD used for other hashes")
	_, three := sha256s("contract page 1", "contract page 2", "contract page 3")
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "SAD": sad, "hashes": three, "signAlgo": oidSHA256WithRSA}).
		refused(t, "SAD used for more hashes than authorised")
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "SAD": "garbage", "hashes": hashes, "signAlgo": oidSHA256WithRSA}).
		refused(t, "garbage SAD")

	// dss consumes a SAD only after every other check passed, so the refusals above left it usable.
	a = s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "SAD": sad, "hashes": hashes, "signAlgo": oidSHA256WithRSA})
	if a.status != 200 {
		t.Fatalf("signHash with the SAD for exactly these hashes: %d %s", a.status, a.raw)
	}
	verifyRaw(t, s.credChain(t, "alice-qes")[0], crypto.SHA256, digests, strs(a.json["signatures"]))
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "SAD": sad, "hashes": hashes, "signAlgo": oidSHA256WithRSA}).
		refused(t, "the same SAD a second time")
}

func TestCSCSignDoc(t *testing.T) {
	interop.Require(t)
	s := start(t)
	doc := []byte(`<invoice xmlns="urn:example:invoice"><id>42</id><amount currency="EUR">10.00</amount></invoice>`)
	a := s.csc(t, "signatures/signDoc", s.token("alice"), map[string]any{
		"credentialID": "alice-ec",
		"documents": []map[string]any{{"document": b64(doc), "signature_format": "X", "conformance_level": "Ades-B-B",
			"signAlgo": oidECDSASHA256, "signed_envelope_property": "Enveloped"}},
	})
	if a.status != 200 {
		t.Fatalf("signDoc: %d %s", a.status, a.raw)
	}
	signed, err := base64.StdEncoding.DecodeString(strs(a.json["DocumentWithSignature"])[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := writeOut(t, filepath.Join(dir, "csc-signdoc.xml"), signed)
	bad := writeOut(t, filepath.Join(dir, "csc-signdoc-tampered.xml"), bytes.Replace(signed, []byte("10.00"), []byte("99.00"), 1))
	cert := s.certFile(t, "alice-ec")
	alg := "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	cases := []interop.Case{
		{Name: "csc-signdoc", File: good, Cert: cert, XAdES: true, Alg: alg},
		{Name: "csc-signdoc-tampered", File: bad, Cert: cert, XAdES: true, Alg: alg},
	}
	judgePair(t, cases[0], cases[1])
	_ = os.Remove(good)
}

// judgePair hands a signature and its tampered copy to the independent verifiers in one
// batch: every verifier that can judge them must accept good and reject bad.
func judgePair(t *testing.T, good, bad interop.Case) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, []interop.Case{good, bad})
	if err != nil {
		t.Fatal(err)
	}
	judge(t, good, verdicts[good.Name], true)
	judge(t, bad, verdicts[bad.Name], false)
}
