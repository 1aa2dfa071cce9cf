package verify

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"dssd/dss/xades"
	"dssd/dss/xmlsafe"
)

// idIndex maps id values to elements, built in one walk over the tree. Every attribute
// whose local name is Id, ID or id counts, in any namespace (Id, ID, id, wsu:Id, xml:id, ...):
// an id seen twice, under whatever attribute name, is never resolved.
type idIndex struct {
	byID map[string]*etree.Element
	dup  map[string]bool
}

func buildIDIndex(root *etree.Element) idIndex {
	x := idIndex{byID: map[string]*etree.Element{}, dup: map[string]bool{}}
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		for _, a := range el.Attr {
			if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
				continue
			}
			if a.Key == "Id" || a.Key == "ID" || a.Key == "id" {
				if _, ok := x.byID[a.Value]; ok {
					x.dup[a.Value] = true
				}
				x.byID[a.Value] = el
			}
		}
		for _, c := range el.Child {
			if ce, ok := c.(*etree.Element); ok {
				walk(ce)
			}
		}
	}
	walk(root)
	return x
}

// lookup resolves a bare-name id. A missing or duplicated id is a FORMAT_FAILURE.
func (x idIndex) lookup(id string) (*etree.Element, *verdict) {
	if x.dup[id] {
		return nil, formatFailure("the id %s is used more than once in the document (signature wrapping)", clip(id))
	}
	el, ok := x.byID[id]
	if !ok {
		return nil, formatFailure("no element has the id %s", clip(id))
	}
	return el, nil
}

// canonicalize returns the canonical form of el as a document subset in its own context.
// alg is exclusive c14n (with prefixList, the InclusiveNamespaces PrefixList), c14n 1.1 or
// c14n 1.0, each with or without comments. skip, if not nil, is a descendant left out (the
// signature, for the enveloped-signature transform). el is not modified.
func canonicalize(el *etree.Element, alg, prefixList string, skip *etree.Element) ([]byte, error) {
	return canonicalizeSet(nil, el, alg, prefixList, skip, nil)
}

// canonicalizeSet is canonicalize of the node-set include selects (nil: all) in the subtree at
// el, stopping when ctx ends (nil: never).
func canonicalizeSet(ctx context.Context, el *etree.Element, alg, prefixList string, skip *etree.Element, include func(etree.Token) bool) ([]byte, error) {
	base, comments := c14nBase(alg)
	s := xades.Subset{Comments: comments, Skip: skip, Include: include, Ctx: ctx}
	switch base {
	case xades.ExcC14N:
		s.Exclusive = true
		s.Prefixes = prefixSet(prefixList)
	case xades.C14N11, C14N10:
		var ierr error
		s.Inherit = func(e *etree.Element) []etree.Attr {
			a, err := inheritedXMLAttrs(e, base == C14N10)
			if err != nil && ierr == nil {
				ierr = err
			}
			return a
		}
		out, err := xades.CanonicalSubset(el, s)
		if err == nil && ierr != nil {
			err = ierr
		}
		return out, c14nErr(err)
	default:
		return nil, fmt.Errorf("canonicalization %s: %w", clip(alg), errNotAllowed)
	}
	out, err := xades.CanonicalSubset(el, s)
	return out, c14nErr(err)
}

func c14nErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errCancelled, err)
	}
	return err
}

// errCancelled marks canonicalization stopped by the request context.
var errCancelled = errors.New("the request deadline passed during canonicalization")

// errWalkBudget marks canonicalization stopped because the input's canonicalization walks
// visited more than Limits.MaxC14NNodes nodes.
var errWalkBudget = errors.New("canonicalization node budget used up")

// walkBudget counts the nodes the canonicalization walks of one input visit (References,
// SignedInfo, timestamped and archived elements, all signatures together) against
// Limits.MaxC14NNodes. The output bytes are bounded by MaxC14NBytes; this bounds the walks
// themselves, which an XPath filter selecting nothing, or many References to the same
// document, repeat without output. When the budget is used up the walk's context is done, which
// stops the walk under way within 256 nodes (budgetCtx), and every later walk starts refused.
type walkBudget struct {
	left int64
	over bool
}

// budgetCtx is the context a canonicalization walk checks: done when the request's context is,
// or when the budget is used up.
type budgetCtx struct {
	context.Context
	w *walkBudget
}

