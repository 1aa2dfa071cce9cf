package tsp

import (
	"bytes"
	"crypto"
	"crypto/sha1" // #nosec: ESSCertID (RFC 2634) identifies a certificate by its SHA-1 hash
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

var (
	oidExtKeyUsage            = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSigningCertificate     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidContentTypeTSTInfo     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttributeContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidSHA256                 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384                 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512                 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	errNoSigningCertAttribute = errors.New("the token has no ESS signing-certificate attribute")
)

// PKIStatus values of RFC 3161 §2.4.2.
const (
	statusGranted         = 0
	statusGrantedWithMods = 1
)

// timeStampResp is RFC 3161 TimeStampResp, parsed here so that grantedWithMods is accepted.
type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

type pkiStatusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"`
	FailInfo     asn1.BitString  `asn1:"optional"`
}

// failInfoNames are the PKIFailureInfo bits of RFC 3161 §2.4.2.
var failInfoNames = map[int]string{
	0: "badAlg", 2: "badRequest", 5: "badDataFormat", 14: "timeNotAvailable",
	15: "unacceptedPolicy", 16: "unacceptedExtension", 17: "addInfoNotAvailable", 25: "systemFailure",
}

var statusNames = []string{"granted", "grantedWithMods", "rejection", "waiting", "revocationWarning", "revocationNotification"}

// verifyResponse checks a TimeStampResp and returns its token.
func (c *Client) verifyResponse(data []byte, h crypto.Hash, digest []byte, nonce *big.Int) ([]byte, error) {
	var resp timeStampResp
	rest, err := asn1.Unmarshal(data, &resp)
	if err != nil {
		return nil, errors.New("the response is not a DER TimeStampResp")
	}
	if len(rest) > 0 {
		return nil, errors.New("trailing data after the TimeStampResp")
	}
	switch st := resp.Status.Status; st {
	case statusGranted, statusGrantedWithMods:
	default:
		name := fmt.Sprintf("status %d", st)
		if st >= 0 && st < len(statusNames) {
			name = statusNames[st]
		}
		var fails []string
		for bit, n := range failInfoNames {
			if resp.Status.FailInfo.At(bit) == 1 {
				fails = append(fails, n)
			}
		}
		if len(fails) > 0 {
			return nil, fmt.Errorf("request refused: %s (%s)", name, strings.Join(fails, ", "))
		}
		return nil, fmt.Errorf("request refused: %s", name)
	}
	if len(resp.TimeStampToken.FullBytes) == 0 {
		return nil, errors.New("status granted but no token")
	}
	tok := resp.TimeStampToken.FullBytes
	ts, err := c.verifyToken(tok, h, digest)
	if err != nil {
		return nil, err
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, errors.New("the token does not carry the request's nonce")
	}
	return bytes.Clone(tok), nil
}

// VerifyToken checks a DER TimeStampToken (CMS ContentInfo) over digest as Timestamp does,
// except for the nonce, and returns its generation time.
func (c *Client) VerifyToken(token []byte, h crypto.Hash, digest []byte) (time.Time, error) {
	ts, err := c.verifyToken(token, h, digest)
	if err != nil {
		return time.Time{}, fmt.Errorf("tsp: %w", err)
	}
	return ts.Time, nil
}

