package csc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"dssd/binding/internal/reqlog"
	"dssd/dss"
)

// SADMimeType is the SupportingInfo MimeType under which the SAD reaches dss (interface.md §5).
const SADMimeType = "application/jwt"

func (h *handler) authorize(ctx context.Context, ev *reqlog.Event, c dss.Caller, body []byte, r *http.Request) (any, error) {
	var req authorizeRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	ev.RequestID, ev.Credential = req.ClientData, req.CredentialID
	if isV1(r) {
		// CSC 1.0.4: "hash", and no hashAlgorithmOID (SHA-256 is meant).
		if len(req.Hashes) == 0 {
			req.Hashes = req.Hash
		}
		if req.HashAlgorithmOID == "" && len(req.Hashes) > 0 {
			req.HashAlgorithmOID = OIDSHA256
		}
	}
	if req.CredentialID == "" {
		return nil, requestError("missing (or invalid type) string parameter credentialID")
	}
	if req.NumSignatures == nil {
		return nil, requestError("missing (or invalid type) integer parameter numSignatures")
	}
	if *req.NumSignatures < 1 {
		return nil, requestError("invalid value for parameter numSignatures")
	}
	hashes, err := decodeHashes(req.Hashes)
	if err != nil {
		return nil, err
	}
	if len(hashes) > 0 && len(hashes) != *req.NumSignatures {
		return nil, requestError(fmt.Sprintf("numSignatures is %d but %d hashes are given", *req.NumSignatures, len(hashes)))
	}
	if len(hashes) > 0 && req.HashAlgorithmOID == "" {
		return nil, requestError("missing (or invalid type) string parameter hashAlgorithmOID")
	}
	pin, otp, err := activationFactors(&req)
	if err != nil {
		return nil, err
	}
	a, err := h.svc.Authorize(ctx, c, &dss.AuthorizeRequest{
		RequestID: req.ClientData, CredentialID: req.CredentialID, NumSignatures: *req.NumSignatures,
		Hashes: hashes, HashAlgorithmOID: req.HashAlgorithmOID, PIN: pin, OTP: otp,
	})
	if err != nil {
		return nil, err
	}
	if a == nil || a.SAD == "" {
		return nil, errors.New("service granted no SAD")
	}
	return authorizeResponse{SAD: a.SAD, ExpiresIn: a.ExpiresIn}, nil
}

// activationFactors reads the PIN and OTP from the CSC 1.0 fields or the CSC v2 authData
// list; giving one factor twice is refused. Values never reach an error message.
func activationFactors(req *authorizeRequest) (pin, otp string, err error) {
	var hasPIN, hasOTP bool
	if req.PIN != nil {
		pin, hasPIN = *req.PIN, true
	}
	if req.OTP != nil {
		otp, hasOTP = *req.OTP, true
	}
	for _, ad := range req.AuthData {
		switch ad.ID {
		case "PIN":
			if hasPIN {
				return "", "", requestError("the PIN is given more than once")
			}
			pin, hasPIN = ad.Value, true
		case "OTP":
			if hasOTP {
				return "", "", requestError("the OTP is given more than once")
			}
			otp, hasOTP = ad.Value, true
		default:
			return "", "", requestError(fmt.Sprintf("invalid parameter authData: unknown id %q; dssd uses PIN and OTP", clip(ad.ID)))
		}
	}
	return pin, otp, nil
}

// signStart does what signHash and signDoc first do with the members they share: it names
// the request in the log, takes the SAD from the bearer token where the caller authenticated
// with one (replacing *sad), requires the credential and reads the operation mode.
func (h *handler) signStart(ev *reqlog.Event, c dss.Caller, r *http.Request, credentialID, clientData string, sad *string, mode string, validity *int, responseURI string) (async bool, retention time.Duration, err error) {
	ev.RequestID, ev.Credential = clientData, credentialID
	tok, err := bearerSAD(c, r, *sad)
	if err != nil {
		return false, 0, err
	}
	*sad = tok
	if credentialID == "" {
		return false, 0, requestError("missing (or invalid type) string parameter credentialID")
	}
	return h.operationMode(r, mode, validity, responseURI)
}

