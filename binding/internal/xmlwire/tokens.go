package xmlwire

import (
	"encoding"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// TokenReader is what reads a request: Tokens over the gate's tokens, or an encoding/xml
// Decoder (NewDecoder) over bytes.
type TokenReader interface {
	Token() (xml.Token, error)
	Skip() error
	// DecodeElement unmarshals the element start (just read by Token) into v, a pointer to
	// a wire request, as encoding/xml's Decoder.DecodeElement does.
	DecodeElement(v any, start *xml.StartElement) error
}

var _ TokenReader = (*xml.Decoder)(nil)

// Tokens reads the raw tokens the ingress gate recorded (xmlsafe.Tokens) as NewDecoder reads
// the bytes they came from: the same tokens from Token, the same values from DecodeElement.
// It does in one layer what NewDecoder does in three (a Decoder's namespace translation,
// lenient's renaming, and the Decoder that unmarshals), and unmarshals the wire structs by
// the rules of encoding/xml (read.go) for the kinds of field they have, without boxing every
// token three times on the way. Unlike NewDecoder it translates each name once (replay).
// FuzzSOAPEnvelope and FuzzDecodeRequest compare the two readers on every input the gate lets
// through but those that NewDecoder's second translation reads otherwise.
type Tokens struct {
	r replay
	// room for the stacks of a message of ordinary depth, in the one allocation of Tokens
	undo  [8]binding
	marks [16]int
	stack [16]xml.Name
}

// NewTokens returns a reader of the gate's raw tokens.
func NewTokens(toks []xml.Token) *Tokens {
	d := &Tokens{}
	d.r = replay{toks: toks, ns: make(map[string]string, 8),
		undo: d.undo[:0], marks: d.marks[:0], stack: d.stack[:0]}
	return d
}

// token kinds of replay.step.
const (
	kStart = iota
	kEnd
	kOther
)

// step reads the next token: a start element (se, names translated), an end element (ee) or
// any other token (raw, unchanged).
func (r *replay) step() (kind int, se xml.StartElement, ee xml.EndElement, raw xml.Token, err error) {
	if len(r.toks) == 0 {
		if len(r.stack) > 0 {
			return kOther, se, ee, nil, errors.New("xmlwire: unexpected EOF")
		}
		return kOther, se, ee, nil, io.EOF
	}
	t := r.toks[0]
	r.toks = r.toks[1:]
	switch e := t.(type) {
	case xml.StartElement:
		return kStart, r.start(e), ee, nil, nil
	case xml.EndElement:
		ee, err = r.end(e)
		return kEnd, se, ee, nil, err
	}
	return kOther, se, ee, t, nil
}

// Token returns the next token, as the Decoder of NewDecoder does.
func (d *Tokens) Token() (xml.Token, error) {
	kind, se, ee, raw, err := d.r.step()
	switch {
	case err != nil:
		return nil, err
	case kind == kStart:
		return se, nil
	case kind == kEnd:
		return ee, nil
	}
	return raw, nil
}

// Skip reads tokens up to the end of the element whose start was read last.
func (d *Tokens) Skip() error {
	depth := 0
	for {
		kind, _, _, _, err := d.r.step()
		if err != nil {
			return err
		}
		switch kind {
		case kStart:
			depth++
		case kEnd:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// DecodeElement unmarshals the element start into v (a pointer to a wire struct).
func (d *Tokens) DecodeElement(v any, start *xml.StartElement) error {
	val := reflect.ValueOf(v)
	if val.Kind() != reflect.Pointer || val.IsNil() {
		return errors.New("xmlwire: DecodeElement needs a non-nil pointer")
	}
	return d.unmarshal(val.Elem(), *start)
}

var (
	nameType     = reflect.TypeFor[xml.Name]()
	attrType     = reflect.TypeFor[xml.Attr]()
	base64Type   = reflect.TypeFor[Base64]()
	unmarshalerT = reflect.TypeFor[xml.Unmarshaler]()
	textUnmarshT = reflect.TypeFor[encoding.TextUnmarshaler]()
	attrUnmarshT = reflect.TypeFor[xml.UnmarshalerAttr]()
)

// unmarshal is encoding/xml's Decoder.unmarshal for the kinds of the wire structs: strings,
// structs, pointers and slices of them, xml.Name, []xml.Attr, and Base64 (its UnmarshalXML).
// readPlan refuses, once per type, any other kind.
func (d *Tokens) unmarshal(val reflect.Value, start xml.StartElement) error {
	if val.Kind() == reflect.Pointer {
		if val.IsNil() {
			val.Set(reflect.New(val.Type().Elem()))
		}
		val = val.Elem()
	}
	switch val.Kind() {
	case reflect.Slice:
		n := val.Len()
		val.Grow(1)
		val.SetLen(n + 1)
		if err := d.unmarshal(val.Index(n), start); err != nil {
			val.SetLen(n)
			return err
		}
		return nil
	case reflect.String:
		data, err := d.text()
		if err != nil {
			return err
		}
		val.SetString(string(data))
		return nil
	case reflect.Struct:
	default:
		return errors.New("xmlwire: cannot unmarshal into " + val.Type().String())
	}
	switch val.Type() {
	case nameType:
		val.Set(reflect.ValueOf(start.Name))
		return d.Skip()
	case base64Type:
		return d.base64(val.Addr().Interface().(*Base64), &start)
	}
	p, err := planOf(val.Type())
	if err != nil {
		return err
	}
	if x := p.xmlname; x != nil {
		if x.name != "" && x.name != start.Name.Local {
			return xml.UnmarshalError("expected element type <" + x.name + "> but have <" + start.Name.Local + ">")
		}
		if x.ns != "" && x.ns != start.Name.Space {
			e := "expected element <" + x.name + "> in name space " + x.ns + " but have "
			if start.Name.Space == "" {
				e += "no name space"
			} else {
				e += start.Name.Space
			}
			return xml.UnmarshalError(e)
		}
		val.FieldByIndex(x.index).Set(reflect.ValueOf(start.Name))
	}
	for _, a := range start.Attr {
		handled := false
		for i := range p.attrs {
			f := &p.attrs[i]
			if a.Name.Local == f.name && (f.ns == "" || f.ns == a.Name.Space) {
				setAttr(val.FieldByIndex(f.index), a)
				handled = true
			}
		}
		if !handled && p.anyAttr != nil {
			setAttr(val.FieldByIndex(p.anyAttr), a)
		}
	}
	var data []byte
	for {
		kind, se, _, raw, err := d.r.step()
		if err != nil {
			return err
		}
		switch kind {
		case kStart:
			f := p.element(se.Name)
			switch {
			case f != nil:
				err = d.unmarshal(val.FieldByIndex(f.index), se)
			case p.anyElem != nil:
				err = d.unmarshal(val.FieldByIndex(p.anyElem), se)
			default:
				err = d.Skip()
			}
			if err != nil {
				return err
			}
		case kEnd:
			if p.chardata != nil {
				setString(val.FieldByIndex(p.chardata), data)
			}
			return nil
		default:
			if c, ok := raw.(xml.CharData); ok && p.chardata != nil {
				data = append(data, c...)
			}
		}
	}
}

// text reads the character data directly inside the element just started, up to its end,
// skipping child elements. The text of one token is returned as it is, not copied.
func (d *Tokens) text() ([]byte, error) {
	var data []byte
	copied := false
	for {
		kind, _, _, raw, err := d.r.step()
		if err != nil {
			return nil, err
		}
		switch kind {
		case kStart:
			if err := d.Skip(); err != nil {
				return nil, err
			}
		case kEnd:
			return data, nil
		default:
			if c, ok := raw.(xml.CharData); ok {
				data, copied = joinText(data, c, copied)
			}
		}
	}
}

// joinText adds the character data c of a token to text: the text of one token is read where
// it is (the gate's tokens stay valid), and text is copied, and then ours to change (owned),
// only when a second token adds to it. Text that starts owned is always copied.
func joinText(text, c []byte, owned bool) ([]byte, bool) {
	switch {
	case text == nil && !owned:
		return c, false
	case !owned:
		return append(append([]byte(nil), text...), c...), true
	}
	return append(text, c...), true
}

// base64 is encoding/xml's call of (*Base64).UnmarshalXML, which must read the element to
// its end.
func (d *Tokens) base64(b *Base64, start *xml.StartElement) error {
	depth := len(d.r.stack)
	if err := b.read(d, true); err != nil {
		return err
	}
	if len(d.r.stack) != depth-1 {
		return fmt.Errorf("xml: *xmlwire.Base64.UnmarshalXML did not consume entire <%s> element", start.Name.Local)
	}
	return nil
}

// setAttr is encoding/xml's unmarshalAttr for a string, *string, xml.Attr or []xml.Attr.
func setAttr(val reflect.Value, a xml.Attr) {
	if val.Kind() == reflect.Pointer {
		if val.IsNil() {
			val.Set(reflect.New(val.Type().Elem()))
		}
		val = val.Elem()
	}
	if val.Kind() == reflect.Slice {
		n := val.Len()
		val.Grow(1)
		val.SetLen(n + 1)
		val = val.Index(n)
	}
	if val.Type() == attrType {
		val.Set(reflect.ValueOf(a))
		return
	}
	val.SetString(a.Value)
}

// setString is encoding/xml's copyValue for a string or *string.
func setString(val reflect.Value, data []byte) {
	if val.Kind() == reflect.Pointer {
		if val.IsNil() {
			val.Set(reflect.New(val.Type().Elem()))
		}
		val = val.Elem()
	}
	val.SetString(string(data))
}

// ---------------------------------------------------------------- plans

// plan is encoding/xml's typeInfo of a wire struct, reduced to what unmarshal reads.
type plan struct {
	xmlname  *planField
	attrs    []planField // ",attr" fields in field order
	elems    []planField // child elements in field order
	anyAttr  []int       // the first ",any,attr" field
	anyElem  []int       // the first ",any" field
	chardata []int       // the first ",chardata" field
	content  []planField // for writing: every field but the attributes, in field order
}

type planField struct {
	index     []int
	name, ns  string
	omitempty bool
	mode      fieldMode
}

// fieldMode is what a field of the content is.
type fieldMode uint8

const (
	modeElement fieldMode = iota
	modeCharData
	modeAny
)

// element returns the field of the child element n: the first whose name matches and whose
// namespace, when it names one, is n's.
func (p *plan) element(n xml.Name) *planField {
	for i := range p.elems {
		f := &p.elems[i]
		if f.name == n.Local && (f.ns == "" || f.ns == n.Space) {
			return f
		}
	}
	return nil
}

var plans sync.Map // reflect.Type → *plan or error

func planOf(t reflect.Type) (*plan, error) {
	if v, ok := plans.Load(t); ok {
		if p, ok := v.(*plan); ok {
			return p, nil
		}
		return nil, v.(error)
	}
	p := &plan{}
	err := p.add(t, nil)
	if err == nil {
		err = p.check(t)
	}
	if err != nil {
		plans.Store(t, err)
		return nil, err
	}
	plans.Store(t, p)
	return p, nil
}

// add collects the fields of t (at index path prefix) as encoding/xml's getTypeInfo does:
// the fields of an untagged embedded struct are the embedding type's own.
func (p *plan) add(t reflect.Type, prefix []int) error {
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(append([]int(nil), prefix...), i)
		tag := f.Tag.Get("xml")
		if (!f.IsExported() && !f.Anonymous) || tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			if f.Type.Kind() != reflect.Struct {
				return errors.New("xmlwire: embedded " + f.Type.String() + " is not read")
			}
			if err := p.add(f.Type, index); err != nil {
				return err
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ns, local, found := strings.Cut(name, " ")
		if !found {
			ns, local = "", name
		}
		pf := planField{index: index, name: local, ns: ns, omitempty: strings.HasSuffix(opts, "omitempty")}
		if f.Name == "XMLName" {
			if len(prefix) == 0 || p.xmlname == nil {
				p.xmlname = &pf
			}
			continue
		}
		if local == "" && opts != "any" && opts != "any,attr" && opts != "chardata" {
			// encoding/xml would name it after the field or its type's XMLName.
			return fmt.Errorf("xmlwire: field %s.%s has no element or attribute name", t, f.Name)
		}
		if err := fieldKind(f.Type, opts); err != nil {
			return fmt.Errorf("xmlwire: field %s.%s: %w", t, f.Name, err)
		}
		switch opts {
		case "", "omitempty":
			p.elems = append(p.elems, pf)
			p.content = append(p.content, pf)
		case "attr", "attr,omitempty":
			p.attrs = append(p.attrs, pf)
		case "any,attr":
			if p.anyAttr == nil {
				p.anyAttr = index
			}
		case "any":
			if p.anyElem == nil {
				p.anyElem = index
			}
			pf.mode = modeAny
			p.content = append(p.content, pf)
		case "chardata":
			if p.chardata == nil {
				p.chardata = index
			}
			pf.mode = modeCharData
			p.content = append(p.content, pf)
		default:
			return fmt.Errorf("xmlwire: field %s.%s: option %q is not read", t, f.Name, opts)
		}
	}
	return nil
}

// check refuses what encoding/xml would resolve by depth: two fields of t for the same
// attribute or element (the wire structs have none).
func (p *plan) check(t reflect.Type) error {
	for _, list := range [][]planField{p.attrs, p.elems} {
		for i, a := range list {
			for _, b := range list[i+1:] {
				if a.name == b.name && (a.ns == "" || b.ns == "" || a.ns == b.ns) {
					return fmt.Errorf("xmlwire: %s has two fields for %s", t, a.name)
				}
			}
		}
	}
	return nil
}

// fieldKind refuses a field type unmarshal does not read as encoding/xml would.
func fieldKind(t reflect.Type, opts string) error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	attr := strings.HasPrefix(opts, "attr") || opts == "any,attr"
	if t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 && opts != "chardata" {
		t = t.Elem()
	}
	switch {
	case t == base64Type && !attr:
		return nil
	case reflect.PointerTo(t).Implements(unmarshalerT), reflect.PointerTo(t).Implements(textUnmarshT),
		reflect.PointerTo(t).Implements(attrUnmarshT):
		return errors.New(t.String() + " has its own unmarshalling")
	case t.Kind() == reflect.String:
		return nil
	case attr && t == attrType:
		return nil
	case !attr && opts != "chardata" && t.Kind() == reflect.Struct:
		return nil // its own plan is made when it is first read
	}
	return errors.New("kind " + t.String() + " is not read")
}