func (c *Client) verifyToken(tok []byte, h crypto.Hash, digest []byte) (*timestamp.Timestamp, error) {
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		return nil, errors.New("the token is not a CMS SignedData")
	}
	if len(p7.Signers) != 1 {
		return nil, fmt.Errorf("the token has %d signers, want 1", len(p7.Signers))
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, errors.New("the token does not carry its signer's certificate")
	}
	var ct asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(oidAttributeContentType, &ct); err != nil || !ct.Equal(oidContentTypeTSTInfo) {
		return nil, errors.New("the token's content type is not TSTInfo")
	}
	if err := checkTSACertificate(signer); err != nil {
		return nil, err
	}
	if err := checkSigningCertAttribute(p7, signer); err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, ic := range p7.Certificates {
		inter.AddCert(ic)
	}
	for _, ic := range c.inter {
		inter.AddCert(ic)
	}
	now := c.now()
	// Verifies the CMS signature (message digest and signed attributes) and the chain.
	if err := p7.VerifyWithOpts(x509.VerifyOptions{
		Roots:         c.anchors,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
		CurrentTime:   now,
	}); err != nil {
		var uae x509.UnknownAuthorityError
		if errors.As(err, &uae) || strings.Contains(err.Error(), "certificate signed by unknown authority") {
			return nil, fmt.Errorf("the TSA certificate %q does not chain to a configured anchor", signer.Subject.String())
		}
		return nil, fmt.Errorf("the token does not verify: %w", err)
	}
	ts, err := timestamp.Parse(tok)
	if err != nil {
		return nil, fmt.Errorf("the token's TSTInfo: %w", err)
	}
	if ts.HashAlgorithm != h {
		return nil, fmt.Errorf("the token's imprint uses %v, the request %v", ts.HashAlgorithm, h)
	}
	if subtle.ConstantTimeCompare(ts.HashedMessage, digest) != 1 {
		return nil, errors.New("the token's message imprint is not the requested digest")
	}
	if c.policy != nil && !ts.Policy.Equal(c.policy) {
		return nil, fmt.Errorf("the token's policy %v is not the requested %v", ts.Policy, c.policy)
	}
	if d := ts.Time.Sub(now); d > c.skew || d < -c.skew {
		return nil, fmt.Errorf("the token's time %s is %s away from the local clock", ts.Time.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	if ts.Time.Before(signer.NotBefore) || ts.Time.After(signer.NotAfter) {
		return nil, errors.New("the token's time is outside the TSA certificate's validity")
	}
	return ts, nil
}

// checkTSACertificate applies RFC 3161 §2.3: the TSA certificate has exactly one extended key
// usage, timeStamping, in a critical extension.
func checkTSACertificate(c *x509.Certificate) error {
	critical := false
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			critical = e.Critical
		}
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("the TSA certificate %q is not for timestamping only (extended key usage)", c.Subject.String())
	}
	if !critical {
		return fmt.Errorf("the TSA certificate %q has a non-critical extended key usage", c.Subject.String())
	}
	return nil
}

type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"` // DEFAULT sha256
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}

type signingCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

type essCertID struct {
	CertHash     []byte
	IssuerSerial asn1.RawValue `asn1:"optional"`
}

type signingCertificate struct {
	Certs    []essCertID
	Policies asn1.RawValue `asn1:"optional"`
}

// checkSigningCertAttribute requires the ESS signing-certificate (v2 or v1) attribute to name
// the certificate that verifies the signature (RFC 3161 §2.4.2, RFC 5816).
func checkSigningCertAttribute(p7 *pkcs7.PKCS7, signer *x509.Certificate) error {
	var v2 signingCertificateV2
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificateV2, &v2); err == nil {
		if len(v2.Certs) == 0 {
			return errNoSigningCertAttribute
		}
		id := v2.Certs[0]
		var sum []byte
		switch alg := id.HashAlgorithm.Algorithm; {
		case len(alg) == 0 || alg.Equal(oidSHA256):
			s := sha256.Sum256(signer.Raw)
			sum = s[:]
		case alg.Equal(oidSHA384):
			s := sha512.Sum384(signer.Raw)
			sum = s[:]
		case alg.Equal(oidSHA512):
			s := sha512.Sum512(signer.Raw)
			sum = s[:]
		default:
			return fmt.Errorf("the token's signing-certificate attribute uses an unsupported hash %v", alg)
		}
		if !bytes.Equal(sum, id.CertHash) {
			return errors.New("the token's signing-certificate attribute names another certificate")
		}
		return nil
	}
	var v1 signingCertificate
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificate, &v1); err == nil {
		if len(v1.Certs) == 0 {
			return errNoSigningCertAttribute
		}
		s := sha1.Sum(signer.Raw)
		if !bytes.Equal(s[:], v1.Certs[0].CertHash) {
			return errors.New("the token's signing-certificate attribute names another certificate")
		}
		return nil
	}
	return errNoSigningCertAttribute
}
