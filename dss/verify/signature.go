package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
	"dssd/dss/xmldsig"
)

// panicDetail is the Detail of a signature whose validation panicked (the fuzz target fails
// on it).
const panicDetail = "internal error while validating the signature"

// sigCtx is the state of one signature's validation.
type sigCtx struct {
	v    *Verifier
	ctx  context.Context
	doc  *etree.Document
	ids  idIndex
	sig  *etree.Element
	in   *Input
	at   time.Time
	res  Result
	work *int64 // canonical bytes digested so far for this input (Limits.MaxC14NBytes)
	walk *xmldsig.Budget
	req  *reqState

	si, sv, ki *etree.Element
	objects    []*etree.Element
	c14n       string
	c14nPrefix string
	method     sigMethod
	refs       []*reference

	qp       *etree.Element // xades:QualifyingProperties
	sp       *etree.Element // xades:SignedProperties
	usp      *etree.Element // xades:UnsignedSignatureProperties
	keyCerts []*x509.Certificate
	valCerts []*x509.Certificate // CertificateValues and TimeStampValidationData certificates
	ocsps    [][]byte
	crls     [][]byte

	transformed map[int][]byte // Reference position -> the octets its digest covers (Input.ReturnTransformed)
	siC14N      []byte         // canonical SignedInfo, once computed
}

// run validates the signature and fills c.res.
func (c *sigCtx) run() {
	defer func() {
		// A panic in a third-party parser (ASN.1, CMS) must not take the service down; the
		// signature is then INDETERMINATE. The fuzz target asserts that none happens.
		if r := recover(); r != nil {
			c.set(indeterminate(FormatFailure, ReasonFormat, panicDetail))
		}
	}()
	if v := c.validate(); v != nil {
		c.set(v)
		return
	}
	c.res.Indication = TotalPassed
	c.res.Detail = "the signature is valid"
}

func (c *sigCtx) set(v *verdict) {
	c.res.Indication, c.res.SubIndication, c.res.Reason, c.res.Detail = v.ind, v.sub, v.reason, v.detail
}

func (c *sigCtx) validate() *verdict {
	if v := c.structure(); v != nil {
		return v
	}
	if v := c.xadesLayout(); v != nil {
		return v
	}
	if v := c.resolve(); v != nil {
		return v
	}
	// Integrity first: every digest the package can compute is compared before the policy
	// judges any algorithm, so changed data is HASH_FAILURE under every policy.
	if v := c.digests(); v != nil {
		return v
	}
	if v := c.algorithms(); v != nil {
		return v
	}
	if v := c.containers(); v != nil {
		return v
	}
	if v := c.certificates(); v != nil {
		return v
	}
	signer, v := c.signingCertificate()
	if v != nil {
		return v
	}
	c.res.Signer = signer
	if v := c.signatureValue(signer); v != nil {
		return v
	}
	poe, v := c.timestamps()
	if v != nil {
		return v
	}
	return c.trust(signer, poe)
}

// ---------------------------------------------------------------- structure

