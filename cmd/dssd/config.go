package main

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"dssd/dss/verify"
	"dssd/dss/xmlsafe"
	"dssd/hsm"
)

// Defaults applied by LoadConfig to fields left empty.
const (
	defaultAddr            = "127.0.0.1:8443"
	defaultMaxDocuments    = 16
	defaultRequestTimeout  = Duration(30 * time.Second)
	defaultMaxSessions     = 8
	defaultPoolWaitTimeout = Duration(2 * time.Second)
	defaultSignTimeout     = Duration(10 * time.Second)
	defaultSQLitePath      = "dssd.db"
	defaultStorePoll       = Duration(time.Second)
	maxGroupCommitWait     = 10 * time.Millisecond
	defaultSADTTL          = Duration(5 * time.Minute)
	maxSADTTL              = 5 * time.Minute
	defaultSADMaxFailures  = 5
	defaultTSATimeout      = Duration(10 * time.Second)
	defaultLogLevel        = "info"
	// maxConfigBytes bounds the configuration file read by LoadConfig.
	maxConfigBytes = 4 << 20
)

// Document and body size defaults (issue 11). A verify request carries the signature base64
// encoded, and an enveloping signature carries the document base64 encoded: the default body
// limit holds both for a document of limits.max_document_bytes, plus 1 MiB of message each.
const defaultMaxDocumentBytes = 64 << 20

func defaultMaxBodyFor(doc int64) int64 {
	sig := doc/3*4 + 1<<20
	return max(sig/3*4+1<<20, 64<<20)
}

// Config is the whole dssd configuration, read from one YAML file (docs/config.md).
type Config struct {
	Listen      ListenConfig       `yaml:"listen"`
	Limits      LimitsConfig       `yaml:"limits"`
	HSM         HSMConfig          `yaml:"hsm"`
	Store       StoreConfig        `yaml:"store"`
	SAD         SADConfig          `yaml:"sad"`
	Timestamp   TimestampConfig    `yaml:"timestamp"`
	Revocation  RevocationConfig   `yaml:"revocation"`
	Users       []UserConfig       `yaml:"users"`
	Credentials []CredentialConfig `yaml:"credentials"`
	Log         LogConfig          `yaml:"log"`
	Dev         DevConfig          `yaml:"dev"`
	Verify      VerifyConfig       `yaml:"verify"`
	// Guard and Metrics: overload limits, failed-authentication limits and the /metrics
	// listener (config_guard.go).
	Guard   GuardConfig   `yaml:"guard"`
	Metrics MetricsConfig `yaml:"metrics"`
	// The CSC API's OAuth2 server and CSC options (issue 13; config_oauth2.go).
	OAuth2 OAuth2Config `yaml:"oauth2"`
	CSC    CSCConfig    `yaml:"csc"`
	Async  AsyncConfig  `yaml:"async"` // config_async.go
	// Identity providers whose bearer JWTs authenticate users (config_idp.go).
	IdentityProviders []IdentityProviderConfig `yaml:"identity_providers"`

	// source is the file the configuration was loaded from (for the config audit event).
	source configSource
}

// configSource identifies a loaded configuration file.
type configSource struct {
	path   string
	sha256 [32]byte
}

// ListenConfig is the HTTPS listener. There is no plaintext listener.
type ListenConfig struct {
	Addr string    `yaml:"addr"`
	TLS  TLSConfig `yaml:"tls"`
}

// TLSConfig names the server certificate and key (PEM files) and, optionally, the CA
// certificates accepted for TLS client authentication.
type TLSConfig struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// LimitsConfig bounds every request.
type LimitsConfig struct {
	// MaxDocumentBytes bounds an XML document to sign or verify (after base64 decoding);
	// MaxBodyBytes, when not set, follows it (defaultMaxBodyFor). Issue 11.
	MaxDocumentBytes int64 `yaml:"max_document_bytes"`

	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxEnvelopeNodes bounds the nodes (elements, attributes, text, comments) of a request
	// body of the XML bindings; default xmlsafe.DefaultEnvelopeNodes (decisions §44).
	MaxEnvelopeNodes int64 `yaml:"max_envelope_nodes"`

	MaxDocuments   int      `yaml:"max_documents"`
	RequestTimeout Duration `yaml:"request_timeout"`

	// MTOM attachments (config_mtom.go, docs/config.md).
	MaxAttachmentBytes int64    `yaml:"max_attachment_bytes"`
	MaxAttachments     int      `yaml:"max_attachments"`
	MaxMTOMBytes       int64    `yaml:"max_mtom_bytes"`
	UploadTimeout      Duration `yaml:"upload_timeout"`
}

