package xmldsig

import (
	"regexp"
	"strings"

	"github.com/beevik/etree"

	"dssd/dss/xmlsafe"
)

// The XPath transforms are accepted only in the expression shapes real signatures use
// (docs/conformance.md); each is parsed into a selector, never evaluated by an XPath engine.
// A selector selects nodes; a selected node stands for its whole subtree (XPath Filter 2.0
// §3.1), and the XPath 1.0 shapes are written as the subtrees they remove.

// selector kinds.
const (
	selID      = iota + 1 // id('X'), id('X')/p:a/p:b, id('X')/node()
	selName               // /descendant::p:L, //p:L (by namespace URI), /descendant::*[name()='p:L'] (by qualified name)
	selHereSig            // here()/ancestor::ds:Signature[1]: the signature holding the transform
	selRoot               // "/": the whole document
)

type selector struct {
	kind     int
	id       string
	steps    []nsName // child steps after id(...)
	nodeKids bool     // id(...)[/steps]/node(): the children, not the element
	name     nsName   // selName
	byQName  bool     // selName by name() = "prefix:local" as written in the document
	prefix   string
}

type nsName struct{ ns, local string }

// filterOp is one xf2:XPath of an XPath Filter 2.0 transform.
type filterOp struct {
	op  string // intersect, subtract, union
	sel selector
}

// maxFilterOps bounds the XPath operations of one Reference: the XPath elements of its XPath
// Filter 2.0 transforms and its XPath transforms together (real profiles use one or two).
const maxFilterOps = 4

var (
	reIDCall   = regexp.MustCompile(`^id\((?:'([^']*)'|"([^"]*)")\)((?:/[A-Za-z_][-.\w]*:[A-Za-z_][-.\w]*)*)(/node\(\))?$`)
	reDescName = regexp.MustCompile(`^(?:/descendant::|//)([A-Za-z_][-.\w]*):([A-Za-z_][-.\w]*)$`)
	reDescQN   = regexp.MustCompile(`^/descendant::\*\[name\(\)=(?:'([^']*)'|"([^"]*)")\]$`)
	reHereSig  = regexp.MustCompile(`^here\(\)/ancestor::([A-Za-z_][-.\w]*):Signature\[1\]$`)
	reNotAnc   = regexp.MustCompile(`^not\(ancestor-or-self::([A-Za-z_][-.\w]*):([A-Za-z_][-.\w]*)\)$`)
	reEnvCount = regexp.MustCompile(`^count\(ancestor-or-self::([A-Za-z_][-.\w]*):Signature\|here\(\)/ancestor::([A-Za-z_][-.\w]*):Signature\[1\]\)>count\(ancestor-or-self::([A-Za-z_][-.\w]*):Signature\)$`)
)

// squeeze removes XML white space outside quoted literals.
func squeeze(s string) string {
	var b strings.Builder
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// resolvePrefix returns the namespace URI prefix is bound to at el.
func resolvePrefix(el *etree.Element, prefix string) (string, bool) {
	if prefix == "xml" {
		return NSXML, true
	}
	for p := el; p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if a.Space == "xmlns" && a.Key == prefix {
				return a.Value, a.Value != ""
			}
		}
	}
	return "", false
}

// parseFilter2Expr parses one XPath Filter 2.0 expression of the allow-list; el is the
// xf2:XPath element (its namespace context resolves prefixes).
func parseFilter2Expr(expr string, el *etree.Element) (selector, bool) {
	e := squeeze(expr)
	if e == "/" {
		return selector{kind: selRoot}, true
	}
	if m := reIDCall.FindStringSubmatch(e); m != nil {
		s := selector{kind: selID, id: m[1] + m[2], nodeKids: m[4] != ""}
		for _, st := range strings.Split(strings.TrimPrefix(m[3], "/"), "/") {
			if st == "" {
				continue
			}
			p, l, _ := strings.Cut(st, ":")
			ns, ok := resolvePrefix(el, p)
			if !ok {
				return selector{}, false
			}
			s.steps = append(s.steps, nsName{ns, l})
		}
		return s, s.id != ""
	}
	if m := reDescName.FindStringSubmatch(e); m != nil {
		ns, ok := resolvePrefix(el, m[1])
		return selector{kind: selName, name: nsName{ns, m[2]}}, ok
	}
	if m := reDescQN.FindStringSubmatch(e); m != nil {
		qn := m[1] + m[2]
		p, l, found := strings.Cut(qn, ":")
		if !found {
			p, l = "", qn
		}
		if l == "" || strings.Contains(l, ":") {
			return selector{}, false
		}
		return selector{kind: selName, byQName: true, prefix: p, name: nsName{"", l}}, true
	}
	if m := reHereSig.FindStringSubmatch(e); m != nil {
		ns, ok := resolvePrefix(el, m[1])
		return selector{kind: selHereSig}, ok && ns == NS
	}
	return selector{}, false
}

