package csc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"dssd/binding/internal/reqlog"
	"dssd/dss"
)

// The CSC asynchronous mode (CSC API v2 signatures/signHash and signatures/signDoc with
// operationMode "A", then signatures/signPolling; TS 119 432 clause 7.7). It runs on the
// service's durable jobs, exactly as the DSS-X asynchronous profile does: the request is
// checked completely at submission (a SCAL2 SAD is checked and consumed there), stored as a
// job in the shared store and signed by a worker on any node. The submission is answered
// 202 Accepted with the job's responseID; signPolling answers, to the submitting user only,
// the CSC "not yet completed" error while the job runs and then the answer the synchronous
// call would have given. Another user's responseID and an unknown or expired one get the
// same answer. response_uri (a completion callback) is refused: dssd makes no outbound
// calls to client-chosen addresses (docs/decisions.md).

// Tags (dss.SignRequest.Tag) of the CSC jobs: the method, and for signDoc the envelope.
const (
	tagSignHash = "csc:signHash"
	tagSignDoc  = "csc:signDoc:"
)

// MethodSignPolling retrieves the outcome of an asynchronous signHash or signDoc.
const MethodSignPolling = "signatures/signPolling"

// PendingDescription is the error_description of signatures/signPolling while the job has
// not finished (HTTP 400 invalid_request), as CSC clients in the field expect it.
const PendingDescription = "The previous asynchronous signature request has been accepted for processing, but the processing has not yet been completed."

// statusAnswer is a method result written with a status other than 200.
type statusAnswer struct {
	status int
	body   any
	major  string // the event's ResultMajor
}

type asyncResponse struct {
	ResponseID string `json:"responseID"`
}

type pollingRequest struct {
	ResponseID string `json:"responseID"`
	RequestID  string `json:"requestID"` // the TS 119 432 V1.1.1 name; accepted as an alias
	ClientData string `json:"clientData"`
}

// operationMode checks operationMode, validity_period and response_uri of a signing
// request: async reports operationMode "A"; retention is validity_period (milliseconds),
// zero when absent.
func (h *handler) operationMode(r *http.Request, mode string, validity *int, responseURI string) (async bool, retention time.Duration, err error) {
	switch mode {
	case "", "S":
		if validity != nil || responseURI != "" {
			return false, 0, requestError(`validity_period and response_uri apply to operationMode "A" only`)
		}
		return false, 0, nil
	case "A":
	default:
		return false, 0, requestError(`invalid parameter operationMode: use "S" (synchronous) or "A" (asynchronous)`)
	}
	if !h.opts.Async || isV1(r) {
		return false, 0, dss.Errorf(dss.KindNotSupported, "operationMode A (asynchronous) is not enabled on this service")
	}
	if responseURI != "" {
		return false, 0, dss.Errorf(dss.KindNotSupported, "response_uri is not supported: dssd sends no completion callbacks; retrieve the outcome with signatures/signPolling")
	}
	if validity != nil {
		if *validity < 1 {
			return false, 0, requestError("invalid parameter validity_period: a positive number of milliseconds")
		}
		retention = time.Duration(*validity) * time.Millisecond
	}
	return true, retention, nil
}

// submit hands an asynchronous request to the service and answers 202 with its responseID.
func (h *handler) submit(ctx context.Context, c dss.Caller, sr *dss.SignRequest, retention time.Duration) (any, error) {
	sr.Options.Async = true
	sr.Options.AsyncRetention = retention
	resp, err := h.svc.Sign(ctx, c, sr)
	if err != nil {
		return nil, err
	}
	if resp == nil || resp.Result.Major != dss.MajorPending || resp.ResponseID == "" {
		return nil, errors.New("service did not accept the asynchronous request")
	}
	return statusAnswer{status: http.StatusAccepted, body: asyncResponse{ResponseID: resp.ResponseID}, major: dss.MajorPending}, nil
}

// pollFailure is the failure Result of a finished job as an error, with the problem
// reference of the job (the one its log lines and audit record carry).
type pollFailure struct {
	err error
	ref string
}

func (e *pollFailure) Error() string { return e.err.Error() }
func (e *pollFailure) Unwrap() error { return e.err }

func (h *handler) signPolling(ctx context.Context, ev *reqlog.Event, c dss.Caller, body []byte, r *http.Request) (any, error) {
	var req pollingRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	ev.RequestID = req.ClientData
	id := req.ResponseID
	switch {
	case id == "" && req.RequestID == "":
		return nil, requestError("missing (or invalid type) string parameter responseID")
	case id == "":
		id = req.RequestID
	case req.RequestID != "" && req.RequestID != id:
		return nil, requestError("responseID and requestID differ")
	}
	if !h.opts.Async {
		return nil, dss.Errorf(dss.KindNotSupported, "operationMode A (asynchronous) is not enabled on this service")
	}
	resp, err := h.svc.Pending(ctx, c, &dss.PendingRequest{RequestID: id})
	if err != nil {
		if dss.KindOf(err) == dss.KindResponseIDUnknown {
			// One answer for an unknown, expired or foreign id.
			return nil, dss.Wrap(dss.KindResponseIDUnknown, err, "")
		}
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("service returned no answer")
	}
	if resp.Result.Major == dss.MajorPending {
		return statusAnswer{status: http.StatusBadRequest, major: dss.MajorPending,
			body: errorResponse{Error: ErrInvalidRequest, ErrorDescription: PendingDescription}}, nil
	}
	if ferr := dss.JobFailure(resp.Result); ferr != nil {
		return nil, &pollFailure{ferr, resp.Result.ProblemReference}
	}
	switch {
	case resp.Tag == tagSignHash:
		return hashOutput(resp)
	case strings.HasPrefix(resp.Tag, tagSignDoc):
		return docOutput(resp, strings.TrimPrefix(resp.Tag, tagSignDoc))
	}
	// A job submitted through DSS-X: raw values as signHash would answer, XML signatures as
	// signDoc would (detached or enveloped).
	for _, s := range resp.Signatures {
		if s.MimeType != "application/octet-stream" {
			return docOutput(resp, envDetached)
		}
	}
	return hashOutput(resp)
}

// pollRef is the problem reference of an answer: the job's for a failed job, else ref.
func pollRef(err error, ref string) string {
	var pf *pollFailure
	if errors.As(err, &pf) && pf.ref != "" {
		return pf.ref
	}
	return ref
}
