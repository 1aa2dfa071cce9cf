package xmldsig

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
)

// ExclusiveC14N returns the exclusive canonical form without comments (Exclusive XML
// Canonicalization 1.0) of the subtree at el, in the namespace context of its ancestors,
// leaving out skip (the enveloped signature) when it is in the subtree. inclusive is the
// InclusiveNamespaces PrefixList ("" names the default namespace): those prefixes are
// rendered as inclusive c14n renders them, wherever they are in scope. el is not modified.
//
// It follows the specification where goxmldsig's transform departs from it (attributes in
// several namespaces are ordered by namespace URI, and xmlns="" appears only below a rendered
// non-empty default namespace); libxml2 is the reference in the tests. It walks the tree once
// and writes straight into a buffer: no copy of the tree, no namespace map per element.
//
// Text and attribute values are escaped as etree's canonical write settings escape them, which
// is the C14N escaping for XML 1.0 characters; a character outside XML 1.0 Char or invalid
// UTF-8 becomes U+FFFD, as there. A subtree holding a token it does not write (a directive, a
// CDATA-flagged text node: the ingress gate makes neither) or a prefix without a declaration
// in scope is refused with ErrNotCanonicalizable.
func ExclusiveC14N(el, skip *etree.Element, inclusive []string) ([]byte, error) {
	return plain(writeWith(excWriter{skip: skip, prefixList: inclusive}, el))
}

// InclusiveC14N returns the inclusive canonical form without comments (Canonical XML 1.0 or
// 1.1: they differ only in which xml:* attributes a document subset inherits) of the subtree at
// el, in the namespace context of its ancestors, leaving out skip when it is in the subtree.
// inherited are the xml:* attributes the apex inherits from its ancestors under the caller's
// version and policy (InheritedXMLAttrs); one the apex carries itself is ignored. el is not
// modified.
//
// As ExclusiveC14N, it orders attributes by namespace URI then local name, which goxmldsig's
// canonicalizers do not when attributes have different prefixes (xml:lang beside
// xsi:schemaLocation, say), and refuses what ExclusiveC14N refuses.
func InclusiveC14N(el, skip *etree.Element, inherited []etree.Attr) ([]byte, error) {
	return plain(writeWith(excWriter{skip: skip, inclusiveAll: true, inherited: inherited}, el))
}

// plain turns the writer's internal refusal into ErrNotCanonicalizable.
func plain(out []byte, err error) ([]byte, error) {
	if errors.Is(err, errNotPlain) {
		return nil, ErrNotCanonicalizable
	}
	return out, err
}

// Subset selects a canonicalization of a document subset for CanonicalSubset.
type Subset struct {
	// Exclusive selects Exclusive XML Canonicalization 1.0; otherwise inclusive (1.0 or 1.1,
	// which differ only in the xml:* attributes Inherit returns).
	Exclusive bool
	// Prefixes is the exclusive InclusiveNamespaces PrefixList ("" for the default namespace),
	// deduplicated by the caller; prefixes are looked up in a set.
	Prefixes []string
	// Comments keeps comment nodes (the #WithComments variants).
	Comments bool
	// Skip is a subtree left out (the enveloped signature); nil: none.
	Skip *etree.Element
	// Include reports whether a node (element, text, comment, processing instruction) is in
	// the node-set; the attributes and namespace nodes of an element go with it. nil: every
	// node. An element outside the node-set is not written, but its children are visited.
	Include func(etree.Token) bool
	// Inherit returns, for an inclusive canonicalization, the xml:* attributes an element of
	// the node-set whose parent is not written inherits from its ancestors. nil: none.
	Inherit func(*etree.Element) []etree.Attr
	// Ctx stops the work when done (checked every 256 nodes); nil: never.
	Ctx context.Context
	// Buf, when not nil, is storage for the result (appended to Buf[:0]); nil: a new buffer.
	Buf []byte
	// MaxBytes, when positive, stops the walk with ErrOutputLimit once the output is longer.
	MaxBytes int64
	// Budget, when not nil, is charged the work of an inclusive canonicalization beyond one per
	// node (an element below an unwritten parent: the namespaces in scope, the inherited xml:*
	// attributes); the walk stops with ErrBudget when it is used up. Canonicalize charges the
	// nodes themselves (Options.Budget).
	Budget *Budget
}

