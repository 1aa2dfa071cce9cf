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

func walkNS(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkNS(v.Elem(), path)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if err := walkNS(v.Index(i), path); err != nil {
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
	if ti.anyField != nil {
		if unknown, ok := v.FieldByIndex(ti.anyField).Interface().([]Any); ok {
			for _, a := range unknown {
				space, declared := ti.children[a.XMLName.Local]
				if declared && space != a.XMLName.Space {
					where := strings.TrimSuffix(path, "/")
					return dss.Errorf(dss.KindMalformed, "%s holds %s: the schema expects %s there (wrong namespace)",
						where, qname(a.XMLName.Space, a.XMLName.Local), qname(space, a.XMLName.Local))
				}
			}
		}
	}
	for _, f := range ti.fields {
		if err := walkNS(v.FieldByIndex(f.index), path+f.local+"/"); err != nil {
			return err
		}
	}
	return nil
}

// checkNamespaces walks the decoded request v (a pointer to a wire struct) whose element is
// root.
func checkNamespaces(root string, v any) error {
	return walkNS(reflect.ValueOf(v), root+"/")
}