func (b budgetCtx) Err() error {
	if b.w.over {
		return errWalkBudget
	}
	return b.Context.Err()
}

// counting returns include (nil: every node) wrapped to charge each node it is asked about:
// one per node and one per attribute of an element.
func (w *walkBudget) counting(include func(etree.Token) bool) func(etree.Token) bool {
	return func(t etree.Token) bool {
		n := int64(1)
		if el, ok := t.(*etree.Element); ok {
			n += int64(len(el.Attr))
		}
		if w.left -= n; w.left < 0 {
			w.over = true
		}
		return include == nil || include(t)
	}
}

// canon canonicalizes the node-set include selects (nil: all) in the subtree at el, or in the
// whole document doc when doc is not nil, charged to the input's walk budget and stopped by
// the request context.
func (c *sigCtx) canon(doc *etree.Document, el *etree.Element, alg, prefixList string, skip *etree.Element, include func(etree.Token) bool) ([]byte, error) {
	w := c.walk
	if w == nil {
		if doc != nil {
			return canonicalizeDocumentSet(c.ctx, doc, alg, prefixList, skip, include)
		}
		return canonicalizeSet(c.ctx, el, alg, prefixList, skip, include)
	}
	if w.over {
		return nil, errWalkBudget
	}
	var (
		b   []byte
		err error
	)
	ctx := budgetCtx{Context: c.ctx, w: w}
	if doc != nil {
		b, err = canonicalizeDocumentSet(ctx, doc, alg, prefixList, skip, w.counting(include))
	} else {
		b, err = canonicalizeSet(ctx, el, alg, prefixList, skip, w.counting(include))
	}
	if w.over {
		return nil, errWalkBudget
	}
	return b, err
}

// digestChunk is how many bytes digest hashes between two checks of the request context.
const digestChunk = 1 << 20

// digest hashes data with h, checking the request context every digestChunk bytes (64 MiB
// take about 0.1 s to hash).
func (c *sigCtx) digest(h crypto.Hash, data []byte) ([]byte, error) {
	w := h.New()
	for len(data) > 0 {
		if c.ctx != nil {
			if err := c.ctx.Err(); err != nil {
				return nil, err
			}
		}
		n := min(len(data), digestChunk)
		w.Write(data[:n])
		data = data[n:]
	}
	return w.Sum(nil), nil
}

// detachedXML returns the tree of a detached data object a Reference transforms, parsed once
// per input (several References may name it) within what is left of Limits.MaxNodes after the
// signature document and the detached documents parsed before it.
func (c *sigCtx) detachedXML(r *reference) (*etree.Document, *verdict) {
	if c.req == nil {
		c.req = &reqState{nodesLeft: c.v.lim.MaxNodes}
	}
	if d, ok := c.req.detached[r.detached]; ok {
		return d, nil
	}
	lim := c.v.lim.Document
	lim.MaxNodes = c.req.nodesLeft
	if lim.MaxNodes <= 0 {
		return nil, indeterminate(SigConstraintsFailure, ReasonReference, "reference %d: the documents of this request hold more than %d nodes together", r.pos, c.v.lim.MaxNodes)
	}
	d, err := xmlsafe.ParseContext(c.ctx, r.detached.Data, lim)
	switch {
	case c.ctx != nil && c.ctx.Err() != nil:
		return nil, indeterminate(TryLater, ReasonFormat, "reference %d: the request deadline passed while parsing the detached data object", r.pos)
	case xmlsafe.IsLimit(err):
		return nil, indeterminate(SigConstraintsFailure, ReasonReference, "reference %d: the detached data object %s is beyond the limits of verification: %v", r.pos, clip(r.detached.ID), err)
	case err == nil && d.Root() == nil:
		err = errors.New("no root element")
	}
	if err != nil {
		return nil, formatFailure("reference %d: the detached data object %s is not acceptable XML: %v", r.pos, clip(r.detached.ID), err)
	}
	c.req.nodesLeft -= countNodes(&d.Element)
	if c.req.detached == nil {
		c.req.detached = map[*Document]*etree.Document{}
	}
	c.req.detached[r.detached] = d
	return d, nil
}

