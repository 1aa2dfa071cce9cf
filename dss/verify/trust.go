package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
)

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
		if wellFormedCertificate(der) {
			// An X.509 certificate whose key or extensions Go's parser does not support (a
			// brainpool curve, say): the signature may well be intact, so this is no
			// FORMAT_FAILURE, only a verdict dssd cannot reach.
			return nil, indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "%s uses a public key or encoding dssd does not support: %s", what, clip(err.Error()))
		}
		return nil, formatFailure("%s is not an X.509 certificate", what)
	}
	return cert, nil
}

// wellFormedCertificate reports whether der is DER of the Certificate SEQUENCE of RFC 5280
// §4.1 (tbsCertificate, signatureAlgorithm, signatureValue) with nothing after it.
func wellFormedCertificate(der []byte) bool {
	var c struct {
		TBS       asn1.RawValue
		Algorithm asn1.RawValue
		Signature asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &c)
	return err == nil && len(rest) == 0 && c.TBS.Tag == asn1.TagSequence && c.Algorithm.Tag == asn1.TagSequence
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
			if sv, v := b64Value(c.sv, "SignatureValue"); v == nil {
				if err := c.checkValue(leaf.PublicKey, sv); err != nil {
					if v := c.stopped(err); v != nil {
						return nil, v
					}
					return nil, swapped
				}
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
// ---------------------------------------------------------------- path and revocation

// reqState is what the signatures of one request share: the parsed revocation data and the
// path-building budget.
type reqState struct {
	rev      *revStore
	reqItems []*revItem // the request's own OCSP responses and CRLs (AdditionalKeyInfo)
	paths    int        // certificate paths built so far
	memo     map[[32]byte]pathResult

	nodesLeft int64                         // Limits.MaxNodes less the nodes of the documents parsed so far
	detached  map[*Document]*etree.Document // detached XML parsed for a Reference, once per input
}

type pathResult struct {
	chains [][]*x509.Certificate
	err    error
}

// newReqState parses the request's revocation data once. An error is a request limit.
func newReqState(v *Verifier, in *Input) (*reqState, error) {
	r := &reqState{rev: newRevStore(v.lim), memo: map[[32]byte]pathResult{}}
	for _, list := range []struct {
		ders  [][]byte
		isCRL bool
	}{{in.OCSP, false}, {in.CRLs, true}} {
		for _, der := range list.ders {
			it, err := r.rev.add(der, list.isCRL, fromRequest)
			if err != nil {
				return nil, err
			}
			r.reqItems = append(r.reqItems, it)
		}
	}
	return r, nil
}

// errPathBudget ends path building when a request has used its budget.
var errPathBudget = errors.New("path budget")

// buildPath runs x509.Verify for cert, at most Limits.MaxPathBuilds times per request, and
// remembers each answer: the signatures of a request usually share their signer and TSA.
func (c *sigCtx) buildPath(cert *x509.Certificate, extra []*x509.Certificate, at time.Time, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(at.UnixNano()))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(usage))
	h.Write(b[:])
	inter := x509.NewCertPool()
	for _, ic := range append([]*x509.Certificate{cert}, extra...) {
		d := sha256.Sum256(ic.Raw)
		h.Write(d[:])
		if ic != cert && !sameCert(ic, cert) {
			inter.AddCert(ic)
		}
	}
	var key [32]byte
	h.Sum(key[:0])
	if r, ok := c.req.memo[key]; ok {
		return r.chains, r.err
	}
	if c.req.paths >= c.v.lim.MaxPathBuilds {
		return nil, errPathBudget
	}
	c.req.paths++
	chains, err := cert.Verify(x509.VerifyOptions{Roots: c.v.anchors, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}})
	c.req.memo[key] = pathResult{chains, err}
	return chains, err
}

