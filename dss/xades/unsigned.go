package xades

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"

	"github.com/beevik/etree"
)

// NSXAdES141 is the namespace of the XAdES v1.4.1 properties (ArchiveTimeStamp,
// TimeStampValidationData).
const NSXAdES141 = "http://uri.etsi.org/01903/v1.4.1#"

// Unsigned properties (EN 319 132-1 §5.3, §5.4, §5.5) raise a B-B signature to B-T, B-LT and
// B-LTA. They live in xades:UnsignedProperties/UnsignedSignatureProperties, outside SignedInfo,
// so adding them never changes what the signature value covers. Each Add method appends one
// property at the end of UnsignedSignatureProperties of the Tree (in the order of the calls);
// one that fails leaves the Tree as it was. Timestamps carry ds:CanonicalizationMethod
// exclusive c14n, the canonicalization of their input.
//
// The calls of a B-LTA signature, in order:
//
//	SignatureTimestampInput → AddSignatureTimestamp            (B-T)
//	AddValidationData                                          (B-LT)
//	ArchiveTimestampInput → AddArchiveTimestamp
//	AddTimestampValidationData (the archive TSA's data, when missing)   (B-LTA)
//
// The functions of the same names over a *Signed are the same steps for a signature that
// exists only as bytes: each one opens the bytes (Open), takes the step and serialises the
// result into a new *Signed; its argument is not modified.

// SignatureTimestampInput returns the bytes whose digest a xades:SignatureTimeStamp's token
// must carry as its message imprint (EN 319 132-1 §5.3): the ds:SignatureValue element,
// canonicalized with exclusive c14n in its context.
func (t *Tree) SignatureTimestampInput() ([]byte, error) {
	if err := t.xadesOnly(); err != nil {
		return nil, err
	}
	sv, err := t.dsChild("SignatureValue")
	if err != nil {
		return nil, err
	}
	return canonicalize(sv, ExcC14N)
}

// AddSignatureTimestamp appends xades:SignatureTimeStamp with token, a DER RFC 3161
// TimeStampToken over the digest of SignatureTimestampInput.
func (t *Tree) AddSignatureTimestamp(token []byte) error {
	return t.addTimestamp(token, func() (string, string) { return t.xadesName("SignatureTimeStamp"), "" })
}

// addTimestamp appends a timestamp property, named by name (tag and namespace to declare),
// holding token to the unsigned signature properties.
func (t *Tree) addTimestamp(token []byte, name func() (tag, ns string)) error {
	if err := checkDER("timestamp token", token); err != nil {
		return err
	}
	if err := t.xadesOnly(); err != nil {
		return err
	}
	usp, err := t.unsignedSignatureProperties()
	if err != nil {
		return err
	}
	tag, ns := name()
	t.timestamp(usp, tag, ns, token)
	return nil
}

// AddValidationData appends xades:CertificateValues with the DER certificates certs and
// xades:RevocationValues with the DER OCSP responses (OCSPValues) and CRLs (CRLValues), the
// validation data of the signer's and the signature timestamp authority's chains (B-LT). Each
// value is written once, in the order given; an empty kind of value is left out. It refuses a
// signature that already carries CertificateValues or RevocationValues.
func (t *Tree) AddValidationData(certs, ocsps, crls [][]byte) error {
	if err := checkValues(certs, ocsps, crls); err != nil {
		return err
	}
	if err := t.xadesOnly(); err != nil {
		return err
	}
	usp, err := t.findUnsignedSignatureProperties()
	if err != nil {
		return err
	}
	if usp != nil {
		for _, c := range usp.ChildElements() {
			if is(c, NSXAdES, "CertificateValues") || is(c, NSXAdES, "RevocationValues") {
				return fmt.Errorf("%w: the signature already has %s", ErrMalformed, c.Tag)
			}
		}
	}
	if usp, err = t.unsignedSignatureProperties(); err != nil {
		return err
	}
	t.validationData(usp, dedup(certs), dedup(ocsps), dedup(crls))
	return nil
}

