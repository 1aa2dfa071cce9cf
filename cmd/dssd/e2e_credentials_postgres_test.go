//go:build e2e && postgres

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCredentialAcrossNodes: two nodes share one PostgreSQL store and one token (nothing
// else). A user and a credential made through the CLI with the configuration of one node
// sign through the other without a restart; the figure is the time from the end of the
// import to the other node's first signature (the limit is 5 s; the poll interval is 1 s).
// Disabling it is seen by both.
func TestCredentialAcrossNodes(t *testing.T) {
	dsn, _ := freshPGSchema(t)
	const dsnEnv = "DSSD_OPS_TEST_DSN"
	t.Setenv(dsnEnv, dsn)
	e := newOpsEnv(t, map[string]any{"type": "postgres", "dsn_env": dsnEnv})

	// The nodes open the token one after the other (docs/decisions.md §41).
	var nodes []*node
	for range 2 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startNode(t, e.bin, e.devDir, addr, nil, "serve", "--config", e.cfg, "--addr", addr))
	}
	e.mustCLI(t, "user", "add", "--name", "dora")
	tok := strings.TrimSpace(e.mustCLI(t, "user", "token", "--name", "dora"))
	csr := filepath.Join(e.dir, "dora-ec.csr")
	e.mustCLI(t, "credential", "create", "--id", "dora-ec", "--owner", "dora", "--key-type", "EC-P256",
		"--subject", "CN=Dora Example,C=DE", "--csr-out", csr)
	chain, leaf := e.signCSR(t, csr)
	e.mustCLI(t, "credential", "import", "--id", "dora-ec", chain)
	imported := time.Now()
	// Each node polls on its own: both must sign within the limit.
	for i, n := range nodes {
		took, s := waitFor(t, fmt.Sprintf("node %d signs", i), 5*time.Second, imported,
			func(j int) opsSigned { return opsSign(t, n, tok, "dora-ec", fmt.Sprintf("node%d-%d", i, j)) }, signedOK)
		if !s.cert.Equal(leaf) {
			t.Errorf("node %d signed with %s", i, s.cert.Subject)
		}
		t.Logf("credential created and imported through the CLI: node %d signs %s after the import returned (limit 5 s)", i, took.Round(time.Millisecond))
	}

	e.mustCLI(t, "credential", "disable", "--id", "dora-ec")
	disabled := time.Now()
	for i, n := range nodes {
		took, _ := waitFor(t, fmt.Sprintf("node %d refuses", i), 5*time.Second, disabled,
			func(j int) opsSigned { return opsSign(t, n, tok, "dora-ec", fmt.Sprintf("off-%d-%d", i, j)) },
			func(s opsSigned) bool { return s.res.minor == minorKeyLookup && s.sig == nil })
		t.Logf("disable: node %d refuses %s after the command returned", i, took.Round(time.Millisecond))
	}
}
