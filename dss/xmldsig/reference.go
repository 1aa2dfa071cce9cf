package xmldsig

import (
	"context"
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Class says what kind of problem a Problem is; dss/verify turns each into its indication.
type Class int

// Problem classes.
const (
	Malformed  Class = iota + 1 // the structure is wrong (FORMAT_FAILURE)
	Refused                     // a transform, parameter or chain outside the allow-list
	RefRefused                  // a reference form outside the allow-list
	OverLimit                   // beyond a Limits bound
	Algorithm                   // a method that cannot be computed, or parameters on it
	NotFound                    // the data of a detached reference is not given
	Mismatch                    // a digest does not match
)

// Problem is why a signature or a reference cannot be checked: its class and a detail fit
// for a verification report (attacker-controlled values clipped).
type Problem struct {
	Class  Class
	Detail string
}

func (p *Problem) Error() string { return p.Detail }

func problem(c Class, format string, a ...any) *Problem {
	return &Problem{Class: c, Detail: fmt.Sprintf(format, a...)}
}

// Clip quotes s for a report, cut at 80 bytes.
func Clip(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// lookupProblem resolves a bare-name id; a missing or duplicated id is Malformed.
func lookupProblem(x IDIndex, id string) (*etree.Element, error) {
	el, err := x.Lookup(id)
	switch {
	case errors.Is(err, ErrDuplicateID):
		return nil, problem(Malformed, "the id %s is used more than once in the document (signature wrapping)", Clip(id))
	case err != nil:
		return nil, problem(Malformed, "no element has the id %s", Clip(id))
	}
	return el, nil
}

func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == ns
}

// AppendChildElements appends the child elements of el to dst: el.ChildElements() into
// storage the caller provides (an array on its stack, for the few children of a signature's
// elements).
func AppendChildElements(dst []*etree.Element, el *etree.Element) []*etree.Element {
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			dst = append(dst, c)
		}
	}
	return dst
}

// HasChildElement reports whether el has a child element (len(el.ChildElements()) != 0).
func HasChildElement(el *etree.Element) bool {
	for _, t := range el.Child {
		if _, ok := t.(*etree.Element); ok {
			return true
		}
	}
	return false
}

// Limits bound what one ds:Signature may ask for.
type Limits struct {
	MaxReferences int // References in SignedInfo
	MaxTransforms int // Transforms of one Reference
	MaxPrefixes   int // distinct prefixes of one InclusiveNamespaces PrefixList
}

// Signature is a ds:Signature whose layout ParseSignature checked.
type Signature struct {
	El             *etree.Element
	SignedInfo     *etree.Element
	SignatureValue *etree.Element
	KeyInfo        *etree.Element // nil: none
	Objects        []*etree.Element
	C14N           string // CanonicalizationMethod
	C14NPrefixes   string // its InclusiveNamespaces PrefixList, deduplicated
	Method         string // SignatureMethod
	References     []*Reference
}

// Reference is one parsed ds:Reference.
type Reference struct {
	El           *etree.Element
	Pos          int // 1 for the first Reference of SignedInfo
	URI          string
	HasURI       bool
	Type         string
	Transforms   []Transform
	DigestMethod string
	DigestValue  []byte
	// Target is the element a same-document "#id" reference points at (Resolve); nil for
	// URI="" and detached references.
	Target *etree.Element
}

// Detached reports whether r points outside the document (no URI, or one that is not "" or
// "#...").
func (r *Reference) Detached() bool {
	return !r.HasURI || (r.URI != "" && r.URI[0] != '#')
}

// Transform is one ds:Transform with its parameters.
type Transform struct {
	Alg        string
	PrefixList string     // exclusive c14n InclusiveNamespaces
	ops        []filterOp // XPath Filter 2.0
	rm         *selector  // XPath 1.0: the subtrees the expression removes
}

