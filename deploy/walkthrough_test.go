//go:build softhsm && e2e

package deploy

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var walkthroughRE = regexp.MustCompile("(?s)<!-- walkthrough( postgres)? -->\n```sh\n(.*?)```")

// walkthroughPG returns the DSN of a fresh PostgreSQL schema for the blocks marked
// "walkthrough postgres"; it is set when the tests are built with the postgres tag.
var walkthroughPG func(t *testing.T) string

// TestDeployWalkthrough runs the commands of docs/deploy.md, "From an empty HSM to the first
// signature", as written: a fresh SoftHSM2 token, a health key made with pkcs11-tool, a
// throwaway CA, `dssd check-config`, a user and two credentials made with `dssd user` and
// `dssd credential` (keys generated and requests signed in the token), `dssd serve` without
// dev mode, two signatures with `dss sign`, each verified by xmlsec1 up to the CA; with the
// postgres tag, then two nodes on one PostgreSQL database, a user and a credential made while
// they run, each node signing once, and `dssd audit verify` over their shared chain.
func TestDeployWalkthrough(t *testing.T) {
	for _, tool := range [][2]string{
		{"softhsm2-util", "softhsm2"}, {"pkcs11-tool", "opensc"}, {"openssl", "openssl"},
		{"xmlsec1", "xmlsec1"}, {"curl", "curl"},
	} {
		requireTool(t, tool[0], tool[1])
	}
	blocks := walkthroughRE.FindAllStringSubmatch(string(read(t, "../docs/deploy.md")), -1)
	var steps, pgSteps []string
	for _, b := range blocks {
		if b[1] == "" {
			steps = append(steps, b[2])
		} else {
			pgSteps = append(pgSteps, b[2])
		}
	}
	if len(steps) < 7 || len(pgSteps) < 1 {
		t.Fatalf("%d walkthrough blocks and %d for PostgreSQL in docs/deploy.md, want 7 and 1", len(steps), len(pgSteps))
	}
	pgDSN := ""
	if walkthroughPG != nil {
		pgDSN = walkthroughPG(t)
		steps = append(steps, pgSteps...)
	} else {
		t.Log("the PostgreSQL part of the walkthrough runs with -tags postgres (make test)")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	for _, p := range []string{"dssd", "dss"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, p), "../cmd/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
	}
	// Two free ports (both held while choosing, so they differ), released for the nodes.
	var addrs []string
	var ls []net.Listener
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// The walkthrough stops its server; this stops it when a step fails first.
	script.WriteString(`trap 'if [ -n "${NODES:-}" ]; then kill $NODES 2>/dev/null || true; fi; if [ -n "${DSSD_PID:-}" ]; then kill "$DSSD_PID" 2>/dev/null || true; fi' EXIT` + "\n")
	for _, b := range steps {
		script.WriteString(b)
	}
	home := filepath.Join(root, "etc-dssd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"DSSD_HOME="+home, "ADDR="+addrs[0], "ADDR2="+addrs[1], "PG_DSN="+pgDSN, "HOME="+root,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(home, "data", "dssd.log"))
		nodes, _ := os.ReadFile(filepath.Join(home, "data", "nodes.log"))
		t.Fatalf("the walkthrough failed: %v\n%s\n--- dssd log ---\n%s\n--- nodes log (PostgreSQL) ---\n%s", err, out, log, nodes)
	}
	text := string(out)
	if n := strings.Count(text, "\nOK\n"); pgDSN == "" && n != 2 {
		t.Errorf("xmlsec1 accepted %d signatures, want 2:\n%s", n, text)
	}
	for _, want := range []string{
		`dssd_signatures_total{format="xades",key_type="EC-P256",result="ok"} 1`,
		`dssd_signatures_total{format="xades",key_type="RSA-3072",result="ok"} 1`,
		"ready",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the walkthrough output lacks %q:\n%s", want, text)
		}
	}
	if pgDSN != "" {
		if n := strings.Count(text, "\nOK\n"); n != 4 {
			t.Errorf("xmlsec1 accepted %d signatures, want 4 (two nodes sign once each)", n)
		}
		if !strings.Contains(text, "records: 8") {
			t.Errorf("dssd audit verify does not count 8 records (two starts, four admin actions, two signatures) on PostgreSQL:\n%s", text)
		}
	}
	// The keys are in the token and cannot leave it.
	if !strings.Contains(text, "\n3\n") {
		t.Errorf("pkcs11-tool does not list 3 never-extractable private keys:\n%s", text)
	}
	// The secrets never reached the server's log.
	log := string(read(t, filepath.Join(home, "data", "dssd.log")))
	for _, f := range []string{"hsm.pin", "alice.token", "sad.key", "audit.key", "alice-pg.token"} {
		if f == "alice-pg.token" && pgDSN == "" {
			continue
		}
		secret := strings.TrimSpace(string(read(t, filepath.Join(home, "secrets", f))))
		if strings.Contains(log, secret) || strings.Contains(text, secret) {
			t.Errorf("the secret of %s appears in the output or the log", f)
		}
	}
}
