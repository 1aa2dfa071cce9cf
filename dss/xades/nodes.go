package xades

import "github.com/beevik/etree"

// nodes hands out the elements, the child and attribute slices and the texts of one signature
// from a few blocks, where etree's CreateElement, CreateAttr and SetText allocate each of them
// (and grow the slices) one by one. The tree is the same: every element is appended with
// AddChild and every attribute with CreateAttr; a slice handed out has exactly the capacity
// asked for, so a later append (an unsigned property added to a level) moves it instead of
// writing into its neighbour.
type nodes struct {
	els   []etree.Element
	toks  []etree.Token
	attrs []etree.Attr
	texts []etree.CharData
}

// reserve allocates the blocks for a XAdES signature with chain certificates in KeyInfo,
// enveloped (the largest B-B this package builds: 32 elements besides the certificates); a
// smaller signature leaves part of them unused, anything beyond them takes small blocks.
func (n *nodes) reserve(chain int) {
	n.els = make([]etree.Element, 32+chain)
	n.toks = make([]etree.Token, 39+2*chain)
	n.attrs = make([]etree.Attr, 19)
	n.texts = make([]etree.CharData, 7+chain)
}

// elem returns a new element space:tag with room for kids children and attrs attributes,
// appended to parent when parent is not nil.
func (n *nodes) elem(parent *etree.Element, space, tag string, kids, attrs int) *etree.Element {
	e := &take(&n.els, 1, 8)[:1][0]
	e.Space, e.Tag = space, tag
	e.Child = take(&n.toks, kids, 16)
	e.Attr = take(&n.attrs, attrs, 8)
	if parent != nil {
		parent.AddChild(e)
	}
	return e
}

// text appends the text s to el, which has no children yet (as el.SetText(s) does then).
func (n *nodes) text(el *etree.Element, s string) {
	t := &take(&n.texts, 1, 4)[:1][0]
	t.Data = s
	el.AddChild(t)
}

// take cuts an empty slice of capacity want from the front of *block, starting a new block of
// size (or want, if larger) when the current one is too short; nil for want 0.
func take[T any](block *[]T, want, size int) []T {
	if want == 0 {
		return nil
	}
	if len(*block) < want {
		*block = make([]T, max(want, size))
	}
	s := (*block)[:0:want]
	*block = (*block)[want:]
	return s
}
