// Package xmldsig is the XMLDSig core that dss/xades (signing) and dss/verify (verifying)
// share, so that a signature is produced and checked by the same code:
//
//   - canonicalization: exclusive c14n 1.0, inclusive c14n 1.0 and 1.1, each with or without
//     comments, of a subtree or of a node-set (an include filter, the enveloped signature
//     left out), in the namespace context of the subtree's ancestors, written straight from an
//     etree tree (Canonicalize, CanonicalizeDocument, CanonicalSubset). The verifier's
//     hostile-input hooks are options: a context checked every 256 nodes and a node Budget
//     shared by every walk of one input. libxml2 (through lxml) is the reference in the tests,
//     goxmldsig a second opinion where it agrees with the specifications; goxmldsig is not
//     used outside tests;
//   - the xml:* attributes a document subset inherits (InheritedXMLAttrs), with the signer's
//     stricter rule as an option;
//   - one Id index with one rule (IndexIDs): every attribute named Id, ID or id in any
//     namespace counts, and an id seen twice is never resolved, when signing as when
//     verifying;
//   - text-only element content and its base64 (Text, StripSpace, DecodeBase64);
//   - signature values: RSA PKCS#1 v1.5, RSA-PSS and raw r‖s ECDSA (VerifyValue).
//
// It imports neither dss/xades nor dss/verify (dss/deps_test.go enforces it), and keeps no
// state: errors are sentinels (ErrNotCanonicalizable, ErrNotAllowed, ErrCancelled,
// ErrBudget, ErrDuplicateID, ErrUnknownID, ...) that each caller words in its own terms.
package xmldsig
