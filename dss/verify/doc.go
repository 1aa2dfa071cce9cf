// Package verify validates XMLDSig and XAdES signatures written for hostile input.
//
// # Order of work
//
// Verify takes the bytes of the document that holds the signatures (a ds:Signature document,
// or any document with enveloped or embedded signatures), the detached data objects matched by
// their Reference URI, extra certificates and revocation data, and a validation time. It
//
//  1. passes the bytes through the ingress gate (dss/xmlsafe: no DTD, no directives,
//     duplicate attributes, undeclared prefixes, size, depth, element and namespace caps)
//     and parses them exactly once with etree;
//  2. builds one index of every id attribute of that tree (xmldsig.IndexIDs, the rule the
//     signer follows too: any attribute whose local name is Id, ID or id, in any namespace:
//     Id, ID, id, wsu:Id, xml:id). An id seen twice can
//     never be resolved: a reference to it is a FORMAT_FAILURE (the signature wrapping
//     shapes of hardening.md §2.1);
//  3. validates every ds:Signature of the tree (at most Limits.MaxSignatures) on its own
//     and reports each one: nothing about one signature influences another.
//
// For each signature the checks run in the order of EN 319 102-1 basic validation, and the
// first failing check decides the indication:
//
//   - structure: SignedInfo, SignatureValue, KeyInfo?, Object*, in that order and nothing
//     else; SignedInfo holds CanonicalizationMethod, SignatureMethod and 1..MaxReferences
//     References; a second SignedInfo or SignatureValue is a FORMAT_FAILURE
//     (CVE-2020-15216's shape);
//   - algorithm policy (Policy): SignatureMethod, every DigestMethod, the canonicalization
//     methods and the transform chains are checked against allow-lists before anything is
//     computed, so a document never chooses a weak algorithm. SHA-1 and MD5 are refused by
//     default (INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE), HMAC always; transforms are
//     limited to enveloped-signature, exclusive c14n (with an InclusiveNamespaces prefix
//     list), c14n 1.1, c14n 1.0 and base64, all without comments: no XPath, XPath Filter 2.0
//     or XSLT (INDETERMINATE/SIG_CONSTRAINTS_FAILURE);
//   - references: only URI="" (the whole document), "#id" (one lookup in the id index) and
//     detached URIs matched to a given data object are resolved; nothing is ever fetched.
//     A detached URI without data is INDETERMINATE/SIGNED_DATA_NOT_FOUND;
//   - XAdES: exactly one Reference of Type http://uri.etsi.org/01903#SignedProperties, and it
//     resolves to the xades:SignedProperties inside this signature's only
//     QualifyingProperties, whose Target is "#" + this signature's Id (the QualifyingProperties
//     confusion of hardening.md §2.1); no other Reference may point at SignedProperties;
//   - the signing certificate: never a KeyValue. For XAdES the certificate whose digest
//     SigningCertificateV2 (or SigningCertificate) names, among the KeyInfo certificates,
//     CertificateValues and the extra certificates, with its issuer serial number checked; for
//     XMLDSig the KeyInfo certificate that issues no other KeyInfo certificate;
//   - cryptography: every Reference digest (HASH_FAILURE), then the SignatureValue over the
//     canonicalized SignedInfo (SIG_CRYPTO_FAILURE). ECDSA values must be exactly 2×n bytes
//     (DER is refused) with 0 < r, s < n; RSA keys must have Policy.MinRSABits..8192 bits;
//   - signature timestamps (xades:SignatureTimeStamp): the token's CMS signature, its TSA
//     certificate chain to the anchors with the timeStamping usage, the revocation status of
//     that chain (the token's time is its proof of existence), and its message imprint over
//     the canonicalized ds:SignatureValue. A timestamp that fails makes the signature
//     INDETERMINATE with Reason "timestamp"; a good one is the proof of existence used below.
//     An archive timestamp (xades141:ArchiveTimeStamp) is checked the same way, its imprint
//     recomputed over the EN 319 132-1 §5.5.2 input (xades.ArchiveTimestampParts); only then
//     is the level B-LTA, a mismatch is INDETERMINATE with Reason "archive-timestamp";
//   - the signer's purpose (purpose.go): keyUsage digitalSignature or nonRepudiation, an
//     extendedKeyUsage that allows document signing (Config.SignerEKUs), on the leaf and on
//     the intermediates of the path, else INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE;
//   - the certificate path: x509.Verify from the signing certificate to Config.Anchors with
//     the KeyInfo, CertificateValues and extra certificates as intermediates, at the
//     validation time, at most Limits.MaxPathBuilds paths per request; an expired or not yet
//     valid signer is INDETERMINATE (OUT_OF_BOUNDS_NO_POE, NOT_YET_VALID) unless a signature
//     timestamp proves the signature existed while the certificate was valid;
//   - revocation of every certificate of the path below the anchor, as status.go describes:
//     every OCSP response and CRL of the request parsed once, used only when its issuer (or
//     delegated responder) signed it and it covers the certificate; "revoked" wins; "good"
//     only when fresh (issued after a signature timestamp, or within
//     Config.RevocationFreshness before the clock and before its nextUpdate), else
//     Config.Revocation (online), else INDETERMINATE/TRY_LATER. A revoked certificate is
//     TOTAL-FAILED/REVOKED when a signature timestamp shows the signature was made after the
//     revocation, INDETERMINATE/REVOKED_NO_POE when none shows it was made before.
//
// What was signed is reported exactly, per Reference (Scope): the whole document (URI=""),
// the element with an id (its name and id), an Object of the signature, the SignedProperties
// or a detached data object. Callers use only that: an intact signature next to unsigned
// content reports an element scope, never "the document".
//
// # Errors
//
// Verify returns an error only when the input cannot be processed at all: it is refused by
// the gate (ErrMalformed, or ErrLimit for a limit), holds no ds:Signature (ErrNoSignature) or
// more than Limits.MaxSignatures (ErrLimit). Every signature problem is a Result.
//
// The XMLDSig mechanics (canonicalization with its context and node budget, the Id index,
// reference parsing and resolution, transforms, digests, signature values) are the XMLDSig
// core dss/xmldsig, which the signer dss/xades runs too; this package adds the order of the
// checks, the policy, XAdES, timestamps, trust and the indications.
//
// The package is pure apart from the injected RevocationSource: no clock is read except
// through Config.Clock, nothing is fetched from URIs found in the input.
package verify
