package devenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// The structures below write dssd.yaml in the format of cmd/dssd's Config (docs/config.md).
// They mirror only the fields dev mode sets; cmd/dssd loads the result with LoadConfig.

type yamlConfig struct {
	Listen      yamlListen `yaml:"listen"`
	HSM         yamlHSM    `yaml:"hsm"`
	Store       yamlStore  `yaml:"store"`
	SAD         yamlSAD    `yaml:"sad"`
	Timestamp   yamlTSA    `yaml:"timestamp"`
	Revocation  yamlRev    `yaml:"revocation"`
	Users       []yamlUser `yaml:"users"`
	Credentials []yamlCred `yaml:"credentials"`
	Log         yamlLog    `yaml:"log"`
	Dev         yamlDev    `yaml:"dev"`
	OAuth2      yamlOAuth2 `yaml:"oauth2"`
	CSC         yamlCSC    `yaml:"csc"`
}

type yamlOAuth2 struct {
	Clients []yamlOAuthClient `yaml:"clients"`
}

type yamlOAuthClient struct {
	ID           string   `yaml:"client_id"`
	SecretSHA256 []string `yaml:"client_secret_sha256"`
	RedirectURIs []string `yaml:"redirect_uris"`
}

type yamlCSC struct {
	V1 bool `yaml:"v1"`
}

type yamlListen struct {
	Addr string `yaml:"addr"`
	TLS  struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
}

type yamlHSM struct {
	Type         string `yaml:"type"`
	Module       string `yaml:"module"`
	TokenLabel   string `yaml:"token_label"`
	PINFile      string `yaml:"pin_file"`
	SoftHSM2Conf string `yaml:"softhsm2_conf"`
	HealthKey    string `yaml:"health_key"`
}

type yamlStore struct {
	Type               string `yaml:"type"`
	Path               string `yaml:"path"`
	AuditKeyFile       string `yaml:"audit_key_file,omitempty"`
	AuditCheckpointKey string `yaml:"audit_checkpoint_key,omitempty"`
}

type yamlSAD struct {
	KeyFile string `yaml:"key_file"`
}

type yamlTSA struct {
	URL          string   `yaml:"url"`
	CA           string   `yaml:"ca"`
	TrustAnchors []string `yaml:"trust_anchors"`
}

type yamlRev struct {
	Enabled      bool     `yaml:"enabled"`
	CA           string   `yaml:"ca"`
	TrustAnchors []string `yaml:"trust_anchors"`
	MaxAge       string   `yaml:"max_age"`
}

type yamlUser struct {
	Name         string   `yaml:"name"`
	TokenSHA256  []string `yaml:"token_sha256"`
	PasswordHash string   `yaml:"password_hash,omitempty"`
}

type yamlCred struct {
	ID             string `yaml:"id"`
	Owner          string `yaml:"owner"`
	Key            string `yaml:"key"`
	KeyType        string `yaml:"key_type"`
	Certificate    string `yaml:"certificate"`
	SCAL           int    `yaml:"scal"`
	PINFile        string `yaml:"pin_file,omitempty"`
	TOTPSecretFile string `yaml:"totp_secret_file,omitempty"`
}

type yamlLog struct {
	Level string `yaml:"level"`
}

type yamlDev struct {
	Enabled bool   `yaml:"enabled"`
	Dir     string `yaml:"dir"`
}

// TokenSHA256 is the form in which dssd.yaml stores a bearer token: the lower-case hex
// SHA-256 of the token string.
func TokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (e *Env) renderConfig(st *state) ([]byte, error) {
	c := yamlConfig{
		HSM: yamlHSM{
			Type:         "pkcs11",
			Module:       st.Module,
			TokenLabel:   TokenLabel,
			PINFile:      e.userPINFile(),
			SoftHSM2Conf: st.HSMConf,
			HealthKey:    keyRef(HealthKeyLabel, st.HealthKeyID).String(),
		},
		Store:     yamlStore{Type: "sqlite", Path: filepath.Join(e.dataDir(), "dssd.db")},
		SAD:       yamlSAD{KeyFile: e.secretFile("sad.key")},
		Timestamp: yamlTSA{URL: e.URL + "/dev/tsa", CA: e.RootCACert, TrustAnchors: []string{e.RootCACert}},
		// The dev OCSP responder and CRL are served by dssd itself, over TLS with the dev CA.
		Revocation: yamlRev{Enabled: true, CA: e.RootCACert, TrustAnchors: []string{e.RootCACert}, MaxAge: "1m"},
		Log:        yamlLog{Level: "info"},
		Dev:        yamlDev{Enabled: true, Dir: e.Root},
	}
	if st.AuditCheckpointKeyID != 0 {
		// Audit records and the chain head carry a MAC, and checkpoints can be signed, as in
		// production (docs/decisions.md §10).
		c.Store.AuditKeyFile = e.secretFile("audit.key")
		c.Store.AuditCheckpointKey = keyRef(AuditCheckpointKeyLabel, st.AuditCheckpointKeyID).String()
	}
	c.Listen.Addr = e.Addr
	c.Listen.TLS.Cert = e.TLSCert
	c.Listen.TLS.Key = e.TLSKey
	for _, u := range st.Users {
		c.Users = append(c.Users, yamlUser{Name: u.Name, TokenSHA256: []string{TokenSHA256(u.Token)}, PasswordHash: u.PasswordHash})
	}
	if st.OAuthSecret != "" {
		c.OAuth2.Clients = []yamlOAuthClient{{ID: DevOAuthClientID, SecretSHA256: []string{TokenSHA256(st.OAuthSecret)}, RedirectURIs: []string{DevRedirectURI}}}
	}
	c.CSC.V1 = true
	for _, cr := range st.Credentials {
		yc := yamlCred{
			ID: cr.ID, Owner: cr.Owner, Key: keyRef(cr.ID, cr.KeyID).String(), KeyType: cr.KeyType,
			Certificate: e.credCert(cr.ID), SCAL: cr.SCAL,
		}
		if cr.SCAL == 2 {
			yc.PINFile = e.secretFile(cr.ID + ".pin")
			yc.TOTPSecretFile = e.secretFile(cr.ID + ".totp")
		}
		c.Credentials = append(c.Credentials, yc)
	}
	var buf bytes.Buffer
	buf.WriteString("# dssd development configuration, written by \"dssd serve --dev\". Do not use in production.\n" +
		"# Rewritten when the listen address changes; see docs/config.md.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	return buf.Bytes(), nil
}
