// Package guard bounds what clients can make dssd hold: open connections and request bytes
// in flight, overall and per client address, and the bytes read of a request that no
// handler asked for. Over a limit, a request is answered 503 Service Unavailable with
// Retry-After: by the binding (a DSS or CSC response, via ErrBusy) for POST requests, by
// the guard itself (plain text) for the others. Idle keep-alive connections are closed early
// while the connection count is high.
//
// The client address is the IP address of the TCP peer (no X-Forwarded-For: a proxy in
// front of dssd is one client).
package guard

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets the limits; a zero or negative value disables that limit.
type Config struct {
	MaxConns             int   // open connections, overall
	MaxConnsPerClient    int   // open connections of one client address
	MaxInflight          int64 // request body bytes held by requests being served, overall
	MaxInflightPerClient int64 // the same for one client address
	// RetryAfter is the Retry-After of an overload answer; default 2 s.
	RetryAfter time.Duration
	// UnreadMax bounds the body bytes read after a handler answered without reading the
	// whole body (so that the connection can be kept alive); a longer rest closes the
	// connection instead. Default 64 KiB.
	UnreadMax int64
	// Exempt requests are served on a connection over the limits (health probes).
	Exempt func(*http.Request) bool
}

// step is the unit in which the bytes of a chunked body are reserved against the in-flight
// limits: such a body holds at most one step more than it has read. A body with a
// Content-Length reserves it at its first read. (The bindings never read a body announced
// larger than they accept, so an unauthenticated request reserves at most 64 KiB.)
const step = 64 << 10

// Guard enforces a Config. Use Listener (or ConnContext and ConnState of the http.Server),
// and Handler.
type Guard struct {
	cfg Config

	mu        sync.Mutex
	conns     int
	perConns  map[string]int
	idle      map[*conn]net.Conn // idle keep-alive connections → the conn to close (TLS)
	inflight  int64
	perFlight map[string]int64

	// counters for tests and docs
	refusedConns, closedIdle, busyAnswers int64
}

// New returns a Guard for cfg.
func New(cfg Config) *Guard {
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 2 * time.Second
	}
	if cfg.UnreadMax <= 0 {
		cfg.UnreadMax = 64 << 10
	}
	return &Guard{cfg: cfg, perConns: map[string]int{}, idle: map[*conn]net.Conn{}, perFlight: map[string]int64{}}
}

// Stats are counters of the guard's actions since it started.
type Stats struct {
	Conns        int   // open connections now
	Inflight     int64 // request body bytes held now
	RefusedConns int64 // connections accepted over a limit (answered 503 or closed)
	ClosedIdle   int64 // idle keep-alive connections closed under pressure
	BusyAnswers  int64 // 503 answers given by the guard or signalled to a binding
}

// Stats returns the current counters.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{Conns: g.conns, Inflight: g.inflight, RefusedConns: g.refusedConns, ClosedIdle: g.closedIdle, BusyAnswers: g.busyAnswers}
}

// clientOf is the client address of a remote address "host:port".
func clientOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// ---------------------------------------------------------------- connections

type conn struct {
	net.Conn
	g      *Guard
	client string
	over   bool // accepted over a limit: one 503 answer, then closed
	once   sync.Once
	linger atomic.Bool // closed with a request body unread: lingering close
}

// Lingering close: a connection closed while the client may still be sending a body the
// server did not read would be reset by the kernel (unread data in the receive buffer), and
// the client would lose the answer already sent. So such a connection is shut for writing
// (FIN after the answer), and what the client still sends is discarded as raw bytes, neither
// decrypted nor kept, for at most lingerTime or lingerBytes, before it is closed (as nginx's
// lingering_close does).
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 4 << 20
)

func (c *conn) Close() error {
	first := false
	c.once.Do(func() {
		first = true
		g := c.g
		g.mu.Lock()
		g.conns--
		if g.perConns[c.client]--; g.perConns[c.client] <= 0 {
			delete(g.perConns, c.client)
		}
		delete(g.idle, c)
		g.mu.Unlock()
	})
	if tc, ok := c.Conn.(*net.TCPConn); ok && first && c.linger.Load() {
		if err := tc.CloseWrite(); err == nil {
			go func() {
				_ = tc.SetReadDeadline(time.Now().Add(lingerTime))
				_, _ = io.Copy(io.Discard, io.LimitReader(tc, lingerBytes))
				_ = tc.Close()
			}()
			return nil
		}
	}
	return c.Conn.Close()
}

type listener struct {
	net.Listener
	g *Guard
}

// Listener wraps ln: every accepted connection is counted against the limits. A connection
// over a limit is still accepted and gets one 503 answer (Retry-After, Connection: close);
// beyond twice a limit it is closed at once, without an answer.
func (g *Guard) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, g: g} }