// HSMConfig selects and configures the key store.
type HSMConfig struct {
	Type            string   `yaml:"type"` // "pkcs11" (default) or "soft" (tests only)
	Module          string   `yaml:"module"`
	TokenLabel      string   `yaml:"token_label"`
	PINFile         string   `yaml:"pin_file"`
	PINEnv          string   `yaml:"pin_env"`
	SoftHSM2Conf    string   `yaml:"softhsm2_conf"`
	MaxSessions     int      `yaml:"max_sessions"`
	PoolWaitTimeout Duration `yaml:"pool_wait_timeout"`
	SignTimeout     Duration `yaml:"sign_timeout"`
	HealthKey       string   `yaml:"health_key"`
}

// StoreConfig selects the store for the audit log, SAD replay records and pending requests.
type StoreConfig struct {
	Type    string `yaml:"type"` // "sqlite" (default) or "postgres"
	Path    string `yaml:"path"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// AuditKeyFile holds at least 32 bytes of secret; with it every audit record carries an
	// HMAC, so someone who can write to the database cannot rebuild the chain.
	AuditKeyFile string `yaml:"audit_key_file"`
	// AuditCheckpointKey is the RFC 7512 URI of the key in the HSM (hsm.token_label) that
	// signs `dssd audit checkpoint` files and verifies them (`audit verify --checkpoint`).
	AuditCheckpointKey string `yaml:"audit_checkpoint_key"`
	// PollInterval is how often a node checks the store for changed credentials and users
	// (`dssd credential ...`, `dssd user ...`); default 1s.
	PollInterval Duration `yaml:"poll_interval"`
	// GroupCommitWait (sqlite) bounds how long the audit committer holds a transaction open
	// for the appends of the callers it just answered; nil: the store's default, 0: never.
	GroupCommitWait *Duration `yaml:"group_commit_wait"`
}

// SADConfig configures signature activation data (interface.md §5).
type SADConfig struct {
	KeyFile string   `yaml:"key_file"`
	TTL     Duration `yaml:"ttl"`
	// MaxFailures is the number of consecutive wrong PIN/OTP attempts after which a scal 2
	// credential is locked (default 5).
	MaxFailures int `yaml:"max_failures"`
}

// TimestampConfig names the RFC 3161 timestamp authorities used for XAdES B-T and above:
// one (url) or several tried in order (authorities). Methods and validation are in
// config_levels.go.
type TimestampConfig struct {
	URL          string      `yaml:"url"`
	CA           string      `yaml:"ca"`
	Timeout      Duration    `yaml:"timeout"`
	Authorities  []TSAConfig `yaml:"authorities"`
	TrustAnchors []string    `yaml:"trust_anchors"` // PEM files: the CAs TSA certificates must chain to
}

// UserConfig is one user and the ways it authenticates.
type UserConfig struct {
	Name             string   `yaml:"name"`
	TokenSHA256      []string `yaml:"token_sha256"`       // hex SHA-256 of bearer tokens
	ClientCertSHA256 []string `yaml:"client_cert_sha256"` // hex SHA-256 of certificate DER
	PasswordHash     string   `yaml:"password_hash"`      // argon2id PHC string: sign-in page of the CSC OAuth2 server
}

// CredentialConfig is one signing credential: a key in the HSM and its certificate chain.
type CredentialConfig struct {
	ID             string `yaml:"id"`
	Owner          string `yaml:"owner"`
	Key            string `yaml:"key"`         // RFC 7512 pkcs11: URI
	KeyType        string `yaml:"key_type"`    // RSA-2048|RSA-3072|RSA-4096|EC-P256|EC-P384
	Certificate    string `yaml:"certificate"` // PEM file: signer certificate first, then the chain
	SCAL           int    `yaml:"scal"`        // 1 or 2
	PINFile        string `yaml:"pin_file"`    // scal 2: file holding the signing PIN
	TOTPSecretFile string `yaml:"totp_secret_file"`
}

// VerifyConfig configures signature verification (VerifyRequest): the trust anchors of
// signers and timestamp authorities, the algorithm policy and the limits (docs/config.md).
// Methods, names and defaults are in serve_verify.go.
type VerifyConfig struct {
	TrustAnchors     []string `yaml:"trust_anchors"`     // PEM files; every certificate in them is an anchor
	Digests          []string `yaml:"digests"`           // sha256, sha384, sha512 (default), sha1 (legacy), or URIs
	SignatureMethods []string `yaml:"signature_methods"` // rsa-sha256 ... ecdsa-sha512 (default: SHA-2 RSA, RSA-PSS, ECDSA), or URIs
	MinRSABits       int      `yaml:"min_rsa_bits"`      // default 2048
	MaxSignatures    int      `yaml:"max_signatures"`    // per document, default 32
	MaxPrefixList    int      `yaml:"max_prefix_list"`   // distinct InclusiveNamespaces prefixes, default 64

	// Revocation freshness, signer purpose and per-request revocation caps (issue 10).
	RevocationFreshness Duration `yaml:"revocation_freshness"`  // how old a given "good" may be without a timestamp; default 0
	SignerEKUs          []string `yaml:"signer_ekus"`           // dotted OIDs allowing document signing; default documentSigning, emailProtection, MS and Adobe document signing, any
	MaxRevocationValues int      `yaml:"max_revocation_values"` // OCSP responses and CRLs per request, default 64
	MaxRevocationBytes  int64    `yaml:"max_revocation_bytes"`  // their total size per request, default 8 MiB
	MaxPathBuilds       int      `yaml:"max_path_builds"`       // certificate paths built per request, default 256

	// What one VerifyRequest may cost (issue 10): nodes of its documents, and nodes visited
	// by canonicalization. Defaults 500 000 and 2 000 000.
	MaxNodes     int64 `yaml:"max_nodes"`
	MaxC14NNodes int64 `yaml:"max_c14n_nodes"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level string `yaml:"level"` // debug, info, warn, error
}