// structure checks the element layout of ds:Signature and ds:SignedInfo.
func (c *sigCtx) structure() *verdict {
	kids := c.sig.ChildElements()
	if len(kids) < 2 || !is(kids[0], xades.NSXMLDSig, "SignedInfo") || !is(kids[1], xades.NSXMLDSig, "SignatureValue") {
		return formatFailure("ds:Signature must start with SignedInfo and SignatureValue")
	}
	c.si, c.sv = kids[0], kids[1]
	rest := kids[2:]
	if len(rest) > 0 && is(rest[0], xades.NSXMLDSig, "KeyInfo") {
		c.ki = rest[0]
		rest = rest[1:]
	}
	for _, o := range rest {
		if !is(o, xades.NSXMLDSig, "Object") {
			return formatFailure("unexpected %s in ds:Signature (a second SignedInfo, SignatureValue or KeyInfo?)", clip(o.FullTag()))
		}
		c.objects = append(c.objects, o)
	}
	if err := onlyAttrs(c.sig, "Id"); err != nil {
		return err
	}
	si := c.si.ChildElements()
	if len(si) < 3 || !is(si[0], xades.NSXMLDSig, "CanonicalizationMethod") || !is(si[1], xades.NSXMLDSig, "SignatureMethod") {
		return formatFailure("SignedInfo must hold CanonicalizationMethod, SignatureMethod and References")
	}
	if len(si)-2 > c.v.lim.MaxReferences {
		return indeterminate(SigConstraintsFailure, ReasonFormat, "%d References; the limit is %d", len(si)-2, c.v.lim.MaxReferences)
	}
	c.c14n = si[0].SelectAttrValue("Algorithm", "")
	prefix, v := inclusiveNamespaces(si[0], c.c14n, c.v.lim.MaxPrefixes)
	if v != nil {
		return v
	}
	c.c14nPrefix = prefix
	if len(si[1].ChildElements()) != 0 {
		return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "SignatureMethod with parameters (HMACOutputLength?) is not accepted")
	}
	c.res.SignatureMethod = si[1].SelectAttrValue("Algorithm", "")
	for i, el := range si[2:] {
		if !is(el, xades.NSXMLDSig, "Reference") {
			return formatFailure("unexpected %s in SignedInfo", clip(el.FullTag()))
		}
		r, v := parseReference(el, i+1, c.v.lim)
		if v != nil {
			return v
		}
		c.refs = append(c.refs, r)
	}
	return nil
}

// onlyAttrs refuses attributes other than the named ones and namespace declarations.
func onlyAttrs(el *etree.Element, names ...string) *verdict {
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if a.Space != "" || !slices.Contains(names, a.Key) {
			return formatFailure("unexpected attribute %s on %s", clip(a.FullKey()), el.Tag)
		}
	}
	return nil
}

// inclusiveNamespaces reads the optional ec:InclusiveNamespaces/@PrefixList of an exclusive
// c14n method or transform; any other child is refused. The list is deduplicated; more than
// max distinct prefixes is refused (issue 10: a million names cost names × elements).
func inclusiveNamespaces(el *etree.Element, alg string, max int) (string, *verdict) {
	kids := el.ChildElements()
	if len(kids) == 0 {
		return "", nil
	}
	if (alg != xades.ExcC14N && alg != ExcC14NComments) || len(kids) != 1 || !is(kids[0], xades.ExcC14N, "InclusiveNamespaces") {
		return "", indeterminate(SigConstraintsFailure, ReasonTransform, "parameters of %s are not accepted", clip(alg))
	}
	seen := map[string]bool{}
	var list []string
	for p := range strings.FieldsSeq(kids[0].SelectAttrValue("PrefixList", "")) { // no slice of a million names
		if seen[p] {
			continue
		}
		if len(list) == max {
			return "", indeterminate(SigConstraintsFailure, ReasonTransform, "InclusiveNamespaces PrefixList names more than %d prefixes", max)
		}
		seen[p] = true
		list = append(list, p)
	}
	return strings.Join(list, " "), nil
}

// reference is one parsed ds:Reference.
type reference struct {
	el         *etree.Element
	pos        int
	uri        string
	hasURI     bool
	typ        string
	transforms []transform
	digestURI  string
	digest     []byte
	hash       crypto.Hash

	target   *etree.Element // same-document target (nil for "" and detached)
	detached *Document
	scope    Scope
}

type transform struct {
	alg    string
	prefix string     // exclusive c14n InclusiveNamespaces
	ops    []filterOp // XPath Filter 2.0
	rm     *selector  // XPath 1.0: the subtrees the expression removes
}

