package main

import (
	"context"
	"log/slog"

	"dssd/dss"
)

// stores are the shared-state backends of a node (interface.md §6).
type stores struct {
	Audit   dss.AuditSink // nil until the store is built (issue 4)
	Replay  dss.ReplayStore
	Lockout dss.LockoutStore
	Close   func() error
}

// openStore opens the configured store (SQLite by default, PostgreSQL for several nodes).
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*stores, error) {
	return &stores{Close: func() error { return nil }}, nil
}