// DevConfig switches on the development-only features.
type DevConfig struct {
	// Enabled mounts the dev-only endpoints (/dev/tsa, /dev/ocsp, /dev/crl). Never in production.
	Enabled bool `yaml:"enabled"`
	// Dir is the development directory made by devenv (its PKI serves the dev endpoints).
	Dir string `yaml:"dir"`
}

// Duration is a time.Duration written in YAML as a Go duration string ("30s", "1m30s").
type Duration time.Duration

// UnmarshalYAML accepts only a duration string with a unit; a bare number is ambiguous.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a string such as \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: want a value such as \"30s\" or \"2m\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Duration returns the value as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String returns the duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// LoadConfig reads the configuration file at path: strict decode (unknown fields are errors),
// relative paths resolved against the file's directory, defaults applied, then Validate.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, maxConfigBytes)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseConfig(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.source = configSource{path: abs, sha256: sha256.Sum256(data)}
	return c, nil
}

// parseConfig decodes data strictly, resolves relative paths against baseDir and applies
// defaults. It does not validate.
func parseConfig(data []byte, baseDir string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if err := rejectInlineSecrets(&doc); err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	c.resolvePaths(baseDir)
	c.applyDefaults()
	return &c, nil
}

// inlineSecretUse returns, for a key that would carry a secret in the file itself, the field
// to use instead. Such keys are not fields of Config (the strict decoder would reject them
// anyway); this gives the reason.
func inlineSecretUse(key string) (string, bool) {
	switch key {
	case "pin", "user_pin":
		return "pin_file or pin_env", true
	case "so_pin":
		return "nothing: dssd never needs the SO PIN", true
	case "password", "secret":
		return "a *_file or *_env field", true
	case "dsn":
		return "dsn_file or dsn_env", true
	case "token":
		return "token_sha256 (the hex SHA-256 of the token)", true
	case "totp_secret":
		return "totp_secret_file", true
	case "sad_key":
		return "sad.key_file", true
	case "audit_key":
		return "store.audit_key_file", true
	case "key_pem", "private_key":
		return "a file", true
	}
	return "", false
}

