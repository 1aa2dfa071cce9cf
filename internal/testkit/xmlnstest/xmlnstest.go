// Package xmlnstest finds the inputs on which encoding/xml's layered decoders resolve a name
// otherwise than Namespaces in XML does, for the differential tests of the request reader
// (xmlwire.Tokens), whose reference readers are such layers.
package xmlnstest

import "encoding/xml"

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
