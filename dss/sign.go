package dss

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"mime"
	"strings"
	"time"

	"dssd/dss/xades"
	"dssd/dss/xmlsafe"
)

// plan is the validated form of one document's signing job.
type plan struct {
	doc       *Document
	packaging xades.Packaging
	xml       bool
	mimeType  string
	placement *Placement
	objID     string
	parsed    *xades.Input // what the SCAL2 precheck parsed of doc.Data, for Build
	sha256    []byte       // documentSHA256(doc), as prepare computed it for the audit record
}

// job is a validated signing request: everything is checked before the signature activation
// data is consumed and before the device is used.
type job struct {
	sigType string // TypeXAdES, TypeXMLDSig, or "" for raw signature values (hash signing)
	applied []string
	alg     string // XML SignatureMethod URI
	raw     rawAlg
	docs    []plan
	hashes  []hashPlan
}

// bound returns what a SAD must authorise for this job: the SHA-256 of each document's
// bytes, or each chosen digest, in request order.
func (j *job) bound() (hs []crypto.Hash, ds [][]byte) {
	for i := range j.docs {
		d := j.docs[i].sha256
		if d == nil {
			d = documentSHA256(j.docs[i].doc)
		}
		hs, ds = append(hs, crypto.SHA256), append(ds, d)
	}
	for i := range j.hashes {
		hs, ds = append(hs, j.hashes[i].hash), append(ds, j.hashes[i].digest)
	}
	return hs, ds
}

// Sign signs every input document (or hash) with the selected credential, in request order,
// one signature per input. It returns either a complete response or an error: never a
// partial result, and never a signature that failed its own verification. Every request,
// refused or not, yields exactly one audit record, and a response with signatures is
// returned only after that record is stored.
func (s *Service) Sign(ctx context.Context, c Caller, req *SignRequest) (*SignResponse, error) {
	if async, rest := asyncRequested(req); async {
		r := *req
		r.Profiles = rest
		return s.submit(ctx, c, &r)
	}
	ev := s.event(ctx, c, AuditSign, req.RequestID, req.Options.CredentialID)
	resp, err := s.sign(ctx, c, req, &ev)
	if err = s.record(ctx, &ev, err); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) sign(ctx context.Context, c Caller, req *SignRequest, ev *AuditEvent) (*SignResponse, error) {
	j, cred, err := s.prepare(ctx, c, req, ev, false)
	if err != nil {
		return nil, err
	}
	return s.execute(ctx, req, j, cred)
}

// prepare validates a signing request, resolves its credential and, unless activated says
// that was done when an asynchronous job was submitted, checks and consumes its signature
// activation data. Nothing is signed yet.
func (s *Service) prepare(ctx context.Context, c Caller, req *SignRequest, ev *AuditEvent, activated bool) (*job, *Credential, error) {
	opts := &req.Options
	sums := make([][]byte, len(req.Documents)) // each document's bytes are hashed once
	for i := range req.Documents {
		sums[i] = documentSHA256(&req.Documents[i])
		ev.Digests = append(ev.Digests, digestString(crypto.SHA256, sums[i]))
	}
	for i := range req.Hashes {
		if ds := req.Hashes[i].Digests; len(ds) > 0 {
			h, _ := digestMethod(ds[0].Method)
			ev.Digests = append(ev.Digests, digestString(h, ds[0].Value))
		}
	}
	if len(opts.Unsupported) > 0 {
		return nil, nil, Errorf(KindNotSupported, "optional input %s is not supported", opts.Unsupported[0])
	}
	n := len(req.Documents) + len(req.Hashes)
	switch {
	case n == 0:
		return nil, nil, Errorf(KindMalformed, "InputDocuments holds no Document or DocumentHash")
	case n > s.maxDoc:
		return nil, nil, Errorf(KindLimit, "%d inputs in one request; the limit is %d", n, s.maxDoc)
	case len(req.Documents) > 0 && len(req.Hashes) > 0:
		return nil, nil, Errorf(KindNotSupported, "a request signs either Documents or DocumentHashes, not both")
	}
	if opts.ClaimedIdentity != nil && opts.ClaimedIdentity.Name != "" && opts.ClaimedIdentity.Name != c.User {
		return nil, nil, Errorf(KindNotAuthenticated, "ClaimedIdentity/Name is not the authenticated user")
	}
	cred, err := s.credential(c, opts.CredentialID)
	if err != nil {
		return nil, nil, err
	}
	ev.Credential = cred.ID

	var j *job
	if len(req.Hashes) > 0 {
		j, err = planHashJob(req, cred)
		if j != nil {
			ev.Digests = ev.Digests[:0]
			for i := range j.hashes {
				ev.Digests = append(ev.Digests, digestString(j.hashes[i].hash, j.hashes[i].digest))
			}
		}
	} else {
		j, err = planDocumentJob(req, cred)
	}
	if err != nil {
		return nil, nil, err
	}
	for i := range j.docs {
		if i < len(sums) && j.docs[i].doc == &req.Documents[i] {
			j.docs[i].sha256 = sums[i]
		}
	}
	if err := s.levelAvailable(j.applied); err != nil {
		return nil, nil, err
	}
	// A revoked signer certificate is refused before the SAD is consumed and before the HSM signs.
	if err := s.checkSignerStatus(ctx, cred); err != nil {
		return nil, nil, err
	}
	// A SCAL2 activation is consumed once: refuse a request whose documents cannot be signed
	// before spending it.
	if cred.SCAL >= 2 {
		for i := range j.docs {
			p := &j.docs[i]
			obj := xades.Object{Data: p.doc.Data, XML: p.xml}
			if p.placement != nil {
				obj.XPath, obj.Namespaces = p.placement.XPath, p.placement.Namespaces
			}
			in, err := xades.Precheck(obj, p.packaging, s.maxBytes)
			if err != nil {
				return nil, nil, signError(err)
			}
			p.parsed = in // signed as parsed here: one parse of the document
		}
	}
	if !activated {
		hs, ds := j.bound()
		if err := s.activate(ctx, c, cred, opts.ClaimedIdentity, hs, ds); err != nil {
			return nil, nil, err
		}
	}
	return j, cred, nil
}