// CanonicalSubset writes the canonical form of the node-set s selects in the subtree at el, in
// the namespace context of el's ancestors, with processing instructions and (with
// s.Comments) comments. el is not modified. It returns ErrNotCanonicalizable for a subtree it
// cannot write (an undeclared prefix, a CDATA node) and s.Ctx's error when the context ends.
func CanonicalSubset(el *etree.Element, s Subset) ([]byte, error) {
	c := excWriter{skip: s.Skip, inclusiveAll: !s.Exclusive, comments: s.Comments,
		include: s.Include, inherit: s.Inherit, ctx: s.Ctx, maxBytes: s.MaxBytes, budget: s.Budget, buf: s.Buf[:0:cap(s.Buf)]}
	if s.Exclusive && len(s.Prefixes) > 0 {
		c.prefixSet = make(map[string]bool, len(s.Prefixes))
		for _, p := range s.Prefixes {
			c.prefixSet[p] = true
		}
	}
	return plain(writeWith(c, el))
}

// scratch is the namespace stacks and sort scratch of a canonicalization walk, kept for the
// next walk: a canonicalization then allocates nothing but its output (and that only without
// Options.Buf). The writer itself stays on the walk's stack, where writing its buffer and
// stack headers costs no write barrier while the collector marks.
type scratch struct {
	outer, scope, out, decls []nsBinding
	keys                     []attrKey
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledScratch: scratch that grew beyond this many entries (a document with thousands of
// declarations or attributes on one element) is left to the collector.
const maxPooledScratch = 1024

// writeWith runs writeC14N with the settings of c on pooled scratch. The result does not
// share the scratch (c.buf is the caller's or a new buffer).
func writeWith(c excWriter, el *etree.Element) ([]byte, error) {
	s := scratches.Get().(*scratch)
	c.outer, c.scope, c.out, c.decls, c.keys = s.outer[:0], s.scope[:0], s.out[:0], s.decls[:0], s.keys[:0]
	out, err := writeC14N(&c, el)
	// Keep what grew, without the strings of this tree (they would keep it alive).
	*s = scratch{outer: c.outer, scope: c.scope, out: c.out, decls: c.decls, keys: c.keys}
	clear(s.outer[:cap(s.outer)])
	clear(s.scope[:cap(s.scope)])
	clear(s.out[:cap(s.out)])
	clear(s.decls[:cap(s.decls)])
	clear(s.keys[:cap(s.keys)])
	if max(cap(s.outer), cap(s.scope), cap(s.out), cap(s.decls), cap(s.keys)) <= maxPooledScratch {
		scratches.Put(s)
	}
	return out, err
}

// ErrNotCanonicalizable is returned for a subtree the canonicalizer cannot write.
var ErrNotCanonicalizable = errors.New("the subtree cannot be canonicalized (an undeclared prefix or a CDATA node)")

func writeC14N(c *excWriter, el *etree.Element) ([]byte, error) {
	// The namespaces in scope at el, innermost declaration first: the apex renders every
	// visibly utilized one, whichever ancestor declared it.
	for p := el.Parent(); p != nil; p = p.Parent() {
		for i := len(p.Attr) - 1; i >= 0; i-- {
			if prefix, ok := nsDecl(p.Attr[i]); ok {
				c.outer = append(c.outer, binding(prefix, p.Attr[i].Value))
			}
		}
	}
	slices.Reverse(c.outer) // outermost first, as if declared in document order
	c.scope = append(c.scope, c.outer...)
	if c.buf == nil {
		c.buf = make([]byte, 0, 1024)
	}
	if err := c.element(el, false); err != nil {
		return nil, err
	}
	if err := c.over(c.buf); err != nil { // the end tags after the last check
		return nil, err
	}
	return c.buf, nil
}

var errNotPlain = errors.New("subtree not canonicalizable")

// nsBinding is one namespace declaration in scope, or one rendered in the output. plain: the
// URI needs no escaping (found once per declaration, where a declaration of exclusive c14n is
// rendered again on every element that uses it).
type nsBinding struct {
	prefix, uri string
	plain       bool
}

type excWriter struct {
	buf          []byte
	skip         *etree.Element
	prefixList   []string     // exclusive: the InclusiveNamespaces PrefixList, "" for the default namespace
	inclusiveAll bool         // inclusive c14n: every namespace in scope, not the visibly utilized ones
	inherited    []etree.Attr // inclusive: xml:* attributes the apex inherits
	depth        int
	outer        []nsBinding // declarations of el's ancestors
	scope        []nsBinding // in scope at the current element; later entries shadow earlier ones
	out          []nsBinding // rendered on output ancestors; later entries shadow earlier ones
	decls        []nsBinding
	keys         []attrKey

	// CanonicalSubset only.
	comments  bool                              // write comments
	include   func(etree.Token) bool            // nil: every node
	inherit   func(*etree.Element) []etree.Attr // xml:* for an element below an unwritten parent
	prefixSet map[string]bool                   // exclusive PrefixList as a set
	ctx       context.Context
	maxBytes  int64   // 0: no bound
	budget    *Budget // charged the work beyond one per node; nil: none
	nodes     int
}

func (c *excWriter) in(t etree.Token) bool { return c.include == nil || c.include(t) }

// tick checks the output's length at every node and the context every 256 nodes.
func (c *excWriter) tick() error {
	c.nodes++
	if err := c.over(c.buf); err != nil {
		return err
	}
	if c.ctx != nil && c.nodes&255 == 0 {
		return c.ctx.Err()
	}
	return nil
}

// over reports ErrOutputLimit once buf, the output so far, is longer than the bound.
func (c *excWriter) over(buf []byte) error {
	if c.maxBytes > 0 && int64(len(buf)) > c.maxBytes {
		return ErrOutputLimit
	}
	return nil
}

// escapeChunk is how much of one text or attribute value is escaped between two checks of
// the bound: escaping writes up to six bytes for one ('"' as &quot;), so a large value is
// written a chunk at a time and never far past the bound.
const escapeChunk = 64 << 10

// appendEscaped is AppendEscaped with the bound checked after every escapeChunk bytes of s
// (each chunk ends on a rune boundary, so the output is AppendEscaped's).
func (c *excWriter) appendEscaped(buf []byte, s string, attr bool) ([]byte, error) {
	for c.maxBytes > 0 && len(s) > escapeChunk {
		n := escapeChunk
		for n > escapeChunk-utf8.UTFMax && !utf8.RuneStart(s[n]) {
			n--
		}
		buf = AppendEscaped(buf, s[:n], attr)
		s = s[n:]
		if err := c.over(buf); err != nil {
			return buf, err
		}
	}
	buf = AppendEscaped(buf, s, attr)
	return buf, c.over(buf)
}

// children writes the children of el (parentOut: el was written).
func (c *excWriter) children(el *etree.Element, parentOut bool) error {
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t == c.skip {
				continue
			}
			if err := c.element(t, parentOut); err != nil {
				return err
			}
		case *etree.CharData:
			if t.IsCData() {
				return errNotPlain
			}
			if c.in(t) {
				var err error
				if c.buf, err = c.appendEscaped(c.buf, t.Data, false); err != nil {
					return err
				}
			}
		case *etree.Comment:
			if c.comments && c.in(t) {
				c.buf = append(c.buf, "<!--"...)
				c.buf = append(c.buf, t.Data...)
				c.buf = append(c.buf, "-->"...)
				if err := c.over(c.buf); err != nil {
					return err
				}
			}
		case *etree.ProcInst:
			if c.in(t) {
				c.buf = AppendProcInst(c.buf, t)
				if err := c.over(c.buf); err != nil {
					return err
				}
			}
		default:
			return errNotPlain
		}
	}
	return nil
}

