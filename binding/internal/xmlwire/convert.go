package xmlwire

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"dssd/dss"
)

// unsupported collects element names in first-seen order, without duplicates.
type unsupported struct {
	names []string
	seen  map[string]bool
}

func (u *unsupported) add(name string) {
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	if !u.seen[name] {
		u.seen[name] = true
		u.names = append(u.names, name)
	}
}

// anys records elements the schema-typed fields did not take: unknown elements, and schema
// elements in a namespace where they do not belong. They are named with a prefix
// (dss2:, dsb:) or as {namespace}local, so that "dss2:Language" is not mistaken for the
// supported dsb:Language.
func (u *unsupported) anys(parent string, list []Any) {
	for _, a := range list {
		u.add(parent + qualified(a.XMLName))
	}
}

func qualified(n xml.Name) string {
	switch n.Space {
	case NSCore:
		return "dss2:" + n.Local
	case NSBase:
		return "dsb:" + n.Local
	case NSDsRW:
		return "ds-rw:" + n.Local
	case NSNsList:
		return "nsl:" + n.Local
	case "":
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// local names a schema element of a known DSS namespace by its local name (verify inputs).
func local(n xml.Name) string {
	switch n.Space {
	case NSCore, NSBase:
		return n.Local
	}
	return qualified(n)
}

func malformed(format string, args ...any) error {
	return dss.Errorf(dss.KindMalformed, format, args...)
}

// xsBool parses an xs:boolean; absent or empty text takes the schema default.
func xsBool(v *string, def bool, what string) (bool, error) {
	if v == nil {
		return def, nil
	}
	switch strings.TrimSpace(*v) {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, malformed("%s is not an xs:boolean", what)
}

func trim(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

func trimAll(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

// ---------------------------------------------------------------- sign

// SignRequestFromWire converts a dss2:SignRequest. Errors are *dss.Error of KindMalformed
// (invalid base64, a missing required part, a bad xs:boolean). Everything present that dss
// does not implement is listed in Options.Unsupported.
func SignRequestFromWire(w *SignRequest) (*dss.SignRequest, error) {
	if err := checkNamespaces("SignRequest", w); err != nil {
		return nil, err
	}
	r := &dss.SignRequest{RequestID: w.RequestID, Profiles: trimAll(w.Profile)}
	var u unsupported
	if in := w.InputDocuments; in != nil {
		docs, err := documentsFromWire(in, &u)
		if err != nil {
			return nil, err
		}
		r.Documents = docs
		for i := range in.DocumentHash {
			h, err := hashFromWire(&in.DocumentHash[i], &u)
			if err != nil {
				return nil, err
			}
			r.Hashes = append(r.Hashes, h)
		}
		u.anys("InputDocuments/", in.Unknown)
	}
	if o := w.OptionalInputs; o != nil {
		if err := optionsFromWire(o, &r.Options, &u); err != nil {
			return nil, err
		}
	}
	u.anys("", w.Unknown)
	r.Options.Unsupported = u.names
	return r, nil
}

// documentsFromWire converts the Documents of InputDocuments, in order; TransformedData is
// listed as unsupported.
func documentsFromWire(in *InputDocuments, u *unsupported) ([]dss.Document, error) {
	var out []dss.Document
	for i := range in.Document {
		d, err := documentFromWire(&in.Document[i], u)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(in.TransformedData) > 0 {
		u.add("TransformedData")
	}
	return out, nil
}

func documentFromWire(w *Document, u *unsupported) (dss.Document, error) {
	d := dss.Document{ID: w.ID, RefType: strings.TrimSpace(w.RefType), MimeType: w.Base64Data.MimeType}
	if w.RefURI != nil {
		d.RefURI, d.HasRefURI = strings.TrimSpace(*w.RefURI), true
	}
	if w.SchemaRefs != "" {
		u.add("Document/@SchemaRefs")
	}
	b := &w.Base64Data
	switch {
	case b.Value != nil:
		if !b.Value.Valid() {
			return d, malformed("Document %q: dsb:Value %s", w.ID, b.Value.problem())
		}
		if d.Streamed = b.Value.Streamed; d.Streamed != nil {
			break
		}
		d.Data = b.Value.Bytes
		if d.Data == nil {
			d.Data = []byte{}
		}
	case b.AttRef != nil:
		u.add("AttRef")
	case b.IDREF != "":
		u.add("Base64Data/@IDREF")
	default:
		return d, malformed("Document %q: Base64Data has no dsb:Value", w.ID)
	}
	if b.Value != nil && b.AttRef != nil {
		return d, malformed("Document %q: Base64Data has both dsb:Value and dsb:AttRef", w.ID)
	}
	if b.Transforms != nil {
		u.add("Document/Base64Data/Transforms")
	}
	u.anys("Document/Base64Data/", b.Unknown)
	u.anys("Document/", w.Unknown)
	return d, nil
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

// transformsFromWire keeps the algorithm URIs; transform parameters are not modelled.
func transformsFromWire(w *Transforms, path string, u *unsupported) []string {
	var algs []string
	for _, t := range w.Transform {
		algs = append(algs, strings.TrimSpace(t.Algorithm))
		if t.Value != nil {
			u.add(path + "Transform/value")
		}
		if t.Base64Content != nil {
			u.add(path + "Transform/Base64Content")
		}
		if len(t.XPath) > 0 {
			u.add(path + "Transform/XPath")
		}
		if len(t.NsPrefixMapping) > 0 {
			u.add(path + "Transform/NsPrefixMapping")
		}
		u.anys(path+"Transform/", t.Unknown)
	}
	u.anys(path, w.Unknown)
	if algs == nil {
		algs = []string{}
	}
	return algs
}

func optionsFromWire(o *OptionalInputsSign, opt *dss.SignOptions, u *unsupported) error {
	if len(o.ServicePolicy) > 0 {
		u.add("ServicePolicy")
	}
	opt.Language = trim(o.Language)
	if len(o.Other) > 0 {
		u.add("Other")
	}
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
	econtent, err := xsBool(o.IncludeEContent, false, "IncludeEContent")
	if err != nil {
		return err
	}
	if econtent {
		u.add("IncludeEContent")
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

// resultToWire converts a dss.Result; an empty Major is Success.
func resultToWire(r dss.Result) Result {
	w := Result{ResultMajor: r.Major, ResultMinor: r.Minor, ProblemReference: r.ProblemReference}
	if w.ResultMajor == "" {
		w.ResultMajor = dss.MajorSuccess
	}
	if r.Message != "" {
		lang := r.Lang
		if lang == "" {
			lang = "en"
		}
		w.ResultMessage = &InternationalString{Lang: lang, Value: r.Message}
	}
	return w
}

// SignResponseToWire converts an answer of dss.Service.Sign.
func SignResponseToWire(r *dss.SignResponse) *SignResponse {
	w := &SignResponse{
		RequestID: r.RequestID, ResponseID: r.ResponseID,
		Result: resultToWire(r.Result), AppliedProfile: r.AppliedProfiles,
	}
	if len(r.DocumentsWithSignature) > 0 {
		w.OptionalOutputs = &OptionalOutputsSign{}
		for _, d := range r.DocumentsWithSignature {
			w.OptionalOutputs.DocumentWithSignature = append(w.OptionalOutputs.DocumentWithSignature, DocumentWithSignature{
				WhichDoc: d.WhichDoc,
				Document: Document{ID: d.ID, Base64Data: Base64Data{MimeType: d.MimeType, Value: NewBase64(d.Data)}},
			})
		}
	}
	for _, s := range r.Signatures {
		so := SignatureObject{WhichDoc: s.WhichDoc}
		if s.Ptr != nil {
			so.SignaturePtr = &SignaturePtr{WhichData: s.Ptr.WhichData, XPath: s.Ptr.XPath}
		} else {
			so.Base64Signature = &Base64Data{MimeType: s.MimeType, Value: NewBase64(s.Value)}
		}
		w.SignatureObject = append(w.SignatureObject, so)
	}
	return w
}

// ErrorSignResponse is the SignResponse carrying only a Result (an error or a refusal).
func ErrorSignResponse(requestID string, r dss.Result) *SignResponse {
	return &SignResponse{RequestID: requestID, Result: resultToWire(r)}
}

// ---------------------------------------------------------------- verify

// VerifyRequestFromWire converts a dss2:VerifyRequest. Errors are *dss.Error of
// KindMalformed (invalid base64, a bad xs:boolean or xs:dateTime, a Base64Signature without
// value). Everything present that dss does not implement is listed in Unsupported.
func VerifyRequestFromWire(w *VerifyRequest) (*dss.VerifyRequest, error) {
	if err := checkNamespaces("VerifyRequest", w); err != nil {
		return nil, err
	}
	r := &dss.VerifyRequest{RequestID: w.RequestID, Profiles: trimAll(w.Profile)}
	var u unsupported
	if in := w.InputDocuments; in != nil {
		docs, err := documentsFromWire(in, &u)
		if err != nil {
			return nil, err
		}
		r.Documents = docs
		if len(in.DocumentHash) > 0 {
			u.add("DocumentHash")
		}
		u.anys("InputDocuments/", in.Unknown)
	}
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

// base64DataFromWire returns the decoded dsb:Value of a Base64Data that must carry one.
func base64DataFromWire(b *Base64Data, what string, u *unsupported) ([]byte, error) {
	if b.AttRef != nil {
		u.add(what + "/AttRef")
		return nil, nil
	}
	if b.IDREF != "" {
		u.add(what + "/@IDREF")
	}
	if b.Transforms != nil {
		u.add(what + "/Transforms")
	}
	u.anys(what+"/", b.Unknown)
	if b.Value == nil {
		return nil, malformed("%s has no dsb:Value", what)
	}
	if !b.Value.Valid() {
		return nil, malformed("%s: dsb:Value %s", what, b.Value.problem())
	}
	if b.Value.Bytes == nil {
		return []byte{}, nil
	}
	return b.Value.Bytes, nil
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
	if len(o.ServicePolicy) > 0 {
		u.add("ServicePolicy")
	}
	opt.Language = trim(o.Language)
	if len(o.Other) > 0 {
		u.add("Other")
	}
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
	async, err := xsBool(o.EnforceAsynchronousProcessing, false, "EnforceAsynchronousProcessing")
	if err != nil {
		return err
	}
	if async {
		u.add("EnforceAsynchronousProcessing")
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
	manifests, err := xsBool(o.VerifyManifests, false, "VerifyManifests")
	if err != nil {
		return err
	}
	if manifests {
		u.add("VerifyManifests")
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
	w := &VerifyResponse{
		RequestID: r.RequestID, ResponseID: r.ResponseID,
		Result: resultToWire(r.Result), AppliedProfile: r.AppliedProfiles,
	}
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
			wa.SignatureObject = append(wa.SignatureObject, SignatureObject{WhichDoc: s.WhichDoc,
				Base64Signature: &Base64Data{MimeType: s.MimeType, Value: NewBase64(s.Value)}})
		}
		if d := a.Document; d != nil {
			wa.DocumentWithSignature = append(wa.DocumentWithSignature, DocumentWithSignature{WhichDoc: d.WhichDoc,
				Document: Document{ID: d.ID, Base64Data: Base64Data{MimeType: d.MimeType, Value: NewBase64(d.Data)}}})
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
	return &VerifyResponse{RequestID: requestID, Result: resultToWire(r)}
}

// ---------------------------------------------------------------- pending

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
	return &dss.PendingRequest{RequestID: w.RequestID}, nil
}

// PendingResponseToWire converts an answer of dss.Service.Pending: the concrete SignResponse
// of the original operation (protocol.md §5).
func PendingResponseToWire(r *dss.SignResponse) *SignResponse { return SignResponseToWire(r) }

// ErrorPendingResponse answers a failed poll with the generic dss2:Response, typed
// dss2:SignResponseType (DSS-X 2.0 §7: an unknown ResponseID gets a generic Response).
func ErrorPendingResponse(requestID string, r dss.Result) *Response {
	return &Response{
		XMLNSXSI: NSXSI, XMLNSDSS2: NSCore, XSIType: "dss2:SignResponseType",
		RequestID: requestID, Result: resultToWire(r),
	}
}

// ErrorResponse is the error response element of o: ErrorSignResponse, ErrorVerifyResponse
// or ErrorPendingResponse.
func ErrorResponse(o Op, requestID string, r dss.Result) any {
	switch o {
	case OpVerify:
		return ErrorVerifyResponse(requestID, r)
	case OpPending:
		return ErrorPendingResponse(requestID, r)
	}
	return ErrorSignResponse(requestID, r)
}