// transformParams parses the parameters of a transform: InclusiveNamespaces of exclusive c14n,
// the XPath elements of XPath Filter 2.0 and XPath 1.0 (allow-listed shapes only).
func transformParams(t *etree.Element, alg string, pos int, lim Limits) (transform, *verdict) {
	tr := transform{alg: alg}
	refused := func(what string) (transform, *verdict) {
		return tr, indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: %s is not accepted (docs/conformance.md lists the XPath shapes that are)", pos, what)
	}
	switch alg {
	case TransformXPath2:
		kids := t.ChildElements()
		if len(kids) == 0 || len(kids) > maxFilterOps {
			return refused(fmt.Sprintf("an XPath Filter 2.0 transform with %d XPath elements", len(kids)))
		}
		for _, k := range kids {
			op := k.SelectAttrValue("Filter", "")
			expr, ok := text(k)
			if !is(k, TransformXPath2, "XPath") || !ok || (op != "intersect" && op != "subtract" && op != "union") {
				return refused("an XPath Filter 2.0 element " + clip(k.FullTag()))
			}
			sel, ok := parseFilter2Expr(expr, k)
			if !ok {
				return refused("the XPath Filter 2.0 expression " + clip(strings.TrimSpace(expr)))
			}
			tr.ops = append(tr.ops, filterOp{op: op, sel: sel})
		}
		return tr, nil
	case TransformXPath:
		kids := t.ChildElements()
		if len(kids) != 1 || !is(kids[0], xades.NSXMLDSig, "XPath") {
			return refused("an XPath transform without one ds:XPath")
		}
		expr, ok := text(kids[0])
		if !ok {
			return refused("an XPath transform with markup in its expression")
		}
		sel, ok := parseXPathExpr(expr, kids[0])
		if !ok {
			return refused("the XPath expression " + clip(strings.TrimSpace(expr)))
		}
		tr.rm = &sel
		return tr, nil
	}
	prefix, v := inclusiveNamespaces(t, alg, lim.MaxPrefixes)
	tr.prefix = prefix
	return tr, v
}

func parseReference(el *etree.Element, pos int, lim Limits) (*reference, *verdict) {
	maxTransforms := lim.MaxTransforms
	if v := onlyAttrs(el, "Id", "URI", "Type"); v != nil {
		return nil, v
	}
	r := &reference{el: el, pos: pos, typ: el.SelectAttrValue("Type", "")}
	if a := el.SelectAttr("URI"); a != nil {
		r.uri, r.hasURI = a.Value, true
	}
	kids := el.ChildElements()
	if len(kids) > 0 && is(kids[0], xades.NSXMLDSig, "Transforms") {
		ts := kids[0].ChildElements()
		if len(ts) == 0 {
			return nil, formatFailure("reference %d: empty Transforms", pos)
		}
		if len(ts) > maxTransforms {
			return nil, indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: %d transforms; the limit is %d", pos, len(ts), maxTransforms)
		}
		filterOps := 0 // XPath Filter 2.0 operations and XPath transforms of the Reference together
		for _, t := range ts {
			if !is(t, xades.NSXMLDSig, "Transform") {
				return nil, formatFailure("reference %d: unexpected %s in Transforms", pos, clip(t.FullTag()))
			}
			tr, v := transformParams(t, t.SelectAttrValue("Algorithm", ""), pos, lim)
			if v != nil {
				return nil, v
			}
			if tr.rm != nil {
				filterOps++
			}
			if filterOps += len(tr.ops); filterOps > maxFilterOps {
				return nil, indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: more than %d XPath filter operations", pos, maxFilterOps)
			}
			r.transforms = append(r.transforms, tr)
		}
		kids = kids[1:]
	}
	if len(kids) != 2 || !is(kids[0], xades.NSXMLDSig, "DigestMethod") || !is(kids[1], xades.NSXMLDSig, "DigestValue") {
		return nil, formatFailure("reference %d: want Transforms?, DigestMethod, DigestValue", pos)
	}
	if len(kids[0].ChildElements()) != 0 {
		return nil, formatFailure("reference %d: DigestMethod with parameters", pos)
	}
	r.digestURI = kids[0].SelectAttrValue("Algorithm", "")
	dv, v := b64Value(kids[1], "DigestValue")
	if v != nil {
		return nil, v
	}
	r.digest = dv
	r.scope = Scope{Reference: pos, URI: r.uri, HasURI: r.hasURI, Type: r.typ,
		Digest: r.digestURI + " " + base64.StdEncoding.EncodeToString(dv)}
	for _, t := range r.transforms {
		r.scope.Transforms = append(r.scope.Transforms, t.alg)
	}
	return r, nil
}

