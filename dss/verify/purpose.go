package verify

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultSignerEKUs are the extended key usages that allow a certificate to sign documents
// when it carries the extension: id-kp-documentSigning (RFC 9336), id-kp-emailProtection,
// Microsoft Document Signing, Adobe Authentic Documents Trust and anyExtendedKeyUsage.
var DefaultSignerEKUs = []string{
	"1.3.6.1.5.5.7.3.36",
	"1.3.6.1.5.5.7.3.4",
	"1.3.6.1.4.1.311.10.3.12",
	"1.2.840.113583.1.1.5",
	"2.5.29.37.0",
}

const oidAnyEKU = "2.5.29.37.0"

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// purpose decides whether a certificate may sign documents.
type purpose struct {
	ekus []string // allowed extended key usages, dotted
}

func newPurpose(ekus []string) (purpose, error) {
	if len(ekus) == 0 {
		ekus = DefaultSignerEKUs
	}
	for _, e := range ekus {
		if _, err := parseOID(e); err != nil {
			return purpose{}, fmt.Errorf("verify: signer extended key usage %q: %w", e, err)
		}
	}
	return purpose{ekus: slices.Clone(ekus)}, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("not a dotted object identifier")
	}
	for _, p := range parts {
		n := 0
		if p == "" || len(p) > 9 {
			return nil, errors.New("not a dotted object identifier")
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return nil, errors.New("not a dotted object identifier")
			}
			n = n*10 + int(r-'0')
		}
		oid = append(oid, n)
	}
	return oid, nil
}

// goEKUs are the dotted OIDs of crypto/x509's named extended key usages.
var goEKUs = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:                            oidAnyEKU,
	x509.ExtKeyUsageServerAuth:                     "1.3.6.1.5.5.7.3.1",
	x509.ExtKeyUsageClientAuth:                     "1.3.6.1.5.5.7.3.2",
	x509.ExtKeyUsageCodeSigning:                    "1.3.6.1.5.5.7.3.3",
	x509.ExtKeyUsageEmailProtection:                "1.3.6.1.5.5.7.3.4",
	x509.ExtKeyUsageIPSECEndSystem:                 "1.3.6.1.5.5.7.3.5",
	x509.ExtKeyUsageIPSECTunnel:                    "1.3.6.1.5.5.7.3.6",
	x509.ExtKeyUsageIPSECUser:                      "1.3.6.1.5.5.7.3.7",
	x509.ExtKeyUsageTimeStamping:                   "1.3.6.1.5.5.7.3.8",
	x509.ExtKeyUsageOCSPSigning:                    "1.3.6.1.5.5.7.3.9",
	x509.ExtKeyUsageMicrosoftServerGatedCrypto:     "1.3.6.1.4.1.311.10.3.3",
	x509.ExtKeyUsageNetscapeServerGatedCrypto:      "2.16.840.1.113730.4.1",
	x509.ExtKeyUsageMicrosoftCommercialCodeSigning: "1.3.6.1.4.1.311.2.1.22",
	x509.ExtKeyUsageMicrosoftKernelCodeSigning:     "1.3.6.1.4.1.311.61.1.1",
}

// ekusOf returns the extended key usages of cert, dotted, as crypto/x509 parsed them, and
// whether it has the extension.
func ekusOf(cert *x509.Certificate) ([]string, bool) {
	has := false
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			has = true
		}
	}
	if !has {
		return nil, false
	}
	var out []string
	for _, u := range cert.ExtKeyUsage {
		if o, ok := goEKUs[u]; ok {
			out = append(out, o)
		}
	}
	for _, o := range cert.UnknownExtKeyUsage {
		out = append(out, o.String())
	}
	return out, true
}

// signer checks the signing certificate itself: keyUsage digitalSignature or nonRepudiation
// (contentCommitment), and, when it has an extendedKeyUsage, one that allows document
// signing. A TLS server, timestamping, OCSP signing or code signing certificate is refused.
func (p purpose) signer(cert *x509.Certificate) error {
	name := cert.Subject.String()
	if cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		if cert.KeyUsage == 0 {
			return fmt.Errorf("the signing certificate %q has no key usage; digitalSignature or nonRepudiation is required", name)
		}
		return fmt.Errorf("the signing certificate %q allows neither digitalSignature nor nonRepudiation", name)
	}
	ekus, has := ekusOf(cert)
	if has && !slices.ContainsFunc(ekus, func(e string) bool { return slices.Contains(p.ekus, e) }) {
		return fmt.Errorf("the signing certificate %q is not for document signing (extended key usage %s)", name, ekuNames(ekus))
	}
	return nil
}

// chain checks that the intermediate CAs of chain (signer first, anchor last, which is not
// constrained) allow the purpose the signer has: an intermediate with an extendedKeyUsage
// must share one of the allowed usages with the signer, or carry anyExtendedKeyUsage (the
// nesting rule of RFC 5280 practice, as browsers and Go apply it).
func (p purpose) chain(chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("empty certificate path")
	}
	allowed := p.ekus
	if ekus, has := ekusOf(chain[0]); has && !slices.Contains(ekus, oidAnyEKU) {
		allowed = intersect(allowed, ekus)
	}
	for i := 1; i < len(chain)-1; i++ {
		ca := chain[i]
		ekus, has := ekusOf(ca)
		if !has || slices.Contains(ekus, oidAnyEKU) {
			continue
		}
		if allowed = intersect(allowed, ekus); len(allowed) == 0 {
			return fmt.Errorf("the intermediate CA %q does not allow document signing (extended key usage %s)", ca.Subject.String(), ekuNames(ekus))
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("the signing certificate %q is not for document signing", chain[0].Subject.String())
	}
	return nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

var ekuLabels = map[string]string{
	"1.3.6.1.5.5.7.3.1":  "serverAuth",
	"1.3.6.1.5.5.7.3.2":  "clientAuth",
	"1.3.6.1.5.5.7.3.3":  "codeSigning",
	"1.3.6.1.5.5.7.3.4":  "emailProtection",
	"1.3.6.1.5.5.7.3.8":  "timeStamping",
	"1.3.6.1.5.5.7.3.9":  "OCSPSigning",
	"1.3.6.1.5.5.7.3.36": "documentSigning",
	oidAnyEKU:            "anyExtendedKeyUsage",
}

func ekuNames(ekus []string) string {
	if len(ekus) == 0 {
		return "(none readable)"
	}
	out := make([]string, len(ekus))
	for i, e := range ekus {
		if l, ok := ekuLabels[e]; ok {
			out[i] = l
		} else {
			out[i] = e
		}
	}
	return strings.Join(out, ", ")
}

// CheckSignerCertificate reports why cert may not sign documents under the extended key
// usages ekus (nil: DefaultSignerEKUs); nil when it may. dssd applies it to the certificates
// of its own credentials when it loads them.
func CheckSignerCertificate(cert *x509.Certificate, ekus []string) error {
	p, err := newPurpose(ekus)
	if err != nil {
		return err
	}
	return p.signer(cert)
}
