package xmlsafe

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/beevik/etree"

	"dssd/internal/positive"
)

// Limits bounds what Check and Parse accept. A zero or negative field takes the value of
// DocumentLimits, so a partly filled Limits never means "unlimited".
type Limits struct {
	MaxBytes        int64 // size of the input
	MaxDepth        int   // element nesting; the root element is at depth 1
	MaxElements     int   // elements in the document
	MaxAttrs        int   // attributes per element, namespace declarations included
	MaxNSPerElement int   // xmlns declarations per element
	MaxNSInScope    int   // xmlns declarations in scope at any element (its own and its ancestors')
	MaxTextBytes    int64 // a single text node (adjacent text and CDATA joined) or attribute value; 0 = MaxBytes
	// MaxNodes bounds the nodes of the document: elements, attributes (namespace declarations
	// included), text nodes, comments and processing instructions. 0 = MaxBytes, which no
	// document reaches (every node takes at least one byte): the verifier sets a smaller one
	// (dss/verify Limits.MaxNodes), since its work grows with the nodes, not the bytes.
	MaxNodes int64

	// AnyEncoding lets documents use the encodings Decode reads (UTF-16 with its byte order
	// mark, US-ASCII, ISO-8859-n, windows-125n): they are decoded to UTF-8 first, and offsets in
	// errors count bytes of that UTF-8 form. False (the zero value, and EnvelopeLimits):
	// UTF-8 only, as SOAP envelopes and DSS messages must be.
	AnyEncoding bool
}

// DefaultMaxDocumentBytes is the default size limit of a document to sign or verify.
const DefaultMaxDocumentBytes = 64 << 20

// EnvelopeLimits are the limits for SOAP envelopes and DSS messages. Messages carry documents
// as base64 text, so a single text node may use the whole size; the size matches the body
// limit of the bindings (hardening.md §2.6: 16 MiB). The node limit is
// DefaultEnvelopeNodes, whatever the size.
func EnvelopeLimits() Limits {
	return Limits{
		MaxBytes:        16 << 20,
		MaxDepth:        64,
		MaxElements:     envelopeElements,
		MaxAttrs:        256,
		MaxNSPerElement: 16,
		MaxNSInScope:    64,
		MaxTextBytes:    0,
		MaxNodes:        DefaultEnvelopeNodes,
	}
}

// envelopeElements is the element limit of EnvelopeLimits.
const envelopeElements = 100000

// DefaultEnvelopeNodes is the node limit of EnvelopeLimits: four nodes for each element the
// element limit admits. DSS-X 2.0 carries every document, signature and other XML payload
// base64 encoded (dsb:Base64Data, dsb:AnyType), so the nodes of a message are its own markup,
// which grows with the documents it names, not with their size: the requests of
// testdata/requests hold 2.4 to 3.5 nodes per element (an element, an attribute or two, its
// text, the whitespace before the next). Without it, the node limit was the size limit: an
// element may hold 256 attributes, so a message of attributes allocated about 245 bytes per
// attribute through the gate and the decoder (16 MiB: 2.2 million attributes, 520 MB). With
// it, a message costs at most what the element limit already admitted (100 000 elements of
// two attributes and a text: 125 MB allocated), whatever the size limit (decisions §44).
const DefaultEnvelopeNodes = 4 * envelopeElements

// DocumentLimits are the limits for XML documents to sign or verify (hardening.md §2.6), in
// any encoding Decode reads. The element limit bounds the tree: at most about 300 bytes of
// memory per element (docs/performance.md), whatever the size limit lets in. Namespace
// declarations are bounded per element and in scope at any element, which bounds the work of
// canonicalization per element, not per document: a SAML federation aggregate declares the same
// namespaces again in every entity.
func DocumentLimits() Limits {
	return Limits{
		MaxBytes:        DefaultMaxDocumentBytes,
		MaxDepth:        256,
		MaxElements:     MaxDocumentElements(DefaultMaxDocumentBytes),
		MaxAttrs:        256,
		MaxNSPerElement: 32,
		MaxNSInScope:    128,
		MaxTextBytes:    0,
		AnyEncoding:     true,
	}
}

// DocumentLimitsFor returns DocumentLimits with the size limit maxBytes (DefaultMaxDocumentBytes
// when not positive) and the element limit that goes with it.
func DocumentLimitsFor(maxBytes int64) Limits {
	l := DocumentLimits()
	if maxBytes > 0 {
		l.MaxBytes = maxBytes
		l.MaxElements = MaxDocumentElements(maxBytes)
	}
	return l
}

