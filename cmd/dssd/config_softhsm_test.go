//go:build softhsm

package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"dssd/cmd/dssd/devenv"
)

// TestDevConfigLoads creates a development environment and requires the dssd.yaml it writes
// to pass LoadConfig, so that devenv and the configuration format cannot drift apart.
func TestDevConfigLoads(t *testing.T) {
	t.Setenv("SOFTHSM2_CONF", "") // devenv.Ensure sets it; restored after the test
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := devenv.Ensure(ctx, filepath.Join(t.TempDir(), "dev"), "127.0.0.1:18445")
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(env.ConfigPath)
	if err != nil {
		t.Fatalf("the development configuration does not load: %v", err)
	}
	if !c.Dev.Enabled || c.Dev.Dir != env.Root || c.HSM.SoftHSM2Conf != env.SoftHSM2Conf || c.Listen.Addr != "127.0.0.1:18445" {
		t.Errorf("unexpected configuration: %+v", c)
	}
	if c.Store.AuditKeyFile == "" || c.Store.AuditCheckpointKey == "" {
		t.Errorf("dev mode has no audit key or no checkpoint key: %+v", c.Store)
	}
	if len(c.Users) != 2 || len(c.Credentials) != 5 {
		t.Errorf("%d users, %d credentials; want 2 and 5", len(c.Users), len(c.Credentials))
	}
}
