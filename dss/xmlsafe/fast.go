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
	// strs sets token.str for text, comments and processing instructions (Parse).
	strs bool
	// keep (Tokens): the bytes of text, comments and processing instructions may be kept:
	// slices of b, or of arena where text had to be unescaped.
	keep      bool
	arena     []byte
	i         int
	pendClose xml.Name // the end element of an empty tag, returned next when closing is set
	closing   bool
	buf       []byte     // unescaped text or value, valid until the next token
	attr      []xml.Attr // the attributes of the last start tag
}

// tokenMode says what fastTokens makes of text: for Check nothing beyond the bytes, for Parse
// strings (modeStrings), for Tokens bytes that may be kept (modeKeep).
type tokenMode int

const (
	modeCheck tokenMode = iota
	modeStrings
	modeKeep
)

func newFastTokens(b []byte, mode tokenMode) *fastTokens {
	f := new(fastTokens)
	f.start(b, mode)
	return f
}

// start prepares f to read b from its start, keeping its scratch memory.
func (f *fastTokens) start(b []byte, mode tokenMode) {
	*f = fastTokens{b: b, s: string(b), strs: mode == modeStrings, keep: mode == modeKeep,
		buf: f.buf[:0], attr: f.attr[:0]}
}

var errFallback = errors.New("xmlsafe: input needs the encoding/xml tokenizer")

// next returns the next token and the offsets of its bytes, io.EOF at the end, or
// errFallback. What the token holds is valid until the next call (as RawToken's tokens),
// except strings and owned bytes, which stay. Tokens are returned by value, not written
// through a pointer, which would cost write barriers while the GC runs.
func (f *fastTokens) next() (token, int64, int64, error) {
	start := int64(f.i)
	if f.closing {
		f.closing = false
		return token{kind: tokEnd, name: f.pendClose}, start, start, nil
	}
	if f.i >= len(f.b) {
		return token{}, start, start, io.EOF
	}
	if f.b[f.i] != '<' {
		j := bytes.IndexByte(f.b[f.i:], '<')
		if j < 0 {
			j = len(f.b) - f.i
		}
		raw := f.b[f.i : f.i+j]
		amp, cr, bracket := scanText(raw)
		if bracket && bytes.Contains(raw, []byte("]]>")) {
			return token{}, 0, 0, errFallback
		}
		t, ok := f.text(f.i, f.i+j, amp, cr)
		if !ok {
			return token{}, 0, 0, errFallback
		}
		t.checked = true // every reference resolved to an XML 1.0 character
		f.i += j
		return t, start, int64(f.i), nil
	}
	if f.i+1 >= len(f.b) {
		return token{}, 0, 0, errFallback
	}
	switch f.b[f.i+1] {
	case '/':
		k := f.i + 2
		name, n, ok := f.nsName(k)
		if !ok {
			return token{}, 0, 0, errFallback
		}
		k = skipSpace(f.b, k+n)
		if k >= len(f.b) || f.b[k] != '>' {
			return token{}, 0, 0, errFallback
		}
		f.i = k + 1
		return token{kind: tokEnd, name: name}, start, int64(f.i), nil
	case '!':
		return f.bang(start)
	case '?':
		return f.procInst(start)
	}
	return f.startTag(start)
}

// bang reads a comment or a CDATA section (at "<!").
func (f *fastTokens) bang(start int64) (token, int64, int64, error) {
	rest := f.b[f.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		body := f.i + 4
		end := bytes.Index(f.b[body:], []byte("--"))
		if end < 0 || body+end+2 >= len(f.b) || f.b[body+end+2] != '>' {
			return token{}, 0, 0, errFallback
		}
		f.i = body + end + 3
		return f.verbatim(tokComment, body, body+end), start, int64(f.i), nil
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		body := f.i + len("<![CDATA[")
		end := bytes.Index(f.b[body:], []byte("]]>"))
		if end < 0 {
			return token{}, 0, 0, errFallback
		}
		t, _ := f.text(body, body+end, false, bytes.IndexByte(f.b[body:body+end], '\r') >= 0) // never false without references
		f.i = body + end + 3
		return t, start, int64(f.i), nil
	}
	return token{}, 0, 0, errFallback // DOCTYPE and other declarations
}

// procInst reads a processing instruction (at "<?").
func (f *fastTokens) procInst(start int64) (token, int64, int64, error) {
	k := f.i + 2
	n, ok := fastName(f.b[k:])
	if !ok {
		return token{}, 0, 0, errFallback
	}
	target := f.s[k : k+n]
	k = skipSpace(f.b, k+n)
	end := bytes.Index(f.b[k:], []byte("?>"))
	if end < 0 {
		return token{}, 0, 0, errFallback
	}
	if target == "xml" && (f.i != 0 || parseDecl(f.s[f.i+5:k+end]) != "") {
		// encoding/xml checks the version and encoding of a declaration: let it read this one
		// token, and give up where it refuses. A declaration at the start that the gate's
		// stricter parseDecl accepts names version 1.0 and UTF-8, or neither, for encoding/xml's
		// reading too (its values can hold no "="): it needs no second look.
		d := newStdTokens(f.b[f.i : k+end+2])
		if _, err := d.raw(); err != nil {
			return token{}, 0, 0, errFallback
		}
	}
	t := f.verbatim(tokProcInst, k, k+end)
	t.name = xml.Name{Local: target}
	f.i = k + end + 2
	return t, start, int64(f.i), nil
}

