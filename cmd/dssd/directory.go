package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"

	"dssd/dss"
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
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		chain = append(chain, cert)
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