// ParseSignature checks the element layout of the ds:Signature sig and of its SignedInfo, and
// parses every Reference: SignedInfo, SignatureValue, KeyInfo?, Object*; SignedInfo holds
// CanonicalizationMethod (exclusive c14n may carry an InclusiveNamespaces PrefixList),
// SignatureMethod without parameters and 1..MaxReferences References. On an error the
// Signature holds what was read before it.
func ParseSignature(sig *etree.Element, lim Limits) (*Signature, error) {
	s := &Signature{El: sig}
	kids := sig.ChildElements()
	if len(kids) < 2 || !is(kids[0], NS, "SignedInfo") || !is(kids[1], NS, "SignatureValue") {
		return s, problem(Malformed, "ds:Signature must start with SignedInfo and SignatureValue")
	}
	s.SignedInfo, s.SignatureValue = kids[0], kids[1]
	rest := kids[2:]
	if len(rest) > 0 && is(rest[0], NS, "KeyInfo") {
		s.KeyInfo = rest[0]
		rest = rest[1:]
	}
	for _, o := range rest {
		if !is(o, NS, "Object") {
			return s, problem(Malformed, "unexpected %s in ds:Signature (a second SignedInfo, SignatureValue or KeyInfo?)", Clip(o.FullTag()))
		}
		s.Objects = append(s.Objects, o)
	}
	if err := OnlyAttrs(sig, "Id"); err != nil {
		return s, err
	}
	si := s.SignedInfo.ChildElements()
	if len(si) < 3 || !is(si[0], NS, "CanonicalizationMethod") || !is(si[1], NS, "SignatureMethod") {
		return s, problem(Malformed, "SignedInfo must hold CanonicalizationMethod, SignatureMethod and References")
	}
	if len(si)-2 > lim.MaxReferences {
		return s, problem(OverLimit, "%d References; the limit is %d", len(si)-2, lim.MaxReferences)
	}
	s.C14N = si[0].SelectAttrValue("Algorithm", "")
	prefix, err := InclusiveNamespaces(si[0], s.C14N, lim.MaxPrefixes)
	if err != nil {
		return s, err
	}
	s.C14NPrefixes = prefix
	if len(si[1].ChildElements()) != 0 {
		return s, problem(Algorithm, "SignatureMethod with parameters (HMACOutputLength?) is not accepted")
	}
	s.Method = si[1].SelectAttrValue("Algorithm", "")
	for i, el := range si[2:] {
		if !is(el, NS, "Reference") {
			return s, problem(Malformed, "unexpected %s in SignedInfo", Clip(el.FullTag()))
		}
		r, err := ParseReference(el, i+1, lim)
		if err != nil {
			return s, err
		}
		s.References = append(s.References, r)
	}
	return s, nil
}

// OnlyAttrs refuses attributes of el other than the named ones and namespace declarations.
func OnlyAttrs(el *etree.Element, names ...string) error {
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if a.Space != "" || !slices.Contains(names, a.Key) {
			return problem(Malformed, "unexpected attribute %s on %s", Clip(a.FullKey()), el.Tag)
		}
	}
	return nil
}

// InclusiveNamespaces reads the optional ec:InclusiveNamespaces/@PrefixList of an exclusive
// c14n method or transform el; any other child is refused. The list is deduplicated; more than
// max distinct prefixes is refused (issue 10: a million names cost names × elements).
func InclusiveNamespaces(el *etree.Element, alg string, max int) (string, error) {
	kids := el.ChildElements()
	if len(kids) == 0 {
		return "", nil
	}
	if (alg != ExcC14N && alg != ExcC14NComments) || len(kids) != 1 || !is(kids[0], ExcC14N, "InclusiveNamespaces") {
		return "", problem(Refused, "parameters of %s are not accepted", Clip(alg))
	}
	seen := map[string]bool{}
	var list []string
	for p := range strings.FieldsSeq(kids[0].SelectAttrValue("PrefixList", "")) { // no slice of a million names
		if seen[p] {
			continue
		}
		if len(list) == max {
			return "", problem(Refused, "InclusiveNamespaces PrefixList names more than %d prefixes", max)
		}
		seen[p] = true
		list = append(list, p)
	}
	return strings.Join(list, " "), nil
}

