package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"

	"dssd/cmd/internal/pemcerts"
	"dssd/dss"
	"dssd/dss/sad"
	"dssd/hsm"
)

// directory is the dss.Directory built from the configuration.
type directory struct {
	byID    map[string]*dss.Credential
	byOwner map[string][]*dss.Credential
}

func (d *directory) Credential(id string) *dss.Credential { return d.byID[id] }

func (d *directory) CredentialsOf(user string) []*dss.Credential { return d.byOwner[user] }

// loadDirectory reads every credential's certificate chain and checks, with the HSM, that
// the certificate belongs to the key: a mismatch is a configuration error found at start-up,
// not a signature that no verifier accepts.
func loadDirectory(ctx context.Context, cfg *Config, keys hsm.KeyManager) (*directory, error) {
	d := &directory{byID: map[string]*dss.Credential{}, byOwner: map[string][]*dss.Credential{}}
	var errs []error
	for _, c := range cfg.Credentials {
		ref, err := hsm.ParseKeyRef(c.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("credential %s: %w", c.ID, err))
			continue
		}
		chain, err := readChain(c.Certificate)
		if err != nil {
			errs = append(errs, fmt.Errorf("credential %s: %w", c.ID, err))
			continue
		}
		signer, err := keys.Signer(ctx, ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("credential %s: key %s: %w", c.ID, ref, err))
			continue
		}
		if !samePublicKey(signer.Public(), chain[0].PublicKey) {
			errs = append(errs, fmt.Errorf("credential %s: the certificate does not match the key in the HSM", c.ID))
			continue
		}
		cred := &dss.Credential{ID: c.ID, Owner: c.Owner, Key: c.KeyType, SCAL: c.SCAL, Ref: ref, Chain: chain}
		d.byID[c.ID] = cred
		d.byOwner[c.Owner] = append(d.byOwner[c.Owner], cred)
	}
	for _, list := range d.byOwner {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}
	return d, errors.Join(errs...)
}

func readChain(path string) ([]*x509.Certificate, error) {
	chain, err := pemcerts.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return chain, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// activation is what the service needs to activate scal 2 credentials (interface.md §5).
type activation struct {
	sad     *sad.Authority
	factors map[string]*dss.Factors
}

// loadActivation reads every scal 2 credential's PIN and TOTP secret and the SAD key.
//
// A pin_file holds either the PIN itself (as dev mode writes it), which is hashed with
// argon2id here so that only the hash stays in memory, or the PHC string of such a hash
// ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"), which production configurations should
// prefer: then the PIN is stored nowhere. The SAD key comes from sad.key_file (shared by every
// node); without it (a single SQLite node) a random key is made at start, so SADs do not
// survive a restart.
func loadActivation(cfg *Config, logger *slog.Logger) (*activation, error) {
	a := &activation{factors: map[string]*dss.Factors{}}
	var errs []error
	for _, c := range cfg.Credentials {
		if c.SCAL < 2 {
			continue
		}
		f, err := loadFactors(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("credential %s: %w", c.ID, err))
			continue
		}
		a.factors[c.ID] = f
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	key, err := readKeyFile(cfg.SAD.KeyFile, "sad.key_file")
	if err != nil {
		return nil, err
	}
	if cfg.SAD.KeyFile == "" {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if len(a.factors) > 0 {
			logger.Warn("sad.key_file is not set: signature activation data is checked with a key made at start; it is valid on this node only and not after a restart")
		}
	}
	auth, err := sad.New(sad.Config{Key: key, TTL: cfg.SAD.TTL.Duration()})
	if err != nil {
		return nil, fmt.Errorf("sad: %w", err)
	}
	a.sad = auth
	return a, nil
}

func loadFactors(c CredentialConfig) (*dss.Factors, error) {
	pinRaw, err := os.ReadFile(c.PINFile)
	if err != nil {
		return nil, fmt.Errorf("pin_file: %w", err)
	}
	defer clear(pinRaw)
	pin := bytes.TrimRight(pinRaw, "\r\n")
	f := &dss.Factors{}
	if dss.IsPINHash(string(pin)) {
		if f.PIN, err = dss.ParsePINHash(string(pin)); err != nil {
			return nil, fmt.Errorf("pin_file: %w", err)
		}
	} else if f.PIN, err = dss.NewPINHash(pin, nil); err != nil {
		return nil, fmt.Errorf("pin_file: %w", err)
	}
	secret, err := os.ReadFile(c.TOTPSecretFile)
	if err != nil {
		return nil, fmt.Errorf("totp_secret_file: %w", err)
	}
	defer clear(secret)
	if f.TOTP, err = dss.NewTOTP(string(secret)); err != nil {
		return nil, fmt.Errorf("totp_secret_file: %w", err)
	}
	return f, nil
}