func rejectInlineSecrets(doc *yaml.Node) error {
	var errs []error
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if use, ok := inlineSecretUse(k.Value); ok {
					errs = append(errs, fmt.Errorf("%s (line %d): secrets are never given inline; use %s", p, k.Line, use))
					continue
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc, "")
	return errors.Join(errs...)
}

func (c *Config) resolvePaths(base string) {
	res := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	res(&c.Listen.TLS.Cert)
	res(&c.Listen.TLS.Key)
	res(&c.Listen.TLS.ClientCA)
	res(&c.HSM.PINFile)
	res(&c.HSM.SoftHSM2Conf)
	// A bare module name ("libsofthsm2.so") is left to the dynamic loader's search path.
	if strings.ContainsRune(c.HSM.Module, '/') {
		res(&c.HSM.Module)
	}
	res(&c.Store.Path)
	res(&c.Store.DSNFile)
	res(&c.Store.AuditKeyFile)
	res(&c.SAD.KeyFile)
	c.resolveLevelPaths(res)
	c.resolveIdentityProviderPaths(res)
	res(&c.Dev.Dir)
	for i := range c.Verify.TrustAnchors {
		res(&c.Verify.TrustAnchors[i])
	}
	for i := range c.Credentials {
		res(&c.Credentials[i].Certificate)
		res(&c.Credentials[i].PINFile)
		res(&c.Credentials[i].TOTPSecretFile)
	}
	if c.Store.Path == "" && (c.Store.Type == "" || c.Store.Type == "sqlite") {
		c.Store.Path = filepath.Join(base, defaultSQLitePath)
	}
}

func (c *Config) applyDefaults() {
	c.Listen.Addr = cmp.Or(c.Listen.Addr, defaultAddr)
	l := &c.Limits
	l.MaxDocumentBytes = cmp.Or(l.MaxDocumentBytes, defaultMaxDocumentBytes)
	l.MaxBodyBytes = cmp.Or(l.MaxBodyBytes, defaultMaxBodyFor(l.MaxDocumentBytes))
	l.MaxEnvelopeNodes = cmp.Or(l.MaxEnvelopeNodes, xmlsafe.DefaultEnvelopeNodes)
	l.MaxDocuments = cmp.Or(l.MaxDocuments, defaultMaxDocuments)
	l.RequestTimeout = cmp.Or(l.RequestTimeout, defaultRequestTimeout)
	c.mtomDefaults()
	c.guardDefaults()
	h := &c.HSM
	h.Type = cmp.Or(h.Type, "pkcs11")
	h.MaxSessions = cmp.Or(h.MaxSessions, defaultMaxSessions)
	h.PoolWaitTimeout = cmp.Or(h.PoolWaitTimeout, defaultPoolWaitTimeout)
	h.SignTimeout = cmp.Or(h.SignTimeout, defaultSignTimeout)
	c.Store.Type = cmp.Or(c.Store.Type, "sqlite")
	c.Store.PollInterval = cmp.Or(c.Store.PollInterval, defaultStorePoll)
	c.SAD.TTL = cmp.Or(c.SAD.TTL, defaultSADTTL)
	c.SAD.MaxFailures = cmp.Or(c.SAD.MaxFailures, defaultSADMaxFailures)
	c.applyLevelDefaults()
	c.Async.applyDefaults()
	c.Log.Level = cmp.Or(c.Log.Level, defaultLogLevel)
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// sha256RE matches a hex SHA-256, optionally with colons between bytes (openssl's form).
	sha256RE = regexp.MustCompile(`^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){31})$`)
)

// validKeyType reports whether s is a key type a credential may have.
func validKeyType(s string) bool {
	switch hsm.KeyAlgorithm(s) {
	case hsm.RSA2048, hsm.RSA3072, hsm.RSA4096, hsm.ECP256, hsm.ECP384:
		return true
	}
	return false
}

