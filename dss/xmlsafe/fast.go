package xmlsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// fastTokens reads the tokens encoding/xml's Decoder.RawToken reads (Strict, no Entity map,
// no CharsetReader), with the same byte offsets, for the plain XML that messages and business
// documents are made of: ASCII names, the five predefined entities and character references,
// comments, processing instructions, CDATA sections, start, end and empty tags, text. It finds markup with
// bytes.IndexByte where encoding/xml reads one byte at a time through an interface, which made
// the gate's pass over a message mostly tokenizing.
//
// Anything else — a non-ASCII name, a <! declaration, an entity or reference
// that is not plainly valid, a name with a colon at either end or two colons, a declaration
// that is not at the start, an error of any kind, the end of the input inside markup — makes it
// give up with errFallback before the gate has decided anything, and the gate tokenizes the
// whole input again with encoding/xml, which then decides. So every verdict on unusual input
// stays encoding/xml's, and FuzzFastTokens checks that every token fastTokens returns is the
// token RawToken returns at that point (tokens and offsets), whether it reads to the end or gives
// up. Like the rest of the gate's pass it runs after checkChars, so every byte is UTF-8 made of
// XML 1.0 characters.
type fastTokens struct {
	b         []byte
	i         int
	pendClose xml.Name // the end element of an empty tag, returned next when closing is set
	closing   bool
	buf       []byte
}

var errFallback = errors.New("xmlsafe: input needs the encoding/xml tokenizer")

// next returns the next token and the offsets of its bytes, io.EOF at the end, or errFallback.
// The token's byte slices alias the tokenizer's buffer until the next call (as RawToken's do).
func (f *fastTokens) next() (xml.Token, int64, int64, error) {
	start := int64(f.i)
	if f.closing {
		f.closing = false
		return xml.EndElement{Name: f.pendClose}, start, start, nil
	}
	if f.i >= len(f.b) {
		return nil, start, start, io.EOF
	}
	if f.b[f.i] != '<' {
		j := bytes.IndexByte(f.b[f.i:], '<')
		if j < 0 {
			j = len(f.b) - f.i
		}
		raw := f.b[f.i : f.i+j]
		if bytes.Contains(raw, []byte("]]>")) {
			return nil, 0, 0, errFallback
		}
		text, ok := f.unescape(raw, true)
		if !ok {
			return nil, 0, 0, errFallback
		}
		f.i += j
		return xml.CharData(text), start, int64(f.i), nil
	}
	rest := f.b[f.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("</")):
		k := f.i + 2
		name, n, ok := fastNSName(f.b[k:])
		if !ok {
			return nil, 0, 0, errFallback
		}
		k = skipSpace(f.b, k+n)
		if k >= len(f.b) || f.b[k] != '>' {
			return nil, 0, 0, errFallback
		}
		f.i = k + 1
		return xml.EndElement{Name: name}, start, int64(f.i), nil
	case bytes.HasPrefix(rest, []byte("<!--")):
		body := f.i + 4
		end := bytes.Index(f.b[body:], []byte("--"))
		if end < 0 || body+end+2 >= len(f.b) || f.b[body+end+2] != '>' {
			return nil, 0, 0, errFallback
		}
		f.i = body + end + 3
		return xml.Comment(f.b[body : body+end]), start, int64(f.i), nil
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		body := f.i + len("<![CDATA[")
		end := bytes.Index(f.b[body:], []byte("]]>"))
		if end < 0 {
			return nil, 0, 0, errFallback
		}
		text, _ := f.unescape(f.b[body:body+end], false)
		f.i = body + end + 3
		return xml.CharData(text), start, int64(f.i), nil
	case bytes.HasPrefix(rest, []byte("<!")):
		return nil, 0, 0, errFallback // DOCTYPE and other declarations
	case bytes.HasPrefix(rest, []byte("<?")):
		k := f.i + 2
		n, ok := fastName(f.b[k:])
		if !ok {
			return nil, 0, 0, errFallback
		}
		target := string(f.b[k : k+n])
		k = skipSpace(f.b, k+n)
		end := bytes.Index(f.b[k:], []byte("?>"))
		if end < 0 {
			return nil, 0, 0, errFallback
		}
		if target == "xml" {
			// encoding/xml checks the version and encoding of a declaration: let it read this
			// one token, and give up where it refuses.
			d := newStdTokens(f.b[f.i : k+end+2])
			if _, _, _, err := d.next(); err != nil {
				return nil, 0, 0, errFallback
			}
		}
		f.i = k + end + 2
		return xml.ProcInst{Target: target, Inst: f.b[k : k+end]}, start, int64(f.i), nil
	}
	return f.startTag(start)
}