// MaxDocumentElements is the element limit of a document of at most maxBytes: one element per
// 32 bytes (real documents average 100 to 200 bytes per element; a SAML aggregate about 160),
// and never fewer than 100 000.
func MaxDocumentElements(maxBytes int64) int {
	n := maxBytes / 32
	if n < 100000 {
		n = 100000
	}
	return int(min(n, 1<<30))
}

// normalize fills zero or negative fields from DocumentLimits.
func (l Limits) normalize() Limits {
	d := DocumentLimits()
	positive.Or(&l.MaxBytes, d.MaxBytes)
	positive.Or(&l.MaxDepth, d.MaxDepth)
	positive.Or(&l.MaxElements, d.MaxElements)
	positive.Or(&l.MaxAttrs, d.MaxAttrs)
	positive.Or(&l.MaxNSPerElement, d.MaxNSPerElement)
	positive.Or(&l.MaxNSInScope, d.MaxNSInScope)
	positive.Or(&l.MaxTextBytes, l.MaxBytes)
	positive.Or(&l.MaxNodes, l.MaxBytes)
	return l
}

// Reason classifies a rejection.
type Reason int

// Reasons. The zero value is ReasonMalformed.
const (
	ReasonMalformed        Reason = iota // not well-formed: structure, syntax, roots, trailing content
	ReasonLimit                          // a Limits field was exceeded
	ReasonDTD                            // a DOCTYPE or other <! directive
	ReasonEntity                         // an entity or character reference that is not allowed
	ReasonEncoding                       // not UTF-8 XML 1.0: bytes, characters, BOM, XML declaration
	ReasonDuplicateAttr                  // an attribute repeated by raw or expanded name
	ReasonUndeclaredPrefix               // a prefix without a declaration in scope
	ReasonNamespace                      // a namespace rule broken (empty names, reserved prefixes, undeclaring)
	ReasonProcInst                       // a processing instruction outside the prolog or with a reserved target
	ReasonRoundTrip                      // no longer produced (the round-trip check was removed in issue 11); kept so reasons keep their numbers
	reasonCount
)

// String returns a short stable name, as used in testdata/hostile/manifest.txt.
func (r Reason) String() string {
	switch r {
	case ReasonMalformed:
		return "malformed"
	case ReasonLimit:
		return "limit"
	case ReasonDTD:
		return "dtd"
	case ReasonEntity:
		return "entity"
	case ReasonEncoding:
		return "encoding"
	case ReasonDuplicateAttr:
		return "duplicate-attribute"
	case ReasonUndeclaredPrefix:
		return "undeclared-prefix"
	case ReasonNamespace:
		return "namespace"
	case ReasonProcInst:
		return "processing-instruction"
	case ReasonRoundTrip:
		return "round-trip"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is the error returned for every rejected input. Its message is safe to show to the
// client: a reason, a byte offset into the input and a fixed text with at most a short quoted
// excerpt. The underlying parser error, if any, is reachable through Unwrap for logs only.
type Error struct {
	Reason Reason
	Detail string
	Offset int64 // byte offset into the input where the problem was found
	cause  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("xml rejected (%s) at byte %d: %s", e.Reason, e.Offset, e.Detail)
}

// Unwrap returns the parser error behind e, if any. It is not client-safe.
func (e *Error) Unwrap() error { return e.cause }

// IsLimit reports whether err is a limit violation (bindings answer 413 or LimitExceeded).
func IsLimit(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == ReasonLimit
}

// DTDRefused is the message for a DOCTYPE or any other <! declaration: refused by policy,
// although XML allows them, because a DTD can expand entities and fetch files.
const DTDRefused = "doctype and other <! declarations are refused by policy: dssd reads no DTD, " +
	"expands no entity and fetches nothing; remove the DOCTYPE"

// errCharset is returned by the CharsetReader given to every decoder: only UTF-8 is read.
var errCharset = errors.New("only utf-8 is accepted")

func refuseCharset(string, io.Reader) (io.Reader, error) { return nil, errCharset }

// Check is the strict raw gate: it returns nil if b is acceptable XML within lim, and an
// *Error otherwise. It builds no tree.
func Check(b []byte, lim Limits) error {
	_, _, err := check(nil, b, lim.normalize(), sink{})
	return err
}

// Parse runs Check and returns the etree document of b, built from the gate's own tokenizing
// pass: the tree is made of exactly the tokens the gate checked, and no second parser reads
// the bytes. The tree is the one etree's own parse (ReadFromBytes with the default
// ReadSettings) would build from the same bytes; TestParseTreeMatchesEtree and FuzzParse
// compare the two. A UTF-8 byte order mark is not part of the tree; the epilog (the whitespace
// and comments Check allows after the root element) is, as etree's parse without ValidateInput
// keeps it, so that a document signed enveloped keeps its last comments.
//
// Building the tree from the gate's tokens halves the cost of Parse: etree's parse was a second
// encoding/xml tokenizing pass over the same bytes. The names, values and text of the tree are
// substrings of one copy of the input (made once, after decoding), and its nodes come from a
// few shared arrays: the tree costs a few allocations instead of several per node, and any
// part of it that is kept keeps that copy (and the arrays of its nodes) alive.
func Parse(b []byte, lim Limits) (*etree.Document, error) {
	return ParseContext(nil, b, lim)
}

// ParseContext is Parse that stops when ctx is done (nil: never): the byte passes check it
// every CtxCheckBytes bytes and the tokenizing pass every CtxCheckTokens tokens, so the work
// goes on for at most that much after the context ends. It then returns an error wrapping
// ctx's error (not an *Error).
func ParseContext(ctx context.Context, b []byte, lim Limits) (*etree.Document, error) {
	lim = lim.normalize()
	doc := etree.NewDocument()
	doc.ReadSettings = readSettings(lim)
	t := newTreeBuilder(doc, b)
	defer t.release()
	if _, _, err := check(ctx, b, lim, sink{tree: t}); err != nil {
		return nil, err
	}
	t.finish()
	return doc, nil
}

// How often the passes of ParseContext check the context: a check costs about as much as
// reading a few bytes, so these make it unmeasurable (BenchmarkParse) while stopping within
// about a millisecond of work.
const (
	CtxCheckTokens = 1024
	CtxCheckBytes  = 1 << 20
)

// ctxErr returns ctx's error wrapped, or nil (also for a nil ctx).
func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("xml parsing stopped: %w", err)
	}
	return nil
}

