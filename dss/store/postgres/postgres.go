// Package postgres is the store for several dssd nodes sharing one PostgreSQL database
// (github.com/jackc/pgx/v5). Appends from every node form one audit chain: each runs in a
// transaction that first locks the chain-head row (SELECT ... FOR UPDATE), writes the record
// and the new head, and commits with synchronous_commit on (forced for the session, whatever
// the database default), so a record whose Append returned is on the server's disk. SAD
// replay records are a primary key insert (ON CONFLICT DO NOTHING), so exactly one node
// wins; lockout counters are an atomic upsert. The schema is created on Open under a
// transaction-scoped advisory lock, so nodes starting together do not race. Needs
// PostgreSQL 14 or later (CREATE OR REPLACE TRIGGER).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dssd/dss"
	"dssd/dss/store"
	"dssd/dss/store/internal/sqlstore"
)

// Config opens a store.
type Config struct {
	// DSN is a libpq connection string or URL. Unknown URL parameters become session
	// settings (e.g. search_path=myschema).
	DSN string
	// AuditKey, when not nil, authenticates every audit record (store.RecordMAC) and is
	// required to verify the log. At least store.MinAuditKeyBytes.
	AuditKey []byte
	// MaxConns bounds the pool (default: pgx's, max(4, CPUs)).
	MaxConns int32
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the PostgreSQL store. It is safe for concurrent use. The registry, the job queue,
// the lockout reads and the audit reads are the shared SQL of package sqlstore.
type Store struct {
	*sqlstore.Store
	pool   *pgxpool.Pool
	key    []byte
	now    func() time.Time
	closed atomic.Bool
	purge  sqlstore.PurgeClock
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Registry = (*Store)(nil)
	_ store.JobStore = (*Store)(nil)
)

// migrateLock is the advisory lock key held while the schema is created ("dssd" in ASCII).
const migrateLock = 0x64737364

// Open connects, checks the server and creates the schema when missing.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := store.CheckAuditKey(cfg.AuditKey); err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included: keep only a fixed text.
		return nil, errors.New("postgres store: the DSN does not parse")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	rp := pc.ConnConfig.RuntimeParams
	rp["synchronous_commit"] = "on"
	if rp["application_name"] == "" {
		rp["application_name"] = "dssd"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	s := &Store{pool: pool, key: cfg.AuditKey, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.Store = sqlstore.New(db{s}, dialect, s.now, s.key)
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return s, nil
}

// dialect is PostgreSQL's: $n placeholders, row locks, SQLSTATE 23505 for a taken key.
var dialect = func() sqlstore.Dialect {
	d := sqlstore.Postgres
	d.UniqueViolation = func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	}
	return d
}()

// schema is every migration step, in order: the audit chain, SAD replay and lockout, the job
// queue, the registry.
var schema = sqlstore.Schema(dialect, []string{
	`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex')) ON CONFLICT (id) DO NOTHING`,
	`ALTER TABLE audit_head ADD COLUMN IF NOT EXISTS mac BYTEA`, // the head MAC (store.HeadMAC)
	`CREATE OR REPLACE FUNCTION dssd_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'audit_log is append-only'; END$$`,
	`CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
		FOR EACH ROW EXECUTE FUNCTION dssd_audit_append_only()`,
	`CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
		FOR EACH STATEMENT EXECUTE FUNCTION dssd_audit_append_only()`,
}, `INSERT INTO registry_head (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`)

func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return fmt.Errorf("schema lock: %w", err)
		}
		for _, q := range schema {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		return nil
	})
}

func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// Append records ev as the next record of the chain; it returns after the transaction has
// committed.
func (s *Store) Append(ctx context.Context, ev dss.AuditEvent) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var head store.Head
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		rec := store.NewRecord(head, ev, s.now(), s.key)
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO audit_log (`+store.RecordColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, rec.Values()...)
		h := store.NewHead(&rec, s.key)
		b.Queue(`UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1`, h.Seq, h.Hash, h.MAC)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write record: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit append: %w", err)
	}
	return nil
}

// Consume records the use of a SAD id; true only for the first use on any node.
func (s *Store) Consume(ctx context.Context, id string, notAfter time.Time) (bool, error) {
	if s.closed.Load() {
		return false, store.ErrClosed
	}
	now := s.now()
	if s.purge.Due(now, store.PurgeInterval) {
		// Best effort: a failed purge leaves old rows for the next one.
		_, _ = s.pool.Exec(ctx, `DELETE FROM sad_replay WHERE not_after < $1`, now.Add(-store.ReplayGrace).UnixNano())
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO sad_replay (id, not_after) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		store.ReplayKey(id), notAfter.UnixNano())
	if err != nil {
		return false, fmt.Errorf("sad replay: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordFailure adds one failed activation for the credential and returns the count.
func (s *Store) RecordFailure(ctx context.Context, credentialID string) (int, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO lockout (credential, failures, updated_ns) VALUES ($1, 1, $2)
		ON CONFLICT (credential) DO UPDATE SET failures = lockout.failures + 1, updated_ns = excluded.updated_ns
		RETURNING failures`, credentialID, s.now().UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("lockout: %w", err)
	}
	return n, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	if !s.closed.Swap(true) {
		s.pool.Close()
	}
	return nil
}
