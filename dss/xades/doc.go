// Package xades builds XML signatures: XMLDSig (urn:ietf:rfc:3275) and XAdES
// baseline B-B (ETSI EN 319 132-1, namespace http://uri.etsi.org/01903/v1.3.2#).
//
// The package is pure: a document, a crypto.Signer (an HSM key or a software
// key), a certificate chain, a signing time and a signature Id go in; a tree,
// then bytes, come out. It performs no I/O, reads no clock and keeps no global state, so
// for a fixed SigningTime, SignatureID and an RSA PKCS#1 v1.5 key its output
// is byte-for-byte deterministic.
//
// # What is built
//
// goxmldsig signs exactly one Reference and has no ds:Object, so this package
// builds SignedInfo itself on etree. Canonicalization (exclusive c14n and c14n
// 1.1, both without comments, in the namespace context of the canonicalized
// element), the Id index and base64 element content come from the XMLDSig
// core dss/xmldsig, the code dss/verify runs too; goxmldsig is used only as a
// second opinion in tests. A signature holds one
// ds:Reference per data object, each with an Id, and for XAdES a second
// Reference to xades:SignedProperties (Type
// http://uri.etsi.org/01903#SignedProperties, exclusive c14n). KeyInfo lists
// the signer certificate first, then the rest of the chain.
//
// Packagings (Object and Params say which):
//
//   - Enveloped: the document is parsed once, the signature is inserted at a
//     location given by a small XPath 1.0 subset (see Object.XPath), and the
//     Reference has URI="" with the enveloped-signature and c14n transforms.
//   - Enveloping: the document goes into a ds:Object (XML inline, anything
//     else base64 with the base64 transform so the digest covers the
//     original bytes) referenced by "#" + its Id.
//   - Detached: the Reference URI is the caller's, the digest covers the raw
//     bytes, no transforms.
//   - Hash signing: the caller's digest becomes the DigestValue as is.
//
// # Algorithms
//
// SignatureMethod is one of the RFC 6931 URIs for RSA PKCS#1 v1.5, RSA-PSS
// (MGF1, salt length = hash length) and ECDSA with SHA-256/384/512. ECDSA
// values are raw r‖s, each half left-padded to the curve order size
// (RawECDSA converts the DER a crypto.Signer returns). SHA-1 and MD5 are
// refused everywhere. A method that does not fit the key fails with
// ErrInappropriate.
//
// # Input
//
// Documents to be signed as XML are parsed exactly once, through the ingress
// gate dss/xmlsafe (DocumentLimits): no DOCTYPE, UTF-8 only, no literal white
// space in attribute values, no processing instructions inside the document
// element, and so on. What the gate leaves out of the tree (a byte order mark,
// comments and white space after the document element) is not in the output.
//
// # One tree from B-B to B-LTA
//
// Build makes a signature as a Tree: the input document is parsed once, the signature is
// built and signed on that tree, and the unsigned properties of B-T, B-LT and B-LTA
// (Tree.AddSignatureTimestamp, AddValidationData, AddArchiveTimestamp,
// AddTimestampValidationData, with the timestamp inputs read from the same tree) are added to
// it in place. Tree.Bytes serialises it once. Sign is Build then Bytes. A signature that
// exists only as bytes (one to augment) is opened with Open, through the ingress gate, and
// extended the same way; the functions AddSignatureTimestamp, AddValidationData … over a
// *Signed do exactly that, one step at a time. Precheck, for a caller that must refuse a
// request before spending anything on it (a SCAL2 activation), parses the document then; with
// its Input in Object.Parsed, Build signs that tree, so the document is still parsed once.
//
// # Self-check
//
// Check verifies the exact bytes Tree.Bytes returned: it parses them once more, through the
// ingress gate (never reusing the tree they came from), finds the signature by its Id,
// resolves every Reference through the core's Id index (xmldsig.IndexIDs, the verifier's
// rule: Id, ID or id in any namespace; a duplicate is refused), recomputes every digest from
// the reparsed tree, canonicalizes SignedInfo and verifies SignatureValue with the
// certificate's key. Callers run it on every signature before it leaves the service. The one
// shortcut: a VerifyingSigner (hsm.Guard) verified the value it returned over the SignedInfo
// digest it signed; when the bytes' SignedInfo has that digest and the bytes carry that value,
// under the certificate's key, that verification is not made a second time.
//
// # Errors
//
// Every error wraps one of the sentinels ErrMalformed, ErrNotSupported,
// ErrHashAlgorithm, ErrInappropriate, ErrInvalidRefURI or ErrSelfCheck, so a
// caller maps failures with errors.Is; other errors (from the Signer, for
// example) are returned wrapped as they are.
package xades
