package xmlwire

import (
	"encoding/base64"
	"encoding/xml"
)

// Base64 is the content of an xs:base64Binary element or attribute. It encodes standard
// base64 (RFC 4648 §4, padded) and, on input, ignores XML whitespace anywhere in the text.
//
// Decoding never fails inside encoding/xml: invalid text is remembered and reported by
// Valid, so that the converters can answer a DSS RequesterError (with the RequestID)
// instead of the whole message being refused as unparsable.
type Base64 struct {
	Bytes   []byte
	invalid bool
}

// NewBase64 returns a Base64 holding b.
func NewBase64(b []byte) *Base64 { return &Base64{Bytes: b} }

// MarshalText implements encoding.TextMarshaler.
func (b Base64) MarshalText() ([]byte, error) {
	return base64.StdEncoding.AppendEncode(nil, b.Bytes), nil
}

// MarshalXML writes the element with the base64 text as its content, unescaped: the base64
// alphabet needs no escaping, and encoding/xml's text escaping (rune by rune) was half the
// cost of marshalling a signed document's response.
func (b Base64) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		Text []byte `xml:",innerxml"`
	}{base64.StdEncoding.AppendEncode(nil, b.Bytes)}, start)
}

// UnmarshalText implements encoding.TextUnmarshaler. It never returns an error; see Valid.
func (b *Base64) UnmarshalText(text []byte) error {
	clean := make([]byte, 0, len(text))
	for _, c := range text {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		*b = Base64{invalid: true}
		return nil
	}
	*b = Base64{Bytes: out[:n]}
	return nil
}

// Valid reports whether the text decoded as standard base64.
func (b *Base64) Valid() bool { return b != nil && !b.invalid }
