// Package etreecmp compares etree trees node by node, for tests of parsers that must build
// exactly the tree etree's own parser builds.
package etreecmp

import (
	"fmt"

	"github.com/beevik/etree"
)

// Equal compares two etree trees node by node: element names (raw prefix and local name),
// attributes in order and bound to their element, children in order with their parents and
// indexes, text with etree's whitespace and CDATA flags, comments and processing instructions.
// want is the reference (etree's own parse, say); the error names the first difference.
func Equal(want, got *etree.Element) error {
	if want.Space != got.Space || want.Tag != got.Tag {
		return fmt.Errorf("element %s:%s, want %s:%s", got.Space, got.Tag, want.Space, want.Tag)
	}
	if len(want.Attr) != len(got.Attr) {
		return fmt.Errorf("element %s: %d attributes, want %d", want.Tag, len(got.Attr), len(want.Attr))
	}
	for i := range want.Attr {
		w, g := want.Attr[i], got.Attr[i]
		if w.Space != g.Space || w.Key != g.Key || w.Value != g.Value {
			return fmt.Errorf("element %s: attribute %d is %s:%s=%q, want %s:%s=%q", want.Tag, i, g.Space, g.Key, g.Value, w.Space, w.Key, w.Value)
		}
		if g.Element() != got || g.NamespaceURI() != w.NamespaceURI() {
			return fmt.Errorf("element %s: attribute %s is not bound to its element", want.Tag, g.Key)
		}
	}
	if len(want.Child) != len(got.Child) {
		return fmt.Errorf("element %s: %d children, want %d", want.Tag, len(got.Child), len(want.Child))
	}
	for i, wc := range want.Child {
		gc := got.Child[i]
		if gc.Parent() != got || gc.Index() != i {
			return fmt.Errorf("element %s: child %d has the wrong parent or index", want.Tag, i)
		}
		switch w := wc.(type) {
		case *etree.Element:
			g, ok := gc.(*etree.Element)
			if !ok {
				return fmt.Errorf("element %s: child %d is a %T, want an element", want.Tag, i, gc)
			}
			if err := Equal(w, g); err != nil {
				return err
			}
		case *etree.CharData:
			g, ok := gc.(*etree.CharData)
			if !ok || g.Data != w.Data || g.IsWhitespace() != w.IsWhitespace() || g.IsCData() != w.IsCData() {
				return fmt.Errorf("element %s: child %d is %#v, want %#v", want.Tag, i, gc, w)
			}
		case *etree.Comment:
			if g, ok := gc.(*etree.Comment); !ok || g.Data != w.Data {
				return fmt.Errorf("element %s: child %d is %#v, want %#v", want.Tag, i, gc, w)
			}
		case *etree.ProcInst:
			if g, ok := gc.(*etree.ProcInst); !ok || g.Target != w.Target || g.Inst != w.Inst {
				return fmt.Errorf("element %s: child %d is %#v, want %#v", want.Tag, i, gc, w)
			}
		default:
			return fmt.Errorf("element %s: child %d is a %T", want.Tag, i, wc)
		}
	}
	return nil
}
