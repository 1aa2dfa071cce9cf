package store

import "dssd/dss"

// JobStore is the asynchronous job queue both backends provide (dss.JobStore). Jobs are rows
// of one table, claimed with row locks (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED;
// SQLite: a conditional UPDATE inside an IMMEDIATE transaction), so any node may run any job
// and no separate broker is needed. A claim holds a lease; a job whose lease lapsed (its node
// died) is claimed again by the next worker that asks.
type JobStore interface {
	dss.JobStore
}
