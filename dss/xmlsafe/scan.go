package xmlsafe

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Namespace names fixed by Namespaces in XML 1.0 §3.
const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// stripBOM skips a UTF-8 byte order mark and refuses the UTF-16 and UTF-32 ones. It returns
// the rest of the input and its offset in b.
func stripBOM(b []byte) ([]byte, int64, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return b[3:], 3, nil
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}), bytes.HasPrefix(b, []byte{0xFF, 0xFE}),
		bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return nil, 0, &Error{Reason: ReasonEncoding, Detail: "utf-16 or utf-32 byte order mark; only utf-8 is accepted"}
	}
	return b, 0, nil
}

// IsChar reports whether r is an XML 1.0 Char (XML 1.0 §2.2).
func IsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// checkChars requires valid UTF-8 made of XML 1.0 characters everywhere, including comments
// and processing instructions, which encoding/xml does not inspect.
func checkChars(b []byte, base int64) error { return checkCharsContext(nil, b, base) }

// checkCharsContext is checkChars that stops when ctx is done (nil: never), asking it every
// CtxCheckBytes bytes.
func checkCharsContext(ctx context.Context, b []byte, base int64) error {
	next := 0
	for i := 0; i < len(b); {
		if i >= next {
			if err := ctxErr(ctx); err != nil {
				return err
			}
			next = i + CtxCheckBytes
		}
		// Sixteen, then eight ASCII bytes at a time, none of them a control character: no
		// byte has its high bit set, and none is below 0x20 (subtracting 0x20 from each byte
		// borrows only from one that is).
		const high, space = 0x8080808080808080, 0x2020202020202020
		end := min(next, len(b))
		for i+16 <= end {
			w, v := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:])
			if ((w|v)&high | (w-space)&^w&high | (v-space)&^v&high) != 0 {
				break
			}
			i += 16
		}
		if i+8 <= end {
			if w := binary.LittleEndian.Uint64(b[i:]); w&high == 0 && (w-space)&^w&high == 0 {
				i += 8
				continue
			}
		}
		if i >= end {
			continue
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return &Error{Reason: ReasonEncoding, Offset: base + int64(i),
					Detail: fmt.Sprintf("control character %U is not allowed in xml 1.0", rune(c))}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return &Error{Reason: ReasonEncoding, Offset: base + int64(i), Detail: "invalid utf-8"}
		}
		if !IsChar(r) {
			return &Error{Reason: ReasonEncoding, Offset: base + int64(i),
				Detail: fmt.Sprintf("character %U is not allowed in xml 1.0", r)}
		}
		i += size
	}
	return nil
}

// checkDecl validates the XML declaration at the start of b, if there is one:
// version="1.0", then optionally an encoding naming UTF-8, then optionally standalone.
func checkDecl(b []byte, base int64) error {
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return nil
	}
	if len(b) > 5 && (b[5] >= utf8.RuneSelf || isNameByte(b[5])) {
		return nil // a PI whose target only starts with xml, such as xml-stylesheet
	}
	// The target is exactly xml, so this is the declaration (encoding/xml ends the target at
	// the first byte that cannot be in a name, as in <?xml!?>).
	if len(b) == 5 || !isSpaceByte(b[5]) && b[5] != '?' {
		return &Error{Reason: ReasonEncoding, Offset: base, Detail: "malformed xml declaration"}
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 {
		return &Error{Reason: ReasonEncoding, Offset: base, Detail: "unterminated xml declaration"}
	}
	if msg := parseDecl(string(b[5:end])); msg != "" {
		return &Error{Reason: ReasonEncoding, Offset: base, Detail: msg}
	}
	return nil
}

// parseDecl checks the pseudo-attributes of an XML declaration (XML 1.0 §2.8, §4.3.3) and
// returns a client-safe message, or "" if they are acceptable. The gate reads UTF-8 only:
// documents in other encodings reach it through Decode, which names UTF-8 in the declaration.
func parseDecl(s string) string {
	es, ee, msg := scanDecl(s)
	if msg != "" {
		return msg
	}
	if es >= 0 && !strings.EqualFold(s[es:ee], "UTF-8") {
		return "encoding " + clip(s[es:ee]) + " refused here; only utf-8 is accepted"
	}
	return ""
}

