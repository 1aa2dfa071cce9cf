// Package xadestest is test support for XAdES levels above B-B: a local RFC 3161 timestamp
// authority driven by `openssl ts -reply`, with its own CA and a TSA certificate carrying a
// critical timeStamping extended key usage, and the independent token check
// `openssl ts -verify`. Tests of dss/xades and dss use it; production code never imports it.
package xadestest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TSA is a local timestamp authority. Its Timestamp method has the shape of dss.Timestamper.
type TSA struct {
	Name  string
	CA    *x509.Certificate // self-signed root of the TSA
	Cert  *x509.Certificate // the TSA's signing certificate, issued by CA
	dir   string
	mu    sync.Mutex
	calls int
}

// Require fails the test when openssl is missing.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed for the test timestamp authority (apt-get install openssl)")
	}
}

var (
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// NewTSA creates a CA and a TSA certificate (ECDSA P-256 keys) in a fresh t.TempDir() and
// the openssl configuration to answer requests with them. The token carries the TSA
// certificate and, with withCA, the CA certificate too.
func NewTSA(t testing.TB, name string, withCA bool) *TSA {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	now := time.Now().Add(-time.Hour).UTC()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " root", Organization: []string{"dssd tests"}},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Go never marks ExtKeyUsage critical; RFC 3161 wants it so, and openssl checks.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name, Organization: []string{"dssd tests"}},
		NotBefore: now, NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(f string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	write("tsa.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write("tsa.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	write("serial", []byte("01\n"))
	chain := ""
	if withCA {
		chain = "certs = $dir/ca.pem\n"
	}
	write("ts.cnf", []byte(`[ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = `+dir+`
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
`+chain+`signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`))
	return &TSA{Name: name, CA: ca, Cert: cert, dir: dir}
}

// CAFile is the PEM file of the TSA's CA.
func (a *TSA) CAFile() string { return filepath.Join(a.dir, "ca.pem") }

// Calls is the number of tokens issued so far.
func (a *TSA) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// Timestamp returns a DER TimeStampToken over digest, made by openssl ts -reply.
func (a *TSA) Timestamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	req, err := Request(h, digest)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.calls++
	n := a.calls
	a.mu.Unlock()
	q := filepath.Join(a.dir, fmt.Sprintf("req-%d.tsq", n))
	out := filepath.Join(a.dir, fmt.Sprintf("token-%d.der", n))
	if err := os.WriteFile(q, req, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "openssl", "ts", "-reply", "-config", filepath.Join(a.dir, "ts.cnf"),
		"-queryfile", q, "-token_out", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("openssl ts -reply: %w: %s", err, bytes.TrimSpace(b))
	}
	return os.ReadFile(out)
}

// Verify checks token with `openssl ts -verify` against digest and the TSA's CA: the
// signature, the TSA certificate's chain and critical timeStamping usage, and that the
// message imprint is digest.
func (a *TSA) Verify(token []byte, digest []byte) error {
	f, err := os.CreateTemp(a.dir, "verify-*.der")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(token); err != nil {
		return err
	}
	f.Close()
	cmd := exec.Command("openssl", "ts", "-verify", "-digest", hex.EncodeToString(digest),
		"-in", f.Name(), "-token_in", "-CAfile", a.CAFile(), "-untrusted", filepath.Join(a.dir, "tsa.pem"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		return fmt.Errorf("openssl ts -verify: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Request returns a DER RFC 3161 TimeStampReq for digest with certReq true and a random nonce.
func Request(h crypto.Hash, digest []byte) ([]byte, error) {
	oid, ok := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}[h]
	if !ok || len(digest) != h.Size() {
		return nil, fmt.Errorf("xadestest: digest of %d bytes for %v", len(digest), h)
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	type algID struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	type imprint struct {
		Alg    algID
		Digest []byte
	}
	return asn1.Marshal(struct {
		Version int
		Imprint imprint
		Nonce   *big.Int
		CertReq bool
	}{1, imprint{algID{Algorithm: oid, Parameters: asn1.NullRawValue}, digest}, nonce, true})
}