// transformParams parses the parameters of a transform: InclusiveNamespaces of exclusive c14n,
// the XPath elements of XPath Filter 2.0 and XPath 1.0 (allow-listed shapes only).
func transformParams(t *etree.Element, alg string, pos int, lim Limits) (Transform, error) {
	tr := Transform{Alg: alg}
	refused := func(what string) (Transform, error) {
		return tr, problem(Refused, "reference %d: %s is not accepted (docs/conformance.md lists the XPath shapes that are)", pos, what)
	}
	switch alg {
	case TransformXPath2:
		kids := t.ChildElements()
		if len(kids) == 0 || len(kids) > maxFilterOps {
			return refused(fmt.Sprintf("an XPath Filter 2.0 transform with %d XPath elements", len(kids)))
		}
		for _, k := range kids {
			op := k.SelectAttrValue("Filter", "")
			expr, ok := Text(k)
			if !is(k, TransformXPath2, "XPath") || !ok || (op != "intersect" && op != "subtract" && op != "union") {
				return refused("an XPath Filter 2.0 element " + Clip(k.FullTag()))
			}
			sel, ok := parseFilter2Expr(expr, k)
			if !ok {
				return refused("the XPath Filter 2.0 expression " + Clip(strings.TrimSpace(expr)))
			}
			tr.ops = append(tr.ops, filterOp{op: op, sel: sel})
		}
		return tr, nil
	case TransformXPath:
		kids := t.ChildElements()
		if len(kids) != 1 || !is(kids[0], NS, "XPath") {
			return refused("an XPath transform without one ds:XPath")
		}
		expr, ok := Text(kids[0])
		if !ok {
			return refused("an XPath transform with markup in its expression")
		}
		sel, ok := parseXPathExpr(expr, kids[0])
		if !ok {
			return refused("the XPath expression " + Clip(strings.TrimSpace(expr)))
		}
		tr.rm = &sel
		return tr, nil
	}
	prefix, err := InclusiveNamespaces(t, alg, lim.MaxPrefixes)
	tr.PrefixList = prefix
	return tr, err
}

// ParseReference parses the ds:Reference el, the pos-th of its SignedInfo: attributes Id, URI
// and Type; Transforms? (each transform's parameters in the allow-listed shapes),
// DigestMethod without parameters, DigestValue in base64.
func ParseReference(el *etree.Element, pos int, lim Limits) (*Reference, error) {
	if err := OnlyAttrs(el, "Id", "URI", "Type"); err != nil {
		return nil, err
	}
	r := &Reference{El: el, Pos: pos, Type: el.SelectAttrValue("Type", "")}
	if a := el.SelectAttr("URI"); a != nil {
		r.URI, r.HasURI = a.Value, true
	}
	var kidsA, tsA [4]*etree.Element
	kids := AppendChildElements(kidsA[:0], el)
	if len(kids) > 0 && is(kids[0], NS, "Transforms") {
		ts := AppendChildElements(tsA[:0], kids[0])
		if len(ts) == 0 {
			return nil, problem(Malformed, "reference %d: empty Transforms", pos)
		}
		if len(ts) > lim.MaxTransforms {
			return nil, problem(Refused, "reference %d: %d transforms; the limit is %d", pos, len(ts), lim.MaxTransforms)
		}
		filterOps := 0 // XPath Filter 2.0 operations and XPath transforms of the Reference together
		for _, t := range ts {
			if !is(t, NS, "Transform") {
				return nil, problem(Malformed, "reference %d: unexpected %s in Transforms", pos, Clip(t.FullTag()))
			}
			tr, err := transformParams(t, t.SelectAttrValue("Algorithm", ""), pos, lim)
			if err != nil {
				return nil, err
			}
			if tr.rm != nil {
				filterOps++
			}
			if filterOps += len(tr.ops); filterOps > maxFilterOps {
				return nil, problem(Refused, "reference %d: more than %d XPath filter operations", pos, maxFilterOps)
			}
			r.Transforms = append(r.Transforms, tr)
		}
		kids = kids[1:]
	}
	if len(kids) != 2 || !is(kids[0], NS, "DigestMethod") || !is(kids[1], NS, "DigestValue") {
		return nil, problem(Malformed, "reference %d: want Transforms?, DigestMethod, DigestValue", pos)
	}
	if HasChildElement(kids[0]) {
		return nil, problem(Malformed, "reference %d: DigestMethod with parameters", pos)
	}
	r.DigestMethod = kids[0].SelectAttrValue("Algorithm", "")
	dv, err := Base64Value(kids[1], "DigestValue")
	if err != nil {
		return nil, err
	}
	r.DigestValue = dv
	return r, nil
}

