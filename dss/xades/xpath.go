package xades

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// xpathStep is one step of the supported XPath 1.0 subset.
type xpathStep struct {
	any   bool   // "*"
	ns    string // namespace URI of the name test ("" = no namespace)
	local string
	pos   int // positional predicate [n]; 0 = none
}

// parseXPath parses the XPath 1.0 subset used for enveloped placement:
// an absolute location path of child steps, each a name test (NCName,
// prefix:NCName or *) with at most one positional predicate [n]. Prefixes
// are resolved through ns, never through the document; an unprefixed name
// matches an element in no namespace, as XPath 1.0 says.
func parseXPath(expr string, ns map[string]string) ([]xpathStep, error) {
	unsupported := func(why string) error {
		return fmt.Errorf("%w: xpath %q: %s (supported: absolute paths of child name steps like /a/p:b/*[2])", ErrNotSupported, expr, why)
	}
	e := strings.TrimSpace(expr)
	if !strings.HasPrefix(e, "/") {
		return nil, unsupported("not an absolute location path")
	}
	if e == "/" {
		return nil, unsupported("the root node is not an element")
	}
	var steps []xpathStep
	for _, part := range strings.Split(e[1:], "/") {
		if part == "" {
			return nil, unsupported("descendant axis (//) or empty step")
		}
		var st xpathStep
		name := part
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			pred := part[i:]
			if !strings.HasSuffix(pred, "]") || strings.Count(pred, "[") != 1 || strings.Count(pred, "]") != 1 {
				return nil, unsupported("predicate other than one [n]")
			}
			n, err := strconv.Atoi(strings.TrimSpace(pred[1 : len(pred)-1]))
			if err != nil || n < 1 {
				return nil, unsupported("predicate other than a positive position [n]")
			}
			st.pos = n
		}
		switch {
		case name == "*":
			st.any = true
		case strings.Contains(name, "::"):
			return nil, unsupported("explicit axis")
		default:
			prefix, local, found := strings.Cut(name, ":")
			if !found {
				prefix, local = "", name
			}
			if !isNCName(local) || (found && !isNCName(prefix)) {
				return nil, unsupported(fmt.Sprintf("step %q is not a name test", part))
			}
			if found {
				uri, ok := ns[prefix]
				if !ok || uri == "" {
					return nil, fmt.Errorf("%w: xpath %q: prefix %q is not bound", ErrMalformed, expr, prefix)
				}
				st.ns = uri
			}
			st.local = local
		}
		steps = append(steps, st)
	}
	return steps, nil
}

func (st xpathStep) match(el *etree.Element) bool {
	if st.any {
		return true
	}
	return el.Tag == st.local && nsURI(el) == st.ns
}

// selectXPath evaluates expr on doc and returns the single element it
// selects. Selecting nothing or more than one element is an error.
func selectXPath(doc *etree.Document, expr string, ns map[string]string) (*etree.Element, error) {
	steps, err := parseXPath(expr, ns)
	if err != nil {
		return nil, err
	}
	ctx := []*etree.Element{&doc.Element}
	for _, st := range steps {
		var next []*etree.Element
		for _, c := range ctx {
			n := 0
			for _, t := range c.Child {
				el, ok := t.(*etree.Element)
				if !ok || !st.match(el) {
					continue
				}
				n++
				if st.pos == 0 || st.pos == n {
					next = append(next, el)
				}
			}
		}
		ctx = next
		if len(ctx) == 0 {
			break
		}
	}
	switch len(ctx) {
	case 0:
		return nil, fmt.Errorf("%w: xpath %q selects no element", ErrMalformed, expr)
	case 1:
		return ctx[0], nil
	default:
		return nil, fmt.Errorf("%w: xpath %q selects %d elements, want one", ErrMalformed, expr, len(ctx))
	}
}

// pathTo returns a namespace-independent XPath 1.0 expression that selects
// exactly el: name steps for elements in no namespace, local-name() and
// namespace-uri() tests otherwise, a position where siblings share the test,
// and for the last step the Id attribute if el has one.
func pathTo(el *etree.Element, id string) string {
	b := appendPath(make([]byte, 0, 256), el, el, id)
	if len(b) == 0 {
		return "/"
	}
	return string(b)
}

// appendPath appends the steps from the document element down to e, each after a '/' (el and
// id as in pathTo).
func appendPath(b []byte, e, el *etree.Element, id string) []byte {
	if e == nil || e.Parent() == nil || e.Tag == "" && e.Space == "" { // above the document element
		return b
	}
	b = append(appendPath(b, e.Parent(), el, id), '/')
	uri := nsURI(e)
	if uri == "" {
		b = append(b, e.Tag...)
	} else {
		b = append(b, "*[local-name()="...)
		b = appendXPathLiteral(b, e.Tag)
		b = append(b, " and namespace-uri()="...)
		b = appendXPathLiteral(b, uri)
		if e == el && id != "" {
			b = append(b, " and @Id="...)
			b = appendXPathLiteral(b, id)
		}
		b = append(b, ']')
	}
	if e == el && uri == "" && id != "" {
		b = append(b, "[@Id="...)
		b = appendXPathLiteral(b, id)
		b = append(b, ']')
	} else if !(e == el && id != "") {
		same, pos := 0, 0
		for _, t := range e.Parent().Child {
			s, ok := t.(*etree.Element)
			if !ok || s.Tag != e.Tag || nsURI(s) != uri {
				continue
			}
			same++
			if s == e {
				pos = same
			}
		}
		if same > 1 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(pos), 10)
			b = append(b, ']')
		}
	}
	return b
}

// xpathLiteral quotes s as an XPath 1.0 string literal (which has no escapes).
func xpathLiteral(s string) string { return string(appendXPathLiteral(nil, s)) }

// appendXPathLiteral appends xpathLiteral(s).
func appendXPathLiteral(b []byte, s string) []byte {
	if !strings.Contains(s, "'") {
		b = append(b, '\'')
		b = append(b, s...)
		return append(b, '\'')
	}
	if !strings.Contains(s, `"`) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	b = append(b, "concat('"...)
	for i, part := range strings.Split(s, "'") {
		if i > 0 {
			b = append(b, `', "'", '`...)
		}
		b = append(b, part...)
	}
	return append(b, "')"...)
}
