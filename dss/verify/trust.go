package verify

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
	"dssd/dss/xmlsafe"
)

func parseDetachedXML(b []byte, lim Limits) (*etree.Document, error) {
	doc, err := xmlsafe.Parse(b, lim.Document)
	if err != nil {
		return nil, err
	}
	if doc.Root() == nil {
		return nil, errors.New("no root element")
	}
	return doc, nil
}

// certificates collects the KeyInfo certificates and the XAdES validation data (never a
// KeyValue: a key in the message is never trusted).
func (c *sigCtx) certificates() *verdict {
	if c.ki != nil {
		for _, xd := range c.ki.ChildElements() {
			if !is(xd, xades.NSXMLDSig, "X509Data") {
				continue
			}
			for _, ce := range xd.ChildElements() {
				if !is(ce, xades.NSXMLDSig, "X509Certificate") {
					continue
				}
				cert, v := c.parseCert(ce, "KeyInfo X509Certificate")
				if v != nil {
					return v
				}
				if len(c.keyCerts) >= c.v.lim.MaxCertsPerSig {
					return indeterminate(SigConstraintsFailure, ReasonKeyInfo, "more than %d certificates in KeyInfo", c.v.lim.MaxCertsPerSig)
				}
				c.keyCerts = append(c.keyCerts, cert)
			}
		}
	}
	if c.usp == nil {
		return nil
	}
	nRev := 0
	addRev := func(list *[][]byte, el *etree.Element, what string) *verdict {
		b, v := b64Value(el, what)
		if v != nil {
			return v
		}
		if nRev++; nRev > c.v.lim.MaxRevocation {
			return indeterminate(SigConstraintsFailure, ReasonRevocation, "more than %d revocation values", c.v.lim.MaxRevocation)
		}
		*list = append(*list, b)
		return nil
	}
	for _, p := range c.usp.ChildElements() {
		isVD := is(p, xades.NSXAdES141, "TimeStampValidationData")
		if is(p, xades.NSXAdES, "CertificateValues") || isVD {
			if is(p, xades.NSXAdES, "CertificateValues") {
				c.res.Level = "B-LT"
			}
			for _, e := range p.ChildElements() {
				if is(e, xades.NSXAdES, "CertificateValues") && isVD {
					for _, ee := range e.ChildElements() {
						if v := c.addValCert(ee); v != nil {
							return v
						}
					}
					continue
				}
				if v := c.addValCert(e); v != nil {
					return v
				}
			}
		}
		if is(p, xades.NSXAdES, "RevocationValues") || isVD {
			rvs := []*etree.Element{p}
			if isVD {
				rvs = nil
				for _, e := range p.ChildElements() {
					if is(e, xades.NSXAdES, "RevocationValues") {
						rvs = append(rvs, e)
					}
				}
			}
			for _, rv := range rvs {
				for _, kind := range rv.ChildElements() {
					for _, val := range kind.ChildElements() {
						switch {
						case is(kind, xades.NSXAdES, "OCSPValues") && is(val, xades.NSXAdES, "EncapsulatedOCSPValue"):
							if v := addRev(&c.ocsps, val, "EncapsulatedOCSPValue"); v != nil {
								return v
							}
						case is(kind, xades.NSXAdES, "CRLValues") && is(val, xades.NSXAdES, "EncapsulatedCRLValue"):
							if v := addRev(&c.crls, val, "EncapsulatedCRLValue"); v != nil {
								return v
							}
						}
					}
				}
			}
		}
		if is(p, xades.NSXAdES141, "ArchiveTimeStamp") {
			c.res.Level = "B-LTA"
		}
	}
	return nil
}

func (c *sigCtx) addValCert(e *etree.Element) *verdict {
	if !is(e, xades.NSXAdES, "EncapsulatedX509Certificate") {
		return nil
	}
	cert, v := c.parseCert(e, "EncapsulatedX509Certificate")
	if v != nil {
		return v
	}
	if len(c.valCerts) >= 4*c.v.lim.MaxCertsPerSig {
		return indeterminate(SigConstraintsFailure, ReasonKeyInfo, "too many certificates in the validation data")
	}
	c.valCerts = append(c.valCerts, cert)
	return nil
}

func (c *sigCtx) parseCert(el *etree.Element, what string) (*x509.Certificate, *verdict) {
	der, v := b64Value(el, what)
	if v != nil {
		return nil, v
	}
	if len(der) > c.v.lim.MaxCertBytes {
		return nil, indeterminate(SigConstraintsFailure, ReasonKeyInfo, "a certificate of %d bytes; the limit is %d", len(der), c.v.lim.MaxCertBytes)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, formatFailure("%s is not an X.509 certificate", what)
	}
	return cert, nil
}

