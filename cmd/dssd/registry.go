package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync/atomic"
	"time"

	"dssd/binding/authn"
	"dssd/cmd/internal/pemcerts"
	"dssd/dss"
	"dssd/dss/store"
	"dssd/hsm"
)

// Credentials and users live in two layers (docs/decisions.md §41): the configuration file
// (read-only, loaded at start) and the store's registry (written by `dssd credential ...` and
// `dssd user ...`). Every node polls the registry version and, when it moved, rebuilds its
// directory and user list and swaps them in at once.

// liveDirectory is the dss.Directory of a serving node: a snapshot swapped atomically.
type liveDirectory struct {
	cur atomic.Pointer[directory]
}

func newLiveDirectory(d *directory) *liveDirectory {
	l := &liveDirectory{}
	l.cur.Store(d)
	return l
}

func (l *liveDirectory) Credential(id string) *dss.Credential { return l.cur.Load().Credential(id) }

func (l *liveDirectory) CredentialsOf(user string) []*dss.Credential {
	return l.cur.Load().CredentialsOf(user)
}

// registrySync keeps a node's directory and users in step with the store.
type registrySync struct {
	reg       store.Registry
	keys      hsm.KeyManager
	static    *directory   // the configuration's credentials
	yamlUsers []authn.User // the configuration's users
	dir       *liveDirectory
	auth      *authn.Authenticator
	logger    *slog.Logger

	loaded  bool
	version int64
	creds   map[string]builtCredential // by id: the last good build of each store credential
}

type builtCredential struct {
	version int64
	keyRef  string
	chain   string // PEM
	cred    *dss.Credential
}

func newRegistrySync(reg store.Registry, keys hsm.KeyManager, static *directory, yamlUsers []authn.User,
	dir *liveDirectory, auth *authn.Authenticator, logger *slog.Logger) *registrySync {
	return &registrySync{reg: reg, keys: keys, static: static, yamlUsers: yamlUsers, dir: dir, auth: auth,
		logger: logger, creds: map[string]builtCredential{}}
}

// run polls every interval until ctx ends.
func (r *registrySync) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.refresh(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			r.logger.Error("registry: credentials and users not refreshed; the last ones stay in use", "err", err)
			failing = true
		case err == nil && failing:
			r.logger.Info("registry: refreshed again")
			failing = false
		}
	}
}