func (l *listener) Accept() (net.Conn, error) {
	g := l.g
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &conn{Conn: nc, g: g, client: clientOf(nc.RemoteAddr().String())}
		g.mu.Lock()
		g.conns++
		g.perConns[c.client]++
		n, per := g.conns, g.perConns[c.client]
		over := g.cfg.MaxConns > 0 && n > g.cfg.MaxConns || g.cfg.MaxConnsPerClient > 0 && per > g.cfg.MaxConnsPerClient
		hard := g.cfg.MaxConns > 0 && n > 2*g.cfg.MaxConns || g.cfg.MaxConnsPerClient > 0 && per > 2*g.cfg.MaxConnsPerClient
		if over {
			g.refusedConns++
		}
		var toClose []net.Conn
		overall := g.cfg.MaxConns > 0 && g.conns*4 >= g.cfg.MaxConns*3
		mine := g.cfg.MaxConnsPerClient > 0 && per*4 >= g.cfg.MaxConnsPerClient*3
		if overall || mine {
			for ic, tc := range g.idle {
				if overall || ic.client == c.client {
					toClose = append(toClose, tc)
					delete(g.idle, ic)
					g.closedIdle++
				}
			}
		}
		g.mu.Unlock()
		for _, tc := range toClose {
			_ = tc.Close()
		}
		if hard {
			_ = c.Close()
			continue
		}
		c.over = over
		return c, nil
	}
}

// pressureLocked reports whether the connection count (overall, or of client) has reached
// three quarters of its limit: then idle keep-alive connections are closed.
func (g *Guard) pressureLocked(client string) bool {
	return g.cfg.MaxConns > 0 && g.conns*4 >= g.cfg.MaxConns*3 ||
		g.cfg.MaxConnsPerClient > 0 && g.perConns[client]*4 >= g.cfg.MaxConnsPerClient*3
}

// own returns the guard's conn under c (a *tls.Conn over it, or itself).
func own(c net.Conn) *conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	gc, _ := c.(*conn)
	return gc
}

// ConnState is the http.Server ConnState hook: it tracks idle keep-alive connections and
// closes a connection that turns idle while the server is under pressure.
func (g *Guard) ConnState(c net.Conn, s http.ConnState) {
	gc := own(c)
	if gc == nil {
		return
	}
	g.mu.Lock()
	switch s {
	case http.StateIdle:
		if g.pressureLocked(gc.client) {
			g.closedIdle++
			g.mu.Unlock()
			_ = c.Close()
			return
		}
		g.idle[gc] = c
	default:
		delete(g.idle, gc)
	}
	g.mu.Unlock()
}

type ctxKey struct{}

// connInfo is what the request context knows of its connection.
type connInfo struct {
	conn net.Conn // as the server holds it (TLS or not)
	over bool     // accepted over a limit
}

// ConnContext is the http.Server ConnContext hook: it tells Handler the connection and
// whether it was accepted over a limit.
func (g *Guard) ConnContext(ctx context.Context, c net.Conn) context.Context {
	gc := own(c)
	return context.WithValue(ctx, ctxKey{}, &connInfo{conn: c, over: gc != nil && gc.over})
}

// busyKey marks a request the binding must answer with 503 (ErrBusy from Busy).
type busyKey struct{}

// Busy reports whether the request of ctx is to be answered 503 by its binding (it arrived
// on a connection over the limits); exchange.ReadBody then returns ErrBusy.
func Busy(ctx context.Context) bool {
	b, _ := ctx.Value(busyKey{}).(bool)
	return b
}

// RetryAfterSeconds is the Retry-After value of the overload answers.
func (g *Guard) RetryAfterSeconds() int {
	return int((g.cfg.RetryAfter + time.Second - 1) / time.Second)
}

// ---------------------------------------------------------------- requests

// Handler wraps h: request bodies are reserved against the in-flight limits as they are
// read (a read over a limit fails with ErrBusy) and released when h returns; a request on a
// connection over the limits is answered 503 (POST: by the binding, through Busy/ErrBusy);
// an answer written before the body was read to its end reads at most UnreadMax more bytes
// of it, else closes the connection (so nothing a handler did not ask for is read: the
// server would read up to 256 KiB).
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci, _ := r.Context().Value(ctxKey{}).(*connInfo)
		over := ci != nil && ci.over && (g.cfg.Exempt == nil || !g.cfg.Exempt(r))
		if over {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", itoa(g.RetryAfterSeconds()))
			g.mu.Lock()
			g.busyAnswers++
			g.mu.Unlock()
			if r.Method != http.MethodPost {
				http.Error(w, "server busy: too many connections; retry later", http.StatusServiceUnavailable)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), busyKey{}, true))
		}
		b := &body{rc: r.Body, g: g, client: clientOf(r.RemoteAddr), contentLength: r.ContentLength}
		defer b.release()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = b
		} else {
			b.eof = true
		}
		gw := &writer{ResponseWriter: w, b: b, g: g}
		h.ServeHTTP(gw, r)
		if ci != nil && r.ProtoMajor == 1 && gw.closing {
			// The answer closes the connection because the body was not read to its end:
			// make the server's own clean-up read (up to 256 KiB of the rest) fail at once,
			// and close with a lingering close so that the client still reads the answer.
			if gc := own(ci.conn); gc != nil {
				gc.linger.Store(true)
			}
			_ = ci.conn.SetReadDeadline(time.Now())
		}
	})
}

