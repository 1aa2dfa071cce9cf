package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dssd/dss/store"
)

var _ store.Registry = (*Store)(nil)

// registrySchema is the migration step that adds credentials, users and the registry version.
var registrySchema = []string{
	`CREATE TABLE IF NOT EXISTS registry_head (
		id INT PRIMARY KEY CHECK (id = 1),
		version BIGINT NOT NULL)`,
	`INSERT INTO registry_head (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`,
	`CREATE TABLE IF NOT EXISTS credentials (
		id TEXT PRIMARY KEY,
		owner TEXT NOT NULL,
		key_type TEXT NOT NULL,
		scal INT NOT NULL,
		key_ref TEXT NOT NULL,
		pending_key_ref TEXT NOT NULL DEFAULT '',
		chain BYTEA,
		state TEXT NOT NULL,
		pin_hash TEXT NOT NULL DEFAULT '',
		totp_secret TEXT NOT NULL DEFAULT '',
		created_ns BIGINT NOT NULL,
		updated_ns BIGINT NOT NULL,
		version BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS users (
		name TEXT PRIMARY KEY,
		token_sha256 TEXT NOT NULL DEFAULT '',
		password_hash TEXT NOT NULL DEFAULT '',
		disabled BOOLEAN NOT NULL DEFAULT false,
		created_ns BIGINT NOT NULL,
		updated_ns BIGINT NOT NULL,
		version BIGINT NOT NULL)`,
}

const credColumns = `id, owner, key_type, scal, key_ref, pending_key_ref, chain, state, pin_hash, totp_secret, created_ns, updated_ns, version`

// RegistryVersion returns the version of the last change of credentials or users.
func (s *Store) RegistryVersion(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM registry_head WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("registry version: %w", err)
	}
	return v, nil
}

// Credentials returns every credential record, by id.
func (s *Store) Credentials(ctx context.Context) ([]store.CredentialRecord, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT `+credColumns+` FROM credentials ORDER BY id`)
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
	rows, err := s.pool.Query(ctx, `SELECT name, token_sha256, password_hash, disabled, created_ns, updated_ns, version FROM users ORDER BY name`)
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

// bump increments the registry version inside tx and returns it; the row lock orders every
// registry change of every node.
func bump(ctx context.Context, tx pgx.Tx) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `UPDATE registry_head SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v)
	return v, err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// CreateCredential stores a new credential record.
func (s *Store) CreateCredential(ctx context.Context, r store.CredentialRecord) (int64, error) {
	var v int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if v, err = bump(ctx, tx); err != nil {
			return err
		}
		now := s.now().UnixNano()
		_, err = tx.Exec(ctx, `INSERT INTO credentials (`+credColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cur int64
		err := tx.QueryRow(ctx, `SELECT version FROM credentials WHERE id = $1 FOR UPDATE`, r.ID).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
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
		_, err = tx.Exec(ctx, `UPDATE credentials SET owner = $1, key_type = $2, scal = $3, key_ref = $4, pending_key_ref = $5,
			chain = $6, state = $7, pin_hash = $8, totp_secret = $9, updated_ns = $10, version = $11 WHERE id = $12`,
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if v, err = bump(ctx, tx); err != nil {
			return err
		}
		now := s.now().UnixNano()
		_, err = tx.Exec(ctx, `INSERT INTO users (name, token_sha256, password_hash, disabled, created_ns, updated_ns, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.Name, store.JoinDigests(r.TokenSHA256), r.PasswordHash, r.Disabled, now, now, v)
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cur int64
		err := tx.QueryRow(ctx, `SELECT version FROM users WHERE name = $1 FOR UPDATE`, r.Name).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
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
		_, err = tx.Exec(ctx, `UPDATE users SET token_sha256 = $1, password_hash = $2, disabled = $3, updated_ns = $4, version = $5
			WHERE name = $6`, store.JoinDigests(r.TokenSHA256), r.PasswordHash, r.Disabled, s.now().UnixNano(), v, r.Name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("update user: %w", err)
	}
	return v, nil
}
