//go:build e2e && postgres

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dssd/dss/xades/interop"
)

// TestAsyncJobSurvivesKill: two nodes share one PostgreSQL store. Node A accepts an
// asynchronous B-T request and claims the job; its timestamp authority (a server of this
// test) never answers, and while A waits for it A is killed with SIGKILL. Node B, started
// afterwards with a working authority, claims the job once A's lease has lapsed and
// finishes it: B answers the poll with the complete SignResponse, the signature is accepted
// by the independent verifiers, and the audit log holds the submission on A and the
// completion as attempt 2.
func TestAsyncJobSurvivesKill(t *testing.T) {
	s := start(t)
	interop.Require(t)
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	reqID := fmt.Sprintf("async-kill-%d", time.Now().UnixNano())
	b, cfgB, id := killAndResume(t, s, "DSSD_ASYNC_TEST_DSN", func(a *node, alice string) string {
		c := signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: "alice-rsa"}
		req := withProfiles(asyncByOption(signRequestXML(reqID, c, invoice)), "urn:dssd:level:B-T")
		return submitAsync(t, a.client, a.url, viaSOAP12, alice, req, reqID, "", nil)
	})
	alice := s.token("alice")
	raw := awaitDone(t, b.client, b.url, viaPOST, alice, id, 2*time.Minute)
	root, r := parseResponse(t, raw)
	if !r.ok() {
		t.Fatalf("job after the kill: %s %s: %s\n%s", r.major, r.minor, r.message, b.logText())
	}
	dir := t.TempDir()
	validateResponses(t, dir, []string{writeOut(t, filepath.Join(dir, "response.xml"), raw)})
	sig := decodeValue(t, find(root, nsDSS2, "Base64Signature"))
	if !strings.Contains(string(sig), ":SignatureTimeStamp") {
		t.Error("no SignatureTimeStamp in the B-T signature")
	}
	file := writeOut(t, filepath.Join(dir, "signed.xml"), sig)
	verifyFiles(t, []interop.Case{{Name: "async-after-kill", File: file, Cert: s.certFile(t, "alice-rsa"), XAdES: true, Alg: rsaSHA256}})
	checkResumedAudit(t, cfgB, reqID, id)
}

// killAndResume is the two-node scenario of the kill tests. Both nodes share a fresh
// PostgreSQL schema (named to the nodes by the environment variable dsnEnv). Node A's
// timestamp authority (a server of this test) never answers; submit hands A the asynchronous
// request (alice's token) and returns the job id; once A has claimed the job and waits for
// the authority, A is killed with SIGKILL. Node B, started afterwards with a working
// authority, is returned (stopped at the end of the test) with its configuration file.
func killAndResume(t *testing.T, s *server, dsnEnv string, submit func(a *node, alice string) string) (b *node, cfgB, id string) {
	t.Helper()
	dsn, _ := freshPGSchema(t)
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
	t.Cleanup(func() {
		close(release)
		hang.CloseClientConnections()
		hang.Close()
	})

	async := map[string]any{"workers": 1, "lease": "3s", "poll_interval": "200ms"}
	cfgA := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "postgres", "dsn_env": dsnEnv}
		c["async"] = async
		ts := c["timestamp"].(map[string]any)
		ts["url"] = hang.URL + "/tsa"
		ts["timeout"] = "5m"
	})
	cfgB = nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "postgres", "dsn_env": dsnEnv}
		c["async"] = async
	})
	addrA, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, s.bin, s.devDir, addrA, nil, "serve", "--config", cfgA, "--addr", addrA)
	id = submit(a, s.token("alice"))

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
	b = startNode(t, s.bin, s.devDir, addrB, nil, "serve", "--config", cfgB, "--addr", addrB)
	t.Cleanup(func() { b.stop(t) })
	return b, cfgB, id
}

// checkResumedAudit requires the audit log of the kill tests to hold, for the request key,
// the submission and the completion of job id as its attempt 2.
func checkResumedAudit(t *testing.T, cfg, key, id string) {
	t.Helper()
	submitted, finished, recs := jobAudit(t, cfg, key, "", id+", attempt 2")
	if !submitted || !finished {
		t.Errorf("audit of %s: submitted %v, finished on the second attempt %v:\n%s", key, submitted, finished, recordsText(recs))
	}
}
