package xmlwire

// SignRequest and SignResponse (DSS-X 2.0 §4.3.1, §4.3.2).

import (
	"strings"

	"dssd/dss"
)

// SignRequestFromWire converts a dss2:SignRequest. Errors are *dss.Error of KindMalformed
// (invalid base64, a missing required part, a bad xs:boolean). Everything present that dss
// does not implement is listed in Options.Unsupported.
func SignRequestFromWire(w *SignRequest) (*dss.SignRequest, error) {
	if err := checkNamespaces("SignRequest", w); err != nil {
		return nil, err
	}
	r := &dss.SignRequest{RequestID: w.RequestID, Profiles: trimAll(w.Profile)}
	var u unsupported
	docs, err := documentsFromWire(w.InputDocuments, &u, func(hs []DocumentHash) error {
		for i := range hs {
			h, err := hashFromWire(&hs[i], &u)
			if err != nil {
				return err
			}
			r.Hashes = append(r.Hashes, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Documents = docs
	if o := w.OptionalInputs; o != nil {
		if err := optionsFromWire(o, &r.Options, &u); err != nil {
			return nil, err
		}
	}
	u.anys("", w.Unknown)
	r.Options.Unsupported = u.names
	var o owner // the strings of r are r's own, not the body's (own.go)
	for o.more() {
		signStrings(r, &o)
	}
	return r, nil
}

func hashFromWire(w *DocumentHash, u *unsupported) (dss.DocumentHash, error) {
	h := dss.DocumentHash{ID: w.ID, RefType: strings.TrimSpace(w.RefType)}
	if w.RefURI != nil {
		h.RefURI, h.HasRefURI = strings.TrimSpace(*w.RefURI), true
	}
	if w.SchemaRefs != "" {
		u.add("DocumentHash/@SchemaRefs")
	}
	// WhichReference is ignored on a SignRequest (DSS-X 2.0 §4.5.5).
	if w.Transforms != nil {
		h.Transforms = transformsFromWire(w.Transforms, "DocumentHash/Transforms/", u)
	}
	if len(w.DigestInfos) == 0 {
		return h, malformed("DocumentHash %q has no DigestInfos", w.ID)
	}
	for _, di := range w.DigestInfos {
		if di.DigestValue == nil {
			return h, malformed("DocumentHash %q: DigestInfos without dsb:DigestValue", w.ID)
		}
		if !di.DigestValue.Valid() {
			return h, malformed("DocumentHash %q: dsb:DigestValue is not valid base64", w.ID)
		}
		h.Digests = append(h.Digests, dss.Digest{Method: strings.TrimSpace(di.DigestMethod), Value: di.DigestValue.Bytes})
		u.anys("DocumentHash/DigestInfos/", di.Unknown)
	}
	u.anys("DocumentHash/", w.Unknown)
	return h, nil
}

func optionsFromWire(o *OptionalInputsSign, opt *dss.SignOptions, u *unsupported) error {
	opt.Language = baseOptionsFromWire(&o.OptionalInputsBase, u)
	if ci := o.ClaimedIdentity; ci != nil {
		c := &dss.ClaimedIdentity{Name: strings.TrimSpace(ci.Name.Value)}
		if si := ci.SupportingInfo; si != nil {
			c.SupportingInfoMimeType = si.MimeType
			switch {
			case si.Value != nil:
				if !si.Value.Valid() {
					return malformed("ClaimedIdentity/SupportingInfo: dsb:Value is not valid base64")
				}
				c.SupportingInfo = si.Value.Bytes
			case si.AttRef != nil:
				u.add("ClaimedIdentity/SupportingInfo/AttRef")
			}
			if si.IDREF != "" {
				u.add("ClaimedIdentity/SupportingInfo/@IDREF")
			}
			if si.Transforms != nil {
				u.add("ClaimedIdentity/SupportingInfo/Transforms")
			}
			u.anys("ClaimedIdentity/SupportingInfo/", si.Unknown)
		}
		u.anys("ClaimedIdentity/", ci.Unknown)
		opt.ClaimedIdentity = c
	}
	if o.Schemas != nil {
		u.add("Schemas")
	}
	opt.AddTimestamp = trimAll(o.AddTimestamp)
	async, err := xsBool(o.EnforceAsynchronousProcessing, false, "EnforceAsynchronousProcessing")
	if err != nil {
		return err
	}
	opt.Async = async
	if o.Nonce != nil {
		u.add("Nonce")
	}
	opt.SignatureType = trim(o.SignatureType)
	if o.IntendedAudience != nil {
		u.add("IntendedAudience")
	}
	for _, ks := range o.KeySelector {
		if err := keySelectorFromWire(&ks, opt, u); err != nil {
			return err
		}
	}
	if o.Properties != nil {
		u.add("Properties")
	}
	for _, io := range o.IncludeObject {
		has, err := xsBool(io.HasObjectTagsAndAttributesSet, false, "IncludeObject/@HasObjectTagsAndAttributesSet")
		if err != nil {
			return err
		}
		ref, err := xsBool(io.CreateReference, true, "IncludeObject/@createReference")
		if err != nil {
			return err
		}
		opt.IncludeObjects = append(opt.IncludeObjects, dss.IncludeObject{
			WhichData: strings.TrimSpace(io.WhichData), ObjID: io.ObjID,
			HasObjectTagsAndAttributesSet: has, CreateReference: ref,
		})
		u.anys("IncludeObject/", io.Unknown)
	}
	if err := u.flag(o.IncludeEContent, "IncludeEContent"); err != nil {
		return err
	}
	if sp := o.SignaturePlacement; sp != nil {
		p, err := placementFromWire(sp, u)
		if err != nil {
			return err
		}
		opt.Placement = p
	}
	if o.SignedReferences != nil {
		u.add("SignedReferences")
	}
	opt.SignatureAlgorithm = trim(o.SignatureAlgorithm)
	if o.SignatureQualityLevel != nil {
		u.add("SignatureQualityLevel")
	}
	u.anys("OptionalInputs/", o.Unknown)
	return nil
}

func keySelectorFromWire(ks *KeySelector, opt *dss.SignOptions, u *unsupported) error {
	n := 0
	if ks.KeyName != nil {
		n++
		name := strings.TrimSpace(*ks.KeyName)
		if opt.CredentialID == "" && name != "" {
			opt.CredentialID = name
		} else {
			// A second KeyName (or an empty one) cannot be honoured.
			u.add("KeySelector/KeyName")
		}
	}
	for _, c := range []struct {
		present bool
		name    string
	}{
		{ks.X509Digest != nil, "KeySelector/X509Digest"},
		{ks.X509SubjectName != nil, "KeySelector/X509SubjectName"},
		{ks.X509SKI != nil, "KeySelector/X509SKI"},
		{ks.X509Certificate != nil, "KeySelector/X509Certificate"},
	} {
		if c.present {
			n++
			u.add(c.name)
		}
	}
	u.anys("KeySelector/", ks.Unknown)
	if n == 0 && len(ks.Unknown) == 0 {
		return malformed("KeySelector is empty")
	}
	return nil
}

func placementFromWire(sp *SignaturePlacement, u *unsupported) (*dss.Placement, error) {
	env, err := xsBool(sp.CreateEnvelopedSignature, true, "SignaturePlacement/@CreateEnvelopedSignature")
	if err != nil {
		return nil, err
	}
	p := &dss.Placement{WhichData: strings.TrimSpace(sp.WhichData), CreateEnveloped: env}
	switch {
	case sp.XPathAfter != nil && sp.XPathFirstChildOf != nil:
		return nil, malformed("SignaturePlacement has both XPathAfter and XPathFirstChildOf")
	case sp.XPathAfter != nil:
		p.XPath, p.After = strings.TrimSpace(*sp.XPathAfter), true
	case sp.XPathFirstChildOf != nil:
		p.XPath = strings.TrimSpace(*sp.XPathFirstChildOf)
	default:
		return nil, malformed("SignaturePlacement needs XPathAfter or XPathFirstChildOf")
	}
	for _, m := range sp.NsPrefixMapping {
		if p.Namespaces == nil {
			p.Namespaces = map[string]string{}
		}
		prefix, uri := strings.TrimSpace(m.NamespacePrefix), strings.TrimSpace(m.NamespaceURI)
		if old, ok := p.Namespaces[prefix]; ok && old != uri {
			return nil, malformed("SignaturePlacement maps the prefix %q twice", prefix)
		}
		p.Namespaces[prefix] = uri
		u.anys("SignaturePlacement/NsPrefixMapping/", m.Unknown)
	}
	u.anys("SignaturePlacement/", sp.Unknown)
	return p, nil
}

// SignResponseToWire converts an answer of dss.Service.Sign.
func SignResponseToWire(r *dss.SignResponse) *SignResponse {
	w := &SignResponse{ResponseBase: responseBase(r.RequestID, r.ResponseID, r.Result, r.AppliedProfiles)}
	if len(r.DocumentsWithSignature) > 0 {
		w.OptionalOutputs = &OptionalOutputsSign{}
		for _, d := range r.DocumentsWithSignature {
			w.OptionalOutputs.DocumentWithSignature = append(w.OptionalOutputs.DocumentWithSignature, documentWithSignatureToWire(&d))
		}
	}
	for _, s := range r.Signatures {
		w.SignatureObject = append(w.SignatureObject, signatureObjectToWire(&s))
	}
	return w
}

// ErrorSignResponse is the SignResponse carrying only a Result (an error or a refusal).
func ErrorSignResponse(requestID string, r dss.Result) *SignResponse {
	return &SignResponse{ResponseBase: responseBase(requestID, "", r, nil)}
}