// execute signs a prepared request.
func (s *Service) execute(ctx context.Context, req *SignRequest, j *job, cred *Credential) (*SignResponse, error) {
	signer, err := s.signer(ctx, cred, cred.Ref)
	if err != nil {
		return nil, err
	}
	resp := &SignResponse{RequestID: req.RequestID, Result: Result{Major: MajorSuccess}, AppliedProfiles: j.applied}
	if j.sigType == "" {
		if err := s.signHashesRaw(ctx, cred, signer, j.raw, j.hashes, resp); err != nil {
			return nil, err
		}
		return resp, nil
	}
	now := s.clock().UTC().Truncate(time.Second)
	for i := range j.hashes {
		p := &j.hashes[i]
		obj := xades.Object{
			ID: p.dh.ID, Digest: p.digest, DigestHash: p.hash, Transforms: p.dh.Transforms,
			URI: p.dh.RefURI, RefType: p.dh.RefType,
		}
		signed, err := s.signXML(ctx, cred, signer, j, obj, xades.Detached, now)
		if err != nil {
			return nil, err
		}
		resp.Signatures = append(resp.Signatures, SignatureObject{
			WhichDoc: p.dh.ID, MimeType: "application/xml", Value: signed.Signature,
		})
	}
	for i := range j.docs {
		p := &j.docs[i]
		obj := xades.Object{
			ID: p.doc.ID, Data: p.doc.Data, XML: p.xml, MimeType: p.mimeType,
			URI: p.doc.RefURI, RefType: p.doc.RefType, ObjID: p.objID, Parsed: p.parsed,
		}
		if st := p.doc.Streamed; st != nil {
			// Hashed by the binding while it arrived: the detached Reference carries that
			// digest (planDocuments allows nothing but Detached for such a document).
			obj.Data, obj.Digest, obj.DigestHash = nil, st.SHA256, crypto.SHA256
		}
		if p.placement != nil {
			obj.XPath, obj.After, obj.Namespaces = p.placement.XPath, p.placement.After, p.placement.Namespaces
		}
		signed, err := s.signXML(ctx, cred, signer, j, obj, p.packaging, now)
		if err != nil {
			return nil, err
		}
		switch p.packaging {
		case xades.Enveloped:
			outID := "signed-" + p.doc.ID
			// The signed document comes back in the input's encoding and declaration
			// (xades works on its UTF-8 form).
			data, err := reencode(p.doc.Data, signed.Document)
			if err != nil {
				return nil, err
			}
			resp.DocumentsWithSignature = append(resp.DocumentsWithSignature, DocumentWithSignature{
				WhichDoc: p.doc.ID, ID: outID, MimeType: p.mimeType, Data: data,
			})
			resp.Signatures = append(resp.Signatures, SignatureObject{
				WhichDoc: p.doc.ID, Ptr: &SignaturePtr{WhichData: outID, XPath: signed.XPath},
			})
		default:
			resp.Signatures = append(resp.Signatures, SignatureObject{
				WhichDoc: p.doc.ID, MimeType: "application/xml", Value: signed.Signature,
			})
		}
	}
	return resp, nil
}