// scanDecl checks the syntax of the pseudo-attributes of an XML declaration and returns the
// offsets of the encoding value (-1, -1 without one), or a client-safe message.
func scanDecl(s string) (encStart, encEnd int, msg string) {
	encStart, encEnd = -1, -1
	names := [...]string{"version", "encoding", "standalone"}
	next := 0
	i := 0
	for {
		j := skipSpace(s, i)
		if j == len(s) {
			break
		}
		if j == i {
			return -1, -1, "missing whitespace in the xml declaration"
		}
		k := j
		for k < len(s) && s[k] >= 'a' && s[k] <= 'z' {
			k++
		}
		name := s[j:k]
		idx := -1
		for n := next; n < len(names); n++ {
			if names[n] == name {
				idx = n
				break
			}
		}
		if idx < 0 {
			return -1, -1, "unknown, repeated or misplaced pseudo-attribute in the xml declaration"
		}
		if next == 0 && idx != 0 {
			return -1, -1, "the xml declaration must start with version"
		}
		i = skipSpace(s, k)
		if i >= len(s) || s[i] != '=' {
			return -1, -1, "malformed xml declaration"
		}
		i = skipSpace(s, i+1)
		if i >= len(s) || (s[i] != '"' && s[i] != '\'') {
			return -1, -1, "malformed xml declaration"
		}
		e := strings.IndexByte(s[i+1:], s[i])
		if e < 0 {
			return -1, -1, "malformed xml declaration"
		}
		val := s[i+1 : i+1+e]
		switch idx {
		case 0:
			if val != "1.0" {
				return -1, -1, "xml version " + clip(val) + " refused; only 1.0 is accepted"
			}
		case 1:
			if !isEncName(val) {
				return -1, -1, "malformed encoding name in the xml declaration"
			}
			encStart, encEnd = i+1, i+1+e
		case 2:
			if val != "yes" && val != "no" {
				return -1, -1, "standalone must be yes or no"
			}
		}
		i += e + 2
		next = idx + 1
	}
	if next == 0 {
		return -1, -1, "the xml declaration has no version"
	}
	return encStart, encEnd, ""
}

// isEncName reports whether s is an EncName (XML 1.0 §4.3.3): [A-Za-z] ([A-Za-z0-9._] | '-')*.
func isEncName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// skipSpace returns the index of the first byte at or after i that is not XML white space.
func skipSpace[T string | []byte](s T, i int) int {
	for i < len(s) && isSpaceByte(s[i]) {
		i++
	}
	return i
}

// isNameByte reports whether encoding/xml reads the ASCII byte c as part of a name.
func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// frame is an open element.
type frame struct {
	name   xml.Name // raw prefix and local name
	nsMark int      // gate.ns.Len() before this element's declarations
}

// gate holds the state of the tokenizing pass.
type gate struct {
	src      []byte
	base     int64
	lim      Limits
	depth    int
	elements int
	nodes    int64 // elements, attributes, text nodes, comments, processing instructions
	root     bool  // the root element has started
	closed   bool  // the root element has ended
	textRun  int64
	stack    []frame
	ns       Scope // the namespace declarations in scope
	rawSeen  map[xml.Name]struct{}
	expSeen  map[xml.Name]struct{}
}

// tokenize is the tokenizing pass: encoding/xml RawToken plus the element stack, namespace
// scopes, limits and placement rules that RawToken does not check. A token that passes is
// handed to sink.
// It returns the offset in b just after the root element's end tag.
func tokenize(ctx context.Context, b []byte, base int64, lim Limits, sink sink) (int64, error) {
	p := passPool.Get().(*pass)
	defer p.release()
	p.f.start(b, sink.mode())
	p.g.start(b, base, lim)
	rootEnd, err := tokenizeFrom(ctx, &p.f, nil, &p.g, sink)
	if err != errFallback {
		return rootEnd, err
	}
	sink.reset()
	p.g.start(b, base, lim)
	return tokenizeFrom(ctx, nil, newStdTokens(b), &p.g, sink)
}

