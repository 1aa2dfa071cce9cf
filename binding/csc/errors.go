package csc

import (
	"net/http"

	"dssd/dss"
)

// CSC error codes (CSC API v2 builds on OAuth 2.0: RFC 6749 §5.2 and RFC 6750 §3.1).
const (
	ErrInvalidRequest         = "invalid_request"         // 400: any refused request, as in the CSC method tables
	ErrInvalidToken           = "invalid_token"           // 401: missing or unknown bearer token / client certificate
	ErrServerError            = "server_error"            // 500
	ErrTemporarilyUnavailable = "temporarily_unavailable" // 503: the HSM or a timestamp/revocation authority cannot serve now
)

// apiError is one CSC error answer.
type apiError struct {
	status int
	code   string
	desc   string
}

// errorOf maps a dss error to the CSC answer. It is the binding's only such table: the
// HTTP status and error code follow the dss.Kind, and the description is the ResultMessage
// dss.ResultOf chooses (so the same text, with the same exposure rules, as the XML
// bindings). Server-side failures carry the problem reference that ties them to the log
// line and the audit record.
func errorOf(err error, ref string) apiError {
	res := dss.ResultOf(err, ref)
	e := apiError{status: http.StatusBadRequest, code: ErrInvalidRequest, desc: res.Message}
	switch dss.KindOf(err) {
	case dss.KindMalformed, dss.KindNotSupported, dss.KindHashAlgorithm, dss.KindKeyLookup,
		dss.KindSADInvalid, dss.KindRefURIOmitted, dss.KindInvalidRefURI, dss.KindDocumentNotFound,
		dss.KindLimit, dss.KindInappropriate, dss.KindCertificateRevoked, dss.KindResponseIDUnknown,
		dss.KindCredentialDisabled:
		// 400 invalid_request. KindKeyLookup answers an unknown and a foreign credential
		// alike, so credential ids cannot be probed.
	case dss.KindNotAuthenticated:
		// Reaching dss means the bearer token (or certificate) was accepted: what dss refused
		// is the signer's own authentication (PIN, OTP, a ClaimedIdentity), a request error.
	case dss.KindHSMUnavailable, dss.KindAuthorityUnavailable, dss.KindBusy:
		e.status, e.code = http.StatusServiceUnavailable, ErrTemporarilyUnavailable
		e.desc += " (problem reference " + ref + ")"
	default: // KindInternal and anything unknown fail safe
		e.status, e.code = http.StatusInternalServerError, ErrServerError
		e.desc += " (problem reference " + ref + ")"
	}
	return e
}

// requestError is a client error found by the binding itself (invalid JSON, a missing or
// ill-typed parameter): 400 invalid_request, logged as KindMalformed.
func requestError(msg string) error {
	return dss.Errorf(dss.KindMalformed, "%s", msg)
}
