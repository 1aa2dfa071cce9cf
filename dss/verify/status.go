package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// clockSkew is the tolerance for revocation data and tokens issued "in the future".
const clockSkew = 5 * time.Minute

// Revocation data is judged as EN 319 102-1 orders it (docs/decisions.md, "revocation
// freshness"):
//
//   - every OCSP response and CRL of a request (AdditionalKeyInfo, the embedded
//     RevocationValues and TimeStampValidationData of every signature, the answers of the
//     online source) is parsed once, into a revStore shared by the signatures of the request;
//   - an item is used for a certificate only once it is matched to the certificate's issuer:
//     a CRL signed by the issuer (cRLSign), complete (no delta CRL, no scope-limiting
//     issuing distribution point), an OCSP answer signed by the issuer or by a responder the
//     issuer certified with id-kp-OCSPSigning, whose CertID (issuer name and key hashes,
//     serial) names the certificate;
//   - "revoked" from any item wins over "good" from another;
//   - "good" counts only when fresh for the time it is used at: issued after the best proof of
//     existence of the signature (a verified timestamp) — it then shows the certificate was
//     not revoked when the signature already existed — or, without one, issued within the
//     freshness window before the verifier's clock and not past its nextUpdate. The time a
//     request asks for (UseVerificationTime) never makes data fresh: without a proof of
//     existence the signature may have been made at any time up to now;
//   - answers of the online source are fresh by the source's own rules (revocation.max_age);
//   - otherwise the online source is asked; without a fresh answer the status is unknown.

type statusState int

const (
	statusUnknown statusState = iota
	statusGood
	statusRevoked
)

// certStatus is the judged status of one certificate.
type certStatus struct {
	state     statusState
	revokedAt time.Time // statusRevoked: the revocation time (zero: unknown)
	stale     bool      // statusUnknown: good data was found, but none fresh
}

// observation is what one item says about one certificate.
type observation struct {
	revoked    bool
	revokedAt  time.Time
	thisUpdate time.Time
	nextUpdate time.Time // zero: absent
	online     bool      // from the online source
}

// judge applies the rules above to the observations about one certificate. now is the
// verifier's clock, poe the earliest proof of existence of the signed object (zero: none),
// window the freshness window.
func judge(obs []observation, now, poe time.Time, window time.Duration) certStatus {
	st := certStatus{}
	for _, o := range obs {
		if o.thisUpdate.IsZero() || o.thisUpdate.After(now.Add(clockSkew)) {
			continue // no date, or issued in the future: not evidence
		}
		if o.revoked {
			if st.state != statusRevoked || o.revokedAt.Before(st.revokedAt) {
				st = certStatus{state: statusRevoked, revokedAt: o.revokedAt}
			}
			continue
		}
		if st.state == statusRevoked {
			continue
		}
		if o.online || RevocationFresh(o.thisUpdate, o.nextUpdate, now, poe, window) {
			st.state = statusGood
		} else if st.state == statusUnknown {
			st.stale = true
		}
	}
	return st
}

// RevocationFresh is the freshness rule for a "good" OCSP response or CRL issued at
// thisUpdate and valid until nextUpdate (zero: absent), used at now: it is fresh when it was
// issued at or after poe, the best proof of existence of the signature (zero: none), or
// within window before now and not past its nextUpdate. OCSP and CRL times are whole seconds
// (RFC 5280, RFC 6960), so an answer issued in the second of the proof of existence counts as
// issued after it. dssd's producer applies the same rule to what it embeds at B-LT and B-LTA
// (dss/levels.go), with the signature timestamp as poe.
func RevocationFresh(thisUpdate, nextUpdate, now, poe time.Time, window time.Duration) bool {
	if !poe.IsZero() && !thisUpdate.Before(poe.Truncate(time.Second)) {
		return true
	}
	return !thisUpdate.Before(now.Add(-window)) && (nextUpdate.IsZero() || !now.After(nextUpdate))
}

