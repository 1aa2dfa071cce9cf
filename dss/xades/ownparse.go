package xades

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"unicode/utf8"

	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
)

// parseOwnBytes parses XML this package serialized (serialize: etree's writer with canonical
// text and attribute escaping) into the tree etree's own parser builds from the same bytes
// (ReadFromBytes with default settings: raw prefixes, CDATA as plain text, etree's whitespace
// flags), without encoding/xml. It is a second, independent reader of the bytes Sign returns:
// Check's reparse. It scans the bytes with IndexByte instead of encoding/xml's byte-at-a-time
// decoder (which was a tenth of the service's CPU), and it is strict: anything outside
// well-formed XML 1.0 without a DOCTYPE is an error — a DOCTYPE or other <! declaration, an
// unknown entity, a character outside XML 1.0 Char, invalid UTF-8, a malformed or repeated
// attribute, a mismatched end tag, more than one root. For the bytes it accepts, tests and
// FuzzParseOwnBytes compare its tree with etree's node by node.
func parseOwnBytes(b []byte) (*etree.Document, error) {
	p := ownParser{b: b}
	doc := etree.NewDocument()
	p.stack = append(p.stack, &doc.Element)
	if err := p.run(); err != nil {
		return nil, fmt.Errorf("%w: produced xml at byte %d: %w", ErrMalformed, p.i, err)
	}
	return doc, nil
}

type ownParser struct {
	b     []byte
	i     int
	stack []*etree.Element // the document, then the open elements
	roots int
	text  []byte // scratch for unescaped text
}

var (
	errOwnSyntax = errors.New("not well-formed")
	errOwnDecl   = errors.New("declaration or doctype")
	errOwnEntity = errors.New("unknown entity or bad character reference")
	errOwnChar   = errors.New("character not allowed in xml 1.0")
)

func (p *ownParser) top() *etree.Element { return p.stack[len(p.stack)-1] }

func (p *ownParser) run() error {
	for p.i < len(p.b) {
		if p.b[p.i] != '<' {
			j := bytes.IndexByte(p.b[p.i:], '<')
			if j < 0 {
				j = len(p.b) - p.i
			}
			if err := p.addText(p.b[p.i:p.i+j], true); err != nil {
				return err
			}
			p.i += j
			continue
		}
		rest := p.b[p.i:]
		var err error
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			err = p.procInst()
		case bytes.HasPrefix(rest, []byte("<!--")):
			err = p.comment()
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			err = p.cdata()
		case bytes.HasPrefix(rest, []byte("<!")):
			err = errOwnDecl
		case bytes.HasPrefix(rest, []byte("</")):
			err = p.endTag()
		default:
			err = p.startTag()
		}
		if err != nil {
			return err
		}
	}
	if len(p.stack) != 1 || p.roots != 1 {
		return errOwnSyntax
	}
	return nil
}

// addText adds character data to the open element (or the document, outside the root), with
// entities resolved and line ends normalized as encoding/xml reads them (CRLF and CR become LF).
func (p *ownParser) addText(raw []byte, escaped bool) error {
	if len(p.stack) == 1 && !isSpaceOnly(raw) {
		return errOwnSyntax // text outside the root element
	}
	if escaped && bytes.Contains(raw, []byte("]]>")) {
		return errOwnSyntax // not allowed in text (XML 1.0 §2.4)
	}
	t, err := p.unescape(raw, escaped)
	if err != nil {
		return err
	}
	c := etree.NewText("")
	c.SetData(string(t))
	p.top().AddChild(c)
	return nil
}

