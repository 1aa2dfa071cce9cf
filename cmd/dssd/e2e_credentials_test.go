//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"gopkg.in/yaml.v3"

	"dssd/dss"
	"dssd/dss/xades/interop"
	"dssd/hsm/softhsm"
)

// opsEnv is a production-style installation built from nothing, without dev mode: a fresh
// SoftHSM2 token, a TLS certificate, a throwaway CA that signs the certificate requests
// `dssd credential create` writes, and a dssd.yaml with no credentials and no users.
type opsEnv struct {
	dir    string
	bin    string
	cfg    string // dssd.yaml
	tlsCA  string // PEM of the CA of the TLS certificate (dev.json "ca", read by startNode)
	devDir string // holds a dev.json with only "ca", so that startNode can make its client
	caKey  crypto.Signer
	caCert *x509.Certificate
	serial int64
}

var (
	opsBinOnce sync.Once
	opsBin     string
	opsBinErr  error
)

// opsBinary builds dssd once for the tests of this file.
func opsBinary(t *testing.T) string {
	opsBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dssd-ops-bin-")
		if err != nil {
			opsBinErr = err
			return
		}
		opsBin = filepath.Join(dir, "dssd")
		if b, err := exec.Command("go", "build", "-o", opsBin, ".").CombinedOutput(); err != nil {
			opsBinErr = fmt.Errorf("go build: %v\n%s", err, b)
		}
	})
	if opsBinErr != nil {
		t.Fatal(opsBinErr)
	}
	return opsBin
}

// newOpsEnv builds the installation; storeCfg is the store section of dssd.yaml.
func newOpsEnv(t *testing.T, storeCfg map[string]any) *opsEnv {
	t.Helper()
	e := &opsEnv{dir: t.TempDir(), bin: opsBinary(t)}
	pin := "ops-" + randHex(t, 8)
	tok, err := softhsm.Init(filepath.Join(e.dir, "hsm"), "dssd-ops", "so-"+randHex(t, 8), pin)
	if err != nil {
		t.Fatal(err)
	}
	writeOut(t, filepath.Join(e.dir, "hsm.pin"), []byte(pin))
	writeOut(t, filepath.Join(e.dir, "sad.key"), []byte(randHex(t, 32)))
	writeOut(t, filepath.Join(e.dir, "audit.key"), []byte(randHex(t, 32)))

	// The signing CA (what a real CA does to a request) and a TLS certificate from it.
	e.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Throwaway Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, e.caKey.Public(), e.caKey)
	if err != nil {
		t.Fatal(err)
	}
	e.caCert, _ = x509.ParseCertificate(der)
	e.tlsCA = writeOut(t, filepath.Join(e.dir, "ca.pem"), pemCert(e.caCert))
	tlsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tlsCert := e.issue(t, tlsKey.Public(), pkix.Name{CommonName: "localhost"}, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c.DNSNames = []string{"localhost"}
		c.IPAddresses = append(c.IPAddresses, []byte{127, 0, 0, 1})
	})
	writeOut(t, filepath.Join(e.dir, "tls.pem"), pemCert(tlsCert))
	kb, _ := x509.MarshalPKCS8PrivateKey(tlsKey)
	writeOut(t, filepath.Join(e.dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))

	e.devDir = filepath.Join(e.dir, "client")
	if err := os.MkdirAll(e.devDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dj, _ := json.Marshal(map[string]string{"ca": e.tlsCA})
	writeOut(t, filepath.Join(e.devDir, "dev.json"), dj)

	storeCfg["audit_key_file"] = "audit.key"
	cfg := map[string]any{
		"listen": map[string]any{"addr": "127.0.0.1:0", "tls": map[string]any{"cert": "tls.pem", "key": "tls.key"}},
		"hsm": map[string]any{"module": tok.Module, "token_label": tok.Label, "pin_file": "hsm.pin",
			"softhsm2_conf": tok.Conf},
		"store": storeCfg,
		"sad":   map[string]any{"key_file": "sad.key"},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = writeOut(t, filepath.Join(e.dir, "dssd.yaml"), b)
	return e
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// issue makes a certificate from the throwaway CA; edit sets usages.
func (e *opsEnv) issue(t *testing.T, pub crypto.PublicKey, subject pkix.Name, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	e.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1000 + e.serial), Subject: subject,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(12 * time.Hour)}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.caCert, pub, e.caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signCSR checks a request written by `dssd credential create|rotate` and issues a signing
// certificate for it (digitalSignature + nonRepudiation), or, with eku, one for that purpose
// only. It returns the chain file (signer, then CA) and the signer certificate.
func (e *opsEnv) signCSR(t *testing.T, csrPath string, eku ...x509.ExtKeyUsage) (string, *x509.Certificate) {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, csrPath))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("%s is not a PEM certificate request", csrPath)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("the request's signature (made in the HSM) does not verify: %v", err)
	}
	leaf := e.issue(t, csr.PublicKey, csr.Subject, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		c.ExtKeyUsage = eku
		if len(eku) > 0 {
			c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		}
	})
	chain := writeOut(t, strings.TrimSuffix(csrPath, ".csr")+fmt.Sprintf("-%d-chain.pem", e.serial), append(pemCert(leaf), pemCert(e.caCert)...))
	return chain, leaf
}

