//go:build softhsm && postgres

package main

import "testing"

func TestAuditCheckpointPostgres(t *testing.T) { testAuditCheckpoint(t, postgresAuditFixture) }
