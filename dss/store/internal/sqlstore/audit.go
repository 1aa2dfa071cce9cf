package sqlstore

import (
	"context"
	"fmt"

	"dssd/dss/store"
)

// Failures returns the consecutive failures of the credential.
func (s *Store) Failures(ctx context.Context, credentialID string) (int, error) {
	if s.db.Closed() {
		return 0, store.ErrClosed
	}
	var n int
	err := s.db.Read().QueryRow(ctx, s.q(`SELECT failures FROM lockout WHERE credential = ?`), credentialID).Scan(&n)
	if noRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("lockout: %w", err)
	}
	return n, nil
}

// Reset clears the credential's failures.
func (s *Store) Reset(ctx context.Context, credentialID string) error {
	_, err := s.exec(ctx, "lockout", `DELETE FROM lockout WHERE credential = ?`, credentialID)
	return err
}

// Verify walks the audit chain in one read snapshot.
func (s *Store) Verify(ctx context.Context) (store.VerifyReport, error) { return s.verify(ctx, nil) }

// VerifyAgainst walks the audit chain in one read snapshot and requires the anchor.
func (s *Store) VerifyAgainst(ctx context.Context, a store.Anchor) (store.VerifyReport, error) {
	return s.verify(ctx, &a)
}

func (s *Store) verify(ctx context.Context, anchor *store.Anchor) (store.VerifyReport, error) {
	if s.db.Closed() {
		return store.VerifyReport{}, store.ErrClosed
	}
	var rep store.VerifyReport
	err := s.db.Snapshot(ctx, func(tx Querier) error {
		var head store.Head
		if err := tx.QueryRow(ctx, `SELECT seq, hash, mac FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash, &head.MAC); err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		v := store.NewVerifier(s.mac, head)
		if anchor != nil {
			v.Expect(*anchor)
		}
		rows, err := tx.Query(ctx, `SELECT `+store.RecordColumns+` FROM audit_log ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rec, err := store.ScanRecord(rows.Scan)
			if err != nil {
				return err
			}
			if !v.Add(&rec) {
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rep = v.Finish()
		return nil
	})
	if err != nil {
		return store.VerifyReport{}, fmt.Errorf("audit verify: %w", err)
	}
	return rep, nil
}

// Records returns up to limit records after the given Seq.
func (s *Store) Records(ctx context.Context, after int64, limit int) ([]store.Record, error) {
	if s.db.Closed() {
		return nil, store.ErrClosed
	}
	rows, err := s.db.Read().Query(ctx, s.q(`SELECT `+store.RecordColumns+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit records: %w", err)
	}
	defer rows.Close()
	return store.CollectRecords(rows)
}
