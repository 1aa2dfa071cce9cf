package xmlwire

import (
	"encoding/xml"
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

// NewTokenDecoder is NewDecoder over raw tokens the ingress gate already read
// (xmlsafe.Tokens) instead of bytes: namespaces are resolved as NewDecoder resolves them, and
// the bytes are not tokenized again.
func NewTokenDecoder(toks []xml.Token) *xml.Decoder {
	return xml.NewTokenDecoder(&lenient{d: xml.NewTokenDecoder(&replay{toks: toks})})
}

// replay hands out recorded tokens, then io.EOF.
type replay struct{ toks []xml.Token }

func (r *replay) Token() (xml.Token, error) {
	if len(r.toks) == 0 {
		return nil, io.EOF
	}
	t := r.toks[0]
	r.toks = r.toks[1:]
	return t, nil
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
