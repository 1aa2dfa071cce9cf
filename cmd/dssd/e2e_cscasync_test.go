//go:build e2e

package main

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/binding/csc"
	"dssd/dss/xades/interop"
)

// End-to-end tests of the CSC asynchronous mode (operationMode "A", signatures/signPolling)
// against dssd over HTTPS.

// cscCall posts a CSC method to the node at base.
func cscCall(t *testing.T, client *http.Client, base, method, token string, body any) cscAnswer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/csc/v2/"+method, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST /csc/v2/%s: %v", method, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := cscAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a.json); err != nil {
		t.Fatalf("/csc/v2/%s answered %d with no JSON object: %s", method, resp.StatusCode, raw)
	}
	return a
}

// cscSubmit sends an asynchronous signing request and returns its responseID: the answer
// must be 202 Accepted with a 128-bit responseID and nothing signed.
func cscSubmit(t *testing.T, client *http.Client, base, method, token string, body map[string]any) string {
	t.Helper()
	body["operationMode"] = "A"
	a := cscCall(t, client, base, method, token, body)
	id, _ := a.json["responseID"].(string)
	if a.status != http.StatusAccepted || !responseIDRE.MatchString(id) {
		t.Fatalf("%s with operationMode A: want 202 with a responseID, got %d %s", method, a.status, a.raw)
	}
	for _, k := range []string{"signatures", "DocumentWithSignature", "SignatureObject"} {
		if _, ok := a.json[k]; ok {
			t.Errorf("the asynchronous answer carries %s: %s", k, a.raw)
		}
	}
	return id
}

