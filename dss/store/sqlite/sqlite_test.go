package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"dssd/dss/store"
	"dssd/dss/store/sqlite"
	"dssd/internal/testkit/storetest"
)

func openSQLite(ctx context.Context, path string, key []byte) (store.Store, error) {
	return sqlite.Open(ctx, sqlite.Config{Path: path, AuditKey: key})
}

// backend is a fresh database file; raw SQL goes through a third handle on it.
func backend(t testing.TB) storetest.Backend {
	path := filepath.Join(t.TempDir(), "dssd.db")
	var raw *sql.DB
	return storetest.Backend{
		Target: path,
		Open:   openSQLite,
		Exec: func(ctx context.Context, q string, args ...any) error {
			if raw == nil {
				var err error
				if raw, err = sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000"); err != nil {
					return err
				}
				t.Cleanup(func() { raw.Close() })
			}
			_, err := raw.ExecContext(ctx, q, args...)
			return err
		},
		Param:     func(int) string { return "?" },
		Unprotect: []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`},
	}
}

func TestSuite(t *testing.T) { storetest.Run(t, backend) }

func TestCrash(t *testing.T) { storetest.Crash(t, openSQLite, backend) }

func TestMustExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	if s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, MustExist: true}); err == nil {
		s.Close()
		t.Fatal("opened a missing file with MustExist")
	}
}

func TestShortAuditKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dssd.db")
	if s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, AuditKey: []byte("short")}); err == nil {
		s.Close()
		t.Fatal("accepted a 5-byte audit key")
	}
}

func BenchmarkAppend(b *testing.B) { storetest.BenchmarkAppend(b, backend) }