// xmlLevel checks the requested level against the signature type and returns the applied
// profiles.
func xmlLevel(req *SignRequest, sigType string) ([]string, error) {
	level, err := levelOf(req.Profiles, req.Options.AddTimestamp)
	if err != nil {
		return nil, err
	}
	if sigType == TypeXAdES {
		return []string{level}, nil
	}
	if len(req.Profiles) > 0 || len(req.Options.AddTimestamp) > 0 {
		return nil, Errorf(KindNotSupported, "levels and timestamps apply to XAdES signatures, not to plain XMLDSig")
	}
	return nil, nil
}

func checkSignatureType(t string) error {
	if t != TypeXAdES && t != TypeXMLDSig {
		return Errorf(KindNotSupported, "SignatureType %q is not supported", t)
	}
	return nil
}

// planDocumentJob validates a request that signs Documents.
func planDocumentJob(req *SignRequest, cred *Credential) (*job, error) {
	opts := &req.Options
	j := &job{sigType: opts.SignatureType}
	if j.sigType == "" {
		j.sigType = TypeXAdES
	}
	if err := checkSignatureType(j.sigType); err != nil {
		return nil, err
	}
	var err error
	if j.applied, err = xmlLevel(req, j.sigType); err != nil {
		return nil, err
	}
	if j.alg, err = xmlAlgorithm(opts.SignatureAlgorithm, cred.Key); err != nil {
		return nil, err
	}
	if j.docs, err = planDocuments(req.Documents, opts); err != nil {
		return nil, err
	}
	if len(j.applied) == 1 && j.applied[0] == LevelBLTA {
		for i := range j.docs {
			if j.docs[i].doc.Streamed != nil {
				// The archive timestamp covers the signed data's octets a second time; the
				// streamed bytes were not kept (docs/decisions.md).
				return nil, Errorf(KindNotSupported, "level B-LTA needs document %q a second time, and it was streamed as an attachment and not kept; use B-LT or send it inline", j.docs[i].doc.ID)
			}
		}
	}
	return j, nil
}

// planHashJob validates a request that signs DocumentHashes: raw signature values without
// SignatureType, detached XML signatures with it.
func planHashJob(req *SignRequest, cred *Credential) (*job, error) {
	opts := &req.Options
	j := &job{sigType: opts.SignatureType}
	if opts.Placement != nil || len(opts.IncludeObjects) > 0 {
		return nil, Errorf(KindInappropriate, "SignaturePlacement and IncludeObject need a Document; hash signing is detached")
	}
	var err error
	if j.sigType == "" {
		if len(req.Profiles) > 0 || len(opts.AddTimestamp) > 0 {
			return nil, Errorf(KindNotSupported, "levels and timestamps apply to XAdES signatures; raw signature values have none")
		}
		if j.raw, err = rawAlgorithm(opts.SignatureAlgorithm, cred.Key); err != nil {
			return nil, err
		}
		if j.hashes, err = planHashes(req.Hashes, j.raw.hash, false); err != nil {
			return nil, err
		}
		return j, nil
	}
	if err := checkSignatureType(j.sigType); err != nil {
		return nil, err
	}
	if j.applied, err = xmlLevel(req, j.sigType); err != nil {
		return nil, err
	}
	if j.alg, err = xmlAlgorithm(opts.SignatureAlgorithm, cred.Key); err != nil {
		return nil, err
	}
	if j.hashes, err = planHashes(req.Hashes, 0, true); err != nil {
		return nil, err
	}
	return j, nil
}

