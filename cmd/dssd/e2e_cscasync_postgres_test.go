//go:build e2e && postgres

package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"dssd/dss/xades/interop"
)

// TestCSCAsyncJobSurvivesKill: the CSC asynchronous mode on two nodes sharing one PostgreSQL
// store. Node A accepts signDoc with operationMode "A" at Ades-B-T and claims the job; its
// timestamp authority (a server of this test) never answers, and while A waits for it A is
// killed with SIGKILL. Node B, started afterwards with a working authority, claims the job
// once A's lease has lapsed and finishes it: signatures/signPolling on B answers the signed
// document, which the independent verifiers accept, and the audit log holds the submission
// and the completion as attempt 2.
func TestCSCAsyncJobSurvivesKill(t *testing.T) {
	s := start(t)
	interop.Require(t)
	clientData := fmt.Sprintf("csc-async-kill-%d", time.Now().UnixNano())
	doc := []byte(`<order xmlns="urn:example:order"><id>7</id><total>31.00</total></order>`)
	b, cfgB, id := killAndResume(t, s, "DSSD_CSCASYNC_TEST_DSN", func(a *node, alice string) string {
		return cscSubmit(t, a.client, a.url, "signatures/signDoc", alice, map[string]any{
			"credentialID": "alice-rsa", "clientData": clientData,
			"documents": []map[string]any{{"document": b64(doc), "signature_format": "X", "conformance_level": "Ades-B-T",
				"signAlgo": oidSHA256WithRSA, "signed_envelope_property": "Enveloped"}},
		})
	})
	alice := s.token("alice")
	ans := cscAwait(t, b.client, b.url, alice, id, 2*time.Minute)
	if ans.status != http.StatusOK || ans.json["DocumentWithSignature"] == nil {
		t.Fatalf("job after the kill: %d %s\n%s", ans.status, ans.raw, b.logText())
	}
	signed, err := base64.StdEncoding.DecodeString(strs(ans.json["DocumentWithSignature"])[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed, []byte("SignatureTimeStamp")) {
		t.Error("no SignatureTimeStamp in the Ades-B-T signature")
	}
	dir := t.TempDir()
	file := writeOut(t, filepath.Join(dir, "signed.xml"), signed)
	verifyFiles(t, []interop.Case{{Name: "csc-async-after-kill", File: file, Cert: s.certFile(t, "alice-rsa"), XAdES: true, Alg: rsaSHA256}})
	checkResumedAudit(t, cfgB, clientData, id)
}
