// Package devenv creates and reuses the private development environment of "dssd serve --dev"
// (interface.md §1–§2): a SoftHSM2 token holding the signing keys, a development PKI (root
// CA, issuing CA, TLS server, OCSP responder, timestamp authority and one certificate per
// credential), users with bearer tokens, a dssd configuration (dssd.yaml) and dev.json for
// clients.
//
// Layout under the development directory (mode 0700; files holding secrets are 0600):
//
//	state.json        secrets and choices of the first run; written last, it marks a complete environment
//	dssd.yaml         the dssd configuration (docs/config.md) for this environment
//	dev.json          what clients need (interface.md §2)
//	hsm/              the SoftHSM2 token (softhsm2.conf, token directory) and its PINs
//	pki/              certificates and the software keys of the CAs, TLS, OCSP and TSA
//	pki/credentials/  one PEM per credential: signer certificate, issuing CA, root CA
//	secrets/          signing PINs and TOTP secrets of scal 2 credentials, the SAD key
//	data/             the SQLite store of the server
//
// Signing keys are generated inside the token and never leave it. Development keys of the
// PKI are ordinary files: nothing here is fit for production.
package devenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"dssd/cmd/dssd/devenv/devjson"
	"dssd/dss"
)

// DevJSON is the content of dev.json (interface.md §2); see package devjson, which clients
// that do not want the HSM dependencies import directly.
type DevJSON = devjson.File

// DevUser is one user in dev.json.
type DevUser = devjson.User

// DevCredential is one credential in dev.json.
type DevCredential = devjson.Credential

// ReadDevJSON reads and checks a dev.json file.
func ReadDevJSON(path string) (*DevJSON, error) { return devjson.Read(path) }

// TokenLabel is the label of the development SoftHSM2 token.
const TokenLabel = "dssd-dev"

// HealthKeyLabel is the label of the key used by readiness checks.
const HealthKeyLabel = "dssd-health"

// AuditCheckpointKeyLabel is the label of the key that signs audit checkpoints.
const AuditCheckpointKeyLabel = "dssd-audit-checkpoint"

// Env describes a development environment. All paths are absolute.
type Env struct {
	Root        string // the development directory
	ConfigPath  string // dssd.yaml
	DevJSONPath string // dev.json
	Addr        string // listen address the environment was written for
	URL         string // https://<addr>

	SoftHSM2Conf string // the token's softhsm2.conf (SOFTHSM2_CONF)

	RootCACert    string // PEM: development root CA
	IssuingCACert string // PEM: issuing CA (issues every other certificate)
	IssuingCAKey  string // PEM PKCS#8
	TLSCert       string // PEM: server certificate, then the issuing CA
	TLSKey        string
	OCSPCert      string // PEM: OCSP responder certificate (EKU OCSPSigning, ocsp-nocheck), then the issuing CA
	OCSPKey       string
	TSACert       string // PEM: timestamp authority certificate (critical EKU timeStamping), then the issuing CA
	TSAKey        string
}

// paths fills the path fields of e from e.Root.
func (e *Env) paths() {
	r := e.Root
	e.ConfigPath = filepath.Join(r, "dssd.yaml")
	e.DevJSONPath = filepath.Join(r, "dev.json")
	pki := filepath.Join(r, "pki")
	e.RootCACert = filepath.Join(pki, "root.pem")
	e.IssuingCACert = filepath.Join(pki, "issuing-ca.pem")
	e.IssuingCAKey = filepath.Join(pki, "issuing-ca.key")
	e.TLSCert = filepath.Join(pki, "tls.pem")
	e.TLSKey = filepath.Join(pki, "tls.key")
	e.OCSPCert = filepath.Join(pki, "ocsp.pem")
	e.OCSPKey = filepath.Join(pki, "ocsp.key")
	e.TSACert = filepath.Join(pki, "tsa.pem")
	e.TSAKey = filepath.Join(pki, "tsa.key")
}

