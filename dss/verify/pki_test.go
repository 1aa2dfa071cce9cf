package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/ocsp"

	"dssd/dss/xades"
)

// testNow is the fixed validation time of the unit tests.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// party is a certificate with its key.
type party struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// testPKI is a root, an issuing CA under it, signers of every kind, a TSA and an untrusted
// root with its own signer.
type testPKI struct {
	root, ca, tsa       party
	rsa, ec, ec384      party // valid signers
	expired, revoked    party
	small               party // RSA-1024 signer
	otherRoot, stranger party // an untrusted root and a signer under it
	revokedAt           time.Time
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
)

// newPKI builds the test PKI once per test binary (RSA key generation is slow).
func newPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal = buildPKI(t) })
	if pkiVal == nil {
		t.Fatal("test PKI unavailable")
	}
	return pkiVal
}

func mkCert(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, parent *party) *x509.Certificate {
	t.Helper()
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = sn.Add(sn, big.NewInt(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = testNow.Add(-365 * 24 * time.Hour)
		tmpl.NotAfter = testNow.Add(365 * 24 * time.Hour)
	}
	p, key := tmpl, crypto.Signer(nil)
	if parent != nil {
		p, key = parent.cert, parent.key
	}
	if key == nil {
		t.Fatal("no issuer key")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func selfSigned(t testing.TB, cn string) party {
	k := ecKey(t, elliptic.P256())
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	self := &party{key: k}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = testNow.Add(-10*365*24*time.Hour), testNow.Add(10*365*24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	self.cert, _ = x509.ParseCertificate(der)
	return *self
}

func signerCert(t testing.TB, cn string, key crypto.Signer, issuer *party, mod func(*x509.Certificate)) party {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"dssd test"}},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	if mod != nil {
		mod(tmpl)
	}
	return party{cert: mkCert(t, tmpl, key.Public(), issuer), key: key}
}

func buildPKI(t testing.TB) *testPKI {
	p := &testPKI{root: selfSigned(t, "dssd test root")}
	caKey := ecKey(t, elliptic.P256())
	p.ca = party{cert: mkCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "dssd test issuing CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, caKey.Public(), &p.root), key: caKey}
	p.rsa = signerCert(t, "rsa signer", rsaKey(t, 2048), &p.ca, nil)
	p.ec = signerCert(t, "ec signer", ecKey(t, elliptic.P256()), &p.ca, nil)
	p.ec384 = signerCert(t, "ec384 signer", ecKey(t, elliptic.P384()), &p.ca, nil)
	p.expired = signerCert(t, "expired signer", ecKey(t, elliptic.P256()), &p.ca, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = testNow.Add(-60*24*time.Hour), testNow.Add(-30*24*time.Hour)
	})
	p.revoked = signerCert(t, "revoked signer", ecKey(t, elliptic.P256()), &p.ca, nil)
	p.revokedAt = testNow.Add(-24 * time.Hour)
	p.small = signerCert(t, "small signer", rsaKey(t, 1024), &p.ca, nil)
	tsaKey := ecKey(t, elliptic.P256())
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	p.tsa = party{cert: mkCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "dssd test TSA"},
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}, tsaKey.Public(), &p.ca), key: tsaKey}
	p.otherRoot = selfSigned(t, "untrusted root")
	p.stranger = signerCert(t, "stranger", ecKey(t, elliptic.P256()), &p.otherRoot, nil)
	return p
}

// chainOf is the KeyInfo chain of a signer under the issuing CA.
func (p *testPKI) chainOf(s party) []*x509.Certificate {
	if s.cert.CheckSignatureFrom(p.otherRoot.cert) == nil {
		return []*x509.Certificate{s.cert}
	}
	return []*x509.Certificate{s.cert, p.ca.cert}
}

// ocspFor returns an OCSP response about s from its issuer (the issuing CA, or the root for
// the issuing CA).
func (p *testPKI) ocspFor(t testing.TB, s party, revoked bool) []byte {
	t.Helper()
	return p.ocspAt(t, s, revoked, testNow.Add(-time.Hour))
}

// ocspAt is ocspFor with the given thisUpdate (nextUpdate a day later).
func (p *testPKI) ocspAt(t testing.TB, s party, revoked bool, thisUpdate time.Time) []byte {
	t.Helper()
	issuer := p.ca
	if sameCert(s.cert, p.ca.cert) {
		issuer = p.root
	}
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: s.cert.SerialNumber,
		ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(24 * time.Hour)}
	if revoked {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, p.revokedAt, ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(issuer.cert, issuer.cert, tmpl, issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// crl returns a CRL of the issuing CA listing the revoked signer.
func (p *testPKI) crl(t testing.TB) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: p.revoked.cert.SerialNumber, RevocationTime: p.revokedAt}},
	}, p.ca.cert, p.ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// token returns an RFC 3161 token over digest, at time at.
func (p *testPKI) token(t testing.TB, digest []byte, at time.Time) []byte {
	t.Helper()
	ts := timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Time: at,
		Policy: asn1.ObjectIdentifier{1, 2, 3, 4}, Certificates: []*x509.Certificate{p.ca.cert}, AddTSACertificate: true}
	resp, err := ts.CreateResponse(p.tsa.cert, p.tsa.key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.RawToken
}

// sign makes an XAdES or XMLDSig signature with dss/xades.
func sign(t testing.TB, s party, chain []*x509.Certificate, obj xades.Object, typ string, pkg xades.Packaging, alg string) *xades.Signed {
	t.Helper()
	if alg == "" {
		alg = xades.ECDSASHA256
		if _, ok := s.key.(*rsa.PrivateKey); ok {
			alg = xades.RSASHA256
		}
	}
	out, err := xades.Sign(obj, xades.Params{Type: typ, Packaging: pkg, SignatureMethod: alg, Signer: s.key,
		Chain: chain, SigningTime: testNow.Add(-time.Hour), SignatureID: "sig-1"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// addTimestamp raises s to B-T with a token at time at (a changed digest when corrupt).
func (p *testPKI) addTimestamp(t testing.TB, s *xades.Signed, at time.Time, corrupt bool) *xades.Signed {
	t.Helper()
	in, err := xades.SignatureTimestampInput(s)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(in)
	if corrupt {
		d[0] ^= 1
	}
	out, err := xades.AddSignatureTimestamp(s, p.token(t, d[:], at))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, k crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
