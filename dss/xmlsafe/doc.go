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
//  1. size (Limits.MaxBytes) and the byte order mark: a UTF-8 BOM is skipped, a UTF-16 or
//     UTF-32 BOM is refused;
//  2. every byte must be UTF-8 and every character an XML 1.0 Char (no C0 controls except
//     tab, LF and CR, no surrogates, no U+FFFE/U+FFFF), comments and PIs included;
//  3. the XML declaration, if any, must be at offset 0, say version="1.0", and name no
//     encoding other than UTF-8 (matched case-insensitively as XML 1.0 §4.3.3 asks; "UTF8"
//     and every other label are refused); its pseudo-attributes must be in order;
//  4. one tokenizing pass that reads what encoding/xml's Decoder.RawToken reads with Strict
//     set, no Entity map and a CharsetReader that refuses everything: for plain XML (ASCII
//     names, predefined entities and character references, no CDATA or declarations) a
//     scanner that returns exactly RawToken's tokens and offsets (fastTokens; FuzzFastTokens
//     compares the two), and for any input it has a doubt about, RawToken itself from the
//     first byte, which then decides (an input that makes the scanner give up late costs two
//     passes, never more). RawToken neither checks nesting nor resolves
//     namespaces and keeps no element stack, so the gate tracks the element stack and the
//     namespace scopes itself and stops at the first violation: depth, element, attribute,
//     namespace-declaration and text limits are enforced while tokenizing, so a deeply
//     nested input costs at most MaxDepth stack entries whatever its real depth;
//  5. within that same pass, github.com/mattermost/xml-roundtrip-validator's per-token check
//     (the check xrv.Validate applies to every token, xrv.CheckToken) as a second opinion on
//     encoding/xml round trips, once per distinct element shape. The gate makes the same
//     encode, decode and comparison as xrv.CheckToken but keeps its buffers instead of
//     allocating a 4 KiB encoder buffer per token (roundTripper; tests compare the two token
//     by token). xrv.Validate itself re-tokenizes byte by byte and allocates an encoder and a
//     decoder per token (about 230 ms and 340 MB per MB of input, four times etree's parse),
//     which would make the gate a denial-of-service lever; the tests and the fuzz target run
//     xrv.Validate on everything the gate accepts.
//
// Parse builds the etree document from the tokens of that same pass, as they pass the checks:
// no second parser reads the bytes, so the tree is made of exactly what the gate examined. The
// tree is the one etree's own parser builds from the same bytes (raw prefixes, attribute order,
// etree's whitespace flags; the tests and the fuzz target compare the two node by node, and
// run etree's ValidateInput on everything the gate accepts). Callers use that single tree for
// verification and extraction and never re-parse the bytes into structs for a security
// decision.
//
// The round-trip check of step 5 depends only on a token's shape (names and namespace
// declarations), so the shapes that passed are remembered process-wide in a bounded set:
// repeated message shapes are checked once per process, not once per message.
//
// # What is refused
//
//   - any <! directive (DOCTYPE, ENTITY, ...), anywhere: no DTD is read, nothing is fetched,
//     no entity is expanded (ReasonDTD);
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
//   - a literal tab, line feed or carriage return inside an attribute value
//     (ReasonMalformed). XML 1.0 §3.3.3 normalizes them to spaces but encoding/xml keeps them,
//     so dssd and a conforming verifier would canonicalize different values. Character
//     references (&#xA;) remain allowed;
//   - non-UTF-8 input, UTF-16/32 byte order marks, XML 1.1, malformed XML declarations
//     (ReasonEncoding);
//   - whatever xml-roundtrip-validator's token check reports (ReasonRoundTrip);
//   - inputs beyond a Limits field (ReasonLimit; IsLimit reports it so bindings can answer
//     413 or LimitExceeded).
//
// Error messages are client-safe: they name the rule, a byte offset and at most a short,
// quoted excerpt of the offending name.
package xmlsafe