// Tokens runs Check and returns the raw tokens (encoding/xml RawToken: prefixes unresolved) of
// b from its start to the end of the root element, copied: the tokens the gate checked, for a
// decoder to read again without tokenizing the bytes a second time (xml.NewTokenDecoder over a
// reader of them resolves the namespaces as xml.NewDecoder would). Instead of a copy each,
// names and values are substrings of one copy of b, made once, and the bytes of text,
// comments and processing instructions are slices of b itself (text with references or CR
// decoded is copied): b must not be modified while the tokens are in use, and keeping any of
// them keeps b and its copy alive.
func Tokens(b []byte, lim Limits) ([]xml.Token, error) {
	w := estimateWindow(b)
	r := tokenRecorder{toks: make([]xml.Token, 0, min(2*bytes.Count(w, []byte("<"))+8, maxPrealloc))}
	r.attrs.size = min(bytes.Count(w, []byte("=")), maxChunk) // an attribute per "="
	if _, _, err := check(nil, b, lim.normalize(), sink{rec: &r}); err != nil {
		return nil, err
	}
	return r.toks, nil
}

// estimateWindow is the part of b the first chunk sizes are estimated from: the estimates
// are capped (maxPrealloc, maxChunk), so counting beyond the first 64 KiB would read a large
// input to its end for nothing; where the estimate falls short, further chunks follow.
func estimateWindow(b []byte) []byte { return b[:min(len(b), 64<<10)] }

// maxPrealloc bounds the tokens Tokens makes room for on its estimate before the gate has
// read the input: a hostile input of many small tags gets no more than this up front.
const maxPrealloc = 1 << 12

// sink receives the tokens that pass the gate: the tree of Parse (all of them, the epilog
// included) or the recorder of Tokens (up to the end of the root element), or neither (Check).
// They are called directly, not through an interface, so that the pass's token stays on the
// stack. A token is valid only until the next one is read (its owned bytes and its strings
// stay).
type sink struct {
	tree *treeBuilder
	rec  *tokenRecorder
}

// mode is what the tokenizer makes of text for the sink.
func (s sink) mode() tokenMode {
	switch {
	case s.tree != nil:
		return modeStrings
	case s.rec != nil:
		return modeKeep
	}
	return modeCheck
}

// reset forgets everything added: the pass starts again from the first byte.
func (s sink) reset() {
	if s.tree != nil {
		s.tree.reset()
	}
	if s.rec != nil {
		s.rec.reset()
	}
}

