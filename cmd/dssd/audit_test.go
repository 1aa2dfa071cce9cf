package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss"
)

// auditFixture is a configuration whose store is fresh, and raw SQL access to that store.
type auditFixture struct {
	cfgPath   string
	exec      func(t *testing.T, sql string)
	unprotect []string
	blob      func(b []byte) string // an SQL literal of b
}

// auditKeyYAML is appended to baseConfig: an audit key for every fixture.
const auditKeyYAML = "  audit_key_file: secrets/audit.key\n"

func sqliteAuditFixture(t *testing.T) auditFixture {
	dir := fixture(t)
	writeFile(t, filepath.Join(dir, "secrets", "audit.key"), []byte(strings.Repeat("a", 40)+"\n"))
	path := filepath.Join(dir, "dssd.yaml")
	writeFile(t, path, []byte(baseConfig+"store:\n  type: sqlite\n"+auditKeyYAML))
	return auditFixture{
		cfgPath: path,
		exec: func(t *testing.T, q string) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "dssd.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
		unprotect: []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`},
		blob:      func(b []byte) string { return fmt.Sprintf("X'%x'", b) },
	}
}

// fillAudit starts the store as serve does (one config event) and appends nine sign events.
func fillAudit(t *testing.T, fx auditFixture) {
	t.Helper()
	cfg, err := LoadConfig(fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 9 {
		ev := dss.AuditEvent{RequestID: fmt.Sprintf("r%d", i), User: "alice", Action: dss.AuditSign, Credential: "alice-rsa",
			Digests: []string{"sha256:" + strings.Repeat("0", 64)}, Major: dss.MajorSuccess}
		if err := st.Audit.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func auditVerify(t *testing.T, fx auditFixture) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run([]string{"audit", "verify", "--config", fx.cfgPath}, &out, &errOut)
	return out.String(), err
}

// testAuditVerifyCommand: `dssd audit verify` passes an intact log and names the first
// broken record of an edited, a deleted and a reordered one.
func testAuditVerifyCommand(t *testing.T, newFixture func(t *testing.T) auditFixture) {
	t.Run("intact", func(t *testing.T) {
		fx := newFixture(t)
		fillAudit(t, fx)
		out, err := auditVerify(t, fx)
		if err != nil {
			t.Fatalf("intact log: %v\n%s", err, out)
		}
		for _, want := range []string{"records: 10 (seq 1..10)", "chain: intact", "mac: every record authenticated"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	})
	cases := []struct {
		name string
		sql  []string
		want string
	}{
		{"edited", []string{`UPDATE audit_log SET credential = 'bob-ec' WHERE seq = 4`}, "BROKEN at record 4: content does not match the record's hash (edited)"},
		{"deleted", []string{`DELETE FROM audit_log WHERE seq = 7`}, "BROKEN at record 7: record missing (the next stored record is 8) (deleted)"},
		{"reordered", []string{
			`UPDATE audit_log SET seq = 0 WHERE seq = 5`,
			`UPDATE audit_log SET seq = 5 WHERE seq = 6`,
			`UPDATE audit_log SET seq = 6 WHERE seq = 0`,
		}, "BROKEN at record 5: record written as seq 6 is stored at seq 5 (reordered)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fillAudit(t, fx)
			for _, q := range append(fx.unprotect, tc.sql...) {
				fx.exec(t, q)
			}
			out, err := auditVerify(t, fx)
			if !errors.Is(err, errAuditBroken) {
				t.Fatalf("verify of a %s log: err %v, want errAuditBroken\n%s", tc.name, err, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("report does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestAuditVerifyCommandSQLite(t *testing.T) { testAuditVerifyCommand(t, sqliteAuditFixture) }

// TestConfigAuditEvent: the first record is the config event with the file's digest.
func TestConfigAuditEvent(t *testing.T) {
	fx := sqliteAuditFixture(t)
	fillAudit(t, fx)
	cfg, err := LoadConfig(fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStoreBackend(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Records(context.Background(), 0, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v %d", err, len(recs))
	}
	raw, err := os.ReadFile(fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	r := recs[0]
	if r.Action != dss.AuditConfig || len(r.Digests) != 1 || r.Digests[0] != "sha256:"+hex.EncodeToString(sum[:]) || r.Major != dss.MajorSuccess {
		t.Fatalf("config event: %+v", r)
	}
	if !strings.Contains(r.Detail, fx.cfgPath) || !strings.Contains(r.Detail, "audit mac on") {
		t.Errorf("config event detail: %q", r.Detail)
	}
}

// TestAuditVerifyMissingStore: verify never creates a store.
func TestAuditVerifyMissingStore(t *testing.T) {
	fx := sqliteAuditFixture(t)
	_, err := auditVerify(t, fx)
	if err == nil {
		t.Fatal("verify of a missing store succeeded")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(fx.cfgPath), "dssd.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("verify created the store: %v", err)
	}
}

func TestAuditUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"audit", "verify"}, &out, &errOut); err == nil {
		t.Error("verify without --config or --dev succeeded")
	}
	if err := run([]string{"audit", "list"}, &out, &errOut); err == nil {
		t.Error("unknown audit command succeeded")
	}
	if err := run([]string{"audit", "verify", "--dev", "--dev-dir", filepath.Join(t.TempDir(), "none")}, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "no development environment") {
		t.Errorf("verify --dev without an environment: %v", err)
	}
}

func TestAuditKeyFileTooShort(t *testing.T) {
	dir := fixture(t)
	writeFile(t, filepath.Join(dir, "secrets", "audit.key"), []byte("short\n"))
	path := filepath.Join(dir, "dssd.yaml")
	writeFile(t, path, []byte(baseConfig+"store:\n"+auditKeyYAML))
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), "store.audit_key_file: must hold at least 32 bytes") {
		t.Fatalf("short audit key: %v", err)
	}
}