// pass is the state of a tokenizing pass, kept in passPool between passes: the gate's stacks
// and maps and the scanner's scratch, which would otherwise be allocated and grown again for
// every input.
type pass struct {
	g gate
	f fastTokens
}

var passPool = sync.Pool{New: func() any { return new(pass) }}

// maxPooled bounds the capacity of a slice a pass keeps for the next one: an input that needed
// more (a long unescaped value, a deep or wide document) does not keep its memory in the pool.
const maxPooled = 1 << 12

// release forgets the input (no string of it stays in the pool) and returns p to passPool.
func (p *pass) release() {
	g, f := &p.g, &p.f
	g.src = nil
	g.stack = reuse(g.stack)
	g.ns.clear()
	clear(g.rawSeen)
	clear(g.expSeen)
	f.b, f.s, f.arena = nil, "", nil
	f.pendClose = xml.Name{}
	f.attr = reuse(f.attr)
	f.buf = reuse(f.buf)
	passPool.Put(p)
}

// reuse returns s emptied and cleared for the next pass, or nil when it is larger than a pass
// should keep.
func reuse[T any](s []T) []T {
	if cap(s) > maxPooled {
		return nil
	}
	clear(s[:cap(s)])
	return s[:0]
}

// tokKind is the kind of a token.
type tokKind uint8

const (
	tokStart tokKind = iota + 1
	tokEnd
	tokText // character data: text or a CDATA section
	tokComment
	tokProcInst
	tokDirective
)

// token is one raw token (what encoding/xml's RawToken returns) as the gate reads it, without
// the interface value and copies an xml.Token costs.
type token struct {
	kind tokKind
	name xml.Name   // start and end tags; the target of a processing instruction in Local
	attr []xml.Attr // start tags; the slice is reused by the next token, its strings stay
	data []byte     // text, comment, instruction, directive; valid until the next token unless owned
	str  string     // data as a string, when hasStr
	// hasStr: str is set; owned: data is not reused by the tokenizer and may be kept.
	hasStr, owned bool
	// checked: a start tag that fastTokens read whole, each value followed by whitespace or
	// the end of the tag, its references resolved to characters, no tab, LF or CR in a value
	// (gate.checkTag would find nothing to refuse or normalize); text whose references
	// fastTokens resolved to characters (gate.charData would find no bad one).
	checked bool
}

// string returns the token's data as a string (a copy only when the tokenizer made none).
func (t *token) string() string {
	if t.hasStr {
		return t.str
	}
	return string(t.data)
}

// stdTokens is encoding/xml's RawToken with the gate's settings.
type stdTokens struct{ dec *xml.Decoder }

func newStdTokens(b []byte) *stdTokens {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	dec.Entity = nil
	dec.CharsetReader = refuseCharset
	return &stdTokens{dec: dec}
}

// raw returns RawToken's next token.
func (s *stdTokens) raw() (xml.Token, error) { return s.dec.RawToken() }

func (s *stdTokens) next() (token, int64, int64, error) {
	start := s.dec.InputOffset()
	tok, err := s.raw()
	end := s.dec.InputOffset()
	if err != nil {
		return token{}, start, end, err
	}
	var t token
	switch x := tok.(type) {
	case xml.StartElement:
		t = token{kind: tokStart, name: x.Name, attr: x.Attr}
	case xml.EndElement:
		t = token{kind: tokEnd, name: x.Name}
	case xml.CharData:
		t = token{kind: tokText, data: x}
	case xml.Comment:
		t = token{kind: tokComment, data: x}
	case xml.ProcInst:
		t = token{kind: tokProcInst, name: xml.Name{Local: x.Target}, data: x.Inst}
	case xml.Directive:
		t = token{kind: tokDirective, data: x}
	}
	return t, start, end, nil
}

