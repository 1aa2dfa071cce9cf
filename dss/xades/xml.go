package xades

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"dssd/dss/xmldsig"
	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
)

// parseXML is the one place where this package parses XML: through the
// ingress gate, which refuses DOCTYPEs, undeclared prefixes, duplicate
// attributes, literal white space in attribute values (encoding/xml would
// not normalize it), processing instructions inside or after the root,
// non-UTF-8 input and anything beyond lim.
func parseXML(b []byte, lim xmlsafe.Limits) (*etree.Document, error) {
	doc, err := xmlsafe.Parse(b, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if doc.Root() == nil {
		return nil, fmt.Errorf("%w: xml document without a root element", ErrMalformed)
	}
	return doc, nil
}

// refuseCharset lets only UTF-8 through: documents declaring any other
// encoding are refused rather than misread.
func refuseCharset(label string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("encoding %q refused: only utf-8", label)
}

// outputLimits are the gate's limits for what Sign produces: the document
// limits plus the signature's own growth (base64 content, the Signature and
// Object levels, its elements and declarations). Tests check all output
// against them.
func outputLimits() xmlsafe.Limits {
	l := xmlsafe.DocumentLimitsFor(0)
	l.MaxBytes = l.MaxBytes/3*4 + 1<<20
	l.MaxDepth += 8
	l.MaxElements += 1000
	l.MaxNSInScope += 16
	return l
}

// serialize writes doc with escaping that survives a reparse: carriage
// returns in text and tabs, line feeds and carriage returns in attribute
// values become character references (etree's default writes them raw,
// and a parser would then normalize them away).
//
// The bytes are those of etree's writer with WriteSettings{CanonicalText: true,
// CanonicalAttrVal: true}, written straight into one buffer (etree goes through
// a bufio.Writer and escapes rune by rune); TestSerializeMatchesEtree and
// FuzzParseOwnBytes compare the two. A tree holding a directive (never made
// here: the gate refuses them) is written by etree.
func serialize(doc *etree.Document) ([]byte, error) {
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	// Written into a pooled buffer and copied out at its size: the result allocates what it
	// holds, not the doublings of a growing slice.
	return withC14NBuf(func(b []byte) ([]byte, []byte, error) {
		for _, t := range doc.Child {
			var ok bool
			if b, ok = appendToken(b, t); !ok {
				var buf bytes.Buffer
				if _, err := doc.WriteTo(&buf); err != nil {
					return nil, b, err
				}
				return buf.Bytes(), b, nil
			}
		}
		return bytes.Clone(b), b, nil
	})
}

// appendToken appends t as etree's writer writes it with serialize's settings;
// false for a token it does not write.
func appendToken(b []byte, t etree.Token) ([]byte, bool) {
	switch t := t.(type) {
	case *etree.Element:
		b = append(b, '<')
		b = xmldsig.AppendQName(b, t.Space, t.Tag)
		for _, a := range t.Attr {
			b = append(b, ' ')
			b = xmldsig.AppendQName(b, a.Space, a.Key)
			b = append(b, `="`...)
			b = xmldsig.AppendEscaped(b, a.Value, true)
			b = append(b, '"')
		}
		if len(t.Child) == 0 {
			return append(b, "/>"...), true
		}
		b = append(b, '>')
		for _, c := range t.Child {
			var ok bool
			if b, ok = appendToken(b, c); !ok {
				return b, false
			}
		}
		b = append(b, "</"...)
		b = xmldsig.AppendQName(b, t.Space, t.Tag)
		return append(b, '>'), true
	case *etree.CharData:
		if t.IsCData() {
			b = append(b, "<![CDATA["...)
			s := t.Data
			for {
				i := strings.Index(s, "]]>")
				if i < 0 {
					break
				}
				b = append(b, s[:i+2]...)
				b = append(b, "]]><![CDATA["...)
				s = s[i+2:]
			}
			b = append(b, s...)
			return append(b, "]]>"...), true
		}
		return xmldsig.AppendEscaped(b, t.Data, false), true
	case *etree.Comment:
		// A comment may not hold "--" nor end with '-': a space goes between.
		b = append(b, "<!--"...)
		hyphen := false
		for i := 0; i < len(t.Data); i++ {
			c := t.Data[i]
			if c == '-' && hyphen {
				b = append(b, ' ')
			}
			hyphen = c == '-'
			b = append(b, c)
		}
		if hyphen {
			b = append(b, ' ')
		}
		return append(b, "-->"...), true
	case *etree.ProcInst:
		b = append(b, "<?"...)
		b = appendProcInstText(b, t.Target)
		if t.Inst != "" {
			b = append(b, ' ')
			b = appendProcInstText(b, t.Inst)
		}
		return append(b, "?>"...), true
	}
	return b, false
}

// appendProcInstText appends s with a space inside every "?>", as etree does.
func appendProcInstText(b []byte, s string) []byte {
	for {
		i := strings.Index(s, "?>")
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+1]...)
		b = append(b, ' ')
		s = s[i+1:]
	}
}

