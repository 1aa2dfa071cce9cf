//go:build e2e

package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss"
	"dssd/hsm/softhsm"
)

// hsmServer is SoftHSM2 behind p11-kit's remote module: a `p11-kit server` process (the "HSM",
// killed and restarted alone) serving a copy of the development token on a Unix socket.
type hsmServer struct {
	bin, module string
	conf, sock  string
	cmd         *exec.Cmd
	exited      chan struct{}
}

func (h *hsmServer) start(t *testing.T) {
	t.Helper()
	_ = os.Remove(h.sock) // a killed server leaves its socket behind
	h.cmd = exec.Command(h.bin, "server", "-f", "-n", h.sock, "--provider", h.module,
		"pkcs11:token=dssd-dev")
	h.cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.conf)
	h.cmd.Stdout, h.cmd.Stderr = io.Discard, io.Discard
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: kill takes any child too
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("p11-kit server: %v", err)
	}
	h.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(h.cmd, h.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(h.sock); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("p11-kit server did not create its socket within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server's process group with SIGKILL, as a crash would.
func (h *hsmServer) kill(t *testing.T) {
	t.Helper()
	if h.cmd == nil {
		return
	}
	_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("p11-kit server did not die")
	}
	h.cmd = nil
}

// signOutcome is one sign request of the load.
type signOutcome struct {
	start, end time.Time
	status     int
	minor      string
	ok         bool
	err        error
}

// signLoad sends hash-signing requests from a few clients, one after another each, and keeps
// every signOutcome.
type signLoad struct {
	mu       sync.Mutex
	out      []signOutcome
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func (l *signLoad) run(n *node, clients int) {
	l.stop = make(chan struct{})
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				o := signOnce(n, fmt.Sprintf("outage-%d-%d", c, i))
				l.mu.Lock()
				l.out = append(l.out, o)
				l.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
}

func (l *signLoad) halt() { l.stopOnce.Do(func() { close(l.stop) }); l.wg.Wait() }

func (l *signLoad) snapshot() []signOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]signOutcome(nil), l.out...)
}

