package xmlwire

// Conversions shared by the operations: unsupported-input bookkeeping, XSD scalars, input
// documents, the base optional inputs, Result and the error response of each operation.

import (
	"encoding/xml"
	"strings"

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

// flag reads the xs:boolean option name (false when absent), which dssd does not implement:
// a value that is not an xs:boolean is an error, true is recorded as unsupported.
func (u *unsupported) flag(v *string, name string) error {
	on, err := xsBool(v, false, name)
	if on {
		u.add(name)
	}
	return err
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

// documentsFromWire converts the Documents of InputDocuments, in order; TransformedData is
// listed as unsupported.
// documentsFromWire converts InputDocuments (nil: none): its Documents, then its DocumentHash
// elements as hashes (the operation's own treatment of them), then its unknown children.
func documentsFromWire(in *InputDocuments, u *unsupported, hashes func([]DocumentHash) error) ([]dss.Document, error) {
	if in == nil {
		return nil, nil
	}
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
	if err := hashes(in.DocumentHash); err != nil {
		return nil, err
	}
	u.anys("InputDocuments/", in.Unknown)
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

// baseOptionsFromWire reads the children of dsb:OptionalInputsType that sign and verify treat
// alike: ServicePolicy and Other are not supported, Language is returned.
func baseOptionsFromWire(o *OptionalInputsBase, u *unsupported) string {
	if len(o.ServicePolicy) > 0 {
		u.add("ServicePolicy")
	}
	language := trim(o.Language)
	if len(o.Other) > 0 {
		u.add("Other")
	}
	return language
}

// responseBase is the dsb:ResponseBaseType part of a response answering requestID.
func responseBase(requestID, responseID string, r dss.Result, applied []string) ResponseBase {
	return ResponseBase{RequestID: requestID, ResponseID: responseID, Result: resultToWire(r), AppliedProfile: applied}
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

// signatureObjectToWire converts a produced signature: a SignaturePtr when it lies in a
// DocumentWithSignature, else a Base64Signature.
func signatureObjectToWire(s *dss.SignatureObject) SignatureObject {
	so := SignatureObject{WhichDoc: s.WhichDoc}
	if s.Ptr != nil {
		so.SignaturePtr = &SignaturePtr{WhichData: s.Ptr.WhichData, XPath: s.Ptr.XPath}
	} else {
		so.Base64Signature = &Base64Data{MimeType: s.MimeType, Value: NewBase64(s.Value)}
	}
	return so
}

// documentWithSignatureToWire converts a document returned with a signature inside.
func documentWithSignatureToWire(d *dss.DocumentWithSignature) DocumentWithSignature {
	return DocumentWithSignature{
		WhichDoc: d.WhichDoc,
		Document: Document{DocumentBase: DocumentBase{ID: d.ID}, Base64Data: Base64Data{MimeType: d.MimeType, Value: NewBase64(d.Data)}},
	}
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