// parseXPathExpr parses an XPath 1.0 transform expression of the allow-list into the
// subtrees it removes.
func parseXPathExpr(expr string, el *etree.Element) (selector, bool) {
	e := squeeze(expr)
	if m := reNotAnc.FindStringSubmatch(e); m != nil {
		ns, ok := resolvePrefix(el, m[1])
		return selector{kind: selName, name: nsName{ns, m[2]}}, ok
	}
	if m := reEnvCount.FindStringSubmatch(e); m != nil {
		for _, p := range m[1:] {
			if ns, ok := resolvePrefix(el, p); !ok || ns != NS {
				return selector{}, false
			}
		}
		return selector{kind: selHereSig}, true
	}
	return selector{}, false
}

// boundSelector is a selector resolved against one document and signature.
type boundSelector struct {
	s     selector
	els   map[*etree.Element]bool // selID: the selected elements (nodeKids: their children are)
	one   *etree.Element          // selID with one element, selHereSig: the element
	multi bool                    // selID: els holds the elements
}

// bind resolves s against the document of ids and the signature sig; an id that is missing
// or used twice is a Problem (Malformed).
func bind(s selector, ids IDIndex, sig *etree.Element) (boundSelector, error) {
	b := boundSelector{s: s}
	switch s.kind {
	case selID:
		el, err := lookupProblem(ids, s.id)
		if err != nil {
			return b, err
		}
		cur := []*etree.Element{el}
		for _, st := range s.steps {
			var next []*etree.Element
			for _, e := range cur {
				for _, k := range e.ChildElements() {
					if k.Tag == st.local && k.NamespaceURI() == st.ns {
						next = append(next, k)
					}
				}
			}
			cur = next
		}
		switch len(cur) {
		case 0:
		case 1:
			b.one = cur[0]
		default:
			b.multi = true
			b.els = make(map[*etree.Element]bool, len(cur))
			for _, e := range cur {
				b.els[e] = true
			}
		}
	case selHereSig:
		b.one = sig
	}
	return b, nil
}

// selects reports whether t itself is selected; ns resolves a prefix at t (an element).
func (b *boundSelector) selects(t etree.Token, ns *nsScope) bool {
	switch b.s.kind {
	case selRoot:
		return true
	case selName:
		el, ok := t.(*etree.Element)
		if !ok || el.Tag != b.s.name.local {
			return false
		}
		if b.s.byQName {
			return el.Space == b.s.prefix
		}
		return ns.lookup(el.Space) == b.s.name.ns
	case selHereSig:
		return t == etree.Token(b.one)
	case selID:
		var el *etree.Element
		if b.s.nodeKids {
			el = t.Parent()
		} else if e, ok := t.(*etree.Element); ok {
			el = e
		}
		if el == nil {
			return false
		}
		if b.multi {
			return b.els[el]
		}
		return el == b.one
	}
	return false
}

// nsScope is the namespace context of the element a nodeSetFilter is at (xmlsafe.Scope, the
// gate's), fed with each element's declarations as the walk enters it.
type nsScope struct{ xmlsafe.Scope }

func (s *nsScope) push(el *etree.Element) {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			s.Declare(a.Key, a.Value)
		case a.Space == "" && a.Key == "xmlns":
			s.Declare("", a.Value)
		}
	}
}