// verbatim returns a token of kind made of the bytes b[i:j] as they are (a comment, the
// instruction of a processing instruction, text that needs no unescaping).
func (f *fastTokens) verbatim(kind tokKind, i, j int) token {
	t := token{kind: kind, data: f.b[i:j:j], owned: f.keep}
	if f.strs {
		t.str, t.hasStr = f.s[i:j], true
	}
	return t
}

// text returns a text token made of the bytes b[i:j], unescaped as unescape says (refs: they
// hold a '&' to resolve, cr: a CR to normalize); false when they cannot be.
func (f *fastTokens) text(i, j int, refs, cr bool) (token, bool) {
	if !refs && !cr {
		return f.verbatim(tokText, i, j), true
	}
	dst := f.buf[:0]
	if f.keep {
		// The result is never longer than the raw bytes: it stays in the arena's room.
		if cap(f.arena)-len(f.arena) < j-i {
			f.arena = make([]byte, 0, max(j-i, 1024))
		}
		dst = f.arena[len(f.arena):len(f.arena)]
	}
	out, ok := unescape(dst, f.b[i:j], refs)
	if !ok {
		return token{}, false
	}
	t := token{kind: tokText}
	if f.keep {
		f.arena = f.arena[:len(f.arena)+len(out)]
		t.data, t.owned = out[:len(out):len(out)], true
	} else {
		f.buf = out
		t.data = out
	}
	if f.strs {
		t.str, t.hasStr = string(out), true
	}
	return t, true
}

func (f *fastTokens) startTag(start int64) (token, int64, int64, error) {
	k := f.i + 1
	name, n, ok := f.nsName(k)
	if !ok {
		return token{}, 0, 0, errFallback
	}
	k += n
	f.attr = f.attr[:0] // its strings stay until the next pass (pass.release clears them)
	checked := true     // no tab, LF or CR in a value: gate.checkTag has nothing to do
	for {
		k = skipSpace(f.b, k)
		if k >= len(f.b) {
			return token{}, 0, 0, errFallback
		}
		switch f.b[k] {
		case '/':
			if k+1 >= len(f.b) || f.b[k+1] != '>' {
				return token{}, 0, 0, errFallback
			}
			f.i = k + 2
			f.pendClose, f.closing = name, true
			return token{kind: tokStart, name: name, attr: f.attr, checked: checked}, start, int64(f.i), nil
		case '>':
			f.i = k + 1
			return token{kind: tokStart, name: name, attr: f.attr, checked: checked}, start, int64(f.i), nil
		}
		aname, n, ok := f.nsName(k)
		if !ok {
			return token{}, 0, 0, errFallback
		}
		k = skipSpace(f.b, k+n)
		if k >= len(f.b) || f.b[k] != '=' {
			return token{}, 0, 0, errFallback
		}
		k = skipSpace(f.b, k+1)
		if k >= len(f.b) || f.b[k] != '"' && f.b[k] != '\'' {
			return token{}, 0, 0, errFallback
		}
		// The value, up to the closing quote: no '<' in it, and a '&' or CR to decode. The
		// gate refuses a value not followed by whitespace or the end of the tag
		// (gate.checkTag): that is left to encoding/xml's reading.
		q, v, amp, cr := f.b[k], k+1, false, false
		for ; v < len(f.b) && f.b[v] != q; v++ {
			switch f.b[v] {
			case '<':
				return token{}, 0, 0, errFallback
			case '&':
				amp = true
			case '\r':
				cr, checked = true, false
			case '\t', '\n':
				checked = false
			}
		}
		if v+1 >= len(f.b) {
			return token{}, 0, 0, errFallback
		}
		switch f.b[v+1] {
		case ' ', '\t', '\n', '\r', '/', '>':
		default:
			return token{}, 0, 0, errFallback
		}
		value := f.s[k+1 : v]
		if amp || cr {
			out, ok := unescape(f.buf[:0], f.b[k+1:v], true)
			if !ok {
				return token{}, 0, 0, errFallback
			}
			f.buf = out
			value = string(out)
		}
		f.attr = append(f.attr, xml.Attr{Name: aname, Value: value})
		k = v + 1
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
// no references). The result is never longer than raw.
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

// Byte classes of ASCII XML names, for fastName.
const (
	nameStart = 1 + iota // may start a name (and continue it)
	nameChar             // may only continue a name
	nameNonASCII
)

var nameClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == ':':
			t[c] = nameStart
		case '0' <= c && c <= '9', c == '.', c == '-':
			t[c] = nameChar
		case c >= 0x80:
			t[c] = nameNonASCII
		}
	}
	return t
}()

// fastName returns the length of the ASCII XML name at the start of b; false when there is
// none or it runs into a non-ASCII byte (encoding/xml decides those).
func fastName(b []byte) (int, bool) {
	if len(b) == 0 || nameClass[b[0]] != nameStart {
		return 0, false
	}
	for n := 1; n < len(b); n++ {
		switch nameClass[b[n]] {
		case 0:
			return n, true
		case nameNonASCII:
			return 0, false
		}
	}
	return len(b), true
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
