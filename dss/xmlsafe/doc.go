// Package xmlsafe is dssd's XML ingress gate: every XML byte sequence that dssd accepts from
// outside (SOAP envelopes, DSS messages, documents to sign or verify) passes Check or Parse
// before any tree is built or any value is read from it.
//
// # Why a gate
//
// encoding/xml and beevik/etree v1.8.1 accept inputs that other XML processors reject or read
// differently (hardening.md §2.3–2.6): duplicate attributes (etree keeps the last one, even
// with ValidateInput), empty local names such as x:="v", undeclared prefixes, encoding
// declarations that do not match the bytes, and DOCTYPEs, which are kept and re-emitted for a
// downstream verifier to expand. A signature verifier that disagrees with the application about
// what the bytes mean is the root of XML signature wrapping, so dssd refuses every such input
// instead of choosing an interpretation.
//
// # How it works
//
// Check makes a few linear passes over the raw bytes and builds no tree:
//
//  0. with Limits.AnyEncoding (documents to sign or verify), Decode reads the byte order mark
//     and the XML declaration and transcodes UTF-16 (with its byte order mark), US-ASCII,
//     ISO-8859-1 to 10 and 13 to 15 and windows-1250 to 1258 to UTF-8 with golang.org/x/text;
//     an unknown encoding, a byte that is not a character of the declared one, or a byte order
//     mark that contradicts the declaration is refused (ReasonEncoding, naming the encoding).
//     The rest of the gate reads that UTF-8 form. SOAP envelopes and DSS messages are UTF-8 only;
//  1. size (Limits.MaxBytes) and the byte order mark: a UTF-8 BOM is skipped, a UTF-16 or
//     UTF-32 BOM is refused;
//  2. every byte must be UTF-8 and every character an XML 1.0 Char (no C0 controls except
//     tab, LF and CR, no surrogates, no U+FFFE/U+FFFF), comments and PIs included;
//  3. the XML declaration, if any, must be at offset 0, say version="1.0", and name no
//     encoding other than UTF-8 (matched case-insensitively as XML 1.0 §4.3.3 asks; "UTF8"
//     and every other label are refused); its pseudo-attributes must be in order;
//  4. one tokenizing pass that reads what encoding/xml's Decoder.RawToken reads with Strict
//     set, no Entity map and a CharsetReader that refuses everything: for plain XML (ASCII
//     names, predefined entities and character references, no declarations) a
//     scanner that returns exactly RawToken's tokens and offsets (fastTokens; FuzzFastTokens
//     compares the two), and for any input it has a doubt about, RawToken itself from the
//     first byte, which then decides (an input that makes the scanner give up late costs two
//     passes, never more). RawToken neither checks nesting nor resolves
//     namespaces and keeps no element stack, so the gate tracks the element stack and the
//     namespace scopes itself and stops at the first violation: depth, element, attribute,
//     namespace-declaration (per element and in scope at any element) and text limits are
//     enforced while tokenizing, so a deeply nested input costs at most MaxDepth stack
//     entries whatever its real depth. Literal tab, LF and CR in attribute values, which
//     encoding/xml keeps, are normalized to spaces there as XML 1.0 §3.3.3 says (CR LF is one
//     space; character references keep their characters), from the raw bytes of the tag.
//
// Until issue 11 a fifth step ran github.com/mattermost/xml-roundtrip-validator's per-token
// check as a second opinion. It refused valid documents (a prefixed attribute declared on the
// same element followed by xml:lang: the encoder's generated prefixes do not come back in the
// same order), and nothing in dssd re-reads the bytes with encoding/xml after the gate: the tree
// and the message decoder are fed the gate's own tokens. The gate's tokenizer decides alone;
// FuzzFastTokens keeps comparing it with encoding/xml.
//
// Parse builds the etree document from the tokens of that same pass, as they pass the checks:
// no second parser reads the bytes, so the tree is made of exactly what the gate examined. The
// tree is the one etree's own parser builds from the same bytes (raw prefixes, attribute order,
// etree's whitespace flags; the tests and the fuzz target compare the two node by node, and
// run etree's ValidateInput on everything the gate accepts). Callers use that single tree for
// verification and extraction and never re-parse the bytes into structs for a security
// decision.
//
// # What is refused
//
//   - any <! directive (DOCTYPE, ENTITY, ...), anywhere, by policy: no DTD is read, nothing
//     is fetched, no entity is expanded (ReasonDTD; the message, DTDRefused, says so);
//   - any entity reference other than the five predefined ones, and character references to
//     characters outside XML 1.0 Char, such as &#0; or &#xD800; (ReasonEntity; encoding/xml
//     silently turns surrogate references into U+FFFD, the gate does not);
//   - duplicate attributes, by raw prefix:local and by expanded {namespace}local name
//     (ReasonDuplicateAttr);
//   - a prefix on an element or attribute that no xmlns:prefix declaration in scope binds
//     (ReasonUndeclaredPrefix);
//   - empty prefixes or local names (x:="v", :a, <x:/>), xmlns:p="" (undeclaring a prefix is
//     XML 1.1 only), declaring or using the xmlns prefix, binding xml to anything but its
//     namespace or another prefix to the xml or xmlns namespace (ReasonNamespace);
//   - processing instructions anywhere but the prolog (before the root element), a
//     target named xml (any case) other than the declaration at offset 0, and targets with a
//     colon (ReasonProcInst). PIs in the prolog (for example xml-stylesheet) are kept because
//     business documents carry them. Inside the root they are refused: etree's Text() stops
//     at a PI while canonicalization covers the rest, the text-splitting trick of
//     hardening.md §2.5. Comments are allowed everywhere; readers of signed values must
//     still fail on mixed content (hardening.md §2.5);
//   - no root element, several root elements, text or CDATA outside the root, unclosed or
//     mismatched elements, missing whitespace between attributes (ReasonMalformed);
//   - encodings other than those of Decode, bytes that are not characters of the declared
//     encoding, UTF-32, UTF-16 without a byte order mark, any encoding but UTF-8 in messages,
//     XML 1.1, malformed XML declarations (ReasonEncoding);
//   - inputs beyond a Limits field (ReasonLimit; IsLimit reports it so bindings can answer
//     413 or LimitExceeded).
//
// Error messages are client-safe: they name the rule, a byte offset and at most a short,
// quoted excerpt of the offending name.
package xmlsafe
