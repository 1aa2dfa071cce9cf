package xades

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/beevik/etree"
)

// A treePrint (a print) is a SHA-256 fingerprint of everything a canonicalization in this package reads
// from a tree: for an element, its subtree (names, attributes in order, text, comments,
// processing instructions, directives) and the names and attributes of all its ancestors
// (the namespace declarations and xml:* attributes in scope, which both c14n algorithms use);
// for a whole document, the processing instructions around the root element and the root's
// subtree, as canonicalizeDocument reads them. Adjacent character data counts as one text run
// (canonical text is the concatenation of the runs), a CDATA-flagged node as a node of its
// own. An element passed as skip is left out as if it were removed, which is how
// canonicalizeDocument and canonicalizeWithout leave out an enveloped signature.
//
// canonicalize and canonicalizeDocument are functions of exactly this content and of the
// algorithm, so two trees with equal prints have equal canonical forms under the same
// algorithm: that is what lets Check reuse a digest Sign computed (signTrace).
type treePrint [sha256.Size]byte

// printer writes the unambiguous encoding (tags and length-prefixed strings) into a hash
// through a small buffer.
type printer struct {
	h   hash.Hash
	buf []byte
}

func newPrinter() *printer { return &printer{h: sha256.New(), buf: make([]byte, 0, 1024)} }

func (p *printer) tag(c byte) { p.buf = append(p.buf, c); p.spill() }

func (p *printer) str(s string) {
	p.buf = binary.AppendUvarint(p.buf, uint64(len(s)))
	if len(p.buf)+len(s) > cap(p.buf) {
		p.h.Write(p.buf)
		p.buf = p.buf[:0]
		if len(s) > cap(p.buf) {
			p.h.Write([]byte(s))
			return
		}
	}
	p.buf = append(p.buf, s...)
}

func (p *printer) spill() {
	if len(p.buf) > cap(p.buf)-64 {
		p.h.Write(p.buf)
		p.buf = p.buf[:0]
	}
}

func (p *printer) sum() treePrint {
	p.h.Write(p.buf)
	p.buf = p.buf[:0]
	var out treePrint
	p.h.Sum(out[:0])
	return out
}

func (p *printer) head(el *etree.Element) {
	p.str(el.Space)
	p.str(el.Tag)
	p.buf = binary.AppendUvarint(p.buf, uint64(len(el.Attr)))
	for _, a := range el.Attr {
		p.str(a.Space)
		p.str(a.Key)
		p.str(a.Value)
	}
	p.spill()
}

// subtree writes el and its descendants, leaving skip out.
func (p *printer) subtree(el, skip *etree.Element) {
	p.tag('<')
	p.head(el)
	p.children(el.Child, skip)
	p.tag('>')
}

func (p *printer) children(kids []etree.Token, skip *etree.Element) {
	for i := 0; i < len(kids); {
		if n := textRun(kids[i:], skip); n > 0 {
			var size int
			for _, k := range kids[i : i+n] {
				if c, ok := k.(*etree.CharData); ok {
					size += len(c.Data)
				}
			}
			if size > 0 {
				p.tag('t')
				p.buf = binary.AppendUvarint(p.buf, uint64(size))
				for _, k := range kids[i : i+n] {
					if c, ok := k.(*etree.CharData); ok {
						p.raw(c.Data)
					}
				}
			}
			i += n
			continue
		}
		switch k := kids[i].(type) {
		case *etree.Element:
			if k != skip {
				p.subtree(k, skip)
			}
		case *etree.CharData: // CDATA-flagged
			p.tag('c')
			p.str(k.Data)
		case *etree.Comment:
			p.tag('m')
			p.str(k.Data)
		case *etree.ProcInst:
			p.tag('?')
			p.str(k.Target)
			p.str(k.Inst)
		case *etree.Directive:
			p.tag('!')
			p.str(k.Data)
		default:
			p.tag('x') // an etree token type this package does not know: never equal to anything known
		}
		i++
	}
}

