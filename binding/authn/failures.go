package authn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// FailureLimits bound what failed authentications can cost: per client address, a token
// bucket of failures (Burst failures at once, refilled at Rate per second; a failure with the
// bucket empty is answered 429 Too Many Requests with Retry-After, without reading the body),
// and one audit record per Window (the first failure is recorded at once, the others of the
// window become one record with their count when the window ends).
type FailureLimits struct {
	Rate       float64       // failures per second refilled; ≤ 0: no throttling
	Burst      int           // bucket size; default 10
	Window     time.Duration // aggregation window; ≤ 0: every failure is its own record
	MaxClients int           // addresses tracked at once; beyond, new addresses share one entry ("*"); default 10 000
	Now        func() time.Time
}

// overflowClient is the shared entry of addresses beyond MaxClients.
const overflowClient = "*"

// Failures applies FailureLimits. Create it with NewFailures, attach it with
// Authenticator.LimitFailures, run Run for the summaries of ended windows, and Flush at the end.
type Failures struct {
	lim     FailureLimits
	auditor FailureAuditor

	mu      sync.Mutex
	clients map[string]*failClient

	// sweeping is held through a whole sweep, audit writes included, so that a Flush
	// returns only after every summary taken by a concurrent sweep (Run's own flush when
	// its context ends) is written: the caller closes the store next.
	sweeping sync.Mutex
}

type failClient struct {
	tokens    float64
	refilled  time.Time
	winStart  time.Time // start of the aggregation window; zero: none open
	last      time.Time // last failure
	count     int       // failures of the window not yet recorded
	throttled int       // of which answered 429
	reason    string    // the last reason
}

// NewFailures returns the limiter for lim; auditor records the failures (dss.Service).
func NewFailures(lim FailureLimits, auditor FailureAuditor) *Failures {
	if lim.Burst <= 0 {
		lim.Burst = 10
	}
	if lim.MaxClients <= 0 {
		lim.MaxClients = 10000
	}
	if lim.Now == nil {
		lim.Now = time.Now
	}
	return &Failures{lim: lim, auditor: auditor, clients: map[string]*failClient{}}
}

// FailureError is the error of a failed authentication when failures are limited: it wraps
// the *dss.Error (KindNotAuthenticated) and says whether the request is throttled.
type FailureError struct {
	Err        error
	Throttled  bool          // the client's failure bucket is empty: answer 429, read nothing
	RetryAfter time.Duration // when the bucket holds a failure again
	client     string
	f          *Failures
}

func (e *FailureError) Error() string { return e.Err.Error() }
func (e *FailureError) Unwrap() error { return e.Err }

// Throttled reports whether err is a failed authentication to be answered 429 Too Many
// Requests (the client address failed too often); the binding then sets the headers with
// SetRetryAfter and reads nothing of the body.
func Throttled(err error) bool {
	var fe *FailureError
	return errors.As(err, &fe) && fe.Throttled
}

// SetRetryAfter sets the Retry-After header of a 429 answer to err.
func SetRetryAfter(h http.Header, err error) {
	var fe *FailureError
	secs := 1
	if errors.As(err, &fe) && fe.RetryAfter > 0 {
		secs = int(math.Ceil(fe.RetryAfter.Seconds()))
	}
	h.Set("Retry-After", strconv.Itoa(secs))
}

// clientOf is the client address of a remote address "host:port".
func clientOf(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// entryLocked returns the entry of client (the shared overflow entry when the table is full).
func (f *Failures) entryLocked(client string, now time.Time) (string, *failClient) {
	if c, ok := f.clients[client]; ok {
		return client, c
	}
	if len(f.clients) >= f.lim.MaxClients {
		client = overflowClient
		if c, ok := f.clients[client]; ok {
			return client, c
		}
	}
	c := &failClient{tokens: float64(f.lim.Burst), refilled: now}
	f.clients[client] = c
	return client, c
}

// fail takes one failure of the client at remoteAddr from its bucket.
func (f *Failures) fail(remoteAddr string, err error) *FailureError {
	now := f.lim.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	client, c := f.entryLocked(clientOf(remoteAddr), now)
	fe := &FailureError{Err: err, client: client, f: f}
	if f.lim.Rate > 0 {
		c.tokens = math.Min(float64(f.lim.Burst), c.tokens+now.Sub(c.refilled).Seconds()*f.lim.Rate)
		c.refilled = now
		if c.tokens >= 1 {
			c.tokens--
		} else {
			fe.Throttled = true
			fe.RetryAfter = time.Duration((1 - c.tokens) / f.lim.Rate * float64(time.Second))
		}
	}
	return fe
}

// report records one failure: the first of a window at once (true), the others counted for
// the window's summary (false).
func (f *Failures) report(fe *FailureError, reason string) bool {
	now := f.lim.Now()
	f.mu.Lock()
	c, ok := f.clients[fe.client]
	if !ok || f.lim.Window <= 0 {
		f.mu.Unlock()
		return true
	}
	var summary func()
	if !c.winStart.IsZero() && now.Sub(c.winStart) >= f.lim.Window {
		summary = f.summaryLocked(fe.client, c)
	}
	c.last = now
	first := c.winStart.IsZero()
	if first {
		c.winStart = now
	} else {
		c.count++
		c.reason = reason
		if fe.Throttled {
			c.throttled++
		}
	}
	f.mu.Unlock()
	if summary != nil {
		summary()
	}
	return first
}

// summaryLocked closes the window of c and returns the audit call of its summary (nil when
// the window holds no unrecorded failure).
func (f *Failures) summaryLocked(client string, c *failClient) func() {
	count, throttled, reason, start, last := c.count, c.throttled, c.reason, c.winStart, c.last
	c.winStart, c.count, c.throttled, c.reason = time.Time{}, 0, 0, ""
	if count == 0 || f.auditor == nil {
		return nil
	}
	text := fmt.Sprintf("%d further authentication failures from this address between %s and %s (%d answered 429); the last: %s",
		count, start.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), throttled, reason)
	addr := client
	if client == overflowClient {
		addr = "other addresses (failure table full)"
	}
	return func() { f.auditor.AuditAuthFailure(context.Background(), addr, text, "") }
}

