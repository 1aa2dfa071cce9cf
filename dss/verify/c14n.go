package verify

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"dssd/dss/xades"
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

// canonicalize returns the canonical form of el as a document subset in its own context,
// without comments. alg is exclusive c14n (with prefixList, the InclusiveNamespaces
// PrefixList), c14n 1.1 or c14n 1.0. skip, if not nil, is a descendant left out (the
// signature, for the enveloped-signature transform); the tree is restored before returning.
// el is not otherwise modified.
func canonicalize(el *etree.Element, alg, prefixList string, skip *etree.Element) ([]byte, error) {
	if alg == xades.ExcC14N {
		// The signer's writer: the specification's rules where goxmldsig's transform departs
		// from them ("#default" in the prefix list, xmlns="", attributes in several namespaces).
		var list []string
		for _, p := range strings.Fields(prefixList) {
			if p == "#default" {
				p = ""
			}
			list = append(list, p)
		}
		return xades.ExclusiveC14N(el, skip, list)
	}
	if alg == xades.C14N11 || alg == C14N10 {
		inherited, err := inheritedXMLAttrs(el, alg == C14N10)
		if err != nil {
			return nil, err
		}
		if out, err := xades.InclusiveC14N(el, skip, inherited); err == nil {
			return out, nil
		}
	}
	if skip != nil {
		parent := skip.Parent()
		if parent == nil {
			return nil, fmt.Errorf("the element to leave out has no parent")
		}
		idx := skip.Index()
		parent.RemoveChildAt(idx)
		defer parent.InsertChildAt(idx, skip)
	}
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	d, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	switch alg {
	case xades.C14N11, C14N10:
		inherited, err := inheritedXMLAttrs(el, alg == C14N10)
		if err != nil {
			return nil, err
		}
		for _, a := range inherited {
			d.CreateAttr("xml:"+a.Key, a.Value)
		}
		if alg == C14N10 {
			return dsig.MakeC14N10RecCanonicalizer().Canonicalize(d)
		}
		return dsig.MakeC14N11Canonicalizer().Canonicalize(d)
	}
	return nil, fmt.Errorf("canonicalization %s: %w", clip(alg), errNotAllowed)
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
// element belong to it.
func canonicalizeDocument(doc *etree.Document, alg, prefixList string, skip *etree.Element) ([]byte, error) {
	body, err := canonicalize(doc.Root(), alg, prefixList, skip)
	if err != nil {
		return nil, err
	}
	return xades.DocumentCanonicalForm(doc, body), nil
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