// b64Value decodes the base64 text content of el, refusing anything but text.
func b64Value(el *etree.Element, what string) ([]byte, *verdict) {
	s, ok := text(el)
	if !ok {
		return nil, formatFailure("%s holds something other than base64 text", what)
	}
	b, err := base64.StdEncoding.DecodeString(xmldsig.StripSpace(s))
	if err != nil {
		return nil, formatFailure("%s is not base64", what)
	}
	return b, nil
}

// ---------------------------------------------------------------- algorithm policy

// algorithms checks every algorithm of SignedInfo against the policy before anything is
// computed with it.
func (c *sigCtx) algorithms() *verdict {
	if !c14nMethods[c.c14n] {
		return indeterminate(SigConstraintsFailure, ReasonTransform, "canonicalization method %s is not accepted (exclusive c14n, c14n 1.1 and c14n 1.0, with or without comments, are)", clip(c.c14n))
	}
	m, v := c.v.policy.signatureMethod(c.res.SignatureMethod)
	if v != nil {
		return v
	}
	c.method = m
	for _, r := range c.refs {
		if _, v := c.v.policy.digest(r.digestURI); v != nil {
			return v
		}
	}
	return nil
}

// checkChain accepts the transform chains of the allow-list:
//
//	[enveloped-signature] [c14n]   same-document references
//	base64                         a ds:Object of this signature holding base64 text
//	(none) | c14n                  detached data (c14n: detached XML)
//
// XPath Filter 2.0 and XPath 1.0 (their allow-listed shapes) may stand anywhere before the
// canonicalization of a same-document reference.
func checkChain(r *reference) *verdict {
	for i, t := range r.transforms {
		switch {
		case t.alg == TransformXPath2 || t.alg == TransformXPath:
			if r.detached != nil {
				return indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: XPath transforms are accepted on same-document references only", r.pos)
			}
		case t.alg == xades.TransformEnveloped:
			if r.detached != nil {
				return indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: enveloped-signature on detached data", r.pos)
			}
		case c14nMethods[t.alg]:
			if i != len(r.transforms)-1 {
				return indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: canonicalization must be the last transform", r.pos)
			}
		case t.alg == xades.TransformBase64:
			if len(r.transforms) != 1 {
				return indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: the base64 transform must be the only one", r.pos)
			}
		default:
			return indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: transform %s is not accepted (no XSLT, XPointer or decryption)", r.pos, clip(t.alg))
		}
	}
	return nil
}

// ---------------------------------------------------------------- XAdES layout