type attrKey struct {
	uri, local string
	i          int
}

// shadowed reports whether a later binding in list redefines prefix.
func shadowed(later []nsBinding, prefix string) bool {
	for _, b := range later {
		if b.prefix == prefix {
			return true
		}
	}
	return false
}

// nsDecl reports whether a is a namespace declaration and returns its prefix ("" for xmlns=).
func nsDecl(a etree.Attr) (string, bool) {
	switch {
	case a.Space == "xmlns":
		return a.Key, true
	case a.Space == "" && a.Key == "xmlns":
		return "", true
	}
	return "", false
}

func lookup(list []nsBinding, prefix string) (string, bool) {
	b, ok := lookupBinding(list, prefix)
	return b.uri, ok
}

// lookupBinding returns the innermost binding of prefix in list.
func lookupBinding(list []nsBinding, prefix string) (nsBinding, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].prefix == prefix {
			return list[i], true
		}
	}
	return nsBinding{}, false
}

// binding returns the binding of prefix to uri, with whether uri needs no escaping.
func binding(prefix, uri string) nsBinding {
	return nsBinding{prefix: prefix, uri: uri, plain: !needsEscape(uri, escAttr)}
}

// needsEscape reports whether AppendEscaped could write s other than as it is (mask: escText
// or escAttr); false means it would not.
func needsEscape(s string, mask uint8) bool {
	for i := 0; i < len(s); i++ {
		if escapeClass[s[i]]&mask != 0 {
			return true
		}
	}
	return false
}