// canonicalize returns the canonical form (alg: ExcC14N or C14N11, both without comments) of
// el as a document subset in its own context, through the XMLDSig core (dss/xmldsig): the
// namespaces in scope at el are taken into account and, for c14n 1.1, the xml:lang and
// xml:space attributes el inherits, under the signer's rule (xmldsig.InheritedXMLAttrs). el
// is not modified.
func canonicalize(el *etree.Element, alg string) ([]byte, error) {
	return canonicalizeSkip(el, alg, nil)
}

// canonicalizeSkip is canonicalize leaving out skip, a descendant of el (not modified either).
func canonicalizeSkip(el *etree.Element, alg string, skip *etree.Element) ([]byte, error) {
	return canonicalizeBuf(nil, el, alg, skip, 0)
}

// canonicalizeBuf is canonicalizeSkip writing into buf's storage (xmldsig.Options.Buf; nil:
// a new buffer), stopping with an error wrapping ErrLimit once the output is longer than
// maxBytes (0: no bound; c14nBound.walk).
func canonicalizeBuf(buf []byte, el *etree.Element, alg string, skip *etree.Element, maxBytes int64) ([]byte, error) {
	if err := checkC14N(alg); err != nil {
		return nil, err
	}
	out, err := xmldsig.Canonicalize(el, alg, xmldsig.Options{Skip: skip, SignerXMLAttrs: true, Buf: buf, MaxBytes: maxBytes})
	return out, c14nError(err)
}

// c14nBound is a signature's bound on the canonical bytes it covers (Params.MaxC14NBytes)
// and what is left of it: every canonical form the signature covers is charged to it, as the
// verifier charges them to its own (dss/verify Limits.MaxC14NBytes).
type c14nBound struct{ max, left int64 }

// newC14NBound returns the bound maxC14N, or xmldsig.MaxC14NBytesFor(maxDoc) when it is not
// positive.
func newC14NBound(maxC14N, maxDoc int64) c14nBound {
	if maxC14N <= 0 {
		maxC14N = xmldsig.MaxC14NBytesFor(maxDoc)
	}
	return c14nBound{max: maxC14N, left: maxC14N}
}

// walk is the bound of the next canonicalization (canonicalizeBuf's maxBytes): what is left,
// at least 1 (0 would be no bound).
func (c *c14nBound) walk() int64 { return max(c.left, 1) }

// charge counts n canonical bytes written by a walk that returned err. It returns err, or
// the bound's error when the walk stopped at the bound (ErrLimit) or its output leaves
// nothing of it.
func (c *c14nBound) charge(n int, err error) error {
	if err != nil && !errors.Is(err, ErrLimit) {
		return err
	}
	if c.left -= int64(n); err != nil || c.left < 0 {
		return fmt.Errorf("%w: the canonical forms this signature covers would be longer than %d bytes together, "+
			"the most the verifier accepts for documents of this size limit", ErrLimit, c.max)
	}
	return nil
}

// c14nBufs holds the buffers of the canonical forms this package only digests (SignedInfo,
// SignedProperties, the document of an enveloped signature, in Build and Check) and the one
// serialize writes into: a request then allocates none of them.
var c14nBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// maxPooledBuf: a buffer grown beyond this (a large document) is left to the collector.
const maxPooledBuf = 1 << 20

