package xmlsafe

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// Charset is the character encoding of a document, as its byte order mark and XML declaration
// name it (XML 1.0 §4.3.3 and Appendix F). Documents to sign and verify may use UTF-8, UTF-16
// with its byte order mark, US-ASCII, ISO-8859-1 to 10 and 13 to 15, and windows-1250 to 1258;
// SOAP envelopes and DSS messages are UTF-8 only. The zero value is UTF-8.
type Charset struct {
	label string            // the label of the declaration, as written; "" for UTF-8
	enc   encoding.Encoding // nil for UTF-8 and US-ASCII
	bom   []byte            // UTF-16: the byte order mark of the input
	ascii bool
}

// IsUTF8 reports whether c is UTF-8 (the bytes are used as they are).
func (c Charset) IsUTF8() bool { return c.enc == nil && !c.ascii }

// String returns the label of the declaration ("UTF-8" for UTF-8).
func (c Charset) String() string {
	if c.IsUTF8() {
		return "UTF-8"
	}
	if c.label == "" && c.bom != nil {
		return "UTF-16"
	}
	return c.label
}

// singleByte are the single-byte encodings accepted, as x/text implements them.
var singleByte = []*charmap.Charmap{
	charmap.ISO8859_1, charmap.ISO8859_2, charmap.ISO8859_3, charmap.ISO8859_4, charmap.ISO8859_5,
	charmap.ISO8859_6, charmap.ISO8859_7, charmap.ISO8859_8, charmap.ISO8859_9, charmap.ISO8859_10,
	charmap.ISO8859_13, charmap.ISO8859_14, charmap.ISO8859_15,
	charmap.Windows1250, charmap.Windows1251, charmap.Windows1252, charmap.Windows1253,
	charmap.Windows1254, charmap.Windows1255, charmap.Windows1256, charmap.Windows1257,
	charmap.Windows1258,
}

func encErr(off int64, format string, args ...any) error {
	return &Error{Reason: ReasonEncoding, Offset: off, Detail: fmt.Sprintf(format, args...)}
}

// DetectCharset returns the encoding of b from its byte order mark and XML declaration, or an
// *Error (ReasonEncoding) naming an encoding that is not supported or that the byte order mark
// contradicts. It does not check the bytes themselves (Decode does).
func DetectCharset(b []byte) (Charset, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFE, 0xFF}), bytes.HasPrefix(b, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return Charset{}, encErr(0, "utf-32 is not supported; use utf-8, utf-16 or a single-byte encoding")
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}), bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		end := unicode.BigEndian
		if b[0] == 0xFF {
			end = unicode.LittleEndian
		}
		c := Charset{enc: unicode.UTF16(end, unicode.IgnoreBOM), bom: b[:2:2]}
		// The declaration, if any, is read from the decoded start of the document.
		head := b[2:min(len(b), 2+2*maxDeclBytes)]
		head = head[:len(head)&^1]
		dec, err := c.enc.NewDecoder().Bytes(head)
		if err != nil {
			return Charset{}, encErr(2, "invalid utf-16")
		}
		label, ok := declaredEncoding(dec)
		if ok {
			c.label = label
			if !strings.EqualFold(label, "UTF-16") && !(end == unicode.BigEndian && strings.EqualFold(label, "UTF-16BE")) &&
				!(end == unicode.LittleEndian && strings.EqualFold(label, "UTF-16LE")) {
				return Charset{}, encErr(2, "the byte order mark says utf-16, the xml declaration says %s", clip(label))
			}
		}
		return c, nil
	case bytes.HasPrefix(b, []byte{0x3C, 0x00}), bytes.HasPrefix(b, []byte{0x00, 0x3C}):
		return Charset{}, encErr(0, "utf-16 without a byte order mark is not accepted")
	}
	bom := bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	if bom {
		b = b[3:]
	}
	label, ok := declaredEncoding(b)
	if !ok || strings.EqualFold(label, "UTF-8") {
		return Charset{}, nil // the gate checks the bytes and the rest of the declaration
	}
	if bom {
		return Charset{}, encErr(3, "the byte order mark says utf-8, the xml declaration says %s", clip(label))
	}
	if strings.HasPrefix(strings.ToUpper(label), "UTF-16") {
		return Charset{}, encErr(0, "encoding %s declared without a utf-16 byte order mark", clip(label))
	}
	e, err := ianaindex.IANA.Encoding(label)
	if err == nil && e != nil {
		if name, _ := ianaindex.IANA.Name(e); name == "US-ASCII" {
			return Charset{label: label, ascii: true}, nil
		}
		for _, cm := range singleByte {
			if e == encoding.Encoding(cm) {
				return Charset{label: label, enc: cm}, nil
			}
		}
	}
	return Charset{}, encErr(0, "encoding %s is not supported; use utf-8, utf-16, us-ascii, iso-8859-1 to 15 or windows-1250 to 1258", clip(label))
}

// maxDeclBytes bounds the search for the end of an XML declaration.
const maxDeclBytes = 512