// candidates are every certificate that may be the signer's or on its path.
func (c *sigCtx) candidates() []*x509.Certificate {
	out := append([]*x509.Certificate{}, c.keyCerts...)
	out = append(out, c.valCerts...)
	return append(out, c.in.Certificates...)
}

// signingCertificate identifies the signing certificate.
func (c *sigCtx) signingCertificate() (*x509.Certificate, *verdict) {
	if !c.res.XAdES {
		leaf := leafOf(c.keyCerts)
		if leaf == nil {
			return nil, indeterminate(NoSigningCertificateFound, ReasonKeyInfo, "KeyInfo holds no X509Certificate (a KeyValue is never trusted)")
		}
		return leaf, nil
	}
	ids, v := c.signingCertIDs()
	if v != nil {
		return nil, v
	}
	if len(ids) == 0 {
		return nil, indeterminate(NoSigningCertificateFound, ReasonSigningCertificate, "the signed properties hold neither SigningCertificateV2 nor SigningCertificate")
	}
	for _, cert := range c.candidates() {
		ok, v := ids[0].matches(cert)
		if v != nil {
			return nil, v
		}
		if ok {
			return cert, nil
		}
	}
	// No certificate carries the signed digest. If KeyInfo names a certificate whose key does
	// not even verify the signature, it was swapped: say so. Otherwise the signed properties
	// name another certificate than the one that signed.
	if leaf := leafOf(c.keyCerts); leaf != nil {
		swapped := fail(SigCryptoFailure, ReasonSignatureValue, "the signature value does not verify with the KeyInfo certificate, and no certificate has the digest the signed properties name")
		switch kv := c.keyPolicy(leaf.PublicKey); {
		case kv != nil && kv.ind == TotalFailed:
			return nil, swapped
		case kv == nil:
			if sv, v := b64Value(c.sv, "SignatureValue"); v == nil && c.checkValue(leaf.PublicKey, sv) != nil {
				return nil, swapped
			}
		}
		return nil, indeterminate(NoSigningCertificateFound, ReasonSigningCertificate, "the signing certificate named by %s is not the KeyInfo certificate %q", ids[0].what, leaf.Subject.String())
	}
	return nil, indeterminate(NoSigningCertificateFound, ReasonKeyInfo, "no certificate has the digest %s names", ids[0].what)
}

// leafOf returns the certificate of certs that issues no other one of them (the first such).
func leafOf(certs []*x509.Certificate) *x509.Certificate {
	for _, a := range certs {
		issues := false
		for _, b := range certs {
			if a != b && !bytes.Equal(a.Raw, b.Raw) && bytes.Equal(b.RawIssuer, a.RawSubject) && b.CheckSignatureFrom(a) == nil {
				issues = true
				break
			}
		}
		if !issues {
			return a
		}
	}
	return nil
}

// certID is one xades:Cert of SigningCertificateV2 or SigningCertificate.
type certID struct {
	what      string
	digestURI string
	digest    []byte
	serial    *big.Int // nil when absent
	issuerDER []byte   // V2: the RFC 5035 IssuerSerial's directoryName; nil when absent
	issuerStr string   // V1: ds:X509IssuerName
	policy    *Policy
}