// start prepares g for a pass over b, keeping the memory of its stacks and maps.
func (g *gate) start(b []byte, base int64, lim Limits) {
	*g = gate{src: b, base: base, lim: lim,
		stack: g.stack[:0], ns: g.ns, rawSeen: g.rawSeen, expSeen: g.expSeen}
	g.ns.clear()
}

// tokenizeFrom runs the pass with the tokens of fast, or of std when fast is nil. The two are
// called directly, not through an interface, and return the token by value, so that it stays
// on the stack.
func tokenizeFrom(ctx context.Context, fast *fastTokens, std *stdTokens, g *gate, sink sink) (int64, error) {
	b := g.src
	rootEnd := int64(-1)
	for ntok := 0; ; ntok++ {
		if ctx != nil && ntok%CtxCheckTokens == 0 {
			if err := ctxErr(ctx); err != nil {
				return 0, err
			}
		}
		var t token
		var start, end int64
		var err error
		if fast != nil {
			t, start, end, err = fast.next()
		} else {
			t, start, end, err = std.next()
		}
		if err == io.EOF {
			break
		}
		if err == errFallback {
			return 0, err
		}
		if err != nil {
			return 0, g.decodeError(err, end)
		}
		switch t.kind {
		case tokStart:
			err = g.startElement(t.name, t.attr, t.checked, start, end)
		case tokEnd:
			err = g.endElement(t.name, start)
		case tokText:
			err = g.charData(t.data, t.checked, start, end)
		case tokComment:
			// Allowed everywhere; does not end a text run.
			err = g.node(start)
		case tokProcInst:
			err = g.procInst(t.name.Local, start)
			if err == nil {
				err = g.node(start)
			}
		case tokDirective:
			err = g.fail(ReasonDTD, start, DTDRefused)
		default:
			err = g.fail(ReasonMalformed, start, "unexpected token")
		}
		if err != nil {
			return 0, err
		}
		sink.add(&t, rootEnd >= 0)
		if g.closed && rootEnd < 0 {
			rootEnd = end
		}
	}
	if !g.root {
		return 0, g.fail(ReasonMalformed, int64(len(b)), "no root element")
	}
	if g.depth > 0 {
		return 0, g.fail(ReasonMalformed, int64(len(b)), "unexpected end of input inside an element")
	}
	return rootEnd, nil
}

// node counts one node of the document (Limits.MaxNodes).
func (g *gate) node(start int64) error {
	g.nodes++
	if g.nodes > g.lim.MaxNodes {
		return g.fail(ReasonLimit, start, fmt.Sprintf("more than %d nodes (elements, attributes, text nodes, comments)", g.lim.MaxNodes))
	}
	return nil
}

func (g *gate) fail(r Reason, off int64, detail string) error {
	return &Error{Reason: r, Offset: g.base + off, Detail: detail}
}

// decodeError classifies an encoding/xml error. checkChars has already refused every illegal
// literal character, so "illegal character code" can only come from a character reference.
func (g *gate) decodeError(err error, off int64) error {
	e := &Error{Reason: ReasonMalformed, Offset: g.base + off, Detail: "not well-formed", cause: err}
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, errCharset):
		e.Reason, e.Detail = ReasonEncoding, "only utf-8 is accepted"
	case errors.As(err, &se):
		switch {
		case strings.Contains(se.Msg, "invalid character entity"):
			e.Reason, e.Detail = ReasonEntity, "only the predefined entities and character references are accepted"
		case strings.Contains(se.Msg, "illegal character code"):
			e.Reason, e.Detail = ReasonEntity, "character reference to a character not allowed in xml 1.0"
		case strings.Contains(se.Msg, "invalid UTF-8"):
			e.Reason, e.Detail = ReasonEncoding, "invalid utf-8"
		default:
			e.Detail = "not well-formed: " + clip(se.Msg)
		}
	case strings.Contains(err.Error(), "unsupported version"):
		e.Reason, e.Detail = ReasonEncoding, "only xml version 1.0 is accepted"
	}
	return e
}

