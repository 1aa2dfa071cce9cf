package verify

import (
	"bytes"
	"crypto/x509"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

type statusState int

const (
	statusUnknown statusState = iota
	statusGood
	statusRevoked
)

type certStatus struct {
	state     statusState
	revokedAt time.Time
}

// clockSkew is the tolerance for revocation data issued "in the future".
const clockSkew = 5 * time.Minute

// checkStatus finds the status of cert (issued by issuer) at time at in the given DER OCSP
// responses and CRLs. Data that does not verify against issuer, is not about cert, or was
// issued after at is ignored. A revocation after at is no revocation at at.
func checkStatus(cert, issuer *x509.Certificate, ocsps, crls [][]byte, at time.Time) certStatus {
	best := certStatus{}
	note := func(s certStatus) {
		if s.state == statusRevoked && s.revokedAt.After(at) {
			s = certStatus{state: statusGood}
		}
		switch s.state {
		case statusGood:
			if best.state == statusUnknown {
				best = s
			}
		case statusRevoked:
			if best.state != statusRevoked || s.revokedAt.Before(best.revokedAt) {
				best = s
			}
		}
	}
	for _, der := range ocsps {
		note(ocspStatus(der, cert, issuer, at))
	}
	for _, der := range crls {
		note(crlStatus(der, cert, issuer, at))
	}
	return best
}

func ocspStatus(der []byte, cert, issuer *x509.Certificate, at time.Time) certStatus {
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil || resp == nil {
		return certStatus{}
	}
	// A delegated responder needs the OCSPSigning usage (RFC 6960 §4.2.2.2); the library
	// checked that the issuer signed its certificate.
	if resp.Certificate != nil && !sameCert(resp.Certificate, issuer) &&
		!slices.Contains(resp.Certificate.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return certStatus{}
	}
	if resp.ThisUpdate.After(at.Add(clockSkew)) {
		return certStatus{}
	}
	switch resp.Status {
	case ocsp.Good:
		return certStatus{state: statusGood}
	case ocsp.Revoked:
		return certStatus{state: statusRevoked, revokedAt: resp.RevokedAt}
	}
	return certStatus{}
}

func crlStatus(der []byte, cert, issuer *x509.Certificate, at time.Time) certStatus {
	rl, err := x509.ParseRevocationList(der)
	if err != nil || !bytes.Equal(rl.RawIssuer, issuer.RawSubject) || !bytes.Equal(cert.RawIssuer, issuer.RawSubject) {
		return certStatus{}
	}
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return certStatus{}
	}
	if rl.CheckSignatureFrom(issuer) != nil || rl.ThisUpdate.After(at.Add(clockSkew)) {
		return certStatus{}
	}
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return certStatus{state: statusRevoked, revokedAt: e.RevocationTime}
		}
	}
	return certStatus{state: statusGood}
}
