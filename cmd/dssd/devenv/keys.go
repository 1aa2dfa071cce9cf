package devenv

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"time"

	"dssd/hsm"
	"dssd/hsm/pkcs11"
	"dssd/hsm/softhsm"
)

// keyRef names a key of the development token.
func keyRef(label string, id int) hsm.KeyRef {
	return hsm.KeyRef{Token: TokenLabel, Label: label, ID: []byte{byte(id)}}
}

// createKeys initialises the SoftHSM2 token and generates every key inside it. It records the
// module and the token configuration in st and returns the public keys by credential id (the
// health key under HealthKeyLabel).
func (e *Env) createKeys(ctx context.Context, st *state, o options) (map[string]crypto.PublicKey, error) {
	soPIN, err := randomToken(o.rand)
	if err != nil {
		return nil, err
	}
	userPIN, err := randomToken(o.rand)
	if err != nil {
		return nil, err
	}
	if err := writeSecret(e.soPINFile(), []byte(soPIN+"\n")); err != nil {
		return nil, err
	}
	if err := writeSecret(e.userPINFile(), []byte(userPIN+"\n")); err != nil {
		return nil, err
	}
	tok, err := softhsm.Init(e.hsmDir(), TokenLabel, soPIN, userPIN)
	if err != nil {
		return nil, fmt.Errorf("devenv: SoftHSM2 token: %w", err)
	}
	st.Module, st.HSMConf = tok.Module, tok.Conf
	e.SoftHSM2Conf = tok.Conf
	// The module reads SOFTHSM2_CONF when it is initialised by pkcs11.Open.
	if err := os.Setenv("SOFTHSM2_CONF", tok.Conf); err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	km, err := pkcs11.Open(ctx, pkcs11.Config{
		Module:          tok.Module,
		TokenLabel:      tok.Label,
		PIN:             userPIN,
		MaxSessions:     4,
		PoolWaitTimeout: 10 * time.Second,
		SignTimeout:     60 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("devenv: opening the development token: %w", err)
	}
	defer km.Close()

	pubs := map[string]crypto.PublicKey{}
	for _, c := range st.Credentials {
		s, err := km.CreateKey(ctx, keyRef(c.ID, c.KeyID), hsm.KeyAlgorithm(c.KeyType))
		if err != nil {
			return nil, fmt.Errorf("devenv: generating the %s key of %s: %w", c.KeyType, c.ID, err)
		}
		pubs[c.ID] = s.Public()
	}
	s, err := km.CreateKey(ctx, keyRef(HealthKeyLabel, st.HealthKeyID), hsm.ECP256)
	if err != nil {
		return nil, fmt.Errorf("devenv: generating the health key: %w", err)
	}
	pubs[HealthKeyLabel] = s.Public()
	if st.AuditCheckpointKeyID != 0 {
		if _, err := km.CreateKey(ctx, keyRef(AuditCheckpointKeyLabel, st.AuditCheckpointKeyID), hsm.ECP256); err != nil {
			return nil, fmt.Errorf("devenv: generating the audit checkpoint key: %w", err)
		}
	}
	return pubs, nil
}