func (e *Env) stateFile() string { return filepath.Join(e.Root, "state.json") }
func (e *Env) rootKey() string   { return filepath.Join(e.Root, "pki", "root.key") }
func (e *Env) credCert(id string) string {
	return filepath.Join(e.Root, "pki", "credentials", id+".pem")
}
func (e *Env) hsmDir() string             { return filepath.Join(e.Root, "hsm") }
func (e *Env) userPINFile() string        { return filepath.Join(e.Root, "hsm", "user.pin") }
func (e *Env) soPINFile() string          { return filepath.Join(e.Root, "hsm", "so.pin") }
func (e *Env) secretFile(n string) string { return filepath.Join(e.Root, "secrets", n) }
func (e *Env) dataDir() string            { return filepath.Join(e.Root, "data") }

// state is what the first run decides and later runs reuse (state.json, 0600).
type state struct {
	Version     int         `json:"version"`
	Addr        string      `json:"addr"`
	Module      string      `json:"module"`
	HSMConf     string      `json:"softhsm2_conf"`
	Users       []stateUser `json:"users"`
	Credentials []stateCred `json:"credentials"`
	HealthKeyID int         `json:"health_key_id"`
	// The OAuth2 client of dev mode (added by issue 13; filled in on older environments).
	OAuthSecret string `json:"oauth_client_secret,omitempty"`
	// AuditCheckpointKeyID is set in environments that have an audit key
	// (secrets/audit.key) and a checkpoint key, as production should; 0 in older ones.
	AuditCheckpointKeyID int       `json:"audit_checkpoint_key_id,omitempty"`
	Created              time.Time `json:"created"`
}

type stateUser struct {
	Name         string `json:"name"`
	Token        string `json:"token"`
	Password     string `json:"password,omitempty"`      // for the sign-in page of the OAuth2 server
	PasswordHash string `json:"password_hash,omitempty"` // its argon2id PHC string (dssd.yaml)
}

// DevOAuthClientID and DevRedirectURI describe the OAuth2 client dev mode registers
// (interface.md §2).
const (
	DevOAuthClientID = "dev-client"
	DevRedirectURI   = "http://127.0.0.1:8765/callback"
)

// fillOAuth2 gives users a password and the environment an OAuth2 client secret where they
// have none yet; it reports whether anything changed.
func fillOAuth2(st *state, r io.Reader) (bool, error) {
	changed := false
	for i := range st.Users {
		u := &st.Users[i]
		if u.Password != "" && u.PasswordHash != "" {
			continue
		}
		pw, err := randomToken(r)
		if err != nil {
			return false, err
		}
		h, err := dss.NewPINHash([]byte(pw), r)
		if err != nil {
			return false, err
		}
		u.Password, u.PasswordHash, changed = pw, h.String(), true
	}
	if st.OAuthSecret == "" {
		sec, err := randomToken(r)
		if err != nil {
			return false, err
		}
		st.OAuthSecret, changed = sec, true
	}
	return changed, nil
}

type stateCred struct {
	ID         string `json:"id"`
	Owner      string `json:"owner"`
	KeyType    string `json:"key_type"`
	SCAL       int    `json:"scal"`
	KeyID      int    `json:"key_id"`
	PIN        string `json:"pin,omitempty"`
	TOTPSecret string `json:"totp_secret,omitempty"`
}

const stateVersion = 1

// credSpec is one credential dev mode creates.
type credSpec struct {
	owner, id, keyType string
	scal               int
}

// devCredentials lists the credentials of a new environment, in key id order (id 1, 2, ...).
func devCredentials() []credSpec {
	return []credSpec{
		{"alice", "alice-rsa", "RSA-2048", 1},
		{"alice", "alice-ec", "EC-P256", 1},
		{"alice", "alice-ec384", "EC-P384", 1},
		{"alice", "alice-qes", "RSA-3072", 2},
		{"bob", "bob-rsa", "RSA-2048", 1},
	}
}

// options are the injected clock and randomness.
type options struct {
	now  func() time.Time
	rand io.Reader
}

// Ensure creates the development environment under root (created with mode 0700 when
// missing) on the first call and reuses it afterwards. addr is the listen address the
// server will use (e.g. "127.0.0.1:8443"); dev.json, dssd.yaml and the certificates that
// name the address (AIA OCSP and CRL URLs) are rewritten when it differs from the last call,
// keys, tokens and PINs are kept. A first run that did not finish is discarded and redone.
// Concurrent calls on one root are serialised with a lock file.
//
// On a first run Ensure sets SOFTHSM2_CONF for this process to the token's configuration
// (the PKCS#11 module reads it when initialised); dssd.yaml names the same file in
// hsm.softhsm2_conf.
func Ensure(ctx context.Context, root, addr string) (*Env, error) {
	return ensure(ctx, root, addr, options{now: time.Now, rand: rand.Reader})
}

