package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"dssd/dss"
)

// Labels that separate the uses of SHA-256 and HMAC in the audit chain. A new record format
// gets a new label.
const (
	hashLabel     = "dssd audit record v1"
	macLabel      = "dssd audit mac v1"
	headMACLabel  = "dssd audit head mac v1"
	checkpointTBS = "dssd audit checkpoint v1"
)

// HashSize is the size of Record.Hash and Record.PrevHash.
const HashSize = sha256.Size

// MaxFieldBytes bounds every string field of a record; longer values are cut at a UTF-8
// boundary and marked with TruncatedMark.
const MaxFieldBytes = 4096

// TruncatedMark ends a field that was cut to MaxFieldBytes.
const TruncatedMark = "…[truncated]"

// Record is one entry of the audit log, as stored.
type Record struct {
	Seq      int64
	PrevHash []byte // Hash of record Seq-1; HashSize zero bytes for Seq 1
	Hash     []byte // RecordHash of this record
	MAC      []byte // RecordMAC with the audit key; nil when the log has no key
	Time     int64  // Unix nanoseconds, UTC

	RequestID  string
	ProblemRef string
	User       string
	Via        string
	Action     string
	Credential string
	Digests    []string
	Major      string
	Minor      string
	Detail     string
}

// Event returns the audit event the record holds (as sanitised when it was appended).
func (r *Record) Event() dss.AuditEvent {
	return dss.AuditEvent{
		Time: time.Unix(0, r.Time).UTC(), RequestID: r.RequestID, ProblemRef: r.ProblemRef,
		User: r.User, Via: r.Via, Action: r.Action, Credential: r.Credential,
		Digests: append([]string(nil), r.Digests...), Major: r.Major, Minor: r.Minor, Detail: r.Detail,
	}
}

// Head is the position of the last record of the chain: Seq 0 and a zero hash for an empty log.
// With an audit key the head row also carries MAC = HeadMAC(key, Seq, Hash), so the head
// cannot be rewound to an earlier record (after deleting the newest ones) without the key.
type Head struct {
	Seq  int64
	Hash []byte
	MAC  []byte // nil without an audit key (and in logs written before head MACs)
}

// HeadMAC authenticates the chain head: HMAC-SHA256 with the audit key over its own label,
// the record counter Seq and the hash of record Seq. The label differs from RecordMAC's, so a
// record's MAC never serves as a head MAC.
func HeadMAC(key []byte, seq int64, hash []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(headMACLabel))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	m.Write(n[:])
	m.Write(hash)
	return m.Sum(nil)
}

// NewHead is the head row after rec: its Seq and Hash, and the head MAC when key is not nil.
func NewHead(rec *Record, key []byte) Head {
	h := Head{Seq: rec.Seq, Hash: rec.Hash}
	if key != nil {
		h.MAC = HeadMAC(key, rec.Seq, rec.Hash)
	}
	return h
}

// Anchor is a position of the chain known from outside the database (a verified checkpoint):
// record Seq must exist and have hash Hash.
type Anchor struct {
	Seq  int64
	Hash []byte
	Time time.Time // when the checkpoint was taken (for the report)
}

// GenesisHash is the PrevHash of the first record.
func GenesisHash() []byte { return make([]byte, HashSize) }

// NewRecord builds the record that follows head for ev: sanitised fields, Seq, PrevHash,
// Hash, and the MAC when key is not nil. A zero ev.Time is replaced by now.
func NewRecord(head Head, ev dss.AuditEvent, now time.Time, key []byte) Record {
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	r := Record{
		Seq:        head.Seq + 1,
		PrevHash:   append([]byte(nil), head.Hash...),
		Time:       t.UnixNano(),
		RequestID:  clean(ev.RequestID),
		ProblemRef: clean(ev.ProblemRef),
		User:       clean(ev.User),
		Via:        clean(ev.Via),
		Action:     clean(ev.Action),
		Credential: clean(ev.Credential),
		Major:      clean(ev.Major),
		Minor:      clean(ev.Minor),
		Detail:     clean(ev.Detail),
	}
	if len(r.PrevHash) == 0 {
		r.PrevHash = GenesisHash()
	}
	if len(ev.Digests) > 0 {
		r.Digests = make([]string, len(ev.Digests))
		for i, d := range ev.Digests {
			r.Digests[i] = clean(d)
		}
	}
	r.Hash = RecordHash(&r)
	if key != nil {
		r.MAC = RecordMAC(key, r.Hash)
	}
	return r
}

// clean makes s storable as text in both backends and bounded: invalid UTF-8 and NUL become
// U+FFFD, and more than MaxFieldBytes is cut. The hash covers the cleaned value.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= MaxFieldBytes {
		return s
	}
	cut := MaxFieldBytes - len(TruncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + TruncatedMark
}

