// Package store holds what the nodes of a dssd deployment share: the tamper-evident audit
// log, the single-use records of signature activation data (SAD) and the PIN/OTP failure
// counters. It declares the Store contract and the audit chain (record encoding, hashing,
// MAC, verification) common to both backends; the backends are sibling packages:
// dss/store/sqlite (embedded, one node, the default) and dss/store/postgres (several nodes
// on one database). internal/testkit/storetest is the suite both pass.
//
// # Audit chain
//
// Every audit event becomes one Record with a sequence number Seq (1, 2, 3, ... with no
// gap), the Hash of the previous record (PrevHash; 32 zero bytes for the first) and its own
// Hash: SHA-256 over a canonical, length-prefixed encoding of a version label, Seq,
// PrevHash, the time in Unix nanoseconds and every field of the event (see RecordHash). A
// single row, the chain head, holds the Seq and Hash of the last record; it is read with a
// write lock, and the record and the new head are written in one transaction, so appends
// from any number of goroutines and nodes form one chain. Append returns only after that
// transaction has committed (SQLite: WAL with synchronous=FULL; PostgreSQL:
// synchronous_commit on), so an event whose Append returned survives a crash of the node.
//
// Verify walks the chain and names the first record that is out of place: an edited record
// (its content no longer matches its hash), a deleted one (a gap in Seq, or a head that
// points beyond the last record), a reordered one (a record whose content hashes correctly
// only under another Seq), an inserted one (a record that does not link to its predecessor,
// or one past the head).
//
// A hash chain alone proves nothing against someone who can write to the database: they
// can edit a record and recompute every later hash and the head. With an audit key (a
// secret file held by the nodes, not by the database), every record also carries
// MAC = HMAC-SHA256(key, label ‖ Hash); rebuilding the chain then needs the key. The key is
// optional so that a single-node development setup works without one, and Verify says
// whether MACs were checked. What no in-database mechanism catches is a rollback of the
// whole database (records and head) to an earlier consistent state; an external copy of
// the head (e.g. `dssd audit verify` output archived elsewhere) is the remedy.
//
// The tables are append-only at the database level too: triggers refuse UPDATE and DELETE
// on the audit records, so a mistaken statement fails; they do not stop an owner of the
// schema, which is what the chain is for.
package store
