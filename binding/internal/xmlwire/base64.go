package xmlwire

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"

	"dssd/dss"
)

// Base64 is the content of an xs:base64Binary element or attribute. It encodes standard
// base64 (RFC 4648 §4, padded) and, on input, ignores XML whitespace anywhere in the text.
//
// Decoding never fails inside encoding/xml: invalid text is remembered and reported by
// Valid, so that the converters can answer a DSS RequesterError (with the RequestID)
// instead of the whole message being refused as unparsable.
//
// In an MTOM message (XOP) the content of a dsb:Value may instead be one xop:Include element
// naming an attachment: Include holds its href until the binding resolves it into Bytes, or,
// for a document that is only signed detached, into Streamed (its digest).
type Base64 struct {
	Bytes   []byte
	invalid bool

	Include  string            // href of the xop:Include child ("cid:..."); on output: written as xop:Include
	Streamed *dss.StreamedData // set by the MTOM reader instead of Bytes (detached documents)
}

// NewBase64 returns a Base64 holding b.
func NewBase64(b []byte) *Base64 { return &Base64{Bytes: b} }

// MarshalText implements encoding.TextMarshaler.
func (b Base64) MarshalText() ([]byte, error) {
	return base64.StdEncoding.AppendEncode(nil, b.Bytes), nil
}

// MarshalXML writes the element with the base64 text as its content, unescaped: the base64
// alphabet needs no escaping, and encoding/xml's text escaping (rune by rune) was half the
// cost of marshalling a signed document's response. With Include set (an MTOM response) the
// content is an xop:Include naming the attachment that carries Bytes.
func (b Base64) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		Text []byte `xml:",innerxml"`
	}{b.appendContent(nil)}, start)
}

// UnmarshalXML reads the base64 text of the element, or its one xop:Include child (XOP 1.0
// §3: the element's only child, no text beside it but whitespace). Any other child element
// makes the value invalid (a base64Binary has no element content), as does anything beside an
// xop:Include. It fails only when the token stream is malformed.
func (b *Base64) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error { return b.read(d, false) }

// read is UnmarshalXML over any reader of the element's tokens; stable: the character data of
// its tokens stays valid after the next token is read (Tokens; not an encoding/xml Decoder).
func (b *Base64) read(d interface {
	Token() (xml.Token, error)
	Skip() error
}, stable bool) error {
	var text []byte
	include, hasInclude, bad, owned := "", false, false, !stable
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch e := t.(type) {
		case xml.CharData:
			text, owned = joinText(text, e, owned)
		case xml.StartElement:
			if e.Name.Space == NSXOP && e.Name.Local == "Include" && !hasInclude {
				hasInclude = true
				for _, a := range e.Attr {
					if a.Name.Space == "" && a.Name.Local == "href" {
						include = a.Value
					}
				}
				// XOP 1.0 §3: the receiver ignores children of xop:Include (extensions).
			} else {
				bad = true
			}
			if err := d.Skip(); err != nil {
				return err
			}
		case xml.EndElement:
			switch {
			case bad, hasInclude && (include == "" || len(bytes.TrimSpace(text)) > 0):
				*b = Base64{invalid: true}
			case hasInclude:
				*b = Base64{Include: include}
			case owned:
				b.decode(stripSpace(text))
			default:
				b.decodeShared(text)
			}
			return nil
		}
	}
}

// UnmarshalText implements encoding.TextUnmarshaler. It never returns an error; see Valid.
func (b *Base64) UnmarshalText(text []byte) error {
	b.decode(stripSpace(append(make([]byte, 0, len(text)), text...)))
	return nil
}

// stripSpace removes XML whitespace from text, in place.
func stripSpace(text []byte) []byte {
	clean := text[:0]
	for _, c := range text {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	return clean
}

// decode sets b to the standard base64 clean decodes to (invalid when it does not).
func (b *Base64) decode(clean []byte) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		*b = Base64{invalid: true}
		return
	}
	*b = Base64{Bytes: out[:n]}
}

// decodeShared is decode(stripSpace(text)) for text that is not ours to change: text with
// line breaks but no spaces or tabs is decoded where it is (base64.StdEncoding ignores \r
// and \n wherever they are), which saves copying a document's text once more.
func (b *Base64) decodeShared(text []byte) {
	if bytes.IndexByte(text, ' ') >= 0 || bytes.IndexByte(text, '\t') >= 0 {
		b.decode(stripSpace(append(make([]byte, 0, len(text)), text...)))
		return
	}
	b.decode(text)
}

// Valid reports whether the text decoded as standard base64 (or the value was resolved from
// an attachment): false for an xop:Include left unresolved.
func (b *Base64) Valid() bool { return b != nil && !b.invalid && b.Include == "" }

// problem says why Valid is false, for messages.
func (b *Base64) problem() string {
	if b != nil && b.Include != "" {
		return "holds an xop:Include, which only an MTOM message (multipart/related; type=\"application/xop+xml\") can resolve"
	}
	return "is not valid base64"
}