// Validate checks the whole configuration and returns every problem found, joined, each
// prefixed with the field path (e.g. "credentials[2].owner"). It reads the files the
// configuration names (certificates, PIN files) but never reports their content.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	c.validateListen(add)
	c.validateLimits(add)
	c.validateMTOM(add)
	c.validateGuard(add)
	c.validateHSM(add)
	c.validateStore(add)
	c.validateSAD(add)
	c.validateLevels(add) // timestamp, revocation
	c.validateOAuth2(add)
	c.validateIdentityProviders(add)
	c.Async.validate(add)
	users := c.validateUsers(add)
	c.validateCredentials(add, users)
	c.Verify.validate(add)
	c.validateLog(add)
	c.validateDev(add)
	return errors.Join(errs...)
}

// validateListen checks the listen section.
func (c *Config) validateListen(add func(field, format string, a ...any)) {
	if host, port, err := net.SplitHostPort(c.Listen.Addr); err != nil {
		add("listen.addr", "%q is not host:port", c.Listen.Addr)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		add("listen.addr", "port %q is not a number in 0..65535", port)
	} else if strings.ContainsAny(host, " /") {
		add("listen.addr", "bad host %q", host)
	}
	switch {
	case c.Listen.TLS.Cert == "" || c.Listen.TLS.Key == "":
		if c.Listen.TLS.Cert == "" {
			add("listen.tls.cert", "required (dssd has no plaintext listener)")
		}
		if c.Listen.TLS.Key == "" {
			add("listen.tls.key", "required (dssd has no plaintext listener)")
		}
	default:
		certOK := checkFile(add, "listen.tls.cert", c.Listen.TLS.Cert)
		keyOK := checkFile(add, "listen.tls.key", c.Listen.TLS.Key)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(c.Listen.TLS.Cert, c.Listen.TLS.Key); err != nil {
				add("listen.tls", "certificate and key do not load as a pair (%s)", tlsPairProblem(err))
			}
		}
	}
	if c.Listen.TLS.ClientCA != "" && checkFile(add, "listen.tls.client_ca", c.Listen.TLS.ClientCA) {
		if _, err := readCertificates(c.Listen.TLS.ClientCA); err != nil {
			add("listen.tls.client_ca", "%v", err)
		}
	}
}

// validateLimits checks the limits section (its MTOM part: validateMTOM).
func (c *Config) validateLimits(add func(field, format string, a ...any)) {
	if c.Limits.MaxDocumentBytes < 0 {
		add("limits.max_document_bytes", "must be positive")
	}
	if c.Limits.MaxBodyBytes < 0 {
		add("limits.max_body_bytes", "must be positive")
	}
	if c.Limits.MaxEnvelopeNodes < 0 {
		add("limits.max_envelope_nodes", "must be positive")
	}
	if c.Limits.MaxDocuments < 0 {
		add("limits.max_documents", "must be positive")
	}
	if c.Limits.RequestTimeout < 0 {
		add("limits.request_timeout", "must be positive")
	}
}

// validateStore checks the store section.
func (c *Config) validateStore(add func(field, format string, a ...any)) {
	switch c.Store.Type {
	case "sqlite":
		if c.Store.DSNFile != "" || c.Store.DSNEnv != "" {
			add("store", "dsn_file and dsn_env belong to type postgres")
		}
		if dir := filepath.Dir(c.Store.Path); !isDir(dir) {
			add("store.path", "directory %s does not exist", dir)
		}
		if w := c.Store.GroupCommitWait; w != nil && (w.Duration() < 0 || w.Duration() > maxGroupCommitWait) {
			add("store.group_commit_wait", "must be between 0s and %s", maxGroupCommitWait)
		}
	case "postgres":
		if c.Store.Path != "" {
			add("store.path", "belongs to type sqlite")
		}
		if c.Store.GroupCommitWait != nil {
			add("store.group_commit_wait", "belongs to type sqlite")
		}
		checkSecretSource(add, "store", "dsn_file", c.Store.DSNFile, "dsn_env", c.Store.DSNEnv)
		if c.SAD.KeyFile == "" {
			add("sad.key_file", "required with store type postgres: every node must check the SADs the others issue")
		}
	default:
		add("store.type", "%q is not one of sqlite, postgres", c.Store.Type)
	}
	checkKeyFile(add, "store.audit_key_file", c.Store.AuditKeyFile)
	if p := c.Store.PollInterval.Duration(); p < 100*time.Millisecond || p > 5*time.Minute {
		add("store.poll_interval", "must be between 100ms and 5m")
	}
	if k := c.Store.AuditCheckpointKey; k != "" {
		if ref, err := hsm.ParseKeyRef(k); err != nil {
			add("store.audit_checkpoint_key", "%v", err)
		} else if ref.Token != "" && c.HSM.TokenLabel != "" && ref.Token != c.HSM.TokenLabel {
			add("store.audit_checkpoint_key", "token %q is not hsm.token_label %q", ref.Token, c.HSM.TokenLabel)
		}
	}
}