// ArchiveTimestampInput returns the bytes whose digest a xades141:ArchiveTimeStamp's token
// must carry as its message imprint (EN 319 132-1 §5.5.2, not distributed case), for an
// archive timestamp to be appended after the present unsigned signature properties. It is the
// concatenation, in this order, of
//
//  1. the data of every ds:Reference of SignedInfo, in document order (the SignedProperties
//     reference included), as the reference processing model yields it: the octets its
//     digest covers (every reference this package writes ends in an octet stream: a
//     canonicalization or base64 transform, or detached data);
//  2. ds:SignedInfo, ds:SignatureValue and ds:KeyInfo, each canonicalized;
//  3. every child of xades:UnsignedSignatureProperties, in document order, each canonicalized;
//  4. every ds:Object of the signature except the one holding xades:QualifyingProperties,
//     each canonicalized;
//
// where "canonicalized" is exclusive c14n without comments, the method AddArchiveTimestamp
// declares. detached maps the URI of each detached reference ("" when the Reference has no
// URI) to its data. Every reference's data is checked against its DigestValue, so wrong
// detached data is refused rather than archived.
func (t *Tree) ArchiveTimestampInput(detached map[string][]byte) ([]byte, error) {
	if err := t.xadesOnly(); err != nil {
		return nil, err
	}
	refs, elems, err := ArchiveTimestampParts(t.sig, t.qp, nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	ids := buildIDIndex(t.doc.Root())
	// The verifier charges the octets of every reference to its bound twice, once for the
	// reference and once within this input (dss/verify Limits.MaxC14NBytes): a walk stops at
	// half of what is left.
	bound := newC14NBound(t.maxC14N, t.maxDoc)
	for _, ref := range refs {
		b, err := referenceOctets(ref, t.doc, ids, t.sig, detached, max(bound.left/2, 1))
		if err = bound.charge(2*len(b), err); err != nil {
			return nil, fmt.Errorf("archive timestamp input: reference %q: %w", ref.SelectAttrValue("URI", "(none)"), err)
		}
		buf.Write(b)
	}
	for _, el := range elems {
		if err := c14nInto(&buf, el, &bound); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// ArchiveTimestampParts lists what the message imprint of an archive timestamp covers (EN 319
// 132-1 §5.5.2, not distributed case), in order, for the signature sig whose
// xades:QualifyingProperties is qp: refs, the ds:Reference elements of SignedInfo whose data
// comes first, then elems, the elements to canonicalize and append: SignedInfo,
// SignatureValue, KeyInfo (when present), every child of UnsignedSignatureProperties before
// the element before (all of them when before is nil), every ds:Object except the one
// holding qp. ArchiveTimestampInput and the verifier (dss/verify) both build the input from
// this list, so what is stamped and what is checked cannot drift apart.
func ArchiveTimestampParts(sig, qp, before *etree.Element) (refs, elems []*etree.Element, err error) {
	child := func(local string) *etree.Element {
		for _, c := range sig.ChildElements() {
			if is(c, NSXMLDSig, local) {
				return c
			}
		}
		return nil
	}
	si, sv := child("SignedInfo"), child("SignatureValue")
	if si == nil || sv == nil {
		return nil, nil, fmt.Errorf("%w: the signature lacks SignedInfo or SignatureValue", ErrMalformed)
	}
	for _, ref := range si.ChildElements() {
		if is(ref, NSXMLDSig, "Reference") {
			refs = append(refs, ref)
		}
	}
	elems = append(elems, si, sv)
	if ki := child("KeyInfo"); ki != nil {
		elems = append(elems, ki)
	}
	var usp *etree.Element
	for _, up := range qp.ChildElements() {
		if !is(up, NSXAdES, "UnsignedProperties") {
			continue
		}
		for _, u := range up.ChildElements() {
			if is(u, NSXAdES, "UnsignedSignatureProperties") {
				if usp != nil {
					return nil, nil, fmt.Errorf("%w: more than one UnsignedSignatureProperties", ErrMalformed)
				}
				usp = u
			}
		}
	}
	if usp != nil {
		for _, p := range usp.ChildElements() {
			if p == before {
				break
			}
			elems = append(elems, p)
		}
	}
	for _, o := range sig.ChildElements() {
		if is(o, NSXMLDSig, "Object") && qp.Parent() != o {
			elems = append(elems, o)
		}
	}
	return refs, elems, nil
}

// AddArchiveTimestamp appends xades141:ArchiveTimeStamp with token, a DER RFC 3161
// TimeStampToken over the digest of ArchiveTimestampInput.
func (t *Tree) AddArchiveTimestamp(token []byte) error {
	return t.addTimestamp(token, func() (string, string) { return "xades141:ArchiveTimeStamp", NSXAdES141 })
}

// AddTimestampValidationData appends, right after the last timestamp of the signature (which
// must be the last unsigned signature property), xades141:TimeStampValidationData with the
// validation data of that timestamp's authority: the certificates, OCSP responses and CRLs
// given, less those the signature already carries (in ds:KeyInfo, CertificateValues,
// RevocationValues or an earlier TimeStampValidationData). When nothing is left, the Tree is
// unchanged and added is false.
func (t *Tree) AddTimestampValidationData(certs, ocsps, crls [][]byte) (added bool, err error) {
	if err := checkValues(certs, ocsps, crls); err != nil {
		return false, err
	}
	if err := t.xadesOnly(); err != nil {
		return false, err
	}
	usp, err := t.findUnsignedSignatureProperties()
	if err != nil {
		return false, err
	}
	var last *etree.Element
	if usp != nil {
		if kids := usp.ChildElements(); len(kids) > 0 {
			last = kids[len(kids)-1]
		}
	}
	if !is(last, NSXAdES, "SignatureTimeStamp") && !is(last, NSXAdES141, "ArchiveTimeStamp") {
		return false, fmt.Errorf("%w: timestamp validation data must follow a timestamp", ErrMalformed)
	}
	have := t.embeddedValues()
	certs, ocsps, crls = have.missing(certs), have.missing(ocsps), have.missing(crls)
	if len(certs)+len(ocsps)+len(crls) == 0 {
		return false, nil
	}
	tvd := usp.CreateElement("xades141:TimeStampValidationData")
	tvd.CreateAttr("xmlns:xades141", NSXAdES141)
	t.validationData(tvd, certs, ocsps, crls)
	return true, nil
}

// The bytes API: the same steps for a signature that exists only as bytes.

// extend opens s, takes step and serialises the result.
func extend(s *Signed, step func(*Tree) error) (*Signed, error) {
	t, err := Open(s, 0)
	if err != nil {
		return nil, err
	}
	if err := step(t); err != nil {
		return nil, err
	}
	return t.Bytes()
}

// SignatureTimestampInput is Tree.SignatureTimestampInput of the signature s.
func SignatureTimestampInput(s *Signed) ([]byte, error) {
	t, err := Open(s, 0)
	if err != nil {
		return nil, err
	}
	return t.SignatureTimestampInput()
}

// AddSignatureTimestamp is Tree.AddSignatureTimestamp on the signature s.
func AddSignatureTimestamp(s *Signed, token []byte) (*Signed, error) {
	return extend(s, func(t *Tree) error { return t.AddSignatureTimestamp(token) })
}

// AddValidationData is Tree.AddValidationData on the signature s.
func AddValidationData(s *Signed, certs, ocsps, crls [][]byte) (*Signed, error) {
	return extend(s, func(t *Tree) error { return t.AddValidationData(certs, ocsps, crls) })
}

// ArchiveTimestampInput is Tree.ArchiveTimestampInput of the signature s.
func ArchiveTimestampInput(s *Signed, detached map[string][]byte) ([]byte, error) {
	t, err := Open(s, 0)
	if err != nil {
		return nil, err
	}
	return t.ArchiveTimestampInput(detached)
}

// AddArchiveTimestamp is Tree.AddArchiveTimestamp on the signature s.
func AddArchiveTimestamp(s *Signed, token []byte) (*Signed, error) {
	return extend(s, func(t *Tree) error { return t.AddArchiveTimestamp(token) })
}

// AddTimestampValidationData is Tree.AddTimestampValidationData on the signature s; when
// nothing is missing, it returns s's bytes unchanged.
func AddTimestampValidationData(s *Signed, certs, ocsps, crls [][]byte) (*Signed, error) {
	t, err := Open(s, 0)
	if err != nil {
		return nil, err
	}
	added, err := t.AddTimestampValidationData(certs, ocsps, crls)
	if err != nil {
		return nil, err
	}
	if !added {
		return &Signed{Signature: s.Signature, Document: s.Document, XPath: s.XPath, SignatureID: s.SignatureID}, nil
	}
	return t.Bytes()
}

// dsChild returns the first ds:<local> child of the signature.
func (t *Tree) dsChild(local string) (*etree.Element, error) {
	for _, c := range t.sig.ChildElements() {
		if is(c, NSXMLDSig, local) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: no ds:%s", ErrMalformed, local)
}

// prefixed returns the qualified name of local with the prefix el is written with.
func prefixed(el *etree.Element, local string) string {
	if el.Space == "" {
		return local
	}
	return el.Space + ":" + local
}

// xadesName returns the qualified name of a XAdES v1.3.2 element, with the prefix the
// QualifyingProperties use (in scope everywhere below them).
func (t *Tree) xadesName(local string) string { return prefixed(t.qp, local) }

// findUnsignedSignatureProperties returns the signature's UnsignedSignatureProperties, or nil.
func (t *Tree) findUnsignedSignatureProperties() (*etree.Element, error) {
	var found *etree.Element
	for _, up := range t.qp.ChildElements() {
		if !is(up, NSXAdES, "UnsignedProperties") {
			continue
		}
		for _, usp := range up.ChildElements() {
			if is(usp, NSXAdES, "UnsignedSignatureProperties") {
				if found != nil {
					return nil, fmt.Errorf("%w: more than one UnsignedSignatureProperties", ErrMalformed)
				}
				found = usp
			}
		}
	}
	return found, nil
}

// unsignedSignatureProperties returns UnsignedSignatureProperties, creating it (and
// UnsignedProperties after SignedProperties) when the signature has none.
func (t *Tree) unsignedSignatureProperties() (*etree.Element, error) {
	usp, err := t.findUnsignedSignatureProperties()
	if err != nil || usp != nil {
		return usp, err
	}
	var up *etree.Element
	for _, c := range t.qp.ChildElements() {
		if is(c, NSXAdES, "UnsignedProperties") {
			up = c
		}
	}
	if up == nil {
		up = t.qp.CreateElement(t.xadesName("UnsignedProperties"))
	}
	usp = etree.NewElement(t.xadesName("UnsignedSignatureProperties"))
	up.InsertChildAt(0, usp) // before any UnsignedDataObjectProperties
	return usp, nil
}

// timestamp appends a XAdESTimeStampType element name (declaring ns when it is not the XAdES
// v1.3.2 namespace) with exclusive c14n and the encapsulated token.
func (t *Tree) timestamp(parent *etree.Element, name, ns string, token []byte) {
	el := parent.CreateElement(name)
	if ns != "" {
		el.CreateAttr("xmlns:"+el.Space, ns)
	}
	el.CreateElement(prefixed(t.sig, "CanonicalizationMethod")).CreateAttr("Algorithm", ExcC14N)
	el.CreateElement(t.xadesName("EncapsulatedTimeStamp")).SetText(base64.StdEncoding.EncodeToString(token))
}

// validationData appends CertificateValues and RevocationValues (CRLValues before OCSPValues,
// as the schema orders them) to parent, leaving out what is empty.
func (t *Tree) validationData(parent *etree.Element, certs, ocsps, crls [][]byte) {
	if len(certs) > 0 {
		cv := parent.CreateElement(t.xadesName("CertificateValues"))
		for _, c := range certs {
			cv.CreateElement(t.xadesName("EncapsulatedX509Certificate")).SetText(base64.StdEncoding.EncodeToString(c))
		}
	}
	if len(ocsps)+len(crls) == 0 {
		return
	}
	rv := parent.CreateElement(t.xadesName("RevocationValues"))
	if len(crls) > 0 {
		v := rv.CreateElement(t.xadesName("CRLValues"))
		for _, c := range crls {
			v.CreateElement(t.xadesName("EncapsulatedCRLValue")).SetText(base64.StdEncoding.EncodeToString(c))
		}
	}
	if len(ocsps) > 0 {
		v := rv.CreateElement(t.xadesName("OCSPValues"))
		for _, o := range ocsps {
			v.CreateElement(t.xadesName("EncapsulatedOCSPValue")).SetText(base64.StdEncoding.EncodeToString(o))
		}
	}
}

// valueSet is the set of DER values (certificates, OCSP responses, CRLs) a signature carries.
type valueSet map[string]bool

func (v valueSet) missing(in [][]byte) [][]byte {
	var out [][]byte
	for _, b := range dedup(in) {
		if !v[string(b)] {
			out = append(out, b)
		}
	}
	return out
}

// embeddedValues collects the certificates of ds:KeyInfo and every base64 value below
// UnsignedSignatureProperties' CertificateValues, RevocationValues and TimeStampValidationData.
func (t *Tree) embeddedValues() valueSet {
	have := valueSet{}
	add := func(el *etree.Element) {
		if b, err := decodeB64(el); err == nil {
			have[string(b)] = true
		}
	}
	if ki, err := t.dsChild("KeyInfo"); err == nil {
		for _, xd := range ki.ChildElements() {
			for _, c := range xd.ChildElements() {
				if is(c, NSXMLDSig, "X509Certificate") {
					add(c)
				}
			}
		}
	}
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		for _, c := range el.ChildElements() {
			switch {
			case is(c, NSXAdES, "EncapsulatedX509Certificate"), is(c, NSXAdES, "EncapsulatedOCSPValue"), is(c, NSXAdES, "EncapsulatedCRLValue"):
				add(c)
			case is(c, NSXAdES, "EncapsulatedTimeStamp"):
			default:
				walk(c)
			}
		}
	}
	if usp, err := t.findUnsignedSignatureProperties(); err == nil && usp != nil {
		walk(usp)
	}
	return have
}

// c14nInto appends the exclusive canonical form of el to buf, charged to bound.
func c14nInto(buf *bytes.Buffer, el *etree.Element, bound *c14nBound) error {
	b, err := canonicalizeBuf(nil, el, ExcC14N, nil, bound.walk())
	if err = bound.charge(len(b), err); err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// referenceOctets returns the octets a Reference's digest covers, the result of the XMLDSig
// reference processing model for the references this package writes, and checks them
// against the DigestValue. A canonicalization stops with an error wrapping ErrLimit once its
// output is longer than maxBytes (0: no bound).
func referenceOctets(ref *etree.Element, doc *etree.Document, ids idIndex, sig *etree.Element, detached map[string][]byte, maxBytes int64) ([]byte, error) {
	w, err := parseWritten(ref, ids)
	if err != nil {
		return nil, err
	}
	out, err := dereference(w, doc, ids, sig, detached, maxBytes)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(digest(w.h, out), w.x.DigestValue) {
		return nil, fmt.Errorf("%w: the data does not match the reference's digest", ErrMalformed)
	}
	return out, nil
}

// dereference returns the octets w covers (detached data without transforms, or what the
// core computes).
func dereference(w *written, doc *etree.Document, ids idIndex, sig *etree.Element, detached map[string][]byte, maxBytes int64) ([]byte, error) {
	if w.x.Detached() && len(w.transforms) != 0 {
		return nil, fmt.Errorf("%w: detached reference with transforms", ErrNotSupported)
	}
	return w.data(doc, ids, sig, detached, maxBytes)
}

// checkValues refuses empty or malformed DER values and certificates that do not parse.
func checkValues(certs, ocsps, crls [][]byte) error {
	for _, c := range certs {
		if _, err := x509.ParseCertificate(c); err != nil {
			return fmt.Errorf("%w: certificate value: %w", ErrMalformed, err)
		}
	}
	for _, o := range ocsps {
		if err := checkDER("OCSP response", o); err != nil {
			return err
		}
	}
	for _, c := range crls {
		if err := checkDER("CRL", c); err != nil {
			return err
		}
	}
	return nil
}

// checkDER accepts exactly one DER SEQUENCE.
func checkDER(what string, b []byte) error {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	case len(rest) != 0:
		return fmt.Errorf("%w: %s: %d bytes after the DER value", ErrMalformed, what, len(rest))
	case v.Class != asn1.ClassUniversal || v.Tag != asn1.TagSequence:
		return fmt.Errorf("%w: %s: not a DER SEQUENCE", ErrMalformed, what)
	}
	return nil
}

// dedup returns in without repeated values, first occurrences in order.
func dedup(in [][]byte) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	for _, b := range in {
		if len(b) == 0 || seen[string(b)] {
			continue
		}
		seen[string(b)] = true
		out = append(out, b)
	}
	return out
}
