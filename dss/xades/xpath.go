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
	var steps []string
	for e := el; e != nil && e.Parent() != nil; e = e.Parent() {
		if e.Tag == "" && e.Space == "" { // the document node
			break
		}
		uri := nsURI(e)
		var test string
		if uri == "" {
			test = e.Tag
		} else {
			test = fmt.Sprintf("*[local-name()=%s and namespace-uri()=%s", xpathLiteral(e.Tag), xpathLiteral(uri))
			if e == el && id != "" {
				test += " and @Id=" + xpathLiteral(id)
			}
			test += "]"
		}
		if e == el && uri == "" && id != "" {
			test += "[@Id=" + xpathLiteral(id) + "]"
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
				test += "[" + strconv.Itoa(pos) + "]"
			}
		}
		steps = append(steps, test)
	}
	for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
		steps[i], steps[j] = steps[j], steps[i]
	}
	return "/" + strings.Join(steps, "/")
}

// xpathLiteral quotes s as an XPath 1.0 string literal (which has no escapes).
func xpathLiteral(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	parts := strings.Split(s, "'")
	return "concat('" + strings.Join(parts, `', "'", '`) + "')"
}
