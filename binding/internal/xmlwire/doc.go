// Package xmlwire holds every DSS-X 2.0 CS02 XML structure dssd reads or writes, with the
// namespace URI spelled out in every struct tag, and the converters between those structures
// and the binding-neutral model of package dss.
//
// Child elements take the namespace of the schema that declares their containing complex
// type, not the namespace of their own type (protocol.md §2.1): dss2:SignRequest holds
// dsb:Profile, dss2:Base64Data holds dsb:Value, dss2:DigestInfos holds dsb:DigestMethod.
// The structs encode exactly that. A request element in another namespace than the schema's
// is MalformedRequest naming the expected element (strict.go); only a Result (in responses)
// is read leniently in the core or no namespace (protocol.md §15 #8).
//
// Documents to sign arrive base64-encoded in dsb:Value and leave this package as the
// decoded bytes: nothing here re-encodes XML that will be signed.
//
// Everything a request carries that package dss does not implement is recorded by element
// name (in dss.SignOptions.Unsupported or dss.VerifyRequest.Unsupported); elements the
// schema does not define are caught by ",any" fields and recorded the same way, never
// dropped.
package xmlwire

// Namespace URIs (protocol.md §2).
const (
	NSCore    = "http://docs.oasis-open.org/dss-x/ns/core"
	NSBase    = "http://docs.oasis-open.org/dss-x/ns/base"
	NSNsList  = "http://docs.oasis-open.org/dss-x/ns/nsList"
	NSDsRW    = "http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten"
	NSSAML2RW = "http://docs.oasis-open.org/dss-x/ns/saml2/rewritten"
	NSXSI     = "http://www.w3.org/2001/XMLSchema-instance"
	NSXML     = "http://www.w3.org/XML/1998/namespace"
	NSXOP     = "http://www.w3.org/2004/08/xop/include" // XOP 1.0 xop:Include (MTOM)
)
