package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"dssd/binding/internal/exchange"
	"dssd/binding/internal/xmlwire"
)

// SOAP envelope namespaces.
const (
	NS12 = "http://www.w3.org/2003/05/soap-envelope"
	NS11 = "http://schemas.xmlsoap.org/soap/envelope/"
)

// version describes one SOAP version.
type version struct {
	name        string // "soap12", "soap11" (log label)
	ns          string
	contentType string
}

var (
	v12 = version{name: "soap12", ns: NS12, contentType: "application/soap+xml; charset=utf-8"}
	v11 = version{name: "soap11", ns: NS11, contentType: "text/xml; charset=utf-8"}
)

func versionOf(ns string) (version, bool) {
	switch ns {
	case NS12:
		return v12, true
	case NS11:
		return v11, true
	}
	return version{}, false
}

// faultKind is a SOAP fault code, named as in SOAP 1.2.
type faultKind int

const (
	faultSender faultKind = iota
	faultReceiver
	faultVersionMismatch
	faultMustUnderstand
)

// fault is a SOAP fault to be sent. reason is client-safe text.
type fault struct {
	kind           faultKind
	reason         string
	notUnderstood  []xml.Name // MustUnderstand: the header blocks not understood
	versionUnknown bool       // VersionMismatch: offer both supported envelopes
}

func senderFault(format string) *fault { return &fault{kind: faultSender, reason: format} }

// parsed is a successfully parsed envelope.
type parsed struct {
	v     version
	op    xmlwire.Op
	req   any    // decoded wire request; nil when only peeked
	reqID string // RequestID attribute of the DSS element
}

// parseEnvelope reads a SOAP envelope from the tokens the ingress gate checked. With peek
// set, the DSS element is not decoded: only its name and RequestID are taken (used to
// answer an unauthenticated request). fallback is the version announced by the media type,
// used for faults when the envelope itself names no known version.
func parseEnvelope(toks []xml.Token, peek bool, fallback version) (*parsed, version, *fault) {
	return decodeEnvelope(xmlwire.NewTokens(toks), peek, fallback)
}

// decodeEnvelope is parseEnvelope over any decoder of the message.
func decodeEnvelope(d xmlwire.TokenReader, peek bool, fallback version) (*parsed, version, *fault) {
	root, err := nextStart(d)
	if err != nil {
		return nil, fallback, senderFault("the message is not a SOAP envelope: " + err.Error())
	}
	if root.Name.Local != "Envelope" {
		return nil, fallback, senderFault("the message is not a SOAP envelope (root element " + root.Name.Local + ")")
	}
	v, ok := versionOf(root.Name.Space)
	if !ok {
		return nil, fallback, &fault{kind: faultVersionMismatch, versionUnknown: true,
			reason: "unsupported envelope namespace; use SOAP 1.2 (" + NS12 + ") or SOAP 1.1 (" + NS11 + ")"}
	}
	p := &parsed{v: v}
	seenHeader, seenBody := false, false
	for {
		t, err := d.Token()
		if err != nil {
			return nil, v, senderFault("malformed SOAP envelope")
		}
		switch e := t.(type) {
		case xml.StartElement:
			switch {
			case e.Name == xml.Name{Space: v.ns, Local: "Header"} && !seenHeader && !seenBody:
				seenHeader = true
				if f := checkHeader(d, v); f != nil {
					return nil, v, f
				}
			case e.Name == xml.Name{Space: v.ns, Local: "Body"} && !seenBody:
				seenBody = true
				if f := readBody(d, p, peek); f != nil {
					return nil, v, f
				}
			default:
				return nil, v, senderFault("unexpected element " + e.Name.Local + " in the SOAP envelope")
			}
		case xml.CharData:
			if len(bytes.TrimSpace(e)) > 0 {
				return nil, v, senderFault("text is not allowed in the SOAP envelope")
			}
		case xml.EndElement:
			if !seenBody {
				return nil, v, senderFault("the SOAP envelope has no Body")
			}
			return p, v, nil
		}
	}
}

// nextStart returns the first start element, skipping the prolog.
func nextStart(d xmlwire.TokenReader) (xml.StartElement, error) {
	for {
		t, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return xml.StartElement{}, errors.New("no root element")
			}
			return xml.StartElement{}, errors.New("not well-formed")
		}
		if s, ok := t.(xml.StartElement); ok {
			return s, nil
		}
	}
}

// checkHeader reads the Header element. dssd processes no header block, so a block that
// must be understood by this node is a MustUnderstand fault; other blocks are ignored.
func checkHeader(d xmlwire.TokenReader, v version) *fault {
	var missed []xml.Name
	for {
		t, err := d.Token()
		if err != nil {
			return senderFault("malformed SOAP Header")
		}
		switch e := t.(type) {
		case xml.StartElement:
			if mustUnderstand(e, v) {
				missed = append(missed, e.Name)
			}
			if err := d.Skip(); err != nil {
				return senderFault("malformed SOAP Header")
			}
		case xml.EndElement:
			if len(missed) > 0 {
				names := make([]string, len(missed))
				for i, n := range missed {
					names[i] = n.Local
				}
				return &fault{kind: faultMustUnderstand, notUnderstood: missed,
					reason: "header block not understood: " + strings.Join(names, ", ")}
			}
			return nil
		}
	}
}

