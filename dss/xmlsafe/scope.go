package xmlsafe

// Scope is the namespace context of a walk through a document: the innermost declaration of
// each prefix, updated as the walk enters and leaves elements, so that resolving a prefix costs
// one map lookup whatever the depth. The gate keeps one while it reads a document;
// dss/xmldsig keeps one while it walks a node-set. The zero value is an empty scope.
type Scope struct {
	index map[string]int // prefix ("" for the default namespace) -> index in binds of its innermost declaration
	binds []scopeBind
}

type scopeBind struct {
	prefix, uri string
	prev        int // index of the declaration it shadows, or -1
}

// Declare binds prefix ("" for the default namespace) to uri until PopTo undoes it. It checks
// nothing: the gate has already refused what XML forbids.
func (s *Scope) Declare(prefix, uri string) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	prev, ok := s.index[prefix]
	if !ok {
		prev = -1
	}
	s.index[prefix] = len(s.binds)
	s.binds = append(s.binds, scopeBind{prefix: prefix, uri: uri, prev: prev})
}

// Len is the number of declarations in scope, shadowed ones included: a mark for PopTo.
func (s *Scope) Len() int { return len(s.binds) }

// PopTo undoes the declarations made since Len returned mark.
func (s *Scope) PopTo(mark int) {
	for len(s.binds) > mark {
		b := s.binds[len(s.binds)-1]
		if b.prev < 0 {
			delete(s.index, b.prefix)
		} else {
			s.index[b.prefix] = b.prev
		}
		s.binds = s.binds[:len(s.binds)-1]
	}
}

// Lookup returns the namespace bound to prefix; the xml prefix is always bound.
func (s *Scope) Lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	i, ok := s.index[prefix]
	if !ok {
		return "", false
	}
	return s.binds[i].uri, true
}

// clear empties s for the next walk, keeping its map and, when small, its array.
func (s *Scope) clear() {
	s.binds = reuse(s.binds)
	clear(s.index)
}
