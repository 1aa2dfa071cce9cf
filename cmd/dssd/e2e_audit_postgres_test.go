//go:build e2e && postgres

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAuditSurvivesKillPostgres: as TestAuditSurvivesKillSQLite, with the development
// environment's configuration switched to store type postgres (a fresh schema of the test
// server) and two nodes in turn, each killed with SIGKILL under a signing load.
func TestAuditSurvivesKillPostgres(t *testing.T) {
	bin := start(t).bin
	devDir := filepath.Join(t.TempDir(), "dev")
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// Create the development environment (token, PKI, users), then stop.
	startNode(t, bin, devDir, addr, nil, "serve", "--dev", "--dev-dir", devDir, "--addr", addr).stop(t)

	dsn, _ := freshPGSchema(t)
	env := []string{"DSSD_E2E_PG_DSN=" + dsn}
	t.Setenv("DSSD_E2E_PG_DSN", dsn) // for checkAudit's LoadConfig in this process
	raw, err := os.ReadFile(filepath.Join(devDir, "dssd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["store"] = map[string]any{"type": "postgres", "dsn_env": "DSSD_E2E_PG_DSN"}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "dssd-postgres.yaml")
	if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}

	var acked []string
	for round, after := range []int{80, 120} {
		// The node listens where the development environment was created: its certificates'
		// OCSP and CRL URLs point at this address, and revocation is checked before signing.
		a := addr
		n := startNode(t, bin, devDir, a, env, "serve", "--config", cfgPath, "--addr", a)
		ids, failed := loadAndKill(t, n, fmt.Sprintf("pg-r%d", round), after)
		t.Logf("node %d: %d answered, %d in flight or refused at the kill", round, len(ids), failed)
		acked = append(acked, ids...)
	}
	checkAudit(t, bin, cfgPath, []string{"--config", cfgPath}, env, acked)
}
