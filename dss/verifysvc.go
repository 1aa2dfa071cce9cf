package dss

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"dssd/dss/verify"
	"dssd/dss/xades"
	"dssd/dss/xmldsig"
	"dssd/dss/xmlsafe"
)

// VerifyConfig configures verification (Service.ConfigureVerify): the trust anchors for
// signers and timestamp authorities, the algorithm policy and the limits. Zero values take
// the defaults of package dss/verify (SHA-2 digests, RSA ≥ 2048 bits and ECDSA with SHA-2, 32
// signatures per document).
type VerifyConfig struct {
	Anchors          []*x509.Certificate
	Digests          []string // allowed DigestMethod URIs
	SignatureMethods []string // allowed SignatureMethod URIs
	MinRSABits       int
	MaxSignatures    int
	MaxPrefixList    int // distinct prefixes of one InclusiveNamespaces PrefixList
	// RevocationFreshness, SignerEKUs and the per-request caps: verify.Config and
	// verify.Limits (zero: the package defaults).
	RevocationFreshness time.Duration
	SignerEKUs          []string
	MaxRevocationValues int
	MaxRevocationBytes  int64
	MaxPathBuilds       int
	MaxNodes            int64 // nodes of the documents of one request (verify.Limits.MaxNodes)
	MaxC14NNodes        int64 // nodes canonicalization visits per request (verify.Limits.MaxC14NNodes)
}

// verifyState is the service's verifier, built on first use or by ConfigureVerify.
type verifyState struct {
	mu        sync.Mutex
	v         *verify.Verifier
	err       error
	freshness time.Duration // VerifyConfig.RevocationFreshness (B-LT applies it too)
}

// revocationFreshness is the configured verify.revocation_freshness window.
func (s *Service) revocationFreshness() time.Duration {
	s.verify.mu.Lock()
	defer s.verify.mu.Unlock()
	return s.verify.freshness
}

func (s *Service) verifier() (*verify.Verifier, error) {
	st := &s.verify
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.v == nil && st.err == nil {
		st.v, st.err = s.newVerifier(VerifyConfig{})
	}
	return st.v, st.err
}

// ConfigureVerify sets the verification configuration. Call it once, before serving; without
// it no trust anchor is configured and every signature ends INDETERMINATE
// (NO_CERTIFICATE_CHAIN_FOUND).
func (s *Service) ConfigureVerify(c VerifyConfig) error {
	v, err := s.newVerifier(c)
	if err != nil {
		return err
	}
	st := &s.verify
	st.mu.Lock()
	st.v, st.err, st.freshness = v, nil, c.RevocationFreshness
	st.mu.Unlock()
	return nil
}

func (s *Service) newVerifier(c VerifyConfig) (*verify.Verifier, error) {
	cfg := verify.Config{
		Anchors: c.Anchors, Clock: s.clock,
		Policy: verify.Policy{Digests: c.Digests, SignatureMethods: c.SignatureMethods, MinRSABits: c.MinRSABits},
		Limits: verify.Limits{MaxSignatures: c.MaxSignatures, Document: verify.DocumentLimitsFor(s.maxBytes),
			MaxRevocationValues: c.MaxRevocationValues, MaxRevocationBytes: c.MaxRevocationBytes,
			MaxPathBuilds: c.MaxPathBuilds, MaxPrefixes: c.MaxPrefixList,
			MaxNodes: c.MaxNodes, MaxC14NNodes: c.MaxC14NNodes,
			MaxC14NBytes: maxC14NBytes(s.maxBytes)},
		RevocationFreshness: c.RevocationFreshness, SignerEKUs: c.SignerEKUs,
	}
	if s.rev != nil {
		cfg.Revocation = revocationAdapter{s.rev}
	}
	return verify.New(cfg)
}

// maxC14NBytes bounds the canonical bytes digested per verified input, and those of a
// signature the service makes (signParams): xmldsig.MaxC14NBytesFor, four times the document
// size limit, at least 64 MiB.
func maxC14NBytes(maxDocBytes int64) int64 { return xmldsig.MaxC14NBytesFor(maxDocBytes) }

// revocationAdapter gives a RevocationSource the shape of verify.RevocationSource (no
// freshness rule: the verifier judges freshness itself).
type revocationAdapter struct{ RevocationSource }

func (a revocationAdapter) Validation(ctx context.Context, chain []*x509.Certificate) ([][]byte, [][]byte, error) {
	return a.RevocationSource.Validation(ctx, chain, nil)
}

