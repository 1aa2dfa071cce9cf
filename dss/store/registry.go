package store

import (
	"context"
	"errors"
	"time"
)

// Credential states (docs/decisions.md §credential lifecycle).
const (
	// CredentialPending: the key exists in the token, the certificate is not imported yet;
	// the credential cannot sign.
	CredentialPending = "pending-certificate"
	// CredentialEnabled: the credential signs.
	CredentialEnabled = "enabled"
	// CredentialDisabled: the credential is known, listed, and refused for signing.
	CredentialDisabled = "disabled"
)

// CredentialRecord is a signing credential kept in the store (`dssd credential ...`).
type CredentialRecord struct {
	ID      string
	Owner   string
	KeyType string // RSA-2048 ... EC-P384
	SCAL    int    // 1 or 2
	KeyRef  string // RFC 7512 URI of the key that signs (or will sign, while pending)
	// PendingKeyRef is the key made by a rotation, waiting for its certificate: KeyRef and
	// Chain keep signing until the import makes it KeyRef.
	PendingKeyRef string
	Chain         []byte // PEM: signer certificate first; empty while pending
	State         string // CredentialPending, CredentialEnabled or CredentialDisabled
	// PINHash (argon2id PHC string) and TOTPSecret (base32) are the activation factors of a
	// scal 2 credential.
	PINHash    string
	TOTPSecret string
	Created    time.Time
	Updated    time.Time
	// Version is the registry version of the last change of the record (RegistryVersion).
	Version int64
}

// UserRecord is a user kept in the store (`dssd user ...`).
type UserRecord struct {
	Name         string
	TokenSHA256  [][32]byte // SHA-256 of each bearer token; tokens themselves are never stored
	PasswordHash string     // argon2id PHC string, or empty
	Disabled     bool
	Created      time.Time
	Updated      time.Time
	Version      int64
}

// Registry errors.
var (
	// ErrExists: a create named an id or name that is already taken.
	ErrExists = errors.New("already exists")
	// ErrNotFound: no record has that id or name.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the record changed since it was read (its Version differs); read it again.
	ErrConflict = errors.New("changed concurrently; try again")
)

// Registry keeps credentials and users. Every change increments one registry version in
// the same transaction, so a node polls RegistryVersion (one row) and reloads everything only
// when it moved.
type Registry interface {
	// RegistryVersion returns the version of the last change (0: never changed).
	RegistryVersion(ctx context.Context) (int64, error)
	// Credentials returns every credential record, by id.
	Credentials(ctx context.Context) ([]CredentialRecord, error)
	// Users returns every user record, by name.
	Users(ctx context.Context) ([]UserRecord, error)
	// CreateCredential stores a new record (ErrExists when the id is taken) and returns its version.
	CreateCredential(ctx context.Context, rec CredentialRecord) (int64, error)
	// UpdateCredential replaces the record with rec.ID when its stored Version is still
	// rec.Version (ErrConflict otherwise, ErrNotFound without one) and returns the new version.
	UpdateCredential(ctx context.Context, rec CredentialRecord) (int64, error)
	// CreateUser and UpdateUser are the same for users.
	CreateUser(ctx context.Context, rec UserRecord) (int64, error)
	UpdateUser(ctx context.Context, rec UserRecord) (int64, error)
}
