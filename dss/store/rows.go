package store

import (
	"crypto/sha256"
	"fmt"
	"time"
)

// RecordColumns are the columns of the audit_log table in the order ScanRecord and
// Record.Values use. Both backends name them the same.
const RecordColumns = "seq, prev_hash, hash, mac, time_ns, request_id, problem_ref, user_name, via, action, credential, digests, major, minor, detail"

// Values returns the record's column values in RecordColumns order.
func (r *Record) Values() []any {
	var mac any
	if r.MAC != nil {
		mac = r.MAC
	}
	return []any{r.Seq, r.PrevHash, r.Hash, mac, r.Time, r.RequestID, r.ProblemRef, r.User, r.Via,
		r.Action, r.Credential, EncodeDigests(r.Digests), r.Major, r.Minor, r.Detail}
}

// ScanRecord reads one row of RecordColumns through scan (sql.Rows.Scan or pgx.Rows.Scan).
func ScanRecord(scan func(dest ...any) error) (Record, error) {
	var r Record
	var digests string
	err := scan(&r.Seq, &r.PrevHash, &r.Hash, &r.MAC, &r.Time, &r.RequestID, &r.ProblemRef, &r.User,
		&r.Via, &r.Action, &r.Credential, &digests, &r.Major, &r.Minor, &r.Detail)
	if err != nil {
		return Record{}, err
	}
	if len(r.MAC) == 0 {
		r.MAC = nil
	}
	r.Digests, err = DecodeDigests(digests)
	return r, err
}

// ReplayKey is the stored key of a SAD id: its SHA-256, so any id fits a fixed-size binary
// column and no SAD material is stored.
func ReplayKey(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// ReplayGrace is how long after its expiry a SAD's replay record is kept; it covers clock
// differences between nodes. The record may be purged afterwards: the SAD itself is refused
// as expired by then.
const ReplayGrace = 10 * time.Minute

// PurgeInterval is how often a node purges expired replay records (on a Consume).
const PurgeInterval = time.Minute

// Rows is what the result sets of database/sql and pgx have in common.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// CollectRecords reads every audit record of a result set selected with RecordColumns.
func CollectRecords(rows Rows) ([]Record, error) {
	var out []Record
	for rows.Next() {
		rec, err := ScanRecord(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("audit records: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit records: %w", err)
	}
	return out, nil
}