func signOnce(n *node, id string) signOutcome {
	o := signOutcome{start: time.Now()}
	body := hashRequest(id, "alice-ec", "", "", "", nil, sum([]byte(id)))
	r, err := http.NewRequest(http.MethodPost, n.url+"/sign", strings.NewReader(body))
	if err != nil {
		o.err = err
		return o
	}
	r.Header.Set("Content-Type", "application/xml")
	r.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := n.client.Do(r)
	if err != nil {
		o.err, o.end = err, time.Now()
		return o
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.end, o.status = time.Now(), resp.StatusCode
	if err != nil {
		o.err = err
		return o
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		o.err = fmt.Errorf("HTTP %d, not XML: %.200s", resp.StatusCode, raw)
		return o
	}
	res := find(doc.Root(), nsDSB, "Result")
	if res == nil {
		o.err = fmt.Errorf("HTTP %d without dsb:Result: %.200s", resp.StatusCode, raw)
		return o
	}
	if e := find(res, nsDSB, "ResultMinor"); e != nil {
		o.minor = e.Text()
	}
	if e := find(res, nsDSB, "ResultMajor"); e != nil {
		o.ok = strings.HasSuffix(e.Text(), ":Success")
	}
	return o
}

func p11KitClientModule(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob("/usr/lib/*/pkcs11/p11-kit-client.so")
	if len(m) == 0 {
		t.Fatal("p11-kit-client.so not found: install the Debian package p11-kit-modules (bash .ci/deps.sh test)")
	}
	return m[0]
}

// TestHSMOutageHeals puts the node's token behind p11-kit's remote module and takes the HSM
// away: its server process is killed for 5, 20 and 35 s and restarted, then the token
// directory is moved away for 5 s and back. Each time, while the HSM is away every signing
// request is answered HSMUnavailable (never GeneralError) well within the request timeout,
// /readyz says not ready, and signing works again within 5 s of the HSM's return, without
// restarting dssd. Every change of state is logged and counted.
func TestHSMOutageHeals(t *testing.T) {
	s := start(t)
	module := p11KitClientModule(t)
	p11kit, err := exec.LookPath("p11-kit")
	if err != nil {
		t.Fatal("p11-kit not found: install the Debian package p11-kit (bash .ci/deps.sh test)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.CopyFS(tokens, os.DirFS(filepath.Join(s.devDir, "hsm", "tokens"))); err != nil {
		t.Fatal(err)
	}
	tokDirs, _ := filepath.Glob(filepath.Join(tokens, "*"))
	if len(tokDirs) != 1 {
		t.Fatalf("want one token directory in the copy, have %v", tokDirs)
	}
	conf := writeOut(t, filepath.Join(dir, "softhsm2.conf"), []byte(softhsm.Conf(tokens)))
	provider, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	hs := &hsmServer{bin: p11kit, module: provider, conf: conf, sock: filepath.Join(dir, "p11.sock")}
	hs.start(t)
	t.Cleanup(func() { hs.kill(t) })

	const requestTimeout = 10 * time.Second
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		h := c["hsm"].(map[string]any)
		h["module"] = module
		delete(h, "softhsm2_conf")
		c["store"] = map[string]any{"type": "sqlite", "path": filepath.Join(dir, "dssd.db")}
		c["limits"] = map[string]any{"request_timeout": requestTimeout.String()}
	})
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, s.bin, s.devDir, addr, []string{"P11_KIT_SERVER_ADDRESS=unix:path=" + hs.sock},
		"serve", "--config", cfgPath, "--addr", addr)
	pid := n.cmd.Process.Pid
	if o := signOnce(n, "before"); !o.ok {
		t.Fatalf("signing through p11-kit before any outage: %+v\n%s", o, n.logText())
	}

	load := &signLoad{}
	// Two clients, a request every ~100 ms each: enough to see every state, without the load
	// (each request is an fsynced audit record) starving the machine the recovery is timed on.
	load.run(n, 2)
	defer load.halt()

	readyz := func() int {
		resp, err := n.client.Get(n.url + "/readyz")
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// outage takes the HSM away with take, waits d, gives it back with give and checks the
	// outcomes of that period.
	outage := func(name string, d time.Duration, take, give func()) {
		t.Helper()
		gone := time.Now()
		take()
		time.Sleep(min(d/2, 2*time.Second))
		if code := readyz(); code != http.StatusServiceUnavailable {
			t.Errorf("%s: /readyz during the outage = %d, want 503", name, code)
		}
		time.Sleep(d - min(d/2, 2*time.Second))
		// The HSM is back once give returns: the restarted server listens on its socket (its
		// start-up, which can take a while on a loaded machine, is not dssd's doing), or the
		// token directory is in place again.
		giving := time.Now()
		give()
		back := time.Now()
		var healed time.Time
		deadline := back.Add(15 * time.Second)
		for healed.IsZero() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			for _, o := range load.snapshot() {
				if o.ok && o.start.After(back) && (healed.IsZero() || o.end.Before(healed)) {
					healed = o.end
				}
			}
		}
		if healed.IsZero() {
			t.Fatalf("%s: signing not back 15 s after the HSM returned\n%s", name, n.logText())
		}
		var unavailable, other int
		for _, o := range load.snapshot() {
			// Requests that began once the HSM was gone and ended before it was back.
			if o.start.Before(gone) || o.end.After(back) || o.err != nil {
				continue
			}
			if o.minor == dss.MinorHSMUnavailable {
				unavailable++
			} else {
				other++
				if other <= 3 {
					t.Errorf("%s: a request during the outage got %+v", name, o)
				}
			}
		}
		recovery := healed.Sub(back)
		t.Logf("%s: HSM away %s; %d requests answered HSMUnavailable meanwhile, %d otherwise; HSM start-up %s; signing back %s after its return",
			name, d, unavailable, other, back.Sub(giving).Round(time.Millisecond), recovery.Round(time.Millisecond))
		if unavailable == 0 {
			t.Errorf("%s: no request was answered HSMUnavailable during the outage", name)
		}
		if recovery > 5*time.Second {
			t.Errorf("%s: signing came back %s after the HSM returned, want within 5 s", name, recovery)
		}
		if code := readyz(); code != http.StatusOK {
			t.Errorf("%s: /readyz after the recovery = %d", name, code)
		}
	}

	for _, d := range []time.Duration{5 * time.Second, 20 * time.Second, 35 * time.Second} {
		outage(fmt.Sprintf("server killed for %s", d), d, func() { hs.kill(t) }, func() { hs.start(t) })
	}
	away := filepath.Join(dir, "away")
	outage("token directory moved away for 5s", 5*time.Second,
		func() {
			if err := os.Rename(tokDirs[0], away); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.Rename(away, tokDirs[0]); err != nil {
				t.Fatal(err)
			}
		})
	load.halt()

	// No request past its timeout, every answer a DSS response.
	var slowest time.Duration
	all := load.snapshot()
	for _, o := range all {
		if o.err != nil {
			t.Errorf("request failed without a DSS response: %v", o.err)
			continue
		}
		slowest = max(slowest, o.end.Sub(o.start))
	}
	t.Logf("%d requests, the slowest took %s (request timeout %s)", len(all), slowest.Round(time.Millisecond), requestTimeout)
	if slowest >= requestTimeout {
		t.Errorf("a request took %s, past the request timeout %s", slowest, requestTimeout)
	}
	select {
	case <-n.exited:
		t.Fatalf("dssd exited: %v", n.waitErr)
	default:
	}
	if n.cmd.Process.Pid != pid {
		t.Fatal("dssd was restarted")
	}

	// Every change of state logged (down: ERROR, up: WARN) and counted.
	logs := n.logText()
	downs := len(regexp.MustCompile(`"level":"ERROR","msg":"hsm down`).FindAllString(logs, -1))
	ups := len(regexp.MustCompile(`"level":"WARN","msg":"hsm back up`).FindAllString(logs, -1))
	if downs != 4 || ups != 4 {
		t.Errorf("log has %d 'hsm down' ERROR and %d 'hsm back up' WARN events, want 4 and 4\n%s", downs, ups, logs)
	}
	resp, err := n.client.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dssd_hsm_state_changes_total{state="down"} 4`, `dssd_hsm_state_changes_total{state="up"} 4`, "dssd_hsm_up 1"} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
