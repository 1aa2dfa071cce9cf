package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dssd/dss"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dssd.db")
	s, err := Open(context.Background(), Config{Path: path, AuditKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func ev(id string) dss.AuditEvent {
	return dss.AuditEvent{RequestID: id, User: "alice", Action: dss.AuditSign, Credential: "c", Major: dss.MajorSuccess}
}

// appendFrom appends each events from each of workers goroutines, each waiting for its append
// before the next (request ids "wNN-NNN": worker, then its sequence).
func appendFrom(t *testing.T, s *Store, workers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Append(context.Background(), ev(fmt.Sprintf("w%02d-%03d", w, i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestGroupCommit: concurrent appends share transactions, every record is in one chain that
// verifies, and each caller's records are in the order it appended them.
func TestGroupCommit(t *testing.T) {
	s, _ := openTest(t)
	const workers, each = 16, 40
	appendFrom(t, s, workers, each)
	rep, err := s.Verify(context.Background())
	if err != nil || !rep.OK() || rep.Records != workers*each {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	recs, err := s.Records(context.Background(), 0, workers*each+1)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	for _, r := range recs {
		w := r.RequestID[:3]
		if prev, ok := last[w]; ok && prev >= r.RequestID {
			t.Fatalf("%s recorded after %s", r.RequestID, prev)
		}
		last[w] = r.RequestID
	}
	commits := s.gc.commits.Load()
	if commits >= workers*each {
		t.Errorf("%d appends took %d transactions: no group commit", workers*each, commits)
	}
	t.Logf("%d appends from %d goroutines in %d transactions", workers*each, workers, commits)
}

// TestGroupCommitWithdraw: an Append whose context ends while it waits behind a transaction
// that cannot commit yet (another handle holds the write lock) returns the context's error and
// leaves no record; the one already in that transaction is committed once the lock is free.
func TestGroupCommitWithdraw(t *testing.T) {
	s, path := openTest(t)
	raw, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- s.Append(ctx, ev("first")) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if s.gc.taken.Load() == 1 {
			break // the committer took "first" and waits for the lock
		}
		if time.Now().After(deadline) {
			t.Fatal("the committer never took the first append")
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.Append(short, ev("second")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued append with an expired context: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	recs, err := s.Records(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].RequestID != "first" {
		t.Fatalf("records %+v, want only first", recs)
	}
}

// TestCloseWhileQueued: Close answers every queued Append and leaves no goroutine waiting.
func TestCloseWhileQueued(t *testing.T) {
	s, _ := openTest(t)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Append(context.Background(), ev(fmt.Sprint(i))) // committed or ErrClosed
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("appends still waiting after Close")
	}
}

// TestGroupCommitWindow: with several callers appending in a closed loop, the committer holds
// each batch open for the callers it just answered, so their records share transactions
// (without the window they alternate: about two records per transaction from four callers);
// a lone caller never waits for anyone (the window here is longer than the test's timeout).
func TestGroupCommitWindow(t *testing.T) {
	ctx := context.Background()
	open := func(wait time.Duration) *Store {
		s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "dssd.db"), AuditKey: make([]byte, 32), GroupCommitWait: wait})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	lone := open(time.Hour)
	for i := range 20 {
		if err := lone.Append(ctx, ev(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := lone.gc.commits.Load(); got != 20 {
		t.Fatalf("one caller: %d transactions for 20 appends", got)
	}

	s := open(200 * time.Millisecond)
	const workers, each = 4, 30
	appendFrom(t, s, workers, each)
	commits := s.gc.commits.Load()
	if commits*3 > workers*each {
		t.Errorf("%d appends from %d callers took %d transactions, want at most a third as many", workers*each, workers, commits)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() || rep.Records != workers*each {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	t.Logf("%d appends from %d callers in %d transactions", workers*each, workers, commits)
}

// TestChainRollback: a transaction of the chain that fails (here the head row was rewound by
// another handle, so the insert hits an existing seq) is rolled back, its Append gets the
// error, and the writer connection is left clean: other writes and, once the head is right
// again, appends go on.
func TestChainRollback(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	for i := range 3 {
		if err := s.Append(ctx, ev(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var seq int64
	var hash, mac []byte
	if err := raw.QueryRow(`SELECT seq, hash, mac FROM audit_head WHERE id = 1`).Scan(&seq, &hash, &mac); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_head SET seq = 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, ev("clash")); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("append over a rewound head: %v", err)
	}
	if _, err := s.Consume(ctx, "sad-1", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("a write after the failed transaction: %v", err)
	}
	if _, err := raw.Exec(`UPDATE audit_head SET seq = ?, hash = ?, mac = ? WHERE id = 1`, seq, hash, mac); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, ev("after")); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.Records != 4 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestCancelledWritesKeepTheWriter: writes whose caller gives up (a deadline that ends while
// the statement runs, as when a client hangs up during a PIN attempt) do not interrupt the
// statement, so the writer's connection, and the audit chain's statements prepared on it,
// stay: before, database/sql replaced the interrupted connection and the old one's SQLite
// handle and files stayed open (2000 such writes: about 200 replacements, 400 descriptors).
func TestCancelledWritesKeepTheWriter(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.Append(ctx, ev("a0")); err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		e, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(e)
	}
	before, conn := fds(), s.chain.conn
	for i := range 1000 {
		c, cancel := context.WithTimeout(ctx, time.Duration(i%50)*time.Microsecond)
		_, _ = s.RecordFailure(c, fmt.Sprintf("cred-%d", i))
		cancel()
		if err := s.Append(ctx, ev(fmt.Sprintf("a%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if s.chain.conn != conn {
		t.Error("the writer's connection was replaced after cancelled writes")
	}
	if after := fds(); after > before+4 {
		t.Errorf("open file descriptors %d -> %d after 1000 cancelled writes", before, after)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() || rep.Records != 1001 {
		t.Errorf("verify: %+v %v", rep, err)
	}
}
