package sqlite

import (
	"context"
	"database/sql"

	"dssd/dss/store/internal/sqlstore"
)

// db is the Store as sqlstore sees it: reads on the reader pool, every write in an IMMEDIATE
// transaction on the writer, snapshots in a read-only deferred transaction.
type db struct{ s *Store }

func (d db) Closed() bool           { return d.s.closed.Load() }
func (d db) Read() sqlstore.Querier { return querier{q: d.s.r} }

func (d db) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return d.s.writeTx(ctx, func(_ context.Context, tx *sql.Tx) error { return fn(querier{q: tx, detached: true}) })
}

func (d db) Snapshot(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(querier{q: tx})
}

func (d db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := d.Write(ctx, func(tx sqlstore.Querier) error {
		var err error
		n, err = tx.Exec(ctx, q, args...)
		return err
	})
	return n, err
}

func (d db) ExecRow(ctx context.Context, q string, args []any, dest ...any) error {
	return d.s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return tx.QueryRowContext(ctx, q, args...).Scan(dest...) })
}

// sqlQuerier is what *sql.DB and *sql.Tx have in common.
type sqlQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// querier runs sqlstore's statements on the reader pool or in a write transaction; detached:
// the statements of a write transaction run without the caller's cancellation (writeTx).
type querier struct {
	q        sqlQuerier
	detached bool
}

func (q querier) ctx(ctx context.Context) context.Context {
	if q.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (q querier) QueryRow(ctx context.Context, stmt string, args ...any) sqlstore.Row {
	return q.q.QueryRowContext(q.ctx(ctx), stmt, args...)
}

func (q querier) Query(ctx context.Context, stmt string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.QueryContext(q.ctx(ctx), stmt, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) Exec(ctx context.Context, stmt string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(q.ctx(ctx), stmt, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqlRows gives *sql.Rows the Close of sqlstore.Rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
