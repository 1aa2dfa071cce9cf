package xades

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// parseXML is the one place where this package parses XML: through the
// ingress gate, which refuses DOCTYPEs, undeclared prefixes, duplicate
// attributes, literal white space in attribute values (encoding/xml would
// not normalize it), processing instructions inside or after the root,
// non-UTF-8 input and anything beyond lim.
func parseXML(b []byte, lim xmlsafe.Limits) (*etree.Document, error) {
	doc, err := xmlsafe.Parse(b, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if doc.Root() == nil {
		return nil, fmt.Errorf("%w: xml document without a root element", ErrMalformed)
	}
	return doc, nil
}

// refuseCharset lets only UTF-8 through: documents declaring any other
// encoding are refused rather than misread.
func refuseCharset(label string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("encoding %q refused: only utf-8", label)
}

// outputLimits are the gate's limits for what Sign produces: the document
// limits plus the signature's own growth (base64 content, the Signature and
// Object levels, its elements and declarations). Tests check all output
// against them.
func outputLimits() xmlsafe.Limits {
	l := xmlsafe.DocumentLimitsFor(0)
	l.MaxBytes = l.MaxBytes/3*4 + 1<<20
	l.MaxDepth += 8
	l.MaxElements += 1000
	l.MaxNSInScope += 16
	return l
}

// serialize writes doc with escaping that survives a reparse: carriage
// returns in text and tabs, line feeds and carriage returns in attribute
// values become character references (etree's default writes them raw,
// and a parser would then normalize them away).
//
// The bytes are those of etree's writer with WriteSettings{CanonicalText: true,
// CanonicalAttrVal: true}, written straight into one buffer (etree goes through
// a bufio.Writer and escapes rune by rune); TestSerializeMatchesEtree and
// FuzzParseOwnBytes compare the two. A tree holding a directive (never made
// here: the gate refuses them) is written by etree.
func serialize(doc *etree.Document) ([]byte, error) {
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	b := make([]byte, 0, 8192)
	for _, t := range doc.Child {
		var ok bool
		if b, ok = appendToken(b, t); !ok {
			var buf bytes.Buffer
			if _, err := doc.WriteTo(&buf); err != nil {
				return nil, err
			}
			return buf.Bytes(), nil
		}
	}
	return b, nil
}

// appendToken appends t as etree's writer writes it with serialize's settings;
// false for a token it does not write.
func appendToken(b []byte, t etree.Token) ([]byte, bool) {
	switch t := t.(type) {
	case *etree.Element:
		b = append(b, '<')
		b = appendQName(b, t.Space, t.Tag)
		for _, a := range t.Attr {
			b = append(b, ' ')
			b = appendQName(b, a.Space, a.Key)
			b = append(b, `="`...)
			b = appendEscaped(b, a.Value, true)
			b = append(b, '"')
		}
		if len(t.Child) == 0 {
			return append(b, "/>"...), true
		}
		b = append(b, '>')
		for _, c := range t.Child {
			var ok bool
			if b, ok = appendToken(b, c); !ok {
				return b, false
			}
		}
		b = append(b, "</"...)
		b = appendQName(b, t.Space, t.Tag)
		return append(b, '>'), true
	case *etree.CharData:
		if t.IsCData() {
			b = append(b, "<![CDATA["...)
			s := t.Data
			for {
				i := strings.Index(s, "]]>")
				if i < 0 {
					break
				}
				b = append(b, s[:i+2]...)
				b = append(b, "]]><![CDATA["...)
				s = s[i+2:]
			}
			b = append(b, s...)
			return append(b, "]]>"...), true
		}
		return appendEscaped(b, t.Data, false), true
	case *etree.Comment:
		// A comment may not hold "--" nor end with '-': a space goes between.
		b = append(b, "<!--"...)
		hyphen := false
		for i := 0; i < len(t.Data); i++ {
			c := t.Data[i]
			if c == '-' && hyphen {
				b = append(b, ' ')
			}
			hyphen = c == '-'
			b = append(b, c)
		}
		if hyphen {
			b = append(b, ' ')
		}
		return append(b, "-->"...), true
	case *etree.ProcInst:
		b = append(b, "<?"...)
		b = appendProcInstText(b, t.Target)
		if t.Inst != "" {
			b = append(b, ' ')
			b = appendProcInstText(b, t.Inst)
		}
		return append(b, "?>"...), true
	}
	return b, false
}

// appendProcInstText appends s with a space inside every "?>", as etree does.
func appendProcInstText(b []byte, s string) []byte {
	for {
		i := strings.Index(s, "?>")
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+1]...)
		b = append(b, ' ')
		s = s[i+1:]
	}
}