// RecordHash is SHA-256 over the canonical encoding of the record: the label, Seq, PrevHash,
// Time and every event field, each string and the digest list length-prefixed, so no two
// different records share an encoding. Hash and MAC are not part of it.
func RecordHash(r *Record) []byte {
	var e tbsEncoder
	e.str(hashLabel)
	e.u64(uint64(r.Seq))
	e.str(string(r.PrevHash))
	e.u64(uint64(r.Time))
	for _, s := range []string{r.RequestID, r.ProblemRef, r.User, r.Via, r.Action, r.Credential} {
		e.str(s)
	}
	e.u64(uint64(len(r.Digests)))
	for _, d := range r.Digests {
		e.str(d)
	}
	for _, s := range []string{r.Major, r.Minor, r.Detail} {
		e.str(s)
	}
	return e.sum()
}

// tbsEncoder is the length-prefixed encoding RecordHash and checkpointDigest hash: a string
// as its length in 4 bytes big-endian then its bytes, an integer as 8 bytes big-endian.
type tbsEncoder struct{ b bytes.Buffer }

func (e *tbsEncoder) str(s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	e.b.Write(n[:])
	e.b.WriteString(s)
}

func (e *tbsEncoder) u64(v uint64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], v)
	e.b.Write(n[:])
}

// sum is SHA-256 over what was written.
func (e *tbsEncoder) sum() []byte {
	sum := sha256.Sum256(e.b.Bytes())
	return sum[:]
}

// RecordMAC is HMAC-SHA256 with the audit key over the label and the record's hash (which
// covers PrevHash, so the MAC binds the record to its place in the chain).
func RecordMAC(key, hash []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macLabel))
	m.Write(hash)
	return m.Sum(nil)
}

// EncodeDigests is the stored form of Record.Digests: a JSON array, or "[]".
func EncodeDigests(d []string) string {
	if len(d) == 0 {
		return "[]"
	}
	b, err := json.Marshal(d)
	if err != nil { // cannot happen for a []string
		panic(err)
	}
	return string(b)
}

// DecodeDigests parses the stored form of Record.Digests.
func DecodeDigests(s string) ([]string, error) {
	var d []string
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("audit digests: %w", err)
	}
	if len(d) == 0 {
		return nil, nil
	}
	return d, nil
}

// Break describes the first place where the chain is broken.
type Break struct {
	// Seq is the sequence number of the first record that is out of place (for a record
	// missing at the tail: the first missing one).
	Seq int64
	// Kind is one of "edited", "deleted", "reordered", "inserted", "mac", "head-mac" (the
	// chain head's MAC is missing or wrong: head rewound or replaced), "checkpoint" (the
	// record at the checkpoint differs from it), "rolled-back" (records a checkpoint covers
	// are missing at the end).
	Kind   string
	Reason string
}

func (b *Break) String() string { return fmt.Sprintf("record %d: %s (%s)", b.Seq, b.Reason, b.Kind) }

// VerifyReport is the outcome of walking the chain.
type VerifyReport struct {
	Records    int64 // records read
	First      int64 // Seq of the first record read (0 when none)
	Last       int64 // Seq of the last record read (0 when none)
	Head       Head  // the chain head row
	MACChecked bool  // an audit key was given: the MAC of every record read was checked
	Checkpoint *Anchor
	Break      *Break // nil when the chain is intact
}

// OK reports whether the chain is intact.
func (r *VerifyReport) OK() bool { return r.Break == nil }

// String is the report as `dssd audit verify` prints it.
func (r *VerifyReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "records: %d", r.Records)
	if r.Records > 0 {
		fmt.Fprintf(&b, " (seq %d..%d)", r.First, r.Last)
	}
	fmt.Fprintf(&b, "\nhead: seq %d hash %s\n", r.Head.Seq, hex.EncodeToString(r.Head.Hash))
	if r.MACChecked {
		b.WriteString("mac: every record authenticated with the audit key, and the chain head\n")
	} else {
		b.WriteString("mac: not checked (no audit key): the hash chain shows edits but not a rebuilt chain or a rewound head\n")
	}
	if c := r.Checkpoint; c != nil {
		fmt.Fprintf(&b, "checkpoint: seq %d hash %s taken %s", c.Seq, hex.EncodeToString(c.Hash), c.Time.UTC().Format(time.RFC3339))
		if r.Break == nil {
			b.WriteString(": confirmed (records up to it are unchanged and present)\n")
		} else {
			b.WriteString("\n")
		}
	} else {
		b.WriteString("checkpoint: none given: deletion of the newest records together with an old copy of the head row, or a rollback of the whole database, is not detected\n")
	}
	if r.Break == nil {
		b.WriteString("chain: intact\n")
	} else {
		fmt.Fprintf(&b, "chain: BROKEN at %s\n", r.Break)
	}
	return b.String()
}

// Verifier checks records one at a time, in the order the store returns them (ascending
// Seq), and then the head. Backends feed it from one snapshot.
type Verifier struct {
	key    []byte
	report VerifyReport
	prev   []byte
	next   int64 // the Seq expected next
	anchor *Anchor
}

// NewVerifier starts a verification; key is the audit MAC key or nil.
func NewVerifier(key []byte, head Head) *Verifier {
	return &Verifier{
		key:    key,
		report: VerifyReport{Head: head, MACChecked: key != nil},
		prev:   GenesisHash(),
		next:   1,
	}
}

