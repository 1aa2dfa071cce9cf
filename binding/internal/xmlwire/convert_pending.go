package xmlwire

// PendingRequest (DSS-X 2.0 §4.3.5, asynchronous processing) and its answers.

import (
	"strings"

	"dssd/dss"
)

// PendingRequestFromWire converts a dss2:PendingRequest. dss.PendingRequest has no place for
// unsupported elements, so anything besides RequestID is refused here: a dsb:Profile is
// Malformed (DSS-X 2.0 §4.3.5 forbids it), ClaimedIdentity and unknown elements are
// NotSupported.
func PendingRequestFromWire(w *PendingRequest) (*dss.PendingRequest, error) {
	if err := checkNamespaces("PendingRequest", w); err != nil {
		return nil, err
	}
	if strings.TrimSpace(w.RequestID) == "" {
		return nil, malformed("PendingRequest needs RequestID (the ResponseID of the pending request)")
	}
	if len(w.Profile) > 0 {
		return nil, malformed("PendingRequest must not carry dsb:Profile")
	}
	if w.ClaimedIdentity != nil {
		return nil, dss.Errorf(dss.KindNotSupported, "optional input ClaimedIdentity is not supported in a PendingRequest")
	}
	if len(w.Unknown) > 0 {
		return nil, dss.Errorf(dss.KindNotSupported, "element %s is not supported in a PendingRequest", qualified(w.Unknown[0].XMLName))
	}
	return &dss.PendingRequest{RequestID: strings.Clone(w.RequestID)}, nil // not the body's (own.go)
}

// PendingResponseToWire converts an answer of dss.Service.Pending: the concrete SignResponse
// of the original operation (protocol.md §5).
func PendingResponseToWire(r *dss.SignResponse) *SignResponse { return SignResponseToWire(r) }

// ErrorPendingResponse answers a failed poll with the generic dss2:Response, typed
// dss2:SignResponseType (DSS-X 2.0 §7: an unknown ResponseID gets a generic Response).
func ErrorPendingResponse(requestID string, r dss.Result) *Response {
	return &Response{
		XMLNSXSI: NSXSI, XMLNSDSS2: NSCore, XSIType: "dss2:SignResponseType",
		ResponseBase: responseBase(requestID, "", r, nil),
	}
}