// canonicalize returns the canonical form (alg: ExcC14N or C14N11, both
// without comments) of el as a document subset in its own context: the
// namespaces in scope at el are taken into account and, for c14n 1.1, the
// xml:lang and xml:space attributes el inherits. el is not modified.
func canonicalize(el *etree.Element, alg string) ([]byte, error) {
	return canonicalizeSkip(el, alg, nil)
}

// canonicalizeSkip is canonicalize leaving out skip, a descendant of el (not modified either).
func canonicalizeSkip(el *etree.Element, alg string, skip *etree.Element) ([]byte, error) {
	switch alg {
	case ExcC14N:
		if out, err := excC14N(el, skip, nil); err == nil {
			return out, nil
		}
	case C14N11:
		inherited, err := inheritedXMLAttrs(el)
		if err != nil {
			return nil, err
		}
		if out, err := InclusiveC14N(el, skip, inherited); err == nil {
			return out, nil
		}
	}
	restore, err := leaveOut(skip)
	if err != nil {
		return nil, err
	}
	defer restore()
	return canonicalizeGeneral(el, alg, "")
}

// leaveOut takes skip (when not nil) out of its parent; restore puts it back where it was.
func leaveOut(skip *etree.Element) (restore func(), err error) {
	if skip == nil {
		return func() {}, nil
	}
	parent := skip.Parent()
	if parent == nil {
		return nil, fmt.Errorf("%w: the element to leave out has no parent", ErrMalformed)
	}
	idx := skip.Index()
	parent.RemoveChildAt(idx)
	return func() { parent.InsertChildAt(idx, skip) }, nil
}

// canonicalizeGeneral is canonicalize through goxmldsig's transforms on a detached copy of
// el (prefixList: the exclusive InclusiveNamespaces PrefixList): the path for subtrees the
// direct writer does not write, and the tests' second opinion.
func canonicalizeGeneral(el *etree.Element, alg, prefixList string) ([]byte, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	d, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var c dsig.Canonicalizer
	switch alg {
	case ExcC14N:
		// What dsig's exclusive canonicalizer does, minus its second copy
		// of the tree: d is already a private copy.
		if err := etreeutils.TransformExcC14n(d, prefixList, false); err != nil {
			return nil, fmt.Errorf("%w: canonicalization: %w", ErrMalformed, err)
		}
		doc := etree.NewDocument()
		doc.SetRoot(d)
		doc.WriteSettings = etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}
		var buf bytes.Buffer
		if _, err := doc.WriteTo(&buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case C14N11:
		inherited, err := inheritedXMLAttrs(el)
		if err != nil {
			return nil, err
		}
		for _, a := range inherited {
			if d.SelectAttr("xml:"+a.Key) == nil {
				d.CreateAttr("xml:"+a.Key, a.Value)
			}
		}
		c = dsig.MakeC14N11Canonicalizer()
	default:
		return nil, checkC14N(alg)
	}
	out, err := c.Canonicalize(d)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalization: %w", ErrMalformed, err)
	}
	return out, nil
}

