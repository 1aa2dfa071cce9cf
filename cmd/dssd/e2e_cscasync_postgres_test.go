//go:build e2e && postgres

package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dssd/dss"
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
	dsn, _ := freshPGSchema(t)
	const dsnEnv = "DSSD_CSCASYNC_TEST_DSN"
	t.Setenv(dsnEnv, dsn)

	claimed := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case claimed <- struct{}{}:
		default:
		}
		select { // never answers while A lives
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer func() {
		close(release)
		hang.CloseClientConnections()
		hang.Close()
	}()

	async := map[string]any{"workers": 1, "lease": "3s", "poll_interval": "200ms"}
	cfgA := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "postgres", "dsn_env": dsnEnv}
		c["async"] = async
		ts := c["timestamp"].(map[string]any)
		ts["url"] = hang.URL + "/tsa"
		ts["timeout"] = "5m"
	})
	cfgB := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "postgres", "dsn_env": dsnEnv}
		c["async"] = async
	})
	addrA, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, s.bin, s.devDir, addrA, nil, "serve", "--config", cfgA, "--addr", addrA)
	alice := s.token("alice")
	clientData := fmt.Sprintf("csc-async-kill-%d", time.Now().UnixNano())
	doc := []byte(`<order xmlns="urn:example:order"><id>7</id><total>31.00</total></order>`)
	id := cscSubmit(t, a.client, a.url, "signatures/signDoc", alice, map[string]any{
		"credentialID": "alice-rsa", "clientData": clientData,
		"documents": []map[string]any{{"document": b64(doc), "signature_format": "X", "conformance_level": "Ades-B-T",
			"signAlgo": oidSHA256WithRSA, "signed_envelope_property": "Enveloped"}},
	})

	select {
	case <-claimed:
	case <-time.After(time.Minute):
		t.Fatalf("node A did not start the job\n%s", a.logText())
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited

	addrB, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	b := startNode(t, s.bin, s.devDir, addrB, nil, "serve", "--config", cfgB, "--addr", addrB)
	defer b.stop(t)
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

	recs := byRequestID(auditRecords(t, cfgB), clientData)
	var submitted, finished bool
	for _, rec := range recs {
		switch {
		case rec.Action == dss.AuditSubmit && rec.Major == majorPending:
			submitted = true
		case rec.Action == dss.AuditSign && rec.Major == dss.MajorSuccess && strings.Contains(rec.Detail, id+", attempt 2"):
			finished = true
		}
	}
	if !submitted || !finished {
		t.Errorf("audit of %s: submitted %v, finished on the second attempt %v:\n%s", clientData, submitted, finished, recordsText(recs))
	}
}
