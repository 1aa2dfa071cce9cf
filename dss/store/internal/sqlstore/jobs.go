package sqlstore

import (
	"context"
	"fmt"
	"time"

	"dssd/dss"
	"dssd/dss/store"
)

// SubmitJob stores a new queued job.
func (s *Store) SubmitJob(ctx context.Context, j *dss.Job) error {
	if s.db.Closed() {
		return store.ErrClosed
	}
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO async_jobs (id, owner, request_id, state, payload, created_ns, expires_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), j.ID, j.Owner, j.RequestID, dss.JobQueued, j.Payload,
		j.Created.UnixNano(), j.Expires.UnixNano())
	if err != nil {
		return fmt.Errorf("submit job: %w", err)
	}
	return nil
}

// ClaimJob claims the oldest claimable job. On PostgreSQL the candidate row is locked with
// FOR UPDATE SKIP LOCKED, so concurrent claimers on any node take different jobs without
// waiting on each other, and the UPDATE re-checks nothing because the lock is held until
// commit; on SQLite the conditional UPDATE runs in an IMMEDIATE transaction, which SQLite
// serialises across handles and processes.
func (s *Store) ClaimJob(ctx context.Context, claim string, now, leaseUntil time.Time) (*dss.Job, error) {
	if s.db.Closed() {
		return nil, store.ErrClosed
	}
	var j dss.Job
	var created, expires int64
	err := s.db.ExecRow(ctx, s.q(`UPDATE async_jobs
		SET state = ?, claim = ?, lease_until = ?, attempts = attempts + 1
		WHERE id = (SELECT id FROM async_jobs
			WHERE expires_ns > ? AND (state = ? OR (state = ? AND lease_until < ?))
			ORDER BY created_ns LIMIT 1`+s.d.SkipLocked+`)
		RETURNING id, owner, request_id, state, payload, attempts, created_ns, expires_ns`),
		[]any{dss.JobRunning, claim, leaseUntil.UnixNano(), now.UnixNano(), dss.JobQueued, dss.JobRunning, now.UnixNano()},
		&j.ID, &j.Owner, &j.RequestID, &j.State, &j.Payload, &j.Attempts, &created, &expires)
	return jobRow(&j, created, expires, "claim job", err)
}

// jobRow completes a job scanned with err: no job without a row, err wrapped in what.
func jobRow(j *dss.Job, created, expires int64, what string, err error) (*dss.Job, error) {
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	j.Created, j.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return j, nil
}

// RenewJob extends the lease of a job held under claim.
func (s *Store) RenewJob(ctx context.Context, id, claim string, leaseUntil time.Time) (bool, error) {
	n, err := s.exec(ctx, "renew job", `UPDATE async_jobs SET lease_until = ? WHERE id = ? AND state = ? AND claim = ?`,
		leaseUntil.UnixNano(), id, dss.JobRunning, claim)
	return n == 1, err
}

// FinishJob stores the response of a job held under claim and drops its payload.
func (s *Store) FinishJob(ctx context.Context, id, claim string, response []byte) (bool, error) {
	n, err := s.exec(ctx, "finish job", `UPDATE async_jobs SET state = ?, response = ?, payload = NULL, claim = ''
		WHERE id = ? AND state = ? AND claim = ?`, dss.JobDone, response, id, dss.JobRunning, claim)
	return n == 1, err
}

// PurgeJobs deletes expired jobs.
func (s *Store) PurgeJobs(ctx context.Context, now time.Time) (int64, error) {
	return s.exec(ctx, "purge jobs", `DELETE FROM async_jobs WHERE expires_ns <= ?`, now.UnixNano())
}

// exec runs one writing statement and returns the rows it affected; errors are wrapped in what.
func (s *Store) exec(ctx context.Context, what, q string, args ...any) (int64, error) {
	if s.db.Closed() {
		return 0, store.ErrClosed
	}
	n, err := s.db.Exec(ctx, s.q(q), args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// LoadJob returns an unexpired job without its payload.
func (s *Store) LoadJob(ctx context.Context, id string, now time.Time) (*dss.Job, error) {
	if s.db.Closed() {
		return nil, store.ErrClosed
	}
	var j dss.Job
	var created, expires int64
	err := s.db.Read().QueryRow(ctx, s.q(`SELECT id, owner, request_id, state, response, attempts, created_ns, expires_ns
		FROM async_jobs WHERE id = ? AND expires_ns > ?`), id, now.UnixNano()).
		Scan(&j.ID, &j.Owner, &j.RequestID, &j.State, &j.Response, &j.Attempts, &created, &expires)
	return jobRow(&j, created, expires, "load job", err)
}

// OpenJobs counts the owner's unexpired, unfinished jobs.
func (s *Store) OpenJobs(ctx context.Context, owner string, now time.Time) (int, error) {
	if s.db.Closed() {
		return 0, store.ErrClosed
	}
	var n int
	err := s.db.Read().QueryRow(ctx, s.q(`SELECT count(*) FROM async_jobs WHERE owner = ? AND state <> ? AND expires_ns > ?`),
		owner, dss.JobDone, now.UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}