// cscAwait polls signatures/signPolling until the job is no longer pending and returns the
// final answer. Every pending answer must be CSC's "not yet completed" error.
func cscAwait(t *testing.T, client *http.Client, base, token, id string, timeout time.Duration) cscAnswer {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		a := cscCall(t, client, base, csc.MethodSignPolling, token, map[string]any{"responseID": id})
		if a.json["error_description"] != csc.PendingDescription {
			return a
		}
		if a.status != http.StatusBadRequest || a.json["error"] != "invalid_request" {
			t.Fatalf("pending answer: %d %s", a.status, a.raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still pending after %s", id, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCSCAsyncSignHash: signHash with operationMode "A" over HTTPS, SCAL1 (RSA and ECDSA)
// and SCAL2: 202 with a responseID, then signPolling answers the signatures, which verify
// with the credential's public key. The SCAL2 SAD is checked and consumed at submission (the
// same SAD is refused at once afterwards); the audit log has the submission and the
// completion. Another user's poll, an unknown id and junk get one answer; a bad
// operationMode, validity_period without "A" and response_uri are clear CSC errors; info
// lists signPolling and declares the asynchronous mode.
func TestCSCAsyncSignHash(t *testing.T) {
	s := start(t)
	alice, bob := s.token("alice"), s.token("bob")
	tg := s.target()
	run := time.Now().UnixNano()

	info := s.csc(t, "info", "", map[string]any{})
	if info.json["asynchronousOperationMode"] != true || !strings.Contains(fmt.Sprint(info.json["methods"]), "signatures/signPolling") {
		t.Errorf("info does not declare the asynchronous mode: %s", info.raw)
	}

	digests, hashes := sha256s(fmt.Sprintf("async page 1 %d", run), fmt.Sprintf("async page 2 %d", run))
	ids := map[string]string{}
	for _, c := range []struct{ cred, alg string }{{"alice-rsa", oidSHA256WithRSA}, {"alice-ec", oidECDSASHA256}} {
		ids[c.cred] = cscSubmit(t, s.client, s.dev.URL, "signatures/signHash", alice, map[string]any{
			"credentialID": c.cred, "hashes": hashes, "signAlgo": c.alg, "hashAlgorithmOID": oidSHA256,
			"validity_period": 600000, "clientData": fmt.Sprintf("csc-async-%s-%d", c.cred, run),
		})
	}
	// Another user, an unknown id and junk: one answer, which is not the pending one.
	poll := func(token, id string) cscAnswer {
		return cscCall(t, s.client, s.dev.URL, csc.MethodSignPolling, token, map[string]any{"responseID": id})
	}
	foreign := poll(bob, ids["alice-rsa"])
	foreign.refused(t, "bob polls alice's job")
	if foreign.json["error_description"] == csc.PendingDescription {
		t.Fatalf("another user's poll is answered as pending: %s", foreign.raw)
	}
	for _, id := range []string{strings.Repeat("0f", 16), "not-an-id"} {
		if a := poll(alice, id); a.status != foreign.status || string(a.raw) != string(foreign.raw) {
			t.Errorf("poll of %q answered %d %s; another user's id %d %s", id, a.status, a.raw, foreign.status, foreign.raw)
		}
	}
	for cred, id := range ids {
		a := cscAwait(t, s.client, s.dev.URL, alice, id, time.Minute)
		if a.status != http.StatusOK {
			t.Fatalf("%s job: %d %s", cred, a.status, a.raw)
		}
		verifyRaw(t, s.credChain(t, cred)[0], crypto.SHA256, digests, strs(a.json["signatures"]))
		// Finished, it is still not bob's.
		if b := poll(bob, id); string(b.raw) != string(foreign.raw) {
			t.Errorf("bob polls alice's finished job: %s", b.raw)
		}
	}

	// SCAL2: the SAD is consumed at submission.
	q := s.qes(t, "alice-qes")
	qd, qh := sha256s(fmt.Sprintf("async qes %d", run))
	sad := tg.mustAuthorize(t, alice, q, qd[0])
	clientData := fmt.Sprintf("csc-async-qes-%d", run)
	id := cscSubmit(t, s.client, s.dev.URL, "signatures/signHash", alice, map[string]any{
		"credentialID": "alice-qes", "SAD": sad, "hashes": qh, "signAlgo": oidSHA256WithRSA, "clientData": clientData,
	})
	s.csc(t, "signatures/signHash", alice, map[string]any{"credentialID": "alice-qes", "SAD": sad, "hashes": qh, "signAlgo": oidSHA256WithRSA}).
		refused(t, "the SAD of an asynchronous submission used again")
	a := cscAwait(t, s.client, s.dev.URL, alice, id, time.Minute)
	if a.status != http.StatusOK {
		t.Fatalf("SCAL2 job: %d %s", a.status, a.raw)
	}
	verifyRaw(t, s.credChain(t, "alice-qes")[0], crypto.SHA256, qd, strs(a.json["signatures"]))
	submitted, completed, recs := jobAudit(t, tg.cfg, clientData, id, id)
	if !submitted || !completed {
		t.Errorf("audit records of %s: submitted %v, completed %v:\n%s", clientData, submitted, completed, recordsText(recs))
	}
	noSecrets(t, "audit", recordsText(recs), map[string]string{"SAD": sad})

	// Clear CSC errors.
	for _, tt := range []struct {
		name string
		edit map[string]any
		want string
	}{
		{"bad operationMode", map[string]any{"operationMode": "B"}, "operationMode"},
		{"validity_period without A", map[string]any{"validity_period": 1000}, "validity_period"},
		{"response_uri", map[string]any{"operationMode": "A", "response_uri": "https://127.0.0.1:1/callback"}, "response_uri"},
		{"validity_period not positive", map[string]any{"operationMode": "A", "validity_period": -5}, "validity_period"},
	} {
		body := map[string]any{"credentialID": "alice-ec", "hashes": hashes, "signAlgo": oidECDSASHA256}
		for k, v := range tt.edit {
			body[k] = v
		}
		a := s.csc(t, "signatures/signHash", alice, body)
		a.refused(t, tt.name)
		if a.status != http.StatusBadRequest || a.json["error"] != "invalid_request" || !strings.Contains(a.json["error_description"].(string), tt.want) {
			t.Errorf("%s: %d %s", tt.name, a.status, a.raw)
		}
	}
	s.csc(t, csc.MethodSignPolling, alice, map[string]any{}).refused(t, "signPolling without responseID")
}

// TestCSCAsyncSignDoc: signDoc with operationMode "A" (enveloped and detached), polled to
// the signed document and the signature object; both are accepted by the independent
// verifiers and a tampered copy is rejected by them.
func TestCSCAsyncSignDoc(t *testing.T) {
	interop.Require(t)
	s := start(t)
	alice := s.token("alice")
	doc := []byte(`<invoice xmlns="urn:example:invoice"><id>43</id><amount currency="EUR">12.00</amount></invoice>`)
	id := cscSubmit(t, s.client, s.dev.URL, "signatures/signDoc", alice, map[string]any{
		"credentialID": "alice-rsa",
		"documents": []map[string]any{{"document": b64(doc), "signature_format": "X", "conformance_level": "Ades-B-T",
			"signAlgo": oidSHA256WithRSA, "signed_envelope_property": "Enveloped"}},
	})
	a := cscAwait(t, s.client, s.dev.URL, alice, id, 2*time.Minute)
	if a.status != http.StatusOK || a.json["DocumentWithSignature"] == nil {
		t.Fatalf("signDoc job: %d %s", a.status, a.raw)
	}
	signed, err := base64.StdEncoding.DecodeString(strs(a.json["DocumentWithSignature"])[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed, []byte("SignatureTimeStamp")) {
		t.Error("the Ades-B-T signature has no SignatureTimeStamp")
	}
	dir := t.TempDir()
	cert := s.certFile(t, "alice-rsa")
	alg := "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	cases := []interop.Case{
		{Name: "csc-async-signdoc", File: writeOut(t, filepath.Join(dir, "signed.xml"), signed), Cert: cert, XAdES: true, Alg: alg},
		{Name: "csc-async-signdoc-tampered", File: writeOut(t, filepath.Join(dir, "tampered.xml"), bytes.Replace(signed, []byte("12.00"), []byte("92.00"), 1)), Cert: cert, XAdES: true, Alg: alg},
	}
	judgePair(t, cases[0], cases[1])
}