func itoa(n int) string {
	if n <= 0 {
		return "1"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// body meters a request body against the in-flight limits.
type body struct {
	rc            io.ReadCloser
	g             *Guard
	client        string
	contentLength int64

	mu       sync.Mutex
	reserved int64 // bytes reserved in the limits
	allowed  int64 // bytes that may be read before more is reserved (≥ reserved)
	used     int64 // bytes read
	eof      bool
	failed   bool
	stream   bool  // Stream: reserved in steps, up to hold
	hold     int64 // Stream: the most the handler holds of the body
}

// Stream marks the body of r as read as a stream whose handler holds at most hold bytes of it
// (an MTOM message: the root part and small attachments are held, a large attachment goes
// through a digest and is dropped). Its bytes are then reserved against the in-flight limits
// in steps as they are read, an announced length is not reserved whole, and past hold bytes
// nothing more is reserved. Call it before the first read; it does nothing for a body the
// guard does not meter.
func Stream(r *http.Request, hold int64) {
	if b, ok := r.Body.(*body); ok {
		b.mu.Lock()
		if b.used == 0 {
			b.stream, b.hold = true, hold
		}
		b.mu.Unlock()
	}
}

type extendKey struct{}

// WithExtend returns ctx carrying f, which lengthens the read and write deadlines of the
// connection of the request (set by the server for the requests it lets stream).
func WithExtend(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, extendKey{}, f)
}

// Extend lengthens the deadlines of the request of ctx, if the server allows it: a binding
// calls it once the caller is authenticated and a long upload is expected.
func Extend(ctx context.Context) {
	if f, ok := ctx.Value(extendKey{}).(func()); ok && f != nil {
		f()
	}
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed {
		return 0, ErrBusy
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.used >= b.allowed {
		// An announced length is reserved whole at the first read (a body that cannot be
		// held is refused before any of it is read); a chunked or streamed body in steps.
		n := int64(step)
		if b.allowed == 0 && b.contentLength > 0 && !b.stream {
			n = b.contentLength
		}
		if !b.stream || b.reserved < b.hold {
			if !b.g.reserve(b.client, n) {
				b.failed = true
				b.g.mu.Lock()
				b.g.busyAnswers++
				b.g.mu.Unlock()
				return 0, ErrBusy
			}
			b.reserved += n
		}
		b.allowed += n
	}
	if room := b.allowed - b.used; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.rc.Read(p)
	b.used += int64(n)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

func (b *body) release() {
	b.mu.Lock()
	n := b.reserved
	b.reserved = 0
	b.mu.Unlock()
	if n > 0 {
		b.g.unreserve(b.client, n)
	}
}

// finished reports whether the body was read to its end (or is known to be empty).
func (b *body) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof || b.contentLength >= 0 && b.used >= b.contentLength
}

// drainShort reads the rest of the body when the whole body is at most max bytes; it
// reports whether the body was then read to its end.
func (b *body) drainShort(max int64) bool {
	if b.finished() {
		return true
	}
	b.mu.Lock()
	left := max - b.used
	b.mu.Unlock()
	if left <= 0 || b.contentLength > max {
		return false
	}
	_, err := io.Copy(io.Discard, io.LimitReader(b, left))
	return err == nil && b.finished()
}

func (g *Guard) reserve(client string, n int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cfg.MaxInflight > 0 && g.inflight+n > g.cfg.MaxInflight ||
		g.cfg.MaxInflightPerClient > 0 && g.perFlight[client]+n > g.cfg.MaxInflightPerClient {
		return false
	}
	g.inflight += n
	g.perFlight[client] += n
	return true
}

func (g *Guard) unreserve(client string, n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight -= n
	if g.perFlight[client] -= n; g.perFlight[client] <= 0 {
		delete(g.perFlight, client)
	}
}

// writer closes the connection after an answer written before the request body was read to
// its end (unless the rest is short), and adds Retry-After to every 503.
type writer struct {
	http.ResponseWriter
	b       *body
	g       *Guard
	written bool
	closing bool // Connection: close was set for an unread body
}

func (w *writer) WriteHeader(status int) {
	if !w.written {
		w.written = true
		if !w.b.drainShort(w.g.cfg.UnreadMax) {
			w.Header().Set("Connection", "close")
			w.closing = true
		}
		if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", itoa(w.g.RetryAfterSeconds()))
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
