package csc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a request (CSC requests are at most three levels deep).
const maxDepth = 16

// decodeError is a client error in the JSON body; its text is client-safe.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

// strictDecode decodes one JSON object into v (a pointer to a struct). Unknown members
// (also misspelt ones: names are case-sensitive) are ignored, as CSC v2.2 clients send
// members of newer versions; unlike encoding/json alone it refuses members given twice (at
// any depth), invalid UTF-8, too deep nesting and anything after the value.
func strictDecode(b []byte, v any) error {
	if !utf8.Valid(b) {
		return &decodeError{"the body is not UTF-8"}
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return &decodeError{"the body must be a JSON object"}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := checkValue(d, reflect.TypeOf(v).Elem(), "", 0); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return &decodeError{"the body holds data after the JSON object"}
	}
	d = json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &decodeError{fmt.Sprintf("missing (or invalid type) parameter %s", te.Field)}
		}
		return &decodeError{"the body is not a valid JSON request: " + err.Error()}
	}
	return nil
}

// checkValue walks one JSON value against type t, checking object member names.
func checkValue(d *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return &decodeError{"the JSON body is nested too deeply"}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := d.Token()
	if err != nil {
		return &decodeError{"the body is not valid JSON"}
	}
	delim, isDelim := tok.(json.Delim)
	if !isDelim {
		return nil // scalars: types are checked by encoding/json
	}
	switch delim {
	case '{':
		var fields map[string]reflect.Type
		if t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		seen := map[string]bool{}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return &decodeError{"the body is not valid JSON"}
			}
			key, _ := kt.(string)
			name := key
			if path != "" {
				name = path + "." + key
			}
			if seen[key] {
				return &decodeError{fmt.Sprintf("parameter %s is given more than once", name)}
			}
			seen[key] = true
			ft, ok := fields[key]
			if !ok && t.Kind() == reflect.Struct {
				// encoding/json would fill a field whose name differs only in case.
				for known := range fields {
					if strings.EqualFold(known, key) {
						return &decodeError{fmt.Sprintf("parameter %s: member names are case-sensitive (%s)", name, known)}
					}
				}
			}
			if !ok {
				// Unknown members are ignored (newer CSC versions add members); their
				// values are still walked for duplicates and depth.
				ft = reflect.TypeOf((*any)(nil)).Elem()
			}
			if err := checkValue(d, ft, name, depth+1); err != nil {
				return err
			}
		}
	case '[':
		et := reflect.TypeOf((*any)(nil)).Elem()
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			et = t.Elem()
		}
		for d.More() {
			if err := checkValue(d, et, path+"[]", depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := d.Token(); err != nil { // the closing delimiter
		return &decodeError{"the body is not valid JSON"}
	}
	return nil
}

// jsonFields maps the exact json member names of struct t to their field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}
