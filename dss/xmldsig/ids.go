package xmldsig

import (
	"errors"
	"fmt"

	"github.com/beevik/etree"
)

// IDIndex maps id values to elements, built in one walk over the tree. The rule, the same for
// signing and verifying: every attribute whose local name is Id, ID or id counts, in any
// namespace (Id, ID, id, wsu:Id, xml:id, ...; namespace declarations never); an id seen twice,
// under whatever attribute name and on whatever element (the same one included), is never
// resolved (signature wrapping, hardening.md).
type IDIndex struct {
	byID map[string]*etree.Element
	dup  map[string]bool
}

// Errors of IDIndex.Lookup.
var (
	ErrDuplicateID = errors.New("id used more than once")
	ErrUnknownID   = errors.New("no element has the id")
)

// IndexIDs indexes the ids in the tree at root.
func IndexIDs(root *etree.Element) IDIndex {
	x := IDIndex{byID: map[string]*etree.Element{}, dup: map[string]bool{}}
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		for _, a := range el.Attr {
			if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
				continue
			}
			if a.Key == "Id" || a.Key == "ID" || a.Key == "id" {
				if _, ok := x.byID[a.Value]; ok {
					x.dup[a.Value] = true
				}
				x.byID[a.Value] = el
			}
		}
		for _, c := range el.Child {
			if ce, ok := c.(*etree.Element); ok {
				walk(ce)
			}
		}
	}
	walk(root)
	return x
}

// Lookup resolves a bare-name id: an error wrapping ErrDuplicateID or ErrUnknownID when it
// cannot.
func (x IDIndex) Lookup(id string) (*etree.Element, error) {
	if x.dup[id] {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateID, id)
	}
	el, ok := x.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownID, id)
	}
	return el, nil
}

// Has reports whether some element carries id (once or more).
func (x IDIndex) Has(id string) bool {
	_, ok := x.byID[id]
	return ok
}
