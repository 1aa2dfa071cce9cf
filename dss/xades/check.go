package xades

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/beevik/etree"

	"dssd/dss/xmldsig"
)

// Check verifies the exact bytes of a signature Build made (Tree.Bytes, or Sign): s.Document
// for an enveloped signature, s.Signature otherwise. It parses them once, through the ingress
// gate (never reusing the tree they were serialised from), finds the signature by
// s.SignatureID, resolves every Reference — same-document "" and "#id" through one Id index
// that refuses duplicate ids, detached ones from obj.Data or obj.Digest — recomputes every
// digest, canonicalizes SignedInfo and verifies SignatureValue with cert's public key. It also
// checks that the data object is covered by exactly one Reference, that KeyInfo names cert
// first and, for XAdES, the SignedProperties reference and SigningCertificateV2. Any failure
// is an error wrapping ErrSelfCheck.
//
// When the signer was a VerifyingSigner (hsm.Guard), it verified the value it returned over
// the SignedInfo digest it was given; when the bytes carry that same value and their
// SignedInfo has that same digest, under cert's key, the public-key verification is not
// repeated. Everything else is recomputed from the bytes.
func Check(s *Signed, obj Object, cert *x509.Certificate) error {
	if err := check(s, obj, cert); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	return nil
}

func check(s *Signed, obj Object, cert *x509.Certificate) error {
	if s == nil || cert == nil {
		return errors.New("nothing to check")
	}
	data := s.Signature
	enveloped := s.Document != nil
	if enveloped == (s.Signature != nil) {
		return errors.New("want exactly one of Signature and Document")
	}
	if enveloped {
		data = s.Document
	}
	doc, err := parseSigned(data, s.maxDoc)
	if err != nil {
		return err
	}
	ids := buildIDIndex(doc.Root())
	sig, err := ids.lookup(s.SignatureID)
	if err != nil {
		return err
	}
	if !is(sig, NSXMLDSig, "Signature") {
		return fmt.Errorf("id %q is not a ds:Signature", s.SignatureID)
	}
	if !enveloped && sig != doc.Root() {
		return errors.New("the signature is not the document element")
	}

	var kidsA, siKidsA [8]*etree.Element
	kids := xmldsig.AppendChildElements(kidsA[:0], sig)
	if len(kids) < 2 || !is(kids[0], NSXMLDSig, "SignedInfo") || !is(kids[1], NSXMLDSig, "SignatureValue") {
		return errors.New("ds:Signature does not start with SignedInfo and SignatureValue")
	}
	si, svEl := kids[0], kids[1]
	if len(kids) < 3 || !is(kids[2], NSXMLDSig, "KeyInfo") {
		return errors.New("no ds:KeyInfo")
	}
	if err := checkKeyInfo(kids[2], cert); err != nil {
		return err
	}

	siKids := xmldsig.AppendChildElements(siKidsA[:0], si)
	if len(siKids) < 3 || !is(siKids[0], NSXMLDSig, "CanonicalizationMethod") || !is(siKids[1], NSXMLDSig, "SignatureMethod") {
		return errors.New("malformed SignedInfo")
	}
	c14n := siKids[0].SelectAttrValue("Algorithm", "")
	if err := checkC14N(c14n); err != nil {
		return err
	}
	if xmldsig.HasChildElement(siKids[0]) {
		return errors.New("CanonicalizationMethod with parameters")
	}
	sm, err := lookupSigMethod(siKids[1].SelectAttrValue("Algorithm", ""))
	if err != nil {
		return err
	}
	if err := sm.fits(cert.PublicKey); err != nil {
		return err
	}

	var dataRefs, propRefs int
	for _, ref := range siKids[2:] {
		if !is(ref, NSXMLDSig, "Reference") {
			return fmt.Errorf("unexpected %s in SignedInfo", ref.FullTag())
		}
		kind, err := checkReference(ref, doc, ids, sig, obj)
		if err != nil {
			return fmt.Errorf("reference %q: %w", ref.SelectAttrValue("URI", "(none)"), err)
		}
		switch kind {
		case refData:
			dataRefs++
		case refSignedProps:
			propRefs++
		}
	}
	if dataRefs != 1 {
		return fmt.Errorf("%d references cover the data object, want 1", dataRefs)
	}
	if propRefs > 1 {
		return fmt.Errorf("%d SignedProperties references", propRefs)
	}
	if err := checkQualifyingProperties(sig, s.SignatureID, cert, propRefs == 1); err != nil {
		return err
	}

	d, err := canonicalDigest(sm.hash, si, c14n, nil)
	if err != nil {
		return err
	}
	sv, err := decodeB64(svEl)
	if err != nil {
		return fmt.Errorf("SignatureValue: %w", err)
	}
	if s.signer.covers(cert.PublicKey, sm.hash, d, sv) {
		return nil // the VerifyingSigner verified exactly this value over this digest with this key
	}
	return verifyValue(sm, cert.PublicKey, d, sv)
}

