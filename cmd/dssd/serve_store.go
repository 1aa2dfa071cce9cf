package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"dssd/dss"
	"dssd/dss/store"
	"dssd/dss/store/postgres"
	"dssd/dss/store/sqlite"
)

// stores are the shared-state backends of a node (interface.md §6).
type stores struct {
	Audit   dss.AuditSink
	Replay  dss.ReplayStore
	Lockout dss.LockoutStore
	// Jobs is the asynchronous job queue of the same store (nil when the backend has none);
	// kept apart from Audit, which decorators such as the metrics wrapper may replace.
	Jobs dss.JobStore
	// Registry holds the credentials and users managed with `dssd credential|user`.
	Registry store.Registry
	Close    func() error
}

// openStore opens the configured store (SQLite by default, PostgreSQL for several nodes) and
// records the configuration the node starts with as a config audit event.
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*stores, error) {
	st, err := openStoreBackend(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	ev := dss.AuditEvent{
		Time:    time.Now(),
		Action:  dss.AuditConfig,
		Digests: []string{"sha256:" + hex.EncodeToString(cfg.source.sha256[:])},
		Major:   dss.MajorSuccess,
		Detail: fmt.Sprintf("dssd %s started with %s (store %s, audit mac %s, %d users, %d credentials)",
			versionString(), cfg.source.path, cfg.Store.Type, onOff(cfg.Store.AuditKeyFile != ""), len(cfg.Users), len(cfg.Credentials)),
	}
	if err := st.Append(ctx, ev); err != nil {
		st.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	logger.Info("store open", "type", cfg.Store.Type, "audit_mac", cfg.Store.AuditKeyFile != "")
	out := &stores{Audit: st, Replay: st, Lockout: st, Close: st.Close}
	if jobs, ok := any(st).(dss.JobStore); ok {
		out.Jobs = jobs
	}
	reg, ok := any(st).(store.Registry)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("store %s keeps no credentials and users", cfg.Store.Type)
	}
	out.Registry = reg
	return out, nil
}

// readKeyFile reads the key file named by the configuration field, without the white space
// around the key; nil when the field is not set.
func readKeyFile(path, field string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return bytes.TrimSpace(b), nil
}

// openStoreBackend is the one place that names the store backends. mustExist: the SQLite
// file is not created (for `dssd audit verify`).
func openStoreBackend(ctx context.Context, cfg *Config, mustExist bool) (store.Store, error) {
	key, err := readKeyFile(cfg.Store.AuditKeyFile, "store.audit_key_file")
	if err != nil {
		return nil, err
	}
	switch cfg.Store.Type {
	case "", "sqlite":
		sc := sqlite.Config{Path: cfg.Store.Path, AuditKey: key, MustExist: mustExist}
		if w := cfg.Store.GroupCommitWait; w != nil {
			sc.GroupCommitWait = cmp.Or(w.Duration(), -1) // 0: never wait
		}
		s, err := sqlite.Open(ctx, sc)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "postgres":
		dsn, err := readSecret(cfg.Store.DSNFile, cfg.Store.DSNEnv)
		if err != nil {
			return nil, fmt.Errorf("store dsn: %w", err)
		}
		s, err := postgres.Open(ctx, postgres.Config{DSN: dsn, AuditKey: key})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("store.type %q is not supported", cfg.Store.Type)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