// signXML builds one XML signature and verifies it before it is returned.
func (s *Service) signXML(ctx context.Context, cred *Credential, signer crypto.Signer, j *job, obj xades.Object, pk xades.Packaging, now time.Time) (*xades.Signed, error) {
	if err := ctx.Err(); err != nil {
		return nil, Wrap(KindHSMUnavailable, err, "request deadline exceeded")
	}
	format := "xades"
	if j.sigType == TypeXMLDSig {
		format = "xmldsig"
	}
	id, err := s.newID("sig-")
	if err != nil {
		return nil, err
	}
	params := xades.Params{
		Type: j.sigType, Packaging: pk, SignatureMethod: j.alg,
		Signer: signer, Chain: cred.Chain, SigningTime: now, SignatureID: id,
		MaxDocumentBytes: s.maxBytes, MaxC14NBytes: maxC14NBytes(s.maxBytes), // the verifier's bound
	}
	// One tree from B-B to the requested level, serialised once; the self-check parses those
	// bytes once.
	start := time.Now()
	tree, err := xades.Build(obj, params)
	s.meter.HSM(cred.Key, time.Since(start), errClass(err))
	if err != nil {
		s.meter.Signature(cred.Key, format, "error")
		return nil, signError(err)
	}
	if j.sigType == TypeXAdES && len(j.applied) == 1 {
		if err := s.applyLevelTree(ctx, j.applied[0], tree, obj, cred); err != nil {
			s.meter.Signature(cred.Key, format, "error")
			return nil, err
		}
	}
	signed, err := tree.Bytes()
	if err != nil {
		s.meter.Signature(cred.Key, format, "error")
		return nil, signError(err)
	}
	if err := xades.Check(signed, obj, cred.Chain[0]); err != nil {
		s.meter.SelfCheckFailed()
		s.meter.Signature(cred.Key, format, "selfcheck")
		s.log.Error("produced signature failed its self-check", "credential", cred.ID, "err", err)
		return nil, Wrap(KindInternal, err, "")
	}
	s.meter.Signature(cred.Key, format, "ok")
	return signed, nil
}

// planDocuments checks the documents against the placement options (DSS-X §5.1) and decides
// each one's packaging.
func planDocuments(docs []Document, opts *SignOptions) ([]plan, error) {
	byID := map[string]int{}
	for i := range docs {
		if id := docs[i].ID; id != "" {
			if _, dup := byID[id]; dup {
				return nil, Errorf(KindMalformed, "two documents have the ID %q", id)
			}
			byID[id] = i
		}
	}
	plans := make([]plan, len(docs))
	for i := range docs {
		d := &docs[i]
		if st := d.Streamed; st != nil && (d.Data != nil || len(st.SHA256) != sha256.Size) {
			return nil, Errorf(KindInternal, "document %q: streamed data without a SHA-256 digest", d.ID)
		}
		plans[i] = plan{doc: d, packaging: xades.Detached}
		plans[i].xml, plans[i].mimeType = isXML(d)
	}
	lookup := func(which string) (*plan, error) {
		i, ok := byID[which]
		if !ok || which == "" {
			return nil, Errorf(KindDocumentNotFound, "WhichData %q names no input document", which)
		}
		return &plans[i], nil
	}
	if pl := opts.Placement; pl != nil {
		p, err := lookup(pl.WhichData)
		if err != nil {
			return nil, err
		}
		if !pl.CreateEnveloped {
			return nil, Errorf(KindNotSupported, "SignaturePlacement with CreateEnvelopedSignature=false is not supported")
		}
		if !p.xml {
			return nil, Errorf(KindInappropriate, "an enveloped signature needs an XML document; %q is %s", pl.WhichData, p.mimeType)
		}
		if p.doc.HasRefURI && p.doc.RefURI != "" {
			return nil, Errorf(KindInvalidRefURI, "an enveloped signature signs the whole document: RefURI must be empty, not %q", p.doc.RefURI)
		}
		if pl.XPath == "" {
			return nil, Errorf(KindMalformed, "SignaturePlacement needs XPathFirstChildOf or XPathAfter")
		}
		p.packaging, p.placement = xades.Enveloped, pl
	}
	for _, inc := range opts.IncludeObjects {
		p, err := lookup(inc.WhichData)
		if err != nil {
			return nil, err
		}
		if p.packaging != xades.Detached {
			return nil, Errorf(KindMalformed, "document %q is named by more than one placement option", inc.WhichData)
		}
		if inc.HasObjectTagsAndAttributesSet {
			return nil, Errorf(KindNotSupported, "IncludeObject with HasObjectTagsAndAttributesSet=true is not supported")
		}
		if !inc.CreateReference {
			return nil, Errorf(KindNotSupported, "IncludeObject with createReference=false is not supported")
		}
		p.packaging, p.objID = xades.Enveloping, inc.ObjID
		if p.objID == "" {
			p.objID = "obj-" + p.doc.ID
		}
	}
	omitted := 0
	for i := range plans {
		p := &plans[i]
		if p.doc.Streamed != nil && p.packaging != xades.Detached {
			return nil, Errorf(KindInappropriate, "document %q was streamed as an attachment; only a detached signature can be made over it (enveloped and enveloping placements need the document inline, up to the document size limit)", p.doc.ID)
		}
		if p.packaging == xades.Detached && !p.doc.HasRefURI {
			omitted++
		}
		if p.packaging == xades.Detached && p.doc.HasRefURI && p.doc.RefURI == "" {
			return nil, Errorf(KindInvalidRefURI, "a detached signature cannot reference the empty URI; use SignaturePlacement for an enveloped signature")
		}
	}
	if omitted > 1 {
		return nil, Errorf(KindRefURIOmitted, "%d documents omit RefURI; at most one may", omitted)
	}
	return plans, nil
}