// cli runs `dssd args... --config dssd.yaml` and returns its stdout, stderr and exit status.
func (e *opsEnv) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return e.cliWith(t, e.cfg, args...)
}

func (e *opsEnv) cliWith(t *testing.T, cfg string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(e.bin, append(args, "--config", cfg)...)
	// A flag after a positional argument would not parse: put --config before it.
	if len(args) >= 2 && args[0] == "credential" && args[1] == "import" {
		cmd = exec.Command(e.bin, append(append(append([]string{}, args[:len(args)-1]...), "--config", cfg), args[len(args)-1])...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustCLI runs a command that must succeed.
func (e *opsEnv) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := e.cli(t, args...)
	if code != 0 {
		t.Fatalf("dssd %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// opsSign sends one enveloping XAdES SignRequest for cred and returns the HTTP status, the
// raw response, its result, and the signature with the signer certificate it carries.
type opsSigned struct {
	id     string // the RequestID
	status int
	raw    []byte
	res    result
	sig    []byte
	cert   *x509.Certificate
}

func opsSign(t *testing.T, n *node, token, cred, id string) opsSigned {
	t.Helper()
	c := signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: cred}
	if strings.Contains(cred, "ec") {
		c.alg = ecdsaSHA256
	}
	doc := []byte(`<doc xmlns="urn:example:ops"><line>` + id + `</line></doc>`)
	r, err := http.NewRequest(http.MethodPost, n.url+"/sign", strings.NewReader(signRequestXML(id, c, doc)))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/xml")
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := n.client.Do(r)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	out := opsSigned{id: id, status: resp.StatusCode, raw: buf.Bytes()}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(out.raw); err != nil || d.Root() == nil {
		out.res = result{major: fmt.Sprintf("HTTP %d, not XML", resp.StatusCode)}
		return out
	}
	root := d.Root()
	for _, p := range []struct {
		local string
		dst   *string
	}{{"ResultMajor", &out.res.major}, {"ResultMinor", &out.res.minor}, {"ResultMessage", &out.res.message}} {
		if e := find(root, nsDSB, p.local); e != nil {
			*p.dst = strings.TrimSpace(e.Text())
		}
	}
	if so := find(root, nsDSS2, "Base64Signature"); so != nil {
		out.sig = decodeValue(t, so)
		sd := etree.NewDocument()
		if err := sd.ReadFromBytes(out.sig); err == nil {
			if xc := find(sd.Root(), "http://www.w3.org/2000/09/xmldsig#", "X509Certificate"); xc != nil {
				der, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Text()), ""))
				out.cert, _ = x509.ParseCertificate(der)
			}
		}
	}
	return out
}

// waitFor sends requests every 100 ms until ok accepts one, and returns how long that took
// (from start) and the accepted answer. It gives up after limit.
func waitFor(t *testing.T, what string, limit time.Duration, start time.Time, try func(i int) opsSigned, ok func(opsSigned) bool) (time.Duration, opsSigned) {
	t.Helper()
	for i := 0; ; i++ {
		s := try(i)
		if ok(s) {
			return time.Since(start), s
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not seen within %s; last answer HTTP %d %s %s %s", what, limit, s.status, s.res.major, s.res.minor, s.res.message)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func signedOK(s opsSigned) bool { return s.status == 200 && s.res.ok() && s.cert != nil }

// TestCredentialLifecycle: from an empty token, without dev mode. Users and credentials are
// made with the CLI while a node runs; every change reaches the node without a restart.
func TestCredentialLifecycle(t *testing.T) {
	interop.Require(t)
	e := newOpsEnv(t, map[string]any{"type": "sqlite", "path": "dssd.db"})
	var secrets = map[string]string{}

	// A node with no user and no credential.
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, e.bin, e.devDir, addr, nil, "serve", "--config", e.cfg, "--addr", addr)

	// Users: add, token (printed once), effective on the running node.
	e.mustCLI(t, "user", "add", "--name", "carol")
	if _, errs, code := e.cli(t, "user", "add", "--name", "carol"); code != 1 || !strings.Contains(errs, "exists already") {
		t.Errorf("second user add: exit %d %s", code, errs)
	}
	tokOut, tokErr, code := e.cli(t, "user", "token", "--name", "carol")
	if code != 0 {
		t.Fatalf("user token: %d %s", code, tokErr)
	}
	carol := strings.TrimSpace(tokOut)
	if len(carol) < 40 || strings.ContainsAny(carol, " \n") {
		t.Fatalf("user token printed %q", tokOut)
	}
	secrets["carol's token"] = carol

	// Credentials: RSA-3072 and EC-P256 keys made in the token, requests signed by the CA.
	creds := map[string]string{"carol-rsa": "RSA-3072", "carol-ec": "EC-P256"}
	leaves := map[string]*x509.Certificate{}
	for id, kt := range creds {
		csr := filepath.Join(e.dir, id+".csr")
		out := e.mustCLI(t, "credential", "create", "--id", id, "--owner", "carol", "--key-type", kt,
			"--subject", "CN=Carol Example "+id+",O=Example Ltd,C=DE", "--csr-out", csr)
		if !strings.Contains(out, "pending-certificate") {
			t.Errorf("create %s: %s", id, out)
		}
		// Not usable before its certificate is imported.
		if s := opsSign(t, n, carol, id, "before-import-"+id); s.res.ok() {
			t.Errorf("%s signed before its certificate was imported", id)
		}
		chain, leaf := e.signCSR(t, csr)
		if got := publicKeyType(leaf.PublicKey); got != kt {
			t.Errorf("%s: the request holds a %s key, want %s", id, got, kt)
		}
		e.mustCLI(t, "credential", "import", "--id", id, chain)
		leaves[id] = leaf
	}
	if _, errs, code := e.cli(t, "credential", "create", "--id", "carol-rsa", "--owner", "carol", "--key-type", "EC-P256",
		"--subject", "CN=x", "--csr-out", filepath.Join(e.dir, "x.csr")); code != 1 || !strings.Contains(errs, "exists already") {
		t.Errorf("second create: exit %d %s", code, errs)
	}
	if _, errs, code := e.cli(t, "credential", "create", "--id", "x", "--owner", "nobody", "--key-type", "EC-P256",
		"--subject", "CN=x", "--csr-out", filepath.Join(e.dir, "x.csr")); code != 1 || !strings.Contains(errs, "no user nobody") {
		t.Errorf("create for an unknown owner: exit %d %s", code, errs)
	}
	if _, errs, code := e.cli(t, "credential", "create", "--id", "x", "--owner", "carol", "--key-type", "DSA-1024",
		"--subject", "CN=x", "--csr-out", filepath.Join(e.dir, "x.csr")); code != 2 || !strings.Contains(errs, "key-type") {
		t.Errorf("create with a bad key type: exit %d %s", code, errs)
	}

	// Both sign on the running node; two independent verifiers (and xmlsec1) accept.
	work := t.TempDir()
	var cases []interop.Case
	var responses []string
	verifyLater := func(name string, s opsSigned, leaf *x509.Certificate, alg string) {
		responses = append(responses, writeOut(t, filepath.Join(work, name+"-response.xml"), s.raw))
		cases = append(cases, interop.Case{Name: name, File: writeOut(t, filepath.Join(work, name+".xml"), s.sig),
			Cert: writeOut(t, filepath.Join(work, name+"-cert.pem"), pemCert(leaf)), XAdES: true, Alg: alg})
	}
	for id, leaf := range leaves {
		start := time.Now()
		took, s := waitFor(t, id+" signs after import", 10*time.Second, start,
			func(i int) opsSigned { return opsSign(t, n, carol, id, fmt.Sprintf("first-%s-%d", id, i)) }, signedOK)
		if !s.cert.Equal(leaf) {
			t.Errorf("%s: the signature carries %s, not the imported certificate", id, s.cert.Subject)
		}
		t.Logf("%s: first signature %s after the import returned", id, took.Round(time.Millisecond))
		alg := rsaSHA256
		if id == "carol-ec" {
			alg = ecdsaSHA256
		}
		verifyLater(id, s, leaf, alg)
	}

	// Disable refuses the next requests within seconds, without a restart; enable restores.
	e.mustCLI(t, "credential", "disable", "--id", "carol-ec")
	start := time.Now()
	took, s := waitFor(t, "disable", 10*time.Second, start,
		func(i int) opsSigned { return opsSign(t, n, carol, "carol-ec", fmt.Sprintf("disabled-%d", i)) },
		func(s opsSigned) bool { return s.res.minor == minorKeyLookup })
	if s.sig != nil || s.res.major != majorRequester || s.res.message != "the credential is disabled" {
		t.Errorf("disabled credential answered %+v", s.res)
	}
	disabledReq := s.id
	t.Logf("disable: refused %s after the command returned", took.Round(time.Millisecond))
	if st := cscKeyStatus(t, n, carol, "carol-ec"); st != "disabled" {
		t.Errorf("CSC credentials/info key/status of the disabled credential: %q", st)
	}
	if s := opsSign(t, n, carol, "carol-rsa", "still-rsa"); !signedOK(s) {
		t.Errorf("carol-rsa refused while only carol-ec is disabled: %+v", s.res)
	}
	e.mustCLI(t, "credential", "enable", "--id", "carol-ec")
	took, _ = waitFor(t, "enable", 10*time.Second, time.Now(),
		func(i int) opsSigned { return opsSign(t, n, carol, "carol-ec", fmt.Sprintf("enabled-%d", i)) }, signedOK)
	t.Logf("enable: signing again %s after the command returned", took.Round(time.Millisecond))
	if st := cscKeyStatus(t, n, carol, "carol-ec"); st != "enabled" {
		t.Errorf("CSC credentials/info key/status after enable: %q", st)
	}

	// Wrong imports are refused: a certificate for another key, and one for TLS only.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherLeaf := e.issue(t, other.Public(), pkix.Name{CommonName: "someone else"}, func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	})
	otherChain := writeOut(t, filepath.Join(e.dir, "other-chain.pem"), append(pemCert(otherLeaf), pemCert(e.caCert)...))
	if _, errs, code := e.cli(t, "credential", "import", "--id", "carol-ec", otherChain); code != 1 || !strings.Contains(errs, "does not hold the key") {
		t.Errorf("import of another key's certificate: exit %d %s", code, errs)
	}
	tlsChain, _ := e.signCSR(t, filepath.Join(e.dir, "carol-ec.csr"), x509.ExtKeyUsageServerAuth)
	if _, errs, code := e.cli(t, "credential", "import", "--id", "carol-ec", tlsChain); code != 1 || !strings.Contains(errs, "not for signing") {
		t.Errorf("import of a TLS-only certificate: exit %d %s", code, errs)
	}
	if s := opsSign(t, n, carol, "carol-ec", "after-refused-imports"); !signedOK(s) || !s.cert.Equal(leaves["carol-ec"]) {
		t.Errorf("after the refused imports carol-ec answers %+v", s.res)
	}

	// Rotation: the old key signs until the new certificate is imported, then the new one.
	rotCSR := filepath.Join(e.dir, "carol-rsa-rotated.csr")
	e.mustCLI(t, "credential", "rotate", "--id", "carol-rsa", "--csr-out", rotCSR)
	if out := e.mustCLI(t, "credential", "list"); !strings.Contains(out, "rotation pending") {
		t.Errorf("list after rotate:\n%s", out)
	}
	time.Sleep(1500 * time.Millisecond) // more than one poll interval: the node has seen the rotation
	if s := opsSign(t, n, carol, "carol-rsa", "rotation-pending"); !signedOK(s) || !s.cert.Equal(leaves["carol-rsa"]) {
		t.Fatalf("during the rotation carol-rsa answers %+v (certificate %v)", s.res, s.cert != nil)
	}
	if _, errs, code := e.cli(t, "credential", "rotate", "--id", "carol-rsa", "--csr-out", rotCSR+".2"); code != 1 || !strings.Contains(errs, "rotation pending") {
		t.Errorf("second rotate: exit %d %s", code, errs)
	}
	rotChain, rotLeaf := e.signCSR(t, rotCSR)
	if samePublicKey(rotLeaf.PublicKey, leaves["carol-rsa"].PublicKey) {
		t.Fatal("rotation made no new key")
	}
	if rotLeaf.Subject.String() != leaves["carol-rsa"].Subject.String() {
		t.Errorf("rotated request subject %s, want the current %s", rotLeaf.Subject, leaves["carol-rsa"].Subject)
	}
	e.mustCLI(t, "credential", "import", "--id", "carol-rsa", rotChain)
	took, s = waitFor(t, "rotated certificate", 10*time.Second, time.Now(),
		func(i int) opsSigned { return opsSign(t, n, carol, "carol-rsa", fmt.Sprintf("rotated-%d", i)) },
		func(s opsSigned) bool { return signedOK(s) && s.cert.Equal(rotLeaf) })
	t.Logf("rotate: the new certificate signs %s after the import returned", took.Round(time.Millisecond))
	verifyLater("carol-rsa-rotated", s, rotLeaf, rsaSHA256)

	// list shows both, with state, subject and expiry.
	list := e.mustCLI(t, "credential", "list")
	for _, want := range []string{"carol-rsa", "carol-ec", "RSA-3072", "EC-P256", "enabled", "CN=Carol Example carol-ec"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "rotation pending") {
		t.Errorf("list still shows a pending rotation:\n%s", list)
	}
	if out := e.mustCLI(t, "credential", "unlock", "--id", "carol-ec"); !strings.Contains(out, "unlocked") {
		t.Errorf("unlock: %s", out)
	}

	// A new token works at once (after a poll), the user can be disabled.
	tok2 := strings.TrimSpace(e.mustCLI(t, "user", "token", "--name", "carol", "--replace"))
	secrets["carol's second token"] = tok2
	waitFor(t, "new token", 10*time.Second, time.Now(),
		func(i int) opsSigned { return opsSign(t, n, tok2, "carol-ec", fmt.Sprintf("token2-%d", i)) }, signedOK)
	if s := opsSign(t, n, carol, "carol-ec", "replaced-token"); s.status != http.StatusUnauthorized {
		t.Errorf("the replaced token: HTTP %d %s", s.status, s.res.minor)
	}
	e.mustCLI(t, "user", "disable", "--name", "carol")
	took, _ = waitFor(t, "user disable", 10*time.Second, time.Now(),
		func(i int) opsSigned { return opsSign(t, n, tok2, "carol-ec", fmt.Sprintf("user-disabled-%d", i)) },
		func(s opsSigned) bool { return s.status == http.StatusUnauthorized })
	t.Logf("user disable: 401 %s after the command returned", took.Round(time.Millisecond))
	n.stop(t)

	// The signatures: schema-valid responses, independent verifiers.
	validateResponses(t, work, responses)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatalf("running the verifiers: %v", err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], true)
	}

	// Every admin action has its audit record (refusals too); the disabled credential's
	// refusal is audited; no token in the records or the node's log.
	recs := auditRecords(t, e.cfg)
	count := map[string]int{}
	for _, r := range recs {
		if r.Via == "cli" {
			if !strings.HasPrefix(r.User, "os:") {
				t.Errorf("admin record without the operator: %+v", r.Event())
			}
			count[r.Action+" "+r.Major]++
		}
	}
	ok, req := dss.MajorSuccess, majorRequester
	for key, want := range map[string]int{
		dss.AuditUserAdd + " " + ok: 1, dss.AuditUserAdd + " " + req: 1,
		dss.AuditUserToken + " " + ok: 2, dss.AuditUserDisable + " " + ok: 1,
		dss.AuditCredentialCreate + " " + ok: 2, dss.AuditCredentialCreate + " " + req: 2,
		dss.AuditCredentialImport + " " + ok: 3, dss.AuditCredentialImport + " " + req: 2,
		dss.AuditCredentialDisable + " " + ok: 1, dss.AuditCredentialEnable + " " + ok: 1,
		dss.AuditCredentialRotate + " " + ok: 1, dss.AuditCredentialRotate + " " + req: 1,
		dss.AuditCredentialUnlock + " " + ok: 1,
	} {
		if count[key] != want {
			t.Errorf("audit: %d records %q, want %d (all: %v)", count[key], key, want, count)
		}
	}
	if got := byRequestID(recs, disabledReq); len(got) != 1 || got[0].Action != dss.AuditSign || got[0].Minor != minorKeyLookup || got[0].Credential != "carol-ec" {
		t.Errorf("the refused signing with the disabled credential: audit %+v", got)
	}
	noSecrets(t, "the audit records", recordsText(recs), secrets)
	noSecrets(t, "the node log", n.logText(), secrets)
}

// cscKeyStatus asks CSC credentials/info for key/status ("HTTP <status>" when it is refused).
func cscKeyStatus(t *testing.T, n *node, token, cred string) string {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, n.url+"/csc/v2/credentials/info", strings.NewReader(`{"credentialID":"`+cred+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := n.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Key struct {
			Status string `json:"status"`
		} `json:"key"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		return fmt.Sprintf("HTTP %d", resp.StatusCode) // not (yet) known to the node
	}
	return out.Key.Status
}

// TestCredentialSCAL2Unlock: a scal 2 credential made with the CLI (PIN and TOTP secret from
// files; the store keeps the PIN's argon2id hash) activates and signs; wrong PINs lock it;
// `dssd credential unlock` clears the lock on the running node.
func TestCredentialSCAL2Unlock(t *testing.T) {
	e := newOpsEnv(t, map[string]any{"type": "sqlite", "path": "dssd.db"})
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, e.bin, e.devDir, addr, nil, "serve", "--config", e.cfg, "--addr", addr)
	e.mustCLI(t, "user", "add", "--name", "erin")
	tok := strings.TrimSpace(e.mustCLI(t, "user", "token", "--name", "erin"))
	q := qes{id: "erin-qes", pin: "CANARY-PIN-" + randHex(t, 4)}
	sec := make([]byte, 20)
	rand.Read(sec)
	q.secret = base32.StdEncoding.EncodeToString(sec)
	pinFile := writeOut(t, filepath.Join(e.dir, "erin.pin"), []byte(q.pin+"\n"))
	totpFile := writeOut(t, filepath.Join(e.dir, "erin.totp"), []byte(q.secret+"\n"))
	csr := filepath.Join(e.dir, "erin-qes.csr")
	e.mustCLI(t, "credential", "create", "--id", q.id, "--owner", "erin", "--key-type", "RSA-3072", "--scal", "2",
		"--pin-file", pinFile, "--totp-secret-file", totpFile, "--subject", "CN=Erin Example,C=DE", "--csr-out", csr)
	chain, _ := e.signCSR(t, csr)
	e.mustCLI(t, "credential", "import", "--id", q.id, chain)
	tg := target{url: n.url, client: n.client, cfg: e.cfg}
	doc := inDoc{id: "doc-1", refURI: "urn:scal2-store", data: []byte("signed with a credential kept in the store")}
	// Each OTP is used once: first wait until the node knows the credential.
	for deadline := time.Now().Add(10 * time.Second); cscKeyStatus(t, n, tok, q.id) != "enabled"; {
		if time.Now().After(deadline) {
			t.Fatal("the node does not know the credential 10 s after its import")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sad := tg.mustAuthorize(t, tok, q, sum(doc.data))
	_, raw := tg.signPOST(t, tok, scal2Request("scal2-store", q.id, "erin", sad, doc))
	if _, r := parseResponse(t, raw); !r.ok() {
		t.Fatalf("signing with the store's scal 2 credential: %+v", r)
	}
	const limit = 5 // the default sad.max_failures; the OTP of a wrong attempt does not matter
	for i := range limit {
		if status, out := tg.authorize(t, tok, q.id, [][]byte{sum(doc.data)}, fmt.Sprintf("CANARY-WRONG-%d", i), "000000"); status != http.StatusBadRequest || out["SAD"] != nil {
			t.Fatalf("wrong PIN %d: HTTP %d %v", i, status, out)
		}
	}
	status, out := tg.authorize(t, tok, q.id, [][]byte{sum(doc.data)}, q.pin, freshOTP(t, tg.cfg, q))
	if desc, _ := out["error_description"].(string); status != http.StatusBadRequest || !strings.Contains(desc, "locked") {
		t.Fatalf("right PIN on the locked credential: HTTP %d %v", status, out)
	}
	if out := e.mustCLI(t, "credential", "unlock", "--id", q.id); !strings.Contains(out, "unlocked") || strings.Contains(out, "(0 failed") {
		t.Errorf("unlock: %s", out)
	}
	tg.mustAuthorize(t, tok, q, sum(doc.data))
	n.stop(t)
	recs := auditRecords(t, e.cfg)
	var unlocks int
	for _, r := range recs {
		if r.Action == dss.AuditCredentialUnlock && r.Credential == q.id && r.Major == dss.MajorSuccess && r.Via == "cli" {
			unlocks++
		}
	}
	if unlocks != 1 {
		t.Errorf("%d unlock records, want 1", unlocks)
	}
	noSecrets(t, "the audit records", recordsText(recs), map[string]string{"PIN": q.pin, "TOTP secret": q.secret, "token": tok})
	noSecrets(t, "the node log", n.logText(), map[string]string{"PIN": q.pin, "TOTP secret": q.secret, "token": tok})
}