// trust validates the certificate path of signer at the validation time (or, when it is
// expired or not yet valid, at a proof of existence from a signature timestamp), its purpose
// and its revocation status.
func (c *sigCtx) trust(signer *x509.Certificate, poe []time.Time) *verdict {
	if err := c.v.purpose.signer(signer); err != nil {
		return indeterminate(ChainConstraintsFailure, ReasonChain, "%v", err)
	}
	// The path is built for any extended key usage; the document-signing purpose is checked
	// on the chains found (Go knows no id-kp-documentSigning), leaf and intermediates.
	at := c.at
	chains, err := c.buildPath(signer, c.candidates(), at, x509.ExtKeyUsageAny)
	if err != nil {
		var cie x509.CertificateInvalidError
		if !errors.As(err, &cie) || cie.Reason != x509.Expired {
			return c.pathVerdict(err, signer)
		}
		// Go reports "expired" and "not yet valid" alike. A signature timestamp inside the
		// validity period proves the signature existed while the path was valid.
		for _, t := range poe {
			if ch, err2 := c.buildPath(signer, c.candidates(), t, x509.ExtKeyUsageAny); err2 == nil {
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
	var chain []*x509.Certificate
	var perr error
	for _, ch := range chains {
		if perr = c.v.purpose.chain(ch); perr == nil {
			chain = ch
			break
		}
	}
	if chain == nil {
		return indeterminate(ChainConstraintsFailure, ReasonChain, "%v", perr)
	}
	c.res.Chain = chain
	return c.chainStatus(chain, poe, ReasonRevocation)
}

func (c *sigCtx) pathVerdict(err error, signer *x509.Certificate) *verdict {
	var cie x509.CertificateInvalidError
	var uae x509.UnknownAuthorityError
	switch {
	case errors.Is(err, errPathBudget):
		return indeterminate(ChainConstraintsFailure, ReasonChain, "the request needs more certificate paths than the limit of %d per request", c.v.lim.MaxPathBuilds)
	case errors.As(err, &uae):
		return indeterminate(NoCertificateChainFound, ReasonChain, "the signing certificate %q does not chain to a trust anchor", signer.Subject.String())
	case errors.As(err, &cie):
		return indeterminate(ChainConstraintsFailure, ReasonChain, "the certificate path is not acceptable: %s", cie.Error())
	}
	return indeterminate(NoCertificateChainFound, ReasonChain, "no acceptable certificate path to a trust anchor: %v", err)
}

// revItems are the offline revocation items of this signature: the request's and the
// signature's own (RevocationValues, TimeStampValidationData), each parsed once per request.
func (c *sigCtx) revItems() []*revItem {
	items := append([]*revItem{}, c.req.reqItems...)
	for _, list := range []struct {
		ders  [][]byte
		isCRL bool
	}{{c.ocsps, false}, {c.crls, true}} {
		for _, der := range list.ders {
			it, _ := c.req.rev.add(der, list.isCRL, fromEmbedded) // embedded items are not capped here
			items = append(items, it)
		}
	}
	return items
}

// revocationTimer is implemented by the errors of a RevocationSource that know when the
// certificate was revoked (dss/revocation's RevokedError).
type revocationTimer interface{ RevocationTime() time.Time }

// chainStatus checks the revocation status of every certificate of chain except the anchor
// (the last one), as status.go describes: the offline data first, the online source for what
// it leaves without a fresh status. poe are the proofs of existence of the signed object (the
// signature timestamps for a signer, the token's time for a TSA); reason is
// ReasonRevocation for the signer's path and ReasonTimestamp for a TSA's.
func (c *sigCtx) chainStatus(chain []*x509.Certificate, poe []time.Time, reason Reason) *verdict {
	if len(chain) < 2 {
		return nil // the certificate is itself an anchor
	}
	items := c.revItems()
	now := c.v.clock()
	best := earliest(poe)
	certs := chain[:len(chain)-1]
	open := []int{}
	stale := false
	for i, cert := range certs {
		st := judge(c.req.rev.observe(items, cert, chain[i+1]), now, best, c.v.freshness)
		switch st.state {
		case statusRevoked:
			if v := c.revokedVerdict(cert, st.revokedAt, poe, reason); v != nil {
				return v
			}
		case statusUnknown:
			open = append(open, i)
			stale = stale || st.stale
		}
	}
	if len(open) == 0 {
		return nil
	}
	first := certs[open[0]].Subject.String()
	why := "no revocation information"
	if stale {
		why = "no fresh revocation information (the data given is older than the freshness window and than the signature's proof of existence)"
	}
	if c.v.rev == nil {
		return indeterminate(TryLater, reason, "%s for %q and no online source is configured", why, first)
	}
	o, cr, err := c.v.rev.Validation(c.ctx, chain)
	if errors.Is(err, ErrRevoked) {
		var rt revocationTimer
		at := time.Time{}
		if errors.As(err, &rt) {
			at = rt.RevocationTime()
		}
		if v := c.revokedVerdict(certs[open[0]], at, poe, reason); v != nil {
			v.detail = strings.Replace(v.detail, fmt.Sprintf("%q", first), "of the path", 1)
			return v
		}
		return nil
	}
	if err != nil {
		return indeterminate(TryLater, reason, "%s for %q, and the online status is not available now", why, first)
	}
	online := []*revItem{}
	for _, list := range []struct {
		ders  [][]byte
		isCRL bool
	}{{o, false}, {cr, true}} {
		for _, der := range list.ders {
			if it, err := c.req.rev.add(der, list.isCRL, fromOnline); err == nil {
				online = append(online, it)
			}
		}
	}
	all := append(items, online...)
	for _, i := range open {
		st := judge(c.req.rev.observe(all, certs[i], chain[i+1]), now, best, c.v.freshness)
		switch st.state {
		case statusRevoked:
			if v := c.revokedVerdict(certs[i], st.revokedAt, poe, reason); v != nil {
				return v
			}
		case statusUnknown:
			return indeterminate(TryLater, reason, "the revocation status of %q is unknown", certs[i].Subject.String())
		}
	}
	return nil
}

func earliest(ts []time.Time) time.Time {
	var e time.Time
	for _, t := range ts {
		if e.IsZero() || t.Before(e) {
			e = t
		}
	}
	return e
}

// revokedVerdict judges a revoked certificate of the path. A proof of existence before the
// revocation shows the signature (or token) was made while the certificate was valid: no
// verdict. For a signer, a signature timestamp only at or after the revocation is
// TOTAL-FAILED/REVOKED; no timestamp, or no revocation time, INDETERMINATE/REVOKED_NO_POE. A
// TSA revoked before its token's time makes the timestamp unusable (INDETERMINATE).
func (c *sigCtx) revokedVerdict(cert *x509.Certificate, at time.Time, poe []time.Time, reason Reason) *verdict {
	name := fmt.Sprintf("%q", cert.Subject.String())
	if at.IsZero() {
		return indeterminate(RevokedNoPOE, reason, "the certificate %s is revoked", name)
	}
	for _, t := range poe {
		if t.Before(at) {
			return nil
		}
	}
	when := at.UTC().Format(time.RFC3339)
	if reason == ReasonTimestamp {
		return indeterminate(RevokedNoPOE, reason, "the timestamp authority's certificate %s was revoked at %s, before the token's time", name, when)
	}
	if len(poe) > 0 {
		return fail(Revoked, reason, "the certificate %s was revoked at %s, before the signature timestamp", name, when)
	}
	return indeterminate(RevokedNoPOE, reason, "the certificate %s was revoked at %s and no signature timestamp proves the signature existed before", name, when)
}
