package xmldsig

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
)

// Options are the parameters of Canonicalize and CanonicalizeDocument beyond the method.
type Options struct {
	// PrefixList is the exclusive InclusiveNamespaces PrefixList as written ("#default" names
	// the default namespace), deduplicated and capped by the caller.
	PrefixList string
	// Skip is a descendant left out (the signature, for the enveloped-signature transform).
	Skip *etree.Element
	// Include selects the node-set (nil: every node); see Subset.Include.
	Include func(etree.Token) bool
	// Ctx stops the walk when done (nil: never); its error comes back wrapped in ErrCancelled.
	Ctx context.Context
	// Budget, when not nil, is charged one per node and attribute visited; when used up the
	// walk stops with ErrBudget, and so does every later walk charged to it.
	Budget *Budget
	// SignerXMLAttrs applies the signer's stricter rule to the xml:* attributes a c14n 1.1
	// subset inherits (InheritedXMLAttrs with signer set).
	SignerXMLAttrs bool
	// MaxBytes, when positive, bounds the canonical form: the walk stops with ErrOutputLimit
	// as soon as its output is longer. Exclusive c14n writes a namespace declaration again on
	// every element that uses it when the parent does not, so a small input can have a
	// canonical form many times its size.
	MaxBytes int64
	// Buf, when not nil, is storage for the result: the canonical form is appended to
	// Buf[:0], so the result may share Buf's array (a caller that digests the result and
	// drops it reuses one buffer). nil: a new buffer.
	Buf []byte
}

// DefaultMaxC14NBytes is the least bound of MaxC14NBytesFor: 64 MiB.
const DefaultMaxC14NBytes = 64 << 20

// MaxC14NBytesFor is the bound on the canonical bytes one signed document may cost, all its
// canonical forms together, for documents of at most maxDocBytes (0 or less:
// xmlsafe.DefaultMaxDocumentBytes): four times the size (canonical forms write empty elements
// in full and repeat namespace declarations), at least DefaultMaxC14NBytes. The service gives
// it to both its verifier (dss/verify Limits.MaxC14NBytes) and its signer (dss/xades
// Params.MaxC14NBytes), so that a signature it makes is one it can verify.
func MaxC14NBytesFor(maxDocBytes int64) int64 {
	if maxDocBytes <= 0 {
		maxDocBytes = xmlsafe.DefaultMaxDocumentBytes
	}
	return max(4*maxDocBytes, DefaultMaxC14NBytes)
}

// Errors of Canonicalize and CanonicalizeDocument besides ErrNotCanonicalizable.
var (
	// ErrNotAllowed marks a canonicalization the package refuses (an unknown method, c14n 1.1
	// below xml:base, and for the signer nested xml:* values that disagree).
	ErrNotAllowed = errors.New("not allowed")
	// ErrCancelled marks a walk stopped by Options.Ctx.
	ErrCancelled = errors.New("the request deadline passed during canonicalization")
	// ErrBudget marks a walk stopped because Options.Budget was used up.
	ErrBudget = errors.New("canonicalization node budget used up")
	// ErrOutputLimit marks a walk stopped because its output went beyond Options.MaxBytes.
	ErrOutputLimit = errors.New("canonical form longer than allowed")
)

// Canonicalize returns the canonical form of el as a document subset in its own context: the
// namespaces in scope at el count, and for inclusive c14n the xml:* attributes el (and any
// element of the node-set whose parent is not in it) inherits. alg is exclusive c14n, c14n
// 1.1 or c14n 1.0, each with or without comments. el is not modified.
func Canonicalize(el *etree.Element, alg string, o Options) ([]byte, error) {
	if o.Budget == nil {
		return canonicalizeSet(o.Ctx, el, alg, o)
	}
	b := o.Budget
	if b.over {
		return nil, ErrBudget
	}
	ctx := o.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	o.Include = b.counting(o.Include)
	out, err := canonicalizeSet(budgetCtx{Context: ctx, b: b}, el, alg, o)
	if b.over {
		return nil, ErrBudget
	}
	return out, err
}