// raw writes s without a length (the run's total length was written before it).
func (p *printer) raw(s string) {
	if len(p.buf)+len(s) > cap(p.buf) {
		p.h.Write(p.buf)
		p.buf = p.buf[:0]
		if len(s) > cap(p.buf) {
			p.h.Write([]byte(s))
			return
		}
	}
	p.buf = append(p.buf, s...)
}

// textRun returns how many tokens at the start of kids form one text run: plain character
// data, with skipped elements in between treated as absent. Zero if kids does not start with
// plain character data.
func textRun(kids []etree.Token, skip *etree.Element) int {
	end := 0
	for i, k := range kids {
		switch k := k.(type) {
		case *etree.CharData:
			if k.IsCData() {
				return end
			}
			end = i + 1
		case *etree.Element:
			if k != skip {
				return end
			}
		default:
			return end
		}
	}
	return end
}

// elementPrint is the print of el in its context.
func elementPrint(el, skip *etree.Element) treePrint {
	p := newPrinter()
	p.tag('E')
	var chain []*etree.Element
	for a := el.Parent(); a != nil; a = a.Parent() {
		if a.Tag != "" { // not the Document's own element
			chain = append(chain, a)
		}
	}
	p.buf = binary.AppendUvarint(p.buf, uint64(len(chain)))
	for i := len(chain) - 1; i >= 0; i-- {
		p.head(chain[i])
	}
	p.subtree(el, skip)
	return p.sum()
}

// documentPrint is the print of what canonicalizeDocument reads from doc.
func documentPrint(doc *etree.Document, skip *etree.Element) treePrint {
	p := newPrinter()
	p.tag('D')
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			p.subtree(t, skip)
		case *etree.ProcInst:
			if t.Target == "xml" {
				continue
			}
			p.tag('?')
			p.str(t.Target)
			p.str(t.Inst)
		}
	}
	return p.sum()
}

// signTrace records, for each tree Sign canonicalized and digested, its print, the
// algorithm and the digest. Check, given output whose reparsed parts have the same prints,
// uses the recorded digests instead of canonicalizing those parts again; any part whose print
// differs (or a Signed without a trace, such as one extended with unsigned properties) is
// canonicalized from the reparsed bytes as before. The trace holds no tree and nothing Check
// trusts without comparing it with the bytes it checks.
type signTrace struct {
	digests map[traceKey][]byte

	// The SignatureValue a VerifyingSigner returned (r‖s for ECDSA), the SignedInfo digest it
	// signed and that digest's hash.
	sigValue, sigDigest []byte
	sigHash             crypto.Hash
	sigKey              crypto.PublicKey // the key the signer verified with
}

// verified records that a VerifyingSigner with public key pub returned value for digest d
// under hash h.
func (t *signTrace) verified(pub crypto.PublicKey, h crypto.Hash, d, value []byte) {
	t.sigKey, t.sigHash, t.sigDigest, t.sigValue = pub, h, d, value
}

// signerKeyIs reports whether the recorded signer key is pub.
func (t *signTrace) signerKeyIs(pub crypto.PublicKey) bool {
	k, ok := t.sigKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

// wasVerified reports whether the signer verified value over d under h: Check need not.
func (t *signTrace) wasVerified(h crypto.Hash, d, value []byte) bool {
	return t != nil && t.sigValue != nil && t.sigHash == h &&
		bytes.Equal(t.sigDigest, d) && bytes.Equal(t.sigValue, value)
}

type traceKey struct {
	print treePrint
	alg   string
	hash  crypto.Hash
}

func (t *signTrace) add(p treePrint, alg string, h crypto.Hash, d []byte) {
	if t.digests == nil {
		t.digests = make(map[traceKey][]byte, 4)
	}
	t.digests[traceKey{p, alg, h}] = d
}

// digest returns the digest Sign computed for a tree with print p, if any.
func (t *signTrace) digest(p treePrint, alg string, h crypto.Hash) ([]byte, bool) {
	if t == nil {
		return nil, false
	}
	d, ok := t.digests[traceKey{p, alg, h}]
	return d, ok
}