func isSpaceOnly(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// unescape resolves the predefined entities and character references (when escaped), turns
// CRLF and CR into LF, and checks that every character is an XML 1.0 Char.
func (p *ownParser) unescape(raw []byte, escaped bool) ([]byte, error) {
	t := p.text[:0]
	for k := 0; k < len(raw); {
		c := raw[k]
		switch {
		case c == '&' && escaped:
			end := bytes.IndexByte(raw[k:], ';')
			if end < 0 {
				return nil, errOwnEntity
			}
			r, ok := xmlsafe.ResolveReference(raw[k+1 : k+end])
			if !ok {
				return nil, errOwnEntity
			}
			t = utf8.AppendRune(t, r)
			k += end + 1
		case c == '\r':
			t = append(t, '\n')
			k++
			if k < len(raw) && raw[k] == '\n' {
				k++
			}
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' || c == '<' && escaped {
				return nil, errOwnChar
			}
			t = append(t, c)
			k++
		default:
			r, w := utf8.DecodeRune(raw[k:])
			if r == utf8.RuneError && w == 1 || !xmlsafe.IsChar(r) {
				return nil, errOwnChar
			}
			t = append(t, raw[k:k+w]...)
			k += w
		}
	}
	p.text = t
	return t, nil
}

func (p *ownParser) procInst() error {
	if p.roots > 0 || len(p.stack) > 1 {
		return errOwnSyntax // serialize writes processing instructions in the prolog only
	}
	end := bytes.Index(p.b[p.i+2:], []byte("?>"))
	if end < 0 {
		return errOwnSyntax
	}
	body := p.b[p.i+2 : p.i+2+end]
	n := nameLen(body)
	if n == 0 {
		return errOwnSyntax
	}
	target, inst := body[:n], body[n:]
	if len(inst) > 0 && !isSpaceByte(inst[0]) {
		return errOwnSyntax
	}
	for len(inst) > 0 && isSpaceByte(inst[0]) {
		inst = inst[1:] // encoding/xml drops the white space after the target
	}
	if err := checkChars(inst); err != nil {
		return err
	}
	if string(target) == "xml" {
		// The declaration: its version and encoding, as encoding/xml (with no
		// CharsetReader) accepts them.
		d := xml.NewDecoder(bytes.NewReader(p.b[p.i : p.i+2+end+2]))
		if _, err := d.RawToken(); err != nil {
			return errOwnDecl
		}
	}
	p.top().CreateProcInst(string(target), string(inst))
	p.i += 2 + end + 2
	return nil
}

func (p *ownParser) comment() error {
	end := bytes.Index(p.b[p.i+4:], []byte("--"))
	if end < 0 || p.i+4+end+2 >= len(p.b) || p.b[p.i+4+end+2] != '>' {
		return errOwnSyntax // no "--" inside a comment
	}
	data := p.b[p.i+4 : p.i+4+end]
	if err := checkChars(data); err != nil {
		return err
	}
	p.top().CreateComment(string(data))
	p.i += 4 + end + 3
	return nil
}

func (p *ownParser) cdata() error {
	if len(p.stack) == 1 {
		return errOwnSyntax
	}
	start := p.i + len("<![CDATA[")
	end := bytes.Index(p.b[start:], []byte("]]>"))
	if end < 0 {
		return errOwnSyntax
	}
	if err := p.addText(p.b[start:start+end], false); err != nil {
		return err
	}
	p.i = start + end + 3
	return nil
}

func (p *ownParser) startTag() error {
	if len(p.stack) == 1 {
		p.roots++
		if p.roots > 1 {
			return errOwnSyntax
		}
	}
	k := p.i + 1
	space, local, n, ok := qname(p.b[k:])
	if !ok {
		return errOwnSyntax
	}
	el := etree.NewElement(local)
	el.Space = space
	k += n
	for {
		ws := k
		for k < len(p.b) && isSpaceByte(p.b[k]) {
			k++
		}
		if k >= len(p.b) {
			return errOwnSyntax
		}
		switch p.b[k] {
		case '/':
			if k+1 >= len(p.b) || p.b[k+1] != '>' {
				return errOwnSyntax
			}
			p.top().AddChild(el)
			p.i = k + 2
			return nil
		case '>':
			p.top().AddChild(el)
			p.stack = append(p.stack, el)
			p.i = k + 1
			return nil
		}
		if ws == k {
			return errOwnSyntax // attributes are separated by white space
		}
		aspace, akey, n, ok := qname(p.b[k:])
		if !ok {
			return errOwnSyntax
		}
		k += n
		for k < len(p.b) && isSpaceByte(p.b[k]) {
			k++
		}
		if k >= len(p.b) || p.b[k] != '=' {
			return errOwnSyntax
		}
		k++
		for k < len(p.b) && isSpaceByte(p.b[k]) {
			k++
		}
		if k >= len(p.b) || p.b[k] != '"' && p.b[k] != '\'' {
			return errOwnSyntax
		}
		q := p.b[k]
		end := bytes.IndexByte(p.b[k+1:], q)
		if end < 0 {
			return errOwnSyntax
		}
		v, err := p.unescape(p.b[k+1:k+1+end], true)
		if err != nil {
			return err
		}
		for _, a := range el.Attr {
			if a.Space == aspace && a.Key == akey {
				return errOwnSyntax // repeated attribute
			}
		}
		key := akey
		if aspace != "" {
			key = aspace + ":" + akey
		}
		el.CreateAttr(key, string(v))
		k += end + 2
	}
}

