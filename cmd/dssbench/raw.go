package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"dssd/hsm"
	"dssd/hsm/pkcs11"
	"dssd/hsm/softhsm"
)

// benchMaxSessions is the session pool of the raw benchmark: the default of dssd's
// hsm.max_sessions (cmd/dssd/config.go), which `dssd serve --dev` uses.
const benchMaxSessions = pkcs11.DefaultMaxSessions

// benchKey is one key type measured.
type benchKey struct {
	name string // "RSA-2048", "EC-P256"
	alg  hsm.KeyAlgorithm
	cred string // the dev credential with this key type
	uri  string // SignatureMethod URI used end to end
}

var benchKeys = []benchKey{
	{"RSA-2048", hsm.RSA2048, "alice-rsa", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"},
	{"EC-P256", hsm.ECP256, "alice-ec", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"},
}

// rawSigners are the token's keys: "plain" is the backend's signer without hsm.Guard (crypto11
// plus the backend's deadline worker), "guarded" is what dssd uses (plus the digest check and
// the verification of every signature with the public key).
type rawSigners struct {
	km             *pkcs11.KeyManager
	plain, guarded map[string]crypto.Signer // by benchKey.name
	restoreEnv     func()
}

func (r *rawSigners) close() {
	r.km.Close()
	r.restoreEnv()
}

// openRaw creates a private SoftHSM2 token under dir with one key per benchKeys entry.
func openRaw(ctx context.Context, dir string) (*rawSigners, error) {
	pins := make([]byte, 16)
	if _, err := rand.Read(pins); err != nil {
		return nil, err
	}
	so, user := hex.EncodeToString(pins[:8]), hex.EncodeToString(pins[8:])
	tok, err := softhsm.Init(dir, "dssbench", so, user)
	if err != nil {
		return nil, err
	}
	// SoftHSM2 reads its configuration when the module is initialised (pkcs11.Open); this
	// process opens one token at a time, and dssd is started with the variable removed (its
	// dssd.yaml names its own token's configuration).
	prev, had := os.LookupEnv("SOFTHSM2_CONF")
	if err := os.Setenv("SOFTHSM2_CONF", tok.Conf); err != nil {
		return nil, err
	}
	restore := func() {
		if had {
			os.Setenv("SOFTHSM2_CONF", prev)
		} else {
			os.Unsetenv("SOFTHSM2_CONF")
		}
	}
	km, err := pkcs11.Open(ctx, pkcs11.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: user, MaxSessions: benchMaxSessions})
	if err != nil {
		restore()
		return nil, err
	}
	r := &rawSigners{km: km, plain: map[string]crypto.Signer{}, guarded: map[string]crypto.Signer{}, restoreEnv: restore}
	for i, k := range benchKeys {
		g, err := km.CreateKey(ctx, hsm.KeyRef{Label: "bench-" + k.name, ID: []byte{byte(i + 1)}}, k.alg)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("create %s key: %w", k.name, err)
		}
		u, ok := g.(interface{ Unwrap() crypto.Signer })
		if !ok {
			r.close()
			return nil, fmt.Errorf("hsm/pkcs11 signer %T has no Unwrap: cannot measure it without hsm.Guard", g)
		}
		r.plain[k.name], r.guarded[k.name] = u.Unwrap(), g
	}
	return r, nil
}

// measureRaw signs SHA-256 digests with s from c goroutines.
func measureRaw(ctx context.Context, s crypto.Signer, key string, c int, o options) (RatePoint, error) {
	digest := sha256.Sum256([]byte("dssbench"))
	var cpu0, cpu1 float64
	r := runLoadHook(ctx, c, o.warmup, o.rawDuration, func(int) error {
		_, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		return err
	}, selfCPU(&cpu0, &cpu1))
	if r.errs > 0 {
		return RatePoint{}, fmt.Errorf("%s at concurrency %d: %d errors, first: %w", key, c, r.errs, r.firstErr)
	}
	p := RatePoint{Key: key, Concurrency: c, Ops: r.ops, Seconds: round(r.seconds, 3), Rate: round(r.rate(), 1)}
	if cpu1 > cpu0 && r.ops > 0 {
		p.CPUPerOpMs = round(1000*(cpu1-cpu0)/float64(r.ops), 4)
	}
	return p, ctx.Err()
}

// selfCPU is a runLoadHook hook that reads this process's CPU seconds into *begin when the
// measured period starts and into *end when it ends.
func selfCPU(begin, end *float64) func(bool) {
	return func(start bool) {
		if v, err := procCPUSeconds(os.Getpid()); err == nil {
			if start {
				*begin = v
			} else {
				*end = v
			}
		}
	}
}
