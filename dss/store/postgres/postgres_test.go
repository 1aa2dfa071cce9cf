//go:build postgres

package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"dssd/dss/store"
	"dssd/dss/store/postgres"
	"dssd/internal/testkit/storetest"
)

// dsnEnv names the server under test; `make test` starts one with .ci/postgres.sh.
const dsnEnv = "DSSD_TEST_PG_DSN"

func baseDSN(t testing.TB) string {
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Fatalf("%s is not set: the postgres tests need a server; run `eval $(.ci/postgres.sh start >/dev/null; .ci/postgres.sh env)` "+
			"(Debian package postgresql) or `make test`", dsnEnv)
	}
	return dsn
}

func openPG(ctx context.Context, dsn string, key []byte) (store.Store, error) {
	return postgres.Open(ctx, postgres.Config{DSN: dsn, AuditKey: key, MaxConns: 8})
}

// backend is a fresh schema in the test database; stores reach it through search_path.
func backend(t testing.TB) storetest.Backend {
	ctx := context.Background()
	base := baseDSN(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "storetest_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL", dsnEnv)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	target := u.String()
	return storetest.Backend{
		Target: target,
		Open:   openPG,
		Exec: func(ctx context.Context, sql string, args ...any) error {
			_, err := admin.Exec(ctx, "SET search_path TO "+schema)
			if err == nil {
				_, err = admin.Exec(ctx, sql, args...)
			}
			return err
		},
		Param:     func(n int) string { return fmt.Sprintf("$%d", n) },
		Unprotect: []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`},
	}
}

func TestSuite(t *testing.T) { storetest.Run(t, backend) }

func TestCrash(t *testing.T) { storetest.Crash(t, openPG, backend) }

func TestBadDSNIsNotEchoed(t *testing.T) {
	_, err := postgres.Open(context.Background(), postgres.Config{DSN: "postgres://u:s3cr3t-canary@[::1"})
	if err == nil {
		t.Fatal("opened a malformed DSN")
	}
	if got := err.Error(); strings.Contains(got, "s3cr3t-canary") {
		t.Fatalf("the error repeats the password: %s", got)
	}
}

func BenchmarkAppend(b *testing.B) { storetest.BenchmarkAppend(b, backend) }