// Sweep writes the summaries of the windows that have ended and forgets the addresses whose
// bucket is full again and whose window is closed.
func (f *Failures) Sweep() { f.sweep(false) }

// Flush writes the summaries of all windows, ended or not (at shutdown).
func (f *Failures) Flush() { f.sweep(true) }

func (f *Failures) sweep(all bool) {
	f.sweeping.Lock()
	defer f.sweeping.Unlock()
	now := f.lim.Now()
	var out []func()
	f.mu.Lock()
	for client, c := range f.clients {
		if !c.winStart.IsZero() && (all || now.Sub(c.winStart) >= f.lim.Window) {
			if s := f.summaryLocked(client, c); s != nil {
				out = append(out, s)
			}
		}
		full := f.lim.Rate <= 0 || c.tokens+now.Sub(c.refilled).Seconds()*f.lim.Rate >= float64(f.lim.Burst)
		if c.winStart.IsZero() && full {
			delete(f.clients, client)
		}
	}
	f.mu.Unlock()
	for _, s := range out {
		s()
	}
}

// Run sweeps every quarter window (at least every second) until ctx ends, then flushes.
func (f *Failures) Run(ctx context.Context) {
	every := f.lim.Window / 4
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.Flush()
			return
		case <-t.C:
			f.Sweep()
		}
	}
}

// Tracked is the number of addresses in the failure table.
func (f *Failures) Tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// Refuse counts a refusal that a binding decided outside Authenticate (the OAuth2
// endpoints: a bad client secret, a junk request_uri, a page form without its CSRF token, a
// wrong sign-in password) against the client at remoteAddr. It returns the error to answer
// with (a *FailureError wrapping err; Throttled: answer 429 with SetRetryAfter) and whether
// the caller records this refusal now, itself. A refusal within the address's budget is
// recorded by its caller as it is without a limiter (one record each, at most Burst at once
// and Rate per second); a throttled one is counted into the summary of the address's window
// (the first of a window is recorded at once).
func (f *Failures) Refuse(remoteAddr string, err error, reason string) (*FailureError, bool) {
	fe := f.fail(remoteAddr, err)
	if !fe.Throttled {
		return fe, true
	}
	return fe, f.report(fe, reason+" (throttled: answered 429)")
}

// Take takes one failure of the client at remoteAddr from its bucket, for a refusal its
// caller has already recorded (the sign-in page's wrong password, audited by the service).
func (f *Failures) Take(remoteAddr string, err error) *FailureError { return f.fail(remoteAddr, err) }

// Blocked returns a throttled *FailureError wrapping err when the bucket of the client at
// remoteAddr is empty, without taking a failure from it; else nil. A binding asks it before
// a check that costs CPU (a password hash); it then reports the throttled refusal with
// Counted.
func (f *Failures) Blocked(remoteAddr string, err error) *FailureError {
	if f.lim.Rate <= 0 {
		return nil
	}
	now := f.lim.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	client := clientOf(remoteAddr)
	c, ok := f.clients[client]
	if !ok {
		if len(f.clients) < f.lim.MaxClients {
			return nil
		}
		if c, ok = f.clients[overflowClient]; !ok {
			return nil
		}
		client = overflowClient
	}
	tokens := math.Min(float64(f.lim.Burst), c.tokens+now.Sub(c.refilled).Seconds()*f.lim.Rate)
	if tokens >= 1 {
		return nil
	}
	return &FailureError{Err: err, Throttled: true, RetryAfter: time.Duration((1 - tokens) / f.lim.Rate * float64(time.Second)), client: client, f: f}
}

// Counted reports whether the caller records the throttled refusal fe (of Blocked) now:
// true for the first of the address's window, false when it is counted into the summary.
func (f *Failures) Counted(fe *FailureError, reason string) bool {
	return f.report(fe, reason+" (throttled: answered 429)")
}
