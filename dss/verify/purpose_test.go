package verify

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/dss/xades"
)

var oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// TestSignerPurpose: only certificates for signing documents sign documents; a TLS server,
// TSA, OCSP responder or code-signing certificate under a trusted root does not.
func TestSignerPurpose(t *testing.T) {
	p := newPKI(t)
	obj := xades.Object{Data: []byte(smallDoc), XML: true}
	chainFail := want{Indeterminate, ChainConstraintsFailure, ReasonChain}
	leaf := func(mod func(*x509.Certificate)) party {
		return signerCert(t, "purpose signer", ecKeyP256(t), &p.ca, mod)
	}
	for _, tt := range []struct {
		name string
		s    party
		w    want
	}{
		{"no extended key usage", leaf(nil), passed},
		{"documentSigning", leaf(func(c *x509.Certificate) { c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{oidDocumentSigning} }), passed},
		{"emailProtection", leaf(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection} }), passed},
		{"anyExtendedKeyUsage", leaf(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }), passed},
		{"TLS server", leaf(func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		}), chainFail},
		{"the TSA's certificate", p.tsa, chainFail},
		{"OCSP signing", leaf(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning} }), chainFail},
		{"code signing", leaf(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning} }), chainFail},
		{"no key usage", leaf(func(c *x509.Certificate) { c.KeyUsage = 0 }), chainFail},
		{"key encipherment only", leaf(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), chainFail},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := sign(t, tt.s, p.chainOf(tt.s), obj, xades.TypeXAdES, xades.Enveloped, "")
			check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, tt.w)
			if err := CheckSignerCertificate(tt.s.cert, nil); (err == nil) != (tt.w == passed) {
				t.Errorf("CheckSignerCertificate: %v", err)
			}
		})
	}
	t.Run("configured list", func(t *testing.T) {
		tls := leaf(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
		s := sign(t, tls, p.chainOf(tls), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, func(c *Config) { c.SignerEKUs = []string{"1.3.6.1.5.5.7.3.1"} }), Input{Signature: bytesOf(s)}, passed)
		if _, err := New(Config{SignerEKUs: []string{"not an oid"}}); err == nil {
			t.Error("a bad OID accepted")
		}
	})
}

// TestIntermediatePurpose: an intermediate CA with an extendedKeyUsage constrains its
// signers (RFC 5280 practice): it must share a document-signing usage with the signer.
func TestIntermediatePurpose(t *testing.T) {
	p := newPKI(t)
	obj := xades.Object{Data: []byte(smallDoc), XML: true}
	ica := func(ekus []x509.ExtKeyUsage) party {
		k := ecKeyP256(t)
		return party{cert: mkCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "constrained CA"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, ExtKeyUsage: ekus}, k.Public(), &p.root), key: k}
	}
	for _, tt := range []struct {
		name    string
		caEKU   []x509.ExtKeyUsage
		leafEKU []asn1.ObjectIdentifier
		w       want
	}{
		{"TLS-only CA", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, nil, want{Indeterminate, ChainConstraintsFailure, ReasonChain}},
		{"email CA, documentSigning leaf", []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, []asn1.ObjectIdentifier{oidDocumentSigning}, want{Indeterminate, ChainConstraintsFailure, ReasonChain}},
		{"email CA, leaf without EKU", []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, nil, passed},
		{"any CA", []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, []asn1.ObjectIdentifier{oidDocumentSigning}, passed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ca := ica(tt.caEKU)
			s := signerCert(t, "signer", ecKeyP256(t), &ca, func(c *x509.Certificate) { c.UnknownExtKeyUsage = tt.leafEKU })
			sig := sign(t, s, []*x509.Certificate{s.cert, ca.cert}, obj, xades.TypeXAdES, xades.Enveloped, "")
			ocsps := [][]byte{ocspBy(t, ca.cert, ca, s.cert.SerialNumber, ocsp.Good, testNow, time.Time{}),
				ocspBy(t, p.root.cert, p.root, ca.cert.SerialNumber, ocsp.Good, testNow, time.Time{})}
			check(t, newVerifier(t, p, func(c *Config) { c.Revocation = nil }), Input{Signature: bytesOf(sig), OCSP: ocsps}, tt.w)
		})
	}
}