// validateSAD checks the sad section.
func (c *Config) validateSAD(add func(field, format string, a ...any)) {
	checkKeyFile(add, "sad.key_file", c.SAD.KeyFile)
	if c.SAD.TTL <= 0 || c.SAD.TTL.Duration() > maxSADTTL {
		add("sad.ttl", "must be between 1s and %s", maxSADTTL)
	}
	if c.SAD.MaxFailures < 1 || c.SAD.MaxFailures > 100 {
		add("sad.max_failures", "must be between 1 and 100")
	}
}

// validateUsers checks the users section and returns the names of the users.
func (c *Config) validateUsers(add func(field, format string, a ...any)) map[string]bool {
	users := map[string]bool{}
	tokens := map[string]string{}
	certs := map[string]string{}
	anyClientCert := false
	for i, u := range c.Users {
		f := fmt.Sprintf("users[%d]", i)
		if checkName(add, f+".name", u.Name) && users[u.Name] {
			add(f+".name", "duplicate user %q", u.Name)
		}
		users[u.Name] = true
		if len(u.TokenSHA256) == 0 && len(u.ClientCertSHA256) == 0 {
			add(f, "user %q has neither token_sha256 nor client_cert_sha256 and cannot authenticate", u.Name)
		}
		for j, h := range u.TokenSHA256 {
			ff := fmt.Sprintf("%s.token_sha256[%d]", f, j)
			if !sha256RE.MatchString(h) {
				add(ff, "not a hex SHA-256 (64 hex digits)")
				continue
			}
			h = normHex(h)
			if prev, ok := tokens[h]; ok {
				add(ff, "the same token is already listed at %s", prev)
			}
			tokens[h] = ff
		}
		for j, h := range u.ClientCertSHA256 {
			ff := fmt.Sprintf("%s.client_cert_sha256[%d]", f, j)
			if !sha256RE.MatchString(h) {
				add(ff, "not a hex SHA-256 (64 hex digits)")
				continue
			}
			anyClientCert = true
			h = normHex(h)
			if prev, ok := certs[h]; ok {
				add(ff, "the same certificate is already listed at %s", prev)
			}
			certs[h] = ff
		}
	}
	if anyClientCert && c.Listen.TLS.ClientCA == "" {
		add("listen.tls.client_ca", "required when a user has client_cert_sha256 (client certificates are only requested with a client CA)")
	}
	return users
}