// Base64Value decodes the base64 text content of el (what names it in the detail), refusing
// anything but text: a Malformed Problem.
func Base64Value(el *etree.Element, what string) ([]byte, error) {
	b, err := DecodeBase64(el)
	switch {
	case errors.Is(err, ErrNotText):
		return nil, problem(Malformed, "%s holds something other than base64 text", what)
	case err != nil:
		return nil, problem(Malformed, "%s is not base64", what)
	}
	return b, nil
}

// CheckChain accepts the transform chains of the allow-list:
//
//	[enveloped-signature] [c14n]   same-document references
//	base64                         a ds:Object of this signature holding base64 text
//	(none) | c14n                  detached data (c14n: detached XML)
//
// XPath Filter 2.0 and XPath 1.0 (their allow-listed shapes) may stand anywhere before the
// canonicalization of a same-document reference.
func CheckChain(r *Reference) error {
	for i, t := range r.Transforms {
		switch {
		case t.Alg == TransformXPath2 || t.Alg == TransformXPath:
			if r.Detached() {
				return problem(Refused, "reference %d: XPath transforms are accepted on same-document references only", r.Pos)
			}
		case t.Alg == TransformEnveloped:
			if r.Detached() {
				return problem(Refused, "reference %d: enveloped-signature on detached data", r.Pos)
			}
		case IsC14N(t.Alg):
			if i != len(r.Transforms)-1 {
				return problem(Refused, "reference %d: canonicalization must be the last transform", r.Pos)
			}
		case t.Alg == TransformBase64:
			if len(r.Transforms) != 1 {
				return problem(Refused, "reference %d: the base64 transform must be the only one", r.Pos)
			}
		default:
			return problem(Refused, "reference %d: transform %s is not accepted (no XSLT, XPointer or decryption)", r.Pos, Clip(t.Alg))
		}
	}
	return nil
}

// Env is the context references are resolved in: the document of the signature, its Id
// index, and the hooks of hostile input.
type Env struct {
	Doc    *etree.Document
	IDs    IDIndex
	Ctx    context.Context // stops canonicalization and digests when done; nil: never
	Budget *Budget         // the input's canonicalization node budget; nil: none
	// MaxBytes, when positive, bounds each canonical form Data and VerifySignedInfo write
	// (Options.MaxBytes).
	MaxBytes int64
	// Detached returns the octets of the data object of a detached reference (nil: no
	// detached reference resolves; the error is returned as it is).
	Detached func(r *Reference) ([]byte, error)
	// DetachedXML returns the tree of the data object of a detached reference with a
	// canonicalization transform (nil: refused).
	DetachedXML func(r *Reference) (*etree.Document, error)
	// Digest and Signature resolve DigestMethod and SignatureMethod URIs for Check (nil:
	// every method the core can compute, DigestMethods and SignatureMethods).
	Digest    func(uri string) (crypto.Hash, error)
	Signature func(uri string) (Method, error)
	// Buf, when not nil, is storage Data canonicalizes a same-document reference into
	// (Options.Buf): the result then shares Buf's array. nil: a new buffer.
	Buf []byte
}

// Resolve finds the element a same-document "#id" reference points at (r.Target) through
// the Id index; only bare-name ids are accepted. URI="" and detached references have no
// target.
func (e *Env) Resolve(r *Reference) error {
	if !r.HasURI || !strings.HasPrefix(r.URI, "#") {
		return nil
	}
	id := r.URI[1:]
	if id == "" || strings.ContainsAny(id, "()/ ") {
		return problem(RefRefused, "reference %d: only bare-name \"#id\" same-document references are accepted, not %s", r.Pos, Clip(r.URI))
	}
	t, err := lookupProblem(e.IDs, id)
	if err != nil {
		p := err.(*Problem)
		p.Detail = fmt.Sprintf("reference %d: %s", r.Pos, p.Detail)
		return p
	}
	r.Target = t
	return nil
}