// revStore holds the parsed revocation items of one request.
type revStore struct {
	maxItems     int
	maxBytes     int64
	items        map[[32]byte]*revItem
	order        []*revItem
	bytes        int64 // of request items
	requestItems int
	spki         map[*x509.Certificate][]byte // issuer → subjectPublicKey bits (OCSP key hash)
}

func newRevStore(lim Limits) *revStore {
	return &revStore{maxItems: lim.MaxRevocationValues, maxBytes: lim.MaxRevocationBytes,
		items: map[[32]byte]*revItem{}, spki: map[*x509.Certificate][]byte{}}
}

var errRevocationLimit = errors.New("revocation data limit")

// Where a revocation item comes from.
type revSource int

const (
	fromRequest  revSource = iota // AdditionalKeyInfo: capped by Limits.MaxRevocationValues/Bytes
	fromEmbedded                  // a signature's RevocationValues, TimeStampValidationData (Limits.MaxRevocation per signature)
	fromOnline                    // the configured online source
)

// add parses der (once per request) and returns its item. The request's count and size
// limits apply to the distinct items of AdditionalKeyInfo; embedded items are bounded per
// signature (Limits.MaxRevocation) and by the document size.
func (s *revStore) add(der []byte, isCRL bool, src revSource) (*revItem, error) {
	online := src == fromOnline
	k := sha256.Sum256(der)
	if it, ok := s.items[k]; ok {
		it.online = it.online || online
		return it, nil
	}
	if src == fromRequest {
		if s.requestItems >= s.maxItems {
			return nil, fmt.Errorf("%w: more than %d OCSP responses and CRLs in one request", errRevocationLimit, s.maxItems)
		}
		if s.bytes+int64(len(der)) > s.maxBytes {
			return nil, fmt.Errorf("%w: more than %d bytes of OCSP responses and CRLs in one request", errRevocationLimit, s.maxBytes)
		}
		s.bytes += int64(len(der))
		s.requestItems++
	}
	it := &revItem{isCRL: isCRL, online: online, issuerOK: map[*x509.Certificate]bool{}}
	if isCRL {
		// Only the issuer name now: a CRL is parsed in full the first time a certificate of
		// that issuer is checked, so a large CRL of another CA costs nothing.
		it.der = der
		it.crlIssuer, it.bad = crlIssuerName(der)
		it.bad = !it.bad
	} else {
		it.parseOCSP(der)
	}
	s.items[k] = it
	s.order = append(s.order, it)
	return it, nil
}

// observe returns what the items say about cert, issued by issuer.
func (s *revStore) observe(items []*revItem, cert, issuer *x509.Certificate) []observation {
	var out []observation
	for _, it := range items {
		if it.bad || !it.authorized(issuer) {
			continue
		}
		if it.isCRL {
			if o, ok := it.crlObservation(cert); ok {
				out = append(out, o)
			}
			continue
		}
		out = append(out, it.ocspObservations(cert, issuer, s.issuerKey(issuer))...)
	}
	return out
}

