package main

import (
	"cmp"
	"time"

	"dssd/dss"
)

// AsyncConfig is the asynchronous processing section (docs/config.md, interface.md §8).
type AsyncConfig struct {
	Enabled        *bool    `yaml:"enabled"`           // default true
	Workers        int      `yaml:"workers"`           // jobs run at once on this node
	Lease          Duration `yaml:"lease"`             // a claim lapses this long after its last renewal
	Retention      Duration `yaml:"retention"`         // how long a job and its answer are kept
	MaxOpenPerUser int      `yaml:"max_open_per_user"` // unfinished jobs per user
	PollInterval   Duration `yaml:"poll_interval"`     // how often an idle worker looks for jobs
	MaxAttempts    int      `yaml:"max_attempts"`      // runs before a job is answered with a ResponderError
	JobTimeout     Duration `yaml:"job_timeout"`       // bound on one run of one job
}

func (a *AsyncConfig) enabled() bool { return a.Enabled == nil || *a.Enabled }

func (a *AsyncConfig) applyDefaults() {
	a.Workers = cmp.Or(a.Workers, dss.DefaultAsyncWorkers)
	a.Lease = cmp.Or(a.Lease, Duration(dss.DefaultAsyncLease))
	a.Retention = cmp.Or(a.Retention, Duration(dss.DefaultAsyncRetention))
	a.PollInterval = cmp.Or(a.PollInterval, Duration(dss.DefaultAsyncPoll))
	a.JobTimeout = cmp.Or(a.JobTimeout, Duration(dss.DefaultAsyncJobTimeout))
	a.MaxOpenPerUser = cmp.Or(a.MaxOpenPerUser, dss.DefaultAsyncMaxOpen)
	a.MaxAttempts = cmp.Or(a.MaxAttempts, dss.DefaultAsyncMaxAttempts)
}

func (a *AsyncConfig) validate(add func(field, format string, args ...any)) {
	between := func(field string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			add(field, "must be between %s and %s", lo, hi)
		}
	}
	if a.Workers < 1 || a.Workers > 64 {
		add("async.workers", "must be between 1 and 64")
	}
	between("async.lease", a.Lease.Duration(), 3*time.Second, time.Hour)
	between("async.retention", a.Retention.Duration(), time.Minute, 30*24*time.Hour)
	between("async.poll_interval", a.PollInterval.Duration(), 10*time.Millisecond, time.Minute)
	between("async.job_timeout", a.JobTimeout.Duration(), time.Second, 24*time.Hour)
	if a.MaxOpenPerUser < 1 || a.MaxOpenPerUser > 1_000_000 {
		add("async.max_open_per_user", "must be between 1 and 1000000")
	}
	if a.MaxAttempts < 1 || a.MaxAttempts > 100 {
		add("async.max_attempts", "must be between 1 and 100")
	}
}
