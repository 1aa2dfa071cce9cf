package store

import (
	"context"
	"errors"

	"dssd/dss"
)

// Store is what a backend provides: the three ports of package dss, reading and verifying
// the audit log, and Close.
type Store interface {
	dss.AuditSink
	dss.ReplayStore
	dss.LockoutStore
	// Verify walks the whole audit chain in one consistent snapshot. The error reports a
	// failure to read; a broken chain is reported in VerifyReport.Break.
	Verify(ctx context.Context) (VerifyReport, error)
	// VerifyAgainst is Verify that also requires the anchor (a verified checkpoint): record
	// a.Seq present with hash a.Hash, so deleted, changed or rolled-back records up to it
	// break the chain even when the head was rewound consistently.
	VerifyAgainst(ctx context.Context, a Anchor) (VerifyReport, error)
	// Records returns up to limit records with Seq > after, in Seq order, as stored
	// (nothing is checked).
	Records(ctx context.Context, after int64, limit int) ([]Record, error)
	// Close releases the database handles.
	Close() error
}

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("store is closed")

// MinAuditKeyBytes is the shortest audit MAC key accepted.
const MinAuditKeyBytes = 32

// CheckAuditKey returns an error when key is set but too short to be a MAC key.
func CheckAuditKey(key []byte) error {
	if key != nil && len(key) < MinAuditKeyBytes {
		return errors.New("audit key must hold at least 32 bytes")
	}
	return nil
}
