package devenv

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/cmd/dssd/devenv/devjson"
	"dssd/dss/verify"
)

// newTestEnv lays out an environment in a temporary directory with a state whose keys are
// software keys (the PKI does not care where the credential keys live).
func newTestEnv(t *testing.T, addr string) (*Env, *state, map[string]crypto.PublicKey, options) {
	t.Helper()
	e := &Env{Root: t.TempDir(), Addr: addr, URL: baseURL(addr)}
	e.paths()
	for _, d := range []string{filepath.Join(e.Root, "pki", "credentials"), filepath.Join(e.Root, "secrets"), e.hsmDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st := &state{Version: stateVersion, Addr: addr, Module: "/usr/lib/softhsm/libsofthsm2.so",
		HSMConf: filepath.Join(e.hsmDir(), "softhsm2.conf"), HealthKeyID: 6,
		Users: []stateUser{{Name: "alice", Token: "tok-a"}, {Name: "bob", Token: "tok-b"}}}
	pubs := map[string]crypto.PublicKey{}
	for i, c := range devCredentials() {
		sc := stateCred{ID: c.id, Owner: c.owner, KeyType: c.keyType, SCAL: c.scal, KeyID: i + 1}
		if c.scal == 2 {
			sc.PIN, sc.TOTPSecret = "12345678", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
		}
		st.Credentials = append(st.Credentials, sc)
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pubs[c.id] = k.Public()
	}
	fixed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return e, st, pubs, options{now: func() time.Time { return fixed }, rand: rand.Reader}
}

func TestPKI(t *testing.T) {
	t.Parallel()
	e, st, pubs, o := newTestEnv(t, "0.0.0.0:9443")
	if err := e.createPKI(st, pubs, st.Addr, o); err != nil {
		t.Fatal(err)
	}
	root := mustRead(t, e.RootCACert)[0]
	ca, err := e.IssuingCA()
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.MaxPathLen != 0 || !ca.Cert.MaxPathLenZero || !ca.Chain[0].Equal(root) {
		t.Errorf("issuing CA: IsCA %v MaxPathLen %d", ca.Cert.IsCA, ca.Cert.MaxPathLen)
	}
	if !ca.Cert.NotBefore.Equal(o.now().Add(-backdate)) {
		t.Errorf("NotBefore %v does not follow the injected clock", ca.Cert.NotBefore)
	}
	tlsCert := mustRead(t, e.TLSCert)[0]
	// A wildcard listen address is reached as 127.0.0.1.
	if got := tlsCert.OCSPServer; len(got) != 1 || got[0] != "https://127.0.0.1:9443/dev/ocsp" {
		t.Errorf("OCSP URL %v", got)
	}
	if len(tlsCert.IPAddresses) != 2 || len(tlsCert.DNSNames) != 1 {
		t.Errorf("TLS SANs: %v %v", tlsCert.IPAddresses, tlsCert.DNSNames)
	}
	tsa, err := e.TSA()
	if err != nil {
		t.Fatal(err)
	}
	critical := false
	for _, x := range tsa.Cert.Extensions {
		if x.Id.Equal(oidExtKeyUsage) {
			critical = x.Critical
		}
	}
	if !critical || len(tsa.Cert.ExtKeyUsage) != 1 || tsa.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		t.Errorf("TSA EKU %v critical %v", tsa.Cert.ExtKeyUsage, critical)
	}
	if _, err := e.OCSPResponder(); err != nil {
		t.Error(err)
	}
	for _, c := range st.Credentials {
		chain := mustRead(t, e.credCert(c.ID))
		if len(chain) != 3 || !publicEqualT(chain[0].PublicKey, pubs[c.ID]) {
			t.Errorf("%s: %d certificates, key matches %v", c.ID, len(chain), publicEqualT(chain[0].PublicKey, pubs[c.ID]))
		}
		if err := chain[0].CheckSignatureFrom(ca.Cert); err != nil {
			t.Errorf("%s: not issued by the issuing CA: %v", c.ID, err)
		}
		// The verifier's (and the configuration's) rule for signing certificates.
		if err := verify.CheckSignerCertificate(chain[0], nil); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
	}
	// The TLS server and TSA certificates are not signers.
	for _, c := range []*x509.Certificate{tlsCert, tsa.Cert} {
		if err := verify.CheckSignerCertificate(c, nil); err == nil {
			t.Errorf("%s accepted as a document signer", c.Subject)
		}
	}
	for _, k := range []string{e.rootKey(), e.IssuingCAKey, e.TLSKey, e.OCSPKey, e.TSAKey} {
		st, err := os.Stat(k)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v", k, err, st.Mode())
		}
	}

	// Not due yet; due close to the end of validity.
	if due, err := e.needsReissue(o.now()); err != nil || due {
		t.Errorf("needsReissue now = %v, %v", due, err)
	}
	if due, err := e.needsReissue(o.now().Add(leafValidity - 10*24*time.Hour)); err != nil || !due {
		t.Errorf("needsReissue near the end = %v, %v", due, err)
	}

	// A new address: same keys, new URLs, the root stays.
	if err := e.reissue(st, "localhost:7443", o); err != nil {
		t.Fatal(err)
	}
	if !mustRead(t, e.RootCACert)[0].Equal(root) {
		t.Error("the root CA changed")
	}
	q := mustRead(t, e.credCert("alice-qes"))
	if q[0].OCSPServer[0] != "https://localhost:7443/dev/ocsp" || !publicEqualT(q[0].PublicKey, pubs["alice-qes"]) {
		t.Errorf("reissued: %v", q[0].OCSPServer)
	}
	if err := mustRead(t, e.TLSCert)[0].VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	e, st, pubs, o := newTestEnv(t, "127.0.0.1:8443")
	if err := e.createPKI(st, pubs, st.Addr, o); err != nil {
		t.Fatal(err)
	}
	if err := e.writeOutputs(st); err != nil {
		t.Fatal(err)
	}
	dj, err := devjson.Read(e.DevJSONPath)
	if err != nil {
		t.Fatal(err)
	}
	if dj.URL != "https://127.0.0.1:8443" || dj.TSA != "https://127.0.0.1:8443/dev/tsa" || len(dj.Users) != 2 {
		t.Errorf("dev.json %+v", dj)
	}
	if c, err := dj.Users[0].Credential("alice-qes"); err != nil || c.PIN != "12345678" || c.SCAL != 2 {
		t.Errorf("alice-qes %+v %v", c, err)
	}
	cfg, err := os.ReadFile(e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"  addr: 127.0.0.1:8443\n", TokenSHA256("tok-a"), "key: pkcs11:token=dssd-dev;object=bob-rsa;id=%05",
		"health_key: pkcs11:token=dssd-dev;object=dssd-health;id=%06", "pin_file: " + e.secretFile("alice-qes.pin"),
		"dir: " + e.Root,
	} {
		if !strings.Contains(string(cfg), w) {
			t.Errorf("dssd.yaml lacks %q:\n%s", w, cfg)
		}
	}
	if bytes.Contains(cfg, []byte("tok-a")) || bytes.Contains(cfg, []byte("12345678")) {
		t.Error("dssd.yaml holds a secret")
	}
	if pin, err := os.ReadFile(e.secretFile("alice-qes.pin")); err != nil || strings.TrimSpace(string(pin)) != "12345678" {
		t.Errorf("pin file: %q %v", pin, err)
	}
}

func TestAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:8443": "https://127.0.0.1:8443",
		":8443":          "https://127.0.0.1:8443",
		"[::]:8443":      "https://127.0.0.1:8443",
		"[::1]:8443":     "https://[::1]:8443",
		"localhost:1":    "https://localhost:1",
	} {
		if err := checkAddr(addr); err != nil {
			t.Errorf("checkAddr(%q): %v", addr, err)
		}
		if got := baseURL(addr); got != want {
			t.Errorf("baseURL(%q) = %q, want %q", addr, got, want)
		}
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:0", "127.0.0.1:x", "127.0.0.1:70000"} {
		if err := checkAddr(bad); err == nil {
			t.Errorf("checkAddr(%q) accepted", bad)
		}
	}
}

func TestLockWaitsForContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".lock")
	unlock, err := lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second lock: %v, want a deadline error", err)
	}
	unlock()
	u2, err := lock(context.Background(), path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	u2()
}

func TestRandom(t *testing.T) {
	t.Parallel()
	tok, err := randomToken(rand.Reader)
	if err != nil || len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q %v", tok, err)
	}
	pin, err := randomDigits(rand.Reader, 8)
	if err != nil || len(pin) != 8 || strings.Trim(pin, "0123456789") != "" {
		t.Errorf("pin %q %v", pin, err)
	}
	sec, err := randomBase32(rand.Reader, 20)
	if err != nil || len(sec) != 32 {
		t.Errorf("secret %q %v", sec, err)
	}
	if _, err := devjson.TOTP(sec, time.Now()); err != nil {
		t.Errorf("the TOTP secret is not usable: %v", err)
	}
}

func mustRead(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	c, err := ReadCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func publicEqualT(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}
