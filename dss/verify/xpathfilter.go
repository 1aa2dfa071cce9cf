package verify

import (
	"regexp"
	"strings"

	"github.com/beevik/etree"

	"dssd/dss/xades"
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
		return "http://www.w3.org/XML/1998/namespace", true
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
		return selector{kind: selHereSig}, ok && ns == xades.NSXMLDSig
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
			if ns, ok := resolvePrefix(el, p); !ok || ns != xades.NSXMLDSig {
				return selector{}, false
			}
		}
		return selector{kind: selHereSig}, true
	}
	return selector{}, false
}

// boundSelector is a selector resolved against one document and signature.
type boundSelector struct {
	s    selector
	set  map[etree.Token]bool    // selID, selHereSig: the selected nodes
	memo map[*etree.Element]bool // within, per element
}

// bind resolves s; an id that is missing or used twice is a verdict.
func (c *sigCtx) bind(s selector) (boundSelector, *verdict) {
	b := boundSelector{s: s}
	switch s.kind {
	case selID:
		el, v := c.ids.lookup(s.id)
		if v != nil {
			return b, v
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
		b.set = map[etree.Token]bool{}
		for _, e := range cur {
			if s.nodeKids {
				for _, t := range e.Child {
					b.set[t] = true
				}
			} else {
				b.set[e] = true
			}
		}
	case selHereSig:
		b.set = map[etree.Token]bool{c.sig: true}
	}
	return b, nil
}

// selects reports whether t itself is selected.
func (b *boundSelector) selects(t etree.Token) bool {
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
		return el.NamespaceURI() == b.s.name.ns
	}
	return b.set[t]
}

// within reports whether t is in the subtree of a selected node. The answer for each element
// is remembered, so a whole tree costs one step per node, whatever its depth.
func (b *boundSelector) within(t etree.Token) bool {
	if b.selects(t) {
		return true
	}
	p := t.Parent()
	if p == nil {
		return false
	}
	if in, ok := b.memo[p]; ok {
		return in
	}
	in := b.within(p)
	if b.memo == nil {
		b.memo = map[*etree.Element]bool{}
	}
	b.memo[p] = in
	return in
}

// nodeSetFilter is the membership test of the node-set after a reference's XPath transforms:
// every transform's result must hold the node.
type nodeSetFilter struct {
	xf2 [][]boundOp      // per XPath Filter 2.0 transform, its operations in order
	rm  []*boundSelector // XPath 1.0 transforms: subtrees removed
}

type boundOp struct {
	op  string
	sel *boundSelector
}

func (f *nodeSetFilter) include(t etree.Token) bool {
	for _, s := range f.rm {
		if s.within(t) {
			return false
		}
	}
	for _, ops := range f.xf2 {
		z := true // XPath Filter 2.0: start from every node of the document
		for _, o := range ops {
			in := o.sel.within(t)
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
