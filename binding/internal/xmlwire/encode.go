package xmlwire

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"reflect"
)

// ErrNotWritten reports a value AppendXML leaves to encoding/xml: something the response
// structs do not hold (an element of unknown content, a kind other than strings, structs,
// pointers and slices of them and Base64). The caller marshals it with encoding/xml.
var ErrNotWritten = errors.New("xmlwire: value left to encoding/xml")

// AppendXML appends to dst exactly what encoding/xml's Encoder.Encode writes for v, a pointer
// to a response struct, walking the plans Tokens reads with instead of encoding/xml's
// reflection and printer (half the cost of a response that is not a signed document).
// FuzzAppendXML and the golden Result files compare the two. On ErrNotWritten dst may hold
// part of the element: the caller truncates it.
func AppendXML(dst []byte, v any) ([]byte, error) {
	w := writer{b: dst}
	if err := w.value(reflect.ValueOf(v), nil); err != nil {
		return dst, err
	}
	return w.b, nil
}

type writer struct{ b []byte }

// value is encoding/xml's printer.marshalValue for the kinds of the response structs; f is
// the field v is the value of (nil: the root).
func (w *writer) value(v reflect.Value, f *planField) error {
	if !v.IsValid() {
		return nil
	}
	if f != nil && f.omitempty && isEmpty(v) {
		return nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	if t == base64Type {
		if f == nil {
			return ErrNotWritten
		}
		b := v.Interface().(Base64)
		w.start(f.ns, f.name)
		w.b = b.appendContent(w.b)
		w.end(f.name)
		return nil
	}
	switch v.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return ErrNotWritten
		}
		for i := range v.Len() {
			if err := w.value(v.Index(i), f); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if f == nil {
			return ErrNotWritten
		}
		w.start(f.ns, f.name)
		w.escape(v.String())
		w.end(f.name)
		return nil
	case reflect.Struct:
	default:
		return ErrNotWritten
	}
	if t == nameType {
		return ErrNotWritten
	}
	p, err := planOf(t)
	if err != nil {
		return ErrNotWritten
	}
	var ns, local string
	switch {
	case p.xmlname != nil && p.xmlname.name != "":
		ns, local = p.xmlname.ns, p.xmlname.name
	case p.xmlname != nil:
		return ErrNotWritten // named by its XMLName value (Any)
	case f != nil:
		ns, local = f.ns, f.name
	default:
		return ErrNotWritten
	}
	if p.anyAttr != nil && v.FieldByIndex(p.anyAttr).Len() > 0 {
		return ErrNotWritten
	}
	w.open(ns, local)
	for i := range p.attrs {
		a := &p.attrs[i]
		fv := v.FieldByIndex(a.index)
		if a.omitempty && isEmpty(fv) {
			continue
		}
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				continue
			}
			fv = fv.Elem()
		}
		if fv.Kind() != reflect.String {
			return ErrNotWritten
		}
		w.b = append(w.b, ' ')
		switch a.ns {
		case "":
		case NSXML:
			w.b = append(w.b, "xml:"...)
		default:
			return ErrNotWritten // encoding/xml would declare a prefix
		}
		w.b = append(w.b, a.name...)
		w.b = append(w.b, `="`...)
		w.escape(fv.String())
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '>')
	for i := range p.content {
		c := &p.content[i]
		fv := v.FieldByIndex(c.index)
		switch c.mode {
		case modeCharData:
			if fv.Kind() != reflect.String {
				return ErrNotWritten
			}
			w.escape(fv.String())
		case modeAny:
			if !isEmpty(fv) {
				return ErrNotWritten
			}
		default:
			if err := w.value(fv, c); err != nil {
				return err
			}
		}
	}
	w.end(local)
	return nil
}

// start writes a start tag without attributes, as encoding/xml writes it.
func (w *writer) start(ns, local string) {
	w.open(ns, local)
	w.b = append(w.b, '>')
}

// open writes a start tag up to its attributes: encoding/xml declares the element's namespace
// as the default namespace on every element that has one.
func (w *writer) open(ns, local string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, local...)
	if ns != "" {
		w.b = append(w.b, ` xmlns="`...)
		w.escape(ns)
		w.b = append(w.b, '"')
	}
}

func (w *writer) end(local string) {
	w.b = append(w.b, "</"...)
	w.b = append(w.b, local...)
	w.b = append(w.b, '>')
}

// escape writes s escaped as encoding/xml escapes text and attribute values (EscapeText):
// text without a character it escapes is written as it is.
func (w *writer) escape(s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x80 || c == '"' || c == '\'' || c == '&' || c == '<' || c == '>':
			var buf bytes.Buffer
			_ = xml.EscapeText(&buf, []byte(s))
			w.b = append(w.b, buf.Bytes()...)
			return
		}
	}
	w.b = append(w.b, s...)
}

// isEmpty is encoding/xml's isEmptyValue for the kinds AppendXML writes.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.String, reflect.Map, reflect.Array:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return v.IsZero()
	}
	return false
}

// appendContent appends the content MarshalXML writes inside the element: the base64 text, or
// with Include set the xop:Include naming the attachment.
func (b Base64) appendContent(dst []byte) []byte {
	if b.Include != "" {
		var href bytes.Buffer
		_ = xml.EscapeText(&href, []byte(b.Include))
		dst = append(dst, `<xop:Include xmlns:xop="`+NSXOP+`" href="`...)
		dst = append(dst, href.Bytes()...)
		return append(dst, `"/>`...)
	}
	return base64.StdEncoding.AppendEncode(dst, b.Bytes)
}
