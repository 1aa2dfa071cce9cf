package dss

import (
	"errors"
	"fmt"
)

// Result URIs (DSS-X 2.0 CS02 §9.2, with its spellings).
const (
	MajorSuccess        = "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
	MajorRequesterError = "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError"
	MajorResponderError = "urn:oasis:names:tc:dss:1.0:resultmajor:ResponderError"
	MajorInsufficient   = "urn:oasis:names:tc:dss:1.0:resultmajor:InsufficientInformation"
	MajorPending        = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultmajor:Pending"

	minorPrefix                = "urn:oasis:names:tc:dss:1.0:resultminor:"
	MinorNotSupported          = minorPrefix + "NotSupported"
	MinorGeneralError          = minorPrefix + "GeneralError"
	MinorKeyLookupFailed       = minorPrefix + "invalid:KeyLookupFailed"
	MinorMoreThanOneRefURI     = minorPrefix + "MoreThanOneRefUriOmitted"
	MinorInvalidRefURI         = minorPrefix + "InvalidRefURI"
	MinorReferencedDocNotFound = minorPrefix + "ReferencedDocumentNotPresent"
	MinorInappropriateSig      = minorPrefix + "Inappropriate:signature"
	MinorHashAlgorithm         = "urn:oasis:names:tc:dssx:2.0:resultminor:Inappropriate:HashAlgorithm"

	// Project minors (docs/errors.md).
	MinorMalformed        = "urn:dssd:resultminor:MalformedRequest"
	MinorNotAuthenticated = "urn:dssd:resultminor:NotAuthenticated"
	MinorSADInvalid       = "urn:dssd:resultminor:SADInvalid"
	MinorTooLarge         = "urn:dssd:resultminor:LimitExceeded"
	MinorHSMUnavailable   = "urn:dssd:resultminor:HSMUnavailable"
	MinorAuthority        = "urn:dssd:resultminor:AuthorityUnavailable"
	MinorRevoked          = "urn:dssd:resultminor:CertificateRevoked"
	MinorBusy             = "urn:dssd:resultminor:ServerBusy"
)

// Kind classifies every error dss returns. The zero value is KindInternal, so a forgotten
// Kind fails safe as ResponderError/GeneralError with a fixed message.
type Kind int

const (
	KindInternal             Kind = iota // anything unexpected; detail never exposed
	KindMalformed                        // the request is not well-formed DSS (bad base64, bad XML document, missing element)
	KindNotSupported                     // an optional input, profile, type or algorithm dssd does not implement
	KindHashAlgorithm                    // no acceptable digest algorithm, or digest length mismatch
	KindKeyLookup                        // unknown credential or someone else's credential: one answer for both
	KindNotAuthenticated                 // missing or invalid authentication
	KindSADInvalid                       // missing, expired, replayed or mismatched signature activation data
	KindRefURIOmitted                    // more than one RefURI omitted
	KindInvalidRefURI                    // RefURI not acceptable (e.g. enveloped with an external URI)
	KindDocumentNotFound                 // WhichData / WhichDocument points nowhere
	KindLimit                            // a configured limit (documents, size, depth) was exceeded
	KindHSMUnavailable                   // the HSM cannot serve now
	KindInappropriate                    // the request is understood but cannot be served as asked (e.g. key type vs algorithm)
	KindAuthorityUnavailable             // no timestamp or revocation authority could serve (B-T and above); the message names the cause
	KindCertificateRevoked               // the credential's certificate chain holds a revoked certificate
	KindBusy                             // the server is over a limit on connections or request bytes in flight; retry later
	KindResponseIDUnknown                // a PendingRequest for an unknown, expired or foreign ResponseID: one answer for all
	KindCredentialDisabled               // the caller's own credential is disabled by an operator (`dssd credential disable`)
	kindCount
)

type resultInfo struct {
	major, minor string
	expose       bool   // whether Error.Detail may reach ResultMessage
	fixed        string // message used when Detail is not exposed (or empty)
}

// results is the only place where ResultMajor and ResultMinor are chosen.
var results = [kindCount]resultInfo{
	KindInternal:             {MajorResponderError, MinorGeneralError, false, "internal error; quote the problem reference when reporting it"},
	KindMalformed:            {MajorRequesterError, MinorMalformed, true, "malformed request"},
	KindNotSupported:         {MajorRequesterError, MinorNotSupported, true, "not supported"},
	KindHashAlgorithm:        {MajorRequesterError, MinorHashAlgorithm, true, "inappropriate hash algorithm"},
	KindKeyLookup:            {MajorRequesterError, MinorKeyLookupFailed, false, "no such credential for this user"},
	KindNotAuthenticated:     {MajorRequesterError, MinorNotAuthenticated, false, "authentication required"},
	KindSADInvalid:           {MajorRequesterError, MinorSADInvalid, true, "signature activation data refused"},
	KindRefURIOmitted:        {MajorRequesterError, MinorMoreThanOneRefURI, true, "more than one RefURI omitted"},
	KindInvalidRefURI:        {MajorRequesterError, MinorInvalidRefURI, true, "invalid RefURI"},
	KindDocumentNotFound:     {MajorRequesterError, MinorReferencedDocNotFound, true, "referenced document not present"},
	KindLimit:                {MajorRequesterError, MinorTooLarge, true, "limit exceeded"},
	KindHSMUnavailable:       {MajorResponderError, MinorHSMUnavailable, false, "signing device unavailable; retry later"},
	KindInappropriate:        {MajorRequesterError, MinorInappropriateSig, true, "inappropriate signature request"},
	KindAuthorityUnavailable: {MajorResponderError, MinorAuthority, true, "timestamp or revocation authority unavailable; retry later"},
	KindCertificateRevoked:   {MajorRequesterError, MinorRevoked, true, "the signer certificate is revoked"},
	KindBusy:                 {MajorResponderError, MinorBusy, false, "server busy; retry later"},
	KindResponseIDUnknown:    {MajorRequesterError, MinorResponseIDUnknown, false, "unknown ResponseID"},
	KindCredentialDisabled:   {MajorRequesterError, MinorKeyLookupFailed, false, "the credential is disabled"},
}