func (s *revStore) issuerKey(issuer *x509.Certificate) []byte {
	if k, ok := s.spki[issuer]; ok {
		return k
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	var k []byte
	if rest, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err == nil && len(rest) == 0 {
		k = spki.PublicKey.RightAlign()
	}
	s.spki[issuer] = k
	return k
}

// revItem is one parsed OCSP response or CRL.
type revItem struct {
	isCRL    bool
	online   bool
	bad      bool                       // does not parse, or is out of scope
	issuerOK map[*x509.Certificate]bool // issuer → signature and authority checked

	// OCSP
	resp    *ocsp.Response // signature material and responder certificate
	singles []ocspSingle

	// CRL
	der       []byte // until parsed
	crlIssuer []byte // the issuer Name, DER
	crl       *x509.RevocationList
	idp       *crlScope
	revoked   map[string]time.Time // decimal serial → revocation time
}

// The OCSP structures of RFC 6960 §4.2.1, read to see every SingleResponse with its CertID
// (golang.org/x/crypto/ocsp keeps only the first one with a matching serial and drops the
// issuer hashes).
type (
	ocspResponseASN1 struct {
		Status   asn1.Enumerated
		Response struct {
			Type  asn1.ObjectIdentifier
			Bytes []byte
		} `asn1:"explicit,tag:0,optional"`
	}
	ocspBasicASN1 struct {
		TBS struct {
			Raw         asn1.RawContent
			Version     int `asn1:"optional,default:0,explicit,tag:0"`
			ResponderID asn1.RawValue
			ProducedAt  time.Time `asn1:"generalized"`
			Responses   []ocspSingleASN1
			Extensions  []pkix.Extension `asn1:"explicit,tag:1,optional"`
		}
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
		Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	ocspSingleASN1 struct {
		CertID struct {
			Hash      pkix.AlgorithmIdentifier
			NameHash  []byte
			KeyHash   []byte
			SerialNum asn1.RawValue
		}
		Good    asn1.Flag `asn1:"tag:0,optional"`
		Revoked struct {
			Time   time.Time       `asn1:"generalized"`
			Reason asn1.Enumerated `asn1:"explicit,tag:0,optional"`
		} `asn1:"tag:1,optional"`
		Unknown    asn1.Flag        `asn1:"tag:2,optional"`
		ThisUpdate time.Time        `asn1:"generalized"`
		NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
		Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
)

// ocspSingle is one SingleResponse.
type ocspSingle struct {
	hash              crypto.Hash
	nameHash, keyHash []byte
	serial            []byte // DER INTEGER contents
	state             statusState
	revokedAt         time.Time
	thisUpdate        time.Time
	nextUpdate        time.Time
}

var (
	oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	ocspHashes   = map[string]crypto.Hash{
		"1.3.14.3.2.26":          crypto.SHA1,
		"2.16.840.1.101.3.4.2.1": crypto.SHA256,
		"2.16.840.1.101.3.4.2.2": crypto.SHA384,
		"2.16.840.1.101.3.4.2.3": crypto.SHA512,
	}
)

func (it *revItem) parseOCSP(der []byte) {
	it.bad = true
	var r ocspResponseASN1
	if rest, err := asn1.Unmarshal(der, &r); err != nil || len(rest) != 0 || r.Status != 0 || !r.Response.Type.Equal(oidOCSPBasic) {
		return
	}
	var b ocspBasicASN1
	if rest, err := asn1.Unmarshal(r.Response.Bytes, &b); err != nil || len(rest) != 0 || len(b.TBS.Responses) == 0 {
		return
	}
	for _, e := range b.TBS.Extensions {
		if e.Critical {
			return // an extension we do not understand may change the meaning
		}
	}
	for _, s := range b.TBS.Responses {
		h, ok := ocspHashes[s.CertID.Hash.Algorithm.String()]
		if !ok || s.CertID.SerialNum.Tag != asn1.TagInteger || s.CertID.SerialNum.Class != asn1.ClassUniversal {
			continue
		}
		if slices.ContainsFunc(s.Extensions, func(e pkix.Extension) bool { return e.Critical }) {
			continue
		}
		one := ocspSingle{hash: h, nameHash: s.CertID.NameHash, keyHash: s.CertID.KeyHash, serial: s.CertID.SerialNum.Bytes,
			thisUpdate: s.ThisUpdate, nextUpdate: s.NextUpdate}
		switch {
		case bool(s.Good):
			one.state = statusGood
		case bool(s.Unknown):
			continue
		default:
			one.state, one.revokedAt = statusRevoked, s.Revoked.Time
		}
		it.singles = append(it.singles, one)
	}
	if len(it.singles) == 0 {
		return
	}
	// The library checks the response signature against the certificate it carries (if any)
	// and gives the signature algorithm; any serial of the response selects it.
	var n *big.Int
	if rest, err := asn1.Unmarshal(b.TBS.Responses[0].CertID.SerialNum.FullBytes, &n); err != nil || len(rest) != 0 || n == nil {
		return
	}
	resp, err := ocsp.ParseResponseForCert(der, &x509.Certificate{SerialNumber: n}, nil)
	if err != nil {
		return
	}
	it.resp, it.bad = resp, false
}

// authorized reports (once per issuer) whether the item speaks for issuer: a CRL signed by it,
// an OCSP response signed by it or by a responder it certified for OCSP signing.
func (it *revItem) authorized(issuer *x509.Certificate) bool {
	if ok, seen := it.issuerOK[issuer]; seen {
		return ok
	}
	ok := false
	if it.isCRL && it.crl == nil {
		if !bytes.Equal(it.crlIssuer, issuer.RawSubject) {
			return false // not this issuer's: never parsed
		}
		it.parseCRL(it.der)
		it.der = nil
		if it.bad {
			return false
		}
	}
	if issuer.KeyUsage == 0 || issuer.KeyUsage&(x509.KeyUsageCRLSign|x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature) != 0 {
		if it.isCRL {
			ok = bytes.Equal(it.crl.RawIssuer, issuer.RawSubject) &&
				(issuer.KeyUsage == 0 || issuer.KeyUsage&x509.KeyUsageCRLSign != 0) &&
				it.crl.CheckSignatureFrom(issuer) == nil
		} else {
			ok = it.ocspAuthorized(issuer)
		}
	}
	it.issuerOK[issuer] = ok
	return ok
}

func (it *revItem) ocspAuthorized(issuer *x509.Certificate) bool {
	rc := it.resp.Certificate
	switch {
	case rc == nil:
		return it.resp.CheckSignatureFrom(issuer) == nil
	case sameCert(rc, issuer):
		return true // the library checked rc signed the response
	}
	// A delegated responder (RFC 6960 §4.2.2.2): certified by the issuer itself for
	// id-kp-OCSPSigning, valid when it signed.
	return bytes.Equal(rc.RawIssuer, issuer.RawSubject) && rc.CheckSignatureFrom(issuer) == nil &&
		slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) &&
		!it.resp.ProducedAt.Before(rc.NotBefore) && !it.resp.ProducedAt.After(rc.NotAfter)
}

// ocspObservations returns the answers of the response about cert: SingleResponses whose
// CertID names cert's serial and its issuer's name and key.
func (it *revItem) ocspObservations(cert, issuer *x509.Certificate, issuerKey []byte) []observation {
	serial := serialBytes(cert)
	var out []observation
	for _, s := range it.singles {
		if !bytes.Equal(s.serial, serial) || !s.hash.Available() {
			continue
		}
		h := s.hash.New()
		h.Write(issuer.RawSubject)
		if !bytes.Equal(h.Sum(nil), s.nameHash) {
			continue
		}
		h.Reset()
		h.Write(issuerKey)
		if !bytes.Equal(h.Sum(nil), s.keyHash) {
			continue
		}
		out = append(out, observation{revoked: s.state == statusRevoked, revokedAt: s.revokedAt,
			thisUpdate: s.thisUpdate, nextUpdate: s.nextUpdate, online: it.online})
	}
	return out
}

var (
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidCRLNumber                = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID           = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// crlScope is an IssuingDistributionPoint (RFC 5280 §5.2.5) this package accepts: a full CRL
// for one distribution point, possibly limited to end-entity or CA certificates.
type crlScope struct {
	uris             []string
	onlyUser, onlyCA bool
}

type idpASN1 struct {
	DistributionPoint asn1.RawValue  `asn1:"optional,explicit,tag:0"`
	OnlyUser          bool           `asn1:"optional,tag:1"`
	OnlyCA            bool           `asn1:"optional,tag:2"`
	OnlySomeReasons   asn1.BitString `asn1:"optional,tag:3"`
	Indirect          bool           `asn1:"optional,tag:4"`
	OnlyAttribute     bool           `asn1:"optional,tag:5"`
}

func (it *revItem) parseCRL(der []byte) {
	it.bad = true
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return
	}
	for _, e := range rl.Extensions {
		switch {
		case e.Id.Equal(oidDeltaCRLIndicator):
			return // a delta CRL says nothing about certificates it does not list
		case e.Id.Equal(oidIssuingDistributionPoint):
			sc, ok := parseIDP(e.Value)
			if !ok {
				return
			}
			it.idp = sc
		case e.Critical && !e.Id.Equal(oidCRLNumber) && !e.Id.Equal(oidAuthorityKeyID):
			return
		}
	}
	it.revoked = make(map[string]time.Time, len(rl.RevokedCertificateEntries))
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber == nil {
			continue
		}
		for _, x := range e.Extensions {
			if x.Critical {
				return // e.g. a certificate issuer entry of an indirect CRL
			}
		}
		k := e.SerialNumber.String()
		if old, ok := it.revoked[k]; !ok || e.RevocationTime.Before(old) {
			it.revoked[k] = e.RevocationTime
		}
	}
	it.crl, it.bad = rl, false
}

func parseIDP(v []byte) (*crlScope, bool) {
	var idp idpASN1
	if rest, err := asn1.Unmarshal(v, &idp); err != nil || len(rest) != 0 {
		return nil, false
	}
	if idp.OnlySomeReasons.BitLength != 0 || idp.Indirect || idp.OnlyAttribute || (idp.OnlyUser && idp.OnlyCA) {
		return nil, false // partitioned by reason, indirect or attribute CRLs are not handled
	}
	sc := &crlScope{onlyUser: idp.OnlyUser, onlyCA: idp.OnlyCA}
	if len(idp.DistributionPoint.FullBytes) != 0 {
		// DistributionPointName: fullName [0] GeneralNames; only URIs [6] are understood.
		var full asn1.RawValue
		if rest, err := asn1.Unmarshal(idp.DistributionPoint.Bytes, &full); err != nil || len(rest) != 0 || full.Tag != 0 {
			return nil, false
		}
		for b := full.Bytes; len(b) > 0; {
			var gn asn1.RawValue
			rest, err := asn1.Unmarshal(b, &gn)
			if err != nil {
				return nil, false
			}
			if gn.Class == asn1.ClassContextSpecific && gn.Tag == 6 {
				sc.uris = append(sc.uris, string(gn.Bytes))
			}
			b = rest
		}
		if len(sc.uris) == 0 {
			return nil, false
		}
	}
	return sc, true
}

// crlObservation returns what the CRL says about cert, if the CRL covers it.
func (it *revItem) crlObservation(cert *x509.Certificate) (observation, bool) {
	if sc := it.idp; sc != nil {
		if (sc.onlyUser && cert.IsCA) || (sc.onlyCA && !cert.IsCA) {
			return observation{}, false
		}
		if len(sc.uris) > 0 && !slices.ContainsFunc(sc.uris, func(u string) bool { return slices.Contains(cert.CRLDistributionPoints, u) }) {
			return observation{}, false // a partition for other certificates
		}
	}
	o := observation{thisUpdate: it.crl.ThisUpdate, nextUpdate: it.crl.NextUpdate, online: it.online}
	if at, ok := it.revoked[cert.SerialNumber.String()]; ok {
		o.revoked, o.revokedAt = true, at
	}
	return o, true
}

// serialBytes is the content of the DER INTEGER of cert's serial number.
func serialBytes(cert *x509.Certificate) []byte {
	b, err := asn1.Marshal(cert.SerialNumber)
	if err != nil || len(b) < 2 {
		return nil
	}
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(b, &rv); err != nil {
		return nil
	}
	return rv.Bytes
}

// crlIssuerName reads the issuer Name of a DER CRL (RFC 5280 §5.1) without parsing the rest.
func crlIssuerName(der []byte) ([]byte, bool) {
	in := cryptobyte.String(der)
	var list, tbs cryptobyte.String
	if !in.ReadASN1(&list, cbasn1.SEQUENCE) || !in.Empty() || !list.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, false
	}
	if tbs.PeekASN1Tag(cbasn1.INTEGER) && !tbs.SkipASN1(cbasn1.INTEGER) {
		return nil, false
	}
	var name cryptobyte.String
	if !tbs.SkipASN1(cbasn1.SEQUENCE) || !tbs.ReadASN1Element(&name, cbasn1.SEQUENCE) {
		return nil, false
	}
	return name, true
}
