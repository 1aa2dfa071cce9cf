//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss"
	"dssd/internal/testkit/storetest"
)

// node is a dssd process of its own (not the shared e2e server), for tests that kill it.
type node struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been waited for; then waitErr is set
	waitErr error
	log     string
	url     string
	client  *http.Client
	token   string // alice's bearer token
}

// startNode runs `dssd args...` (a serve command listening on addr) and waits until it is
// ready. devDir's dev.json gives the CA and alice's token. extraEnv is added to the
// environment.
func startNode(t *testing.T, bin, devDir, addr string, extraEnv []string, args ...string) *node {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "dssd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	n := &node{log: logPath, url: "https://" + addr, exited: make(chan struct{})}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Env = append(os.Environ(), extraEnv...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
	})
	deadline := time.Now().Add(3 * time.Minute) // a first --dev start creates the token and PKI
	for {
		select {
		case <-n.exited:
			t.Fatalf("dssd exited before it was ready: %v\n%s", n.waitErr, n.logText())
		default:
		}
		if n.client == nil {
			n.loadDev(devDir)
		}
		if n.client != nil {
			if resp, err := n.client.Get(n.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return n
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dssd not ready after 3 min\n%s", n.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *node) loadDev(devDir string) {
	var dev devJSON
	b, err := os.ReadFile(filepath.Join(devDir, "dev.json"))
	if err != nil || json.Unmarshal(b, &dev) != nil || dev.CA == "" {
		return
	}
	ca, err := os.ReadFile(dev.CA)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		return
	}
	for _, u := range dev.Users {
		if u.Name == "alice" {
			n.token = u.Token
		}
	}
	n.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

func (n *node) logText() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

// stop ends the node with SIGINT (a clean shutdown) and waits.
func (n *node) stop(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("dssd did not stop on SIGINT\n%s", n.logText())
	}
}

// signOnce sends one small enveloping XMLDSig request and reports whether a complete
// Success response arrived.
func (n *node) signOnce(id string) (bool, error) {
	c := signCase{sigType: dsigURI, placement: "enveloping", alg: ecdsaSHA256, cred: "alice-ec"}
	body := signRequestXML(id, c, []byte("<doc>"+id+"</doc>"))
	req, err := http.NewRequest(http.MethodPost, n.url+"/sign", strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := n.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return false, fmt.Errorf("status %d, not XML", resp.StatusCode)
	}
	major := find(doc.Root(), nsDSB, "ResultMajor")
	sig := find(doc.Root(), nsDSS2, "SignatureObject")
	ok := resp.StatusCode == http.StatusOK && major != nil && major.Text() == dss.MajorSuccess && sig != nil
	if !ok {
		return false, fmt.Errorf("status %d: %.300s", resp.StatusCode, raw)
	}
	return true, nil
}

// loadAndKill signs from several clients; once `after` signatures have been answered it kills
// the node with SIGKILL. It returns the RequestIDs of every signature whose response arrived
// complete, and how many requests were in flight or failed at the kill.
func loadAndKill(t *testing.T, n *node, prefix string, after int) (acked []string, failed int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var once sync.Once
	kill := func() {
		once.Do(func() {
			if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill: %v", err)
			}
		})
	}
	var firstErr error
	stopAt := time.Now().Add(2 * time.Minute)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stopAt); i++ {
				id := fmt.Sprintf("%s-w%d-%d", prefix, w, i)
				ok, err := n.signOnce(id)
				mu.Lock()
				if ok {
					acked = append(acked, id)
					if len(acked) >= after {
						kill()
					}
				} else {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
				if err != nil {
					return // the node is gone (or broken): this client stops
				}
			}
		}()
	}
	wg.Wait()
	kill()
	<-n.exited
	err := n.waitErr
	ws, ok := n.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("dssd was not killed by SIGKILL (%v); first client error: %v\n%s", err, firstErr, n.logText())
	}
	if len(acked) < after {
		t.Fatalf("only %d signatures before the node failed (first error: %v)\n%s", len(acked), firstErr, n.logText())
	}
	return acked, failed
}

// checkAudit opens the store of the configuration and requires a record of each acknowledged
// signature (action sign, Success, same RequestID) and a chain that `dssd audit verify
// verifyArgs...` accepts.
func checkAudit(t *testing.T, bin, cfgPath string, verifyArgs, extraEnv []string, acked []string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"audit", "verify"}, verifyArgs...)...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain: intact") {
		t.Fatalf("dssd audit verify: %v\n%s", err, out)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStoreBackend(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	signedOK := map[string]bool{}
	var records, after int64
	for {
		page, err := st.Records(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			records++
			if r.Action == dss.AuditSign && r.Major == dss.MajorSuccess && r.Credential == "alice-ec" && r.User == "alice" {
				if signedOK[r.RequestID] {
					t.Errorf("signature %s recorded twice", r.RequestID)
				}
				signedOK[r.RequestID] = true
			}
		}
		after = page[len(page)-1].Seq
	}
	storetest.RequireLogged(t, "signature", acked, signedOK)
	t.Logf("%d signatures answered, %d successful sign records (%d records in all), chain verifies:\n%s",
		len(acked), len(signedOK), records, bytes.TrimSpace(out))
}

// TestAuditSurvivesKillSQLite: a dssd with the default SQLite store is killed with SIGKILL
// twice under a signing load; every signature whose response was received has its audit
// record, and the chain verifies.
func TestAuditSurvivesKillSQLite(t *testing.T) {
	bin := start(t).bin
	devDir := filepath.Join(t.TempDir(), "dev")
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var acked []string
	for round, after := range []int{80, 120} {
		n := startNode(t, bin, devDir, addr, nil, "serve", "--dev", "--dev-dir", devDir, "--addr", addr)
		ids, failed := loadAndKill(t, n, fmt.Sprintf("sqlite-r%d", round), after)
		t.Logf("round %d: %d answered, %d in flight or refused at the kill", round, len(ids), failed)
		acked = append(acked, ids...)
	}
	checkAudit(t, bin, filepath.Join(devDir, "dssd.yaml"), []string{"--dev", "--dev-dir", devDir}, nil, acked)
}
