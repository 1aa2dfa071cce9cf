package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		payload BYTEA,
		response BYTEA,
		claim TEXT NOT NULL DEFAULT '',
		lease_until BIGINT NOT NULL DEFAULT 0,
		attempts INT NOT NULL DEFAULT 0,
		created_ns BIGINT NOT NULL,
		expires_ns BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS async_jobs_claimable ON async_jobs (state, created_ns)`,
	`CREATE INDEX IF NOT EXISTS async_jobs_owner ON async_jobs (owner, state)`,
	`CREATE INDEX IF NOT EXISTS async_jobs_expires ON async_jobs (expires_ns)`,
}

// SubmitJob stores a new queued job.
func (s *Store) SubmitJob(ctx context.Context, j *dss.Job) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO async_jobs (id, owner, request_id, state, payload, created_ns, expires_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, j.ID, j.Owner, j.RequestID, dss.JobQueued, j.Payload,
		j.Created.UnixNano(), j.Expires.UnixNano())
	if err != nil {
		return fmt.Errorf("submit job: %w", err)
	}
	return nil
}

// ClaimJob claims the oldest claimable job. The candidate row is locked with FOR UPDATE SKIP
// LOCKED, so concurrent claimers on any node take different jobs without waiting on each
// other; the UPDATE re-checks nothing because the lock is held until commit.
func (s *Store) ClaimJob(ctx context.Context, claim string, now, leaseUntil time.Time) (*dss.Job, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var j dss.Job
	var created, expires int64
	err := s.pool.QueryRow(ctx, `UPDATE async_jobs
		SET state = $1, claim = $2, lease_until = $3, attempts = attempts + 1
		WHERE id = (SELECT id FROM async_jobs
			WHERE expires_ns > $4 AND (state = $5 OR (state = $1 AND lease_until < $4))
			ORDER BY created_ns LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING id, owner, request_id, state, payload, attempts, created_ns, expires_ns`,
		dss.JobRunning, claim, leaseUntil.UnixNano(), now.UnixNano(), dss.JobQueued).
		Scan(&j.ID, &j.Owner, &j.RequestID, &j.State, &j.Payload, &j.Attempts, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	j.Created, j.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return &j, nil
}

// RenewJob extends the lease of a job held under claim.
func (s *Store) RenewJob(ctx context.Context, id, claim string, leaseUntil time.Time) (bool, error) {
	return s.jobUpdate(ctx, "renew job", `UPDATE async_jobs SET lease_until = $1 WHERE id = $2 AND state = $3 AND claim = $4`,
		leaseUntil.UnixNano(), id, dss.JobRunning, claim)
}

// FinishJob stores the response of a job held under claim and drops its payload.
func (s *Store) FinishJob(ctx context.Context, id, claim string, response []byte) (bool, error) {
	return s.jobUpdate(ctx, "finish job", `UPDATE async_jobs SET state = $1, response = $2, payload = NULL, claim = ''
		WHERE id = $3 AND state = $4 AND claim = $5`, dss.JobDone, response, id, dss.JobRunning, claim)
}

func (s *Store) jobUpdate(ctx context.Context, what, q string, args ...any) (bool, error) {
	if s.closed.Load() {
		return false, store.ErrClosed
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return tag.RowsAffected() == 1, nil
}

// LoadJob returns an unexpired job without its payload.
func (s *Store) LoadJob(ctx context.Context, id string, now time.Time) (*dss.Job, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var j dss.Job
	var created, expires int64
	err := s.pool.QueryRow(ctx, `SELECT id, owner, request_id, state, response, attempts, created_ns, expires_ns
		FROM async_jobs WHERE id = $1 AND expires_ns > $2`, id, now.UnixNano()).
		Scan(&j.ID, &j.Owner, &j.RequestID, &j.State, &j.Response, &j.Attempts, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM async_jobs WHERE owner = $1 AND state <> $2 AND expires_ns > $3`,
		owner, dss.JobDone, now.UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// PurgeJobs deletes expired jobs.
func (s *Store) PurgeJobs(ctx context.Context, now time.Time) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM async_jobs WHERE expires_ns <= $1`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}