func (s *nsScope) lookup(prefix string) string {
	uri, _ := s.Lookup(prefix)
	return uri
}

// nodeSetFilter is the membership test of the node-set after a reference's XPath transforms:
// every transform's result must hold the node. A selected node stands for its subtree, so a
// node is "within" a selector when it or an ancestor is selected. The filter is asked about
// the nodes in document order (canonicalization's walk): it keeps the path from the root to
// the current node with, for each element on it, one bit per selector saying whether the
// element is within it, and the namespace bindings in scope. Each node then costs one test per
// selector against its parent's bits, whatever its depth: no walk of the ancestors, no map of
// the nodes seen (both made the worst XPath Filter 2.0 the limits allowed cost seconds).
type nodeSetFilter struct {
	xf2    [][]boundOp // per XPath Filter 2.0 transform, its operations in order
	rmBits uint32      // XPath 1.0 transforms: the selectors whose subtrees are removed

	sels  []*boundSelector // every selector; bit i of a frame is sels[i]
	path  []filterFrame    // the current element's ancestors-or-self, root first
	ns    nsScope
	chain []*etree.Element // scratch for rebuilding the path
}

type filterFrame struct {
	el     *etree.Element
	within uint32 // bit i: the element is within sels[i]
	nsMark int    // ns.Len() before the element's declarations
}

type boundOp struct {
	op  string
	bit uint32
}

// maxSelectors is the most selectors one filter holds (one bit each in a frame).
const maxSelectors = 32

// addSelector records b and returns its bit; false when the filter holds maxSelectors
// already (parseReference allows maxFilterOps).
func (f *nodeSetFilter) addSelector(b *boundSelector) (uint32, bool) {
	if len(f.sels) == maxSelectors {
		return 0, false
	}
	f.sels = append(f.sels, b)
	return 1 << (len(f.sels) - 1), true
}

// selectBits returns the bits of the selectors that select t itself.
func (f *nodeSetFilter) selectBits(t etree.Token) uint32 {
	var bits uint32
	for i, s := range f.sels {
		if s.selects(t, &f.ns) {
			bits |= 1 << i
		}
	}
	return bits
}

// enter pushes el (whose parent is the top of the path) and returns its bits.
func (f *nodeSetFilter) enter(el *etree.Element, parent uint32) uint32 {
	mark := f.ns.Len()
	f.ns.push(el)
	bits := parent | f.selectBits(el)
	f.path = append(f.path, filterFrame{el: el, within: bits, nsMark: mark})
	return bits
}

// at makes p the top of the path and returns its bits (0 for no parent).
func (f *nodeSetFilter) at(p *etree.Element) uint32 {
	if p == nil {
		f.ns.PopTo(0)
		f.path = f.path[:0]
		return 0
	}
	for len(f.path) > 0 && f.path[len(f.path)-1].el != p {
		f.ns.PopTo(f.path[len(f.path)-1].nsMark)
		f.path = f.path[:len(f.path)-1]
	}
	if len(f.path) > 0 {
		return f.path[len(f.path)-1].within
	}
	// p was not seen: the walk starts below the root (or jumped). Rebuild the path from the
	// root down to p: once per walk, as deep as the document (the gate bounds the depth).
	f.chain = f.chain[:0]
	for a := p; a != nil; a = a.Parent() {
		f.chain = append(f.chain, a)
	}
	var bits uint32
	for i := len(f.chain) - 1; i >= 0; i-- {
		bits = f.enter(f.chain[i], bits)
	}
	return bits
}

func (f *nodeSetFilter) include(t etree.Token) bool {
	bits := f.at(t.Parent())
	if el, ok := t.(*etree.Element); ok {
		bits = f.enter(el, bits)
	} else {
		bits |= f.selectBits(t)
	}
	if bits&f.rmBits != 0 {
		return false
	}
	for _, ops := range f.xf2 {
		z := true // XPath Filter 2.0: start from every node of the document
		for _, o := range ops {
			in := bits&o.bit != 0
			switch o.op {
			case "intersect":
				z = z && in
			case "subtract":
				z = z && !in
			case "union":
				z = z || in
			}
		}
		if !z {
			return false
		}
	}
	return true
}