// Expect makes the verification require the anchor: record a.Seq must be present with hash
// a.Hash. Call it before Add.
func (v *Verifier) Expect(a Anchor) {
	v.anchor = &a
	v.report.Checkpoint = &a
}

// Add checks the next record. It returns false once the chain is broken (later records
// need not be read).
func (v *Verifier) Add(r *Record) bool {
	if v.report.Break != nil {
		return false
	}
	v.report.Records++
	if v.report.First == 0 {
		v.report.First = r.Seq
	}
	v.report.Last = r.Seq
	brk := func(seq int64, kind, format string, a ...any) bool {
		v.report.Break = &Break{Seq: seq, Kind: kind, Reason: fmt.Sprintf(format, a...)}
		return false
	}
	if r.Seq > v.report.Head.Seq {
		return brk(r.Seq, "inserted", "record beyond the chain head (seq %d)", v.report.Head.Seq)
	}
	if r.Seq != v.next {
		if r.Seq > v.next {
			if r.Seq == v.next+1 {
				return brk(v.next, "deleted", "record missing (the next stored record is %d)", r.Seq)
			}
			return brk(v.next, "deleted", "records %d..%d missing", v.next, r.Seq-1)
		}
		return brk(r.Seq, "inserted", "unexpected sequence number (expected %d)", v.next)
	}
	if got := RecordHash(r); !hmac.Equal(got, r.Hash) {
		if from, ok := movedFrom(r); ok {
			return brk(r.Seq, "reordered", "record written as seq %d is stored at seq %d", from, r.Seq)
		}
		return brk(r.Seq, "edited", "content does not match the record's hash")
	}
	if !hmac.Equal(r.PrevHash, v.prev) {
		return brk(r.Seq, "inserted", "record does not follow record %d (previous hash differs)", r.Seq-1)
	}
	if v.key != nil {
		if len(r.MAC) == 0 {
			return brk(r.Seq, "mac", "record carries no MAC but an audit key is configured")
		}
		if !hmac.Equal(RecordMAC(v.key, r.Hash), r.MAC) {
			return brk(r.Seq, "mac", "MAC does not verify with the audit key (chain rebuilt or key differs)")
		}
	}
	if a := v.anchor; a != nil && r.Seq == a.Seq && !hmac.Equal(r.Hash, a.Hash) {
		return brk(r.Seq, "checkpoint", "record differs from the checkpoint of %s (edited, replaced, or the chain rebuilt up to here)",
			a.Time.UTC().Format(time.RFC3339))
	}
	v.prev = r.Hash
	v.next++
	return true
}

// movedSearch bounds how far movedFrom looks for the original position of a record.
const movedSearch = 1024

// movedFrom reports whether r's content, hash and previous hash match under another Seq
// near the stored one: the record was moved (its Seq changed), not edited.
func movedFrom(r *Record) (int64, bool) {
	c := *r
	for d := int64(1); d <= movedSearch; d++ {
		for _, s := range []int64{r.Seq - d, r.Seq + d} {
			if s < 1 {
				continue
			}
			c.Seq = s
			if hmac.Equal(RecordHash(&c), r.Hash) {
				return s, true
			}
		}
	}
	return 0, false
}

// Finish checks the end of the chain against the head and returns the report.
func (v *Verifier) Finish() VerifyReport {
	if v.report.Break == nil {
		head := v.report.Head
		switch last := v.next - 1; {
		case last < head.Seq:
			v.report.Break = &Break{Seq: last + 1, Kind: "deleted",
				Reason: fmt.Sprintf("the chain head is at seq %d but the last record is %d", head.Seq, last)}
		case !hmac.Equal(head.Hash, v.prev):
			v.report.Break = &Break{Seq: last, Kind: "edited", Reason: "the chain head's hash differs from the last record's"}
		case v.anchor != nil && v.anchor.Seq > last:
			a := v.anchor
			v.report.Break = &Break{Seq: last + 1, Kind: "rolled-back",
				Reason: fmt.Sprintf("records %d..%d missing: the checkpoint of %s covers the log up to seq %d but it ends at seq %d (newest records deleted or the database rolled back)",
					last+1, a.Seq, a.Time.UTC().Format(time.RFC3339), a.Seq, last)}
		case v.key != nil && head.Seq > 0 && len(head.MAC) == 0:
			v.report.Break = &Break{Seq: head.Seq, Kind: "head-mac",
				Reason: "the chain head carries no MAC but an audit key is configured (head rewound or replaced, or not rewritten since an upgrade: one append adds it)"}
		case v.key != nil && head.Seq > 0 && !hmac.Equal(HeadMAC(v.key, head.Seq, head.Hash), head.MAC):
			v.report.Break = &Break{Seq: head.Seq, Kind: "head-mac",
				Reason: "the chain head's MAC does not verify with the audit key (head rewound to an earlier record, or key differs)"}
		}
	}
	return v.report
}