// Error is the error type of package dss.
type Error struct {
	Kind   Kind
	Detail string // client-safe text; reaches ResultMessage only when the table says so
	Err    error  // internal cause: logs and Unwrap only, never the wire
}

func (e *Error) Error() string {
	s := e.Kind.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k whose Detail is the formatted client-safe text.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of kind k with a client-safe detail and an internal cause.
func Wrap(k Kind, cause error, detail string) *Error {
	return &Error{Kind: k, Detail: detail, Err: cause}
}

var kindNames = [kindCount]string{
	"internal", "malformed", "not supported", "hash algorithm", "key lookup", "not authenticated",
	"SAD invalid", "RefURI omitted", "invalid RefURI", "document not found", "limit", "HSM unavailable",
	"inappropriate", "authority unavailable", "certificate revoked", "busy", "ResponseID unknown",
	"credential disabled",
}

func (k Kind) String() string {
	if k < 0 || k >= kindCount {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Kinds returns every Kind, in the order of their values (for tests and documents that go
// through the whole table).
func Kinds() []Kind {
	ks := make([]Kind, kindCount)
	for k := range ks {
		ks[k] = Kind(k)
	}
	return ks
}

// KindOf returns the Kind of err (KindInternal for errors that are not *Error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) && e.Kind >= 0 && e.Kind < kindCount {
		return e.Kind
	}
	return KindInternal
}

// ResultOf turns an error into a DSS Result. problemRef (the request's correlation id) is
// put into ProblemReference so that a stripped ResponderError can be matched with its log
// line and audit record. A nil error is Success.
func ResultOf(err error, problemRef string) Result {
	if err == nil {
		return Result{Major: MajorSuccess}
	}
	var e *Error
	kind := KindInternal
	if errors.As(err, &e) && e.Kind >= 0 && e.Kind < kindCount {
		kind = e.Kind
	}
	info := results[kind]
	msg := info.fixed
	if info.expose && e != nil && e.Detail != "" {
		msg = e.Detail
	}
	return Result{Major: info.major, Minor: info.minor, Message: msg, Lang: "en", ProblemReference: problemRef}
}

// ---------------------------------------------------------------- verification verdicts

// Verdict minors (DSS-X 2.0 §9.2, spelled as there) and the project's minors for verdicts
// DSS-X has no code for (docs/errors.md).
const (
	MinorValidOnAllDocuments       = minorPrefix + "valid:signature:OnAllDocuments"
	MinorValidNotAllDocuments      = minorPrefix + "valid:signature:NotAllDocumentsReferenced"
	MinorIncorrectSignature        = minorPrefix + "invalid:IncorrectSignature"
	MinorKeyInfoNotProvided        = minorPrefix + "KeyInfoNotProvided"
	MinorChainNotComplete          = minorPrefix + "CertificateChainNotComplete"
	MinorOCSPNotAvailable          = minorPrefix + "OcspNotAvailiable"
	MinorInvalidSignatureTimestamp = "urn:dssd:resultminor:InvalidSignatureTimestamp"
	MinorInvalidArchiveTimestamp   = "urn:dssd:resultminor:InvalidArchiveTimestamp"
	// MinorIndeterminatePrefix + an EN 319 102-1 sub-indication (OUT_OF_BOUNDS_NO_POE,
	// REVOKED_NO_POE, CRYPTO_CONSTRAINTS_FAILURE, ...) for the other INDETERMINATE verdicts.
	MinorIndeterminatePrefix = "urn:dssd:resultminor:indeterminate:"
)

// VerdictResult is the Result of a VerifyRequest that was processed: the overall EN 319
// 102-1 indication and sub-indication of its signatures (the worst one), the reason the
// verifier gave, and whether every input document was covered by a signature. It follows
// the grouping of DSS 1.0 core §4.4.5 that DSS-X 2.0 keeps: a processed request is Success
// whether the signature is valid or not (OnAllDocuments, NotAllDocumentsReferenced,
// IncorrectSignature); a verdict that needs information the server does not have is
// InsufficientInformation. message becomes ResultMessage.
func VerdictResult(indication, subIndication, reason string, allDocuments bool, message string) Result {
	r := Result{Major: MajorSuccess, Message: message, Lang: "en"}
	switch indication {
	case "TOTAL-PASSED":
		r.Minor = MinorValidOnAllDocuments
		if !allDocuments {
			r.Minor = MinorValidNotAllDocuments
		}
	case "TOTAL-FAILED":
		r.Minor = MinorIncorrectSignature
	default:
		r.Major = MajorInsufficient
		switch {
		case reason == "timestamp":
			r.Minor = MinorInvalidSignatureTimestamp
		case reason == "archive-timestamp":
			r.Minor = MinorInvalidArchiveTimestamp
		case subIndication == "NO_CERTIFICATE_CHAIN_FOUND":
			r.Minor = MinorChainNotComplete
		case subIndication == "NO_SIGNING_CERTIFICATE_FOUND" && reason == "key-info":
			r.Minor = MinorKeyInfoNotProvided
		case subIndication == "SIGNED_DATA_NOT_FOUND":
			r.Minor = MinorReferencedDocNotFound
		case subIndication == "TRY_LATER":
			r.Minor = MinorOCSPNotAvailable
		default:
			r.Minor = MinorIndeterminatePrefix + subIndication
		}
	}
	return r
}