// signingCertIDs reads the first xades:Cert of SigningCertificateV2 (or SigningCertificate):
// the signing certificate's reference (EN 319 132-1 §5.2.2).
func (c *sigCtx) signingCertIDs() ([]certID, *verdict) {
	var ssp *etree.Element
	for _, k := range c.sp.ChildElements() {
		if is(k, xades.NSXAdES, "SignedSignatureProperties") {
			if ssp != nil {
				return nil, formatFailure("two SignedSignatureProperties")
			}
			ssp = k
		}
	}
	if ssp == nil {
		return nil, nil
	}
	var out []certID
	for _, p := range ssp.ChildElements() {
		v2 := is(p, xades.NSXAdES, "SigningCertificateV2")
		switch {
		case is(p, xades.NSXAdES, "SigningTime"):
			s, ok := text(p)
			t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
			if !ok || err != nil {
				return nil, formatFailure("SigningTime is not an xs:dateTime")
			}
			c.res.SigningTime = t.UTC()
		case v2 || is(p, xades.NSXAdES, "SigningCertificate"):
			what := "SigningCertificate"
			if v2 {
				what = "SigningCertificateV2"
			}
			certs := p.ChildElements()
			if len(certs) == 0 {
				return nil, formatFailure("%s holds no Cert", what)
			}
			id, v := parseCertID(certs[0], what, v2)
			if v != nil {
				return nil, v
			}
			id.policy = &c.v.policy
			if v2 {
				out = append([]certID{id}, out...) // V2 first
			} else {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func parseCertID(el *etree.Element, what string, v2 bool) (certID, *verdict) {
	id := certID{what: what}
	if !is(el, xades.NSXAdES, "Cert") {
		return id, formatFailure("%s holds %s, want Cert", what, clip(el.FullTag()))
	}
	for _, k := range el.ChildElements() {
		switch {
		case is(k, xades.NSXAdES, "CertDigest"):
			kids := k.ChildElements()
			if len(kids) != 2 || !is(kids[0], xades.NSXMLDSig, "DigestMethod") || !is(kids[1], xades.NSXMLDSig, "DigestValue") {
				return id, formatFailure("%s: malformed CertDigest", what)
			}
			id.digestURI = kids[0].SelectAttrValue("Algorithm", "")
			d, v := b64Value(kids[1], what+" DigestValue")
			if v != nil {
				// The signer's own (signed) property names no certificate: not a changed
				// signature, so not TOTAL-FAILED (corpus: dss-sign-cert-v2-wrong-digest.xml).
				return id, indeterminate(NoSigningCertificateFound, ReasonSigningCertificate, "%s", v.detail)
			}
			id.digest = d
		case v2 && is(k, xades.NSXAdES, "IssuerSerialV2"):
			der, v := b64Value(k, "IssuerSerialV2")
			if v != nil {
				return id, v
			}
			var is struct {
				Issuer []asn1.RawValue
				Serial *big.Int
			}
			if rest, err := asn1.Unmarshal(der, &is); err != nil || len(rest) != 0 || is.Serial == nil {
				return id, formatFailure("IssuerSerialV2 is not an RFC 5035 IssuerSerial")
			}
			id.serial = is.Serial
			for _, gn := range is.Issuer {
				if gn.Class == asn1.ClassContextSpecific && gn.Tag == 4 {
					id.issuerDER = gn.Bytes
				}
			}
		case !v2 && is(k, xades.NSXAdES, "IssuerSerial"):
			for _, e := range k.ChildElements() {
				s, ok := text(e)
				if !ok {
					return id, formatFailure("IssuerSerial holds mixed content")
				}
				switch {
				case is(e, xades.NSXMLDSig, "X509IssuerName"):
					id.issuerStr = strings.TrimSpace(s)
				case is(e, xades.NSXMLDSig, "X509SerialNumber"):
					n, ok := new(big.Int).SetString(strings.TrimSpace(s), 10)
					if !ok {
						return id, formatFailure("X509SerialNumber is not an integer")
					}
					id.serial = n
				}
			}
		}
	}
	if id.digest == nil {
		return id, formatFailure("%s has no CertDigest", what)
	}
	return id, nil
}

// matches reports whether cert is the certificate id names: digest, and serial and issuer
// when given.
func (id certID) matches(cert *x509.Certificate) (bool, *verdict) {
	h, v := id.policy.digest(id.digestURI)
	if v != nil {
		v.detail = id.what + ": " + v.detail
		return false, v
	}
	w := h.New()
	w.Write(cert.Raw)
	if subtle.ConstantTimeCompare(w.Sum(nil), id.digest) != 1 {
		return false, nil
	}
	if id.serial != nil && id.serial.Cmp(cert.SerialNumber) != 0 {
		return false, indeterminate(NoSigningCertificateFound, ReasonSigningCertificate, "%s: the issuer serial number does not match the certificate with its digest", id.what)
	}
	if id.issuerDER != nil && !bytes.Equal(id.issuerDER, cert.RawIssuer) {
		return false, indeterminate(NoSigningCertificateFound, ReasonSigningCertificate, "%s: the issuer name does not match the certificate with its digest", id.what)
	}
	return true, nil
}

// ---------------------------------------------------------------- path and revocation

// trust validates the certificate path of signer at the validation time (or, when it is
// expired or not yet valid, at a proof of existence from a signature timestamp) and its
// revocation status.
func (c *sigCtx) trust(signer *x509.Certificate, poe []time.Time) *verdict {
	if ku := signer.KeyUsage; ku != 0 && ku&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return indeterminate(ChainConstraintsFailure, ReasonChain, "the signing certificate's key usage allows neither digitalSignature nor nonRepudiation")
	}
	inter := x509.NewCertPool()
	for _, ic := range c.candidates() {
		if !sameCert(ic, signer) {
			inter.AddCert(ic)
		}
	}
	at := c.at
	opts := x509.VerifyOptions{Roots: c.v.anchors, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	chains, err := signer.Verify(opts)
	if err != nil {
		var cie x509.CertificateInvalidError
		if !errors.As(err, &cie) || cie.Reason != x509.Expired {
			return c.pathVerdict(err, signer)
		}
		// Go reports "expired" and "not yet valid" alike. A signature timestamp inside the
		// validity period proves the signature existed while the path was valid.
		for _, t := range poe {
			opts.CurrentTime = t
			if ch, err2 := signer.Verify(opts); err2 == nil {
				chains, err, at = ch, nil, t
				break
			}
		}
		if err != nil {
			if signer.NotBefore.After(c.at) {
				return indeterminate(NotYetValid, ReasonValidity, "the signing certificate is not valid before %s", signer.NotBefore.UTC().Format(time.RFC3339))
			}
			return indeterminate(OutOfBoundsNoPOE, ReasonValidity, "a certificate of the path is outside its validity period at the validation time (the signer's ends %s) and no signature timestamp proves the signature existed before", signer.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	chain := chains[0]
	c.res.Chain = chain
	return c.revocation(chain, at, poe)
}

func (c *sigCtx) pathVerdict(err error, signer *x509.Certificate) *verdict {
	var cie x509.CertificateInvalidError
	var uae x509.UnknownAuthorityError
	switch {
	case errors.As(err, &uae):
		return indeterminate(NoCertificateChainFound, ReasonChain, "the signing certificate %q does not chain to a trust anchor", signer.Subject.String())
	case errors.As(err, &cie):
		return indeterminate(ChainConstraintsFailure, ReasonChain, "the certificate path is not acceptable: %s", cie.Error())
	}
	return indeterminate(NoCertificateChainFound, ReasonChain, "no acceptable certificate path to a trust anchor: %v", err)
}

// revocation checks every certificate of chain except the anchor (the last one): first with
// the embedded and extra revocation data at the time at, then online.
func (c *sigCtx) revocation(chain []*x509.Certificate, at time.Time, poe []time.Time) *verdict {
	if len(chain) < 2 {
		return nil // the signer is itself an anchor
	}
	ocsps := append(append([][]byte{}, c.ocsps...), c.in.OCSP...)
	crls := append(append([][]byte{}, c.crls...), c.in.CRLs...)
	var unknown []int
	for i, cert := range chain[:len(chain)-1] {
		st := checkStatus(cert, chain[i+1], ocsps, crls, at)
		switch st.state {
		case statusRevoked:
			if v := c.revokedVerdict(cert, st.revokedAt, poe); v != nil {
				return v
			}
		case statusUnknown:
			unknown = append(unknown, i)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	first := chain[unknown[0]].Subject.String()
	if c.v.rev == nil {
		return indeterminate(TryLater, ReasonRevocation, "no revocation information for %q and no online source is configured", first)
	}
	o, cr, err := c.v.rev.Validation(c.ctx, chain)
	revokedOnline := errors.Is(err, ErrRevoked)
	if err != nil && !revokedOnline {
		return indeterminate(TryLater, ReasonRevocation, "the revocation status of %q is not available now", first)
	}
	now := c.v.clock()
	for _, i := range unknown {
		st := checkStatus(chain[i], chain[i+1], o, cr, now)
		switch {
		case st.state == statusRevoked:
			if v := c.revokedVerdict(chain[i], st.revokedAt, poe); v != nil {
				return v
			}
		case revokedOnline:
			return c.revokedVerdict(chain[i], time.Time{}, poe)
		case st.state == statusUnknown:
			return indeterminate(TryLater, ReasonRevocation, "the revocation status of %q is unknown", chain[i].Subject.String())
		}
	}
	return nil
}

// revokedVerdict judges a revoked certificate of the path. A signature timestamp before the
// revocation proves the signature was made while the certificate was valid: no verdict. A
// signature timestamp only at or after the revocation: TOTAL-FAILED/REVOKED. No timestamp, or
// no revocation time: INDETERMINATE/REVOKED_NO_POE.
func (c *sigCtx) revokedVerdict(cert *x509.Certificate, at time.Time, poe []time.Time) *verdict {
	if at.IsZero() {
		return indeterminate(RevokedNoPOE, ReasonRevocation, "the certificate %q is revoked", cert.Subject.String())
	}
	for _, t := range poe {
		if t.Before(at) {
			return nil
		}
	}
	when := at.UTC().Format(time.RFC3339)
	if len(poe) > 0 {
		return fail(Revoked, ReasonRevocation, "the certificate %q was revoked at %s, before the signature timestamp", cert.Subject.String(), when)
	}
	return indeterminate(RevokedNoPOE, ReasonRevocation, "the certificate %q was revoked at %s and no signature timestamp proves the signature existed before", cert.Subject.String(), when)
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if sameCert(x, c) {
			return true
		}
	}
	return false
}
