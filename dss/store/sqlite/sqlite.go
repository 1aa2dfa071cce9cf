// Package sqlite is the embedded store of dssd: one SQLite file (modernc.org/sqlite, pure
// Go) in WAL mode with synchronous=FULL, for one node. Several handles on the same file
// (several processes, or several Opens in one process) stay consistent: every write is an
// IMMEDIATE transaction, which SQLite serialises across processes, and waiting writers are
// bounded by a busy timeout. Reads run in deferred transactions on a separate pool, so
// verification sees one snapshot without blocking writers.
//
// Audit appends are group-committed: Append queues its event and waits; one committer
// goroutine per Store takes everything queued, in arrival order, into one transaction (one
// head read, one insert per record, one head update, one commit and so one fsync) and answers
// each Append only after that commit. Appends that arrive while a commit is running form the
// next batch, and while several callers append, the committer holds a batch open (at most
// Config.GroupCommitWait) for the callers it has just answered, so under load the fixed cost
// of a transaction, its fsync above all, is shared. With one client nothing waits.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"dssd/dss"
	"dssd/dss/store"
	"dssd/dss/store/internal/sqlstore"
)

// Config opens a store.
type Config struct {
	// Path of the database file; it is created when missing (its directory must exist).
	Path string
	// AuditKey, when not nil, authenticates every audit record (store.RecordMAC) and is
	// required to verify the log. At least store.MinAuditKeyBytes.
	AuditKey []byte
	// BusyTimeout bounds how long a write waits for another handle's write lock
	// (default 10 s).
	BusyTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MustExist makes Open fail when the file does not exist, instead of creating it.
	MustExist bool
	// GroupCommitWait bounds how long the committer holds a batch open for the appends it
	// expects (see groupCommit.want) before committing what it has (default
	// DefaultGroupCommitWait; negative: never wait). It adds at most this much to an append's
	// latency, and only while appends come from several callers at once.
	GroupCommitWait time.Duration
}

// DefaultGroupCommitWait is Config.GroupCommitWait's default.
const DefaultGroupCommitWait = 500 * time.Microsecond

// Store is the SQLite store. It is safe for concurrent use.
//
// The registry, the job queue, the lockout reads and the audit reads are the shared SQL of
// package sqlstore.
type Store struct {
	*sqlstore.Store
	w, r   *sql.DB // w: one connection, IMMEDIATE transactions; r: readers
	key    []byte
	now    func() time.Time
	closed atomic.Bool
	purge  sqlstore.PurgeClock
	gc     groupCommit
	// The audit chain's statements, prepared once on the writer's connection (preparing them
	// for every transaction was a fifth of the committer's CPU time; see chain.go).
	chain chain
}

// groupCommit is the queue of Appends waiting for the committer goroutine.
type groupCommit struct {
	mu      sync.Mutex
	pending []*appendReq
	closed  bool          // no more Appends are queued
	wake    chan struct{} // capacity 1: something was queued
	stop    chan struct{} // closed by Close
	stopped chan struct{} // closed by the committer when it returns
	wait    time.Duration // Config.GroupCommitWait (0: never wait)
	want    int           // the batch the committer waits for (under mu)
	commits atomic.Int64  // audit transactions committed (for tests)
	taken   atomic.Int64  // appends taken into a transaction (for tests)
}

type appendReq struct {
	ev   dss.AuditEvent
	done chan error // capacity 1: the outcome of the commit that included ev
}

// maxBatch bounds the records of one transaction.
const maxBatch = 256

var (
	_ store.Store    = (*Store)(nil)
	_ store.Registry = (*Store)(nil)
	_ store.JobStore = (*Store)(nil)
)