// validateCredentials checks the credentials section; users are the configured user names.
func (c *Config) validateCredentials(add func(field, format string, a ...any), users map[string]bool) {
	ids := map[string]string{}
	keys := map[string]string{}
	for i, cr := range c.Credentials {
		f := fmt.Sprintf("credentials[%d]", i)
		if checkName(add, f+".id", cr.ID) {
			if prev, ok := ids[cr.ID]; ok {
				add(f+".id", "duplicate credential id %q (also %s)", cr.ID, prev)
			}
			ids[cr.ID] = f
		}
		switch {
		case cr.Owner == "":
			add(f+".owner", "required")
		case !users[cr.Owner]:
			add(f+".owner", "unknown user %q", cr.Owner)
		}
		if cr.Key == "" {
			add(f+".key", "required (a pkcs11: URI)")
		} else if ref, err := hsm.ParseKeyRef(cr.Key); err != nil {
			add(f+".key", "%v", err)
		} else {
			if ref.Token != "" && c.HSM.TokenLabel != "" && ref.Token != c.HSM.TokenLabel {
				add(f+".key", "token %q is not hsm.token_label %q", ref.Token, c.HSM.TokenLabel)
			}
			k := ref.String()
			if prev, ok := keys[k]; ok {
				add(f+".key", "the same key is already used by %s (a key belongs to one credential)", prev)
			}
			keys[k] = f
		}
		if !validKeyType(cr.KeyType) {
			add(f+".key_type", "%q is not one of RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384", cr.KeyType)
		}
		if cr.Certificate == "" {
			add(f+".certificate", "required")
		} else if checkFile(add, f+".certificate", cr.Certificate) {
			if chain, err := readCertificates(cr.Certificate); err != nil {
				add(f+".certificate", "%v", err)
			} else {
				if got := publicKeyType(chain[0].PublicKey); validKeyType(cr.KeyType) && got != cr.KeyType {
					add(f+".certificate", "the signer certificate holds a %s key, key_type says %s", got, cr.KeyType)
				}
				// The verifier's rule for signers (keyUsage, extendedKeyUsage) applies to dssd's own.
				if err := verify.CheckSignerCertificate(chain[0], c.Verify.SignerEKUs); err != nil {
					add(f+".certificate", "%v", err)
				}
			}
		}
		switch cr.SCAL {
		case 1:
			if cr.PINFile != "" || cr.TOTPSecretFile != "" {
				add(f, "pin_file and totp_secret_file belong to scal 2 credentials")
			}
		case 2:
			if cr.PINFile == "" {
				add(f+".pin_file", "required for scal 2")
			} else if checkFile(add, f+".pin_file", cr.PINFile) {
				if b, err := os.ReadFile(cr.PINFile); err != nil || len(bytes.TrimSpace(b)) == 0 {
					add(f+".pin_file", "is empty or unreadable")
				}
			}
			if cr.TOTPSecretFile == "" {
				add(f+".totp_secret_file", "required for scal 2")
			} else if checkFile(add, f+".totp_secret_file", cr.TOTPSecretFile) {
				if b, err := os.ReadFile(cr.TOTPSecretFile); err != nil || !isBase32Secret(b) {
					add(f+".totp_secret_file", "must hold a base32 TOTP secret of at least 16 bytes")
				}
			}
		default:
			add(f+".scal", "must be 1 or 2, got %d", cr.SCAL)
		}
	}
}

// validateLog checks the log section.
func (c *Config) validateLog(add func(field, format string, a ...any)) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
}

// validateDev checks the dev section.
func (c *Config) validateDev(add func(field, format string, a ...any)) {
	if c.Dev.Enabled {
		if c.Dev.Dir == "" {
			add("dev.dir", "required when dev.enabled is true")
		} else if !isDir(c.Dev.Dir) {
			add("dev.dir", "%s is not a directory", c.Dev.Dir)
		}
	} else if c.Dev.Dir != "" {
		add("dev.dir", "set but dev.enabled is false")
	}
}

func (c *Config) validateHSM(add func(field, format string, a ...any)) {
	h := c.HSM
	switch h.Type {
	case "pkcs11":
		if h.Module == "" {
			add("hsm.module", "required for type pkcs11 (for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)")
		} else if filepath.IsAbs(h.Module) {
			checkFile(add, "hsm.module", h.Module)
		}
		if h.TokenLabel == "" {
			add("hsm.token_label", "required for type pkcs11 (tokens are selected by label)")
		} else if len(h.TokenLabel) > 32 {
			add("hsm.token_label", "longer than 32 bytes")
		}
		checkSecretSource(add, "hsm", "pin_file", h.PINFile, "pin_env", h.PINEnv)
		if h.MaxSessions < 2 {
			add("hsm.max_sessions", "must be at least 2")
		}
		if h.PoolWaitTimeout <= 0 {
			add("hsm.pool_wait_timeout", "must be positive (0 would wait forever)")
		}
		if h.SignTimeout <= h.PoolWaitTimeout {
			add("hsm.sign_timeout", "must exceed hsm.pool_wait_timeout (%s)", h.PoolWaitTimeout)
		}
		if h.SoftHSM2Conf != "" {
			checkFile(add, "hsm.softhsm2_conf", h.SoftHSM2Conf)
		}
		if h.HealthKey != "" {
			if ref, err := hsm.ParseKeyRef(h.HealthKey); err != nil {
				add("hsm.health_key", "%v", err)
			} else if ref.Token != "" && h.TokenLabel != "" && ref.Token != h.TokenLabel {
				add("hsm.health_key", "token %q is not hsm.token_label %q", ref.Token, h.TokenLabel)
			}
		}
	case "soft":
		if h.Module != "" || h.TokenLabel != "" || h.PINFile != "" || h.PINEnv != "" || h.SoftHSM2Conf != "" {
			add("hsm", "module, token_label, pin_file, pin_env and softhsm2_conf belong to type pkcs11")
		}
	default:
		add("hsm.type", "%q is not one of pkcs11, soft", h.Type)
	}
}

