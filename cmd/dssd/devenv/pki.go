package devenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"dssd/cmd/dssd/devenv/devjson"
	"dssd/cmd/internal/pemcerts"
)

const (
	organization = "dssd development"
	rootValidity = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	// renewBefore: certificates closer than this to their end are issued again by Ensure.
	renewBefore = 30 * 24 * time.Hour
	// backdate covers clock skew between the machines of a development setup.
	backdate = time.Hour
)

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidOCSPNoCheck    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
)

// KeyPair is a certificate with its issuer chain and private key.
type KeyPair struct {
	Cert   *x509.Certificate
	Chain  []*x509.Certificate // issuers, nearest first (may be empty)
	Signer crypto.Signer
}

// LoadKeyPair reads a PEM certificate file (certificate first, then its chain) and a PEM
// PKCS#8 private key file.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	certs, err := ReadCertificates(certFile)
	if err != nil {
		return nil, err
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: certs[0], Chain: certs[1:], Signer: key}, nil
}

// IssuingCA returns the issuing CA certificate (chain: the root) and its key: it signs the
// development CRL.
func (e *Env) IssuingCA() (*KeyPair, error) {
	kp, err := LoadKeyPair(e.IssuingCACert, e.IssuingCAKey)
	if err != nil {
		return nil, err
	}
	root, err := ReadCertificates(e.RootCACert)
	if err != nil {
		return nil, err
	}
	kp.Chain = root
	return kp, nil
}

// RootCA returns the root CA certificate and its key: the development OCSP responder answers
// with it for the issuing CA.
func (e *Env) RootCA() (*KeyPair, error) { return LoadKeyPair(e.RootCACert, e.rootKey()) }

// OCSPResponder returns the OCSP responder certificate (chain: the issuing CA) and its key.
func (e *Env) OCSPResponder() (*KeyPair, error) { return LoadKeyPair(e.OCSPCert, e.OCSPKey) }

// TSA returns the timestamp authority certificate (chain: the issuing CA) and its key.
func (e *Env) TSA() (*KeyPair, error) { return LoadKeyPair(e.TSACert, e.TSAKey) }

// ReadCertificates returns every certificate of a PEM file, in order.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	certs, err := pemcerts.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("devenv: %s holds no certificate", path)
	}
	return certs, nil
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("devenv: %s holds no PKCS#8 private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devenv: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("devenv: %s: not a signing key", path)
	}
	return s, nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	return writeSecret(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func writeCerts(path string, certs ...*x509.Certificate) error {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := devjson.WriteFileAtomic(path, out, 0o644); err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	return nil
}

// pkiKeys are the software keys of the development PKI.
type pkiKeys struct {
	root, issuing, tls, ocsp, tsa crypto.Signer
}

// createPKI makes the keys and every certificate of a new environment.
func (e *Env) createPKI(st *state, pubs map[string]crypto.PublicKey, addr string, o options) error {
	var k pkiKeys
	for _, p := range []struct {
		dst  *crypto.Signer
		file string
	}{
		{&k.root, e.rootKey()}, {&k.issuing, e.IssuingCAKey}, {&k.tls, e.TLSKey}, {&k.ocsp, e.OCSPKey}, {&k.tsa, e.TSAKey},
	} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), o.rand)
		if err != nil {
			return fmt.Errorf("devenv: %w", err)
		}
		if err := writeKey(p.file, key); err != nil {
			return err
		}
		*p.dst = key
	}
	now := o.now()
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "dssd development root CA", Organization: []string{organization}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	root, err := issue(o.rand, rootTmpl, k.root.Public(), nil, k.root)
	if err != nil {
		return fmt.Errorf("devenv: root CA: %w", err)
	}
	if err := writeCerts(e.RootCACert, root); err != nil {
		return err
	}
	return e.issueAll(st, pubs, addr, root, k, o)
}

// reissue issues every certificate but the root again, for the same keys, e.g. because the
// address in the AIA and CRL URLs changed.
func (e *Env) reissue(st *state, addr string, o options) error {
	roots, err := ReadCertificates(e.RootCACert)
	if err != nil {
		return err
	}
	var k pkiKeys
	for _, p := range []struct {
		dst  *crypto.Signer
		file string
	}{
		{&k.root, e.rootKey()}, {&k.issuing, e.IssuingCAKey}, {&k.tls, e.TLSKey}, {&k.ocsp, e.OCSPKey}, {&k.tsa, e.TSAKey},
	} {
		if *p.dst, err = readKey(p.file); err != nil {
			return err
		}
	}
	pubs := map[string]crypto.PublicKey{}
	for _, c := range st.Credentials {
		certs, err := ReadCertificates(e.credCert(c.ID))
		if err != nil {
			return err
		}
		pubs[c.ID] = certs[0].PublicKey
	}
	return e.issueAll(st, pubs, addr, roots[0], k, o)
}

