package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"dssd/dss/store"
)

// rewind deletes the records after seq (triggers dropped, as an attacker with write access
// to the database would) and sets the head row to record seq with the given MAC.
func rewind(t *testing.T, b Backend, recs []store.Record, seq int64, mac []byte) {
	t.Helper()
	for _, q := range b.Unprotect {
		mustExec(t, b, q)
	}
	p := b.Param
	mustExec(t, b, fmt.Sprintf(`DELETE FROM audit_log WHERE seq > %s`, p(1)), seq)
	mustExec(t, b, fmt.Sprintf(`UPDATE audit_head SET seq = %s, hash = %s, mac = %s WHERE id = 1`, p(1), p(2), p(3)),
		seq, recs[seq-1].Hash, mac)
}

func wantBreak(t *testing.T, rep store.VerifyReport, seq int64, kind string, text ...string) {
	t.Helper()
	if rep.OK() {
		t.Fatalf("not detected:\n%s", rep.String())
	}
	if rep.Break.Seq != seq || rep.Break.Kind != kind {
		t.Fatalf("break %v, want record %d (%s)", rep.Break, seq, kind)
	}
	for _, s := range text {
		if !strings.Contains(rep.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, rep.String())
		}
	}
}

// testAuditTailTruncation: the newest records are deleted and the head rewound to the last
// one kept (triggers dropped). Without a key the chain cannot tell. With the key a rewound
// head fails its MAC unless the attacker also has an old copy of the head row (a backup, an
// earlier read); then only a checkpoint taken before tells, naming the missing records.
func testAuditTailTruncation(t *testing.T, nb NewBackend) {
	const n, keep = 10, 7
	setup := func(t *testing.T, key []byte) (Backend, store.Store, []store.Record) {
		b := nb(t)
		s := open(t, b, key)
		appendN(t, s, 1, n)
		if rep := verify(t, s); !rep.OK() {
			t.Fatalf("before tampering: %s", rep.String())
		}
		return b, s, allRecords(t, s)
	}
	checkpoint := func(recs []store.Record) store.Anchor {
		return store.Anchor{Seq: n, Hash: recs[n-1].Hash, Time: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)}
	}
	t.Run("no key", func(t *testing.T) {
		b, s, recs := setup(t, nil)
		rewind(t, b, recs, keep, nil)
		if rep := verify(t, s); !rep.OK() || rep.Head.Seq != keep {
			t.Fatalf("without a key a rewound head is consistent (documented), got:\n%s", rep.String())
		}
		rep, err := s.VerifyAgainst(context.Background(), checkpoint(recs))
		if err != nil {
			t.Fatal(err)
		}
		wantBreak(t, rep, keep+1, "rolled-back", "records 8..10 missing", "covers the log up to seq 10 but it ends at seq 7")
	})
	t.Run("key, head MAC kept", func(t *testing.T) {
		b, s, recs := setup(t, testKey())
		var head store.Head
		rep := verify(t, s)
		head = rep.Head
		rewind(t, b, recs, keep, head.MAC) // the MAC of head 10 on head 7
		wantBreak(t, verify(t, s), keep, "head-mac", "head rewound")
	})
	t.Run("key, head MAC removed", func(t *testing.T) {
		b, s, recs := setup(t, testKey())
		rewind(t, b, recs, keep, nil)
		wantBreak(t, verify(t, s), keep, "head-mac", "carries no MAC")
	})
	t.Run("key, old head row restored", func(t *testing.T) {
		b, s, recs := setup(t, testKey())
		old := store.HeadMAC(testKey(), keep, recs[keep-1].Hash) // what the head row held at seq 7
		rewind(t, b, recs, keep, old)
		if rep := verify(t, s); !rep.OK() {
			t.Fatalf("an old head row restored with its MAC is consistent (documented), got:\n%s", rep.String())
		}
		rep, err := s.VerifyAgainst(context.Background(), checkpoint(recs))
		if err != nil {
			t.Fatal(err)
		}
		wantBreak(t, rep, keep+1, "rolled-back", "records 8..10 missing")
	})
	t.Run("checkpoint confirmed, later records allowed", func(t *testing.T) {
		_, s, recs := setup(t, testKey())
		appendN(t, s, n+1, 3)
		rep, err := s.VerifyAgainst(context.Background(), checkpoint(recs))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Checkpoint == nil || rep.Head.Seq != n+3 || !strings.Contains(rep.String(), "confirmed") {
			t.Fatalf("intact log against its checkpoint:\n%s", rep.String())
		}
	})
	t.Run("chain rebuilt up to the checkpoint", func(t *testing.T) {
		b, s, recs := setup(t, nil)
		rebuildChain(t, b, recs, 3)
		if rep := verify(t, s); !rep.OK() {
			t.Fatalf("a rebuilt chain verifies without key and checkpoint (documented), got:\n%s", rep.String())
		}
		rep, err := s.VerifyAgainst(context.Background(), checkpoint(recs))
		if err != nil {
			t.Fatal(err)
		}
		wantBreak(t, rep, n, "checkpoint", "differs from the checkpoint")
	})
}

// testAuditHeadMACUpgrade: a head row without a MAC (a store written before head MACs) fails
// verification with the key until the next append writes one.
func testAuditHeadMACUpgrade(t *testing.T, b Backend) {
	s := open(t, b, testKey())
	appendN(t, s, 1, 3)
	mustExec(t, b, `UPDATE audit_head SET mac = NULL WHERE id = 1`)
	wantBreak(t, verify(t, s), 3, "head-mac", "carries no MAC")
	appendN(t, s, 4, 1)
	if rep := verify(t, s); !rep.OK() || rep.Head.MAC == nil {
		t.Fatalf("after one append:\n%s", rep.String())
	}
}
