package main

import (
	"context"
	"errors"
	"log/slog"

	"dssd/dss"
)

// startAsync enables asynchronous processing on svc (unless async.enabled is false) and
// starts this node's job workers on ctx. The returned function waits for them to stop: call
// it after ctx has ended.
func startAsync(ctx context.Context, svc *dss.Service, cfg *Config, st *stores, logger *slog.Logger) (wait func(), err error) {
	a := &cfg.Async
	if !a.enabled() {
		logger.Info("asynchronous processing disabled (async.enabled: false)")
		return func() {}, nil
	}
	jobs := st.Jobs
	if jobs == nil {
		return nil, errors.New("async: the store keeps no jobs")
	}
	err = svc.EnableAsync(dss.AsyncConfig{
		Jobs: jobs, Workers: a.Workers, Lease: a.Lease.Duration(), Retention: a.Retention.Duration(),
		MaxOpenPerUser: a.MaxOpenPerUser, Poll: a.PollInterval.Duration(), MaxAttempts: a.MaxAttempts,
		JobTimeout: a.JobTimeout.Duration(),
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.RunJobs(ctx)
	}()
	logger.Info("asynchronous processing enabled", "workers", a.Workers, "lease", a.Lease.Duration().String(),
		"retention", a.Retention.Duration().String())
	return func() { <-done }, nil
}
