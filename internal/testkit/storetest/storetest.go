// Package storetest is the test suite every dss/store backend passes: the audit chain and
// its verifier against edited, deleted, reordered and inserted records (tampered through raw
// SQL), concurrent appends from several handles, single use of SAD ids across handles,
// lockout counters shared by handles and surviving a reopen, and a crash test that kills a
// child process appending records with SIGKILL and checks that every record whose Append
// returned is in the verified chain.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dssd/dss"
	"dssd/dss/store"
)

// OpenFunc opens a new handle (a "node") on the database named by target.
type OpenFunc func(ctx context.Context, target string, auditKey []byte) (store.Store, error)

// Backend is one fresh, empty database for one test.
type Backend struct {
	// Target names the database for Open: a file path, a DSN.
	Target string
	// Open opens a new handle on Target.
	Open OpenFunc
	// Exec runs one raw SQL statement on the database behind the stores' backs (the
	// attacker with write access). Placeholders are written with Param.
	Exec func(ctx context.Context, sql string, args ...any) error
	// Param is the placeholder for the n-th argument (1-based): "?" or "$n".
	Param func(n int) string
	// Unprotect are the statements that switch off the append-only triggers.
	Unprotect []string
}

// NewBackend makes a fresh database for a test (and removes it in t.Cleanup).
type NewBackend func(t testing.TB) Backend

// testKey is the audit MAC key the suite uses (test material only).
func testKey() []byte { s := sha256.Sum256([]byte("storetest audit key")); return s[:] }