// Data applies the transform chain of r (resolved, its chain accepted by CheckChain) and
// returns the octets its digest covers. Canonicalization errors come back as Canonicalize
// returns them (ErrBudget, ErrCancelled, ErrNotAllowed, ErrNotCanonicalizable); the
// hooks' errors as they are; everything else is a Problem.
func (e *Env) Data(s *Signature, r *Reference) ([]byte, error) {
	var (
		skip   *etree.Element
		alg    = C14N10 // a node-set without a final canonicalization: c14n 1.0 (XMLDSig §4.4.3.2)
		pfx    string
		filter *nodeSetFilter
	)
	for _, t := range r.Transforms {
		switch {
		case t.Alg == TransformEnveloped:
			skip = s.El
		case IsC14N(t.Alg):
			alg, pfx = t.Alg, t.PrefixList
		case t.Alg == TransformXPath2:
			if filter == nil {
				filter = &nodeSetFilter{}
			}
			var ops []boundOp
			for _, o := range t.ops {
				b, err := bind(o.sel, e.IDs, s.El)
				if err != nil {
					p := err.(*Problem)
					p.Detail = fmt.Sprintf("reference %d: XPath Filter 2.0: %s", r.Pos, p.Detail)
					return nil, p
				}
				bit, ok := filter.addSelector(&b)
				if !ok {
					return nil, problem(Refused, "reference %d: too many XPath filter operations", r.Pos)
				}
				ops = append(ops, boundOp{op: o.op, bit: bit})
			}
			filter.xf2 = append(filter.xf2, ops)
		case t.Alg == TransformXPath:
			if filter == nil {
				filter = &nodeSetFilter{}
			}
			b, err := bind(*t.rm, e.IDs, s.El)
			if err != nil {
				return nil, err
			}
			bit, ok := filter.addSelector(&b)
			if !ok {
				return nil, problem(Refused, "reference %d: too many XPath filter operations", r.Pos)
			}
			filter.rmBits |= bit
		}
	}
	var include func(etree.Token) bool
	if filter != nil {
		include = filter.include
	}
	if len(r.Transforms) == 1 && r.Transforms[0].Alg == TransformBase64 {
		if r.Target == nil || r.Target.Parent() != s.El || !is(r.Target, NS, "Object") {
			return nil, problem(Refused, "reference %d: the base64 transform is accepted only on a ds:Object of this signature", r.Pos)
		}
		b, err := DecodeBase64(r.Target)
		switch {
		case errors.Is(err, ErrNotText):
			return nil, problem(Malformed, "reference %d: the base64 object holds something other than text", r.Pos)
		case err != nil:
			return nil, problem(Malformed, "reference %d: the base64 object is not base64", r.Pos)
		}
		return b, nil
	}
	if r.Detached() {
		if len(r.Transforms) == 0 {
			if e.Detached == nil {
				return nil, problem(NotFound, "reference %d: no data object was given for the detached reference", r.Pos)
			}
			return e.Detached(r)
		}
		if e.DetachedXML == nil {
			return nil, problem(Refused, "reference %d: transforms on detached data are not accepted", r.Pos)
		}
		d, err := e.DetachedXML(r)
		if err != nil {
			return nil, err
		}
		// An octet stream parsed into a node-set keeps its comments (XMLDSig §4.4.3.2).
		return CanonicalizeDocument(d, alg, Options{PrefixList: pfx, Ctx: e.Ctx, Budget: e.Budget, MaxBytes: e.MaxBytes})
	}
	if skip != nil {
		inside := r.Target == nil // URI="": the whole document
		for p := s.El.Parent(); p != nil && !inside; p = p.Parent() {
			inside = p == r.Target
		}
		if !inside || s.El.Parent() == nil {
			skip = nil // the transform removes nothing outside the referenced data
		}
	}
	// A same-document reference ("" or "#id") selects its node-set without comments, whatever
	// the canonicalization (XMLDSig §4.4.3.3).
	alg, _ = C14NBase(alg)
	o := Options{PrefixList: pfx, Skip: skip, Include: include, Ctx: e.Ctx, Budget: e.Budget, Buf: e.Buf, MaxBytes: e.MaxBytes}
	if r.Target == nil {
		return CanonicalizeDocument(e.Doc, alg, o)
	}
	return Canonicalize(r.Target, alg, o)
}

// digestChunk is how many bytes Digest hashes between two checks of the context.
const digestChunk = 1 << 20

// Digest hashes data with h, checking ctx (nil: never) every MiB (64 MiB take about 0.1 s to
// hash); the context's error when it ends.
func Digest(ctx context.Context, h crypto.Hash, data []byte) ([]byte, error) {
	w := h.New()
	for len(data) > 0 {
		if ctx != nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		n := min(len(data), digestChunk)
		w.Write(data[:n])
		data = data[n:]
	}
	return w.Sum(nil), nil
}