func (g *gate) startElement(name xml.Name, attrs []xml.Attr, checked bool, start, end int64) error {
	if g.closed {
		return g.fail(ReasonMalformed, start, "more than one root element")
	}
	g.root = true
	g.textRun = 0
	g.depth++
	if g.depth > g.lim.MaxDepth {
		return g.fail(ReasonLimit, start, fmt.Sprintf("element nesting deeper than %d", g.lim.MaxDepth))
	}
	g.elements++
	if g.elements > g.lim.MaxElements {
		return g.fail(ReasonLimit, start, fmt.Sprintf("more than %d elements", g.lim.MaxElements))
	}
	if len(attrs) > g.lim.MaxAttrs {
		return g.fail(ReasonLimit, start, fmt.Sprintf("more than %d attributes on one element", g.lim.MaxAttrs))
	}
	g.nodes += int64(len(attrs))
	if err := g.node(start); err != nil {
		return err
	}
	if !checked {
		if err := g.checkTag(g.src[start:end], start, attrs); err != nil {
			return err
		}
	}
	if err := g.checkRawDuplicates(attrs, start); err != nil {
		return err
	}

	// Declarations first: they apply to the element's own name and attributes.
	g.stack = append(g.stack, frame{name: name, nsMark: g.ns.Len()})
	nsHere := 0
	for _, a := range attrs {
		if int64(len(a.Value)) > g.lim.MaxTextBytes {
			return g.fail(ReasonLimit, start, fmt.Sprintf("attribute value longer than %d bytes", g.lim.MaxTextBytes))
		}
		if strings.Contains(a.Name.Local, ":") {
			return g.fail(ReasonNamespace, start, "empty prefix or local name in attribute "+clip(a.Name.Local))
		}
		var prefix string
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			prefix = ""
		case a.Name.Space == "xmlns":
			prefix = a.Name.Local
		default:
			continue
		}
		nsHere++
		if nsHere > g.lim.MaxNSPerElement {
			return g.fail(ReasonLimit, start, fmt.Sprintf("more than %d namespace declarations on one element", g.lim.MaxNSPerElement))
		}
		// Declarations of this element and its ancestors, shadowed ones included.
		if g.ns.Len() >= g.lim.MaxNSInScope {
			return g.fail(ReasonLimit, start, fmt.Sprintf("more than %d namespace declarations in scope at one element", g.lim.MaxNSInScope))
		}
		if err := g.declare(prefix, a.Value, start); err != nil {
			return err
		}
	}

	// The element name.
	if strings.Contains(name.Local, ":") {
		return g.fail(ReasonNamespace, start, "empty prefix or local name in element "+clip(name.Local))
	}
	switch name.Space {
	case "", "xml":
	case "xmlns":
		return g.fail(ReasonNamespace, start, "the xmlns prefix is reserved for declarations")
	default:
		if _, ok := g.ns.Lookup(name.Space); !ok {
			return g.fail(ReasonUndeclaredPrefix, start, "undeclared prefix "+clip(name.Space)+" on element")
		}
	}
	return g.checkExpandedDuplicates(attrs, start)
}

// declare binds prefix ("" for the default namespace) to uri in the current element.
func (g *gate) declare(prefix, uri string, start int64) error {
	switch {
	case prefix == "xmlns":
		return g.fail(ReasonNamespace, start, "the xmlns prefix must not be declared")
	case prefix == "xml":
		if uri != nsXML {
			return g.fail(ReasonNamespace, start, "the xml prefix must not be bound to another namespace")
		}
		return nil // always bound
	case uri == nsXML || uri == nsXMLNS:
		return g.fail(ReasonNamespace, start, "the xml and xmlns namespaces must not be bound to another prefix")
	case prefix != "" && uri == "":
		return g.fail(ReasonNamespace, start, "undeclaring prefix "+clip(prefix)+" is not allowed in xml 1.0")
	}
	g.ns.Declare(prefix, uri)
	return nil
}

// dupThreshold is the attribute count above which duplicates are found with a map instead of
// pairwise comparison.
const dupThreshold = 8

