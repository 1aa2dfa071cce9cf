package xades

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"math/big"
	"sync"
)

// certText is what a signature writes about one certificate, computed once per certificate
// (the service signs with few keys, each with the same chain on every request): the base64 of
// its DER (ds:X509Certificate), of its SHA-256 digest (SigningCertificateV2/CertDigest) and of
// its RFC 5035 IssuerSerial (IssuerSerialV2).
type certText struct {
	rawIssuer    []byte // what issuerSerial was computed from, beside the DER the cache is keyed by
	serial       *big.Int
	der          string
	sha256       string
	issuerSerial string
	issuerErr    error
}

// certTexts caches certText by the certificate's DER. maxCertTexts bounds it: when full it is
// emptied (a directory that hands out thousands of certificates costs one computation each
// time round, as before the cache).
var (
	certTextsMu sync.Mutex
	certTexts   = map[string]*certText{}
)

const maxCertTexts = 256

// textOf returns the certText of cert.
func textOf(cert *x509.Certificate) *certText {
	certTextsMu.Lock()
	t, ok := certTexts[string(cert.Raw)]
	certTextsMu.Unlock()
	if ok && sameSerial(t.serial, cert.SerialNumber) && bytes.Equal(t.rawIssuer, cert.RawIssuer) {
		return t
	}
	var serial *big.Int
	if cert.SerialNumber != nil {
		serial = new(big.Int).Set(cert.SerialNumber)
	}
	t = &certText{rawIssuer: bytes.Clone(cert.RawIssuer), serial: serial, der: b64(cert.Raw), sha256: b64(digest(crypto.SHA256, cert.Raw))}
	if is, err := issuerSerialV2(cert); err != nil {
		t.issuerErr = err
	} else {
		t.issuerSerial = b64(is)
	}
	certTextsMu.Lock()
	if len(certTexts) >= maxCertTexts {
		clear(certTexts)
	}
	certTexts[string(cert.Raw)] = t
	certTextsMu.Unlock()
	return t
}

func sameSerial(a, b *big.Int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Cmp(b) == 0
}