// SignedInfo returns the canonical form of s's SignedInfo under its CanonicalizationMethod.
func (e *Env) SignedInfo(s *Signature) ([]byte, error) {
	return Canonicalize(s.SignedInfo, s.C14N, Options{PrefixList: s.C14NPrefixes, Ctx: e.Ctx, Budget: e.Budget, MaxBytes: e.MaxBytes})
}

// CheckReference resolves r, applies its transforms and compares the digest of the result,
// under the method r names (e.Digest), with its DigestValue.
func (e *Env) CheckReference(s *Signature, r *Reference) error {
	h, err := e.digestHash(r.DigestMethod)
	if err != nil {
		return err
	}
	if len(r.DigestValue) != h.Size() {
		return problem(Mismatch, "reference %d: the digest value has %d bytes, %s has %d", r.Pos, len(r.DigestValue), Clip(r.DigestMethod), h.Size())
	}
	if err := CheckChain(r); err != nil {
		return err
	}
	if err := e.Resolve(r); err != nil {
		return err
	}
	data, err := e.Data(s, r)
	if err != nil {
		return err
	}
	sum, err := Digest(e.Ctx, h, data)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(sum, r.DigestValue) != 1 {
		return problem(Mismatch, "reference %d: the digest does not match: the signed data was changed", r.Pos)
	}
	return nil
}

// CheckSignatureValue verifies the SignatureValue of s over its canonical SignedInfo with pub,
// under the method s names (e.Signature).
func (e *Env) CheckSignatureValue(s *Signature, pub crypto.PublicKey) error {
	m, err := e.signatureMethod(s.Method)
	if err != nil {
		return err
	}
	sv, err := SignatureValue(s)
	if err != nil {
		return err
	}
	data, err := e.SignedInfo(s)
	if err != nil {
		return err
	}
	return VerifySignedInfo(m, pub, data, sv)
}

// SignatureValue decodes the SignatureValue of s: an Id attribute at most, base64 text only.
func SignatureValue(s *Signature) ([]byte, error) {
	if err := OnlyAttrs(s.SignatureValue, "Id"); err != nil {
		return nil, err
	}
	return Base64Value(s.SignatureValue, "SignatureValue")
}

// VerifySignedInfo verifies the signature value sv over signedInfo, the canonical SignedInfo,
// with pub under m.
func VerifySignedInfo(m Method, pub crypto.PublicKey, signedInfo, sv []byte) error {
	h := m.Hash.New()
	h.Write(signedInfo)
	return VerifyValue(m, pub, h.Sum(nil), sv)
}

// Check is the cryptographic check of the ds:Signature s with the verifier's code and
// without the verifier's policy: every Reference (CheckReference) and the SignatureValue
// (CheckSignatureValue):
//
//	s, err := xmldsig.ParseSignature(sigElement, xmldsig.DefaultLimits())
//	env := &xmldsig.Env{Doc: doc, IDs: xmldsig.IndexIDs(doc.Root()), Detached: ...}
//	err = env.Check(s, cert.PublicKey)
//
// The signer's self-check (dss/xades.Check) runs the same steps with the same functions
// (Data, VerifyValue) in its own order, so that it can skip the public-key verification
// hsm.Guard has already made over the same bytes; TestCoreCheck holds what the signer
// produces to this function.
func (e *Env) Check(s *Signature, pub crypto.PublicKey) error {
	for _, r := range s.References {
		if err := e.CheckReference(s, r); err != nil {
			return err
		}
	}
	return e.CheckSignatureValue(s, pub)
}

// DefaultLimits are dss/verify's default bounds on one signature.
func DefaultLimits() Limits {
	return Limits{MaxReferences: 8, MaxTransforms: 4, MaxPrefixes: 64}
}

func (e *Env) digestHash(uri string) (crypto.Hash, error) {
	if e.Digest != nil {
		return e.Digest(uri)
	}
	h, ok := DigestMethods[uri]
	if !ok {
		return 0, problem(Algorithm, "digest method %s cannot be computed", Clip(uri))
	}
	return h, nil
}

func (e *Env) signatureMethod(uri string) (Method, error) {
	if e.Signature != nil {
		return e.Signature(uri)
	}
	m, ok := SignatureMethods[uri]
	if !ok {
		return m, problem(Algorithm, "signature method %s cannot be verified", Clip(uri))
	}
	return m, nil
}
