//go:build softhsm

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss/store"
	"dssd/hsm"
	"dssd/hsm/pkcs11"
	"dssd/hsm/softhsm"
)

const checkpointKeyURI = "pkcs11:token=dssd-test;object=dssd-audit-checkpoint;id=%10"

// withCheckpointKey gives the fixture a real SoftHSM2 token "dssd-test" holding the health key
// of baseConfig and a checkpoint key, and names both in its configuration.
func withCheckpointKey(t *testing.T, fx auditFixture) {
	t.Helper()
	dir := filepath.Dir(fx.cfgPath)
	tok, err := softhsm.Init(filepath.Join(dir, "hsm"), "dssd-test", "so-pin-4711", "123456")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	km, err := pkcs11.Open(context.Background(), pkcs11.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []hsm.KeyRef{{Label: "dssd-health", ID: []byte{0x0f}}, {Label: "dssd-audit-checkpoint", ID: []byte{0x10}}} {
		if _, err := km.CreateKey(context.Background(), k, hsm.ECP256); err != nil {
			t.Fatal(err)
		}
	}
	km.Close()
	cfg, err := os.ReadFile(fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(cfg), "  health_key: \"pkcs11:token=dssd-test;object=dssd-health\"\n",
		"  health_key: \"pkcs11:token=dssd-test;object=dssd-health\"\n  softhsm2_conf: hsm/softhsm2.conf\n", 1)
	text = strings.Replace(text, "store:\n", "store:\n  audit_checkpoint_key: \""+checkpointKeyURI+"\"\n", 1)
	if !strings.Contains(text, "softhsm2_conf") || !strings.Contains(text, "audit_checkpoint_key") {
		t.Fatalf("could not edit the fixture's configuration:\n%s", text)
	}
	writeFile(t, fx.cfgPath, []byte(text))
}

func auditCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(append([]string{"audit"}, args...), &out, &errOut)
	return out.String() + errOut.String(), err
}

