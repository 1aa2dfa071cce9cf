package guard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.read.Add(int64(n))
	return n, err
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

// serve runs h behind g on a loopback listener and returns its address.
func serve(t *testing.T, g *Guard, h http.Handler) (string, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{Handler: g.Handler(h), ConnState: g.ConnState, ConnContext: g.ConnContext,
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = srv.Serve(g.Listener(cl)) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), cl
}

// exchange writes raw to a new connection and returns the status line and headers of the
// first answer, and the connection.
func roundTrip(t *testing.T, c net.Conn, raw string) (*http.Response, error) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUnreadBodyNotDrained: a handler that needs no body (a GET endpoint, an unauthenticated
// request) answers, and the server reads no more than 64 KiB of a 10 MiB body: the
// connection is closed instead of drained.
func TestUnreadBodyNotDrained(t *testing.T) {
	g := New(Config{})
	addr, cl := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "metadata")
	}))
	for _, chunked := range []bool{false, true} {
		before := cl.read.Load()
		c := dial(t, addr)
		hdr := "GET /.well-known/dss-info HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n"
		if chunked {
			hdr = "GET /.well-known/dss-info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		}
		if _, err := io.WriteString(c, hdr); err != nil {
			t.Fatal(err)
		}
		go func() { // the client keeps sending until the server closes
			chunk := strings.Repeat("x", 32<<10)
			if chunked {
				chunk = fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk)
			}
			for i := 0; i < 320; i++ {
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
		read := cl.read.Load() - before
		if resp.StatusCode != 200 || !resp.Close || read > 64<<10+8<<10 {
			t.Errorf("chunked %v: status %d, close %v, %d bytes read by the server", chunked, resp.StatusCode, resp.Close, read)
		}
		t.Logf("chunked %v: the server read %d bytes of a 10 MiB body", chunked, read)
	}
}

// TestConnectionLimits: over the per-client limit a connection gets one 503 with
// Retry-After and Connection: close (POST: the binding answers, told by Busy); beyond twice
// the limit it is closed without an answer; health probes are exempt.
func TestConnectionLimits(t *testing.T) {
	get := "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"
	// Fill up to the limit with connections that never send a request, then probe.
	g2 := New(Config{MaxConnsPerClient: 2, RetryAfter: 3 * time.Second,
		Exempt: func(r *http.Request) bool { return r.URL.Path == "/healthz" }})
	addr2, _ := serve(t, g2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Busy(r.Context()) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	hold := []net.Conn{dial(t, addr2), dial(t, addr2)}
	time.Sleep(100 * time.Millisecond) // accepted
	for _, tc := range []struct {
		raw    string
		status int
	}{
		{get, 503},
		{"POST /sign HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", 503},
		{"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200},
	} {
		c := dial(t, addr2)
		resp, err := roundTrip(t, c, tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || (tc.status == 503 && (resp.Header.Get("Retry-After") != "3" || !resp.Close)) {
			t.Errorf("%q: status %d, Retry-After %q, close %v", tc.raw[:12], resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
		}
		c.Close()
	}
	// Beyond twice the limit: closed at once.
	more := []net.Conn{dial(t, addr2), dial(t, addr2), dial(t, addr2)}
	_, err := roundTrip(t, more[2], get)
	if err == nil {
		t.Error("a connection beyond twice the limit was answered")
	}
	_ = hold
}

// TestIdleClosedUnderPressure: at three quarters of a connection limit, idle keep-alive
// connections are closed.
func TestIdleClosedUnderPressure(t *testing.T) {
	g := New(Config{MaxConnsPerClient: 4})
	addr, _ := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	get := "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		if resp, err := roundTrip(t, c, get); err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("keep-alive request: %v %v", resp, err)
		}
	}
	time.Sleep(100 * time.Millisecond) // both idle
	if st := g.Stats(); st.ClosedIdle != 0 || st.Conns != 2 {
		t.Fatalf("before pressure: %+v", st)
	}
	_ = dial(t, addr) // the third of four: pressure
	time.Sleep(100 * time.Millisecond)
	_ = a.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := a.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("idle connection still open under pressure: %d %v", n, err)
	}
	if st := g.Stats(); st.ClosedIdle != 2 {
		t.Errorf("stats %+v, want 2 idle connections closed", st)
	}
}

// TestInflightLimit: request bytes are reserved as they are read; a body that would go over
// the limit fails with ErrBusy while another request holds the bytes, and succeeds once it
// is done.
func TestInflightLimit(t *testing.T) {
	g := New(Config{MaxInflight: 256 << 10, MaxInflightPerClient: 256 << 10})
	release := make(chan struct{})
	var mu sync.Mutex
	var results []string
	addr, _ := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		mu.Lock()
		results = append(results, fmt.Sprint(errors.Is(err, ErrBusy)))
		mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/hold" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	body := strings.Repeat("x", 150<<10)
	post := func(path string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	}
	holder := dial(t, addr)
	if _, err := io.WriteString(holder, post("/hold")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.Stats().Inflight < 150<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := roundTrip(t, dial(t, addr), post("/other"))
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second body while the first is held: %v %v", resp, err)
	}
	close(release)
	_ = holder.SetReadDeadline(time.Now().Add(5 * time.Second))
	if r, err := http.ReadResponse(bufio.NewReader(holder), nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("held request: %v %v", r, err)
	}
	time.Sleep(50 * time.Millisecond)
	resp, err = roundTrip(t, dial(t, addr), post("/other"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after release: %v %v", resp, err)
	}
	if st := g.Stats(); st.Inflight != 0 {
		t.Errorf("bytes still reserved after all requests: %+v", st)
	}
}

// TestStreamReservesHeld: a streamed body (Stream) with a Content-Length far over the
// in-flight limit is read to its end, reserving no more than what the handler holds
// (hold plus one step). (Without Stream such a body is refused at its first read:
// TestInflightLimit.)
func TestStreamReservesHeld(t *testing.T) {
	g := New(Config{MaxInflight: 1 << 20, MaxInflightPerClient: 1 << 20})
	var peak atomic.Int64
	addr, _ := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			Stream(r, 256<<10)
		}
		buf := make([]byte, 32<<10)
		var err error
		for err == nil {
			_, err = r.Body.Read(buf)
			if n := g.Stats().Inflight; n > peak.Load() {
				peak.Store(n)
			}
		}
		if errors.Is(err, ErrBusy) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	body := strings.Repeat("x", 8<<20)
	post := func(path string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	}
	resp, err := roundTrip(t, dial(t, addr), post("/stream"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("streamed body: %v %v", resp, err)
	}
	if p := peak.Load(); p > 256<<10+step {
		t.Errorf("a streamed body reserved %d bytes; it holds at most %d", p, 256<<10+step)
	}
	time.Sleep(50 * time.Millisecond)
	if st := g.Stats(); st.Inflight != 0 {
		t.Errorf("bytes still reserved: %+v", st)
	}
}
