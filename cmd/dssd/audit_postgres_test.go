//go:build postgres

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// pgDSNEnv names the test server (`make test` starts it with .ci/postgres.sh).
const pgDSNEnv = "DSSD_TEST_PG_DSN"

// freshPGSchema makes a schema of its own on the test server and returns a DSN that selects
// it (search_path) and a function running raw SQL in it.
func freshPGSchema(t *testing.T) (string, func(t *testing.T, q string)) {
	t.Helper()
	base := os.Getenv(pgDSNEnv)
	if base == "" {
		t.Fatalf("%s is not set: run `eval $(.ci/postgres.sh start >/dev/null; .ci/postgres.sh env)` or `make test`", pgDSNEnv)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", pgDSNEnv, err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "dssdcmd_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL", pgDSNEnv)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func(t *testing.T, q string) {
		t.Helper()
		if _, err := admin.Exec(ctx, "SET search_path TO "+schema); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// postgresAuditFixture: a configuration with store type postgres on a fresh schema of the
// test server; the DSN reaches dssd through store.dsn_env.
func postgresAuditFixture(t *testing.T) auditFixture {
	dsn, exec := freshPGSchema(t)
	t.Setenv("DSSD_AUDIT_TEST_DSN", dsn)
	dir := fixture(t)
	writeFile(t, filepath.Join(dir, "secrets", "audit.key"), []byte(strings.Repeat("a", 40)+"\n"))
	writeFile(t, filepath.Join(dir, "secrets", "sad.key"), []byte(strings.Repeat("s", 40)+"\n"))
	path := filepath.Join(dir, "dssd.yaml")
	writeFile(t, path, []byte(baseConfig+"store:\n  type: postgres\n  dsn_env: DSSD_AUDIT_TEST_DSN\n"+auditKeyYAML+
		"sad:\n  key_file: secrets/sad.key\n"))
	return auditFixture{
		cfgPath:   path,
		exec:      exec,
		unprotect: []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`},
		blob:      func(b []byte) string { return fmt.Sprintf("decode('%x', 'hex')", b) },
	}
}

func TestAuditVerifyCommandPostgres(t *testing.T) { testAuditVerifyCommand(t, postgresAuditFixture) }