// withC14NBuf calls f with a pooled buffer and returns the buffer (as f grew it) to the pool;
// nothing f returns may share the buffer.
func withC14NBuf[T any](f func(buf []byte) (T, []byte, error)) (T, error) {
	p := c14nBufs.Get().(*[]byte)
	v, used, err := f((*p)[:0])
	if cap(used) > cap(*p) {
		*p = used[:0]
	}
	if cap(*p) <= maxPooledBuf {
		c14nBufs.Put(p)
	}
	return v, err
}

// canonicalDigest returns the digest under h of canonicalize(el, alg), canonicalized into a
// pooled buffer and charged to bound (nil: no bound).
func canonicalDigest(h crypto.Hash, el *etree.Element, alg string, bound *c14nBound) ([]byte, error) {
	return withC14NBuf(func(buf []byte) ([]byte, []byte, error) {
		var maxBytes int64
		if bound != nil {
			maxBytes = bound.walk()
		}
		c, err := canonicalizeBuf(buf, el, alg, nil, maxBytes)
		if bound != nil {
			err = bound.charge(len(c), err)
		}
		if err != nil {
			return nil, c, err
		}
		return digest(h, c), c, nil
	})
}

// c14nError maps an error of the core's canonicalization to this package's sentinels.
func c14nError(err error) error {
	if err == nil {
		return nil // before attr, which escapes to errors.As
	}
	var attr *xmldsig.XMLAttrError
	switch {
	case errors.Is(err, xmldsig.ErrOutputLimit):
		return fmt.Errorf("%w: %w", ErrLimit, err)
	case errors.As(err, &attr):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	default:
		return fmt.Errorf("%w: canonicalization: %w", ErrMalformed, err)
	}
}

// canonicalizeDocument returns the canonical form of the whole document
// (a same-document reference URI="", so without comments), leaving out skip
// (the signature, for the enveloped-signature transform) if it is not nil.
func canonicalizeDocument(doc *etree.Document, alg string, skip *etree.Element) ([]byte, error) {
	return canonicalizeDocumentBuf(nil, doc, alg, skip, 0)
}

// canonicalizeDocumentBuf is canonicalizeDocument writing into buf's storage (nil: a new
// buffer), bounded as canonicalizeBuf is by maxBytes (0: no bound).
func canonicalizeDocumentBuf(buf []byte, doc *etree.Document, alg string, skip *etree.Element, maxBytes int64) ([]byte, error) {
	root := doc.Root()
	if skip != nil && (skip == root || skip.Parent() == nil) {
		return nil, fmt.Errorf("%w: enveloped signature is the document element", ErrMalformed)
	}
	if err := checkC14N(alg); err != nil {
		return nil, err
	}
	out, err := xmldsig.CanonicalizeDocument(doc, alg, xmldsig.Options{Skip: skip, SignerXMLAttrs: true, Buf: buf, MaxBytes: maxBytes})
	return out, c14nError(err)
}

// idIndex is the core's Id index (xmldsig.IndexIDs: the verifier's rule) with this
// package's errors.
type idIndex struct{ x xmldsig.IDIndex }

func buildIDIndex(root *etree.Element) idIndex { return idIndex{xmldsig.IndexIDs(root)} }

// has reports whether some element carries id.
func (x idIndex) has(id string) bool { return x.x.Has(id) }

func (x idIndex) lookup(id string) (*etree.Element, error) {
	el, err := x.x.Lookup(id)
	switch {
	case errors.Is(err, xmldsig.ErrDuplicateID):
		return nil, fmt.Errorf("%w: id %q is used more than once", ErrMalformed, id)
	case err != nil:
		return nil, fmt.Errorf("%w: no element with id %q", ErrMalformed, id)
	}
	return el, nil
}

// isNCName reports whether s is an XML NCName (ASCII subset plus any
// non-ASCII letter; good enough for ids this package emits or accepts).
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= 0x80:
		case i > 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// ncnameTail makes s usable inside an NCName after a valid prefix.
func ncnameTail(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// nsURI returns the namespace URI of el.
func nsURI(el *etree.Element) string { return el.NamespaceURI() }

// is reports whether el is the element {ns}local.
func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && nsURI(el) == ns
}