// mustUnderstand reports whether header block e is mandatory for this node: mustUnderstand
// true (1.2: "true" or "1"; 1.1: "1", "true" accepted) and targeted at this node (no role, or
// the next/ultimateReceiver role; 1.1: no actor or the next actor).
func mustUnderstand(e xml.StartElement, v version) bool {
	must, role, hasRole := false, "", false
	for _, a := range e.Attr {
		if a.Name.Space != v.ns {
			continue
		}
		switch a.Name.Local {
		case "mustUnderstand":
			s := strings.TrimSpace(a.Value)
			must = s == "1" || s == "true"
		case "role", "actor":
			role, hasRole = strings.TrimSpace(a.Value), true
		}
	}
	if !must {
		return false
	}
	if !hasRole || role == "" {
		return true
	}
	switch role {
	case "http://www.w3.org/2003/05/soap-envelope/role/next",
		"http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
		"http://schemas.xmlsoap.org/soap/actor/next":
		return true
	}
	return false
}

// readBody reads the Body: exactly one DSS request element, nothing else but whitespace.
func readBody(d xmlwire.TokenReader, p *parsed, peek bool) *fault {
	found := false
	for {
		t, err := d.Token()
		if err != nil {
			return senderFault("malformed SOAP Body")
		}
		switch e := t.(type) {
		case xml.StartElement:
			if found {
				return senderFault("the SOAP Body must hold exactly one DSS request element")
			}
			found = true
			if peek {
				op, ok := xmlwire.OpOf(e.Name)
				if !ok {
					return senderFault((&exchange.UnknownElementError{Name: e.Name}).Error())
				}
				p.op, p.reqID = op, exchange.PeekRequestID(e)
				if err := d.Skip(); err != nil {
					return senderFault("malformed SOAP Body")
				}
				continue
			}
			op, req, err := exchange.DecodeRequest(d, e)
			if err != nil {
				var ue *exchange.UnknownElementError
				if errors.As(err, &ue) {
					return senderFault(ue.Error())
				}
				return senderFault("the " + e.Name.Local + " element cannot be parsed")
			}
			p.op, p.req, p.reqID = op, req, exchange.RequestID(req)
		case xml.CharData:
			if len(bytes.TrimSpace(e)) > 0 {
				return senderFault("text is not allowed in the SOAP Body")
			}
		case xml.EndElement:
			if !found {
				return senderFault("the SOAP Body holds no DSS request element")
			}
			return nil
		}
	}
}

// envelope returns a SOAP envelope of version v around the marshalled content.
func envelope(v version, header, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(header) + len(body) + 256)
	b.WriteString(envelopeOpen(v))
	if len(header) > 0 {
		b.WriteString(`<soap:Header>`)
		b.Write(header)
		b.WriteString(`</soap:Header>`)
	}
	b.WriteString(`<soap:Body>`)
	b.Write(body)
	b.WriteString(envelopeEnd)
	return b.Bytes()
}

// envelopeOpen is the XML declaration and the Envelope start tag of version v.
func envelopeOpen(v version) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<soap:Envelope xmlns:soap="` + v.ns + `">`
}

// envelopeStart is everything before the content of a Body without Header; envelopeEnd is
// everything after it.
func envelopeStart(v version) string { return envelopeOpen(v) + `<soap:Body>` }

const envelopeEnd = `</soap:Body></soap:Envelope>`

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// faultMessage renders f in version v and returns it with its HTTP status (SOAP 1.2 part 2
// §7.5.1.2: Sender 400, everything else 500; SOAP 1.1: 500).
func faultMessage(v version, f *fault) ([]byte, int, string) {
	var code11, code12 string
	switch f.kind {
	case faultSender:
		code11, code12 = "Client", "Sender"
	case faultReceiver:
		code11, code12 = "Server", "Receiver"
	case faultVersionMismatch:
		code11, code12 = "VersionMismatch", "VersionMismatch"
	case faultMustUnderstand:
		code11, code12 = "MustUnderstand", "MustUnderstand"
	}
	if v.ns == NS11 {
		body := `<soap:Fault><faultcode>soap:` + code11 + `</faultcode><faultstring>` + escape(f.reason) +
			`</faultstring></soap:Fault>`
		return envelope(v, nil, []byte(body)), 500, code11
	}
	var header strings.Builder
	if f.versionUnknown {
		header.WriteString(`<soap:Upgrade>`)
		header.WriteString(`<soap:SupportedEnvelope qname="v12:Envelope" xmlns:v12="` + NS12 + `"/>`)
		header.WriteString(`<soap:SupportedEnvelope qname="v11:Envelope" xmlns:v11="` + NS11 + `"/>`)
		header.WriteString(`</soap:Upgrade>`)
	}
	for _, n := range f.notUnderstood {
		if n.Space == "" {
			continue // a QName without namespace cannot be declared with a prefix
		}
		header.WriteString(`<soap:NotUnderstood qname="h:` + escape(n.Local) + `" xmlns:h="` + escape(n.Space) + `"/>`)
	}
	body := `<soap:Fault><soap:Code><soap:Value>soap:` + code12 + `</soap:Value></soap:Code>` +
		`<soap:Reason><soap:Text xml:lang="en">` + escape(f.reason) + `</soap:Text></soap:Reason></soap:Fault>`
	status := 500
	if f.kind == faultSender {
		status = 400
	}
	return envelope(v, []byte(header.String()), []byte(body)), status, code12
}
