package xmlsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
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
	b []byte
	// s is b as a string, made once: names, attribute values and (with strs) text are
	// substrings of it, so a token costs no allocation of its own. Whatever keeps one of them
	// (the tree Parse builds, the tokens of Tokens) keeps the whole input alive.
	s string
	// own, when not nil, is a private copy of b (Tokens): the bytes of text, comments and
	// processing instructions are slices of it, unescaped in place, so they may be kept.
	own []byte
	// strs sets token.str for text, comments and processing instructions (Parse).
	strs      bool
	i         int
	pendClose xml.Name // the end element of an empty tag, returned next when closing is set
	closing   bool
	buf       []byte     // unescaped text or value, valid until the next token
	attr      []xml.Attr // the attributes of the last start tag
}

// tokenMode says what fastTokens makes of text: for Check nothing beyond the bytes, for Parse
// strings (modeStrings), for Tokens bytes that may be kept (modeOwn).
type tokenMode int

const (
	modeCheck tokenMode = iota
	modeStrings
	modeOwn
)

func newFastTokens(b []byte, mode tokenMode) *fastTokens {
	f := new(fastTokens)
	f.start(b, mode)
	return f
}

// start prepares f to read b from its start, keeping its scratch memory.
func (f *fastTokens) start(b []byte, mode tokenMode) {
	*f = fastTokens{b: b, s: string(b), strs: mode == modeStrings, buf: f.buf[:0], attr: f.attr[:0]}
	if mode == modeOwn {
		f.own = bytes.Clone(b)
	}
}

var errFallback = errors.New("xmlsafe: input needs the encoding/xml tokenizer")

// next reads the next token into t and returns the offsets of its bytes, io.EOF at the end,
// or errFallback. What t holds is valid until the next call (as RawToken's tokens), except
// strings and owned bytes, which stay.
func (f *fastTokens) next(t *token) (int64, int64, error) {
	start := int64(f.i)
	if f.closing {
		f.closing = false
		*t = token{kind: tokEnd, name: f.pendClose}
		return start, start, nil
	}
	if f.i >= len(f.b) {
		return start, start, io.EOF
	}
	if f.b[f.i] != '<' {
		j := bytes.IndexByte(f.b[f.i:], '<')
		if j < 0 {
			j = len(f.b) - f.i
		}
		raw := f.b[f.i : f.i+j]
		amp, cr, bracket := scanText(raw)
		if bracket && bytes.Contains(raw, []byte("]]>")) {
			return 0, 0, errFallback
		}
		if !f.text(t, f.i, f.i+j, amp, cr) {
			return 0, 0, errFallback
		}
		f.i += j
		return start, int64(f.i), nil
	}
	if f.i+1 >= len(f.b) {
		return 0, 0, errFallback
	}
	rest := f.b[f.i:]
	switch f.b[f.i+1] {
	case '/':
		k := f.i + 2
		name, n, ok := f.nsName(k)
		if !ok {
			return 0, 0, errFallback
		}
		k = skipSpace(f.b, k+n)
		if k >= len(f.b) || f.b[k] != '>' {
			return 0, 0, errFallback
		}
		f.i = k + 1
		*t = token{kind: tokEnd, name: name}
		return start, int64(f.i), nil
	case '!':
		return f.bang(t, start, rest)
	case '?':
		return f.procInst(t, start)
	}
	return f.startTag(t, start)
}

// bang reads a comment or a CDATA section (rest starts with "<!").
func (f *fastTokens) bang(t *token, start int64, rest []byte) (int64, int64, error) {
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		body := f.i + 4
		end := bytes.Index(f.b[body:], []byte("--"))
		if end < 0 || body+end+2 >= len(f.b) || f.b[body+end+2] != '>' {
			return 0, 0, errFallback
		}
		f.verbatim(t, tokComment, body, body+end)
		f.i = body + end + 3
		return start, int64(f.i), nil
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		body := f.i + len("<![CDATA[")
		end := bytes.Index(f.b[body:], []byte("]]>"))
		if end < 0 {
			return 0, 0, errFallback
		}
		f.text(t, body, body+end, false, bytes.IndexByte(f.b[body:body+end], '\r') >= 0) // never false without references
		f.i = body + end + 3
		return start, int64(f.i), nil
	}
	return 0, 0, errFallback // DOCTYPE and other declarations
}

// procInst reads a processing instruction (at "<?").
func (f *fastTokens) procInst(t *token, start int64) (int64, int64, error) {
	k := f.i + 2
	n, ok := fastName(f.b[k:])
	if !ok {
		return 0, 0, errFallback
	}
	target := f.s[k : k+n]
	k = skipSpace(f.b, k+n)
	end := bytes.Index(f.b[k:], []byte("?>"))
	if end < 0 {
		return 0, 0, errFallback
	}
	if target == "xml" && (f.i != 0 || parseDecl(f.s[f.i+5:k+end]) != "") {
		// encoding/xml checks the version and encoding of a declaration: let it read this one
		// token, and give up where it refuses. A declaration at the start that the gate's
		// stricter parseDecl accepts names version 1.0 and UTF-8, or neither, for encoding/xml's
		// reading too (its values can hold no "="): it needs no second look.
		d := newStdTokens(f.b[f.i : k+end+2])
		if _, err := d.raw(); err != nil {
			return 0, 0, errFallback
		}
	}
	f.verbatim(t, tokProcInst, k, k+end)
	t.name = xml.Name{Local: target}
	f.i = k + end + 2
	return start, int64(f.i), nil
}

