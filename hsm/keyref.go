package hsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxKeyRefLen bounds the length of a key URI accepted by ParseKeyRef.
const maxKeyRefLen = 1024

// maxTokenLabelLen is the size of CK_TOKEN_INFO.label: a token label never exceeds 32 bytes.
const maxTokenLabelLen = 32

// ParseKeyRef parses an RFC 7512 "pkcs11:" URI naming one key pair, such as
// "pkcs11:token=dssd-dev;object=alice-rsa;id=%01".
//
// The path attributes "token", "object" and "id" are understood, each at most once; values are
// percent-decoded ("id" is raw bytes, the labels must be UTF-8). "type=private" is accepted and
// dropped (a KeyRef always names the private half). Any other path attribute, any query attribute
// and any fragment is rejected. In particular a URI carrying "pin-value" (or "pin-source") is
// rejected, so that PINs never sit in configuration next to key names; the PIN reaches the
// backend through its own configuration. Errors never repeat attribute values.
func ParseKeyRef(uri string) (KeyRef, error) {
	ref, err := parseKeyRef(uri)
	if err != nil {
		return KeyRef{}, err
	}
	return ref, nil
}

func parseKeyRef(uri string) (KeyRef, error) {
	var ref KeyRef
	if len(uri) > maxKeyRefLen {
		return ref, fmt.Errorf("key uri: longer than %d bytes", maxKeyRefLen)
	}
	const scheme = "pkcs11:"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return ref, errors.New(`key uri: scheme is not "pkcs11:"`)
	}
	rest := uri[len(scheme):]
	if strings.Contains(rest, "#") {
		return ref, errors.New("key uri: fragments are not allowed")
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		if err := checkQuery(query); err != nil {
			return ref, err
		}
	}
	if path == "" {
		return ref, errors.New("key uri: no path attributes (need object or id)")
	}
	seen := map[string]bool{}
	for _, attr := range strings.Split(path, ";") {
		name, raw, ok := strings.Cut(attr, "=")
		if !ok || name == "" {
			return ref, errors.New(`key uri: path attribute without "name=value" form`)
		}
		name = strings.ToLower(name)
		if isPINAttr(name) {
			return ref, fmt.Errorf("key uri: %q is not allowed: give the PIN in the backend configuration", name)
		}
		if seen[name] {
			return ref, fmt.Errorf("key uri: attribute %s appears more than once", safeName(name))
		}
		seen[name] = true
		val, err := pctDecode(raw)
		if err != nil {
			return ref, fmt.Errorf("key uri: attribute %s: %w", safeName(name), err)
		}
		if len(val) == 0 {
			return ref, fmt.Errorf("key uri: attribute %s is empty", safeName(name))
		}
		switch name {
		case "token":
			if !utf8.Valid(val) {
				return ref, errors.New("key uri: token label is not valid UTF-8")
			}
			if len(val) > maxTokenLabelLen {
				return ref, fmt.Errorf("key uri: token label longer than %d bytes", maxTokenLabelLen)
			}
			ref.Token = string(val)
		case "object":
			if !utf8.Valid(val) {
				return ref, errors.New("key uri: object label is not valid UTF-8")
			}
			ref.Label = string(val)
		case "id":
			ref.ID = val
		case "type":
			if string(val) != "private" {
				return ref, errors.New(`key uri: only "type=private" is supported`)
			}
		default:
			return ref, fmt.Errorf("key uri: unsupported path attribute %s", safeName(name))
		}
	}
	return ref, ref.Validate()
}

// checkQuery rejects every query attribute. pin-value and pin-source get their own message.
func checkQuery(query string) error {
	for _, attr := range strings.Split(query, "&") {
		name, _, _ := strings.Cut(attr, "=")
		name = strings.ToLower(name)
		if isPINAttr(name) {
			return fmt.Errorf("key uri: %q is not allowed: give the PIN in the backend configuration", name)
		}
	}
	return errors.New("key uri: query attributes are not supported (the module and PIN come from the backend configuration)")
}

func isPINAttr(name string) bool { return name == "pin-value" || name == "pin-source" }

// isRFC7512PathAttr reports whether RFC 7512 defines the path attribute name.
func isRFC7512PathAttr(name string) bool {
	switch name {
	case "token", "manufacturer", "serial", "model",
		"library-manufacturer", "library-description", "library-version",
		"object", "type", "id", "slot-description", "slot-manufacturer", "slot-id":
		return true
	}
	return false
}

// safeName quotes an attribute name for an error message when RFC 7512 defines it; any other
// name is not repeated (it could be a misplaced secret).
func safeName(name string) string {
	if isRFC7512PathAttr(name) {
		return fmt.Sprintf("%q", name)
	}
	return "(not an RFC 7512 path attribute)"
}

// pctDecode decodes an RFC 7512 pk11-pchar sequence: unreserved characters, the reserved
// characters RFC 7512 allows in path values, and %XX escapes.
func pctDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return nil, errors.New("truncated percent escape")
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, errors.New("bad percent escape")
			}
			out = append(out, hi<<4|lo)
			i += 2
		case isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0:
			out = append(out, c)
		default:
			return nil, errors.New("character must be percent-encoded")
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// String returns the canonical URI: "pkcs11:" followed by token, object and id in that order,
// leaving out empty ones. Label bytes other than unreserved characters are percent-encoded
// and every id byte is percent-encoded, with upper-case hex. ParseKeyRef(r.String()) gives r
// back for every valid r.
func (r KeyRef) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	sep := ""
	add := func(name string, val []byte, all bool) {
		if len(val) == 0 {
			return
		}
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteByte('=')
		pctEncode(&b, val, all)
		sep = ";"
	}
	add("token", []byte(r.Token), false)
	add("object", []byte(r.Label), false)
	add("id", r.ID, true)
	return b.String()
}

func pctEncode(b *strings.Builder, val []byte, all bool) {
	const hexDigits = "0123456789ABCDEF"
	for _, c := range val {
		if !all && isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
}

// Validate reports whether r can name a key: at least one of Label and ID is set, labels are
// UTF-8 and the token label fits PKCS#11's 32 bytes.
func (r KeyRef) Validate() error {
	if r.Label == "" && len(r.ID) == 0 {
		return errors.New("key uri: needs an object label or an id")
	}
	if !utf8.ValidString(r.Token) || !utf8.ValidString(r.Label) {
		return errors.New("key uri: labels must be valid UTF-8")
	}
	if len(r.Token) > maxTokenLabelLen {
		return fmt.Errorf("key uri: token label longer than %d bytes", maxTokenLabelLen)
	}
	return nil
}

// Equal reports whether r and o name the same key (same token, label and id).
func (r KeyRef) Equal(o KeyRef) bool {
	return r.Token == o.Token && r.Label == o.Label && bytes.Equal(r.ID, o.ID)
}

// IsZero reports whether r names nothing.
func (r KeyRef) IsZero() bool { return r.Token == "" && r.Label == "" && len(r.ID) == 0 }
