package xmldsig

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/beevik/etree"
)

// Text returns the character content of an element that must hold text only: child
// elements, processing instructions and comments inside it are refused (hardening.md §2.5:
// values are never concatenated across other nodes).
func Text(el *etree.Element) (string, bool) {
	if len(el.Child) == 1 { // one text node: its data as it is, no copy
		t, ok := el.Child[0].(*etree.CharData)
		if !ok {
			return "", false
		}
		return t.Data, true
	}
	var b strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// StripSpace removes XML white space (base64 values may be folded).
func StripSpace(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// Errors of DecodeBase64.
var (
	ErrNotText   = errors.New("something other than text where base64 text was expected")
	ErrNotBase64 = errors.New("not base64")
)

// DecodeBase64 decodes the base64 text content of el (white space allowed), refusing anything
// but text (Text).
func DecodeBase64(el *etree.Element) ([]byte, error) {
	s, ok := Text(el)
	if !ok {
		return nil, ErrNotText
	}
	b, err := base64.StdEncoding.DecodeString(StripSpace(s))
	if err != nil {
		return nil, ErrNotBase64
	}
	return b, nil
}
