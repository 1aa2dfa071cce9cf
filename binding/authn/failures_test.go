package authn

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type recAuditor struct {
	mu      sync.Mutex
	records []string // "addr | reason | requestID"
}

func (r *recAuditor) AuditAuthFailure(_ context.Context, addr, reason, rid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, addr+" | "+reason+" | "+rid)
}

func (r *recAuditor) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.records...)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func badRequest(addr, token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/sign", nil)
	r.RemoteAddr = addr
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// TestFailureThrottle: each address has its own bucket of Burst failures refilled at Rate;
// an empty bucket gives a throttled failure with a Retry-After; good tokens are never
// throttled.
func TestFailureThrottle(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	rec := &recAuditor{}
	sum := sha256.Sum256([]byte("good"))
	a := New([]User{{Name: "alice", TokenSHA256: [][32]byte{sum}}})
	a.LimitFailures(NewFailures(FailureLimits{Rate: 1, Burst: 3, Window: time.Minute, Now: clk.now}, rec))
	for i := 1; i <= 5; i++ {
		_, err := a.Authenticate(badRequest("192.0.2.1:1000", "bad"))
		if err == nil || Throttled(err) != (i > 3) {
			t.Fatalf("failure %d: err %v, throttled %v", i, err, Throttled(err))
		}
	}
	_, err := a.Authenticate(badRequest("192.0.2.1:1001", "bad"))
	h := http.Header{}
	SetRetryAfter(h, err)
	if h.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	if c, err := a.Authenticate(badRequest("192.0.2.1:1002", "good")); err != nil || c.User != "alice" {
		t.Errorf("a good token from a throttled address: %v %v", c, err)
	}
	if _, err := a.Authenticate(badRequest("198.51.100.9:1", "bad")); Throttled(err) {
		t.Error("another address is throttled")
	}
	clk.t = clk.t.Add(1500 * time.Millisecond)
	if _, err := a.Authenticate(badRequest("192.0.2.1:1003", "bad")); Throttled(err) {
		t.Error("the bucket did not refill")
	}
}

// TestFailureAggregation: 1 000 failures from one address in a window are two audit
// records: the first at once, then one with the count when the window ends.
func TestFailureAggregation(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	rec := &recAuditor{}
	a := New(nil)
	f := NewFailures(FailureLimits{Rate: 1, Burst: 5, Window: time.Minute, Now: clk.now}, rec)
	a.LimitFailures(f)
	for i := 0; i < 1000; i++ {
		r := badRequest("192.0.2.1:1000", "bad")
		_, err := a.Authenticate(r)
		ReportFailure(context.Background(), rec, r, err, "rid")
		clk.t = clk.t.Add(10 * time.Millisecond)
	}
	if got := rec.all(); len(got) != 1 || !strings.Contains(got[0], "unknown bearer token") {
		t.Fatalf("records during the window: %q", got)
	}
	f.Sweep()
	if len(rec.all()) != 1 {
		t.Fatal("a window that has not ended was summarised")
	}
	clk.t = clk.t.Add(time.Minute)
	f.Sweep()
	got := rec.all()
	if len(got) != 2 || !strings.Contains(got[1], "999 further authentication failures") || !strings.Contains(got[1], "answered 429") {
		t.Fatalf("records: %q", got)
	}
	// The next failure opens a new window: recorded at once.
	r := badRequest("192.0.2.1:1000", "bad")
	_, err := a.Authenticate(r)
	ReportFailure(context.Background(), rec, r, err, "")
	if len(rec.all()) != 3 {
		t.Errorf("the first failure of a new window was not recorded: %q", rec.all())
	}
	f.Flush()
	if len(rec.all()) != 3 {
		t.Errorf("an empty window was summarised: %q", rec.all())
	}
	// Past MaxClients, new addresses share one entry.
	g := NewFailures(FailureLimits{Rate: 1, Burst: 2, MaxClients: 2, Now: clk.now}, rec)
	b := New(nil)
	b.LimitFailures(g)
	for i, addr := range []string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1", "192.0.2.4:1", "192.0.2.5:1"} {
		_, err := b.Authenticate(badRequest(addr, "bad"))
		if Throttled(err) != (i == 4) || g.Tracked() > 3 {
			t.Errorf("address %d: throttled %v, %d tracked", i, Throttled(err), g.Tracked())
		}
	}
}

// gateAuditor blocks every write until release is closed, and reports the first one.
type gateAuditor struct {
	recAuditor
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gateAuditor) AuditAuthFailure(ctx context.Context, addr, reason, rid string) {
	g.once.Do(func() { close(g.started) })
	<-g.release
	g.recAuditor.AuditAuthFailure(ctx, addr, reason, rid)
}

// TestFlushWaitsForConcurrentSweep: at shutdown Run's own flush (its context ended) and
// the server's Flush race; the Flush that finds nothing left must still return only after
// the other's summaries are written, because the store closes next. (Found in CI: the
// summaries of two flooding addresses were lost.)
func TestFlushWaitsForConcurrentSweep(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	g := &gateAuditor{started: make(chan struct{}), release: make(chan struct{})}
	close(g.release) // the first failure of each window is written at once
	f := NewFailures(FailureLimits{Rate: 1, Burst: 1, Window: time.Minute, Now: clk.now}, g)
	a := New(nil)
	a.LimitFailures(f)
	for _, addr := range []string{"192.0.2.1:1", "192.0.2.2:1"} {
		for range 3 {
			r := badRequest(addr, "bad")
			_, err := a.Authenticate(r)
			ReportFailure(context.Background(), g, r, err, "")
		}
	}
	firsts := len(g.all())
	g.release = make(chan struct{})
	g.once, g.started = sync.Once{}, make(chan struct{})

	done := make(chan struct{})
	go func() { f.Flush(); close(done) }() // Run's flush: takes both summaries, blocks writing
	<-g.started
	second := make(chan struct{})
	go func() { f.Flush(); close(second) }() // the server's Flush
	select {
	case <-second:
		t.Fatal("Flush returned while another sweep was still writing its summaries")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.release)
	<-done
	<-second
	if got := len(g.all()) - firsts; got != 2 {
		t.Fatalf("%d summaries written, want 2: %q", got, g.all())
	}
}
