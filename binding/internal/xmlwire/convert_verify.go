package xmlwire

// VerifyRequest and VerifyResponse (DSS-X 2.0 §4.3.3, §4.3.4).

import (
	"strconv"
	"strings"
	"time"

	"dssd/dss"
)

// VerifyRequestFromWire converts a dss2:VerifyRequest. Errors are *dss.Error of
// KindMalformed (invalid base64, a bad xs:boolean or xs:dateTime, a Base64Signature without
// value). Everything present that dss does not implement is listed in Unsupported.
func VerifyRequestFromWire(w *VerifyRequest) (*dss.VerifyRequest, error) {
	if err := checkNamespaces("VerifyRequest", w); err != nil {
		return nil, err
	}
	r := &dss.VerifyRequest{RequestID: w.RequestID, Profiles: trimAll(w.Profile)}
	var u unsupported
	docs, err := documentsFromWire(w.InputDocuments, &u, func(hs []DocumentHash) error {
		if len(hs) > 0 {
			u.add("DocumentHash")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Documents = docs
	if o := w.OptionalInputs; o != nil {
		if err := verifyOptionsFromWire(o, &r.Options, &u); err != nil {
			return nil, err
		}
	}
	switch len(w.SignatureObject) {
	case 0:
	case 1:
		so, err := signatureObjectFromWire(&w.SignatureObject[0], &u)
		if err != nil {
			return nil, err
		}
		r.Signature = so
	default:
		u.add("SignatureObject (more than one)")
	}
	u.anys("", w.Unknown)
	r.Unsupported = u.names
	var o owner // the strings of r are r's own, not the body's (own.go)
	for o.more() {
		verifyStrings(r, &o)
	}
	return r, nil
}

func signatureObjectFromWire(w *SignatureObject, u *unsupported) (*dss.SignatureObject, error) {
	so := &dss.SignatureObject{WhichDoc: w.WhichDoc}
	if w.SchemaRefs != "" {
		u.add("SignatureObject/@SchemaRefs")
	}
	switch {
	case w.Base64Signature != nil && w.SignaturePtr != nil:
		return nil, malformed("SignatureObject holds both Base64Signature and SignaturePtr")
	case w.Base64Signature != nil:
		b := w.Base64Signature
		so.MimeType = b.MimeType
		v, err := base64DataFromWire(b, "SignatureObject/Base64Signature", u)
		if err != nil {
			return nil, err
		}
		so.Value = v
	case w.SignaturePtr != nil:
		p := w.SignaturePtr
		if strings.TrimSpace(p.WhichData) == "" {
			return nil, malformed("SignaturePtr needs WhichData")
		}
		so.Ptr = &dss.SignaturePtr{WhichData: strings.TrimSpace(p.WhichData), XPath: strings.TrimSpace(p.XPath)}
		if p.XPathQualifier != "" {
			u.add("SignaturePtr/@XPathQualifier")
		}
	default:
		return nil, malformed("SignatureObject holds neither Base64Signature nor SignaturePtr")
	}
	u.anys("SignatureObject/", w.Unknown)
	return so, nil
}

// xsDateTime parses an xs:dateTime; a value without a time zone is taken as UTC.
func xsDateTime(s, what string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, malformed("%s is not an xs:dateTime", what)
}

func verifyOptionsFromWire(o *OptionalInputsVerify, opt *dss.VerifyOptions, u *unsupported) error {
	opt.Language = baseOptionsFromWire(&o.OptionalInputsBase, u)
	if ci := o.ClaimedIdentity; ci != nil {
		c := &dss.ClaimedIdentity{Name: strings.TrimSpace(ci.Name.Value)}
		if si := ci.SupportingInfo; si != nil {
			c.SupportingInfoMimeType = si.MimeType
			v, err := base64DataFromWire(si, "ClaimedIdentity/SupportingInfo", u)
			if err != nil {
				return err
			}
			c.SupportingInfo = v
		}
		u.anys("ClaimedIdentity/", ci.Unknown)
		opt.ClaimedIdentity = c
	}
	if o.Schemas != nil {
		u.add("Schemas")
	}
	if len(o.AddTimestamp) > 0 {
		u.add("AddTimestamp")
	}
	if err := u.flag(o.EnforceAsynchronousProcessing, "EnforceAsynchronousProcessing"); err != nil {
		return err
	}
	if o.Nonce != nil {
		u.add("Nonce")
	}
	if vt := o.UseVerificationTime; vt != nil {
		switch {
		case vt.SpecificTime != nil:
			t, err := xsDateTime(*vt.SpecificTime, "UseVerificationTime/SpecificTime")
			if err != nil {
				return err
			}
			opt.VerificationTime = t
		case vt.CurrentTime != nil:
			if _, err := xsBool(vt.CurrentTime, false, "UseVerificationTime/CurrentTime"); err != nil {
				return err
			}
		case vt.Base64Content != nil:
			u.add("UseVerificationTime/Base64Content")
		}
		u.anys("UseVerificationTime/", vt.Unknown)
	}
	bools := []struct {
		v    *string
		dst  *bool
		name string
	}{
		{o.ReturnVerificationTimeInfo, &opt.ReturnVerificationTimeInfo, "ReturnVerificationTimeInfo"},
		{o.ReturnProcessingDetails, &opt.ReturnProcessingDetails, "ReturnProcessingDetails"},
		{o.ReturnSigningTimeInfo, &opt.ReturnSigningTimeInfo, "ReturnSigningTimeInfo"},
		{o.ReturnSignerIdentity, &opt.ReturnSignerIdentity, "ReturnSignerIdentity"},
	}
	for _, b := range bools {
		v, err := xsBool(b.v, false, b.name)
		if err != nil {
			return err
		}
		*b.dst = v
	}
	for i := range o.AdditionalKeyInfo {
		if err := additionalKeyInfoFromWire(&o.AdditionalKeyInfo[i], opt, u); err != nil {
			return err
		}
	}
	for _, rt := range o.ReturnTransformedDocument {
		n, err := strconv.Atoi(strings.TrimSpace(rt.WhichReference))
		if err != nil || n < 1 {
			return malformed("ReturnTransformedDocument/@WhichReference %q is not a positive integer", rt.WhichReference)
		}
		opt.ReturnTransformedDocuments = append(opt.ReturnTransformedDocuments, n)
	}
	if o.ReturnAugmentedSignature != nil {
		opt.ReturnAugmentedSignature = strings.TrimSpace(*o.ReturnAugmentedSignature)
		if opt.ReturnAugmentedSignature == "" {
			return malformed("ReturnAugmentedSignature needs a level URI")
		}
	}
	if len(o.ReturnTimestampedSignature) > 0 {
		u.add("ReturnTimestampedSignature")
	}
	if err := u.flag(o.VerifyManifests, "VerifyManifests"); err != nil {
		return err
	}
	for _, ks := range o.KeySelector {
		if ks.KeyName != nil && opt.CredentialID == "" && strings.TrimSpace(*ks.KeyName) != "" {
			opt.CredentialID = strings.TrimSpace(*ks.KeyName)
		} else {
			u.add("KeySelector")
		}
		for _, c := range []struct {
			present bool
			name    string
		}{
			{ks.X509Digest != nil, "KeySelector/X509Digest"}, {ks.X509SubjectName != nil, "KeySelector/X509SubjectName"},
			{ks.X509SKI != nil, "KeySelector/X509SKI"}, {ks.X509Certificate != nil, "KeySelector/X509Certificate"},
		} {
			if c.present {
				u.add(c.name)
			}
		}
		u.anys("KeySelector/", ks.Unknown)
	}
	u.anys("OptionalInputs/", o.Unknown)
	return nil
}

func additionalKeyInfoFromWire(a *AdditionalKeyInfo, opt *dss.VerifyOptions, u *unsupported) error {
	add := func(b *Base64Data, what string, list *[][]byte) error {
		v, err := base64DataFromWire(b, what, u)
		if err != nil {
			return err
		}
		if v != nil {
			*list = append(*list, v)
		}
		return nil
	}
	switch {
	case a.X509Certificate != nil:
		if err := add(a.X509Certificate, "AdditionalKeyInfo/X509Certificate", &opt.Certificates); err != nil {
			return err
		}
	case a.X509CRL != nil:
		if err := add(a.X509CRL, "AdditionalKeyInfo/X509CRL", &opt.CRLs); err != nil {
			return err
		}
	case a.OCSPResponse != nil:
		if err := add(a.OCSPResponse, "AdditionalKeyInfo/OCSPResponse", &opt.OCSP); err != nil {
			return err
		}
	case a.KeyName != nil:
		name := strings.TrimSpace(*a.KeyName)
		if name == "" || opt.CredentialID != "" {
			u.add("AdditionalKeyInfo/KeyName")
		} else {
			opt.CredentialID = name
		}
	case a.X509Digest != nil:
		u.add("AdditionalKeyInfo/X509Digest")
	case a.X509SubjectName != nil:
		u.add("AdditionalKeyInfo/X509SubjectName")
	case a.X509SKI != nil:
		u.add("AdditionalKeyInfo/X509SKI")
	case a.PoE != nil:
		u.add("AdditionalKeyInfo/PoE")
	case len(a.Unknown) == 0:
		return malformed("AdditionalKeyInfo is empty")
	}
	u.anys("AdditionalKeyInfo/", a.Unknown)
	return nil
}

// xsTime writes an xs:dateTime in UTC with whole seconds.
func xsTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z") }

// VerifyResponseToWire converts an answer of dss.Service.Verify.
func VerifyResponseToWire(r *dss.VerifyResponse) *VerifyResponse {
	w := &VerifyResponse{ResponseBase: responseBase(r.RequestID, r.ResponseID, r.Result, r.AppliedProfiles)}
	o := &OptionalOutputsVerify{}
	for _, x := range r.Other {
		o.Other = append(o.Other, Base64Data{MimeType: x.MimeType, Value: NewBase64(x.Data)})
	}
	// dss2:TransformedDocument has no place in OptionalOutputsVerifyType (protocol.md §15 #4):
	// each goes in a dsb:Other named by its ID (docs/conformance.md).
	for _, t := range r.Transformed {
		o.Other = append(o.Other, Base64Data{MimeType: dss.TransformedMimeType, ID: dss.TransformedDocumentID(t.WhichReference), Value: NewBase64(t.Data)})
	}
	if st := r.SigningTime; st != nil {
		o.SigningTimeInfo = &SigningTimeInfo{SigningTime: xsTime(st.Time)}
		if st.Lower != nil || st.Upper != nil {
			b := &SigningTimeBoundaries{}
			if st.Lower != nil {
				b.LowerBoundary = xsTime(*st.Lower)
			}
			if st.Upper != nil {
				b.UpperBoundary = xsTime(*st.Upper)
			}
			o.SigningTimeInfo.SigningTimeBoundaries = b
		}
	}
	if vt := r.VerificationTime; vt != nil {
		o.VerificationTimeInfo = &VerificationTimeInfo{VerificationTime: xsTime(vt.Time)}
		for _, a := range vt.Additional {
			o.VerificationTimeInfo.AdditionalTimeInfo = append(o.VerificationTimeInfo.AdditionalTimeInfo,
				AdditionalTimeInfo{Type: a.Type, Ref: a.Ref, Value: xsTime(a.Time)})
		}
	}
	if pd := r.ProcessingDetails; pd != nil {
		conv := func(in []dss.Detail) []Detail {
			var out []Detail
			for _, d := range in {
				wd := Detail{Type: d.Type, Code: d.Code}
				if d.Message != "" {
					wd.Message = &InternationalString{Lang: "en", Value: d.Message}
				}
				out = append(out, wd)
			}
			return out
		}
		o.ProcessingDetails = &ProcessingDetails{ValidDetail: conv(pd.Valid), IndeterminateDetail: conv(pd.Indeterminate), InvalidDetail: conv(pd.Invalid)}
	}
	if id := r.SignerIdentity; id != nil {
		o.SignerIdentity = &NameID{Value: id.Value, Format: id.Format}
	}
	for _, a := range r.Augmented {
		wa := AugmentedSignature{Type: a.Type}
		if s := a.Signature; s != nil {
			wa.SignatureObject = append(wa.SignatureObject, signatureObjectToWire(s))
		}
		if d := a.Document; d != nil {
			wa.DocumentWithSignature = append(wa.DocumentWithSignature, documentWithSignatureToWire(d))
		}
		o.AugmentedSignature = append(o.AugmentedSignature, wa)
	}
	if o.Other != nil || o.SigningTimeInfo != nil || o.VerificationTimeInfo != nil || o.ProcessingDetails != nil ||
		o.SignerIdentity != nil || o.AugmentedSignature != nil {
		w.OptionalOutputs = o
	}
	return w
}

// ErrorVerifyResponse is the VerifyResponse carrying only a Result.
func ErrorVerifyResponse(requestID string, r dss.Result) *VerifyResponse {
	return &VerifyResponse{ResponseBase: responseBase(requestID, "", r, nil)}
}