func (g *gate) checkRawDuplicates(attrs []xml.Attr, start int64) error {
	if len(attrs) <= dupThreshold {
		for i := 1; i < len(attrs); i++ {
			for j := 0; j < i; j++ {
				if attrs[i].Name == attrs[j].Name {
					return g.dupError(attrs[i].Name, start)
				}
			}
		}
		return nil
	}
	if g.rawSeen == nil {
		g.rawSeen = make(map[xml.Name]struct{}, len(attrs))
	}
	clear(g.rawSeen)
	for _, a := range attrs {
		if _, ok := g.rawSeen[a.Name]; ok {
			return g.dupError(a.Name, start)
		}
		g.rawSeen[a.Name] = struct{}{}
	}
	return nil
}

// checkExpandedDuplicates resolves attribute prefixes and compares {namespace}local names.
// Namespace declarations are left out: their raw names are already unique.
func (g *gate) checkExpandedDuplicates(attrs []xml.Attr, start int64) error {
	var small [dupThreshold]xml.Name
	names := small[:0]
	useMap := len(attrs) > dupThreshold
	if useMap {
		if g.expSeen == nil {
			g.expSeen = make(map[xml.Name]struct{}, len(attrs))
		}
		clear(g.expSeen)
	}
	for _, a := range attrs {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		n := xml.Name{Local: a.Name.Local}
		if a.Name.Space != "" {
			uri, ok := g.ns.Lookup(a.Name.Space)
			if !ok {
				return g.fail(ReasonUndeclaredPrefix, start, "undeclared prefix "+clip(a.Name.Space)+" on attribute")
			}
			n.Space = uri
		}
		if useMap {
			if _, ok := g.expSeen[n]; ok {
				return g.dupError(a.Name, start)
			}
			g.expSeen[n] = struct{}{}
			continue
		}
		for _, m := range names {
			if m == n {
				return g.dupError(a.Name, start)
			}
		}
		names = append(names, n)
	}
	return nil
}

func (g *gate) dupError(n xml.Name, start int64) error {
	name := n.Local
	if n.Space != "" {
		name = n.Space + ":" + n.Local
	}
	return g.fail(ReasonDuplicateAttr, start, "duplicate attribute "+clip(name))
}

// checkTag scans the raw bytes of a start tag. Quotes occur only around attribute values, so
// the scan knows when it is inside one. It requires whitespace after each value (encoding/xml
// accepts a="1"b="2") and checks character references in values. A literal tab, LF or CR
// inside a value is normalized as XML 1.0 §3.3.3 says (every one becomes a space, CR LF one
// space; references are not touched), which encoding/xml does not do: the values of attrs, in
// the order of the tag, are then decoded again from the raw bytes.
func (g *gate) checkTag(tag []byte, start int64, attrs []xml.Attr) error {
	var q byte
	white := false
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if q == 0 {
			if c == '"' || c == '\'' {
				q = c
			}
			continue
		}
		switch c {
		case q:
			q = 0
			if i+1 < len(tag) {
				switch tag[i+1] {
				case ' ', '\t', '\n', '\r', '/', '>':
				default:
					return g.fail(ReasonMalformed, start+int64(i+1), "missing whitespace between attributes")
				}
			}
		case '\t', '\n', '\r':
			white = true
		case '&':
			if err := g.checkCharRef(tag[i:], start+int64(i)); err != nil {
				return err
			}
		}
	}
	if white {
		return g.normalizeAttrs(tag, start, attrs)
	}
	return nil
}

