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

	x          *xmldsig.Signature // the core's parse (structure)
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
	// Integrity first: every digest the package can compute is compared (digests) before the
	// policy judges any algorithm, so changed data is HASH_FAILURE under every policy.
	for _, step := range []func() *verdict{c.structure, c.xadesLayout, c.resolve, c.digests, c.algorithms, c.containers, c.certificates} {
		if v := step(); v != nil {
			return v
		}
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

// structure checks the element layout of ds:Signature and ds:SignedInfo and parses every
// Reference (xmldsig.ParseSignature).
func (c *sigCtx) structure() *verdict {
	s, err := xmldsig.ParseSignature(c.sig, xmldsig.Limits{MaxReferences: c.v.lim.MaxReferences,
		MaxTransforms: c.v.lim.MaxTransforms, MaxPrefixes: c.v.lim.MaxPrefixes})
	c.x = s
	c.si, c.sv, c.ki, c.objects = s.SignedInfo, s.SignatureValue, s.KeyInfo, s.Objects
	c.c14n, c.c14nPrefix, c.res.SignatureMethod = s.C14N, s.C14NPrefixes, s.Method
	if err != nil {
		return verdictOf(err)
	}
	for _, x := range s.References {
		r := &reference{x: x, el: x.El, pos: x.Pos, uri: x.URI, hasURI: x.HasURI, typ: x.Type,
			digestURI: x.DigestMethod, digest: x.DigestValue}
		r.scope = Scope{Reference: r.pos, URI: r.uri, HasURI: r.hasURI, Type: r.typ,
			Digest: r.digestURI + " " + base64.StdEncoding.EncodeToString(r.digest)}
		for _, t := range x.Transforms {
			r.scope.Transforms = append(r.scope.Transforms, t.Alg)
		}
		c.refs = append(c.refs, r)
	}
	return nil
}

// verdictOf words an error of the XMLDSig core as a verdict: a Problem by its class, a
// verdict (from a hook of this package) as it is.
func verdictOf(err error) *verdict {
	var v *verdict
	if errors.As(err, &v) {
		return v
	}
	var p *xmldsig.Problem
	if !errors.As(err, &p) {
		return formatFailure("%v", err)
	}
	if k, ok := classVerdicts[p.Class]; ok {
		return &verdict{ind: k.ind, sub: k.sub, reason: k.reason, detail: p.Detail}
	}
	return formatFailure("%s", p.Detail)
}

// classVerdicts are the indications of the core's Problem classes; Malformed (and anything
// else) is TOTAL_FAILED/FORMAT_FAILURE.
var classVerdicts = map[xmldsig.Class]verdict{
	xmldsig.Refused:    {ind: Indeterminate, sub: SigConstraintsFailure, reason: ReasonTransform},
	xmldsig.RefRefused: {ind: Indeterminate, sub: SigConstraintsFailure, reason: ReasonReference},
	xmldsig.OverLimit:  {ind: Indeterminate, sub: SigConstraintsFailure, reason: ReasonFormat},
	xmldsig.Algorithm:  {ind: Indeterminate, sub: CryptoConstraintsFailure, reason: ReasonAlgorithm},
	xmldsig.NotFound:   {ind: Indeterminate, sub: SignedDataNotFound, reason: ReasonReference},
	xmldsig.Mismatch:   {ind: TotalFailed, sub: HashFailure, reason: ReasonDigest},
}

// onlyAttrs refuses attributes other than the named ones and namespace declarations.
func onlyAttrs(el *etree.Element, names ...string) *verdict {
	if err := xmldsig.OnlyAttrs(el, names...); err != nil {
		return verdictOf(err)
	}
	return nil
}

// inclusiveNamespaces reads the optional ec:InclusiveNamespaces/@PrefixList of an exclusive
// c14n method or transform, deduplicated, at most max prefixes (xmldsig.InclusiveNamespaces).
func inclusiveNamespaces(el *etree.Element, alg string, max int) (string, *verdict) {
	list, err := xmldsig.InclusiveNamespaces(el, alg, max)
	if err != nil {
		return "", verdictOf(err)
	}
	return list, nil
}

// reference is the verifier's view of one ds:Reference: the core's parse, the hash the
// policy resolved, what it points at and its scope in the report.
type reference struct {
	x         *xmldsig.Reference
	el        *etree.Element
	pos       int
	uri       string
	hasURI    bool
	typ       string
	digestURI string
	digest    []byte
	hash      crypto.Hash

	target   *etree.Element // same-document target (nil for "" and detached)
	detached *Document
	scope    Scope
}

// b64Value decodes the base64 text content of el, refusing anything but text.
func b64Value(el *etree.Element, what string) ([]byte, *verdict) {
	b, err := xmldsig.Base64Value(el, what)
	if err != nil {
		return nil, verdictOf(err)
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

// checkChain accepts the transform chains of the allow-list (xmldsig.CheckChain).
func checkChain(r *reference) *verdict {
	if err := xmldsig.CheckChain(r.x); err != nil {
		return verdictOf(err)
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
	for _, t := range r.x.Transforms {
		if !c14nMethods[t.Alg] && t.Alg != TransformXPath2 {
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
			if err := c.env().Resolve(r.x); err != nil {
				return verdictOf(err)
			}
			t, id := r.x.Target, r.uri[1:]
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
		for _, t := range r.x.Transforms {
			if t.Alg == xades.TransformEnveloped {
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
		if !c.charge(len(data)) {
			return indeterminate(SigConstraintsFailure, ReasonFormat, "the references of the signatures in this document cover more than %d bytes together", c.v.lim.MaxC14NBytes)
		}
		sum, err := xmldsig.Digest(c.ctx, r.hash, data)
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

// referenceData applies the transform chain of r and returns the octets its digest covers
// (xmldsig.Env.Data).
func (c *sigCtx) referenceData(r *reference) ([]byte, *verdict) {
	data, err := c.env().Data(c.x, r.x)
	if err == nil {
		return data, nil
	}
	var p *xmldsig.Problem
	var v *verdict
	if errors.As(err, &p) || errors.As(err, &v) {
		return nil, verdictOf(err)
	}
	return nil, c.c14nVerdict(r.pos, err)
}

// env is the XMLDSig core's view of this signature's input: the document, its Id index, the
// request context, the walk budget and the detached data objects resolve found.
func (c *sigCtx) env() *xmldsig.Env {
	return &xmldsig.Env{Doc: c.doc, IDs: c.ids.x, Ctx: c.ctx, Budget: c.walk, MaxBytes: c.c14nLeft(),
		Detached: func(x *xmldsig.Reference) ([]byte, error) {
			return c.refs[x.Pos-1].detached.Data, nil
		},
		DetachedXML: func(x *xmldsig.Reference) (*etree.Document, error) {
			d, v := c.detachedXML(c.refs[x.Pos-1])
			if v != nil {
				return nil, v
			}
			return d, nil
		}}
}

// c14nLeft is what Limits.MaxC14NBytes leaves to the next canonical form of this input: a
// walk stops as soon as its output is longer (xmldsig.Options.MaxBytes), so that the limit
// bounds the memory of the walk, not only what is digested after it.
func (c *sigCtx) c14nLeft() int64 {
	left := c.v.lim.MaxC14NBytes
	if c.work != nil {
		left -= *c.work
	}
	return max(left, 1)
}

// charge counts n canonical bytes written for this input against Limits.MaxC14NBytes and
// reports whether the input is still within it.
func (c *sigCtx) charge(n int) bool {
	if c.work == nil {
		return true
	}
	*c.work += int64(n)
	return *c.work <= c.v.lim.MaxC14NBytes
}

func (c *sigCtx) c14nVerdict(pos int, err error) *verdict {
	if errors.Is(err, xmldsig.ErrOutputLimit) {
		return indeterminate(SigConstraintsFailure, ReasonFormat, "the references of the signatures in this document cover more than %d bytes together", c.v.lim.MaxC14NBytes)
	}
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
	sv, err := xmldsig.SignatureValue(c.x)
	if err != nil {
		return verdictOf(err)
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
		if !c.charge(len(data)) {
			return xmldsig.ErrOutputLimit
		}
		c.siC14N = data
	}
	return xmldsig.VerifySignedInfo(xmldsig.Method{Kind: c.method.kind, Hash: c.method.hash}, pub, c.siC14N, sv)
}

// keyPolicy refuses keys the policy does not accept.
func (c *sigCtx) keyPolicy(pub crypto.PublicKey) *verdict {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < c.v.policy.MinRSABits || n > maxRSABits {
			return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "RSA key of %d bits is outside %d..%d", n, c.v.policy.MinRSABits, maxRSABits)
		}
		if c.method.kind != xmldsig.RSA && c.method.kind != xmldsig.PSS {
			return fail(SigCryptoFailure, ReasonSignatureValue, "an RSA key with an ECDSA signature method")
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
		default:
			return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "curve %s is not accepted", k.Curve.Params().Name)
		}
		if c.method.kind != xmldsig.ECDSA {
			return fail(SigCryptoFailure, ReasonSignatureValue, "an ECDSA key with an RSA signature method")
		}
	default:
		return indeterminate(CryptoConstraintsFailure, ReasonAlgorithm, "key type %T is not accepted", pub)
	}
	return nil
}

// sameCert reports whether a and b are the same certificate.
func sameCert(a, b *x509.Certificate) bool { return a != nil && b != nil && bytes.Equal(a.Raw, b.Raw) }