// inheritedXMLAttrs returns the xml:lang and xml:space attributes that el inherits from its
// nearest ancestors (and does not carry itself), as c14n 1.1 requires for a document subset.
// xml:id is not inherited; an inherited xml:base would need URI fix-up, which is not
// implemented.
//
// When an attribute is declared on several ancestors with different values it refuses:
// Santuario 2.1.7 and the JDK take the outermost value instead of the nearest (xmlsec1 agrees
// with the nearest), so such a signature would fail in the Java validators most of Europe uses.
func inheritedXMLAttrs(el *etree.Element) ([]etree.Attr, error) {
	own := map[string]bool{}
	for _, a := range el.Attr {
		if a.Space == "xml" {
			own[a.Key] = true
		}
	}
	var inherited []etree.Attr
	find := func(key string) int {
		for i, a := range inherited {
			if a.Key == key {
				return i
			}
		}
		return -1
	}
	for p := el.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if a.Space != "xml" {
				continue
			}
			switch a.Key {
			case "lang", "space":
				if own[a.Key] {
					continue
				}
				if i := find(a.Key); i >= 0 {
					if inherited[i].Value != a.Value {
						return nil, fmt.Errorf("%w: c14n 1.1 below nested xml:%s declarations with different values (Java validators canonicalize it differently); use exclusive c14n", ErrNotSupported, a.Key)
					}
					continue
				}
				inherited = append(inherited, etree.Attr{Space: "xml", Key: a.Key, Value: a.Value})
			case "base":
				return nil, fmt.Errorf("%w: c14n 1.1 of an element below xml:base", ErrNotSupported)
			}
		}
	}
	return inherited, nil
}

// canonicalizeDocument returns the canonical form of the whole document
// (a same-document reference URI="", so without comments), leaving out skip
// (the signature, for the enveloped-signature transform) if it is not nil.
func canonicalizeDocument(doc *etree.Document, alg string, skip *etree.Element) ([]byte, error) {
	root := doc.Root()
	if skip != nil && (skip == root || skip.Parent() == nil) {
		return nil, fmt.Errorf("%w: enveloped signature is the document element", ErrMalformed)
	}
	body, err := canonicalizeSkip(root, alg, skip)
	if err != nil {
		return nil, err
	}
	return DocumentCanonicalForm(doc, body), nil
}

// DocumentCanonicalForm completes the canonical form of a whole document (a same-document
// URI="" reference) from the canonical form of its document element: processing
// instructions outside the document element belong to it, comments do not (no comments),
// and the XML declaration is not a processing instruction.
func DocumentCanonicalForm(doc *etree.Document, body []byte) []byte {
	var buf bytes.Buffer
	seenRoot := false
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			buf.Write(body)
			seenRoot = true
		case *etree.ProcInst:
			if t.Target == "xml" {
				continue
			}
			if seenRoot {
				buf.WriteByte('\n')
			}
			buf.WriteString("<?")
			buf.WriteString(t.Target)
			if inst := strings.TrimLeft(t.Inst, " \t\r\n"); inst != "" {
				buf.WriteByte(' ')
				buf.WriteString(inst)
			}
			buf.WriteString("?>")
			if !seenRoot {
				buf.WriteByte('\n')
			}
		}
	}
	return buf.Bytes()
}

// idIndex maps the values of Id-like attributes (Id, ID, id, xml:id) to
// their elements, built in one walk. Values seen more than once are kept
// in dup and can never be resolved.
type idIndex struct {
	byID map[string]*etree.Element
	dup  map[string]bool
}

func buildIDIndex(root *etree.Element) idIndex {
	x := idIndex{byID: map[string]*etree.Element{}, dup: map[string]bool{}}
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		for _, a := range el.Attr {
			if (a.Space == "" && (a.Key == "Id" || a.Key == "ID" || a.Key == "id")) || (a.Space == "xml" && a.Key == "id") {
				if prev, ok := x.byID[a.Value]; ok && prev != el {
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

func (x idIndex) lookup(id string) (*etree.Element, error) {
	if x.dup[id] {
		return nil, fmt.Errorf("%w: id %q is used more than once", ErrMalformed, id)
	}
	el, ok := x.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: no element with id %q", ErrMalformed, id)
	}
	return el, nil
}

// isNCName reports whether s is an XML NCName (ASCII subset plus any
// non-ASCII letter; good enough for ids this package emits or accepts).
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= 0x80:
		case i > 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// ncnameTail makes s usable inside an NCName after a valid prefix.
func ncnameTail(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// nsURI returns the namespace URI of el.
func nsURI(el *etree.Element) string { return el.NamespaceURI() }

// is reports whether el is the element {ns}local.
func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && nsURI(el) == ns
}