// CanonicalizeDocument returns the canonical form of the whole document (a same-document
// URI="" reference): that of the document element (Canonicalize) with the processing
// instructions outside it and, for a #WithComments method, the comments, as Include selects
// them; the XML declaration is not a processing instruction.
func CanonicalizeDocument(doc *etree.Document, alg string, o Options) ([]byte, error) {
	root := doc.Root()
	if root == nil {
		return nil, errors.New("no document element")
	}
	body, err := Canonicalize(root, alg, o)
	if err != nil {
		return nil, err
	}
	_, comments := C14NBase(alg)
	var out []byte
	seenRoot := false
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if out == nil {
				out = body // nothing before the document element: append to the body, no copy
			} else {
				out = append(out, body...)
			}
			seenRoot = true
			continue
		case *etree.ProcInst:
			if t.Target == "xml" || (o.Include != nil && !o.Include(t)) {
				continue
			}
			if seenRoot {
				out = append(out, '\n')
			}
			out = AppendProcInst(out, t)
		case *etree.Comment:
			if !comments || (o.Include != nil && !o.Include(t)) {
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

func canonicalizeSet(ctx context.Context, el *etree.Element, alg string, o Options) ([]byte, error) {
	base, comments := C14NBase(alg)
	s := Subset{Comments: comments, Skip: o.Skip, Include: o.Include, Ctx: ctx, Buf: o.Buf, MaxBytes: o.MaxBytes, Budget: o.Budget}
	var (
		out []byte
		err error
	)
	switch base {
	case ExcC14N:
		s.Exclusive = true
		s.Prefixes = prefixes(o.PrefixList)
		out, err = CanonicalSubset(el, s)
	case C14N11, C14N10:
		out, err = inclusiveSubset(el, s, base == C14N10, o.SignerXMLAttrs)
	default:
		return nil, fmt.Errorf("canonicalization %q: %w", alg, ErrNotAllowed)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inclusiveSubset is CanonicalSubset for inclusive c14n, with the xml:* attributes each
// element below an unwritten parent inherits (InheritedXMLAttrs); the first refusal of one
// is the error.
func inclusiveSubset(el *etree.Element, s Subset, c14n10, signer bool) ([]byte, error) {
	var ierr error
	budget := s.Budget
	s.Inherit = func(e *etree.Element) []etree.Attr {
		a, visited, err := inheritedXMLAttrs(e, c14n10, signer)
		if err != nil && ierr == nil {
			ierr = err
		}
		budget.charge(int64(visited) / inheritVisitsPerNode)
		return a
	}
	out, err := CanonicalSubset(el, s)
	if err == nil && ierr != nil {
		err = ierr
	}
	return out, err
}

// prefixes splits a PrefixList ("#default" is the default namespace, "" here).
func prefixes(prefixList string) []string {
	var list []string
	for _, p := range strings.Fields(prefixList) {
		if p == "#default" {
			p = ""
		}
		list = append(list, p)
	}
	return list
}

// Budget counts the nodes the canonicalization walks of one input visit (References,
// SignedInfo, timestamped and archived elements, all signatures together). The output bytes
// are bounded elsewhere; this bounds the walks themselves, which an XPath filter selecting
// nothing, or many References to the same document, repeat without output. When the budget
// is used up the walk's context is done, which stops the walk under way within 256 nodes, and
// every later walk starts refused.
type Budget struct {
	left int64
	over bool
}

// NewBudget returns a budget of n nodes.
func NewBudget(n int64) *Budget { return &Budget{left: n} }

// Over reports whether the budget is used up.
func (b *Budget) Over() bool { return b.over }

// budgetCtx is the context a canonicalization walk checks: done when the caller's context is,
// or when the budget is used up.
type budgetCtx struct {
	context.Context
	b *Budget
}

func (c budgetCtx) Err() error {
	if c.b.over {
		return ErrBudget
	}
	return c.Context.Err()
}

// counting returns include (nil: every node) wrapped to charge each node it is asked about:
// one per node and one per attribute of an element.
func (b *Budget) counting(include func(etree.Token) bool) func(etree.Token) bool {
	return func(t etree.Token) bool {
		n := int64(1)
		if el, ok := t.(*etree.Element); ok {
			n += int64(len(el.Attr))
		}
		b.charge(n)
		return include == nil || include(t)
	}
}

// charge takes n nodes' worth of work from b (nil: none) and reports whether b is used up.
func (b *Budget) charge(n int64) bool {
	if b == nil {
		return false
	}
	if b.left -= n; b.left < 0 {
		b.over = true
	}
	return b.over
}

// The work an inclusive canonicalization does for an element of the node-set whose parent is
// not written, beyond its node: it renders every namespace in scope, found by comparing each
// binding in scope with the others (about 6 ns a pair: 128 µs for an element with 144 in
// scope), and looks up the xml:* attributes it inherits on every ancestor (about 1.5 ns an
// attribute: 60 µs below 200 ancestors of 200 attributes), where a node of the walk costs 100
// to 250 ns (decisions §44). It is charged to the Budget in nodes' worth: the bindings in
// scope plus their square over scopePairsPerNode, each binding weighed by the length of its
// prefix and URI (scopeWork), the ancestors and their attributes over inheritVisitsPerNode.
//
// Exclusive c14n with an InclusiveNamespaces PrefixList does the like on every element of the
// node-set, written parent or not: it looks each binding in scope up in the PrefixList (about
// 9 ns) and compares each one found there with every later binding. The lookups and the
// comparisons are counted, scopeWork each, and charged over scopePairsPerNode: 144 bindings
// in scope, all in a PrefixList of 64 prefixes, cost 30 to 50 µs an element (decisions §44).
const (
	scopePairsPerNode    = 16
	inheritVisitsPerNode = 64
)

// scopeWork is the work of looking a namespace binding up and comparing it, in units of about
// 9 ns: one, and one more for each 64 bytes of its prefix and URI hashed or compared. Both are
// of any length: 144 bindings of 1 KiB prefixes in scope cost an element below an unwritten
// parent 3.3 ms, 15 times what 2-byte prefixes cost (decisions §44), and a binding rendered
// there is compared with the one its output ancestor rendered, URI and all.
func scopeWork(b nsBinding) int64 { return 1 + int64(len(b.prefix)+len(b.uri))/64 }

// XMLAttrError is the refusal of an inherited xml:* attribute (InheritedXMLAttrs); it
// matches ErrNotAllowed.
type XMLAttrError struct {
	Attr   string // base, lang or space
	Nested bool   // signer: nested declarations with different values
}

func (e *XMLAttrError) Error() string {
	if e.Nested {
		return fmt.Sprintf("c14n 1.1 below nested xml:%s declarations with different values (Java validators canonicalize it differently); use exclusive c14n", e.Attr)
	}
	return "c14n 1.1 of an element below xml:base"
}

// Is makes an XMLAttrError match ErrNotAllowed.
func (e *XMLAttrError) Is(target error) bool { return target == ErrNotAllowed }

// InheritedXMLAttrs returns the attributes in the xml namespace that el inherits from its
// nearest ancestors and does not carry itself, as inclusive canonicalization of a document
// subset requires: xml:lang and xml:space for c14n 1.1 (xml:base would need URI fix-up, which
// is refused), every xml:* attribute but xml:id for c14n 1.0 (c14n10). The nearest
// declaration wins.
//
// signer adds the signer's rule for c14n 1.1: an attribute declared on several ancestors with
// different values is refused, because Santuario 2.1.7 and the JDK take the outermost value
// instead of the nearest (xmlsec1 agrees with the nearest), so such a signature would fail in
// the Java validators most of Europe uses. A verifier accepts what the specification says.
func InheritedXMLAttrs(el *etree.Element, c14n10, signer bool) ([]etree.Attr, error) {
	a, _, err := inheritedXMLAttrs(el, c14n10, signer)
	return a, err
}

// inheritedXMLAttrs is InheritedXMLAttrs, also returning the nodes its walk visited: the
// ancestors and their attributes.
func inheritedXMLAttrs(el *etree.Element, c14n10, signer bool) (inherited []etree.Attr, visited int, err error) {
	have := map[string]bool{}
	for _, a := range el.Attr {
		if a.Space == "xml" {
			have[a.Key] = true
		}
	}
	for p := el.Parent(); p != nil; p = p.Parent() {
		visited += 1 + len(p.Attr)
		for _, a := range p.Attr {
			if a.Space != "xml" {
				continue
			}
			if signer && !c14n10 && a.Key == "base" {
				return nil, visited, &XMLAttrError{Attr: "base"} // even below an xml:base of el's own
			}
			if have[a.Key] {
				if signer && !c14n10 && (a.Key == "lang" || a.Key == "space") {
					for _, i := range inherited {
						if i.Key == a.Key && i.Value != a.Value {
							return nil, visited, &XMLAttrError{Attr: a.Key, Nested: true}
						}
					}
				}
				continue
			}
			switch {
			case a.Key == "lang" || a.Key == "space":
			case a.Key == "base" && !c14n10:
				return nil, visited, &XMLAttrError{Attr: "base"}
			case !c14n10 || a.Key == "id":
				continue
			}
			have[a.Key] = true
			inherited = append(inherited, etree.Attr{Space: "xml", Key: a.Key, Value: a.Value})
		}
	}
	return inherited, visited, nil
}

// AppendProcInst appends the canonical form of a processing instruction.
func AppendProcInst(b []byte, t *etree.ProcInst) []byte {
	b = append(b, "<?"...)
	b = append(b, t.Target...)
	if inst := strings.TrimLeft(t.Inst, " \t\r\n"); inst != "" {
		b = append(b, ' ')
		b = append(b, inst...)
	}
	return append(b, "?>"...)
}