// declaredEncoding returns the encoding pseudo-attribute of the XML declaration at the start
// of b (ASCII-compatible bytes); false when there is no declaration or no encoding in it, or the
// declaration is malformed (the gate reports that).
func declaredEncoding(b []byte) (string, bool) {
	s, e, ok := declEncodingSpan(b)
	if !ok {
		return "", false
	}
	return string(b[s:e]), true
}

// declEncodingSpan returns the offsets in b of the value of the encoding pseudo-attribute of
// the XML declaration at the start of b.
func declEncodingSpan(b []byte) (int, int, bool) {
	if !bytes.HasPrefix(b, []byte("<?xml")) || len(b) < 6 || !isSpaceByte(b[5]) {
		return 0, 0, false
	}
	end := bytes.Index(b[:min(len(b), maxDeclBytes)], []byte("?>"))
	if end < 0 {
		return 0, 0, false
	}
	s, e, msg := scanDecl(string(b[5:end]))
	if msg != "" || s < 0 {
		return 0, 0, false
	}
	return 5 + s, 5 + e, true
}

// Decode returns b as UTF-8, and its encoding. UTF-8 input is returned as it is (the gate
// checks it). Other input is transcoded with golang.org/x/text; every byte must be a character
// of the declared encoding (a byte that is not, a byte above 0x7F in US-ASCII, an unpaired
// utf-16 surrogate: an *Error naming the encoding), and the encoding pseudo-attribute of the
// declaration becomes UTF-8 in the result, so the result is a UTF-8 document with the same
// characters. Charset.Encode turns such a document back into the original encoding.
func Decode(b []byte) ([]byte, Charset, error) {
	c, err := DetectCharset(b)
	if err != nil || c.IsUTF8() {
		return b, c, err
	}
	var out []byte
	switch {
	case c.ascii:
		for i, x := range b {
			if x >= utf8.RuneSelf {
				return nil, c, encErr(int64(i), "byte 0x%02X is not %s", x, clip(c.label))
			}
		}
		out = bytes.Clone(b)
	case c.bom != nil:
		body := b[2:]
		if len(body)%2 != 0 {
			return nil, c, encErr(int64(len(b)-1), "utf-16 input of odd length")
		}
		out, err = c.enc.NewDecoder().Bytes(body)
		if err != nil {
			return nil, c, encErr(2, "invalid utf-16")
		}
		if i := bytes.Index(out, []byte("\uFFFD")); i >= 0 && !hasUTF16FFFD(body, c.bom[0] == 0xFE) {
			return nil, c, encErr(2, "invalid utf-16 (an unpaired surrogate)")
		}
	default:
		cm := c.enc.(*charmap.Charmap)
		out, err = cm.NewDecoder().Bytes(b)
		if err != nil {
			return nil, c, encErr(0, "not %s", clip(c.label))
		}
		if bytes.Contains(out, []byte("\uFFFD")) {
			for i, x := range b {
				if cm.DecodeByte(x) == utf8.RuneError {
					return nil, c, encErr(int64(i), "byte 0x%02X is not a character in %s", x, clip(c.label))
				}
			}
		}
	}
	if s, e, ok := declEncodingSpan(out); ok {
		out = append(out[:s:s], append([]byte("UTF-8"), out[e:]...)...)
	}
	return out, c, nil
}

func hasUTF16FFFD(b []byte, bigEndian bool) bool {
	for i := 0; i+1 < len(b); i += 2 {
		if bigEndian && b[i] == 0xFF && b[i+1] == 0xFD || !bigEndian && b[i] == 0xFD && b[i+1] == 0xFF {
			return true
		}
	}
	return false
}

// Encode turns doc, a UTF-8 document produced from a document Decode returned with c (for
// example the same document with a signature inserted), back into c: the encoding
// pseudo-attribute of its declaration names c's label again, characters c cannot hold become
// character references (&#N;), and a UTF-16 document gets its byte order mark back. For UTF-8
// doc is returned as it is. Only text and attribute values may hold such characters: names,
// comments and processing instructions come from the original document, which c could hold.
func (c Charset) Encode(doc []byte) ([]byte, error) {
	if c.IsUTF8() {
		return doc, nil
	}
	if s, e, ok := declEncodingSpan(doc); ok && c.label != "" {
		doc = append(doc[:s:s], append([]byte(c.label), doc[e:]...)...)
	}
	switch {
	case c.ascii:
		out := make([]byte, 0, len(doc))
		for _, r := range string(doc) {
			if r < utf8.RuneSelf {
				out = append(out, byte(r))
				continue
			}
			out = append(out, "&#"...)
			out = strconv.AppendInt(out, int64(r), 10)
			out = append(out, ';')
		}
		return out, nil
	case c.bom != nil:
		out, err := c.enc.NewEncoder().Bytes(doc)
		if err != nil {
			return nil, fmt.Errorf("xmlsafe: encoding as utf-16: %w", err)
		}
		return append(bytes.Clone(c.bom), out...), nil
	}
	out, err := encoding.HTMLEscapeUnsupported(c.enc.NewEncoder()).Bytes(doc)
	if err != nil {
		return nil, fmt.Errorf("xmlsafe: encoding as %s: %w", c.label, err)
	}
	return out, nil
}