// refresh reloads the registry when its version moved. A credential that cannot be built
// (its key is not found now, the HSM is down) keeps its last good build and the version is
// not taken as loaded, so the next poll tries again.
func (r *registrySync) refresh(ctx context.Context) error {
	v, err := r.reg.RegistryVersion(ctx)
	if err != nil {
		return err
	}
	if r.loaded && v == r.version {
		return nil
	}
	recs, err := r.reg.Credentials(ctx)
	if err != nil {
		return err
	}
	users, err := r.reg.Users(ctx)
	if err != nil {
		return err
	}
	d := &directory{byID: maps.Clone(r.static.byID), byOwner: map[string][]*dss.Credential{}}
	for owner, list := range r.static.byOwner {
		d.byOwner[owner] = append([]*dss.Credential(nil), list...)
	}
	var errs []error
	seen := map[string]bool{}
	for _, rec := range recs {
		seen[rec.ID] = true
		if _, ok := r.static.byID[rec.ID]; ok {
			r.logger.Warn("registry: credential id also in the configuration file; the file's credential is used", "credential", rec.ID)
			continue
		}
		if rec.State == store.CredentialPending || len(rec.Chain) == 0 {
			continue // no certificate yet: cannot sign
		}
		b, ok := r.creds[rec.ID]
		switch {
		case ok && b.version == rec.Version:
		case ok && b.keyRef == rec.KeyRef && b.chain == string(rec.Chain) && b.cred.SCAL == rec.SCAL && rec.SCAL < 2:
			// Same key and certificate (disable, enable, a pending rotation, a new owner):
			// no need to ask the HSM again.
			c := *b.cred
			c.Owner, c.Disabled = rec.Owner, rec.State == store.CredentialDisabled
			b = builtCredential{version: rec.Version, keyRef: rec.KeyRef, chain: string(rec.Chain), cred: &c}
			r.creds[rec.ID] = b
		default:
			cred, err := buildCredential(ctx, r.keys, rec)
			if err != nil {
				errs = append(errs, fmt.Errorf("credential %s: %w", rec.ID, err))
				if !ok {
					continue
				}
				if rec.State == store.CredentialDisabled { // never keep signing with a disabled credential
					c := *b.cred
					c.Disabled = true
					b.cred = &c
				}
			} else {
				b = builtCredential{version: rec.Version, keyRef: rec.KeyRef, chain: string(rec.Chain), cred: cred}
				r.creds[rec.ID] = b
			}
		}
		d.byID[rec.ID] = b.cred
		d.byOwner[b.cred.Owner] = append(d.byOwner[b.cred.Owner], b.cred)
	}
	for id := range r.creds {
		if !seen[id] {
			delete(r.creds, id)
		}
	}
	for _, list := range d.byOwner {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}

	all := append([]authn.User(nil), r.yamlUsers...)
	inFile := map[string]bool{}
	for _, u := range r.yamlUsers {
		inFile[u.Name] = true
	}
	for _, u := range users {
		if inFile[u.Name] {
			r.logger.Warn("registry: user also in the configuration file; the file's user is used", "user", u.Name)
			continue
		}
		all = append(all, authn.User{Name: u.Name, TokenSHA256: u.TokenSHA256, Disabled: u.Disabled})
	}
	r.dir.cur.Store(d)
	r.auth.SetUsers(all)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !r.loaded || v != r.version {
		r.logger.Info("registry loaded", "version", v, "credentials", len(d.byID), "users", len(all))
	}
	r.loaded, r.version = true, v
	return nil
}

// buildCredential turns a registry record into a credential, checking with the HSM that the
// certificate holds the key (as loadDirectory does for the configuration's credentials).
func buildCredential(ctx context.Context, keys hsm.KeyManager, rec store.CredentialRecord) (*dss.Credential, error) {
	ref, err := hsm.ParseKeyRef(rec.KeyRef)
	if err != nil {
		return nil, err
	}
	chain, err := parseChainPEM(rec.Chain)
	if err != nil {
		return nil, err
	}
	signer, err := keys.Signer(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	if !samePublicKey(signer.Public(), chain[0].PublicKey) {
		return nil, errors.New("the certificate does not match the key in the HSM")
	}
	cred := &dss.Credential{ID: rec.ID, Owner: rec.Owner, Key: rec.KeyType, SCAL: rec.SCAL, Ref: ref, Chain: chain,
		Disabled: rec.State == store.CredentialDisabled}
	if rec.SCAL >= 2 {
		f := &dss.Factors{}
		if f.PIN, err = dss.ParsePINHash(rec.PINHash); err != nil {
			return nil, fmt.Errorf("PIN hash: %w", err)
		}
		if f.TOTP, err = dss.NewTOTP(rec.TOTPSecret); err != nil {
			return nil, fmt.Errorf("TOTP secret: %w", err)
		}
		cred.Factors = f
	}
	return cred, nil
}

// parseChainPEM returns the CERTIFICATE blocks of b in order; anything else is an error.
func parseChainPEM(b []byte) ([]*x509.Certificate, error) {
	return decodeCertificates(b, "in a chain", "no PEM certificate")
}

// decodeCertificates returns the CERTIFICATE blocks of b in order. Another block is an error
// saying that only certificates belong where; no certificate at all is the error none.
func decodeCertificates(b []byte, where, none string) ([]*x509.Certificate, error) {
	chain, err := pemcerts.Decode(b,
		func(t string) error {
			return fmt.Errorf("unexpected PEM block %q (only certificates belong %s)", t, where)
		},
		func(n int, err error) error { return fmt.Errorf("certificate %d: %w", n, err) })
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, errors.New(none)
	}
	return chain, nil
}
