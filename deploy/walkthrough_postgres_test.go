//go:build softhsm && postgres && e2e

package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL part of the walkthrough gets a fresh schema of the test server (`make test`
// starts one with .ci/postgres.sh), reached through search_path.
func init() {
	walkthroughPG = func(t *testing.T) string {
		base := os.Getenv("DSSD_TEST_PG_DSN")
		if base == "" {
			t.Fatal("DSSD_TEST_PG_DSN is not set: the postgres tests need a server; run `make test` or .ci/postgres.sh start")
		}
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to DSSD_TEST_PG_DSN: %v", err)
		}
		t.Cleanup(func() { admin.Close(context.Background()) })
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		schema := "walkthrough_" + hex.EncodeToString(rnd[:])
		if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal("DSSD_TEST_PG_DSN is not a URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
}