// covers reports whether the signer verified value over d under h with the key pub.
func (v *signerVerified) covers(pub crypto.PublicKey, h crypto.Hash, d, value []byte) bool {
	if v == nil || v.hash != h || !bytes.Equal(v.digest, d) || !bytes.Equal(v.value, value) {
		return false
	}
	k, ok := v.key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

func verifyValue(sm sigMethod, pub crypto.PublicKey, d, sv []byte) error {
	return xmldsig.VerifyValue(xmldsig.Method{Kind: sm.kind, Hash: sm.hash}, pub, d, sv)
}

type refKind int

const (
	refOther refKind = iota
	refData
	refSignedProps
)

// checkReference recomputes the digest of one Reference and says what it
// covers.
func checkReference(ref *etree.Element, doc *etree.Document, ids idIndex, sig *etree.Element, obj Object) (refKind, error) {
	w, err := parseWritten(ref, ids)
	if err != nil {
		return 0, err
	}
	h, dv, transforms := w.h, w.x.DigestValue, w.transforms

	// Detached (no URI, or one that is not same-document).
	if w.x.Detached() {
		if w.x.URI != obj.URI || !w.x.HasURI != (obj.URI == "") {
			return 0, fmt.Errorf("detached reference %q is not the object's %q", w.x.URI, obj.URI)
		}
		if obj.Data == nil { // hash signing
			if h != obj.DigestHash || !bytes.Equal(dv, obj.Digest) || !slices.Equal(transforms, obj.Transforms) {
				return 0, errors.New("hash-signing reference does not carry the given digest and transforms")
			}
			return refData, nil
		}
		if len(transforms) != 0 {
			return 0, errors.New("detached reference with transforms")
		}
		return refData, compareDigest(h, obj.Data, dv)
	}

	// Same document.
	target := w.x.Target
	if target == nil {
		target = doc.Root()
	}
	if w.base64 {
		raw, err := w.data(doc, ids, sig, nil, 0)
		if err != nil {
			return 0, fmt.Errorf("base64 object content is not base64 text: %w", err)
		}
		if err := compareDigest(h, raw, dv); err != nil {
			return 0, err
		}
		if obj.Data == nil || !bytes.Equal(raw, obj.Data) || target.Parent() != sig || !is(target, NSXMLDSig, "Object") {
			return 0, errors.New("base64 object is not the data object")
		}
		return refData, nil
	}
	skip, err := w.enveloped(target, sig)
	if err != nil {
		return 0, err
	}
	got, err := withC14NBuf(func(buf []byte) ([]byte, []byte, error) {
		c, err := w.dataBuf(buf, doc, ids, sig, nil, 0)
		if err != nil {
			return nil, nil, err
		}
		return digest(h, c), c, nil
	})
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(got, dv) {
		return 0, errors.New("digest mismatch")
	}
	switch {
	case ref.SelectAttrValue("Type", "") == SignedPropsRef:
		if !is(target, NSXAdES, "SignedProperties") {
			return 0, errors.New("SignedProperties reference to something else")
		}
		return refSignedProps, nil
	case w.x.URI == "" && skip != nil:
		return refData, nil
	case target.Parent() == sig && is(target, NSXMLDSig, "Object") && obj.Data != nil && obj.XML:
		return refData, nil
	}
	return refOther, nil
}

// written is a Reference parsed by the XMLDSig core, with the transform chain checked against
// the chains this package writes: none (detached data), base64 alone (a ds:Object), or
// [enveloped-signature] then exclusive c14n or c14n 1.1 (same document). A detached
// reference's transforms are left to the caller (hash signing declares the client's).
type written struct {
	x          *xmldsig.Reference
	transforms []string
	h          crypto.Hash
	base64     bool
	c14n       string // the canonicalization of a same-document reference
}

// parseWritten parses ref with the core, resolves its DigestMethod under this package's rule
// (digestHash) and a same-document "#id" through ids.
func parseWritten(ref *etree.Element, ids idIndex) (*written, error) {
	lim := xmldsig.DefaultLimits()
	if ts := ref.SelectElement("Transforms"); ts != nil {
		n := 0
		for _, t := range ts.Child {
			if t, ok := t.(*etree.Element); ok {
				if xmldsig.HasChildElement(t) {
					return nil, fmt.Errorf("%w: transform with parameters", ErrNotSupported)
				}
				n++
			}
		}
		lim.MaxTransforms = max(lim.MaxTransforms, n) // a hash-signing client declares them
	}
	x, err := xmldsig.ParseReference(ref, 1, lim)
	if err != nil {
		return nil, refError(err)
	}
	w := &written{x: x}
	for _, t := range x.Transforms {
		w.transforms = append(w.transforms, t.Alg)
	}
	if w.h, err = digestHash(x.DigestMethod); err != nil {
		return nil, err
	}
	if x.Detached() {
		return w, nil
	}
	if err := (&xmldsig.Env{IDs: ids.x}).Resolve(x); err != nil {
		return nil, refError(err)
	}
	chain := w.transforms
	if len(chain) == 2 && chain[0] == TransformEnveloped {
		chain = chain[1:]
	}
	switch {
	case len(w.transforms) == 1 && w.transforms[0] == TransformBase64:
		w.base64 = true
	case len(chain) != 1 || checkC14N(chain[0]) != nil:
		return nil, fmt.Errorf("%w: transforms %q", ErrNotSupported, w.transforms)
	default:
		w.c14n = chain[0]
	}
	return w, nil
}

// enveloped returns the signature the enveloped-signature transform leaves out (nil without
// the transform); the signature must be inside target, the referenced data.
func (w *written) enveloped(target, sig *etree.Element) (*etree.Element, error) {
	if len(w.transforms) != 2 {
		return nil, nil
	}
	if !isAncestor(target, sig) {
		return nil, fmt.Errorf("%w: enveloped-signature transform outside the signed data", ErrMalformed)
	}
	return sig, nil
}

// data returns the octets w's digest covers, computed by the core as the verifier computes
// them (xmldsig.Env.Data); detached gives the data of a detached reference by URI ("" for
// none). A canonicalization stops with an error wrapping ErrLimit once its output is longer
// than maxBytes (0: no bound).
func (w *written) data(doc *etree.Document, ids idIndex, sig *etree.Element, detached map[string][]byte, maxBytes int64) ([]byte, error) {
	return w.dataBuf(nil, doc, ids, sig, detached, maxBytes)
}

// dataBuf is data canonicalizing a same-document reference into buf's storage (nil: a new
// buffer); the octets of detached data and of a base64 object are returned as they are.
func (w *written) dataBuf(buf []byte, doc *etree.Document, ids idIndex, sig *etree.Element, detached map[string][]byte, maxBytes int64) ([]byte, error) {
	if !w.x.Detached() && !w.base64 {
		target := w.x.Target
		if target == nil {
			target = doc.Root()
		}
		if _, err := w.enveloped(target, sig); err != nil {
			return nil, err
		}
	}
	env := &xmldsig.Env{Doc: doc, IDs: ids.x, Buf: buf, MaxBytes: maxBytes, Detached: func(r *xmldsig.Reference) ([]byte, error) {
		data, ok := detached[r.URI]
		if !ok || data == nil {
			return nil, fmt.Errorf("%w: no data for the detached reference", ErrMalformed)
		}
		return data, nil
	}}
	out, err := env.Data(&xmldsig.Signature{El: sig}, w.x)
	if err != nil {
		return nil, refError(err)
	}
	return out, nil
}

// refError gives an error of the core this package's sentinels: a transform outside the
// allow-list or c14n 1.1 below xml:base is ErrNotSupported, a canonical form over its bound
// ErrLimit, anything else ErrMalformed.
func refError(err error) error {
	var p *xmldsig.Problem
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrNotSupported):
		return err
	case errors.Is(err, xmldsig.ErrOutputLimit):
		return fmt.Errorf("%w: %w", ErrLimit, err)
	case errors.As(err, &p) && (p.Class == xmldsig.Refused || p.Class == xmldsig.RefRefused), errors.Is(err, xmldsig.ErrNotAllowed):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func isAncestor(a, el *etree.Element) bool {
	for p := el.Parent(); p != nil; p = p.Parent() {
		if p == a {
			return true
		}
	}
	return false
}

func compareDigest(h crypto.Hash, data, want []byte) error {
	if !bytes.Equal(digest(h, data), want) {
		return errors.New("digest mismatch")
	}
	return nil
}

func checkKeyInfo(ki *etree.Element, cert *x509.Certificate) error {
	for _, t := range ki.Child {
		xd := asElement(t)
		if !is(xd, NSXMLDSig, "X509Data") {
			continue
		}
		for _, t := range xd.Child {
			c := asElement(t)
			if !is(c, NSXMLDSig, "X509Certificate") {
				continue
			}
			if txt, ok := xmldsig.Text(c); ok && txt == textOf(cert).der {
				return nil // the base64 this package writes for cert: decodes to cert.Raw
			}
			der, err := decodeB64(c)
			if err != nil {
				return fmt.Errorf("X509Certificate: %w", err)
			}
			if !bytes.Equal(der, cert.Raw) {
				return errors.New("the first certificate in KeyInfo is not the signer's")
			}
			return nil
		}
	}
	return errors.New("no certificate in KeyInfo")
}

// checkQualifyingProperties checks the XAdES structure: QualifyingProperties
// targeting this signature and, when signed properties are referenced, a
// SigningCertificateV2 whose digest is that of cert.
func checkQualifyingProperties(sig *etree.Element, sigID string, cert *x509.Certificate, referenced bool) error {
	var qpsA [2]*etree.Element
	qps := qpsA[:0]
	for _, t := range sig.Child {
		o := asElement(t)
		if !is(o, NSXMLDSig, "Object") {
			continue
		}
		for _, t := range o.Child {
			if qp := asElement(t); is(qp, NSXAdES, "QualifyingProperties") {
				qps = append(qps, qp)
			}
		}
	}
	if len(qps) == 0 && !referenced {
		return nil
	}
	if len(qps) != 1 || !referenced {
		return fmt.Errorf("%d QualifyingProperties, signed properties referenced: %v", len(qps), referenced)
	}
	qp := qps[0]
	if t := qp.SelectAttrValue("Target", ""); len(t) != len(sigID)+1 || t[0] != '#' || t[1:] != sigID { // "#"+sigID
		return errors.New("QualifyingProperties does not target this signature")
	}
	want := textOf(cert).sha256
	// SignedProperties/SignedSignatureProperties/SigningCertificateV2/Cert/CertDigest, the
	// first two and the fourth by position only, as they were always read here.
	if descend(qp, []string{"", "", "SigningCertificateV2", "", "CertDigest"}, func(cd *etree.Element) bool {
		dm := cd.SelectElement("ds:DigestMethod")
		dv := cd.SelectElement("ds:DigestValue")
		return dm != nil && dv != nil && dm.SelectAttrValue("Algorithm", "") == DigestSHA256 && stripSpace(dv.Text()) == want
	}) {
		return nil
	}
	return errors.New("no SigningCertificateV2 for the signer certificate")
}

// descend reports whether some chain of child elements below el follows steps (each the local
// name of a XAdES element, "" for any element) to an element for which found is true.
func descend(el *etree.Element, steps []string, found func(*etree.Element) bool) bool {
	if len(steps) == 0 {
		return found(el)
	}
	for _, t := range el.Child {
		c := asElement(t)
		if c == nil || steps[0] != "" && !is(c, NSXAdES, steps[0]) {
			continue
		}
		if descend(c, steps[1:], found) {
			return true
		}
	}
	return false
}

// asElement returns t as an element, nil when it is another token.
func asElement(t etree.Token) *etree.Element {
	e, _ := t.(*etree.Element)
	return e
}

// decodeB64 decodes the base64 text of el (xmldsig.DecodeBase64: text only).
func decodeB64(el *etree.Element) ([]byte, error) { return xmldsig.DecodeBase64(el) }

func stripSpace(s string) string { return xmldsig.StripSpace(s) }