// checkSecretSource requires exactly one of a file and an environment variable.
func checkSecretSource(add func(field, format string, a ...any), section, fileField, file, envField, env string) {
	switch {
	case file == "" && env == "":
		add(section, "one of %s and %s is required", fileField, envField)
	case file != "" && env != "":
		add(section, "give only one of %s and %s", fileField, envField)
	case file != "":
		if checkFile(add, section+"."+fileField, file) {
			if b, err := os.ReadFile(file); err != nil || len(bytes.TrimSpace(b)) == 0 {
				add(section+"."+fileField, "is empty or unreadable")
			}
		}
	default:
		if !envRE.MatchString(env) {
			add(section+"."+envField, "%q is not an environment variable name", env)
		} else if os.Getenv(env) == "" {
			add(section+"."+envField, "environment variable %s is not set", env)
		}
	}
}

// checkName reports a missing name or one that is not a nameRE name, and returns whether the
// name is well-formed.
func checkName(add func(field, format string, a ...any), field, name string) bool {
	switch {
	case name == "":
		add(field, "required")
		return false
	case !nameRE.MatchString(name):
		add(field, "%q: use letters, digits and . _ @ - (at most 128)", name)
		return false
	}
	return true
}

// checkKeyFile reports a key file (optional: "" is fine) that is missing, unreadable or holds
// less than 32 bytes of secret.
func checkKeyFile(add func(field, format string, a ...any), field, path string) {
	if path == "" || !checkFile(add, field, path) {
		return
	}
	if b, err := os.ReadFile(path); err != nil {
		add(field, "cannot read: %v", errors.Unwrap(err))
	} else if len(bytes.TrimSpace(b)) < 32 {
		add(field, "must hold at least 32 bytes of secret")
	}
}

// checkFile reports a missing or non-regular file and returns whether the file is usable.
func checkFile(add func(field, format string, a ...any), field, path string) bool {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		add(field, "file %s does not exist", path)
		return false
	case err != nil:
		add(field, "file %s: %v", path, errors.Unwrap(err))
		return false
	case !st.Mode().IsRegular():
		add(field, "%s is not a regular file", path)
		return false
	}
	return true
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// normHex is the form in which hashes are compared: lower case, no colons.
func normHex(h string) string { return strings.ToLower(strings.ReplaceAll(h, ":", "")) }

// readCertificates returns every CERTIFICATE block of a PEM file, in order.
func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", errors.Unwrap(err))
	}
	return decodeCertificates(data, "here", "no PEM certificate found")
}

// publicKeyType names a public key in the KeyType vocabulary.
func publicKeyType(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "EC-P256"
		case elliptic.P384():
			return "EC-P384"
		case elliptic.P521():
			return "EC-P521"
		}
		return "EC-unknown"
	}
	return fmt.Sprintf("%T", pub)
}

// isBase32Secret reports whether b holds a base32 (RFC 4648, padding optional) secret of at
// least 16 bytes, as used for TOTP.
func isBase32Secret(b []byte) bool {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(string(b)), "="))
	if s == "" {
		return false
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	for _, r := range s {
		if !strings.ContainsRune(alphabet, r) {
			return false
		}
	}
	return len(s)*5/8 >= 16
}

// tlsPairProblem describes a tls.LoadX509KeyPair failure without echoing key material.
func tlsPairProblem(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "private key does not match public key") {
		return "private key does not match the certificate"
	}
	if strings.Contains(msg, "failed to find") || strings.Contains(msg, "failed to parse") {
		return "bad PEM content"
	}
	return "unusable"
}
