package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"dssd/dss/store"
)

var _ store.Registry = (*Store)(nil)

// registrySchema is the migration step that adds credentials, users and the registry version.
var registrySchema = []string{
	`CREATE TABLE IF NOT EXISTS registry_head (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL)`,
	`INSERT OR IGNORE INTO registry_head (id, version) VALUES (1, 0)`,
	`CREATE TABLE IF NOT EXISTS credentials (
		id TEXT PRIMARY KEY,
		owner TEXT NOT NULL,
		key_type TEXT NOT NULL,
		scal INTEGER NOT NULL,
		key_ref TEXT NOT NULL,
		pending_key_ref TEXT NOT NULL DEFAULT '',
		chain BLOB,
		state TEXT NOT NULL,
		pin_hash TEXT NOT NULL DEFAULT '',
		totp_secret TEXT NOT NULL DEFAULT '',
		created_ns INTEGER NOT NULL,
		updated_ns INTEGER NOT NULL,
		version INTEGER NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS users (
		name TEXT PRIMARY KEY,
		token_sha256 TEXT NOT NULL DEFAULT '',
		password_hash TEXT NOT NULL DEFAULT '',
		disabled INTEGER NOT NULL DEFAULT 0,
		created_ns INTEGER NOT NULL,
		updated_ns INTEGER NOT NULL,
		version INTEGER NOT NULL) WITHOUT ROWID`,
}

const credColumns = `id, owner, key_type, scal, key_ref, pending_key_ref, chain, state, pin_hash, totp_secret, created_ns, updated_ns, version`

// RegistryVersion returns the version of the last change of credentials or users.
func (s *Store) RegistryVersion(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM registry_head WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("registry version: %w", err)
	}
	return v, nil
}

// Credentials returns every credential record, by id.
func (s *Store) Credentials(ctx context.Context) ([]store.CredentialRecord, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+credColumns+` FROM credentials ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer rows.Close()
	var out []store.CredentialRecord
	for rows.Next() {
		var r store.CredentialRecord
		var created, updated int64
		if err := rows.Scan(&r.ID, &r.Owner, &r.KeyType, &r.SCAL, &r.KeyRef, &r.PendingKeyRef, &r.Chain, &r.State,
			&r.PINHash, &r.TOTPSecret, &created, &updated, &r.Version); err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		r.Created, r.Updated = time.Unix(0, created), time.Unix(0, updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return out, nil
}

// Users returns every user record, by name.
func (s *Store) Users(ctx context.Context) ([]store.UserRecord, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name, token_sha256, password_hash, disabled, created_ns, updated_ns, version FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	var out []store.UserRecord
	for rows.Next() {
		var r store.UserRecord
		var tokens string
		var created, updated int64
		if err := rows.Scan(&r.Name, &tokens, &r.PasswordHash, &r.Disabled, &created, &updated, &r.Version); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		if r.TokenSHA256, err = store.SplitDigests(tokens); err != nil {
			return nil, fmt.Errorf("user %s: %w", r.Name, err)
		}
		r.Created, r.Updated = time.Unix(0, created), time.Unix(0, updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return out, nil
}

// bump increments the registry version inside tx and returns it.
func bump(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `UPDATE registry_head SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v)
	return v, err
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateCredential stores a new credential record.
func (s *Store) CreateCredential(ctx context.Context, r store.CredentialRecord) (int64, error) {
	var v int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = bump(ctx, tx); err != nil {
			return err
		}
		now := s.now().UnixNano()
		_, err = tx.ExecContext(ctx, `INSERT INTO credentials (`+credColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Owner, r.KeyType, r.SCAL, r.KeyRef, r.PendingKeyRef, r.Chain, r.State, r.PINHash, r.TOTPSecret, now, now, v)
		if isUniqueViolation(err) {
			return fmt.Errorf("credential %s: %w", r.ID, store.ErrExists)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create credential: %w", err)
	}
	return v, nil
}

// UpdateCredential replaces a credential record whose version is still r.Version.
func (s *Store) UpdateCredential(ctx context.Context, r store.CredentialRecord) (int64, error) {
	var v int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var cur int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM credentials WHERE id = ?`, r.ID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("credential %s: %w", r.ID, store.ErrNotFound)
		} else if err != nil {
			return err
		}
		if cur != r.Version {
			return fmt.Errorf("credential %s: %w", r.ID, store.ErrConflict)
		}
		if v, err = bump(ctx, tx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE credentials SET owner = ?, key_type = ?, scal = ?, key_ref = ?, pending_key_ref = ?,
			chain = ?, state = ?, pin_hash = ?, totp_secret = ?, updated_ns = ?, version = ? WHERE id = ?`,
			r.Owner, r.KeyType, r.SCAL, r.KeyRef, r.PendingKeyRef, r.Chain, r.State, r.PINHash, r.TOTPSecret,
			s.now().UnixNano(), v, r.ID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("update credential: %w", err)
	}
	return v, nil
}

// CreateUser stores a new user record.
func (s *Store) CreateUser(ctx context.Context, r store.UserRecord) (int64, error) {
	var v int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = bump(ctx, tx); err != nil {
			return err
		}
		now := s.now().UnixNano()
		_, err = tx.ExecContext(ctx, `INSERT INTO users (name, token_sha256, password_hash, disabled, created_ns, updated_ns, version)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Name, store.JoinDigests(r.TokenSHA256), r.PasswordHash, r.Disabled, now, now, v)
		if isUniqueViolation(err) {
			return fmt.Errorf("user %s: %w", r.Name, store.ErrExists)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create user: %w", err)
	}
	return v, nil
}

// UpdateUser replaces a user record whose version is still r.Version.
func (s *Store) UpdateUser(ctx context.Context, r store.UserRecord) (int64, error) {
	var v int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var cur int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM users WHERE name = ?`, r.Name).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", r.Name, store.ErrNotFound)
		} else if err != nil {
			return err
		}
		if cur != r.Version {
			return fmt.Errorf("user %s: %w", r.Name, store.ErrConflict)
		}
		if v, err = bump(ctx, tx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET token_sha256 = ?, password_hash = ?, disabled = ?, updated_ns = ?, version = ?
			WHERE name = ?`, store.JoinDigests(r.TokenSHA256), r.PasswordHash, r.Disabled, s.now().UnixNano(), v, r.Name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("update user: %w", err)
	}
	return v, nil
}
