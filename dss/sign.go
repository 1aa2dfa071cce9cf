package dss

import (
	"bytes"
	"context"
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
}

// Sign signs every input document with the selected credential, in request order, one
// signature per document. It returns either a complete response or an error: never a
// partial result, and never a signature that failed its own verification.
func (s *Service) Sign(ctx context.Context, c Caller, req *SignRequest) (*SignResponse, error) {
	opts := &req.Options
	if len(opts.Unsupported) > 0 {
		return nil, Errorf(KindNotSupported, "optional input %s is not supported", opts.Unsupported[0])
	}
	if len(req.Hashes) > 0 {
		return nil, Errorf(KindNotSupported, "DocumentHash input (hash signing) is not supported yet")
	}
	if len(req.Documents) == 0 {
		return nil, Errorf(KindMalformed, "InputDocuments holds no Document")
	}
	if len(req.Documents) > s.maxDoc {
		return nil, Errorf(KindLimit, "%d documents in one request; the limit is %d", len(req.Documents), s.maxDoc)
	}
	if opts.ClaimedIdentity != nil && opts.ClaimedIdentity.Name != "" && opts.ClaimedIdentity.Name != c.User {
		return nil, Errorf(KindNotAuthenticated, "ClaimedIdentity/Name is not the authenticated user")
	}

	sigType := opts.SignatureType
	if sigType == "" {
		sigType = TypeXAdES
	}
	if sigType != TypeXAdES && sigType != TypeXMLDSig {
		return nil, Errorf(KindNotSupported, "SignatureType %q is not supported", sigType)
	}
	level, err := levelOf(req.Profiles, opts.AddTimestamp)
	if err != nil {
		return nil, err
	}
	var applied []string
	if sigType == TypeXAdES {
		if level != LevelBB {
			return nil, Errorf(KindNotSupported, "level %s is not supported yet; B-B is", level)
		}
		applied = []string{level}
	} else if len(req.Profiles) > 0 || len(opts.AddTimestamp) > 0 {
		return nil, Errorf(KindNotSupported, "levels and timestamps apply to XAdES signatures, not to plain XMLDSig")
	}

	cred, err := s.credential(c, opts.CredentialID)
	if err != nil {
		return nil, err
	}
	if cred.SCAL >= 2 {
		return nil, Errorf(KindSADInvalid, "credential %s needs signature activation data (SCAL2)", cred.ID)
	}
	alg, err := signatureAlgorithm(opts.SignatureAlgorithm, cred.Key)
	if err != nil {
		return nil, err
	}
	plans, err := planDocuments(req.Documents, opts)
	if err != nil {
		return nil, err
	}

	signer, err := s.signer(ctx, cred, cred.Ref)
	if err != nil {
		return nil, err
	}
	format := "xades"
	if sigType == TypeXMLDSig {
		format = "xmldsig"
	}
	resp := &SignResponse{RequestID: req.RequestID, Result: Result{Major: MajorSuccess}, AppliedProfiles: applied}
	now := s.clock().UTC().Truncate(time.Second)
	for i := range plans {
		p := &plans[i]
		if err := ctx.Err(); err != nil {
			return nil, Wrap(KindHSMUnavailable, err, "request deadline exceeded")
		}
		id, err := s.newID("sig-")
		if err != nil {
			return nil, err
		}
		obj := xades.Object{
			ID: p.doc.ID, Data: p.doc.Data, XML: p.xml, MimeType: p.mimeType,
			URI: p.doc.RefURI, RefType: p.doc.RefType, ObjID: p.objID,
		}
		if p.placement != nil {
			obj.XPath, obj.After, obj.Namespaces = p.placement.XPath, p.placement.After, p.placement.Namespaces
		}
		params := xades.Params{
			Type: sigType, Packaging: p.packaging, SignatureMethod: alg,
			Signer: signer, Chain: cred.Chain, SigningTime: now, SignatureID: id,
		}
		start := time.Now()
		signed, err := xades.Sign(obj, params)
		s.meter.HSM(cred.Key, time.Since(start), errClass(err))
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
		switch p.packaging {
		case xades.Enveloped:
			outID := "signed-" + p.doc.ID
			resp.DocumentsWithSignature = append(resp.DocumentsWithSignature, DocumentWithSignature{
				WhichDoc: p.doc.ID, ID: outID, MimeType: p.mimeType, Data: signed.Document,
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
	b := bytes.TrimLeft(bytes.TrimPrefix(d.Data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) > 0 && b[0] == '<' {
		return true, "application/xml"
	}
	return false, "application/octet-stream"
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
	}
	return hsmError(err)
}

func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	return KindOf(hsmError(err)).String()
}