func open(t *testing.T, b Backend, key []byte) store.Store {
	t.Helper()
	s, err := b.Open(context.Background(), b.Target, key)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustExec(t *testing.T, b Backend, sql string, args ...any) {
	t.Helper()
	if err := b.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// event is a typical signing event; n makes it unique.
func event(n int) dss.AuditEvent {
	return dss.AuditEvent{
		Time:       time.Date(2026, 1, 2, 3, 4, 5, n, time.UTC),
		RequestID:  fmt.Sprintf("req-%d", n),
		ProblemRef: fmt.Sprintf("pr-%d", n),
		User:       "alice",
		Via:        "token",
		Action:     dss.AuditSign,
		Credential: "alice-rsa",
		Digests:    []string{fmt.Sprintf("sha256:%064x", n), "sha256:" + strings.Repeat("ab", 32)},
		Major:      dss.MajorSuccess,
		Detail:     "signed",
	}
}

func appendN(t *testing.T, s store.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(context.Background(), event(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func verify(t *testing.T, s store.Store) store.VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func allRecords(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	after := int64(0)
	for {
		page, err := s.Records(context.Background(), after, 500)
		if err != nil {
			t.Fatalf("records: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// Run runs the whole suite; each subtest gets a fresh database from nb.
func Run(t *testing.T, nb NewBackend) {
	t.Run("AuditRoundTrip", func(t *testing.T) { testAuditRoundTrip(t, nb(t)) })
	t.Run("AuditEmpty", func(t *testing.T) { testAuditEmpty(t, nb(t)) })
	t.Run("AuditTamper", func(t *testing.T) { testAuditTamper(t, nb) })
	t.Run("AuditRebuiltChain", func(t *testing.T) { testAuditRebuiltChain(t, nb(t)) })
	t.Run("AuditTailTruncation", func(t *testing.T) { testAuditTailTruncation(t, nb) })
	t.Run("AuditHeadMACUpgrade", func(t *testing.T) { testAuditHeadMACUpgrade(t, nb(t)) })
	t.Run("AuditAppendOnlyTriggers", func(t *testing.T) { testAppendOnly(t, nb(t)) })
	t.Run("AuditConcurrentTwoHandles", func(t *testing.T) { testAuditConcurrent(t, nb(t)) })
	t.Run("AuditCancelled", func(t *testing.T) { testAuditCancelled(t, nb(t)) })
	t.Run("ReplayConcurrentTwoHandles", func(t *testing.T) { testReplayConcurrent(t, nb(t)) })
	t.Run("ReplayPurge", func(t *testing.T) { testReplayPurge(t, nb(t)) })
	t.Run("LockoutSharedAndDurable", func(t *testing.T) { testLockout(t, nb(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, nb(t)) })
}

func testAuditRoundTrip(t *testing.T, b Backend) {
	s := open(t, b, testKey())
	ctx := context.Background()
	evs := []dss.AuditEvent{
		event(1),
		{Action: dss.AuditAuthenticate, Major: "urn:x:RequesterError", Detail: "bad token"}, // zero time: the store's clock
		{Action: dss.AuditConfig, RequestID: "bad\xffutf8\x00nul", Detail: strings.Repeat("é", store.MaxFieldBytes)},
	}
	before := time.Now()
	for _, ev := range evs {
		if err := s.Append(ctx, ev); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	recs := allRecords(t, s)
	if len(recs) != len(evs) {
		t.Fatalf("%d records, want %d", len(recs), len(evs))
	}
	if diff := cmp.Diff(evs[0], recs[0].Event()); diff != "" {
		t.Errorf("record 1 differs from the event (-want +got):\n%s", diff)
	}
	if got := recs[1].Event().Time; got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("record 2 time %v: want the store's clock", got)
	}
	if got, want := recs[2].RequestID, "bad\uFFFDutf8\uFFFDnul"; got != want {
		t.Errorf("request id stored as %q, want %q", got, want)
	}
	if d := recs[2].Detail; len(d) > store.MaxFieldBytes || !strings.HasSuffix(d, store.TruncatedMark) {
		t.Errorf("detail of %d bytes not truncated to %d with the mark", len(d), store.MaxFieldBytes)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || len(r.Hash) != store.HashSize || len(r.MAC) != sha256.Size {
			t.Errorf("record %d: seq %d, hash %d bytes, mac %d bytes", i, r.Seq, len(r.Hash), len(r.MAC))
		}
	}
	rep := verify(t, s)
	if !rep.OK() || rep.Records != 3 || rep.Head.Seq != 3 || !rep.MACChecked {
		t.Fatalf("verify: %+v", rep)
	}
	// The same log verified without the key: chain intact, MACs not checked.
	s2 := open(t, b, nil)
	if rep := verify(t, s2); !rep.OK() || rep.MACChecked {
		t.Fatalf("verify without key: %+v", rep)
	}
	// With another key: the first record fails its MAC.
	other := sha256.Sum256([]byte("another key"))
	s3 := open(t, b, other[:])
	if rep := verify(t, s3); rep.OK() || rep.Break.Seq != 1 || rep.Break.Kind != "mac" {
		t.Fatalf("verify with another key: %+v", rep)
	}
}

func testAuditEmpty(t *testing.T, b Backend) {
	s := open(t, b, nil)
	rep := verify(t, s)
	if !rep.OK() || rep.Records != 0 || rep.Head.Seq != 0 {
		t.Fatalf("empty log: %+v", rep)
	}
	if !strings.Contains(rep.String(), "chain: intact") {
		t.Errorf("report text: %s", rep.String())
	}
}

// tamperCase: ten records, then the statements; Verify must name wantSeq with wantKind.
type tamperCase struct {
	name     string
	sql      []string
	wantSeq  int64
	wantKind string
}

func tamperCases() []tamperCase {
	return []tamperCase{
		{"edited user", []string{`UPDATE audit_log SET user_name = 'mallory' WHERE seq = 3`}, 3, "edited"},
		{"edited digest", []string{`UPDATE audit_log SET digests = '["sha256:00"]' WHERE seq = 7`}, 7, "edited"},
		{"edited time", []string{`UPDATE audit_log SET time_ns = time_ns + 1 WHERE seq = 1`}, 1, "edited"},
		{"deleted", []string{`DELETE FROM audit_log WHERE seq = 6`}, 6, "deleted"},
		{"deleted first", []string{`DELETE FROM audit_log WHERE seq = 1`}, 1, "deleted"},
		{"deleted tail", []string{`DELETE FROM audit_log WHERE seq >= 9`}, 9, "deleted"},
		{"reordered", []string{
			`UPDATE audit_log SET seq = -4 WHERE seq = 4`,
			`UPDATE audit_log SET seq = 4 WHERE seq = 5`,
			`UPDATE audit_log SET seq = 5 WHERE seq = -4`,
		}, 4, "reordered"},
		{"deleted and renumbered", []string{
			`DELETE FROM audit_log WHERE seq = 5`,
			`UPDATE audit_log SET seq = seq - 1 WHERE seq = 6`,
		}, 5, "reordered"},
		{"inserted past the head", []string{
			`INSERT INTO audit_log (` + store.RecordColumns + `) SELECT 11, hash, hash, mac, time_ns, request_id,
				problem_ref, user_name, via, action, credential, digests, major, minor, detail FROM audit_log WHERE seq = 10`,
		}, 11, "inserted"},
		{"head rolled back", []string{`UPDATE audit_head SET seq = 8`}, 9, "inserted"},
		{"head hash", []string{`UPDATE audit_head SET hash = prev_hash FROM audit_log WHERE audit_log.seq = 10`}, 10, "edited"},
	}
}

func testAuditTamper(t *testing.T, nb NewBackend) {
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := nb(t)
			s := open(t, b, nil)
			appendN(t, s, 1, 10)
			if rep := verify(t, s); !rep.OK() {
				t.Fatalf("before tampering: %+v", rep)
			}
			for _, q := range b.Unprotect {
				mustExec(t, b, q)
			}
			for _, q := range tc.sql {
				mustExec(t, b, q)
			}
			rep := verify(t, s)
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Break.Seq != tc.wantSeq || rep.Break.Kind != tc.wantKind {
				t.Fatalf("break %v, want record %d (%s)", rep.Break, tc.wantSeq, tc.wantKind)
			}
			if !strings.Contains(rep.String(), fmt.Sprintf("BROKEN at record %d:", tc.wantSeq)) {
				t.Errorf("report does not name record %d:\n%s", tc.wantSeq, rep.String())
			}
		})
	}
}

// rebuildChain is the attacker of the rebuilt-chain tests: it edits record recs[from] and
// recomputes every later hash and the head.
func rebuildChain(t *testing.T, b Backend, recs []store.Record, from int) {
	t.Helper()
	for _, q := range b.Unprotect {
		mustExec(t, b, q)
	}
	p := b.Param
	prev := recs[from-1].Hash
	for i := from; i < len(recs); i++ {
		r := recs[i]
		if i == from {
			r.Detail = "nothing happened"
		}
		r.PrevHash = prev
		r.Hash = store.RecordHash(&r)
		prev = r.Hash
		mustExec(t, b, fmt.Sprintf(`UPDATE audit_log SET detail = %s, prev_hash = %s, hash = %s WHERE seq = %s`, p(1), p(2), p(3), p(4)),
			r.Detail, r.PrevHash, r.Hash, r.Seq)
	}
	mustExec(t, b, fmt.Sprintf(`UPDATE audit_head SET hash = %s WHERE id = 1`, p(1)), prev)
}

// testAuditRebuiltChain: an attacker edits record 3 and recomputes every later hash and the
// head. Without a key the chain cannot tell; with the key the MAC of record 3 fails.
func testAuditRebuiltChain(t *testing.T, b Backend) {
	s := open(t, b, testKey())
	appendN(t, s, 1, 6)
	recs := allRecords(t, s)
	rebuildChain(t, b, recs, 2)
	if rep := verify(t, open(t, b, nil)); !rep.OK() {
		t.Fatalf("a rebuilt chain verifies without the key (the reason for the MAC), got %+v", rep)
	}
	rep := verify(t, s)
	if rep.OK() || rep.Break.Seq != 3 || rep.Break.Kind != "mac" {
		t.Fatalf("with the key: %+v, want a MAC break at record 3", rep)
	}
}

func testAppendOnly(t *testing.T, b Backend) {
	s := open(t, b, nil)
	appendN(t, s, 1, 2)
	if err := b.Exec(context.Background(), `UPDATE audit_log SET detail = 'x' WHERE seq = 1`); err == nil {
		t.Error("UPDATE of an audit record succeeded with the triggers in place")
	}
	if err := b.Exec(context.Background(), `DELETE FROM audit_log WHERE seq = 2`); err == nil {
		t.Error("DELETE of an audit record succeeded with the triggers in place")
	}
	if rep := verify(t, s); !rep.OK() || rep.Records != 2 {
		t.Fatalf("%+v", rep)
	}
}

// testAuditConcurrent: many goroutines over two handles append into one unbroken chain.
func testAuditConcurrent(t *testing.T, b Backend) {
	s1, s2 := open(t, b, testKey()), open(t, b, testKey())
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if w%2 == 1 {
				s = s2
			}
			for i := range each {
				if err := s.Append(context.Background(), event(w*each+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	for _, s := range []store.Store{s1, s2} {
		rep := verify(t, s)
		if !rep.OK() || rep.Records != workers*each || rep.Head.Seq != workers*each {
			t.Fatalf("after concurrent appends: %+v", rep)
		}
	}
	seen := map[string]bool{}
	for _, r := range allRecords(t, s1) {
		if seen[r.RequestID] {
			t.Errorf("request %s recorded twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct records, want %d", len(seen), workers*each)
	}
}

func testAuditCancelled(t *testing.T, b Backend) {
	s := open(t, b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Append(ctx, event(1)); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	}
	if rep := verify(t, s); !rep.OK() || rep.Records != 0 {
		t.Fatalf("%+v", rep)
	}
}

// testReplayConcurrent: 100 concurrent Consume of one fresh id over two handles: one true.
func testReplayConcurrent(t *testing.T, b Backend) {
	s1, s2 := open(t, b, nil), open(t, b, nil)
	notAfter := time.Now().Add(5 * time.Minute)
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, fails := 0, 0
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if i%2 == 1 {
				s = s2
			}
			<-start
			ok, err := s.Consume(context.Background(), "sad-0001", notAfter)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails++
				t.Errorf("consume: %v", err)
			} else if ok {
				wins++
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins != 1 || fails != 0 {
		t.Fatalf("%d of %d concurrent uses succeeded (%d errors), want exactly 1", wins, n, fails)
	}
	// After a reopen the id stays used; another id is fresh.
	s3 := open(t, b, nil)
	if ok, err := s3.Consume(context.Background(), "sad-0001", notAfter); err != nil || ok {
		t.Fatalf("reuse after reopen: %v %v", ok, err)
	}
	if ok, err := s3.Consume(context.Background(), "sad-0002", notAfter); err != nil || !ok {
		t.Fatalf("fresh id: %v %v", ok, err)
	}
}

// testReplayPurge: records long expired are purged, live ones are kept.
func testReplayPurge(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Now()
	s1 := open(t, b, nil)
	mustConsume(t, s1, "old", now.Add(-store.ReplayGrace-time.Hour), true)
	mustConsume(t, s1, "live", now.Add(5*time.Minute), true)
	mustConsume(t, s1, "recent", now.Add(-time.Minute), true) // expired, within the grace period
	s2 := open(t, b, nil)                                     // a fresh handle purges on its first Consume
	mustConsume(t, s2, "other", now.Add(5*time.Minute), true)
	mustConsume(t, s2, "live", now.Add(5*time.Minute), false)
	mustConsume(t, s2, "recent", now.Add(-time.Minute), false)
	ok, err := s2.Consume(ctx, "old", now.Add(-store.ReplayGrace-time.Hour))
	if err != nil || !ok {
		t.Fatalf("an id expired beyond the grace period was not purged: %v %v", ok, err)
	}
}

func mustConsume(t *testing.T, s store.Store, id string, notAfter time.Time, want bool) {
	t.Helper()
	ok, err := s.Consume(context.Background(), id, notAfter)
	if err != nil || ok != want {
		t.Fatalf("Consume(%s) = %v, %v; want %v", id, ok, err, want)
	}
}

func testLockout(t *testing.T, b Backend) {
	ctx := context.Background()
	s1, s2 := open(t, b, nil), open(t, b, nil)
	for i, s := range []store.Store{s1, s2, s1} {
		n, err := s.RecordFailure(ctx, "cred-a")
		if err != nil || n != i+1 {
			t.Fatalf("failure %d: %d, %v", i+1, n, err)
		}
	}
	if n, err := s2.Failures(ctx, "cred-a"); err != nil || n != 3 {
		t.Fatalf("failures seen by the other handle: %d, %v", n, err)
	}
	if n, err := s2.Failures(ctx, "cred-b"); err != nil || n != 0 {
		t.Fatalf("failures of an untouched credential: %d, %v", n, err)
	}
	s1.Close()
	s2.Close()
	s3 := open(t, b, nil)
	if n, err := s3.Failures(ctx, "cred-a"); err != nil || n != 3 {
		t.Fatalf("failures after reopen: %d, %v", n, err)
	}
	// Concurrent failures over two handles are counted exactly.
	s4 := open(t, b, nil)
	const n = 50
	got := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s3
			if i%2 == 1 {
				s = s4
			}
			c, err := s.RecordFailure(ctx, "cred-c")
			if err != nil {
				t.Errorf("record failure: %v", err)
			}
			got[i] = c
		}()
	}
	wg.Wait()
	slices.Sort(got)
	for i, c := range got {
		if c != i+1 {
			t.Fatalf("concurrent counts %v: want 1..%d once each", got, n)
		}
	}
	if err := s4.Reset(ctx, "cred-a"); err != nil {
		t.Fatal(err)
	}
	if n, err := s3.Failures(ctx, "cred-a"); err != nil || n != 0 {
		t.Fatalf("after reset: %d, %v", n, err)
	}
	if n, err := s3.Failures(ctx, "cred-c"); err != nil || n != 50 {
		t.Fatalf("reset touched another credential: %d, %v", n, err)
	}
}

func testClosed(t *testing.T, b Backend) {
	s := open(t, b, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Append(ctx, event(1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("append after close: %v", err)
	}
	if _, err := s.Consume(ctx, "x", time.Now()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("consume after close: %v", err)
	}
	if _, err := s.Verify(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("verify after close: %v", err)
	}
}

// BenchmarkAppend measures audit appends on one handle from GOMAXPROCS×4 goroutines (each
// append is one committed transaction).
func BenchmarkAppend(b *testing.B, nb NewBackend) {
	bk := nb(b)
	s, err := bk.Open(context.Background(), bk.Target, testKey())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := s.Append(context.Background(), event(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
