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
func NewDecoder(r io.Reader) *xml.Decoder {
	return xml.NewTokenDecoder(&lenient{d: xml.NewDecoder(r)})
}

// replay resolves the raw tokens the gate recorded as NewDecoder's layers resolve the bytes:
// an encoding/xml Decoder's namespace translation, then lenient's renaming, then (twice) the
// translation of the Decoder that unmarshals, which sees the same declarations. Tokens reads
// through it.
type replay struct {
	toks  []xml.Token
	ns    map[string]string // prefix → namespace in scope ("" the default namespace)
	undo  []binding         // the bindings the open elements replaced, innermost last
	marks []int             // len(undo) when each open element started
	stack []openElement     // the open elements
	twice bool              // translate names a second time, as the unmarshalling Decoder does
}

// openElement is the name lenient gave an open element and the name it was given in the end.
type openElement struct{ lenient, name xml.Name }

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
		if r.twice {
			n = r.translate(n, false)
		}
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
		parent = r.stack[n-1].lenient
	}
	l := fixName(r.translate(e.Name, true), parent)
	e.Name = l
	if r.twice {
		e.Name = r.translate(l, true)
	}
	r.stack = append(r.stack, openElement{lenient: l, name: e.Name})
	return e
}

// end resolves a raw end element: the name its start element was given.
func (r *replay) end(e xml.EndElement) (xml.EndElement, error) {
	n := len(r.stack)
	if n == 0 {
		return e, errors.New("xmlwire: unexpected end element </" + e.Name.Local + ">")
	}
	e.Name = r.stack[n-1].name
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

// translate is xml.Decoder's translation of a raw name (its DefaultSpace is empty).
func (r *replay) translate(n xml.Name, isElementName bool) xml.Name {
	switch {
	case n.Space == "xmlns":
		return n
	case n.Space == "" && !isElementName:
		return n
	case n.Space == "xml":
		n.Space = NSXML
	case n.Space == "" && n.Local == "xmlns":
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