// verbatim sets t to a token of kind made of the bytes b[i:j] as they are (a comment, the
// instruction of a processing instruction, text that needs no unescaping).
func (f *fastTokens) verbatim(t *token, kind tokKind, i, j int) {
	*t = token{kind: kind}
	if f.own != nil {
		t.data, t.owned = f.own[i:j:j], true
	} else {
		t.data = f.b[i:j]
	}
	if f.strs {
		t.str, t.hasStr = f.s[i:j], true
	}
}

// text sets t to a text token made of the bytes b[i:j], unescaped as unescape says (refs:
// they hold a '&' to resolve, cr: a CR to normalize); false when they cannot be.
func (f *fastTokens) text(t *token, i, j int, refs, cr bool) bool {
	if !refs && !cr {
		f.verbatim(t, tokText, i, j)
		return true
	}
	raw := f.b[i:j]
	*t = token{kind: tokText}
	dst := f.buf[:0]
	if f.own != nil {
		dst = f.own[i:i] // the result is never longer than raw: unescaped in place
	}
	out, ok := unescape(dst, raw, refs)
	if !ok {
		return false
	}
	if f.own != nil {
		t.data, t.owned = out[:len(out):len(out)], true
	} else {
		f.buf = out
		t.data = out
	}
	if f.strs {
		t.str, t.hasStr = string(out), true
	}
	return true
}

func (f *fastTokens) startTag(t *token, start int64) (int64, int64, error) {
	k := f.i + 1
	name, n, ok := f.nsName(k)
	if !ok {
		return 0, 0, errFallback
	}
	k += n
	clear(f.attr) // drop the strings of the last tag
	f.attr = f.attr[:0]
	for {
		k = skipSpace(f.b, k)
		if k >= len(f.b) {
			return 0, 0, errFallback
		}
		switch f.b[k] {
		case '/':
			if k+1 >= len(f.b) || f.b[k+1] != '>' {
				return 0, 0, errFallback
			}
			f.i = k + 2
			f.pendClose, f.closing = name, true
			*t = token{kind: tokStart, name: name, attr: f.attr}
			return start, int64(f.i), nil
		case '>':
			f.i = k + 1
			*t = token{kind: tokStart, name: name, attr: f.attr}
			return start, int64(f.i), nil
		}
		aname, n, ok := f.nsName(k)
		if !ok {
			return 0, 0, errFallback
		}
		k = skipSpace(f.b, k+n)
		if k >= len(f.b) || f.b[k] != '=' {
			return 0, 0, errFallback
		}
		k = skipSpace(f.b, k+1)
		if k >= len(f.b) || f.b[k] != '"' && f.b[k] != '\'' {
			return 0, 0, errFallback
		}
		q := f.b[k]
		end := bytes.IndexByte(f.b[k+1:], q)
		if end < 0 {
			return 0, 0, errFallback
		}
		raw := f.b[k+1 : k+1+end]
		if bytes.IndexByte(raw, '<') >= 0 {
			return 0, 0, errFallback
		}
		var v string
		if amp, cr, _ := scanText(raw); !amp && !cr {
			v = f.s[k+1 : k+1+end]
		} else {
			out, ok := unescape(f.buf[:0], raw, true)
			if !ok {
				return 0, 0, errFallback
			}
			f.buf = out
			v = string(out)
		}
		f.attr = append(f.attr, xml.Attr{Name: aname, Value: v})
		k += end + 2
	}
}

// scanText reports whether raw holds a '&', a CR, a ']'. Short texts (most of them, between
// tags) are read in one loop, long ones with a vectorized search for each byte.
func scanText(raw []byte) (amp, cr, bracket bool) {
	if len(raw) > 64 {
		return bytes.IndexByte(raw, '&') >= 0, bytes.IndexByte(raw, '\r') >= 0, bytes.IndexByte(raw, ']') >= 0
	}
	for _, c := range raw {
		switch c {
		case '&':
			amp = true
		case '\r':
			cr = true
		case ']':
			bracket = true
		}
	}
	return amp, cr, bracket
}

// unescape appends to dst the text or attribute value raw decoded as encoding/xml's text
// does: with references, the five predefined entities and character references to XML 1.0
// characters (false for anything else); always, CR LF and CR read as LF (a CDATA section has
// no references). The result is never longer than raw, and dst may be raw's own bytes (or a
// copy of them at the same place): every byte is written at or before the one it comes from.
func unescape(dst, raw []byte, references bool) ([]byte, bool) {
	out := dst
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

// nsName reads the name at b[k:] and splits it as encoding/xml's nsname does, into
// substrings of s; false for a name it leaves to encoding/xml (non-ASCII, two colons, a colon
// at either end).
func (f *fastTokens) nsName(k int) (xml.Name, int, bool) {
	n, ok := fastName(f.b[k:])
	if !ok {
		return xml.Name{}, 0, false
	}
	s := f.s[k : k+n]
	i := strings.IndexByte(s, ':')
	switch {
	case i < 0:
		return xml.Name{Local: s}, n, true
	case i == 0 || i == n-1 || strings.IndexByte(s[i+1:], ':') >= 0:
		return xml.Name{}, 0, false
	}
	return xml.Name{Space: s[:i], Local: s[i+1:]}, n, true
}