// element writes el (parentOut: its parent was written) and restores the namespace stacks
// and the depth as they were before it.
func (c *excWriter) element(el *etree.Element, parentOut bool) error {
	scopeMark, outMark, depth := len(c.scope), len(c.out), c.depth
	err := c.elementIn(el, parentOut)
	c.scope, c.out, c.depth = c.scope[:scopeMark], c.out[:outMark], depth
	return err
}

func (c *excWriter) elementIn(el *etree.Element, parentOut bool) error {
	if err := c.tick(); err != nil {
		return err
	}
	for _, a := range el.Attr {
		if prefix, ok := nsDecl(a); ok {
			c.scope = append(c.scope, binding(prefix, a.Value))
		}
	}
	if !c.in(el) {
		return c.children(el, false)
	}

	// Visibly utilized prefixes: the element's own ("" is the default namespace) and those of
	// its attributes; xml is bound implicitly and never rendered.
	decls := c.decls[:0]
	use := func(prefix string) error {
		if prefix == "xml" {
			return nil
		}
		for _, d := range decls {
			if d.prefix == prefix {
				return nil
			}
		}
		b, ok := lookupBinding(c.scope, prefix)
		if prefix != "" && (!ok || b.uri == "") {
			return errNotPlain // undeclared prefix
		}
		if !ok {
			b = nsBinding{prefix: prefix, plain: true} // the empty default namespace
		}
		// Rendered unless the nearest output ancestor rendered the same binding; a default
		// namespace nobody rendered is the empty one, so xmlns="" appears only below a
		// rendered non-empty default namespace.
		rendered, found := lookup(c.out, prefix)
		if rendered == b.uri && (found || prefix == "") {
			return nil
		}
		decls = append(decls, b)
		return nil
	}
	apex := c.depth == 0
	c.depth++ // element restores it
	if c.inclusiveAll {
		// Every namespace in scope: at the apex all of them (the innermost binding of each
		// prefix), below it those the element declares itself; use leaves out what the output
		// ancestors already rendered.
		if apex || !parentOut {
			var w int64 // n, or more for long prefixes
			for _, b := range c.scope {
				w += scopeWork(b)
			}
			if n := int64(len(c.scope)); c.budget.charge(w + n*w/scopePairsPerNode) {
				return ErrBudget
			}
			for i := len(c.scope) - 1; i >= 0; i-- {
				p := c.scope[i].prefix
				if shadowed(c.scope[i+1:], p) {
					continue
				}
				if err := use(p); err != nil {
					return err
				}
			}
		} else {
			for _, a := range el.Attr {
				if p, ok := nsDecl(a); ok {
					if err := use(p); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := use(el.Space); err != nil {
		return err
	}
	for _, p := range c.prefixList {
		if _, ok := lookup(c.scope, p); ok || p == "" {
			if err := use(p); err != nil {
				return err
			}
		}
	}
	if c.prefixSet != nil {
		// Each binding in scope is looked up in the set: the cost is the scope's size, never
		// the PrefixList's. A binding found there is compared with every later one and with
		// what the output rendered, which the budget is charged (scopeWork).
		if c.prefixSet[""] {
			if err := use(""); err != nil {
				return err
			}
		}
		var work int64
		for i := len(c.scope) - 1; i >= 0; i-- {
			p := c.scope[i].prefix
			w := scopeWork(c.scope[i])
			work += w
			if p == "" || !c.prefixSet[p] {
				continue
			}
			work += w * int64(len(c.scope)-1-i)
			if !shadowed(c.scope[i+1:], p) {
				if err := use(p); err != nil {
					return err
				}
			}
		}
		if c.budget.charge(work / scopePairsPerNode) {
			return ErrBudget
		}
	}
	inherited := c.inherited
	if !apex {
		inherited = nil
	}
	if !parentOut && c.inherit != nil {
		if inherited = c.inherit(el); c.budget != nil && c.budget.over {
			return ErrBudget
		}
	}
	attrs := el.Attr
	if len(inherited) > 0 {
		attrs = slices.Clone(attrs)
		for _, a := range inherited {
			if el.SelectAttr("xml:"+a.Key) == nil {
				attrs = append(attrs, a)
			}
		}
	}
	keys := c.keys[:0]
	for i, a := range attrs {
		if _, ok := nsDecl(a); ok {
			continue
		}
		uri := ""
		if a.Space != "" {
			if err := use(a.Space); err != nil {
				return err
			}
			if a.Space == "xml" {
				uri = NSXML
			} else {
				uri, _ = lookup(c.scope, a.Space)
			}
		}
		keys = append(keys, attrKey{uri: uri, local: a.Key, i: i})
	}
	// Namespace declarations by prefix, the default namespace first; attributes by namespace
	// URI, then local name.
	if len(decls) > 1 {
		slices.SortFunc(decls, func(a, b nsBinding) int { return strings.Compare(a.prefix, b.prefix) })
	}
	if len(keys) > 1 {
		slices.SortFunc(keys, func(a, b attrKey) int {
			if r := strings.Compare(a.uri, b.uri); r != 0 {
				return r
			}
			return strings.Compare(a.local, b.local)
		})
	}
	// The grown slices serve the next element (after this start tag). The writer's fields are
	// stored to as rarely as possible: while the collector marks, each store of a pointer into
	// them costs a write barrier, so the tags are appended to a local slice.
	if cap(decls) != cap(c.decls) {
		c.decls = decls
	}
	if cap(keys) != cap(c.keys) {
		c.keys = keys
	}

	buf := append(c.buf, '<')
	buf = AppendQName(buf, el.Space, el.Tag)
	for _, d := range decls {
		if d.prefix == "" {
			buf = append(buf, ` xmlns="`...)
		} else {
			buf = append(buf, ` xmlns:`...)
			buf = append(buf, d.prefix...)
			buf = append(buf, `="`...)
		}
		var err error
		if d.plain {
			buf = append(buf, d.uri...)
		} else if buf, err = c.appendEscaped(buf, d.uri, true); err != nil {
			c.buf = buf
			return err
		}
		buf = append(buf, '"')
		c.out = append(c.out, d)
	}
	for _, k := range keys { // written before the children reuse c.keys
		a := attrs[k.i]
		buf = append(buf, ' ')
		buf = AppendQName(buf, a.Space, a.Key)
		buf = append(buf, `="`...)
		var err error
		if buf, err = c.appendEscaped(buf, a.Value, true); err != nil {
			c.buf = buf
			return err
		}
		buf = append(buf, '"')
	}
	c.buf = append(buf, '>')
	if err := c.over(c.buf); err != nil {
		return err
	}

	if err := c.children(el, true); err != nil {
		return err
	}
	buf = append(c.buf, "</"...)
	buf = AppendQName(buf, el.Space, el.Tag)
	c.buf = append(buf, '>')
	return nil
}

// AppendQName appends prefix:local (local alone without a prefix).
func AppendQName(b []byte, space, local string) []byte {
	if space != "" {
		b = append(b, space...)
		b = append(b, ':')
	}
	return append(b, local...)
}

// The bytes AppendEscaped looks at more closely: escText those of text, escAttr those of
// attribute values (every non-ASCII byte, for the UTF-8 and Char checks).
const (
	escText = 1 << iota
	escAttr
)

var escapeClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= utf8.RuneSelf, c == '&', c == '<', c == '\r':
			t[c] = escText | escAttr
		case c == '>':
			t[c] = escText
		case c == '"', c == '\t', c == '\n':
			t[c] = escAttr
		case c < 0x20:
			t[c] = escText | escAttr
		}
	}
	return t
}()

// AppendEscaped appends s escaped for C14N: in text &, <, > and CR; in attribute values &, <,
// ", TAB, LF and CR. Anything not an XML 1.0 Char (and invalid UTF-8) becomes U+FFFD, as
// etree's canonical escaping does.
func AppendEscaped(b []byte, s string, attr bool) []byte {
	mask := uint8(escText)
	if attr {
		mask = escAttr
	}
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if escapeClass[c]&mask == 0 { // the common byte: written as it is
			i++
			continue
		}
		var esc string
		width := 1
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>' && !attr:
			esc = "&gt;"
		case c == '"' && attr:
			esc = "&quot;"
		case c == '\t' && attr:
			esc = "&#x9;"
		case c == '\n' && attr:
			esc = "&#xA;"
		case c == '\r':
			esc = "&#xD;"
		case c < 0x20 && c != '\t' && c != '\n':
			esc = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, w := utf8.DecodeRuneInString(s[i:])
			width = w
			if r == utf8.RuneError && w == 1 || !xmlsafe.IsChar(r) {
				esc = "\uFFFD"
			}
		}
		if esc == "" {
			i += width
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}