// normalizeAttrs sets the value of every attribute in attrs to its raw value in tag (the n-th
// quoted string of the tag is the n-th attribute) normalized as XML 1.0 §3.3.3 says.
func (g *gate) normalizeAttrs(tag []byte, start int64, attrs []xml.Attr) error {
	n := 0
	var v []byte
	for i := 0; i < len(tag); i++ {
		q := tag[i]
		if q != '"' && q != '\'' {
			continue
		}
		end := bytes.IndexByte(tag[i+1:], q)
		if end < 0 || n >= len(attrs) {
			return g.fail(ReasonMalformed, start+int64(i), "not well-formed attribute value")
		}
		raw := tag[i+1 : i+1+end]
		if bytes.IndexAny(raw, "\t\n\r") >= 0 {
			v = v[:0]
			for k := 0; k < len(raw); k++ {
				switch c := raw[k]; c {
				case '\r':
					if k+1 < len(raw) && raw[k+1] == '\n' {
						k++
					}
					v = append(v, ' ')
				case '\t', '\n':
					v = append(v, ' ')
				case '&':
					e := bytes.IndexByte(raw[k:], ';')
					r, ok := rune(0), e > 0
					if ok {
						r, ok = ResolveReference(raw[k+1 : k+e])
					}
					if !ok {
						return g.fail(ReasonEntity, start+int64(i+1+k), "only the predefined entities and character references are accepted")
					}
					v = utf8.AppendRune(v, r)
					k += e
				default:
					v = append(v, c)
				}
			}
			attrs[n].Value = string(v)
		}
		n++
		i += end + 1
	}
	if n != len(attrs) {
		return g.fail(ReasonMalformed, start, "not well-formed attribute value")
	}
	return nil
}

// checkCharRef checks a reference starting at ref[0] == '&'. encoding/xml has already
// verified its syntax but turns references to surrogates into U+FFFD instead of failing.
func (g *gate) checkCharRef(ref []byte, off int64) error {
	if len(ref) < 3 || ref[1] != '#' {
		return nil // a named entity: encoding/xml allows only the predefined five
	}
	end := bytes.IndexByte(ref, ';')
	if end < 0 {
		return g.fail(ReasonEntity, off, "unterminated character reference")
	}
	digits, base := ref[2:end], 10
	if len(digits) > 0 && digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || !IsChar(rune(n)) {
		return g.fail(ReasonEntity, off, "character reference to a character not allowed in xml 1.0")
	}
	return nil
}

func (g *gate) endElement(name xml.Name, start int64) error {
	if g.depth == 0 {
		return g.fail(ReasonMalformed, start, "end tag without a start tag")
	}
	f := g.stack[len(g.stack)-1]
	if f.name != name {
		return g.fail(ReasonMalformed, start, "end tag does not match the start tag")
	}
	g.ns.PopTo(f.nsMark)
	g.stack = g.stack[:len(g.stack)-1]
	g.depth--
	g.textRun = 0
	if g.depth == 0 {
		g.closed = true
	}
	return nil
}

func (g *gate) charData(t []byte, checked bool, start, end int64) error {
	raw := g.src[start:end]
	cdata := len(raw) > 0 && raw[0] == '<'
	if g.depth == 0 {
		if cdata {
			return g.fail(ReasonMalformed, start, "cdata section outside the root element")
		}
		for _, c := range t {
			if !isSpaceByte(c) {
				if g.closed {
					return g.fail(ReasonMalformed, start, "content after the root element")
				}
				return g.fail(ReasonMalformed, start, "text before the root element")
			}
		}
		return nil
	}
	if err := g.node(start); err != nil {
		return err
	}
	g.textRun += int64(len(t))
	if g.textRun > g.lim.MaxTextBytes {
		return g.fail(ReasonLimit, start, fmt.Sprintf("text node longer than %d bytes", g.lim.MaxTextBytes))
	}
	if cdata || checked {
		return nil
	}
	for i := bytes.IndexByte(raw, '&'); i >= 0; {
		if err := g.checkCharRef(raw[i:], start+int64(i)); err != nil {
			return err
		}
		j := bytes.IndexByte(raw[i+1:], '&')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return nil
}

func (g *gate) procInst(target string, start int64) error {
	switch {
	case target == "xml" && start == 0:
		return nil // the declaration, validated by checkDecl before this pass
	case strings.EqualFold(target, "xml"):
		return g.fail(ReasonProcInst, start, "xml declaration not at the start of the input")
	case g.root:
		return g.fail(ReasonProcInst, start, "processing instructions are accepted only before the root element")
	case strings.Contains(target, ":"):
		return g.fail(ReasonProcInst, start, "colon in a processing instruction target")
	}
	return nil
}