// add hands over a token; epilog: it comes after the root element.
func (s sink) add(t *token, epilog bool) {
	if s.tree != nil {
		s.tree.add(t)
	}
	if s.rec != nil && !epilog {
		s.rec.add(t)
	}
}

// tokenRecorder keeps the tokens as encoding/xml tokens (Tokens).
type tokenRecorder struct {
	toks  []xml.Token
	attrs slab[xml.Attr]
}

func (r *tokenRecorder) reset() { r.toks = r.toks[:0] }

// add appends the token as xml.CopyToken would copy it: the attributes in a window of a shared
// chunk (with its own capacity, so that appending to one never overwrites the next), the bytes
// as they are when the tokenizer lets them be kept (fastTokens in modeKeep), else copied.
func (r *tokenRecorder) add(t *token) {
	var x xml.Token
	switch t.kind {
	case tokStart:
		a := []xml.Attr{}
		if n := len(t.attr); n > 0 {
			a = r.attrs.take(n)
			copy(a, t.attr)
		}
		x = xml.StartElement{Name: t.name, Attr: a}
	case tokEnd:
		x = xml.EndElement{Name: t.name}
	case tokText:
		x = xml.CharData(t.keep())
	case tokComment:
		x = xml.Comment(t.keep())
	case tokProcInst:
		x = xml.ProcInst{Target: t.name.Local, Inst: t.keep()}
	default:
		return // directives never pass the gate
	}
	r.toks = append(r.toks, x)
}

// keep returns the token's bytes to keep: as they are when owned, else a copy.
func (t *token) keep() []byte {
	if t.owned {
		return t.data
	}
	return bytes.Clone(t.data)
}

// slab hands out values from chunks: a window of n values with a capacity of n, so that
// appending to one reallocates it instead of overwriting the next. The first chunk has the
// size the caller estimates (size), the ones beyond it 16 values, then twice the last, up to
// maxChunk. Values of one chunk keep all of it alive.
type slab[T any] struct {
	free []T
	size int // the size of the next chunk
	more int // the size of the last chunk beyond the estimate
}

const maxChunk = 1024

func (s *slab[T]) take(n int) []T {
	if len(s.free) < n {
		s.free = make([]T, max(n, s.size))
		s.more = min(max(2*s.more, 16), maxChunk)
		s.size = s.more
	}
	v := s.free[:n:n]
	s.free = s.free[n:]
	return v
}

// readSettings are the ReadSettings recorded on documents Parse returns, for callers that read
// more XML into them: only UTF-8, and the gate's depth limit.
func readSettings(lim Limits) etree.ReadSettings {
	return etree.ReadSettings{
		CharsetReader: refuseCharset,
		MaxDepth:      lim.MaxDepth,
	}
}

// treeBuilder adds the gate's tokens to an etree document the way etree v1.8.1's own parser
// (Element.readFrom) does with the default settings: raw prefixes in Space, attributes in
// input order, character data as text with the whitespace flag etree would set (CDATA sections
// become plain text, as PreserveCData is off), comments and processing instructions as they
// are. Directives never reach it (the gate refuses them), nor duplicate attributes.
//
// It allocates no node on its own: elements, text nodes, attribute arrays and child lists are
// carved from chunks (each window with its own capacity, so a later append to one reallocates
// it instead of overwriting the next), names, values and text are substrings of the input
// (fastTokens in modeStrings), and the children of an element are gathered in one stack
// (kids) and given to it, in one list of the right size, when it ends.
type treeBuilder struct {
	open  []*etree.Element // the open elements, the document first
	from  []int            // from[i]: where the children of open[i] start in kids
	kids  []etree.Token    // the children of the open elements, in document order
	elems slab[etree.Element]
	texts slab[etree.CharData]
	attrs slab[etree.Attr]
	lists slab[etree.Token] // child lists
}

// newTreeBuilder returns a builder of doc, its first chunks sized after the markup of b: an
// element per two '<' (a start and an end tag), a text node per '<' that does not follow a '>'
// at once, a child per element or text node, an attribute per '=', counted in the first 64 KiB
// (estimateWindow). Where that is short, chunks of 16 nodes and more follow.
func newTreeBuilder(doc *etree.Document, b []byte) *treeBuilder {
	t := builderPool.Get().(*treeBuilder)
	t.open = append(t.open, &doc.Element)
	t.from = append(t.from, 0)
	w := estimateWindow(b)
	lt := bytes.Count(w, []byte("<"))
	elems, texts := lt/2+1, max(lt-bytes.Count(w, []byte("><"))+1, 1)
	t.elems.size, t.texts.size = min(elems, maxChunk), min(texts, maxChunk)
	t.attrs.size, t.lists.size = min(bytes.Count(w, []byte("=")), maxChunk), min(elems+texts, maxChunk)
	return t
}