// countNodes returns the nodes under el as Limits.MaxNodes counts them (el itself not
// included: it is a document).
func countNodes(el *etree.Element) int64 {
	var n int64
	for _, t := range el.Child {
		n++
		if e, ok := t.(*etree.Element); ok {
			n += int64(len(e.Attr)) + countNodes(e)
		}
	}
	return n
}

// stopped returns the verdict of a walk that err stopped (the budget or the request
// deadline), or nil.
func (c *sigCtx) stopped(err error) *verdict {
	switch {
	case errors.Is(err, errWalkBudget):
		return indeterminate(SigConstraintsFailure, ReasonFormat, "the signatures in this document make canonicalization visit more than %d nodes together", c.v.lim.MaxC14NNodes)
	case errors.Is(err, errCancelled), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return indeterminate(TryLater, ReasonFormat, "the request deadline passed during validation")
	}
	return nil
}

// c14nBase returns the canonicalization method without comments and whether alg keeps them.
func c14nBase(alg string) (string, bool) {
	switch alg {
	case C14N10Comments:
		return C14N10, true
	case C14N11Comments:
		return xades.C14N11, true
	case ExcC14NComments:
		return xades.ExcC14N, true
	}
	return alg, false
}

// prefixSet splits a PrefixList already deduplicated and capped by inclusiveNamespaces
// ("#default" is the default namespace).
func prefixSet(prefixList string) []string {
	var list []string
	for _, p := range strings.Fields(prefixList) {
		if p == "#default" {
			p = ""
		}
		list = append(list, p)
	}
	return list
}

// inheritedXMLAttrs returns the attributes in the xml namespace that el inherits from its
// nearest ancestors and does not carry itself, as inclusive canonicalization of a document
// subset requires: xml:lang and xml:space for c14n 1.1 (xml:base would need URI fix-up, which
// is refused), every xml:* attribute for c14n 1.0 (all). The nearest declaration wins.
func inheritedXMLAttrs(el *etree.Element, all bool) ([]etree.Attr, error) {
	have := map[string]bool{}
	for _, a := range el.Attr {
		if a.Space == "xml" {
			have[a.Key] = true
		}
	}
	var inherited []etree.Attr
	for p := el.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if a.Space != "xml" || have[a.Key] {
				continue
			}
			switch {
			case a.Key == "lang" || a.Key == "space":
			case a.Key == "base" && !all:
				return nil, fmt.Errorf("c14n 1.1 of an element below xml:base: %w", errNotAllowed)
			case !all || a.Key == "id":
				continue
			}
			have[a.Key] = true
			inherited = append(inherited, etree.Attr{Space: "xml", Key: a.Key, Value: a.Value})
		}
	}
	return inherited, nil
}

// canonicalizeDocument returns the canonical form of the whole document (URI="", so without
// comments), leaving out skip when not nil. Processing instructions outside the document
// element belong to it when include (nil: all) selects them.
func canonicalizeDocument(doc *etree.Document, alg, prefixList string, skip *etree.Element) ([]byte, error) {
	return canonicalizeDocumentSet(nil, doc, alg, prefixList, skip, nil)
}

func canonicalizeDocumentSet(ctx context.Context, doc *etree.Document, alg, prefixList string, skip *etree.Element, include func(etree.Token) bool) ([]byte, error) {
	body, err := canonicalizeSet(ctx, doc.Root(), alg, prefixList, skip, include)
	if err != nil {
		return nil, err
	}
	_, comments := c14nBase(alg)
	var out []byte
	seenRoot := false
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			out = append(out, body...)
			seenRoot = true
			continue
		case *etree.ProcInst:
			if t.Target == "xml" || (include != nil && !include(t)) {
				continue
			}
			if seenRoot {
				out = append(out, '\n')
			}
			out = xades.AppendProcInst(out, t)
		case *etree.Comment:
			if !comments || (include != nil && !include(t)) {
				continue
			}
			if seenRoot {
				out = append(out, '\n')
			}
			out = append(out, "<!--"...)
			out = append(out, t.Data...)
			out = append(out, "-->"...)
		default:
			continue
		}
		if !seenRoot {
			out = append(out, '\n')
		}
	}
	return out, nil
}

// text returns the character content of an element that must hold text only: child
// elements, processing instructions and comments inside it are refused (hardening.md §2.5:
// values are never concatenated across other nodes).
func text(el *etree.Element) (string, bool) {
	var b strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// stripSpace removes XML white space (base64 values may be folded).
func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
