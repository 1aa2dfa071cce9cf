package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"dssd/dss/xmldsig"
	"dssd/dss/xmlsafe"
)

// idIndex is the XMLDSig core's Id index (xmldsig.IndexIDs: an id seen twice, under
// whatever attribute name, is never resolved) with this package's verdicts.
type idIndex struct{ x xmldsig.IDIndex }

func buildIDIndex(root *etree.Element) idIndex { return idIndex{xmldsig.IndexIDs(root)} }

// lookup resolves a bare-name id. A missing or duplicated id is a FORMAT_FAILURE.
func (x idIndex) lookup(id string) (*etree.Element, *verdict) {
	el, err := x.x.Lookup(id)
	switch {
	case errors.Is(err, xmldsig.ErrDuplicateID):
		return nil, formatFailure("the id %s is used more than once in the document (signature wrapping)", clip(id))
	case err != nil:
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
// el, stopping when ctx ends (nil: never), through the XMLDSig core.
func canonicalizeSet(ctx context.Context, el *etree.Element, alg, prefixList string, skip *etree.Element, include func(etree.Token) bool) ([]byte, error) {
	return c14nCall(nil, el, alg, xmldsig.Options{PrefixList: prefixList, Skip: skip, Include: include, Ctx: ctx})
}

// c14nCall canonicalizes the whole document doc when not nil, else the subtree at el, and
// gives the core's errors this package's wording: an unknown method and c14n 1.1 below
// xml:base are errNotAllowed, a walk the context stopped errCancelled.
func c14nCall(doc *etree.Document, el *etree.Element, alg string, o xmldsig.Options) ([]byte, error) {
	if !c14nMethods[alg] {
		return nil, fmt.Errorf("canonicalization %s: %w", clip(alg), errNotAllowed)
	}
	var (
		out []byte
		err error
	)
	if doc != nil {
		out, err = xmldsig.CanonicalizeDocument(doc, alg, o)
	} else {
		out, err = xmldsig.Canonicalize(el, alg, o)
	}
	var attr *xmldsig.XMLAttrError
	if errors.As(err, &attr) {
		return nil, fmt.Errorf("%w: %w", err, errNotAllowed)
	}
	return out, err
}

// errCancelled marks canonicalization stopped by the request context.
var errCancelled = xmldsig.ErrCancelled

// errWalkBudget marks canonicalization stopped because the input's canonicalization walks
// visited more than Limits.MaxC14NNodes nodes (xmldsig.Budget: References, SignedInfo,
// timestamped and archived elements, all signatures together).
var errWalkBudget = xmldsig.ErrBudget

// canon canonicalizes the node-set include selects (nil: all) in the subtree at el, or in the
// whole document doc when doc is not nil, charged to the input's walk budget and stopped by
// the request context.
func (c *sigCtx) canon(doc *etree.Document, el *etree.Element, alg, prefixList string, skip *etree.Element, include func(etree.Token) bool) ([]byte, error) {
	return c14nCall(doc, el, alg, xmldsig.Options{PrefixList: prefixList, Skip: skip, Include: include, Ctx: c.ctx, Budget: c.walk, MaxBytes: c.c14nLeft()})
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
	case errors.Is(err, xmldsig.ErrOutputLimit):
		return indeterminate(SigConstraintsFailure, ReasonFormat, "the signatures in this document have canonical forms of more than %d bytes together", c.v.lim.MaxC14NBytes)
	}
	return nil
}

// text returns the character content of an element that must hold text only
// (xmldsig.Text).
func text(el *etree.Element) (string, bool) { return xmldsig.Text(el) }