// Open opens (and creates or migrates) the store at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite store: no path")
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("sqlite store: path %q must not contain '?' or '#'", cfg.Path)
	}
	if err := store.CheckAuditKey(cfg.AuditKey); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	busy := cfg.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	if cfg.MustExist {
		if _, err := os.Stat(cfg.Path); err != nil {
			return nil, fmt.Errorf("sqlite store: %w", err)
		}
	}
	dsn := func(txlock string, extra ...string) string {
		q := []string{
			fmt.Sprintf("_busy_timeout=%d", busy.Milliseconds()),
			"_journal_mode=WAL",
			"_synchronous=FULL",
			"_txlock=" + txlock,
		}
		return "file:" + cfg.Path + "?" + strings.Join(append(q, extra...), "&")
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	w.SetMaxOpenConns(1) // this handle's writes queue here instead of spinning on the busy lock
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn("deferred", "_query_only=1"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, key: cfg.AuditKey, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.Store = sqlstore.New(db{s}, dialect, s.now, s.key)
	s.gc = groupCommit{wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		wait: cmp.Or(cfg.GroupCommitWait, DefaultGroupCommitWait), want: 1}
	if s.gc.wait < 0 {
		s.gc.wait = 0
	}
	go s.commitLoop()
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	if err := s.withChain(ctx, func(*chain) error { return nil }); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	return s, nil
}

// dialect is SQLite's: ? placeholders, no row locks (an IMMEDIATE transaction holds the
// database), keyed tables WITHOUT ROWID.
var dialect = func() sqlstore.Dialect {
	d := sqlstore.SQLite
	d.UniqueViolation = func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
	}
	return d
}()

// schema is every migration step, in order: the audit chain, SAD replay and lockout, the job
// queue, the registry.
var schema = sqlstore.Schema(dialect, []string{
	`INSERT OR IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32))`,
	// audit_head.mac (the head MAC, store.HeadMAC) is added by migrate when missing.
	`CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
	`CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
}, `INSERT OR IGNORE INTO registry_head (id, version) VALUES (1, 0)`)

func (s *Store) migrate(ctx context.Context) error {
	return s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range schema {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		// Stores created before head MACs lack the column (SQLite has no ADD COLUMN IF NOT EXISTS).
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('audit_head') WHERE name = 'mac'`).Scan(&n); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_head ADD COLUMN mac BLOB`); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		return nil
	})
}

// writeTx runs fn in an IMMEDIATE transaction and commits it. ctx bounds the wait for the
// writer's connection only: the transaction and fn's statements run with wctx, ctx without its
// cancellation (the busy timeout still bounds them). A statement interrupted by its context
// makes the driver report the connection unusable, database/sql then replaces it, and the
// audit chain's statements prepared on the old one (chain.go) would keep its SQLite handle and
// files open: clients that hung up during writes leaked a file descriptor each time.
func (s *Store) writeTx(ctx context.Context, fn func(wctx context.Context, tx *sql.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	c, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	wctx := context.WithoutCancel(ctx)
	tx, err := c.BeginTx(wctx, nil)
	if err != nil {
		return err
	}
	if err := fn(wctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Append records ev as the next record of the chain; it returns after the transaction that
// holds the record has committed (WAL, synchronous=FULL: on disk). Concurrent Appends on one
// Store share transactions (group commit, see the package comment). A ctx that ends while the
// event is still queued withdraws it; once its transaction has begun, Append waits for the
// commit and reports its outcome.
func (s *Store) Append(ctx context.Context, ev dss.AuditEvent) error {
	if err := s.appendWait(ctx, ev); err != nil {
		return fmt.Errorf("audit append: %w", err)
	}
	return nil
}

func (s *Store) appendWait(ctx context.Context, ev dss.AuditEvent) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &appendReq{ev: ev, done: make(chan error, 1)}
	g := &s.gc
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return store.ErrClosed
	}
	g.pending = append(g.pending, req)
	// The committer needs waking for the first append it will find, and when its batch is
	// complete; the appends in between would only wake it to count them.
	wake := len(g.pending) == 1 || len(g.pending) >= g.want
	g.mu.Unlock()
	if wake {
		select {
		case g.wake <- struct{}{}:
		default: // the committer has a wake-up pending already
		}
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, r := range g.pending {
		if r == req {
			g.pending = append(g.pending[:i], g.pending[i+1:]...)
			g.mu.Unlock()
			return ctx.Err()
		}
	}
	g.mu.Unlock()
	return <-req.done // already in a transaction: its commit decides
}

// commitLoop is the committer goroutine: it commits what is queued, batch after batch, until
// Close.
//
// Before it takes a batch it may wait, at most g.wait, for the appends it expects: as many as
// the callers of the last round, those it answered (who, in a closed loop, append again
// soon) plus those that queued while it committed. With one caller that is one append and it
// never waits; with several, the records that would otherwise trail in, one or two per
// transaction, share its fsync (the fixed cost of a transaction is most of the CPU of an
// append). A wait that ends without them commits what it has, and the next round expects
// that many.
func (s *Store) commitLoop() {
	g := &s.gc
	defer close(g.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-g.wake:
		case <-g.stop:
			return
		}
		for {
			g.mu.Lock()
			queued, want := len(g.pending), g.want
			g.mu.Unlock()
			if queued == 0 {
				break
			}
			if queued < want && g.wait > 0 {
				g.await(want, timer)
			}
			g.mu.Lock()
			n := min(len(g.pending), maxBatch)
			batch := make([]*appendReq, n)
			copy(batch, g.pending)
			g.pending = append(g.pending[:0], g.pending[n:]...)
			g.mu.Unlock()
			if n == 0 {
				break
			}
			g.taken.Add(int64(n))
			err := s.commitBatch(batch)
			if err == nil {
				g.commits.Add(1)
			}
			g.mu.Lock()
			g.want = min(n+len(g.pending), maxBatch) // counted before the answered callers can queue again
			g.mu.Unlock()
			for _, r := range batch {
				r.done <- err
			}
		}
	}
}

// await returns once want appends are queued, g.wait after it was called (when the first of
// them was queued), or at Close.
func (g *groupCommit) await(want int, timer *time.Timer) {
	timer.Reset(g.wait)
	defer timer.Stop()
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n >= want {
			return
		}
		select {
		case <-g.wake:
		case <-timer.C:
			return
		case <-g.stop:
			return
		}
	}
}

