//go:build cgo && !nopkcs11

package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
	"github.com/thales-e-security/pool"

	"dssd/hsm"
)

// stateLog records what the KeyManager reports through OnStateChange and its Logger.
type stateLog struct {
	mu     sync.Mutex
	states []string
	logs   bytes.Buffer
}

func (l *stateLog) record(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, s)
}

func (l *stateLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.states...)
}

func (l *stateLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logs.Write(p)
}

func (l *stateLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logs.String()
}

func (l *stateLog) config(cfg Config) Config {
	cfg.OnStateChange = l.record
	cfg.Logger = slog.New(slog.NewTextHandler(l, nil))
	return cfg
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestRebuildProbesAtAFixedInterval: however many attempts fail, the next one comes one
// ProbeInterval later (no growing back-off), so the backend is back within about one interval
// of the token's return. Every change of state is reported and logged once.
func TestRebuildProbesAtAFixedInterval(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	var sl stateLog
	km := openFake(t, tok, sl.config(Config{ProbeInterval: 10 * time.Millisecond}))
	s, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	const failures = 40 // a doubling back-off from 10 ms would wait 10 ms × 2^39 before the last
	for range failures {
		tok.injectConfigure(p11err(pkcs11.CKR_DEVICE_ERROR))
	}
	tok.inject("sign", p11err(pkcs11.CKR_DEVICE_REMOVED))
	start := time.Now()
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign = %v, want hsm.ErrUnavailable", err)
	}
	waitFor(t, "the rebuild after 40 failed attempts", func() bool { return km.rebuildCount() == 1 })
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("41 attempts at a 10 ms interval took %s", d)
	}
	if n := tok.configures.Load(); n != failures+2 {
		t.Errorf("configure called %d times, want %d", n, failures+2)
	}
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
		t.Fatalf("Sign after the rebuild: %v", err)
	}
	if got := sl.got(); !equal(got, []string{StateDown, StateUp}) {
		t.Errorf("state changes %v, want [down up]", got)
	}
	logs := sl.text()
	for _, want := range []string{"level=ERROR msg=\"hsm down", "CKR_DEVICE_REMOVED", "level=WARN msg=\"hsm back up", "down_for="} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, testPIN) {
		t.Error("the PIN reached the log")
	}
}

// TestVanishedKeyIsADeviceFault: a key the context found before and now cannot find means the
// token (or its storage) failed: clients get hsm.ErrUnavailable, not ErrKeyNotFound, the
// backend rebuilds, and it comes back only once the health key is there again.
func TestVanishedKeyIsADeviceFault(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	addECKey(t, tok, "health", 9)
	var sl stateLog
	km := openFake(t, tok, sl.config(Config{HealthKey: hsm.KeyRef{Label: "health", ID: []byte{9}}}))
	ctx := context.Background()
	s, err := km.Signer(ctx, hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	// A key never found is an ordinary lookup failure.
	if _, err := km.Signer(ctx, hsm.KeyRef{Label: "never"}); !errors.Is(err, hsm.ErrKeyNotFound) || errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Signer of an unknown key = %v, want hsm.ErrKeyNotFound only", err)
	}
	// The storage disappears: the cached handle is stale, the search finds nothing.
	tok.mu.Lock()
	tok.findResult = func() []crypto11.Signer { return nil }
	tok.mu.Unlock()
	tok.inject("sign", p11err(pkcs11.CKR_KEY_HANDLE_INVALID))
	_, err = s.Sign(rand.Reader, digest(), crypto.SHA256)
	if !errors.Is(err, hsm.ErrUnavailable) || !strings.Contains(err.Error(), "found before and is gone") {
		t.Fatalf("Sign with the key gone = %v, want hsm.ErrUnavailable (key gone)", err)
	}
	if km.isUp() {
		t.Fatal("backend still up after a key vanished")
	}
	// The token opens again, but without its keys: not up yet.
	waitFor(t, "reopening attempts", func() bool { return tok.configures.Load() >= 4 })
	if km.isUp() || km.rebuildCount() != 0 {
		t.Fatal("backend came up on a token without its health key")
	}
	if err := km.Ready(ctx); !errors.Is(err, hsm.ErrUnavailable) || !strings.Contains(err.Error(), "health key") {
		t.Errorf("Ready while the keys are gone = %v", err)
	}
	if n := tok.openContexts(); n > 1 {
		t.Errorf("%d contexts left open by failed attempts", n)
	}
	tok.mu.Lock()
	tok.findResult = nil
	tok.mu.Unlock()
	waitFor(t, "the rebuild", func() bool { return km.rebuildCount() == 1 })
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); err != nil {
		t.Fatalf("Sign after the keys returned: %v", err)
	}
	// The rebuild counts itself before it sends the up notice: wait for the notice.
	waitFor(t, "the up notice", func() bool { return len(sl.got()) >= 2 })
	if got := sl.got(); !equal(got, []string{StateDown, StateUp}) {
		t.Errorf("state changes %v, want [down up]", got)
	}
}

