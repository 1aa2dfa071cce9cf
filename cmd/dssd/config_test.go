package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testKey returns a fresh software key of the given KeyType.
func testKey(t *testing.T, keyType string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch keyType {
	case "RSA-2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA-3072":
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case "RSA-4096":
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	case "EC-P256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EC-P384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		t.Fatalf("testKey: unknown key type %q", keyType)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeCert writes a self-signed certificate for key as PEM to path (and the key, PKCS#8, to
// keyPath when not empty).
func writeCert(t *testing.T, path, keyPath string, key crypto.Signer) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: filepath.Base(path)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if keyPath != "" {
		p8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// materialize creates every file a parsed configuration names, with content of the right
// kind: a TLS pair, CA certificates, credential certificates holding a key of the declared
// type, PIN and secret files.
func materialize(t *testing.T, c *Config) {
	t.Helper()
	if c.Listen.TLS.Cert != "" {
		writeCert(t, c.Listen.TLS.Cert, c.Listen.TLS.Key, testKey(t, "EC-P256"))
	}
	for _, ca := range []string{c.Listen.TLS.ClientCA, c.Timestamp.CA} {
		if ca != "" {
			writeCert(t, ca, "", testKey(t, "EC-P256"))
		}
	}
	if c.HSM.PINFile != "" {
		writeFile(t, c.HSM.PINFile, []byte("123456\n"))
	}
	if c.SAD.KeyFile != "" {
		writeFile(t, c.SAD.KeyFile, []byte(strings.Repeat("k", 32)))
	}
	if c.Store.Type == "sqlite" {
		if err := os.MkdirAll(filepath.Dir(c.Store.Path), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, cr := range c.Credentials {
		if cr.Certificate != "" {
			writeCert(t, cr.Certificate, "", testKey(t, cr.KeyType))
		}
		if cr.PINFile != "" {
			writeFile(t, cr.PINFile, []byte("87654321\n"))
		}
		if cr.TOTPSecretFile != "" {
			writeFile(t, cr.TOTPSecretFile, []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"))
		}
	}
}

// TestExampleConfig loads docs/dssd.example.yaml from a copy in a temporary directory where
// every file it names has been created, and requires LoadConfig (hence Validate) to pass.
func TestExampleConfig(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "docs", "dssd.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	parsed, err := parseConfig(example, dir)
	if err != nil {
		t.Fatalf("parse example: %v", err)
	}
	if _, err := os.Stat(parsed.HSM.Module); err != nil {
		t.Fatalf("the example names the PKCS#11 module %s: install softhsm2 (apt-get install softhsm2)", parsed.HSM.Module)
	}
	materialize(t, parsed)
	path := filepath.Join(dir, "dssd.yaml")
	writeFile(t, path, example)

	c, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig(example): %v", err)
	}
	// Relative paths are resolved against the configuration's directory.
	if want := filepath.Join(dir, "tls", "server.pem"); c.Listen.TLS.Cert != want {
		t.Errorf("listen.tls.cert = %q, want %q", c.Listen.TLS.Cert, want)
	}
	if want := filepath.Join(dir, "certs", "alice-qes.pem"); c.Credentials[1].Certificate != want {
		t.Errorf("credentials[1].certificate = %q, want %q", c.Credentials[1].Certificate, want)
	}
	if c.Limits.RequestTimeout.Duration() != 30*time.Second || c.HSM.PoolWaitTimeout.Duration() != 2*time.Second {
		t.Errorf("durations not decoded: %v %v", c.Limits.RequestTimeout, c.HSM.PoolWaitTimeout)
	}
	if len(c.Users) != 2 || len(c.Credentials) != 3 || c.Credentials[1].SCAL != 2 {
		t.Errorf("unexpected users/credentials: %+v %+v", c.Users, c.Credentials)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yml := `
listen: {tls: {cert: s.pem, key: s.key}}
hsm: {module: /usr/lib/softhsm/libsofthsm2.so, token_label: t, pin_env: DSSD_TEST_DEFAULTS_PIN}
`
	c, err := parseConfig([]byte(yml), dir)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen.addr", c.Listen.Addr, "127.0.0.1:8443"},
		{"limits.max_document_bytes", c.Limits.MaxDocumentBytes, int64(64 << 20)},
		{"limits.max_body_bytes", c.Limits.MaxBodyBytes, int64(121751320)}, // base64 of an enveloping signature of 64 MiB, base64 again
		{"limits.max_envelope_nodes", c.Limits.MaxEnvelopeNodes, int64(400000)},
		{"limits.max_documents", c.Limits.MaxDocuments, 16},
		{"limits.request_timeout", c.Limits.RequestTimeout.Duration(), 30 * time.Second},
		{"hsm.type", c.HSM.Type, "pkcs11"},
		{"hsm.max_sessions", c.HSM.MaxSessions, 8},
		{"hsm.pool_wait_timeout", c.HSM.PoolWaitTimeout.Duration(), 2 * time.Second},
		{"hsm.sign_timeout", c.HSM.SignTimeout.Duration(), 10 * time.Second},
		{"store.type", c.Store.Type, "sqlite"},
		{"store.path", c.Store.Path, filepath.Join(dir, "dssd.db")},
		{"sad.ttl", c.SAD.TTL.Duration(), 5 * time.Minute},
		{"timestamp.timeout", c.Timestamp.Timeout.Duration(), 10 * time.Second},
		{"log.level", c.Log.Level, "info"},
		{"dev.enabled", c.Dev.Enabled, false},
		{"listen.tls.cert", c.Listen.TLS.Cert, filepath.Join(dir, "s.pem")},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// baseConfig is a valid configuration; the rejection cases change one thing in it.
const baseConfig = `listen:
  addr: 127.0.0.1:0
  tls:
    cert: tls/server.pem
    key: tls/server.key
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: dssd-test
  pin_file: secrets/hsm.pin
  health_key: "pkcs11:token=dssd-test;object=dssd-health"
users:
  - name: alice
    token_sha256: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]
  - name: bob
    token_sha256: [bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]
credentials:
  - id: alice-rsa
    owner: alice
    key: "pkcs11:token=dssd-test;object=alice-rsa;id=%01"
    key_type: RSA-2048
    certificate: certs/alice-rsa.pem
    scal: 1
  - id: alice-qes
    owner: alice
    key: "pkcs11:token=dssd-test;object=alice-qes;id=%02"
    key_type: EC-P256
    certificate: certs/alice-qes.pem
    scal: 2
    pin_file: secrets/alice-qes.pin
    totp_secret_file: secrets/alice-qes.totp
  - id: bob-ec
    owner: bob
    key: "pkcs11:token=dssd-test;object=bob-ec;id=%03"
    key_type: EC-P384
    certificate: certs/bob-ec.pem
    scal: 1
`

// fixture writes baseConfig and its files into a new directory and returns the directory.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	c, err := parseConfig([]byte(baseConfig), dir)
	if err != nil {
		t.Fatal(err)
	}
	materialize(t, c)
	return dir
}

func TestBaseConfigValid(t *testing.T) {
	t.Parallel()
	dir := fixture(t)
	writeFile(t, filepath.Join(dir, "dssd.yaml"), []byte(baseConfig))
	if _, err := LoadConfig(filepath.Join(dir, "dssd.yaml")); err != nil {
		t.Fatalf("base config rejected: %v", err)
	}
}

func TestConfigRejections(t *testing.T) {
	t.Parallel()
	dir := fixture(t) // shared, read-only for the cases
	rep := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				panic("test case edits text that is not in baseConfig: " + old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	tests := []struct {
		name    string
		edit    func(string) string
		setup   func(t *testing.T, dir string)
		wantErr []string // every substring must appear
	}{
		{name: "unknown field", edit: rep("listen:\n", "listen:\n  adr: x\n"),
			wantErr: []string{"field adr not found"}},
		{name: "unknown top-level section", edit: func(s string) string { return s + "extras: {a: 1}\n" },
			wantErr: []string{"field extras not found"}},
		{name: "inline hsm pin", edit: rep("  pin_file: secrets/hsm.pin\n", "  pin: \"1234\"\n"),
			wantErr: []string{"hsm.pin", "never given inline", "pin_file or pin_env"}},
		{name: "inline credential pin", edit: rep("    pin_file: secrets/alice-qes.pin\n", "    pin: \"1234\"\n"),
			wantErr: []string{"credentials[1].pin", "never given inline"}},
		{name: "inline bearer token", edit: rep("  - name: bob\n", "  - name: bob\n    token: abc\n"),
			wantErr: []string{"users[1].token", "token_sha256"}},
		{name: "pin in key uri", edit: rep("object=alice-rsa;id=%01", "object=alice-rsa;id=%01?pin-value=1234"),
			wantErr: []string{"credentials[0].key", "pin-value"}},
		{name: "no pin source", edit: rep("  pin_file: secrets/hsm.pin\n", ""),
			wantErr: []string{"hsm: one of pin_file and pin_env is required"}},
		{name: "both pin sources", edit: rep("  pin_file: secrets/hsm.pin\n", "  pin_file: secrets/hsm.pin\n  pin_env: DSSD_TEST_PIN\n"),
			wantErr: []string{"only one of pin_file and pin_env"}},
		{name: "pin env unset", edit: rep("  pin_file: secrets/hsm.pin\n", "  pin_env: DSSD_TEST_CONFIG_SURELY_UNSET\n"),
			wantErr: []string{"hsm.pin_env", "not set"}},
		{name: "missing pin file", edit: rep("secrets/hsm.pin", "secrets/nope.pin"),
			wantErr: []string{"hsm.pin_file", "does not exist"}},
		{name: "unknown owner", edit: rep("    owner: bob\n", "    owner: carol\n"),
			wantErr: []string{"credentials[2].owner", `unknown user "carol"`}},
		{name: "duplicate credential id", edit: rep("  - id: bob-ec\n", "  - id: alice-rsa\n"),
			wantErr: []string{"credentials[2].id", `duplicate credential id "alice-rsa"`}},
		{name: "duplicate user", edit: rep("  - name: bob\n", "  - name: alice\n"),
			wantErr: []string{"users[1].name", "duplicate user"}},
		{name: "bad key uri", edit: rep("pkcs11:token=dssd-test;object=alice-rsa;id=%01", "file:///etc/key.pem"),
			wantErr: []string{"credentials[0].key", "scheme"}},
		{name: "key on another token", edit: rep("token=dssd-test;object=bob-ec", "token=other;object=bob-ec"),
			wantErr: []string{"credentials[2].key", "not hsm.token_label"}},
		{name: "same key twice", edit: rep("object=bob-ec;id=%03", "object=alice-rsa;id=%01"),
			wantErr: []string{"credentials[2].key", "already used by credentials[0]"}},
		{name: "scal 3", edit: rep("    scal: 1\n  - id: alice-qes", "    scal: 3\n  - id: alice-qes"),
			wantErr: []string{"credentials[0].scal", "must be 1 or 2"}},
		{name: "scal missing", edit: rep("    certificate: certs/bob-ec.pem\n    scal: 1\n", "    certificate: certs/bob-ec.pem\n"),
			wantErr: []string{"credentials[2].scal", "must be 1 or 2"}},
		{name: "scal 2 without totp", edit: rep("    totp_secret_file: secrets/alice-qes.totp\n", ""),
			wantErr: []string{"credentials[1].totp_secret_file", "required for scal 2"}},
		{name: "scal 1 with pin", edit: rep("    key_type: EC-P384\n", "    key_type: EC-P384\n    pin_file: secrets/alice-qes.pin\n"),
			wantErr: []string{"credentials[2]", "belong to scal 2"}},
		{name: "bad key type", edit: rep("RSA-2048", "RSA-1024"),
			wantErr: []string{"credentials[0].key_type", "RSA-1024"}},
		{name: "key type differs from certificate", edit: rep("key_type: EC-P384", "key_type: EC-P256"),
			wantErr: []string{"credentials[2].certificate", "holds a EC-P384 key, key_type says EC-P256"}},
		{name: "missing certificate file", edit: rep("certs/alice-rsa.pem", "certs/gone.pem"),
			wantErr: []string{"credentials[0].certificate", "does not exist"}},
		{name: "credential certificate for TLS only", edit: rep("certs/alice-rsa.pem", "certs/tls-only.pem"),
			setup: func(t *testing.T, dir string) {
				key := testKey(t, "RSA-2048")
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tls only"},
					NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
					KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "certs", "tls-only.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
			},
			wantErr: []string{"credentials[0].certificate", "not for document signing", "serverAuth"}},
		{name: "certificate not pem", edit: rep("certs/alice-rsa.pem", "secrets/hsm.pin"),
			wantErr: []string{"credentials[0].certificate", "no PEM certificate"}},
		{name: "no tls", edit: rep("    cert: tls/server.pem\n    key: tls/server.key\n", ""),
			wantErr: []string{"listen.tls.cert: required", "listen.tls.key: required"}},
		{name: "tls key mismatch", edit: rep("key: tls/server.key", "key: tls/other.key"),
			setup: func(t *testing.T, dir string) {
				writeCert(t, filepath.Join(dir, "tls", "other.pem"), filepath.Join(dir, "tls", "other.key"), testKey(t, "EC-P256"))
			},
			wantErr: []string{"listen.tls", "does not match"}},
		{name: "bad addr", edit: rep("127.0.0.1:0", "localhost"),
			wantErr: []string{"listen.addr"}},
		{name: "bad token hash", edit: rep("[aaaa", "[zzzz"),
			wantErr: []string{"users[0].token_sha256[0]", "64 hex digits"}},
		{name: "shared token", edit: rep("[bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]", "[AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA]"),
			wantErr: []string{"users[1].token_sha256[0]", "already listed at users[0]"}},
		{name: "client cert without client ca", edit: rep("  - name: bob\n", "  - name: bob\n    client_cert_sha256: [cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc]\n"),
			wantErr: []string{"listen.tls.client_ca", "required"}},
		{name: "user without credentials to log in", edit: rep("    token_sha256: [bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]\n", ""),
			wantErr: []string{"users[1]", "cannot authenticate"}},
		{name: "bad duration", edit: func(s string) string { return s + "limits: {request_timeout: 30}\n" },
			wantErr: []string{"duration"}},
		{name: "negative limit", edit: func(s string) string { return s + "limits: {max_body_bytes: -1}\n" },
			wantErr: []string{"limits.max_body_bytes"}},
		{name: "negative verify node limit", edit: func(s string) string { return s + "verify: {max_nodes: -1}\n" },
			wantErr: []string{"verify.max_nodes", "between 1 and"}},
		{name: "negative verify walk budget", edit: func(s string) string { return s + "verify: {max_c14n_nodes: -5}\n" },
			wantErr: []string{"verify.max_c14n_nodes", "between 1 and"}},
		{name: "negative document limit", edit: func(s string) string { return s + "limits: {max_document_bytes: -1}\n" },
			wantErr: []string{"limits.max_document_bytes"}},
		{name: "bad hsm type", edit: rep("hsm:\n", "hsm:\n  type: magic\n"),
			wantErr: []string{"hsm.type", "magic"}},
		{name: "max sessions 1", edit: rep("hsm:\n", "hsm:\n  max_sessions: 1\n"),
			wantErr: []string{"hsm.max_sessions", "at least 2"}},
		{name: "sign timeout below pool wait", edit: rep("hsm:\n", "hsm:\n  pool_wait_timeout: 5s\n  sign_timeout: 5s\n"),
			wantErr: []string{"hsm.sign_timeout", "must exceed"}},
		{name: "bad health key", edit: rep("object=dssd-health", "object=dssd-health;pin-value=1"),
			wantErr: []string{"hsm.health_key"}},
		{name: "sad ttl too long", edit: func(s string) string { return s + "sad: {ttl: 10m}\n" },
			wantErr: []string{"sad.ttl"}},
		{name: "postgres without dsn", edit: func(s string) string { return s + "store: {type: postgres}\n" },
			wantErr: []string{"store: one of dsn_file and dsn_env", "sad.key_file"}},
		{name: "postgres with sqlite path", edit: func(s string) string {
			return s + "store: {type: postgres, path: x.db, dsn_env: PATH}\nsad: {key_file: secrets/hsm.pin}\n"
		},
			wantErr: []string{"store.path: belongs to type sqlite", "sad.key_file: must hold at least 32 bytes"}},
		{name: "group commit wait too long", edit: func(s string) string { return s + "store: {group_commit_wait: 20ms}\n" },
			wantErr: []string{"store.group_commit_wait: must be between 0s and 10ms"}},
		{name: "group commit wait with postgres", edit: func(s string) string {
			return s + "store: {type: postgres, group_commit_wait: 1ms, dsn_env: PATH}\nsad: {key_file: secrets/hsm.pin}\n"
		},
			wantErr: []string{"store.group_commit_wait: belongs to type sqlite"}},
		{name: "bad log level", edit: func(s string) string { return s + "log: {level: loud}\n" },
			wantErr: []string{"log.level"}},
		{name: "dev without dir", edit: func(s string) string { return s + "dev: {enabled: true}\n" },
			wantErr: []string{"dev.dir", "required"}},
		{name: "two documents", edit: func(s string) string { return s + "---\nlog: {level: info}\n" },
			wantErr: []string{"more than one YAML document"}},
		{name: "several errors joined", edit: func(s string) string {
			s = strings.Replace(s, "    owner: bob\n", "    owner: carol\n", 1)
			return strings.Replace(s, "RSA-2048", "RSA-1", 1)
		}, wantErr: []string{"credentials[2].owner", "credentials[0].key_type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := dir
			if tc.setup != nil {
				d = fixture(t)
				tc.setup(t, d)
			}
			// The configuration sits beside the fixture files; each case has its own file name.
			path := filepath.Join(d, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			text := tc.edit(baseConfig)
			writeFile(t, path, []byte(text))
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatalf("LoadConfig accepted:\n%s", text)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
			if strings.Contains(err.Error(), "1234") {
				t.Errorf("error echoes a PIN: %v", err)
			}
		})
	}
}

func TestDurationYAML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{`"250ms"`, 250 * time.Millisecond, true},
		{"30", 0, false},
		{"soon", 0, false},
		{"[1s]", 0, false},
	} {
		var c Config
		_, err := parseConfigInto(t, "limits: {request_timeout: "+tc.in+"}\n", &c)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && c.Limits.RequestTimeout.Duration() != tc.want {
			t.Errorf("%s = %v, want %v", tc.in, c.Limits.RequestTimeout.Duration(), tc.want)
		}
	}
}

func parseConfigInto(t *testing.T, yml string, dst *Config) (*Config, error) {
	t.Helper()
	c, err := parseConfig([]byte(yml), t.TempDir())
	if err == nil {
		*dst = *c
	}
	return c, err
}

func TestOAuth2ConfigValidation(t *testing.T) {
	bad := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"region", func(c *Config) { c.CSC.Region = "Germany" }, "csc.region"},
		{"password hash", func(c *Config) { c.Users[0].PasswordHash = "plain" }, "password_hash"},
		{"no secret", func(c *Config) {
			c.OAuth2.Clients = []OAuth2ClientConfig{{ID: "c", RedirectURIs: []string{"https://app.example/cb"}}}
		}, "client_secret_sha256"},
		{"http redirect off loopback", func(c *Config) {
			c.OAuth2.Clients = []OAuth2ClientConfig{{ID: "c", SecretSHA256: []string{strings.Repeat("ab", 32)}, RedirectURIs: []string{"http://app.example/cb"}}}
		}, "loopback"},
		{"fragment", func(c *Config) {
			c.OAuth2.Clients = []OAuth2ClientConfig{{ID: "c", SecretSHA256: []string{strings.Repeat("ab", 32)}, RedirectURIs: []string{"https://app.example/cb#x"}}}
		}, "fragment"},
		{"duplicate client", func(c *Config) {
			cl := OAuth2ClientConfig{ID: "c", SecretSHA256: []string{strings.Repeat("ab", 32)}, RedirectURIs: []string{"https://app.example/cb"}}
			c.OAuth2.Clients = []OAuth2ClientConfig{cl, cl}
		}, "duplicate client"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.Users = []UserConfig{{Name: "alice", TokenSHA256: []string{strings.Repeat("cd", 32)}}}
			tt.edit(&c)
			var msgs []string
			c.validateOAuth2(func(field, format string, a ...any) { msgs = append(msgs, field+": "+fmt.Sprintf(format, a...)) })
			if !strings.Contains(strings.Join(msgs, "\n"), tt.want) {
				t.Errorf("validation %q, want %q", msgs, tt.want)
			}
		})
	}
	var ok Config
	ok.CSC.Region = "DE"
	ok.OAuth2.Clients = []OAuth2ClientConfig{{ID: "c", SecretSHA256: []string{strings.Repeat("ab", 32)}, RedirectURIs: []string{"http://127.0.0.1:9/cb", "https://app.example/cb"}}}
	ok.validateOAuth2(func(field, format string, a ...any) {
		t.Errorf("valid config refused: %s: %s", field, fmt.Sprintf(format, a...))
	})
}