// needsReissue reports whether a certificate other than the root ends within renewBefore.
func (e *Env) needsReissue(now time.Time) (bool, error) {
	files := []string{e.IssuingCACert, e.TLSCert, e.OCSPCert, e.TSACert}
	matches, err := filepath.Glob(filepath.Join(e.Root, "pki", "credentials", "*.pem"))
	if err != nil {
		return false, err
	}
	for _, f := range append(files, matches...) {
		certs, err := ReadCertificates(f)
		if err != nil {
			return false, err
		}
		if now.Add(renewBefore).After(certs[0].NotAfter) {
			return true, nil
		}
	}
	return false, nil
}

// issueAll issues the issuing CA, the TLS, OCSP and TSA certificates and one certificate per
// credential, all naming the OCSP and CRL URLs of addr.
func (e *Env) issueAll(st *state, pubs map[string]crypto.PublicKey, addr string, root *x509.Certificate, k pkiKeys, o options) error {
	now := o.now()
	base := baseURL(addr)
	leaf := func(cn string) *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{CommonName: cn, Organization: []string{organization}},
			NotBefore:             now.Add(-backdate),
			NotAfter:              now.Add(leafValidity),
			OCSPServer:            []string{base + "/dev/ocsp"},
			CRLDistributionPoints: []string{base + "/dev/crl"},
			BasicConstraintsValid: true,
		}
	}

	caTmpl := leaf("dssd development issuing CA")
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	caTmpl.IsCA = true
	caTmpl.MaxPathLen = 0
	caTmpl.MaxPathLenZero = true
	ca, err := issue(o.rand, caTmpl, k.issuing.Public(), root, k.root)
	if err != nil {
		return fmt.Errorf("devenv: issuing CA: %w", err)
	}
	if err := writeCerts(e.IssuingCACert, ca); err != nil {
		return err
	}

	tlsTmpl := leaf("dssd development server")
	tlsTmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tlsTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tlsTmpl.DNSNames = []string{"localhost"}
	tlsTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if h, _ := urlHost(addr); h != "localhost" {
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsLoopback() {
				tlsTmpl.IPAddresses = append(tlsTmpl.IPAddresses, ip)
			}
		} else {
			tlsTmpl.DNSNames = append(tlsTmpl.DNSNames, h)
		}
	}
	tlsCert, err := issue(o.rand, tlsTmpl, k.tls.Public(), ca, k.issuing)
	if err != nil {
		return fmt.Errorf("devenv: TLS certificate: %w", err)
	}
	if err := writeCerts(e.TLSCert, tlsCert, ca); err != nil {
		return err
	}

	ocspTmpl := leaf("dssd development OCSP responder")
	ocspTmpl.KeyUsage = x509.KeyUsageDigitalSignature
	ocspTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): the responder's own status is not checked.
	ocspTmpl.ExtraExtensions = []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1.NullBytes}}
	ocspCert, err := issue(o.rand, ocspTmpl, k.ocsp.Public(), ca, k.issuing)
	if err != nil {
		return fmt.Errorf("devenv: OCSP certificate: %w", err)
	}
	if err := writeCerts(e.OCSPCert, ocspCert, ca); err != nil {
		return err
	}

	// RFC 3161 §2.3 requires the timeStamping extended key usage to be critical. Go never
	// marks ExtKeyUsage critical, so the extension is written by hand.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return err
	}
	tsaTmpl := leaf("dssd development timestamp authority")
	tsaTmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	tsaTmpl.ExtraExtensions = []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}}
	tsaCert, err := issue(o.rand, tsaTmpl, k.tsa.Public(), ca, k.issuing)
	if err != nil {
		return fmt.Errorf("devenv: TSA certificate: %w", err)
	}
	if err := writeCerts(e.TSACert, tsaCert, ca); err != nil {
		return err
	}

	for _, c := range st.Credentials {
		pub, ok := pubs[c.ID]
		if !ok {
			return fmt.Errorf("devenv: no public key for credential %s", c.ID)
		}
		tmpl := leaf(c.Owner + " " + c.ID)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		cert, err := issue(o.rand, tmpl, pub, ca, k.issuing)
		if err != nil {
			return fmt.Errorf("devenv: certificate of %s: %w", c.ID, err)
		}
		if err := writeCerts(e.credCert(c.ID), cert, ca, root); err != nil {
			return err
		}
	}
	return nil
}

// issue signs tmpl for pub with the parent's key; a nil parent makes a self-signed
// certificate. It sets a random 128-bit serial number.
func issue(rand io.Reader, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func randomSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("devenv: random: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // 127 significant bits, never zero
	return new(big.Int).SetBytes(b), nil
}
