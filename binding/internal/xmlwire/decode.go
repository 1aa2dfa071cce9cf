package xmlwire

import (
	"encoding/xml"
	"errors"
	"io"
)

// Op is a DSS operation.
type Op int

// Operations, named as in the WSDL and the HTTP POST binding paths.
const (
	OpSign Op = iota
	OpVerify
	OpPending
)

func (o Op) String() string {
	switch o {
	case OpSign:
		return "sign"
	case OpVerify:
		return "verify"
	case OpPending:
		return "retrievePending"
	}
	return "unknown"
}

// RequestElement returns the local name of the request element of o (in NSCore).
func (o Op) RequestElement() string {
	switch o {
	case OpVerify:
		return "VerifyRequest"
	case OpPending:
		return "PendingRequest"
	}
	return "SignRequest"
}

// OpOf returns the operation whose request element is n (namespace and local name).
func OpOf(n xml.Name) (Op, bool) {
	if n.Space != NSCore {
		return 0, false
	}
	switch n.Local {
	case "SignRequest":
		return OpSign, true
	case "VerifyRequest":
		return OpVerify, true
	case "PendingRequest":
		return OpPending, true
	}
	return 0, false
}

// NewRequest returns a new, empty wire request of o (*SignRequest, *VerifyRequest or
// *PendingRequest).
func NewRequest(o Op) any {
	switch o {
	case OpVerify:
		return &VerifyRequest{}
	case OpPending:
		return &PendingRequest{}
	}
	return &SignRequest{}
}

// NewDecoder returns an encoding/xml decoder over r that reads a Result element (and its
// children) in the core namespace or in no namespace as dsb:Result (protocol.md §15 #8, for
// responses). Only UTF-8 is read. Run the ingress gate (dss/xmlsafe) over the bytes first.
// Requests are read with Tokens: the layers of this decoder translate a name twice (see
// replay), which is harmless for the responses of a server but not for requests.
func NewDecoder(r io.Reader) *xml.Decoder {
	return xml.NewTokenDecoder(&lenient{d: xml.NewDecoder(r)})
}

// replay resolves the raw tokens the gate recorded: each element and attribute name is
// translated once, by the namespace declarations in scope (Namespaces in XML 1.0 §6), then
// lenient's renaming applies (fixName). Tokens reads through it.
//
// NewDecoder's layers translate a name twice (the Decoder that reads the bytes, then the
// Decoder that unmarshals, which sees the same declarations): a namespace URI that is itself
// a prefix in scope is translated again, so that <a:SignRequest xmlns:a="b" xmlns:b="(core)">
// would read as a DSS request although it is {b}SignRequest. replay does not copy that.
type replay struct {
	toks  []xml.Token
	ns    map[string]string // prefix → namespace in scope ("" the default namespace)
	undo  []binding         // the bindings the open elements replaced, innermost last
	marks []int             // len(undo) when each open element started
	stack []xml.Name        // the names the open elements were given
}

// binding is a namespace binding an element replaced: restored when it ends.
type binding struct {
	prefix, uri string
	ok          bool // the prefix was bound before
}

// start resolves a raw start element. As xml.Decoder.Token: the element's declarations apply
// to its own name and attributes; attribute names that change are changed in a copy of Attr.
func (r *replay) start(e xml.StartElement) xml.StartElement {
	r.marks = append(r.marks, len(r.undo))
	for _, a := range e.Attr {
		switch {
		case a.Name.Space == "xmlns":
			r.bind(a.Name.Local, a.Value)
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			r.bind("", a.Value)
		}
	}
	copied := false
	for i := range e.Attr {
		n := r.translate(e.Attr[i].Name, false)
		if n == e.Attr[i].Name {
			continue
		}
		if !copied {
			e.Attr, copied = append([]xml.Attr(nil), e.Attr...), true
		}
		e.Attr[i].Name = n
	}
	var parent xml.Name
	if n := len(r.stack); n > 0 {
		parent = r.stack[n-1]
	}
	e.Name = fixName(r.translate(e.Name, true), parent)
	r.stack = append(r.stack, e.Name)
	return e
}

// end resolves a raw end element: the name its start element was given.
func (r *replay) end(e xml.EndElement) (xml.EndElement, error) {
	n := len(r.stack)
	if n == 0 {
		return e, errors.New("xmlwire: unexpected end element </" + e.Name.Local + ">")
	}
	e.Name = r.stack[n-1]
	r.stack = r.stack[:n-1]
	m := r.marks[len(r.marks)-1]
	r.marks = r.marks[:len(r.marks)-1]
	for len(r.undo) > m {
		b := r.undo[len(r.undo)-1]
		r.undo = r.undo[:len(r.undo)-1]
		if b.ok {
			r.ns[b.prefix] = b.uri
		} else {
			delete(r.ns, b.prefix)
		}
	}
	return e, nil
}

// bind binds prefix to uri in the element being read.
func (r *replay) bind(prefix, uri string) {
	old, ok := r.ns[prefix]
	r.undo = append(r.undo, binding{prefix: prefix, uri: old, ok: ok})
	r.ns[prefix] = uri
}

// translate resolves a raw name once (Namespaces in XML 1.0 §6): a declaration stays as it
// is, an unprefixed attribute is in no namespace, the xml prefix is bound to its namespace,
// any other prefix (and the empty one of an element) to the namespace declared for it in
// scope. The result is never looked up again. The gate has refused undeclared prefixes; an
// unprefixed element without a default namespace in scope is in no namespace.
func (r *replay) translate(n xml.Name, isElementName bool) xml.Name {
	switch {
	case n.Space == "xmlns", n.Space == "" && n.Local == "xmlns":
		return n
	case n.Space == "" && !isElementName:
		return n
	case n.Space == "xml":
		n.Space = NSXML
		return n
	}
	if v, ok := r.ns[n.Space]; ok {
		n.Space = v
	}
	return n
}

// lenient rewrites element names of a token stream; it keeps a stack of the rewritten
// names so that end tags match their start tags.
type lenient struct {
	d     *xml.Decoder
	stack []xml.Name
}

func (l *lenient) Token() (xml.Token, error) {
	t, err := l.d.Token()
	if err != nil {
		return t, err
	}
	switch e := t.(type) {
	case xml.StartElement:
		var parent xml.Name
		if n := len(l.stack); n > 0 {
			parent = l.stack[n-1]
		}
		e.Name = fixName(e.Name, parent)
		l.stack = append(l.stack, e.Name)
		return e, nil
	case xml.EndElement:
		if n := len(l.stack); n > 0 {
			e.Name = l.stack[n-1]
			l.stack = l.stack[:n-1]
		}
		return e, nil
	}
	return t, nil
}

// fixName maps a Result (with its children) in the core namespace or in no namespace to the
// dsb namespace: the client side of protocol.md §15 #8, for responses of careless servers.
// Requests get no such leniency: a Value or Profile in the wrong namespace is refused as
// MalformedRequest (strict.go), as the schema requires.
func fixName(n, parent xml.Name) xml.Name {
	if n.Space != NSCore && n.Space != "" {
		return n
	}
	switch n.Local {
	case "Result":
	case "ResultMajor", "ResultMinor", "ResultMessage", "ProblemReference":
		if parent != (xml.Name{Space: NSBase, Local: "Result"}) {
			return n
		}
	default:
		return n
	}
	return xml.Name{Space: NSBase, Local: n.Local}
}
