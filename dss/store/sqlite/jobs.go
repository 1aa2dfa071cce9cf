package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"dssd/dss"
	"dssd/dss/store"
)

var _ store.JobStore = (*Store)(nil)

// jobsSchema is the migration step that adds the asynchronous job table.
var jobsSchema = []string{
	`CREATE TABLE IF NOT EXISTS async_jobs (
		id TEXT PRIMARY KEY,
		owner TEXT NOT NULL,
		request_id TEXT NOT NULL,
		state TEXT NOT NULL,
		payload BLOB,
		response BLOB,
		claim TEXT NOT NULL DEFAULT '',
		lease_until INTEGER NOT NULL DEFAULT 0,
		attempts INTEGER NOT NULL DEFAULT 0,
		created_ns INTEGER NOT NULL,
		expires_ns INTEGER NOT NULL) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS async_jobs_claimable ON async_jobs (state, created_ns)`,
	`CREATE INDEX IF NOT EXISTS async_jobs_owner ON async_jobs (owner, state)`,
	`CREATE INDEX IF NOT EXISTS async_jobs_expires ON async_jobs (expires_ns)`,
}

// SubmitJob stores a new queued job.
func (s *Store) SubmitJob(ctx context.Context, j *dss.Job) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO async_jobs (id, owner, request_id, state, payload, created_ns, expires_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, j.ID, j.Owner, j.RequestID, dss.JobQueued, j.Payload,
			j.Created.UnixNano(), j.Expires.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("submit job: %w", err)
	}
	return nil
}

// ClaimJob claims the oldest claimable job: the conditional UPDATE runs in an IMMEDIATE
// transaction, which SQLite serialises across handles and processes.
func (s *Store) ClaimJob(ctx context.Context, claim string, now, leaseUntil time.Time) (*dss.Job, error) {
	var j *dss.Job
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `UPDATE async_jobs
			SET state = ?, claim = ?, lease_until = ?, attempts = attempts + 1
			WHERE id = (SELECT id FROM async_jobs
				WHERE expires_ns > ? AND (state = ? OR (state = ? AND lease_until < ?))
				ORDER BY created_ns LIMIT 1)
			RETURNING id, owner, request_id, state, payload, attempts, created_ns, expires_ns`,
			dss.JobRunning, claim, leaseUntil.UnixNano(),
			now.UnixNano(), dss.JobQueued, dss.JobRunning, now.UnixNano())
		var c dss.Job
		var created, expires int64
		err := row.Scan(&c.ID, &c.Owner, &c.RequestID, &c.State, &c.Payload, &c.Attempts, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		c.Created, c.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
		j = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// RenewJob extends the lease of a job held under claim.
func (s *Store) RenewJob(ctx context.Context, id, claim string, leaseUntil time.Time) (bool, error) {
	return s.jobUpdate(ctx, "renew job", `UPDATE async_jobs SET lease_until = ? WHERE id = ? AND state = ? AND claim = ?`,
		leaseUntil.UnixNano(), id, dss.JobRunning, claim)
}

// FinishJob stores the response of a job held under claim and drops its payload.
func (s *Store) FinishJob(ctx context.Context, id, claim string, response []byte) (bool, error) {
	return s.jobUpdate(ctx, "finish job", `UPDATE async_jobs SET state = ?, response = ?, payload = NULL, claim = ''
		WHERE id = ? AND state = ? AND claim = ?`, dss.JobDone, response, id, dss.JobRunning, claim)
}

func (s *Store) jobUpdate(ctx context.Context, what, q string, args ...any) (bool, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}

// LoadJob returns an unexpired job without its payload.
func (s *Store) LoadJob(ctx context.Context, id string, now time.Time) (*dss.Job, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var j dss.Job
	var created, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT id, owner, request_id, state, response, attempts, created_ns, expires_ns
		FROM async_jobs WHERE id = ? AND expires_ns > ?`, id, now.UnixNano()).
		Scan(&j.ID, &j.Owner, &j.RequestID, &j.State, &j.Response, &j.Attempts, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load job: %w", err)
	}
	j.Created, j.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return &j, nil
}

// OpenJobs counts the owner's unexpired, unfinished jobs.
func (s *Store) OpenJobs(ctx context.Context, owner string, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM async_jobs WHERE owner = ? AND state <> ? AND expires_ns > ?`,
		owner, dss.JobDone, now.UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// PurgeJobs deletes expired jobs.
func (s *Store) PurgeJobs(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM async_jobs WHERE expires_ns <= ?`, now.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	return n, nil
}
