package sqlstore

import "strings"

// Schema is every migration step of a back-end, in order: the audit chain (the back-end's own
// steps, audit, after the two tables: the head row, triggers, the head MAC column), SAD
// replay and lockout, the job queue, the registry version (registryRow inserts its row) and
// the registry. Each table whose definitions differ only in column types is written here.
func Schema(d Dialect, audit []string, registryRow string) []string {
	s := append([]string{AuditLog(d), AuditHead(d)}, audit...)
	s = append(s, ReplayAndLockout(d)...)
	s = append(s, JobsSchema(d)...)
	s = append(s, RegistryHead(d), registryRow)
	return append(s, RegistrySchema(d)...)
}

// table is the CREATE TABLE statement of the columns, one a line, followed by options.
func table(name, options string, cols ...string) string {
	return "CREATE TABLE IF NOT EXISTS " + name + " (\n\t\t" + strings.Join(cols, ",\n\t\t") + ")" + options
}

// AuditLog is the definition of the audit record table.
func AuditLog(d Dialect) string {
	return table("audit_log", "", "seq "+d.BigInt+" PRIMARY KEY",
		"prev_hash "+d.Blob+" NOT NULL", "hash "+d.Blob+" NOT NULL", "mac "+d.Blob, "time_ns "+d.BigInt+" NOT NULL",
		"request_id TEXT NOT NULL", "problem_ref TEXT NOT NULL", "user_name TEXT NOT NULL", "via TEXT NOT NULL",
		"action TEXT NOT NULL", "credential TEXT NOT NULL", "digests TEXT NOT NULL",
		"major TEXT NOT NULL", "minor TEXT NOT NULL", "detail TEXT NOT NULL")
}

// AuditHead is the definition of the one-row table that holds the chain head (the head MAC
// column is added by the migration).
func AuditHead(d Dialect) string {
	return table("audit_head", "", "id "+d.Int+" PRIMARY KEY CHECK (id = 1)", "seq "+d.BigInt+" NOT NULL", "hash "+d.Blob+" NOT NULL")
}

// ReplayAndLockout are the definitions of the SAD replay and lockout tables.
func ReplayAndLockout(d Dialect) []string {
	return []string{
		table("sad_replay", d.NoRowID, "id "+d.Blob+" PRIMARY KEY", "not_after "+d.BigInt+" NOT NULL"),
		`CREATE INDEX IF NOT EXISTS sad_replay_not_after ON sad_replay (not_after)`,
		table("lockout", d.NoRowID, "credential TEXT PRIMARY KEY", "failures "+d.Int+" NOT NULL", "updated_ns "+d.BigInt+" NOT NULL"),
	}
}

// JobsSchema is the migration step that adds the asynchronous job table.
func JobsSchema(d Dialect) []string {
	return []string{
		table("async_jobs", d.NoRowID, "id TEXT PRIMARY KEY", "owner TEXT NOT NULL", "request_id TEXT NOT NULL",
			"state TEXT NOT NULL", "payload "+d.Blob, "response "+d.Blob, "claim TEXT NOT NULL DEFAULT ''",
			"lease_until "+d.BigInt+" NOT NULL DEFAULT 0", "attempts "+d.Int+" NOT NULL DEFAULT 0",
			"created_ns "+d.BigInt+" NOT NULL", "expires_ns "+d.BigInt+" NOT NULL"),
		`CREATE INDEX IF NOT EXISTS async_jobs_claimable ON async_jobs (state, created_ns)`,
		`CREATE INDEX IF NOT EXISTS async_jobs_owner ON async_jobs (owner, state)`,
		`CREATE INDEX IF NOT EXISTS async_jobs_expires ON async_jobs (expires_ns)`,
	}
}

// RegistryHead is the definition of the one-row table that holds the registry version.
func RegistryHead(d Dialect) string {
	return table("registry_head", "", "id "+d.Int+" PRIMARY KEY CHECK (id = 1)", "version "+d.BigInt+" NOT NULL")
}

// RegistrySchema is the migration step that adds the registry version, credentials and users
// (the back-end creates the registry_head row first).
func RegistrySchema(d Dialect) []string {
	stamps := []string{"created_ns " + d.BigInt + " NOT NULL", "updated_ns " + d.BigInt + " NOT NULL", "version " + d.BigInt + " NOT NULL"}
	return []string{
		table("credentials", d.NoRowID, append([]string{"id TEXT PRIMARY KEY", "owner TEXT NOT NULL", "key_type TEXT NOT NULL",
			"scal " + d.Int + " NOT NULL", "key_ref TEXT NOT NULL", "pending_key_ref TEXT NOT NULL DEFAULT ''", "chain " + d.Blob,
			"state TEXT NOT NULL", "pin_hash TEXT NOT NULL DEFAULT ''", "totp_secret TEXT NOT NULL DEFAULT ''"}, stamps...)...),
		table("users", d.NoRowID, append([]string{"name TEXT PRIMARY KEY", "token_sha256 TEXT NOT NULL DEFAULT ''",
			"password_hash TEXT NOT NULL DEFAULT ''", "disabled " + d.Bool + " NOT NULL DEFAULT " + d.False}, stamps...)...),
	}
}
