package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"dssd/dss/store"
)

// The audit chain's statements. The committer runs them on the writer's driver connection
// (sql.Conn.Raw), prepared once, BEGIN and COMMIT included: through database/sql's Tx and
// Stmt every transaction prepared its BEGIN IMMEDIATE and COMMIT again and converted every
// argument twice (docs/decisions.md §37 has the measurements).
const (
	sqlBegin    = `BEGIN IMMEDIATE`
	sqlHead     = `SELECT seq, hash FROM audit_head WHERE id = 1`
	sqlInsert   = `INSERT INTO audit_log (` + store.RecordColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlUpdate   = `UPDATE audit_head SET seq = ?, hash = ?, mac = ? WHERE id = 1`
	sqlCommit   = `COMMIT`
	sqlRollback = `ROLLBACK`
)

// driverStmt is what the committer needs of a prepared statement of the driver.
type driverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// chain holds the committer's statements and the driver connection they belong to. Only the
// committer uses it (and Close, after the committer has stopped).
type chain struct {
	conn                                          any // the driver connection, nil before the first prepare
	begin, head, insert, update, commit, rollback driverStmt
	args                                          []driver.NamedValue // reused for each statement's arguments
	dest                                          []driver.Value      // the head row
}

// withChain runs fn on the writer's connection with the chain's statements prepared on it
// (again, if database/sql has replaced the connection since). An error that leaves the
// connection unusable discards it (driver.ErrBadConn).
func (s *Store) withChain(ctx context.Context, fn func(*chain) error) error {
	c, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		ch := &s.chain
		if ch.conn != dc {
			// database/sql replaced the connection (it discards one that reports itself
			// unusable: rare, since no statement on the writer runs with a cancellable
			// context, writeTx's included). The old statements keep the closed connection's
			// SQLite handle until the process ends; the new connection gets its own.
			if err := ch.prepare(ctx, dc); err != nil {
				return err
			}
		}
		err := fn(ch)
		if errors.Is(err, driver.ErrBadConn) {
			ch.close() // database/sql closes the connection next: finalize while it is open
		}
		return err
	})
}

// prepare prepares the statements on dc.
func (ch *chain) prepare(ctx context.Context, dc any) error {
	p, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("prepare: driver connection %T cannot prepare with a context", dc)
	}
	*ch = chain{args: make([]driver.NamedValue, 0, 15), dest: make([]driver.Value, 2)}
	for _, st := range []struct {
		st *driverStmt
		q  string
	}{{&ch.begin, sqlBegin}, {&ch.head, sqlHead}, {&ch.insert, sqlInsert}, {&ch.update, sqlUpdate},
		{&ch.commit, sqlCommit}, {&ch.rollback, sqlRollback}} {
		ds, err := p.PrepareContext(ctx, st.q)
		if err != nil {
			ch.close()
			return fmt.Errorf("prepare: %w", err)
		}
		if *st.st, ok = ds.(driverStmt); !ok {
			ds.Close()
			ch.close()
			return fmt.Errorf("prepare: driver statement %T cannot run with a context", ds)
		}
	}
	ch.conn = dc
	return nil
}

// close finalizes the statements.
func (ch *chain) close() error {
	var errs []error
	for _, st := range []driverStmt{ch.begin, ch.head, ch.insert, ch.update, ch.commit, ch.rollback} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	*ch = chain{}
	return errors.Join(errs...)
}

// exec runs st with args.
func (ch *chain) exec(ctx context.Context, st driverStmt, args ...any) error {
	ch.args = ch.args[:0]
	for i, v := range args {
		ch.args = append(ch.args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	_, err := st.ExecContext(ctx, ch.args)
	clear(ch.args)
	return err
}

// readHead reads the chain head (inside the transaction).
func (ch *chain) readHead(ctx context.Context) (store.Head, error) {
	rows, err := ch.head.QueryContext(ctx, nil)
	if err != nil {
		return store.Head{}, err
	}
	err = rows.Next(ch.dest)
	if errors.Is(err, io.EOF) {
		err = errors.New("no head row")
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.Head{}, err
	}
	seq, ok1 := ch.dest[0].(int64)
	hash, ok2 := ch.dest[1].([]byte) // the driver's copy
	if !ok1 || !ok2 {
		return store.Head{}, fmt.Errorf("head row of types %T, %T", ch.dest[0], ch.dest[1])
	}
	clear(ch.dest)
	return store.Head{Seq: seq, Hash: hash}, nil
}

// tx runs fn in an IMMEDIATE transaction and commits it; on any error it rolls back, and a
// connection left inside a transaction is discarded.
func (ch *chain) tx(ctx context.Context, fn func() error) error {
	if err := ch.exec(ctx, ch.begin); err != nil {
		return err
	}
	err := fn()
	if err == nil {
		if err = ch.exec(ctx, ch.commit); err == nil {
			return nil
		}
	}
	// After a failed COMMIT SQLite may have rolled back already; a ROLLBACK that fails for
	// another reason leaves the connection in an unknown state.
	if rerr := ch.exec(ctx, ch.rollback); rerr != nil && !noTransaction(rerr) {
		return errors.Join(err, rerr, driver.ErrBadConn)
	}
	return err
}

// noTransaction reports SQLite's refusal of a ROLLBACK outside a transaction.
func noTransaction(err error) bool {
	return strings.Contains(err.Error(), "no transaction is active")
}

// finalizeChain closes the chain's statements on their connection (at Close, after the
// committer has stopped).
func (s *Store) finalizeChain() error {
	if s.chain.conn == nil {
		return nil
	}
	c, err := s.w.Conn(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		if s.chain.conn != dc {
			return nil // a replaced connection's statements (see withChain)
		}
		return s.chain.close()
	})
}
