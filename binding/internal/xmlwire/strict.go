package xmlwire

import (
	"reflect"
	"slices"
	"strings"
	"sync"

	"dssd/dss"
)

// The schema is the contract: an element a DSS-X type declares, found in another namespace
// (dss2:Value in place of dsb:Value inside Base64Data, a Profile without namespace, ...),
// is not the element the schema means. encoding/xml hands it to the ",any" field of the
// enclosing type; checkNamespaces finds it there and refuses the request as MalformedRequest
// naming the expected element, as a schema-validating server would. Elements whose local
// name the enclosing type does not declare at all stay what they were: unsupported input,
// reported by name (NotSupported).

// prefixes are the conventional prefixes of the DSS-X namespaces, for messages.
var prefixes = map[string]string{
	NSCore: "dss2", NSBase: "dsb", NSNsList: "nsl", NSDsRW: "ds-rw", NSSAML2RW: "saml2-rw",
	"http://www.w3.org/2000/09/xmldsig#": "ds",
}

func qname(space, local string) string {
	if p, ok := prefixes[space]; ok {
		return p + ":" + local
	}
	if space == "" {
		return local + " (no namespace)"
	}
	return "{" + space + "}" + local
}

// typeInfo is what checkNamespaces needs of a wire struct type.
type typeInfo struct {
	children map[string]string // local name → namespace of each declared child element
	fields   []fieldInfo       // declared child elements, to descend into
	anyField []int             // index of the ",any" []Any field, nil if none
}

type fieldInfo struct {
	index []int // for reflect.Value.FieldByIndex (embedded structs: their children are ours)
	local string
}

var typeInfos sync.Map // reflect.Type → *typeInfo

var anyType = reflect.TypeOf(Any{})

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{children: map[string]string{}}
	ti.collect(t, nil)
	typeInfos.Store(t, ti)
	return ti
}

// collect adds the fields of struct type t, found at index path prefix, to ti. The fields of
// an embedded struct without tag are children of the embedding element, as for encoding/xml.
func (ti *typeInfo) collect(t reflect.Type, prefix []int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		index := append(slices.Clip(prefix), i)
		tag, ok := f.Tag.Lookup("xml")
		if !ok && f.Anonymous && f.Type.Kind() == reflect.Struct {
			ti.collect(f.Type, index)
			continue
		}
		if !ok || tag == "-" || f.Name == "XMLName" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts != "" {
			if opts == "any" && name == "" {
				ti.anyField = index
			}
			continue // attributes, chardata
		}
		space, local, found := strings.Cut(name, " ")
		if !found {
			space, local = "", name
		}
		ti.children[local] = space
		ti.fields = append(ti.fields, fieldInfo{index: index, local: local})
	}
}

// wireWalker walks a decoded wire value in document order: through pointers, interfaces,
// slices and the declared child elements of each wire struct (infoOf), never into Any.
// Paths are the element names from the root, each followed by "/".
type wireWalker struct {
	// item is the path of the i-th value of a repeated element at path; nil: path itself.
	item func(path string, i int) string
	// ptr, if set, sees every non-nil pointer before it is followed; inValue says it is the
	// dsb:Value child of a Base64Data. handled true: the walk does not follow it.
	ptr func(v reflect.Value, path string, inValue bool) (handled bool, err error)
	// node, if set, sees every wire struct before its children.
	node func(v reflect.Value, ti *typeInfo, path string) error
	// noPaths: every path is "" (a walk that only looks for a failure, without building a
	// string per element).
	noPaths bool
}

var base64DataType = reflect.TypeOf(Base64Data{})

func (w *wireWalker) walk(v reflect.Value, path string, inValue bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if w.ptr != nil {
			if handled, err := w.ptr(v, path, inValue); handled || err != nil {
				return err
			}
		}
		return w.walk(v.Elem(), path, false)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			p := path
			if w.item != nil && !w.noPaths {
				p = w.item(path, i)
			}
			if err := w.walk(v.Index(i), p, false); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	if v.Type() == anyType {
		return nil // content dssd does not model
	}
	ti := infoOf(v.Type())
	if w.node != nil {
		if err := w.node(v, ti, path); err != nil {
			return err
		}
	}
	isData := v.Type() == base64DataType
	for _, f := range ti.fields {
		p := path
		if !w.noPaths {
			p = path + f.local + "/"
		}
		if err := w.walk(v.FieldByIndex(f.index), p, isData && f.local == "Value"); err != nil {
			return err
		}
	}
	return nil
}

// namespaceNode refuses a wire struct whose ",any" field holds an element the type declares
// in another namespace.
func namespaceNode(v reflect.Value, ti *typeInfo, path string) error {
	if ti.anyField == nil {
		return nil
	}
	unknown, _ := v.FieldByIndex(ti.anyField).Interface().([]Any)
	for _, a := range unknown {
		space, declared := ti.children[a.XMLName.Local]
		if declared && space != a.XMLName.Space {
			where := strings.TrimSuffix(path, "/")
			return dss.Errorf(dss.KindMalformed, "%s holds %s: the schema expects %s there (wrong namespace)",
				where, qname(a.XMLName.Space, a.XMLName.Local), qname(space, a.XMLName.Local))
		}
	}
	return nil
}

// checkNamespaces walks the decoded request v (a pointer to a wire struct) whose element is
// root.
func checkNamespaces(root string, v any) error {
	// A walk without paths first: most requests have no such element, and then no path is
	// built; the first failure is found again with its path for the message.
	quick := wireWalker{node: namespaceNode, noPaths: true}
	if quick.walk(reflect.ValueOf(v), "", false) == nil {
		return nil
	}
	w := wireWalker{node: namespaceNode}
	return w.walk(reflect.ValueOf(v), root+"/", false)
}