// xadesLayout finds the qualifying properties and checks the SignedProperties reference.
func (c *sigCtx) xadesLayout() *verdict {
	var qps []*etree.Element
	for _, o := range c.objects {
		for _, k := range o.ChildElements() {
			if is(k, xades.NSXAdES, "QualifyingProperties") {
				qps = append(qps, k)
			}
		}
	}
	var spRefs []*reference
	for _, r := range c.refs {
		if r.typ == xades.SignedPropsRef {
			spRefs = append(spRefs, r)
		}
	}
	if len(qps) == 0 && len(spRefs) == 0 {
		return nil // plain XMLDSig
	}
	c.res.XAdES = true
	c.res.Level = "B-B"
	if len(qps) != 1 {
		return formatFailure("%d xades:QualifyingProperties in the signature, want 1", len(qps))
	}
	if len(spRefs) != 1 {
		return formatFailure("%d References of Type %s, want exactly 1", len(spRefs), xades.SignedPropsRef)
	}
	qp := qps[0]
	if c.res.ID == "" || qp.SelectAttrValue("Target", "") != "#"+c.res.ID {
		// INDETERMINATE (EN 319 102-1 FORMAT_FAILURE): the properties are not this signature's,
		// which says nothing about its integrity (corpus: dss-xades-extended-xl.xml).
		return indeterminate(FormatFailure, ReasonFormat, "QualifyingProperties does not target this signature (Target %s, signature Id %s)", clip(qp.SelectAttrValue("Target", "")), clip(c.res.ID))
	}
	var sps, usps []*etree.Element
	for _, k := range qp.ChildElements() {
		switch {
		case is(k, xades.NSXAdES, "SignedProperties"):
			sps = append(sps, k)
		case is(k, xades.NSXAdES, "UnsignedProperties"):
			usps = append(usps, k)
		default:
			return formatFailure("unexpected %s in QualifyingProperties", clip(k.FullTag()))
		}
	}
	if len(sps) != 1 || len(usps) > 1 {
		return formatFailure("QualifyingProperties holds %d SignedProperties and %d UnsignedProperties", len(sps), len(usps))
	}
	c.qp, c.sp = qp, sps[0]
	r := spRefs[0]
	if !r.hasURI || !strings.HasPrefix(r.uri, "#") {
		return formatFailure("the SignedProperties reference must be a same-document \"#id\" reference")
	}
	target, v := c.ids.lookup(r.uri[1:])
	if v != nil {
		return v
	}
	if target != c.sp {
		// Signature wrapping (a SignedProperties elsewhere): the signed properties of this
		// signature are not found; the signature itself may be intact.
		return indeterminate(SignedDataNotFound, ReasonReference, "the SignedProperties reference does not point at this signature's SignedProperties")
	}
	for _, t := range r.transforms {
		if !c14nMethods[t.alg] && t.alg != TransformXPath2 {
			return formatFailure("the SignedProperties reference may only be canonicalized (or filtered with XPath Filter 2.0)")
		}
	}
	if len(usps) == 1 {
		for _, k := range usps[0].ChildElements() {
			if is(k, xades.NSXAdES, "UnsignedSignatureProperties") {
				if c.usp != nil {
					return formatFailure("two UnsignedSignatureProperties")
				}
				c.usp = k
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------- references

// resolve finds what every Reference points at and records its scope.
func (c *sigCtx) resolve() *verdict {
	noURI := 0
	for _, r := range c.refs {
		switch {
		case r.hasURI && r.uri == "":
			r.scope.Kind = ScopeDocument
			r.scope.Element = qname(c.doc.Root())
		case r.hasURI && strings.HasPrefix(r.uri, "#"):
			id := r.uri[1:]
			if id == "" || strings.ContainsAny(id, "()/ ") {
				return indeterminate(SigConstraintsFailure, ReasonReference, "reference %d: only bare-name \"#id\" same-document references are accepted, not %s", r.pos, clip(r.uri))
			}
			t, v := c.ids.lookup(id)
			if v != nil {
				v.detail = fmt.Sprintf("reference %d: %s", r.pos, v.detail)
				return v
			}
			r.target = t
			r.scope.Element, r.scope.ElementID = qname(t), id
			switch {
			case t == c.sp && c.sp != nil:
				r.scope.Kind = ScopeSignedProperties
			case is(t, xades.NSXAdES, "SignedProperties"):
				return formatFailure("reference %d points at SignedProperties that are not this signature's", r.pos)
			case t == c.ki && c.ki != nil:
				r.scope.Kind = ScopeKeyInfo
			case t.Parent() == c.sig && is(t, xades.NSXMLDSig, "Object"):
				r.scope.Kind = ScopeObject
			default:
				r.scope.Kind = ScopeElement
			}
			if r.typ == xades.SignedPropsRef && r.scope.Kind != ScopeSignedProperties {
				return formatFailure("reference %d has the SignedProperties type but points elsewhere", r.pos)
			}
		default:
			if !r.hasURI {
				noURI++
				if noURI > 1 {
					return formatFailure("more than one Reference without a URI")
				}
			}
			d := c.findDetached(r)
			if d == nil {
				what := "the Reference without a URI"
				if r.hasURI {
					what = "the Reference URI " + clip(r.uri)
				}
				return indeterminate(SignedDataNotFound, ReasonReference, "reference %d: no data object was given for %s (nothing outside the document is ever fetched)", r.pos, what)
			}
			r.detached = d
			r.scope.Kind, r.scope.Document = ScopeDetached, d.ID
		}
		for _, t := range r.transforms {
			if t.alg == xades.TransformEnveloped {
				r.scope.Enveloped = true
			}
		}
		c.res.Scope = append(c.res.Scope, r.scope)
	}
	c.res.UncoveredObjects = c.uncoveredObjects()
	return nil
}

// uncoveredObjects lists the ds:Object children of the signature that no Reference covers: an
// Object counts as covered when a Reference points at it or into it, and the Object that holds
// this signature's QualifyingProperties counts as the XAdES structure it is. Content there is
// not signed, however valid the signature, so callers must not report it as signed data.
func (c *sigCtx) uncoveredObjects() []string {
	var out []string
	for i, o := range c.objects {
		covered := c.qp != nil && c.qp.Parent() == o
		for _, r := range c.refs {
			for t := r.target; t != nil && !covered; t = t.Parent() {
				covered = t == o
			}
		}
		if !covered {
			if id := o.SelectAttrValue("Id", ""); id != "" {
				out = append(out, "#"+id)
			} else {
				out = append(out, fmt.Sprintf("ds:Object %d", i+1))
			}
		}
	}
	return out
}

func (c *sigCtx) findDetached(r *reference) *Document {
	for i := range c.in.Detached {
		d := &c.in.Detached[i]
		if d.HasURI == r.hasURI && (!r.hasURI || d.URI == r.uri) {
			return d
		}
	}
	return nil
}

func qname(el *etree.Element) string {
	if ns := el.NamespaceURI(); ns != "" {
		return "{" + ns + "}" + el.Tag
	}
	return el.Tag
}

// digests recomputes every Reference digest with whatever digest algorithm it names that the
// package can compute, whether the policy accepts it or not: a changed document is
// HASH_FAILURE under every policy (EN 319 102-1 orders cryptographic verification before the
// acceptance of the algorithms). A Reference whose algorithm cannot be computed at all, or
// whose transforms are outside the allow-list, leaves the signature INDETERMINATE after the
// others were compared.
func (c *sigCtx) digests() *verdict {
	var later *verdict
	for _, r := range c.refs {
		if c.ctx != nil && c.ctx.Err() != nil {
			return indeterminate(TryLater, ReasonFormat, "the request deadline passed during validation")
		}
		if c.walk != nil && c.walk.Over() {
			return c.stopped(errWalkBudget)
		}
		h, ok := integrityHashes[r.digestURI]
		if !ok {
			if later == nil {
				later = indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "reference %d: digest method %s is not accepted by the validation policy (it cannot be computed)", r.pos, clip(r.digestURI))
			}
			continue
		}
		if len(r.digest) != h.Size() {
			return fail(HashFailure, ReasonDigest, "reference %d: the digest value has %d bytes, %s has %d", r.pos, len(r.digest), clip(r.digestURI), h.Size())
		}
		r.hash = h
		if v := checkChain(r); v != nil {
			if later == nil {
				later = v
			}
			continue
		}
		data, v := c.referenceData(r)
		if v != nil {
			if v.sub == TryLater || v.ind == TotalFailed {
				return v
			}
			if later == nil {
				later = v
			}
			continue
		}
		if c.work != nil {
			if *c.work += int64(len(data)); *c.work > c.v.lim.MaxC14NBytes {
				return indeterminate(SigConstraintsFailure, ReasonFormat, "the references of the signatures in this document cover more than %d bytes together", c.v.lim.MaxC14NBytes)
			}
		}
		sum, err := c.digest(r.hash, data)
		if err != nil {
			return c.stopped(err)
		}
		if subtle.ConstantTimeCompare(sum, r.digest) != 1 {
			what := r.scope.Kind
			if r.scope.ElementID != "" {
				what += " " + clip(r.scope.ElementID)
			}
			return fail(HashFailure, ReasonDigest, "reference %d (%s): the digest does not match: the signed data was changed", r.pos, what)
		}
		if c.transformed != nil && slices.Contains(c.in.ReturnTransformed, r.pos) {
			c.transformed[r.pos] = data
			c.res.Transformed = c.transformed
		}
	}
	return later
}

// referenceData applies the transform chain of r and returns the octets its digest covers.
func (c *sigCtx) referenceData(r *reference) ([]byte, *verdict) {
	var (
		skip   *etree.Element
		alg    = C14N10 // a node-set without a final canonicalization: c14n 1.0 (XMLDSig §4.4.3.2)
		pfx    string
		filter *nodeSetFilter
	)
	for _, t := range r.transforms {
		switch {
		case t.alg == xades.TransformEnveloped:
			skip = c.sig
		case c14nMethods[t.alg]:
			alg, pfx = t.alg, t.prefix
		case t.alg == TransformXPath2:
			if filter == nil {
				filter = &nodeSetFilter{}
			}
			var ops []boundOp
			for _, o := range t.ops {
				b, v := c.bind(o.sel)
				if v != nil {
					v.detail = fmt.Sprintf("reference %d: XPath Filter 2.0: %s", r.pos, v.detail)
					return nil, v
				}
				bit, ok := filter.addSelector(&b)
				if !ok {
					return nil, indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: too many XPath filter operations", r.pos)
				}
				ops = append(ops, boundOp{op: o.op, bit: bit})
			}
			filter.xf2 = append(filter.xf2, ops)
		case t.alg == TransformXPath:
			if filter == nil {
				filter = &nodeSetFilter{}
			}
			b, v := c.bind(*t.rm)
			if v != nil {
				return nil, v
			}
			bit, ok := filter.addSelector(&b)
			if !ok {
				return nil, indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: too many XPath filter operations", r.pos)
			}
			filter.rmBits |= bit
		}
	}
	var include func(etree.Token) bool
	if filter != nil {
		include = filter.include
	}
	if len(r.transforms) == 1 && r.transforms[0].alg == xades.TransformBase64 {
		if r.target == nil || r.scope.Kind != ScopeObject {
			return nil, indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: the base64 transform is accepted only on a ds:Object of this signature", r.pos)
		}
		s, ok := text(r.target)
		if !ok {
			return nil, formatFailure("reference %d: the base64 object holds something other than text", r.pos)
		}
		b, err := base64.StdEncoding.DecodeString(xmldsig.StripSpace(s))
		if err != nil {
			return nil, formatFailure("reference %d: the base64 object is not base64", r.pos)
		}
		return b, nil
	}
	if r.detached != nil {
		if len(r.transforms) == 0 {
			return r.detached.Data, nil
		}
		d, v := c.detachedXML(r)
		if v != nil {
			return nil, v
		}
		// An octet stream parsed into a node-set keeps its comments (XMLDSig §4.4.3.2).
		b, err := c.canon(d, nil, alg, pfx, nil, nil)
		if err != nil {
			return nil, c.c14nVerdict(r.pos, err)
		}
		return b, nil
	}
	if skip != nil {
		inside := r.target == nil // URI="": the whole document
		for p := c.sig.Parent(); p != nil && !inside; p = p.Parent() {
			inside = p == r.target
		}
		if !inside || c.sig.Parent() == nil {
			skip = nil // the transform removes nothing outside the referenced data
		}
	}
	// A same-document reference ("" or "#id") selects its node-set without comments, whatever
	// the canonicalization (XMLDSig §4.4.3.3).
	alg, _ = xmldsig.C14NBase(alg)
	var (
		b   []byte
		err error
	)
	if r.target == nil {
		b, err = c.canon(c.doc, nil, alg, pfx, skip, include)
	} else {
		b, err = c.canon(nil, r.target, alg, pfx, skip, include)
	}
	if err != nil {
		return nil, c.c14nVerdict(r.pos, err)
	}
	return b, nil
}

func (c *sigCtx) c14nVerdict(pos int, err error) *verdict {
	if v := c.stopped(err); v != nil {
		v.detail = fmt.Sprintf("reference %d: %s", pos, v.detail)
		return v
	}
	if errors.Is(err, errNotAllowed) {
		return indeterminate(SigConstraintsFailure, ReasonTransform, "reference %d: %v", pos, err)
	}
	return formatFailure("reference %d: canonicalization failed", pos)
}

// ---------------------------------------------------------------- signature value

// signatureValue verifies SignatureValue over the canonical SignedInfo with the signer's key.
func (c *sigCtx) signatureValue(cert *x509.Certificate) *verdict {
	if v := c.keyPolicy(cert.PublicKey); v != nil {
		return v
	}
	if v := onlyAttrs(c.sv, "Id"); v != nil {
		return v
	}
	sv, v := b64Value(c.sv, "SignatureValue")
	if v != nil {
		return v
	}
	if err := c.checkValue(cert.PublicKey, sv); err != nil {
		if v := c.stopped(err); v != nil {
			return v
		}
		return fail(SigCryptoFailure, ReasonSignatureValue, "the signature value does not verify with the signing certificate's key: %v", err)
	}
	return nil
}

// checkValue verifies sv over the canonical SignedInfo with pub. An error that stopped the
// canonicalization (c.stopped) is returned as it is.
func (c *sigCtx) checkValue(pub crypto.PublicKey, sv []byte) error {
	if c.siC14N == nil {
		data, err := c.canon(nil, c.si, c.c14n, c.c14nPrefix, nil, nil)
		if c.stopped(err) != nil {
			return err
		}
		if err != nil {
			return errors.New("SignedInfo cannot be canonicalized")
		}
		c.siC14N = data
	}
	data := c.siC14N
	h := c.method.hash.New()
	h.Write(data)
	return xmldsig.VerifyValue(xmldsig.Method{Kind: c.method.kind, Hash: c.method.hash}, pub, h.Sum(nil), sv)
}

// keyPolicy refuses keys the policy does not accept.
func (c *sigCtx) keyPolicy(pub crypto.PublicKey) *verdict {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < c.v.policy.MinRSABits || n > maxRSABits {
			return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "RSA key of %d bits is outside %d..%d", n, c.v.policy.MinRSABits, maxRSABits)
		}
		if c.method.kind != sigRSA && c.method.kind != sigPSS {
			return fail(SigCryptoFailure, ReasonSignatureValue, "an RSA key with an ECDSA signature method")
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
		default:
			return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "curve %s is not accepted", k.Curve.Params().Name)
		}
		if c.method.kind != sigECDSA {
			return fail(SigCryptoFailure, ReasonSignatureValue, "an ECDSA key with an RSA signature method")
		}
	default:
		return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "key type %T is not accepted", pub)
	}
	return nil
}

// sameCert reports whether a and b are the same certificate.
func sameCert(a, b *x509.Certificate) bool { return a != nil && b != nil && bytes.Equal(a.Raw, b.Raw) }
