//go:build softhsm

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

var walkthroughRE = regexp.MustCompile("(?s)<!-- walkthrough -->\n```sh\n(.*?)```")

// TestDeployWalkthrough runs the commands of docs/deploy.md, "From an empty HSM to the first
// signature", as written: a fresh SoftHSM2 token, keys generated in it with pkcs11-tool,
// certificate requests signed in the token through openssl's PKCS#11 engine, a throwaway CA,
// `dssd check-config`, `dssd serve` without dev mode, two signatures with `dss sign`, each
// verified by xmlsec1 up to the CA.
func TestDeployWalkthrough(t *testing.T) {
	for _, tool := range [][2]string{
		{"softhsm2-util", "softhsm2"}, {"pkcs11-tool", "opensc"}, {"openssl", "openssl"},
		{"xmlsec1", "xmlsec1"}, {"curl", "curl"},
	} {
		requireTool(t, tool[0], tool[1])
	}
	if m, _ := filepath.Glob("/usr/lib/*/engines-3/pkcs11.so"); len(m) == 0 {
		t.Fatal("openssl's PKCS#11 engine is missing: apt-get install libengine-pkcs11-openssl (bash .ci/deps.sh test installs it)")
	}
	blocks := walkthroughRE.FindAllStringSubmatch(string(read(t, "../docs/deploy.md")), -1)
	if len(blocks) < 6 {
		t.Fatalf("%d walkthrough blocks in docs/deploy.md, want the 7 steps", len(blocks))
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	for _, p := range []string{"dssd", "dss"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, p), "../cmd/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// The walkthrough stops its server; this stops it when a step fails first.
	script.WriteString(`trap 'if [ -n "${DSSD_PID:-}" ]; then kill "$DSSD_PID" 2>/dev/null || true; fi' EXIT` + "\n")
	for _, b := range blocks {
		script.WriteString(b[1])
	}
	home := filepath.Join(root, "etc-dssd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"DSSD_HOME="+home, "ADDR="+addr, "HOME="+root,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(home, "data", "dssd.log"))
		t.Fatalf("the walkthrough failed: %v\n%s\n--- dssd log ---\n%s", err, out, log)
	}
	text := string(out)
	if n := strings.Count(text, "\nOK\n"); n != 2 {
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
	// The keys are in the token and cannot leave it.
	if !strings.Contains(text, "\n3\n") {
		t.Errorf("pkcs11-tool does not list 3 never-extractable private keys:\n%s", text)
	}
	// The secrets never reached the server's log.
	log := string(read(t, filepath.Join(home, "data", "dssd.log")))
	for _, f := range []string{"hsm.pin", "alice.token", "sad.key", "audit.key"} {
		secret := strings.TrimSpace(string(read(t, filepath.Join(home, "secrets", f))))
		if strings.Contains(log, secret) || strings.Contains(text, secret) {
			t.Errorf("the secret of %s appears in the output or the log", f)
		}
	}
}