func (h *handler) signHash(ctx context.Context, ev *reqlog.Event, c dss.Caller, body []byte, r *http.Request) (any, error) {
	var req signHashRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	async, retention, err := h.signStart(ev, c, r, req.CredentialID, req.ClientData, &req.SAD, req.OperationMode, req.ValidityPeriod, req.ResponseURI)
	if err != nil {
		return nil, err
	}
	if isV1(r) {
		if len(req.Hashes) == 0 {
			req.Hashes = req.Hash
		}
		if req.HashAlgorithmOID == "" {
			req.HashAlgorithmOID = req.HashAlgo
		}
	}
	if len(req.Hashes) == 0 {
		return nil, requestError("missing (or invalid type) array parameter hashes")
	}
	hashes, err := decodeHashes(req.Hashes)
	if err != nil {
		return nil, err
	}
	alg, err := chooseAlgo(req.SignAlgo, req.HashAlgorithmOID, req.SignAlgoParams)
	if err != nil {
		return nil, requestError(err.Error())
	}
	sr := &dss.SignRequest{
		RequestID: req.ClientData,
		Options: dss.SignOptions{
			CredentialID: req.CredentialID, SignatureAlgorithm: alg.signatureAlgorithm,
			ClaimedIdentity: claimedIdentity(c, req.SAD),
		},
	}
	for i, v := range hashes {
		sr.Hashes = append(sr.Hashes, dss.DocumentHash{
			ID: fmt.Sprintf("hash-%d", i+1), Digests: []dss.Digest{{Method: alg.hashOID, Value: v}},
		})
	}
	sr.Tag = tagSignHash
	if async {
		return h.submit(ctx, c, sr, retention)
	}
	resp, err := h.svc.Sign(ctx, c, sr)
	if err != nil {
		return nil, err
	}
	if resp == nil || len(resp.Signatures) != len(hashes) {
		return nil, errors.New("service returned a signature count that differs from the hash count")
	}
	return hashOutput(resp)
}

// hashOutput is the signHash answer of a SignResponse of raw signature values.
func hashOutput(resp *dss.SignResponse) (signHashResponse, error) {
	if len(resp.Signatures) == 0 {
		return signHashResponse{}, errors.New("service returned no signature")
	}
	out := signHashResponse{Signatures: make([]string, len(resp.Signatures))}
	for i, s := range resp.Signatures {
		if len(s.Value) == 0 || s.Ptr != nil {
			return signHashResponse{}, fmt.Errorf("service returned no raw signature value for hash %d", i+1)
		}
		out.Signatures[i] = base64.StdEncoding.EncodeToString(s.Value)
	}
	return out, nil
}

// claimedIdentity carries the SAD to dss the way the DSS-X binding does (TS 119 432 clause
// 8.1 (a)): ClaimedIdentity/Name = the authenticated user, SupportingInfo = the SAD.
func claimedIdentity(c dss.Caller, sad string) *dss.ClaimedIdentity {
	if sad == "" {
		return nil
	}
	return &dss.ClaimedIdentity{Name: c.User, SupportingInfo: []byte(sad), SupportingInfoMimeType: SADMimeType}
}

func decodeHashes(in []string) ([][]byte, error) {
	out := make([][]byte, 0, len(in))
	for i, s := range in {
		b, err := decodeB64(s)
		if err != nil {
			return nil, requestError(fmt.Sprintf("invalid base64 hashes string parameter (hash %d)", i+1))
		}
		out = append(out, b)
	}
	return out, nil
}

// clip shortens client text echoed in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// envelope properties of signDoc for XAdES.
const (
	envEnveloped  = "Enveloped"
	envEnveloping = "Enveloping"
	envDetached   = "Detached"
)

// docParams are the per-document parameters of signDoc; dss takes one set per request.
type docParams struct {
	format, level, signAlgo, params, envelope, hashOID string
}

