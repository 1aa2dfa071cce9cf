// Package sqlstore is the SQL the two store back-ends share: the credential and user
// registry, the asynchronous job queue, the lockout reads, the audit record reads and the
// verification walk, and the tables whose only difference is their column types. A back-end
// supplies a DB (its handles and what a write transaction is) and a Dialect (placeholders,
// row locks, column types); each statement is written here once, with ? placeholders.
//
// What the back-ends do differently stays in them: the audit append (PostgreSQL locks the
// chain head per append; SQLite group-commits), the SAD replay insert, the lockout upsert
// and the migration itself.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"dssd/dss/store"
)

// Row is one result row (pgx.Row, *sql.Row).
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set (pgx.Rows; *sql.Rows behind a back-end's adapter).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements: on the read handle, or inside a transaction.
type Querier interface {
	QueryRow(ctx context.Context, q string, args ...any) Row
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	// Exec returns the number of rows the statement affected.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
}

// DB is a back-end's database.
type DB interface {
	// Read is the handle reads run on.
	Read() Querier
	// Write runs fn in a write transaction and commits it when fn returns nil
	// (store.ErrClosed once the store is closed).
	Write(ctx context.Context, fn func(Querier) error) error
	// Snapshot runs fn in a read-only transaction that sees one snapshot.
	Snapshot(ctx context.Context, fn func(Querier) error) error
	// Exec runs one writing statement on its own (PostgreSQL: on the pool; SQLite: in its
	// own IMMEDIATE transaction) and returns the rows it affected.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	// ExecRow is Exec for a statement that returns a row: dest is scanned before the commit.
	ExecRow(ctx context.Context, q string, args []any, dest ...any) error
	// Closed reports whether the store was closed.
	Closed() bool
}

// Dialect is what differs in the statements of the shared code.
type Dialect struct {
	// Numbered: placeholders are $1, $2, … (PostgreSQL) instead of ? (SQLite).
	Numbered bool
	// ForUpdate ends a SELECT that reads a row a write transaction then changes
	// (" FOR UPDATE"; SQLite's IMMEDIATE transactions lock the whole database already).
	ForUpdate string
	// SkipLocked ends the subquery that picks the job a claim takes
	// ("\n\t\t\tFOR UPDATE SKIP LOCKED": concurrent claimers take different jobs).
	SkipLocked string
	// UniqueViolation reports a primary key conflict.
	UniqueViolation func(error) bool
	// Column types and table options.
	Int, BigInt, Blob, Bool, False string
	// NoRowID ends the definition of a table keyed by its primary key (" WITHOUT ROWID").
	NoRowID string
}

// Postgres and SQLite are the two dialects (UniqueViolation is set by the back-end).
var (
	Postgres = Dialect{Numbered: true, ForUpdate: " FOR UPDATE", SkipLocked: "\n\t\t\tFOR UPDATE SKIP LOCKED",
		Int: "INT", BigInt: "BIGINT", Blob: "BYTEA", Bool: "BOOLEAN", False: "false"}
	SQLite = Dialect{Int: "INTEGER", BigInt: "INTEGER", Blob: "BLOB", Bool: "INTEGER", False: "0",
		NoRowID: " WITHOUT ROWID"}
)

var (
	_ store.Registry = (*Store)(nil)
	_ store.JobStore = (*Store)(nil)
)

// ErrNoRows is what Row.Scan returns without a row (pgx.ErrNoRows is one too).
var ErrNoRows = sql.ErrNoRows

// Store is the shared implementation; a back-end embeds it.
type Store struct {
	db   DB
	d    Dialect
	now  func() time.Time
	mac  []byte   // the audit key (store.RecordMAC), or nil
	sqls sync.Map // statement as written -> as the dialect wants it
}

// New returns the shared part of a store over db: now is its clock, key its audit key.
func New(db DB, d Dialect, now func() time.Time, key []byte) *Store {
	return &Store{db: db, d: d, now: now, mac: key}
}

// q returns the statement with the dialect's placeholders.
func (s *Store) q(stmt string) string {
	if !s.d.Numbered {
		return stmt
	}
	if v, ok := s.sqls.Load(stmt); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, c := range []byte(stmt) {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	s.sqls.Store(stmt, b.String())
	return b.String()
}

// PurgeClock spaces purges of expired rows by at least an interval.
type PurgeClock struct {
	mu   sync.Mutex
	last time.Time
}

// Due reports whether a purge is due at now (interval after the last one) and, if so,
// counts one from now.
func (p *PurgeClock) Due(now time.Time, interval time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.last) < interval {
		return false
	}
	p.last = now
	return true
}

// noRows reports a Scan without a row.
func noRows(err error) bool { return errors.Is(err, ErrNoRows) }
