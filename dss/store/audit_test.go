package store

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"dssd/dss"
)

// TestRecordHashFieldBoundaries: moving bytes between adjacent fields, or between the digest
// list and its neighbours, changes the hash (the encoding is length-prefixed).
func TestRecordHashFieldBoundaries(t *testing.T) {
	base := Record{Seq: 1, PrevHash: GenesisHash(), Time: 5, User: "ab", Via: "c", Digests: []string{"x", "y"}}
	variants := []Record{base, base, base, base, base, base}
	variants[1].User, variants[1].Via = "a", "bc"
	variants[2].Digests = []string{"xy"}
	variants[3].Digests = []string{"x", "y", ""}
	variants[4].Seq = 2
	variants[5].PrevHash = bytes.Repeat([]byte{1}, HashSize)
	seen := map[string]int{}
	for i := range variants {
		h := string(RecordHash(&variants[i]))
		if j, ok := seen[h]; ok {
			t.Fatalf("variants %d and %d share a hash", j, i)
		}
		seen[h] = i
	}
	if !bytes.Equal(RecordHash(&variants[0]), RecordHash(&base)) {
		t.Fatal("hash is not deterministic")
	}
}

func TestNewRecordCleansAndChains(t *testing.T) {
	now := time.Unix(100, 0)
	r1 := NewRecord(Head{}, dss.AuditEvent{RequestID: "a\x00b\xff", Detail: strings.Repeat("€", MaxFieldBytes)}, now, nil)
	if r1.Seq != 1 || !bytes.Equal(r1.PrevHash, GenesisHash()) || r1.Time != now.UnixNano() || r1.MAC != nil {
		t.Fatalf("first record: %+v", r1)
	}
	if r1.RequestID != "a\uFFFDb\uFFFD" {
		t.Errorf("request id %q", r1.RequestID)
	}
	if len(r1.Detail) > MaxFieldBytes || !utf8.ValidString(r1.Detail) || !strings.HasSuffix(r1.Detail, TruncatedMark) {
		t.Errorf("detail of %d bytes, valid UTF-8 %v", len(r1.Detail), utf8.ValidString(r1.Detail))
	}
	key := bytes.Repeat([]byte{7}, 32)
	r2 := NewRecord(Head{Seq: r1.Seq, Hash: r1.Hash}, dss.AuditEvent{Action: dss.AuditSign}, now, key)
	if r2.Seq != 2 || !bytes.Equal(r2.PrevHash, r1.Hash) || !bytes.Equal(r2.MAC, RecordMAC(key, r2.Hash)) {
		t.Fatalf("second record: %+v", r2)
	}
	v := NewVerifier(nil, Head{Seq: 2, Hash: r2.Hash})
	if !v.Add(&r1) || !v.Add(&r2) {
		t.Fatal("chain of two does not verify")
	}
	if rep := v.Finish(); !rep.OK() || rep.Records != 2 {
		t.Fatalf("%+v", rep)
	}
	// With a key, the unauthenticated first record is the break.
	v = NewVerifier(key, Head{Seq: 2, Hash: r2.Hash})
	v.Add(&r1)
	if rep := v.Finish(); rep.OK() || rep.Break.Seq != 1 || rep.Break.Kind != "mac" {
		t.Fatalf("%+v", rep)
	}
}
