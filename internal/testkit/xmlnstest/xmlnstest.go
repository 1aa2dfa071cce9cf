// Package xmlnstest finds the inputs on which encoding/xml's layered decoders resolve a name
// otherwise than Namespaces in XML does, for the differential tests of the request reader
// (xmlwire.Tokens), whose reference readers are such layers, and holds the requests that
// show the difference to the bindings' tests.
package xmlnstest

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"testing"
)

// layer hides a Decoder from xml.NewTokenDecoder, which would return it as it is.
type layer struct{ d *xml.Decoder }

func (l layer) Token() (xml.Token, error) { return l.d.Token() }

// TranslatedTwice reports whether a Decoder over a Decoder of the tokens newReader returns
// (each call a fresh reader of the same input) names an element or attribute otherwise than
// one Decoder does. The outer Decoder translates the names the inner one translated with
// the declarations it sees, so a namespace URI that is itself a prefix in scope
// (xmlns:a="b" xmlns:b="urn:x": a:e is {urn:x}e, not {b}e) or the URI "xml" is resolved
// again. Only the tokens up to the first error are compared.
func TranslatedTwice(newReader func() xml.TokenReader) bool {
	once := xml.NewTokenDecoder(newReader())
	twice := xml.NewTokenDecoder(layer{xml.NewTokenDecoder(newReader())})
	for {
		a, errA := once.Token()
		b, errB := twice.Token()
		if errA != nil || errB != nil {
			return false
		}
		sa, okA := a.(xml.StartElement)
		sb, okB := b.(xml.StartElement)
		if !okA || !okB {
			continue
		}
		if sa.Name != sb.Name || len(sa.Attr) != len(sb.Attr) {
			return true
		}
		for i := range sa.Attr {
			if sa.Attr[i].Name != sb.Attr[i].Name {
				return true
			}
		}
	}
}

// Request is a DSS request that a reader translating names twice would read otherwise than
// Namespaces in XML: Trick declares xmlns:a="b" and xmlns:b="(DSS core)" and names an element
// a:X, which is {b}X; Plain is the same request without the xmlns:b declaration, plainly in
// the namespace "b", whose answer Trick must get.
type Request struct {
	Name         string
	Trick, Plain string
	Child        bool // the trick is on a child (InputDocuments), not on the request element
}

// ChildError is the message of the refusal of the Child request (MalformedRequest).
const ChildError = "SignRequest holds {b}InputDocuments: the schema expects dss2:InputDocuments there (wrong namespace)"

// Requests are the trick on the SignRequest element and on its InputDocuments child.
func Requests() []Request {
	const (
		core  = "http://docs.oasis-open.org/dss-x/ns/core"
		base  = "http://docs.oasis-open.org/dss-x/ns/base"
		child = `<a:InputDocuments><dss2:Document ID="d"><dss2:Base64Data><dsb:Value>aGk=</dsb:Value></dss2:Base64Data></dss2:Document></a:InputDocuments>`
		open  = `<dss2:SignRequest xmlns:dss2="` + core + `" xmlns:dsb="` + base + `" xmlns:a="b"`
	)
	return []Request{
		{Name: "request element",
			Trick: `<a:SignRequest xmlns:a="b" xmlns:b="` + core + `" RequestID="r-1"/>`,
			Plain: `<a:SignRequest xmlns:a="b" RequestID="r-1"/>`},
		{Name: "child element", Child: true,
			Trick: open + ` xmlns:b="` + core + `" RequestID="r-2">` + child + `</dss2:SignRequest>`,
			Plain: open + ` RequestID="r-2">` + child + `</dss2:SignRequest>`},
	}
}

// problemRef is a problem reference in an answer (16 hex digits or more).
var problemRef = regexp.MustCompile(`[0-9a-f]{16,}`)

// SameAnswer fails t unless the answer to the trick (status, body) is the answer to the
// plain request but for problem references.
func SameAnswer(t testing.TB, status int, body []byte, plainStatus int, plainBody []byte) {
	t.Helper()
	if status != plainStatus || !bytes.Equal(problemRef.ReplaceAll(body, nil), problemRef.ReplaceAll(plainBody, nil)) {
		t.Errorf("answered %d\n%s\nwhere the request in the namespace \"b\" is answered %d\n%s", status, body, plainStatus, plainBody)
	}
}