// Verify answers a VerifyRequest: it validates every signature of the signature document
// (XMLDSig or XAdES; DSS-X 2.0 §6) and reports the worst verdict in the Result, each one in
// ProcessingDetails; or, for a request without signature and documents, returns the
// certificate of the caller's credential (TS 119 432 clause 8.3.1).
func (s *Service) Verify(ctx context.Context, c Caller, req *VerifyRequest) (*VerifyResponse, error) {
	opts := &req.Options
	if len(req.Unsupported) > 0 {
		return nil, Errorf(KindNotSupported, "%s is not supported in a VerifyRequest", req.Unsupported[0])
	}
	if len(req.Profiles) > 0 {
		return nil, Errorf(KindNotSupported, "profile %q is not supported in a VerifyRequest", req.Profiles[0])
	}
	if ci := opts.ClaimedIdentity; ci != nil {
		if ci.Name != "" && ci.Name != c.User {
			return nil, Errorf(KindNotAuthenticated, "ClaimedIdentity/Name is not the authenticated user")
		}
		if len(ci.SupportingInfo) > 0 {
			return nil, Errorf(KindNotSupported, "ClaimedIdentity/SupportingInfo is not supported in a VerifyRequest")
		}
	}
	if req.Signature == nil && len(req.Documents) == 0 {
		return s.signerCertificate(ctx, c, req)
	}
	if opts.CredentialID != "" {
		return nil, Errorf(KindNotSupported, "AdditionalKeyInfo/KeyName is supported only in a signer-certificate request (no signature, no documents)")
	}
	if len(req.Documents) > s.maxDoc {
		return nil, Errorf(KindLimit, "%d documents in one request; the limit is %d", len(req.Documents), s.maxDoc)
	}
	in, sigDocID, err := verifyInput(req)
	if err != nil {
		return nil, err
	}
	if lvl := opts.ReturnAugmentedSignature; lvl != "" {
		if rank, err := levelRank(lvl); err != nil || rank == 0 {
			return nil, Errorf(KindNotSupported, "ReturnAugmentedSignature %q: give %s, %s or %s", lvl, LevelBT, LevelBLT, LevelBLTA)
		}
	}
	v, err := s.verifier()
	if err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	rep, err := v.Verify(ctx, in)
	switch {
	case errors.Is(err, verify.ErrLimit):
		return nil, Wrap(KindLimit, err, "the signature document exceeds a limit: "+clientText(err))
	case errors.Is(err, verify.ErrMalformed):
		return nil, Wrap(KindMalformed, err, "the signature document is not acceptable XML: "+clientText(err))
	case errors.Is(err, verify.ErrNoSignature):
		return nil, Wrap(KindInappropriate, err, "the signature document holds no ds:Signature")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, Wrap(KindInternal, err, "request deadline exceeded")
	case err != nil:
		return nil, Wrap(KindInternal, err, "")
	}
	resp := s.verifyResponse(req, rep, in, sigDocID)
	if opts.ReturnAugmentedSignature != "" {
		if err := s.augment(ctx, v, req, rep, in, sigDocID, resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// augment raises the one valid XAdES B-B signature of the request to the level
// ReturnAugmentedSignature names (with levels.go's applyLevel), verifies the result and adds
// it to resp as an AugmentedSignature. A signature that is not valid is not augmented: resp
// keeps its verdict and the ResultMessage says so.
func (s *Service) augment(ctx context.Context, v *verify.Verifier, req *VerifyRequest, rep *verify.Report, in verify.Input, sigDocID string, resp *VerifyResponse) error {
	level := req.Options.ReturnAugmentedSignature
	if len(rep.Signatures) != 1 {
		return Errorf(KindNotSupported, "ReturnAugmentedSignature applies to a document with one signature, not %d", len(rep.Signatures))
	}
	r := &rep.Signatures[0]
	if !r.XAdES || r.ID == "" {
		return Errorf(KindInappropriate, "only XAdES signatures (with an Id) can be augmented")
	}
	if r.Level != "B-B" {
		return Errorf(KindNotSupported, "the signature is already at level %s; only B-B signatures are augmented", r.Level)
	}
	if r.Indication != verify.TotalPassed {
		resp.Result.Message += "; the signature is not valid, so it was not augmented"
		return nil
	}
	// xades works on the UTF-8 form of a document in another encoding; the augmented signature
	// goes back to the input's encoding.
	u8, cs, err := xmlsafe.Decode(in.Signature)
	if err != nil {
		return Wrap(KindMalformed, err, "signature document: "+err.Error())
	}
	signed := &xades.Signed{SignatureID: r.ID}
	if r.IsRoot {
		signed.Signature = u8
	} else {
		signed.Document = u8
	}
	var obj xades.Object
	for _, sc := range r.Scope {
		if sc.Kind != verify.ScopeDetached {
			continue
		}
		for _, d := range in.Detached {
			if d.ID == sc.Document && d.URI == sc.URI {
				obj = xades.Object{Data: d.Data, URI: d.URI}
			}
		}
	}
	out, err := s.applyLevel(ctx, level, signed, obj, &Credential{ID: "verified signature", Chain: r.Chain})
	if err != nil {
		return err
	}
	data := out.Signature
	if data == nil {
		data = out.Document
	}
	if data, err = cs.Encode(data); err != nil {
		return Wrap(KindInternal, err, "")
	}
	// The augmented signature must verify as the input did, at the new level.
	check := in
	check.Signature, check.Time = data, time.Time{}
	crep, err := v.Verify(ctx, check)
	if err != nil || len(crep.Signatures) != 1 || crep.Signatures[0].Indication != verify.TotalPassed {
		detail := "no report"
		if err == nil && len(crep.Signatures) == 1 {
			detail = verdictText(&crep.Signatures[0])
		}
		return Wrap(KindInternal, fmt.Errorf("augmented signature does not verify: %v %s", err, detail), "")
	}
	aug := AugmentedSignature{Type: level}
	if r.IsRoot {
		aug.Signature = &SignatureObject{MimeType: "application/xml", Value: data}
	} else {
		id := "augmented"
		if sigDocID != "" {
			id = "augmented-" + sigDocID
		}
		aug.Document = &DocumentWithSignature{WhichDoc: sigDocID, ID: id, MimeType: "application/xml", Data: data}
	}
	resp.Augmented = append(resp.Augmented, aug)
	resp.AppliedProfiles = []string{level}
	return nil
}

// clientText returns the message of the innermost client-safe error: the gate's message.
func clientText(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "xml rejected"); i >= 0 {
		return msg[i:]
	}
	return msg
}

// verifyInput works out which bytes hold the signatures and which documents are detached
// data (DSS-X 2.0 §6.1: without SignatureObject, exactly one Document).
func verifyInput(req *VerifyRequest) (verify.Input, string, error) {
	opts := &req.Options
	in := verify.Input{Time: opts.VerificationTime, CRLs: opts.CRLs, OCSP: opts.OCSP}
	for _, n := range opts.ReturnTransformedDocuments {
		if !slices.Contains(in.ReturnTransformed, n) {
			in.ReturnTransformed = append(in.ReturnTransformed, n)
		}
	}
	if len(in.ReturnTransformed) > maxTransformedDocuments {
		return in, "", Errorf(KindLimit, "%d ReturnTransformedDocument options; the limit is %d", len(in.ReturnTransformed), maxTransformedDocuments)
	}
	if len(opts.Certificates) > maxAdditionalCertificates {
		return in, "", Errorf(KindLimit, "%d AdditionalKeyInfo certificates; the limit is %d", len(opts.Certificates), maxAdditionalCertificates)
	}
	for i, der := range opts.Certificates {
		if len(der) > maxAdditionalCertificateBytes {
			return in, "", Errorf(KindLimit, "AdditionalKeyInfo/X509Certificate %d has %d bytes; the limit is %d", i+1, len(der), maxAdditionalCertificateBytes)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return in, "", Errorf(KindMalformed, "AdditionalKeyInfo/X509Certificate %d is not an X.509 certificate", i+1)
		}
		in.Certificates = append(in.Certificates, cert)
	}
	sigDocID := ""
	var rest []Document
	switch so := req.Signature; {
	case so == nil:
		if len(req.Documents) != 1 {
			return in, "", Errorf(KindMalformed, "without SignatureObject a VerifyRequest carries exactly one Document (the one holding the signature), not %d", len(req.Documents))
		}
		in.Signature, sigDocID = req.Documents[0].Data, req.Documents[0].ID
	case so.Ptr != nil:
		if so.Ptr.XPath != "" {
			return in, "", Errorf(KindNotSupported, "SignaturePtr/@XPath is not supported: every signature of the document WhichData names is verified")
		}
		for _, d := range req.Documents {
			if d.ID != "" && d.ID == so.Ptr.WhichData && in.Signature == nil {
				in.Signature, sigDocID = d.Data, d.ID
				continue
			}
			rest = append(rest, d)
		}
		if in.Signature == nil {
			return in, "", Errorf(KindDocumentNotFound, "SignaturePtr/@WhichData %q names no input Document", so.Ptr.WhichData)
		}
	default:
		if mt := strings.ToLower(so.MimeType); mt != "" && !strings.Contains(mt, "xml") {
			return in, "", Errorf(KindNotSupported, "Base64Signature of type %q: only XML signatures (XMLDSig, XAdES) are verified", so.MimeType)
		}
		in.Signature, rest = so.Value, req.Documents
	}
	if t := bytes.TrimLeft(in.Signature, " \t\r\n\ufeff"); len(t) == 0 || (t[0] != '<' && !bytes.HasPrefix(t, []byte("\xef\xbb\xbf"))) {
		return in, "", Errorf(KindNotSupported, "the signature is not XML: only XML signatures (XMLDSig, XAdES) are verified")
	}
	seen := map[string]bool{}
	for _, d := range rest {
		key := "\x00"
		if d.HasRefURI {
			key = d.RefURI
		}
		if seen[key] {
			if !d.HasRefURI {
				return in, "", Errorf(KindRefURIOmitted, "more than one detached Document without RefURI")
			}
			return in, "", Errorf(KindMalformed, "two detached Documents with the RefURI %q", d.RefURI)
		}
		seen[key] = true
		in.Detached = append(in.Detached, verify.Document{ID: d.ID, URI: d.RefURI, HasURI: d.HasRefURI, Data: d.Data})
	}
	return in, sigDocID, nil
}

// worst orders indications: TOTAL-FAILED over INDETERMINATE over TOTAL-PASSED.
func worst(rep *verify.Report) *verify.Result {
	var w *verify.Result
	rank := map[verify.Indication]int{verify.TotalPassed: 0, verify.Indeterminate: 1, verify.TotalFailed: 2}
	for i := range rep.Signatures {
		r := &rep.Signatures[i]
		if w == nil || rank[r.Indication] > rank[w.Indication] {
			w = r
		}
	}
	return w
}

func (s *Service) verifyResponse(req *VerifyRequest, rep *verify.Report, in verify.Input, sigDocID string) *VerifyResponse {
	opts := &req.Options
	w := worst(rep)
	// Every detached document must be covered by a Reference of a signature.
	used := map[string]bool{}
	for _, r := range rep.Signatures {
		for _, sc := range r.Scope {
			if sc.Kind == verify.ScopeDetached {
				used[sc.Document+"\x00"+sc.URI] = true
			}
		}
	}
	all := true
	for _, d := range in.Detached {
		if !used[d.ID+"\x00"+d.URI] {
			all = false
		}
	}
	var msg strings.Builder
	if len(rep.Signatures) > 1 {
		fmt.Fprintf(&msg, "%d signatures: ", len(rep.Signatures))
	}
	for i, r := range rep.Signatures {
		if i > 0 {
			msg.WriteString("; ")
		}
		msg.WriteString(verdictText(&r))
	}
	if !all && w.Indication == verify.TotalPassed {
		msg.WriteString("; some input documents are covered by no signature")
	}
	// A valid signature may sit next to content it does not sign (signature wrapping,
	// hardening.md §2.1): the verdict then never says "all documents".
	for i := range rep.Signatures {
		r := &rep.Signatures[i]
		if r.Indication != verify.TotalPassed {
			continue
		}
		if why := partialScope(r); why != "" {
			all = false
			fmt.Fprintf(&msg, "; signature %d covers only part of the input: %s", r.Index, why)
		}
	}
	resp := &VerifyResponse{
		RequestID: req.RequestID,
		Result:    VerdictResult(string(w.Indication), string(w.SubIndication), string(w.Reason), all, msg.String()),
	}
	first := &rep.Signatures[0]
	// The signer is named only for a signature whose value verified with that certificate.
	if opts.ReturnSignerIdentity && first.Signer != nil && first.Indication == verify.TotalPassed {
		resp.SignerIdentity = &NameID{Value: first.Signer.Subject.String(), Format: NameIDX509Subject}
	}
	if opts.ReturnSigningTimeInfo {
		resp.SigningTime = signingTimeInfo(first)
	}
	if opts.ReturnVerificationTimeInfo {
		vt := &VerificationTimeInfo{Time: rep.Time.UTC().Truncate(time.Second)}
		for _, r := range rep.Signatures {
			if !r.SigningTime.IsZero() {
				vt.Additional = append(vt.Additional, AdditionalTimeInfo{Type: TimeInfoClaimedSigningTime, Ref: r.ID, Time: r.SigningTime})
			}
			for _, t := range r.TimestampTimes {
				vt.Additional = append(vt.Additional, AdditionalTimeInfo{Type: TimeInfoSignatureTimestamp, Ref: r.ID, Time: t})
			}
		}
		resp.VerificationTime = vt
	}
	if opts.ReturnProcessingDetails {
		resp.ProcessingDetails = processingDetails(rep, sigDocID)
	}
	// ReturnTransformedDocument: exactly the octets each named Reference of the first
	// signature covers, and only when its digest matched them.
	for _, n := range in.ReturnTransformed {
		if data, ok := first.Transformed[n]; ok {
			resp.Transformed = append(resp.Transformed, TransformedDocument{WhichReference: n, Data: data})
		} else {
			fmt.Fprintf(&msg, "; no TransformedDocument for reference %d (no such Reference, or its digest was not verified)", n)
			resp.Result.Message = msg.String()
		}
	}
	return resp
}

// maxTransformedDocuments bounds ReturnTransformedDocument options per request (the
// verifier's References per signature).
const maxTransformedDocuments = 8

// AdditionalKeyInfo certificates only help build paths; these bound what a request can make the
// service parse and offer to path building (the verifier's own per-signature limits: 10
// certificates of at most 16 KiB in KeyInfo).
const (
	maxAdditionalCertificates     = 64
	maxAdditionalCertificateBytes = 16 << 10
)

// verdictText is the one-line verdict of a signature for ResultMessage.
func verdictText(r *verify.Result) string {
	kind := "XMLDSig"
	if r.XAdES {
		kind = "XAdES " + r.Level
	}
	s := fmt.Sprintf("signature %s (%s) %s", r.Name(), kind, r.Indication)
	if r.SubIndication != "" {
		s += "/" + string(r.SubIndication)
	}
	return s + ": " + r.Detail
}

func signingTimeInfo(r *verify.Result) *SigningTimeInfo {
	var upper *time.Time
	for _, t := range r.TimestampTimes {
		if upper == nil || t.Before(*upper) {
			tt := t
			upper = &tt
		}
	}
	switch {
	case !r.SigningTime.IsZero():
		return &SigningTimeInfo{Time: r.SigningTime, Upper: upper}
	case upper != nil:
		return &SigningTimeInfo{Time: *upper, Upper: upper}
	}
	return nil // unknown: omitted (DSS-X 2.0 §4.4.5)
}

// Processing detail types (docs/conformance.md): one detail per signature with its
// indication, one per Reference with what it covers, and notes.
const (
	DetailIndicationPrefix    = "urn:dssd:indication:"    // + TOTAL-PASSED | TOTAL-FAILED | INDETERMINATE
	DetailSubIndicationPrefix = "urn:dssd:subindication:" // Code: + the EN 319 102-1 sub-indication
	DetailScopePrefix         = "urn:dssd:scope:"         // + document | element | object | signed-properties | key-info | detached
	DetailNote                = "urn:dssd:note"
)

func processingDetails(rep *verify.Report, sigDocID string) *ProcessingDetails {
	pd := &ProcessingDetails{}
	for i := range rep.Signatures {
		r := &rep.Signatures[i]
		var list *[]Detail
		switch r.Indication {
		case verify.TotalPassed:
			list = &pd.Valid
		case verify.TotalFailed:
			list = &pd.Invalid
		default:
			list = &pd.Indeterminate
		}
		d := Detail{Type: DetailIndicationPrefix + string(r.Indication), Message: verdictText(r)}
		if r.SubIndication != "" {
			d.Code = DetailSubIndicationPrefix + string(r.SubIndication)
		}
		if r.Signer != nil {
			d.Message += fmt.Sprintf(" [signer %s, serial %s]", r.Signer.Subject.String(), r.Signer.SerialNumber.Text(16))
		}
		*list = append(*list, d)
		for _, sc := range r.Scope {
			*list = append(*list, Detail{Type: DetailScopePrefix + sc.Kind, Message: scopeText(r, sc, sigDocID)})
		}
		for _, n := range r.Notes {
			*list = append(*list, Detail{Type: DetailNote, Message: fmt.Sprintf("signature %s: %s", r.Name(), n)})
		}
	}
	return pd
}

// scopeText says exactly what one Reference covers.
func scopeText(r *verify.Result, sc verify.Scope, sigDocID string) string {
	uri := "no URI"
	if sc.HasURI {
		uri = fmt.Sprintf("URI %q", sc.URI)
	}
	doc := "the signature document"
	if sigDocID != "" {
		doc = fmt.Sprintf("document %q", sigDocID)
	}
	var what string
	switch sc.Kind {
	case verify.ScopeDocument:
		what = fmt.Sprintf("the whole of %s (root %s)", doc, sc.Element)
		if sc.Enveloped {
			what += " except this signature"
		}
	case verify.ScopeElement:
		what = fmt.Sprintf("only the element %s with id %q of %s and its content", sc.Element, sc.ElementID, doc)
		if sc.Enveloped {
			what += ", except this signature"
		}
	case verify.ScopeObject:
		what = fmt.Sprintf("the ds:Object %q of the signature", sc.ElementID)
	case verify.ScopeSignedProperties:
		what = "the XAdES signed properties"
	case verify.ScopeKeyInfo:
		what = "the signature's KeyInfo"
	case verify.ScopeDetached:
		what = fmt.Sprintf("the detached input document %q", sc.Document)
	}
	verb := "covers"
	if r.Indication != verify.TotalPassed {
		verb = "would cover (not validated)"
	}
	return fmt.Sprintf("signature %s, reference %d (%s): %s %s; transforms %v; digest %s", r.Name(), sc.Reference, uri, verb, what, sc.Transforms, sc.Digest)
}

// signerCertificate answers the signer-certificate request of TS 119 432 V1.3.1 clause
// 8.3.1: SignerIdentity and the certificate chain (signer first) of the caller's own
// credential as dsb:Other with MimeType application/pkix-cert. An unknown or foreign
// credential is KeyLookupFailed.
func (s *Service) signerCertificate(ctx context.Context, c Caller, req *VerifyRequest) (*VerifyResponse, error) {
	opts := &req.Options
	if !opts.ReturnSignerIdentity {
		return nil, Errorf(KindMalformed, "a VerifyRequest without SignatureObject and InputDocuments is a signer-certificate request and needs ReturnSignerIdentity")
	}
	if opts.ReturnSigningTimeInfo || opts.ReturnProcessingDetails || opts.ReturnAugmentedSignature != "" || len(opts.ReturnTransformedDocuments) > 0 ||
		len(opts.Certificates) > 0 || len(opts.CRLs) > 0 || len(opts.OCSP) > 0 || !opts.VerificationTime.IsZero() {
		return nil, Errorf(KindNotSupported, "a signer-certificate request takes only ReturnSignerIdentity, ClaimedIdentity and the credential's KeyName")
	}
	cred, err := s.credential(c, opts.CredentialID)
	if err != nil {
		ev := s.event(ctx, c, AuditKeyLookup, req.RequestID, opts.CredentialID)
		return nil, s.record(ctx, &ev, err)
	}
	if len(cred.Chain) == 0 {
		return nil, Errorf(KindInternal, "credential %s has no certificate", cred.ID)
	}
	resp := &VerifyResponse{
		RequestID:      req.RequestID,
		Result:         Result{Major: MajorSuccess},
		SignerIdentity: &NameID{Value: cred.Chain[0].Subject.String(), Format: NameIDX509Subject},
	}
	if opts.ReturnVerificationTimeInfo {
		resp.VerificationTime = &VerificationTimeInfo{Time: s.clock().UTC().Truncate(time.Second)}
	}
	for _, cert := range cred.Chain {
		resp.Other = append(resp.Other, OtherOutput{MimeType: "application/pkix-cert", Data: cert.Raw})
	}
	return resp, nil
}

// partialScope says what a valid signature leaves unsigned of the input that holds it, or ""
// when it covers it whole: an enveloped signature must sign the whole document that holds it
// (URI=""), and no ds:Object of a signature may be left out of its References.
func partialScope(r *verify.Result) string {
	if len(r.UncoveredObjects) > 0 {
		return strings.Join(r.UncoveredObjects, ", ") + " covered by no Reference"
	}
	if len(r.UnsignedContent) > 0 {
		return strings.Join(r.UnsignedContent, "; ")
	}
	data, whole := false, false
	for _, sc := range r.Scope {
		switch sc.Kind {
		case verify.ScopeDocument:
			data, whole = true, true
		case verify.ScopeElement, verify.ScopeObject, verify.ScopeDetached:
			data = true
		}
	}
	switch {
	case !data:
		return "it signs no data object"
	case !r.IsRoot && !whole:
		return "it does not sign the document that holds it"
	}
	return ""
}
