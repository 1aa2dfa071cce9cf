package xmlsafe

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/beevik/etree"
)

// Limits bounds what Check and Parse accept. A zero or negative field takes the value of
// DocumentLimits, so a partly filled Limits never means "unlimited".
type Limits struct {
	MaxBytes        int64 // size of the input
	MaxDepth        int   // element nesting; the root element is at depth 1
	MaxElements     int   // elements in the document
	MaxAttrs        int   // attributes per element, namespace declarations included
	MaxNSPerElement int   // xmlns declarations per element
	MaxNSTotal      int   // xmlns declarations per document
	MaxTextBytes    int64 // a single text node (adjacent text and CDATA joined) or attribute value; 0 = MaxBytes
}

// EnvelopeLimits are the limits for SOAP envelopes and DSS messages. Messages carry documents
// as base64 text, so a single text node may use the whole size; the size matches the body
// limit of the bindings (hardening.md §2.6: 16 MiB).
func EnvelopeLimits() Limits {
	return Limits{
		MaxBytes:        16 << 20,
		MaxDepth:        64,
		MaxElements:     100000,
		MaxAttrs:        256,
		MaxNSPerElement: 16,
		MaxNSTotal:      256,
		MaxTextBytes:    0,
	}
}

// DocumentLimits are the limits for XML documents to sign or verify (hardening.md §2.6).
func DocumentLimits() Limits {
	return Limits{
		MaxBytes:        10 << 20,
		MaxDepth:        256,
		MaxElements:     100000,
		MaxAttrs:        256,
		MaxNSPerElement: 16,
		MaxNSTotal:      256,
		MaxTextBytes:    0,
	}
}

// normalize fills zero or negative fields from DocumentLimits.
func (l Limits) normalize() Limits {
	d := DocumentLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = d.MaxAttrs
	}
	if l.MaxNSPerElement <= 0 {
		l.MaxNSPerElement = d.MaxNSPerElement
	}
	if l.MaxNSTotal <= 0 {
		l.MaxNSTotal = d.MaxNSTotal
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = l.MaxBytes
	}
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
	ReasonRoundTrip                      // refused by xml-roundtrip-validator
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

// errCharset is returned by the CharsetReader given to every decoder: only UTF-8 is read.
var errCharset = errors.New("only utf-8 is accepted")

func refuseCharset(string, io.Reader) (io.Reader, error) { return nil, errCharset }

// Check is the strict raw gate: it returns nil if b is acceptable XML within lim, and an
// *Error otherwise. It builds no tree.
func Check(b []byte, lim Limits) error {
	_, _, err := check(b, lim.normalize())
	return err
}

// Parse runs Check and then parses b once with etree. The returned document is the one tree
// callers verify and extract from. Neither a UTF-8 byte order mark nor the epilog (the
// whitespace and comments Check allows after the root element) is part of the tree.
//
// etree's ValidateInput is off: it is a second full pass of encoding/xml (Decoder.Token over
// the whole input) whose every refusal the gate has already made on the same tokens (see
// readSettings), and it cost a fifth of Parse.
func Parse(b []byte, lim Limits) (*etree.Document, error) {
	lim = lim.normalize()
	body, base, err := check(b, lim)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings = readSettings(lim)
	if err := doc.ReadFromBytes(body); err != nil { // body ends with the root element
		e := &Error{Reason: ReasonMalformed, Detail: "refused by the tree parser", Offset: base, cause: err}
		if errors.Is(err, etree.ErrMaxDepth) {
			e.Reason = ReasonLimit
			e.Detail = "element nesting too deep"
		}
		return nil, e
	}
	return doc, nil
}

// readSettings are the settings of Parse's etree parse. ValidateInput (etree v1.8.1) runs
// encoding/xml's Decoder.Decode into an interface{} and then requires io.EOF from Token: that
// is Decoder.Token over every token of the input with the same Strict, Entity and
// CharsetReader settings as the gate's pass. What Token checks beyond RawToken, on input the
// gate accepted, cannot fail:
//
//   - the tokens are the same: the same rawToken function reads the same bytes (body ends
//     with the root element's end tag, where the gate's pass was at that point too), so every
//     syntax, entity, character-reference and xml-declaration error would have stopped the
//     gate first;
//   - Token's end-tag check (popElement: the same local name and prefix as the open start
//     tag, no end tag without a start tag) is the gate's endElement check on raw names;
//   - "unexpected EOF" inside an element: the gate refuses unclosed elements;
//   - a token after the root element: body stops at the end of the root element, and the gate
//     refuses a second root;
//   - namespace translation in Token never fails (unknown prefixes are kept as they are);
//   - Decode into an interface{} skips the element with Decoder.Skip, which has no depth
//     limit; the unmarshal depth limit (10000) is checked once, at depth 0.
//
// TestGateImpliesEtreeValidation and FuzzParse run the etree parse with ValidateInput on
// everything the gate accepts and compare the trees.
func readSettings(lim Limits) etree.ReadSettings {
	return etree.ReadSettings{
		CharsetReader: refuseCharset,
		MaxDepth:      lim.MaxDepth,
	}
}

// check runs every pass and returns the input from after its UTF-8 byte order mark to the end
// of the root element, and the offset of that slice in b.
func check(b []byte, lim Limits) ([]byte, int64, error) {
	if int64(len(b)) > lim.MaxBytes {
		return nil, 0, &Error{Reason: ReasonLimit, Offset: lim.MaxBytes,
			Detail: fmt.Sprintf("input larger than %d bytes", lim.MaxBytes)}
	}
	body, base, err := stripBOM(b)
	if err != nil {
		return nil, 0, err
	}
	if err := checkChars(body, base); err != nil {
		return nil, 0, err
	}
	if err := checkDecl(body, base); err != nil {
		return nil, 0, err
	}
	rootEnd, err := tokenize(body, base, lim)
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
