// Package devjson reads and writes var/dev/dev.json, the description of a dssd development
// environment (interface.md §2) that the dss CLI and the end-to-end tests use to reach a
// server started with "dssd serve --dev". It has no dependencies beyond the standard library
// so that clients can import it without the HSM stack.
package devjson

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File is the content of dev.json. Every path in it is absolute.
type File struct {
	URL   string `json:"url"` // base URL of the server, e.g. https://127.0.0.1:8443
	CA    string `json:"ca"`  // PEM file of the development root CA (trust anchor for TLS and signatures)
	Users []User `json:"users"`
	TSA   string `json:"tsa"`  // URL of the development timestamp authority
	OCSP  string `json:"ocsp"` // URL of the development OCSP responder
	// OAuthClients are the OAuth2 clients of the CSC API's authorization server (interface.md §7).
	OAuthClients []OAuthClient `json:"oauth_clients,omitempty"`
}

// OAuthClient is one registered OAuth2 client with its secret.
type OAuthClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"` // secret
	RedirectURI  string `json:"redirect_uri"`
}

// User is one development user.
type User struct {
	Name        string       `json:"name"`
	Token       string       `json:"token"`              // bearer token (secret)
	Password    string       `json:"password,omitempty"` // password of dssd's sign-in page (secret)
	Credentials []Credential `json:"credentials"`
}

// Credential is one signing credential of a user.
type Credential struct {
	ID   string `json:"id"`
	Key  string `json:"key"`  // key type: RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384
	SCAL int    `json:"scal"` // 1 or 2 (2: signing needs signature activation data)
	Cert string `json:"cert"` // PEM file: signer certificate, issuing CA, root CA
	// PIN and TOTPSecret (base32) exist for scal 2 credentials only.
	PIN        string `json:"pin,omitempty"`
	TOTPSecret string `json:"totp_secret,omitempty"`
}

// Read reads and checks a dev.json file.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dev.json: %w", err)
	}
	var f File
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("dev.json %s: %w", path, err)
	}
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("dev.json %s: %w", path, err)
	}
	return &f, nil
}

// Check reports missing fields and relative paths.
func (f *File) Check() error {
	var errs []error
	if !strings.HasPrefix(f.URL, "https://") {
		errs = append(errs, errors.New("url: want an https:// URL"))
	}
	if !filepath.IsAbs(f.CA) {
		errs = append(errs, errors.New("ca: want an absolute path"))
	}
	if len(f.Users) == 0 {
		errs = append(errs, errors.New("users: none"))
	}
	for i, u := range f.Users {
		if u.Name == "" || u.Token == "" {
			errs = append(errs, fmt.Errorf("users[%d]: name and token are required", i))
		}
		for j, c := range u.Credentials {
			p := fmt.Sprintf("users[%d].credentials[%d]", i, j)
			if c.ID == "" || c.Key == "" {
				errs = append(errs, fmt.Errorf("%s: id and key are required", p))
			}
			if !filepath.IsAbs(c.Cert) {
				errs = append(errs, fmt.Errorf("%s.cert: want an absolute path", p))
			}
			switch c.SCAL {
			case 1:
			case 2:
				if c.PIN == "" || c.TOTPSecret == "" {
					errs = append(errs, fmt.Errorf("%s: scal 2 needs pin and totp_secret", p))
				}
			default:
				errs = append(errs, fmt.Errorf("%s.scal: want 1 or 2", p))
			}
		}
	}
	return errors.Join(errs...)
}

// Write writes f to path atomically with mode 0600 (the file holds bearer tokens and PINs).
func Write(path string, f *File) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o600)
}

// WriteFileAtomic writes data to a temporary file in path's directory and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, path)
}

// User returns the user called name; an empty name selects the first user.
func (f *File) User(name string) (*User, error) {
	if name == "" {
		if len(f.Users) == 0 {
			return nil, errors.New("dev.json lists no users")
		}
		return &f.Users[0], nil
	}
	for i := range f.Users {
		if f.Users[i].Name == name {
			return &f.Users[i], nil
		}
	}
	return nil, fmt.Errorf("dev.json has no user %q", name)
}

// Credential returns the user's credential with the given id; an empty id selects the user's
// only credential.
func (u *User) Credential(id string) (*Credential, error) {
	if id == "" {
		if len(u.Credentials) == 1 {
			return &u.Credentials[0], nil
		}
		ids := make([]string, len(u.Credentials))
		for i, c := range u.Credentials {
			ids[i] = c.ID
		}
		return nil, fmt.Errorf("user %s has %d credentials (%s): choose one", u.Name, len(ids), strings.Join(ids, ", "))
	}
	for i := range u.Credentials {
		if u.Credentials[i].ID == id {
			return &u.Credentials[i], nil
		}
	}
	return nil, fmt.Errorf("user %s has no credential %q", u.Name, id)
}

// TOTP returns the RFC 6238 one-time password for the base32 secret at time t with the RFC's
// defaults (HMAC-SHA-1, 30 second steps, 6 digits), as interface.md §5 requires.
func TOTP(secret string, t time.Time) (string, error) {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "="))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(key) == 0 {
		return "", errors.New("totp: secret is not base32")
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", code%1_000_000), nil
}
