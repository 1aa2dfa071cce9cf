package sqlstore

import (
	"context"
	"fmt"
	"time"

	"dssd/dss/store"
)

const credColumns = `id, owner, key_type, scal, key_ref, pending_key_ref, chain, state, pin_hash, totp_secret, created_ns, updated_ns, version`

// RegistryVersion returns the version of the last change of credentials or users.
func (s *Store) RegistryVersion(ctx context.Context) (int64, error) {
	if s.db.Closed() {
		return 0, store.ErrClosed
	}
	var v int64
	if err := s.db.Read().QueryRow(ctx, `SELECT version FROM registry_head WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("registry version: %w", err)
	}
	return v, nil
}

// Credentials returns every credential record, by id.
func (s *Store) Credentials(ctx context.Context) ([]store.CredentialRecord, error) {
	var out []store.CredentialRecord
	err := s.each(ctx, "credentials", `SELECT `+credColumns+` FROM credentials ORDER BY id`, nil, func(rows Rows) error {
		var r store.CredentialRecord
		var created, updated int64
		if err := rows.Scan(&r.ID, &r.Owner, &r.KeyType, &r.SCAL, &r.KeyRef, &r.PendingKeyRef, &r.Chain, &r.State,
			&r.PINHash, &r.TOTPSecret, &created, &updated, &r.Version); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
		r.Created, r.Updated = time.Unix(0, created), time.Unix(0, updated)
		out = append(out, r)
		return nil
	})
	return out, err
}

// Users returns every user record, by name.
func (s *Store) Users(ctx context.Context) ([]store.UserRecord, error) {
	var out []store.UserRecord
	err := s.each(ctx, "users", `SELECT name, token_sha256, password_hash, disabled, created_ns, updated_ns, version FROM users ORDER BY name`, nil, func(rows Rows) error {
		var r store.UserRecord
		var tokens string
		var created, updated int64
		err := rows.Scan(&r.Name, &tokens, &r.PasswordHash, &r.Disabled, &created, &updated, &r.Version)
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		if r.TokenSHA256, err = store.SplitDigests(tokens); err != nil {
			return fmt.Errorf("user %s: %w", r.Name, err)
		}
		r.Created, r.Updated = time.Unix(0, created), time.Unix(0, updated)
		out = append(out, r)
		return nil
	})
	return out, err
}

// each runs a read query and calls fn for each row. Errors of the query and of the result set
// are wrapped in what; fn's are returned as they are. Nothing is returned once the store is
// closed but store.ErrClosed.
func (s *Store) each(ctx context.Context, what, q string, args []any, fn func(Rows) error) error {
	if s.db.Closed() {
		return store.ErrClosed
	}
	rows, err := s.db.Read().Query(ctx, s.q(q), args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// bump increments the registry version inside tx and returns it; on PostgreSQL the row lock
// orders every registry change of every node.
func (s *Store) bump(ctx context.Context, tx Querier) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `UPDATE registry_head SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v)
	return v, err
}

// create inserts a new registry record (what names it in errors) under a new version.
func (s *Store) create(ctx context.Context, kind, key, what, stmt string, args func(now, v int64) []any) (int64, error) {
	var v int64
	err := s.db.Write(ctx, func(tx Querier) error {
		var err error
		if v, err = s.bump(ctx, tx); err != nil {
			return err
		}
		now := s.now().UnixNano()
		_, err = tx.Exec(ctx, s.q(stmt), args(now, v)...)
		if s.d.UniqueViolation(err) {
			return fmt.Errorf("%s %s: %w", kind, key, store.ErrExists)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// update replaces a registry record whose stored version is still version.
func (s *Store) update(ctx context.Context, kind, key, what, table, keyCol string, version int64, stmt string, args func(now, v int64) []any) (int64, error) {
	var v int64
	err := s.db.Write(ctx, func(tx Querier) error {
		var cur int64
		err := tx.QueryRow(ctx, s.q(`SELECT version FROM `+table+` WHERE `+keyCol+` = ?`+s.d.ForUpdate), key).Scan(&cur)
		if noRows(err) {
			return fmt.Errorf("%s %s: %w", kind, key, store.ErrNotFound)
		} else if err != nil {
			return err
		}
		if cur != version {
			return fmt.Errorf("%s %s: %w", kind, key, store.ErrConflict)
		}
		if v, err = s.bump(ctx, tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.q(stmt), args(s.now().UnixNano(), v)...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// CreateCredential stores a new credential record.
func (s *Store) CreateCredential(ctx context.Context, r store.CredentialRecord) (int64, error) {
	return s.create(ctx, "credential", r.ID, "create credential",
		`INSERT INTO credentials (`+credColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		func(now, v int64) []any {
			return []any{r.ID, r.Owner, r.KeyType, r.SCAL, r.KeyRef, r.PendingKeyRef, r.Chain, r.State, r.PINHash, r.TOTPSecret, now, now, v}
		})
}

// UpdateCredential replaces a credential record whose version is still r.Version.
func (s *Store) UpdateCredential(ctx context.Context, r store.CredentialRecord) (int64, error) {
	return s.update(ctx, "credential", r.ID, "update credential", "credentials", "id", r.Version,
		`UPDATE credentials SET owner = ?, key_type = ?, scal = ?, key_ref = ?, pending_key_ref = ?,
			chain = ?, state = ?, pin_hash = ?, totp_secret = ?, updated_ns = ?, version = ? WHERE id = ?`,
		func(now, v int64) []any {
			return []any{r.Owner, r.KeyType, r.SCAL, r.KeyRef, r.PendingKeyRef, r.Chain, r.State, r.PINHash, r.TOTPSecret, now, v, r.ID}
		})
}

// CreateUser stores a new user record.
func (s *Store) CreateUser(ctx context.Context, r store.UserRecord) (int64, error) {
	return s.create(ctx, "user", r.Name, "create user",
		`INSERT INTO users (name, token_sha256, password_hash, disabled, created_ns, updated_ns, version)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
		func(now, v int64) []any {
			return []any{r.Name, store.JoinDigests(r.TokenSHA256), r.PasswordHash, r.Disabled, now, now, v}
		})
}

// UpdateUser replaces a user record whose version is still r.Version.
func (s *Store) UpdateUser(ctx context.Context, r store.UserRecord) (int64, error) {
	return s.update(ctx, "user", r.Name, "update user", "users", "name", r.Version,
		`UPDATE users SET token_sha256 = ?, password_hash = ?, disabled = ?, updated_ns = ?, version = ?
			WHERE name = ?`,
		func(now, v int64) []any {
			return []any{store.JoinDigests(r.TokenSHA256), r.PasswordHash, r.Disabled, now, v, r.Name}
		})
}
