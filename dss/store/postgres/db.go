package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dssd/dss/store/internal/sqlstore"
)

// db is the Store as sqlstore sees it: reads and single statements on the pool, write
// transactions with pgx.BeginFunc, snapshots in REPEATABLE READ.
type db struct{ s *Store }

func (d db) Closed() bool           { return d.s.closed.Load() }
func (d db) Read() sqlstore.Querier { return querier{d.s.pool} }

func (d db) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return d.s.tx(ctx, func(tx pgx.Tx) error { return fn(querier{tx}) })
}

func (d db) Snapshot(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return pgx.BeginTxFunc(ctx, d.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(querier{tx}) })
}

func (d db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return querier{d.s.pool}.Exec(ctx, q, args...)
}

func (d db) ExecRow(ctx context.Context, q string, args []any, dest ...any) error {
	return d.s.pool.QueryRow(ctx, q, args...).Scan(dest...)
}

// pgQuerier is what the pool and a transaction have in common.
type pgQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

type querier struct{ q pgQuerier }

func (q querier) QueryRow(ctx context.Context, stmt string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, stmt, args...)
}

func (q querier) Query(ctx context.Context, stmt string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.Query(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q querier) Exec(ctx context.Context, stmt string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, stmt, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