// testAuditCheckpoint is the truncation test of issue 12: a checkpoint is taken, then the
// newest records are deleted and the head rewound with direct database access and the
// append-only triggers dropped. `dssd audit verify --checkpoint` fails naming the missing
// records, also when the attacker restored an old head row with a valid MAC (which plain
// verification cannot tell from an intact log).
func testAuditCheckpoint(t *testing.T, newFixture func(t *testing.T) auditFixture) {
	setup := func(t *testing.T) (auditFixture, string) {
		fx := newFixture(t)
		withCheckpointKey(t, fx)
		fillAudit(t, fx) // records 1..10
		cp := filepath.Join(t.TempDir(), "audit-checkpoint.json")
		out, err := auditCmd(t, "checkpoint", "--config", fx.cfgPath, "--out", cp)
		if err != nil || !strings.Contains(out, "checkpoint: seq 10 head ") {
			t.Fatalf("audit checkpoint: %v\n%s", err, out)
		}
		return fx, cp
	}
	// rewind deletes the records after seq 7 and sets the head row to record 7 with mac.
	rewind := func(t *testing.T, fx auditFixture, mac string) {
		for _, q := range append(fx.unprotect,
			`UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_log WHERE seq = 7), mac = `+mac+` WHERE id = 1`,
			`DELETE FROM audit_log WHERE seq > 7`) {
			fx.exec(t, q)
		}
	}
	const gap = "BROKEN at record 8: records 8..10 missing: the checkpoint of "

	t.Run("intact and growing", func(t *testing.T) {
		fx, cp := setup(t)
		var c store.Checkpoint
		if err := json.Unmarshal(readFileT(t, cp), &c); err != nil || c.Seq != 10 || c.Key != checkpointKeyURI || c.Algorithm != "ecdsa-sha256" {
			t.Fatalf("checkpoint file: %v %+v", err, c)
		}
		fillAudit(t, fx) // records 11..20
		out, err := auditCmd(t, "verify", "--config", fx.cfgPath, "--checkpoint", cp)
		if err != nil || !strings.Contains(out, "records: 20 (seq 1..20)") || !strings.Contains(out, "checkpoint: seq 10 ") || !strings.Contains(out, "confirmed") {
			t.Fatalf("verify against the checkpoint: %v\n%s", err, out)
		}
	})
	t.Run("tail deleted, old head row restored", func(t *testing.T) {
		fx, cp := setup(t)
		// The attacker has a copy of the head row as it was at record 7 (a backup): its MAC is
		// valid, so the log looks intact without the checkpoint.
		key := bytes.TrimSpace(readFileT(t, filepath.Join(filepath.Dir(fx.cfgPath), "secrets", "audit.key")))
		st := openForTest(t, fx)
		recs, err := st.Records(context.Background(), 6, 1)
		st.Close()
		if err != nil || len(recs) != 1 {
			t.Fatalf("record 7: %v", err)
		}
		rewind(t, fx, fx.blob(store.HeadMAC(key, 7, recs[0].Hash)))
		if out, err := auditCmd(t, "verify", "--config", fx.cfgPath); err != nil {
			t.Fatalf("without the checkpoint a restored head row is consistent (documented in decisions §10): %v\n%s", err, out)
		}
		out, err := auditCmd(t, "verify", "--config", fx.cfgPath, "--checkpoint", cp)
		if !errors.Is(err, errAuditBroken) || !strings.Contains(out, gap) || !strings.Contains(out, "covers the log up to seq 10 but it ends at seq 7") {
			t.Fatalf("verify --checkpoint after truncation: %v\n%s", err, out)
		}
		t.Logf("dssd audit verify --checkpoint after the truncation:\n%s", out)
	})
	t.Run("tail deleted, head rewound without the key", func(t *testing.T) {
		fx, cp := setup(t)
		rewind(t, fx, "mac") // the MAC of head 10 left on head 7
		out, err := auditCmd(t, "verify", "--config", fx.cfgPath)
		if !errors.Is(err, errAuditBroken) || !strings.Contains(out, "BROKEN at record 7: the chain head's MAC does not verify") {
			t.Fatalf("verify after a rewind without the key: %v\n%s", err, out)
		}
		out, err = auditCmd(t, "verify", "--config", fx.cfgPath, "--checkpoint", cp)
		if !errors.Is(err, errAuditBroken) || !strings.Contains(out, gap) {
			t.Fatalf("verify --checkpoint: %v\n%s", err, out)
		}
	})
	t.Run("record changed", func(t *testing.T) {
		fx, cp := setup(t)
		for _, q := range append(fx.unprotect, `UPDATE audit_log SET user_name = 'mallory' WHERE seq = 4`) {
			fx.exec(t, q)
		}
		out, err := auditCmd(t, "verify", "--config", fx.cfgPath, "--checkpoint", cp)
		if !errors.Is(err, errAuditBroken) || !strings.Contains(out, "BROKEN at record 4:") {
			t.Fatalf("verify --checkpoint of an edited record: %v\n%s", err, out)
		}
	})
	t.Run("checkpoint altered", func(t *testing.T) {
		fx, cp := setup(t)
		text := strings.Replace(string(readFileT(t, cp)), `"seq": 10,`, `"seq": 7,`, 1)
		writeFile(t, cp, []byte(text))
		out, err := auditCmd(t, "verify", "--config", fx.cfgPath, "--checkpoint", cp)
		if err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Fatalf("verify with an altered checkpoint: %v\n%s", err, out)
		}
	})
	t.Run("no checkpoint of a broken chain", func(t *testing.T) {
		fx, _ := setup(t)
		for _, q := range append(fx.unprotect, `DELETE FROM audit_log WHERE seq = 3`) {
			fx.exec(t, q)
		}
		out, err := auditCmd(t, "checkpoint", "--config", fx.cfgPath)
		if !errors.Is(err, errAuditBroken) {
			t.Fatalf("checkpoint of a broken chain: %v\n%s", err, out)
		}
	})
}

func readFileT(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openForTest(t *testing.T, fx auditFixture) store.Store {
	t.Helper()
	cfg, err := LoadConfig(fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStoreBackend(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAuditCheckpointSQLite(t *testing.T) { testAuditCheckpoint(t, sqliteAuditFixture) }

// TestAuditCheckpointNeedsKey: without store.audit_checkpoint_key the command says what is missing.
func TestAuditCheckpointNeedsKey(t *testing.T) {
	fx := sqliteAuditFixture(t)
	fillAudit(t, fx)
	_, err := auditCmd(t, "checkpoint", "--config", fx.cfgPath)
	if err == nil || !strings.Contains(err.Error(), "store.audit_checkpoint_key is not set") {
		t.Fatalf("checkpoint without a key: %v", err)
	}
}