func (f *fastTokens) startTag(start int64) (xml.Token, int64, int64, error) {
	k := f.i + 1
	name, n, ok := fastNSName(f.b[k:])
	if !ok {
		return nil, 0, 0, errFallback
	}
	k += n
	t := xml.StartElement{Name: name, Attr: []xml.Attr{}}
	for {
		k = skipSpace(f.b, k)
		if k >= len(f.b) {
			return nil, 0, 0, errFallback
		}
		switch f.b[k] {
		case '/':
			if k+1 >= len(f.b) || f.b[k+1] != '>' {
				return nil, 0, 0, errFallback
			}
			f.i = k + 2
			f.pendClose, f.closing = t.Name, true
			return t, start, int64(f.i), nil
		case '>':
			f.i = k + 1
			return t, start, int64(f.i), nil
		}
		aname, n, ok := fastNSName(f.b[k:])
		if !ok {
			return nil, 0, 0, errFallback
		}
		k = skipSpace(f.b, k+n)
		if k >= len(f.b) || f.b[k] != '=' {
			return nil, 0, 0, errFallback
		}
		k = skipSpace(f.b, k+1)
		if k >= len(f.b) || f.b[k] != '"' && f.b[k] != '\'' {
			return nil, 0, 0, errFallback
		}
		q := f.b[k]
		end := bytes.IndexByte(f.b[k+1:], q)
		if end < 0 {
			return nil, 0, 0, errFallback
		}
		raw := f.b[k+1 : k+1+end]
		if bytes.IndexByte(raw, '<') >= 0 {
			return nil, 0, 0, errFallback
		}
		v, ok := f.unescape(raw, true)
		if !ok {
			return nil, 0, 0, errFallback
		}
		t.Attr = append(t.Attr, xml.Attr{Name: aname, Value: string(v)})
		k += end + 2
	}
}

// unescape decodes text or an attribute value as encoding/xml's text does: with references,
// the five predefined entities and character references to XML 1.0 characters (false for
// anything else); always, CR LF and CR read as LF (a CDATA section has no references). The
// result aliases f.buf or raw.
func (f *fastTokens) unescape(raw []byte, references bool) ([]byte, bool) {
	if (!references || bytes.IndexByte(raw, '&') < 0) && bytes.IndexByte(raw, '\r') < 0 {
		return raw, true
	}
	out := f.buf[:0]
	for k := 0; k < len(raw); k++ {
		c := raw[k]
		switch {
		case c == '&' && references:
			end := bytes.IndexByte(raw[k:], ';')
			if end < 0 {
				return nil, false
			}
			r, ok := ResolveReference(raw[k+1 : k+end])
			if !ok {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
			k += end
		case c == '\r':
			out = append(out, '\n')
			if k+1 < len(raw) && raw[k+1] == '\n' {
				k++
			}
		default:
			out = append(out, c)
		}
	}
	f.buf = out
	return out, true
}

// ResolveReference resolves the name between '&' and ';' of a predefined entity (amp, lt, gt,
// apos, quot) or of a character reference written as encoding/xml reads it (decimal, or
// hexadecimal after a lower-case x) to an XML 1.0 character; false for anything else.
func ResolveReference(name []byte) (rune, bool) {
	switch string(name) {
	case "amp":
		return '&', true
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(digits), base, 32) // no sign, no underscores at base 10 or 16
	if err != nil || !IsChar(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// fastName returns the length of the ASCII XML name at the start of b; false when there is
// none or it runs into a non-ASCII byte (encoding/xml decides those).
func fastName(b []byte) (int, bool) {
	n := 0
	for n < len(b) {
		c := b[n]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == ':':
		case n > 0 && ('0' <= c && c <= '9' || c == '.' || c == '-'):
		case c >= 0x80:
			return 0, false
		default:
			return n, n > 0
		}
		n++
	}
	return n, n > 0
}

// fastNSName reads a name and splits it as encoding/xml's nsname does; false for a name it
// leaves to encoding/xml (non-ASCII, two colons, a colon at either end).
func fastNSName(b []byte) (xml.Name, int, bool) {
	n, ok := fastName(b)
	if !ok {
		return xml.Name{}, 0, false
	}
	s := b[:n]
	i := bytes.IndexByte(s, ':')
	switch {
	case i < 0:
		return xml.Name{Local: string(s)}, n, true
	case i == 0 || i == n-1 || bytes.IndexByte(s[i+1:], ':') >= 0:
		return xml.Name{}, 0, false
	}
	full := string(s) // one allocation, as encoding/xml makes
	return xml.Name{Space: full[:i], Local: full[i+1:]}, n, true
}