// isXML decides whether a document is XML: by its MimeType when given, else by its first byte.
func isXML(d *Document) (bool, string) {
	if d.MimeType != "" {
		mt, _, err := mime.ParseMediaType(d.MimeType)
		if err != nil {
			return false, d.MimeType
		}
		return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"), d.MimeType
	}
	data := d.Data
	if d.Streamed != nil {
		data = d.Streamed.Head
	}
	b := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) > 0 && b[0] == '<' {
		return true, "application/xml"
	}
	return false, "application/octet-stream"
}

// documentSHA256 is the SHA-256 of a document's bytes: computed here, or by the binding for
// a streamed document.
func documentSHA256(d *Document) []byte {
	if d.Streamed != nil {
		return d.Streamed.SHA256
	}
	h := sha256.Sum256(d.Data)
	return h[:]
}

// reencode returns out, the UTF-8 form of a document built from the document in, in the
// encoding of in (xmlsafe.Decode, Charset.Encode).
func reencode(in, out []byte) ([]byte, error) {
	cs, err := xmlsafe.DetectCharset(in)
	if err != nil {
		return nil, signError(err)
	}
	b, err := cs.Encode(out)
	if err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	return b, nil
}

// signError classifies a failure of the XML signature builder. The builder's messages are
// client-safe (they name the problem in the request, never a key or a path).
func signError(err error) error {
	var xe *xmlsafe.Error
	switch {
	case errors.As(err, &xe) && xmlsafe.IsLimit(err):
		return Wrap(KindLimit, err, "document: "+xe.Error())
	case errors.As(err, &xe):
		return Wrap(KindMalformed, err, "document is not acceptable XML: "+xe.Error())
	case errors.Is(err, xades.ErrMalformed):
		return Wrap(KindMalformed, err, err.Error())
	case errors.Is(err, xades.ErrNotSupported):
		return Wrap(KindNotSupported, err, err.Error())
	case errors.Is(err, xades.ErrHashAlgorithm):
		return Wrap(KindHashAlgorithm, err, err.Error())
	case errors.Is(err, xades.ErrInappropriate):
		return Wrap(KindInappropriate, err, err.Error())
	case errors.Is(err, xades.ErrInvalidRefURI):
		return Wrap(KindInvalidRefURI, err, err.Error())
	case errors.Is(err, xades.ErrLimit):
		return Wrap(KindLimit, err, err.Error())
	}
	return hsmError(err)
}

func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	return KindOf(hsmError(err)).String()
}

// levelAvailable refuses, before anything is consumed or signed, a level whose authorities
// are not configured.
func (s *Service) levelAvailable(applied []string) error {
	if len(applied) != 1 {
		return nil
	}
	rank, err := levelRank(applied[0])
	if err != nil {
		return err
	}
	if rank >= 1 && s.tsa == nil {
		return Errorf(KindNotSupported, "level %s needs a timestamp authority; none is configured", applied[0])
	}
	if rank >= 2 && s.rev == nil {
		return Errorf(KindNotSupported, "level %s needs revocation sources; none is configured", applied[0])
	}
	return nil
}

// checkSignerStatus refuses a credential whose certificate chain is revoked, when a
// revocation source is configured (answers are cached until their nextUpdate).
func (s *Service) checkSignerStatus(ctx context.Context, cred *Credential) error {
	if s.rev == nil {
		return nil
	}
	if _, _, err := s.rev.Validation(ctx, cred.Chain, nil); err != nil {
		return signerRevocationError(cred, err)
	}
	return nil
}

// Levels returns the XAdES levels the service can produce with its configured authorities.
func (s *Service) Levels() []string {
	levels := []string{LevelBB}
	if s.tsa != nil {
		levels = append(levels, LevelBT)
		if s.rev != nil {
			levels = append(levels, LevelBLT, LevelBLTA)
		}
	}
	return levels
}