// signDoc maps CSC signatures/signDoc with signature_format "X" onto a DSS-X style sign
// request: documents become InputDocuments/Document, documentDigests become DocumentHash
// with SignatureType XAdES (detached), conformance_level becomes a dssd level profile.
func (h *handler) signDoc(ctx context.Context, ev *reqlog.Event, c dss.Caller, body []byte, r *http.Request) (any, error) {
	var req signDocRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	async, retention, err := h.signStart(ev, c, r, req.CredentialID, req.ClientData, &req.SAD, req.OperationMode, req.ValidityPeriod, req.ResponseURI)
	if err != nil {
		return nil, err
	}
	if req.SignatureQualifier != "" {
		return nil, dss.Errorf(dss.KindNotSupported, "signatureQualifier is not supported")
	}
	if req.ReturnValidationInfo {
		return nil, dss.Errorf(dss.KindNotSupported, "returnValidationInfo is not supported; ask for Ades-B-LT to embed validation data")
	}
	switch {
	case len(req.Documents) == 0 && len(req.DocumentDigests) == 0:
		return nil, requestError("missing parameter documents (or documentDigests)")
	case len(req.Documents) > 0 && len(req.DocumentDigests) > 0:
		return nil, dss.Errorf(dss.KindNotSupported, "documents and documentDigests in one request are not supported")
	}
	var params []docParams
	for _, d := range req.Documents {
		params = append(params, docParams{d.SignatureFormat, d.ConformanceLevel, d.SignAlgo, d.SignAlgoParams, d.SignedEnvelopeProperty, ""})
	}
	for _, d := range req.DocumentDigests {
		params = append(params, docParams{d.SignatureFormat, d.ConformanceLevel, d.SignAlgo, d.SignAlgoParams, d.SignedEnvelopeProperty, d.HashAlgorithmOID})
	}
	p := params[0]
	for _, q := range params[1:] {
		if q != p {
			return nil, dss.Errorf(dss.KindNotSupported, "documents with different signature_format, conformance_level, signAlgo, signAlgoParams or signed_envelope_property need separate requests")
		}
	}
	if p.format == "" {
		return nil, requestError("missing (or invalid type) string parameter signature_format")
	}
	if p.format != "X" {
		return nil, dss.Errorf(dss.KindNotSupported, "signature_format %q is not supported; dssd creates XAdES (\"X\")", clip(p.format))
	}
	level, err := levelOf(p.level)
	if err != nil {
		return nil, err
	}
	hashOID := p.hashOID
	if hashOID == "" && (strings.TrimSpace(p.signAlgo) == OIDRSA || strings.TrimSpace(p.signAlgo) == OIDECPublicKey) {
		hashOID = OIDSHA256
	}
	alg, err := chooseAlgo(p.signAlgo, hashOID, p.params)
	if err != nil {
		return nil, requestError(err.Error())
	}
	if alg.uri == "" {
		return nil, dss.Errorf(dss.KindNotSupported, "signAlgo %q is not supported for XAdES", clip(p.signAlgo))
	}
	env := p.envelope
	if env == "" {
		env = envEnveloped
		if len(req.DocumentDigests) > 0 {
			env = envDetached
		}
	}
	sr := &dss.SignRequest{
		RequestID: req.ClientData,
		Profiles:  []string{level},
		Options: dss.SignOptions{
			CredentialID: req.CredentialID, SignatureType: dss.TypeXAdES, SignatureAlgorithm: alg.uri,
			ClaimedIdentity: claimedIdentity(c, req.SAD),
		},
	}
	for i, d := range req.Documents {
		data, err := decodeB64(d.Document)
		if err != nil {
			return nil, requestError(fmt.Sprintf("invalid base64 document (document %d)", i+1))
		}
		id := fmt.Sprintf("doc-%d", i+1)
		sr.Documents = append(sr.Documents, dss.Document{ID: id, Data: data})
		switch env {
		case envEnveloped:
			if sr.Options.Placement != nil {
				return nil, dss.Errorf(dss.KindNotSupported, "one enveloped signature per request: send the documents separately")
			}
			sr.Options.Placement = &dss.Placement{WhichData: id, XPath: "/*", CreateEnveloped: true}
		case envEnveloping:
			sr.Options.IncludeObjects = append(sr.Options.IncludeObjects, dss.IncludeObject{WhichData: id, CreateReference: true})
		case envDetached:
		default:
			return nil, dss.Errorf(dss.KindNotSupported, "signed_envelope_property %q is not supported for XAdES", clip(env))
		}
	}
	for i, d := range req.DocumentDigests {
		if env != envDetached {
			return nil, dss.Errorf(dss.KindNotSupported, "documentDigests can only be signed Detached")
		}
		if len(d.Hashes) == 0 {
			return nil, requestError("missing (or invalid type) array parameter documentDigests.hashes")
		}
		hashes, err := decodeHashes(d.Hashes)
		if err != nil {
			return nil, err
		}
		for j, v := range hashes {
			sr.Hashes = append(sr.Hashes, dss.DocumentHash{
				ID: fmt.Sprintf("digest-%d-%d", i+1, j+1), Digests: []dss.Digest{{Method: alg.hashOID, Value: v}},
			})
		}
	}
	sr.Tag = tagSignDoc + env
	if async {
		return h.submit(ctx, c, sr, retention)
	}
	resp, err := h.svc.Sign(ctx, c, sr)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("service returned no SignResponse")
	}
	return docOutput(resp, env)
}

// docOutput is the signDoc answer of a SignResponse of XAdES signatures made with the
// signed_envelope_property env: enveloped and enveloping results are documents with their
// signature, detached ones signature objects.
func docOutput(resp *dss.SignResponse, env string) (signDocResponse, error) {
	var out signDocResponse
	for _, d := range resp.DocumentsWithSignature {
		out.DocumentWithSignature = append(out.DocumentWithSignature, base64.StdEncoding.EncodeToString(d.Data))
	}
	for _, s := range resp.Signatures {
		switch {
		case s.Ptr != nil: // the signature inside a DocumentWithSignature
		case env == envEnveloping:
			out.DocumentWithSignature = append(out.DocumentWithSignature, base64.StdEncoding.EncodeToString(s.Value))
		default:
			out.SignatureObject = append(out.SignatureObject, base64.StdEncoding.EncodeToString(s.Value))
		}
	}
	if len(out.DocumentWithSignature)+len(out.SignatureObject) == 0 {
		return signDocResponse{}, errors.New("service returned no signature")
	}
	return out, nil
}

// levelOf maps a CSC conformance_level to a dssd level profile (default Ades-B-B). The
// non-baseline levels need not be supported (TS 119 432 clause 7.6).
func levelOf(cl string) (string, error) {
	if cl == "" {
		return dss.LevelBB, nil
	}
	for l, c := range conformanceLevel {
		if strings.EqualFold(c, cl) {
			return l, nil
		}
	}
	return "", dss.Errorf(dss.KindNotSupported, "conformance_level %q is not supported; dssd offers the baseline levels Ades-B-B to Ades-B-LTA", clip(cl))
}