// TestLoginRefusedStopsProbing: a refused PIN during a rebuild is reported as its own state.
func TestLoginRefusedStopsProbing(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	var sl stateLog
	km := openFake(t, tok, sl.config(Config{}))
	tok.injectConfigure(p11err(pkcs11.CKR_PIN_LOCKED))
	tok.inject("find", p11err(pkcs11.CKR_DEVICE_ERROR))
	if _, err := km.Signer(context.Background(), hsm.KeyRef{Label: "k"}); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Signer = %v", err)
	}
	waitFor(t, "login_refused", func() bool { return len(sl.got()) == 2 })
	if got := sl.got(); !equal(got, []string{StateDown, StateLoginRefused}) {
		t.Errorf("state changes %v, want [down login_refused]", got)
	}
	if !strings.Contains(sl.text(), "level=ERROR msg=\"hsm login refused") {
		t.Errorf("no ERROR log for the refused PIN:\n%s", sl.text())
	}
}

// TestReadyAnswersFromTheProbe: Ready makes no token call; it reflects the down state and
// the background probe's last result, and a probe that found no free session (a busy token)
// does not make the node unready.
func TestReadyAnswersFromTheProbe(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "health", 9)
	o := testOptions(tok)
	o.noProber = false
	km, err := open(context.Background(), Config{TokenLabel: "fake", PIN: testPIN, ProbeInterval: 5 * time.Millisecond,
		HealthKey: hsm.KeyRef{Label: "health", ID: []byte{9}}, Logger: slog.New(slog.DiscardHandler)}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer km.Close()
	ctx := context.Background()
	waitFor(t, "background probes", func() bool { return tok.signs.Load() >= 3 })
	if err := km.Ready(ctx); err != nil {
		t.Fatalf("Ready = %v", err)
	}

	// Ready itself never reaches the token, even while it hangs.
	tok.mu.Lock()
	tok.hang = make(chan struct{})
	tok.mu.Unlock()
	signs, finds := tok.signs.Load(), tok.finds.Load()
	for range 100 {
		if err := km.Ready(ctx); err != nil {
			t.Fatalf("Ready with a probe in flight = %v", err)
		}
	}
	if tok.finds.Load() != finds || tok.signs.Load() > signs+1 {
		t.Error("Ready called the token")
	}
	close(tok.hang)
	tok.mu.Lock()
	tok.hang = nil
	tok.mu.Unlock()

	// A busy token (no free session) is not a failure.
	tok.inject("sign", pool.ErrTimeout, pool.ErrTimeout, pool.ErrTimeout)
	waitFor(t, "busy probes", func() bool {
		tok.mu.Lock()
		defer tok.mu.Unlock()
		return len(tok.faults["sign"]) == 0
	})
	if err := km.Ready(ctx); err != nil {
		t.Errorf("Ready after busy probes = %v", err)
	}

	// A device that corrupts signatures: the probe fails, Ready says so.
	tok.mu.Lock()
	tok.corrupt = true
	tok.mu.Unlock()
	waitFor(t, "a failed probe", func() bool { return km.Ready(ctx) != nil })
	if err := km.Ready(ctx); !errors.Is(err, hsm.ErrUnavailable) || !errors.Is(err, hsm.ErrBadSignature) {
		t.Errorf("Ready with a corrupting device = %v", err)
	}
	tok.mu.Lock()
	tok.corrupt = false
	tok.mu.Unlock()
	waitFor(t, "a good probe", func() bool { return km.Ready(ctx) == nil })

	// The probe finds a dead device without any client traffic.
	tok.inject("sign", p11err(pkcs11.CKR_DEVICE_REMOVED))
	waitFor(t, "the probe to mark the backend down", func() bool { return km.rebuildCount() == 1 })
}

// TestVanishedKeyWhileAnotherCallMarksDown: the key search of one call runs while another
// call (or the probe) takes the context out of service; the first still answers
// hsm.ErrUnavailable, never ErrKeyNotFound (seen as one GeneralError in the outage test).
func TestVanishedKeyWhileAnotherCallMarksDown(t *testing.T) {
	tok := newFakeToken()
	addECKey(t, tok, "k", 1)
	km := openFake(t, tok, Config{})
	ctx := context.Background()
	s, err := km.Signer(ctx, hsm.KeyRef{Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	km.mu.Lock()
	gen := km.gen
	km.mu.Unlock()
	tok.mu.Lock()
	tok.findResult = func() []crypto11.Signer {
		km.markDown(gen, errors.New("test: the probe found the device gone"))
		return nil
	}
	tok.mu.Unlock()
	tok.inject("sign", p11err(pkcs11.CKR_KEY_HANDLE_INVALID))
	if _, err := s.Sign(rand.Reader, digest(), crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign = %v, want hsm.ErrUnavailable", err)
	}
	tok.mu.Lock()
	tok.findResult = nil
	tok.mu.Unlock()
	waitFor(t, "the rebuild", func() bool { return km.rebuildCount() == 1 })
}
