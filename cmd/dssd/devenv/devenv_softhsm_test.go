//go:build softhsm

package devenv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/hsm"
	"dssd/hsm/pkcs11"
)

// TestEnsureSoftHSM creates a development environment in a temporary directory, checks what
// it wrote, signs through PKCS#11 with every credential key, then calls Ensure again (same
// address: nothing changes; new address: URLs and certificates change, keys and secrets stay).
func TestEnsureSoftHSM(t *testing.T) {
	t.Setenv("SOFTHSM2_CONF", "") // Ensure sets it; restored after the test
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := filepath.Join(t.TempDir(), "dev")
	const addr = "127.0.0.1:18443"

	env, err := Ensure(ctx, root, addr)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if env.Root != root || env.URL != "https://127.0.0.1:18443" {
		t.Errorf("env = %+v", env)
	}
	checkModes(t, root)

	dj, err := ReadDevJSON(env.DevJSONPath)
	if err != nil {
		t.Fatal(err)
	}
	if dj.URL != "https://127.0.0.1:18443" || dj.TSA != dj.URL+"/dev/tsa" || dj.OCSP != dj.URL+"/dev/ocsp" {
		t.Errorf("dev.json urls: %+v", dj)
	}
	if dj.CA != env.RootCACert || !filepath.IsAbs(dj.CA) {
		t.Errorf("dev.json ca = %q, want %q", dj.CA, env.RootCACert)
	}
	wantCreds := map[string]struct {
		user, key string
		scal      int
	}{
		"alice-rsa": {"alice", "RSA-2048", 1}, "alice-ec": {"alice", "EC-P256", 1}, "alice-ec384": {"alice", "EC-P384", 1},
		"alice-qes": {"alice", "RSA-3072", 2}, "bob-rsa": {"bob", "RSA-2048", 1},
	}
	if len(dj.Users) != 2 || dj.Users[0].Name != "alice" || dj.Users[1].Name != "bob" {
		t.Fatalf("users = %+v", dj.Users)
	}
	tokens := map[string]string{}
	seen := 0
	for _, u := range dj.Users {
		if len(u.Token) != 43 { // 32 bytes, base64url without padding
			t.Errorf("user %s: token has %d characters, want 43", u.Name, len(u.Token))
		}
		tokens[u.Name] = u.Token
		for _, c := range u.Credentials {
			w, ok := wantCreds[c.ID]
			if !ok || w.user != u.Name || w.key != c.Key || w.scal != c.SCAL {
				t.Errorf("credential %+v of %s unexpected", c, u.Name)
				continue
			}
			seen++
			if (c.SCAL == 2) != (c.PIN != "" && c.TOTPSecret != "") {
				t.Errorf("credential %s: pin/totp_secret present iff scal 2", c.ID)
			}
		}
	}
	if seen != len(wantCreds) {
		t.Errorf("dev.json lists %d of the %d credentials", seen, len(wantCreds))
	}

	// Certificates.
	roots := x509.NewCertPool()
	rootCerts, err := ReadCertificates(env.RootCACert)
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(rootCerts[0])
	ca, err := env.IssuingCA()
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AddCert(ca.Cert)
	verify := func(c *x509.Certificate, eku x509.ExtKeyUsage) {
		t.Helper()
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			t.Errorf("%s does not chain to the development root: %v", c.Subject, err)
		}
		if len(c.OCSPServer) != 1 || c.OCSPServer[0] != "https://127.0.0.1:18443/dev/ocsp" {
			t.Errorf("%s: OCSP URL %v", c.Subject, c.OCSPServer)
		}
		if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != "https://127.0.0.1:18443/dev/crl" {
			t.Errorf("%s: CRL DP %v", c.Subject, c.CRLDistributionPoints)
		}
	}
	tlsCerts, err := ReadCertificates(env.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	verify(tlsCerts[0], x509.ExtKeyUsageServerAuth)
	if err := tlsCerts[0].VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := tlsCerts[0].VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if err := tlsCerts[0].VerifyHostname("::1"); err != nil {
		t.Error(err)
	}
	ocsp, err := env.OCSPResponder()
	if err != nil {
		t.Fatal(err)
	}
	verify(ocsp.Cert, x509.ExtKeyUsageOCSPSigning)
	if !hasExtension(ocsp.Cert, oidOCSPNoCheck) {
		t.Error("OCSP responder certificate lacks id-pkix-ocsp-nocheck")
	}
	tsa, err := env.TSA()
	if err != nil {
		t.Fatal(err)
	}
	verify(tsa.Cert, x509.ExtKeyUsageTimeStamping)
	ekuCritical := false
	for _, ext := range tsa.Cert.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			ekuCritical = ext.Critical
		}
	}
	if !ekuCritical {
		t.Error("the TSA certificate's extended key usage is not critical")
	}
	if len(tsa.Cert.ExtKeyUsage) != 1 || tsa.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		t.Errorf("TSA EKU = %v, want timeStamping only", tsa.Cert.ExtKeyUsage)
	}

	// Every credential: certificate chain, key usage, subject, and the HSM key behind it.
	pin, err := os.ReadFile(filepath.Join(root, "hsm", "user.pin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", env.SoftHSM2Conf)
	km, err := pkcs11.Open(ctx, pkcs11.Config{TokenLabel: TokenLabel, PIN: strings.TrimSpace(string(pin)),
		MaxSessions: 4, PoolWaitTimeout: 5 * time.Second, SignTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("pkcs11.Open: %v", err)
	}
	defer km.Close()
	firstCerts := map[string][]byte{}
	for _, u := range dj.Users {
		for _, c := range u.Credentials {
			chain, err := ReadCertificates(c.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if len(chain) != 3 || !chain[1].Equal(ca.Cert) || !chain[2].Equal(rootCerts[0]) {
				t.Errorf("%s: PEM must hold signer, issuing CA, root (got %d certificates)", c.ID, len(chain))
			}
			cert := chain[0]
			firstCerts[c.ID] = cert.Raw
			verify(cert, x509.ExtKeyUsageAny)
			if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
				t.Errorf("%s: key usage %v, want digitalSignature+nonRepudiation", c.ID, cert.KeyUsage)
			}
			if cert.Subject.CommonName != u.Name+" "+c.ID || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "dssd development" {
				t.Errorf("%s: subject %s", c.ID, cert.Subject)
			}
			ref, err := hsm.ParseKeyRef(keyRef(c.ID, keyIDOf(t, c.ID)).String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := km.Signer(ctx, ref)
			if err != nil {
				t.Fatalf("%s: no key in the token: %v", c.ID, err)
			}
			if !publicEqual(s.Public(), cert.PublicKey) {
				t.Errorf("%s: the certificate's public key is not the HSM key's", c.ID)
			}
			digest := sha256.Sum256([]byte("dssd devenv test " + c.ID))
			sig, err := s.Sign(nil, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatalf("%s: sign: %v", c.ID, err)
			}
			if err := verifySig(cert.PublicKey, digest[:], sig); err != nil {
				t.Errorf("%s: signature made in the token does not verify with the certificate: %v", c.ID, err)
			}
		}
	}
	if _, err := km.Signer(ctx, keyRef(HealthKeyLabel, 6)); err != nil {
		t.Errorf("health key: %v", err)
	}
	if _, err := km.Signer(ctx, keyRef(AuditCheckpointKeyLabel, 7)); err != nil {
		t.Errorf("audit checkpoint key: %v", err)
	}

	cfg, err := os.ReadFile(env.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"addr: 127.0.0.1:18443", "pin_file: " + filepath.Join(root, "hsm", "user.pin"),
		"softhsm2_conf: " + env.SoftHSM2Conf, "token_label: dssd-dev", TokenSHA256(tokens["alice"]),
		"key: pkcs11:token=dssd-dev;object=alice-qes;id=%04", "totp_secret_file:", "enabled: true",
		"audit_key_file: " + filepath.Join(root, "secrets", "audit.key"),
		"audit_checkpoint_key: pkcs11:token=dssd-dev;object=dssd-audit-checkpoint;id=%07",
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("dssd.yaml lacks %q", want)
		}
	}
	for _, secret := range []string{tokens["alice"], tokens["bob"], strings.TrimSpace(string(pin))} {
		if strings.Contains(string(cfg), secret) {
			t.Error("dssd.yaml contains a secret")
		}
	}

	// Second call, same address: everything reused, nothing rewritten.
	stBefore, _ := os.Stat(env.DevJSONPath)
	env2, err := Ensure(ctx, root, addr)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	stAfter, _ := os.Stat(env2.DevJSONPath)
	if !stAfter.ModTime().Equal(stBefore.ModTime()) {
		t.Error("dev.json was rewritten although the address did not change")
	}
	dj2, err := ReadDevJSON(env2.DevJSONPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dj.Users {
		if dj2.Users[i].Token != dj.Users[i].Token {
			t.Errorf("user %s: token changed on reuse", dj.Users[i].Name)
		}
	}

	// Third call, new address: URLs and certificates follow, keys and secrets stay.
	env3, err := Ensure(ctx, root, "localhost:19443")
	if err != nil {
		t.Fatalf("Ensure with a new address: %v", err)
	}
	dj3, err := ReadDevJSON(env3.DevJSONPath)
	if err != nil {
		t.Fatal(err)
	}
	if dj3.URL != "https://localhost:19443" || dj3.Users[0].Token != dj.Users[0].Token {
		t.Errorf("after the address change: url %s, same token %v", dj3.URL, dj3.Users[0].Token == dj.Users[0].Token)
	}
	q3, _ := dj3.Users[0].Credential("alice-qes")
	q1, _ := dj.Users[0].Credential("alice-qes")
	if q3.PIN != q1.PIN || q3.TOTPSecret != q1.TOTPSecret {
		t.Error("scal 2 secrets changed with the address")
	}
	c3, err := ReadCertificates(q3.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if string(c3[0].Raw) == string(firstCerts["alice-qes"]) {
		t.Error("the credential certificate was not issued again for the new address")
	}
	if c3[0].OCSPServer[0] != "https://localhost:19443/dev/ocsp" || !publicEqual(c3[0].PublicKey, mustFirst(t, q1.Cert).PublicKey) {
		t.Errorf("reissued certificate: OCSP %v", c3[0].OCSPServer)
	}
	if cfg3, _ := os.ReadFile(env3.ConfigPath); !strings.Contains(string(cfg3), "addr: localhost:19443") {
		t.Error("dssd.yaml not rewritten for the new address")
	}
}

// TestEnsureRedoesUnfinishedRun simulates a first run that stopped half way: Ensure must start
// over instead of reusing the leftovers.
func TestEnsureRedoesUnfinishedRun(t *testing.T) {
	t.Setenv("SOFTHSM2_CONF", "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := t.TempDir()
	// Leftovers: a PKI directory with a stray file and a dev.json from nowhere, no state.json.
	if err := os.MkdirAll(filepath.Join(root, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "pki", "stray.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := Ensure(ctx, root, "127.0.0.1:18444")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "pki", "stray.pem")); err == nil {
		t.Error("leftovers of an unfinished run were kept")
	}
	if _, err := ReadDevJSON(env.DevJSONPath); err != nil {
		t.Error(err)
	}
	if _, err := Load(root); err != nil {
		t.Errorf("Load after Ensure: %v", err)
	}
	// A complete environment with a file removed is reported, not silently recreated.
	if err := os.Remove(env.TSAKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, root, "127.0.0.1:18444"); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Ensure on a damaged environment: %v", err)
	}
}

// keyIDOf is the CKA_ID the first run gives a credential's key.
func keyIDOf(t *testing.T, id string) int {
	t.Helper()
	for n, c := range devCredentials() {
		if c.id == id {
			return n + 1
		}
	}
	t.Fatalf("credential %s is not a dev credential", id)
	return 0
}

func mustFirst(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := ReadCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

func publicEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

func verifySig(pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unexpected key type %T", pub)
}

// checkModes asserts the permissions of the directory and of the files holding secrets.
func checkModes(t *testing.T, root string) {
	t.Helper()
	st, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s mode %v, want 0700", root, st.Mode().Perm())
	}
	secret := []string{"state.json", "dev.json", "dssd.yaml", "hsm/user.pin", "hsm/so.pin", "pki/root.key",
		"pki/issuing-ca.key", "pki/tls.key", "pki/ocsp.key", "pki/tsa.key", "secrets/alice-qes.pin",
		"secrets/alice-qes.totp", "secrets/sad.key", "secrets/audit.key"}
	for _, f := range secret {
		st, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v: readable by others", f, st.Mode().Perm())
		}
	}
}