var builderPool = sync.Pool{New: func() any { return new(treeBuilder) }}

// release returns t's stacks to builderPool; the document keeps the chunks.
func (t *treeBuilder) release() {
	*t = treeBuilder{open: reuse(t.open), from: reuse(t.from), kids: reuse(t.kids)}
	builderPool.Put(t)
}

func (t *treeBuilder) reset() {
	clear(t.kids)
	t.kids, t.open, t.from = t.kids[:0], t.open[:1], t.from[:1]
}

func (t *treeBuilder) add(tok *token) {
	switch tok.kind {
	case tokStart:
		e := &t.elems.take(1)[0]
		e.Space, e.Tag = tok.name.Space, tok.name.Local
		if n := len(tok.attr); n > 0 {
			// CreateAttr looks for an attribute of the same name first, which made building an
			// element quadratic in its attributes (5 000 elements of 255 attributes: 3 to 5 s).
			// The gate has refused duplicates, so each attribute is created on an empty window
			// at the end of one array and appended in place: linear, and etree records the
			// element on each attribute. The gate refused colons in local names, so CreateAttr
			// takes the local name as it is.
			all := t.attrs.take(n)
			for i, a := range tok.attr {
				e.Attr = all[i:i]
				e.CreateAttr(a.Name.Local, a.Value).Space = a.Name.Space
			}
			e.Attr = all
		} else {
			e.Attr = make([]etree.Attr, 0) // as etree's NewElement (no allocation)
		}
		t.kids = append(t.kids, e)
		t.open = append(t.open, e)
		t.from = append(t.from, len(t.kids))
	case tokEnd:
		t.close()
	case tokText:
		c := &t.texts.take(1)[0]
		c.SetData(tok.string()) // sets etree's whitespace flag as its parser does
		t.kids = append(t.kids, c)
	case tokComment:
		t.kids = append(t.kids, etree.NewComment(tok.string()))
	case tokProcInst:
		t.kids = append(t.kids, etree.NewProcInst(tok.name.Local, tok.string()))
	}
}

// close gives the innermost open element its children and closes it.
func (t *treeBuilder) close() {
	last := len(t.open) - 1
	e, kids := t.open[last], t.kids[t.from[last]:]
	if len(kids) == 0 {
		e.Child = make([]etree.Token, 0) // as etree's NewElement (no allocation)
	} else {
		e.Child = t.lists.take(len(kids))[:0]
		for _, k := range kids {
			e.AddChild(k) // sets the parent and index, appending in place
		}
	}
	t.kids = t.kids[:len(t.kids)-len(kids)] // release clears what stays beyond
	t.open, t.from = t.open[:last], t.from[:last]
}

// finish gives the document its children, once the gate has accepted the input.
func (t *treeBuilder) finish() { t.close() }

// check runs every pass and returns the input from after its UTF-8 byte order mark to the end
// of the root element, and the offset of that slice in b. With a sink, the tokens up to the end
// of the root element are handed to it as they pass.
func check(ctx context.Context, b []byte, lim Limits, sink sink) ([]byte, int64, error) {
	if int64(len(b)) > lim.MaxBytes {
		return nil, 0, &Error{Reason: ReasonLimit, Offset: lim.MaxBytes,
			Detail: fmt.Sprintf("input larger than %d bytes", lim.MaxBytes)}
	}
	if lim.AnyEncoding {
		var err error
		if b, _, err = Decode(b); err != nil {
			return nil, 0, err
		}
		if err := ctxErr(ctx); err != nil {
			return nil, 0, err
		}
	}
	body, base, err := stripBOM(b)
	if err != nil {
		return nil, 0, err
	}
	if err := checkCharsContext(ctx, body, base); err != nil {
		return nil, 0, err
	}
	if err := checkDecl(body, base); err != nil {
		return nil, 0, err
	}
	rootEnd, err := tokenize(ctx, body, base, lim, sink)
	if err != nil {
		return nil, 0, err
	}
	return body[:rootEnd], base, nil
}

// clip quotes an excerpt of attacker-supplied text for an error detail.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.QuoteToASCII(s)
}