// Load returns the environment under root, which Ensure must have created. It creates and
// changes nothing.
func Load(root string) (*Env, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	e := &Env{Root: abs}
	e.paths()
	st, err := readState(e.stateFile())
	if err != nil {
		return nil, err
	}
	e.Addr = st.Addr
	e.URL = baseURL(st.Addr)
	e.SoftHSM2Conf = st.HSMConf
	return e, nil
}

func ensure(ctx context.Context, root, addr string, o options) (*Env, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(abs, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	e := &Env{Root: abs, Addr: addr, URL: baseURL(addr)}
	e.paths()

	st, err := readState(e.stateFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := e.create(ctx, addr, o); err != nil {
			return nil, err
		}
		return e, nil
	case err != nil:
		return nil, err
	}
	e.SoftHSM2Conf = st.HSMConf
	if err := e.checkComplete(st); err != nil {
		return nil, err
	}
	if filled, err := fillOAuth2(st, o.rand); err != nil {
		return nil, err
	} else if filled {
		if err := writeState(e.stateFile(), st); err != nil {
			return nil, err
		}
	}
	renew, err := e.needsReissue(o.now())
	if err != nil {
		return nil, err
	}
	if st.Addr != addr || renew {
		if err := e.reissue(st, addr, o); err != nil {
			return nil, err
		}
		st.Addr = addr
		if err := writeState(e.stateFile(), st); err != nil {
			return nil, err
		}
		if err := e.writeOutputs(st); err != nil {
			return nil, err
		}
		return e, nil
	}
	// dssd.yaml is written again when it differs from what this dssd renders: an environment
	// made by an older dssd lacks newer sections of the configuration.
	want, err := e.renderConfig(st)
	if err != nil {
		return nil, err
	}
	have, errCfg := os.ReadFile(e.ConfigPath)
	_, errDev := os.Stat(e.DevJSONPath)
	if errCfg != nil || errDev != nil || !bytes.Equal(have, want) {
		if err := e.writeOutputs(st); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// create makes a new environment. Whatever an earlier, unfinished run left is removed first.
func (e *Env) create(ctx context.Context, addr string, o options) error {
	for _, p := range []string{"hsm", "pki", "secrets", "dssd.yaml", "dev.json"} {
		if err := os.RemoveAll(filepath.Join(e.Root, p)); err != nil {
			return fmt.Errorf("devenv: removing an unfinished environment: %w", err)
		}
	}
	for _, d := range []string{e.hsmDir(), filepath.Join(e.Root, "pki", "credentials"), filepath.Join(e.Root, "secrets"), e.dataDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("devenv: %w", err)
		}
	}
	st := &state{Version: stateVersion, Addr: addr, Created: o.now().UTC()}
	for _, name := range []string{"alice", "bob"} {
		tok, err := randomToken(o.rand)
		if err != nil {
			return err
		}
		st.Users = append(st.Users, stateUser{Name: name, Token: tok})
	}
	if _, err := fillOAuth2(st, o.rand); err != nil {
		return err
	}
	for i, c := range devCredentials() {
		sc := stateCred{ID: c.id, Owner: c.owner, KeyType: c.keyType, SCAL: c.scal, KeyID: i + 1}
		if c.scal == 2 {
			pin, err := randomDigits(o.rand, 8)
			if err != nil {
				return err
			}
			totp, err := randomBase32(o.rand, 20)
			if err != nil {
				return err
			}
			sc.PIN, sc.TOTPSecret = pin, totp
		}
		st.Credentials = append(st.Credentials, sc)
	}
	st.HealthKeyID = len(st.Credentials) + 1
	st.AuditCheckpointKeyID = st.HealthKeyID + 1

	for _, f := range []string{"sad.key", "audit.key"} {
		k, err := randomToken(o.rand)
		if err != nil {
			return err
		}
		if err := writeSecret(e.secretFile(f), []byte(k+"\n")); err != nil {
			return err
		}
	}

	pubs, err := e.createKeys(ctx, st, o)
	if err != nil {
		return err
	}
	if err := e.createPKI(st, pubs, addr, o); err != nil {
		return err
	}
	if err := e.writeOutputs(st); err != nil {
		return err
	}
	// Written last: its presence means the environment is complete.
	return writeState(e.stateFile(), st)
}

// checkComplete verifies that the files a complete environment has are all there.
func (e *Env) checkComplete(st *state) error {
	if st.Version != stateVersion {
		return fmt.Errorf("devenv: %s has version %d, this dssd writes %d: remove %s to start afresh",
			e.stateFile(), st.Version, stateVersion, e.Root)
	}
	need := []string{e.SoftHSM2Conf, e.userPINFile(), e.RootCACert, e.rootKey(), e.IssuingCACert, e.IssuingCAKey,
		e.TLSCert, e.TLSKey, e.OCSPCert, e.OCSPKey, e.TSACert, e.TSAKey, e.secretFile("sad.key")}
	if st.AuditCheckpointKeyID != 0 {
		need = append(need, e.secretFile("audit.key"))
	}
	for _, c := range st.Credentials {
		need = append(need, e.credCert(c.ID))
		if c.SCAL == 2 {
			need = append(need, e.secretFile(c.ID+".pin"), e.secretFile(c.ID+".totp"))
		}
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("devenv: the environment in %s is damaged (%s is missing): remove the directory to start afresh", e.Root, p)
		}
	}
	return os.MkdirAll(e.dataDir(), 0o700)
}

// writeOutputs writes dssd.yaml, dev.json and the scal 2 secret files.
func (e *Env) writeOutputs(st *state) error {
	for _, c := range st.Credentials {
		if c.SCAL != 2 {
			continue
		}
		if err := writeSecret(e.secretFile(c.ID+".pin"), []byte(c.PIN+"\n")); err != nil {
			return err
		}
		if err := writeSecret(e.secretFile(c.ID+".totp"), []byte(c.TOTPSecret+"\n")); err != nil {
			return err
		}
	}
	cfg, err := e.renderConfig(st)
	if err != nil {
		return err
	}
	if err := devjson.WriteFileAtomic(e.ConfigPath, cfg, 0o600); err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	if err := devjson.Write(e.DevJSONPath, e.devJSON(st)); err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	return nil
}

func (e *Env) devJSON(st *state) *devjson.File {
	f := &devjson.File{
		URL:  e.URL,
		CA:   e.RootCACert,
		TSA:  e.URL + "/dev/tsa",
		OCSP: e.URL + "/dev/ocsp",
	}
	for _, u := range st.Users {
		du := devjson.User{Name: u.Name, Token: u.Token, Password: u.Password, Credentials: []devjson.Credential{}}
		for _, c := range st.Credentials {
			if c.Owner != u.Name {
				continue
			}
			du.Credentials = append(du.Credentials, devjson.Credential{
				ID: c.ID, Key: c.KeyType, SCAL: c.SCAL, Cert: e.credCert(c.ID),
				PIN: c.PIN, TOTPSecret: c.TOTPSecret,
			})
		}
		f.Users = append(f.Users, du)
	}
	f.OAuthClients = []devjson.OAuthClient{{ClientID: DevOAuthClientID, ClientSecret: st.OAuthSecret, RedirectURI: DevRedirectURI}}
	return f
}

func readState(path string) (*state, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("devenv: no environment (%s is missing): %w", path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("devenv: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("devenv: %s is corrupt: %w", path, err)
	}
	return &st, nil
}

func writeState(path string, st *state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := devjson.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	return nil
}

// writeSecret writes a secret file with mode 0600.
func writeSecret(path string, data []byte) error {
	if err := devjson.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	return nil
}

// checkAddr requires host:port with a non-zero port: the address ends up in URLs.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devenv: address %q is not host:port", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("devenv: address %q needs a fixed port (1..65535)", addr)
	}
	return nil
}

// urlHost is the host clients use to reach addr: a wildcard listen address becomes 127.0.0.1.
func urlHost(addr string) (host, port string) {
	host, port, _ = net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return host, port
}

func baseURL(addr string) string {
	return "https://" + net.JoinHostPort(urlHost(addr))
}

// lock takes an exclusive lock on path, waiting until ctx ends.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("devenv: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("devenv: waiting for %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