// commitBatch appends the events of batch, in order, in one transaction. It does not follow
// any caller's context (a batch serves several callers); the busy timeout bounds its wait for
// the write lock.
func (s *Store) commitBatch(batch []*appendReq) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	ctx := context.Background()
	return s.withChain(ctx, func(ch *chain) error {
		return ch.tx(ctx, func() error {
			head, err := ch.readHead(ctx)
			if err != nil {
				return fmt.Errorf("read chain head: %w", err)
			}
			var last store.Record
			for _, r := range batch {
				last = store.NewRecord(head, r.ev, s.now(), s.key)
				if err := ch.exec(ctx, ch.insert, last.Values()...); err != nil {
					return fmt.Errorf("insert record: %w", err)
				}
				head = store.Head{Seq: last.Seq, Hash: last.Hash} // NewRecord needs no MAC of it
			}
			head = store.NewHead(&last, s.key) // the stored head's MAC, once per transaction
			if err := ch.exec(ctx, ch.update, head.Seq, head.Hash, nullBytes(head.MAC)); err != nil {
				return fmt.Errorf("update chain head: %w", err)
			}
			return nil
		})
	})
}

// Consume records the use of a SAD id; true only for the first use on any handle.
func (s *Store) Consume(ctx context.Context, id string, notAfter time.Time) (bool, error) {
	now := s.now()
	var n int64
	err := s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if s.purge.Due(now, store.PurgeInterval) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sad_replay WHERE not_after < ?`, now.Add(-store.ReplayGrace).UnixNano()); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sad_replay (id, not_after) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
			store.ReplayKey(id), notAfter.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sad replay: %w", err)
	}
	return n == 1, nil
}

// RecordFailure adds one failed activation for the credential and returns the count.
func (s *Store) RecordFailure(ctx context.Context, credentialID string) (int, error) {
	var n int
	err := s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO lockout (credential, failures, updated_ns) VALUES (?, 1, ?)
			ON CONFLICT (credential) DO UPDATE SET failures = failures + 1, updated_ns = excluded.updated_ns
			RETURNING failures`, credentialID, s.now().UnixNano()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("lockout: %w", err)
	}
	return n, nil
}

// nullBytes stores a nil slice as NULL.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// Close stops the committer and closes both pools. Appends still queued fail with
// store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	g := &s.gc
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	close(g.stop)
	<-g.stopped
	g.mu.Lock()
	for _, r := range g.pending {
		r.done <- store.ErrClosed
	}
	g.pending = nil
	g.mu.Unlock()
	// The chain's statements are finalized on their connection before it closes (a SQLite
	// handle with statements left would stay open).
	errs := []error{s.finalizeChain()}
	return errors.Join(append(errs, s.w.Close(), s.r.Close())...)
}