func (p *ownParser) endTag() error {
	k := p.i + 2
	n := nameLen(p.b[k:])
	if n == 0 || len(p.stack) == 1 {
		return errOwnSyntax
	}
	name := p.b[k : k+n]
	k += n
	for k < len(p.b) && isSpaceByte(p.b[k]) {
		k++
	}
	if k >= len(p.b) || p.b[k] != '>' {
		return errOwnSyntax
	}
	// The name of the open element, compared without allocating.
	el := p.top()
	if el.Space == "" {
		if string(name) != el.Tag {
			return errOwnSyntax
		}
	} else if len(name) != len(el.Space)+1+len(el.Tag) || string(name[:len(el.Space)]) != el.Space ||
		name[len(el.Space)] != ':' || string(name[len(el.Space)+1:]) != el.Tag {
		return errOwnSyntax
	}
	p.stack = p.stack[:len(p.stack)-1]
	p.i = k + 1
	return nil
}

// nameLen returns the length of the XML name at the start of b (0 if there is none, or if it is
// not a name encoding/xml accepts). ASCII names are checked here; a name with non-ASCII
// characters is checked by encoding/xml itself (its Unicode tables), which is slow but rare.
func nameLen(b []byte) int {
	n, ascii := asciiNameLen(b)
	if n > 0 && !ascii {
		d := xml.NewDecoder(bytes.NewReader(append(append([]byte("<"), b[:n]...), "/>"...)))
		if _, err := d.RawToken(); err != nil {
			return 0
		}
	}
	return n
}

func asciiNameLen(b []byte) (int, bool) {
	n, ascii := 0, true
	for n < len(b) {
		c := b[n]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		case n > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		case c >= utf8.RuneSelf:
			r, w := utf8.DecodeRune(b[n:])
			if r == utf8.RuneError && w == 1 {
				return 0, false
			}
			n += w
			ascii = false
			continue
		default:
			return n, ascii
		}
		n++
	}
	return n, ascii
}

// qname reads the name at the start of b and splits it (splitName); n is its length.
func qname(b []byte) (space, local string, n int, ok bool) {
	if n = nameLen(b); n == 0 {
		return "", "", 0, false
	}
	space, local, ok = splitName(b[:n])
	return space, local, n, ok
}

// splitName splits a raw name into prefix and local name around its colon, as encoding/xml
// does; a name with more than one colon, or one at either end, is refused (encoding/xml refuses
// the first and reads the others as local names; this package never writes them).
func splitName(b []byte) (space, local string, ok bool) {
	i := bytes.IndexByte(b, ':')
	switch {
	case i < 0:
		return "", string(b), true
	case i == 0 || i == len(b)-1 || bytes.IndexByte(b[i+1:], ':') >= 0:
		return "", "", false
	}
	return string(b[:i]), string(b[i+1:]), true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func checkChars(b []byte) error {
	for k := 0; k < len(b); {
		c := b[k]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return errOwnChar
			}
			k++
			continue
		}
		r, w := utf8.DecodeRune(b[k:])
		if r == utf8.RuneError && w == 1 || !xmlsafe.IsChar(r) {
			return errOwnChar
		}
		k += w
	}
	return nil
}
