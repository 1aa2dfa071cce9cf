package xmlwire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"testing"

	"dssd/dss"
)

// responses returns response structs with every part dssd writes, filled from s (text of
// any kind), data (binary values) and flags (which optional parts are set).
func responses(s string, data []byte, flags uint8) []any {
	on := func(bit uint) bool { return flags&(1<<bit) != 0 }
	str := func(v string) *string { return &v }
	var msg *InternationalString
	if on(0) {
		msg = &InternationalString{Lang: s, Value: s + "\n\t<&>"}
	}
	result := Result{ResultMajor: s, ResultMinor: s, ResultMessage: msg}
	if on(1) {
		result.ResultMinor, result.ProblemReference = "", s
	}
	value := &Base64{Bytes: data}
	if on(2) {
		value = &Base64{Include: "cid:" + s}
	}
	var refURI *string
	if on(3) {
		refURI = str(s)
	}
	data64 := Base64Data{MimeType: s, ID: s, IDREF: s, Value: value}
	if on(4) {
		data64.Transforms = &Transforms{Transform: []Transform{{Algorithm: s, Value: str(s), XPath: []string{s, ""},
			NsPrefixMapping: []NsPrefixMapping{{NamespaceURI: s, NamespacePrefix: s}}}}}
	}
	sign := &SignResponse{
		ResponseBase: ResponseBase{RequestID: s, ResponseID: s, Result: result, AppliedProfile: []string{s, "urn:x"}},
		SignatureObject: []SignatureObject{
			{WhichDoc: s, SchemaRefs: s, Base64Signature: &data64},
			{SignaturePtr: &SignaturePtr{WhichData: s, XPath: s, XPathQualifier: s,
				NsPrefixMapping: []NsPrefixMapping{{NamespaceURI: s}}}},
		},
	}
	if on(5) {
		sign.OptionalOutputs = &OptionalOutputsSign{DocumentWithSignature: []DocumentWithSignature{{WhichDoc: s,
			Document: Document{DocumentBase: DocumentBase{ID: s, RefURI: refURI, RefType: s, SchemaRefs: s}, Base64Data: data64}}}}
	}
	verify := &VerifyResponse{ResponseBase: ResponseBase{RequestID: s, Result: result}}
	if on(6) {
		verify.OptionalOutputs = &OptionalOutputsVerify{
			Other:                []Base64Data{data64, {}},
			SigningTimeInfo:      &SigningTimeInfo{SigningTime: s, SigningTimeBoundaries: &SigningTimeBoundaries{LowerBoundary: s}},
			VerificationTimeInfo: &VerificationTimeInfo{VerificationTime: s, AdditionalTimeInfo: []AdditionalTimeInfo{{Type: s, Ref: s, Value: s}, {Type: ""}}},
			ProcessingDetails: &ProcessingDetails{ValidDetail: []Detail{{Type: s, Code: s, Message: msg}},
				InvalidDetail: []Detail{{Type: s}}},
			SignerIdentity:     &NameID{Value: s, Format: s, NameQualifier: s},
			AugmentedSignature: []AugmentedSignature{{Type: s, SignatureObject: sign.SignatureObject}},
		}
	}
	res := dss.Result{Major: s, Minor: s, Message: s, ProblemReference: s}
	return []any{sign, verify, ErrorPendingResponse(s, res), ErrorResponse(OpSign, s, res),
		ErrorResponse(OpVerify, s, res), ErrorResponse(OpPending, s, res), &SignResponse{}}
}

func checkAppendXML(t *testing.T, v any) {
	t.Helper()
	want, wantErr := xml.Marshal(v)
	got, err := AppendXML([]byte("prefix"), v)
	switch {
	case errors.Is(err, ErrNotWritten):
		t.Fatalf("%+v was left to encoding/xml", v)
	case err != nil || wantErr != nil:
		t.Fatalf("%+v: %v, encoding/xml: %v", v, err, wantErr)
	case !bytes.Equal(got, append([]byte("prefix"), want...)):
		t.Fatalf("AppendXML\n%s\nencoding/xml\n%s", got, want)
	}
}

// TestAppendXML: AppendXML writes what encoding/xml writes for every response; what it does
// not write it leaves to encoding/xml.
func TestAppendXML(t *testing.T) {
	for _, s := range []string{"", "a", "<&'\">\r\n\t\x01\uFFFD\xff é", "urn:oasis:names:tc:dss:1.0:resultmajor:Success"} {
		for flags := range 128 {
			for _, v := range responses(s, []byte(s), uint8(flags)) {
				checkAppendXML(t, v)
			}
		}
	}
	for _, v := range []any{
		&SignResponse{SignatureObject: []SignatureObject{{Unknown: []Any{{XMLName: xml.Name{Local: "x"}}}}}},
		&Any{XMLName: xml.Name{Local: "x"}}, &Result{}, "text", make(chan int),
	} {
		if _, err := AppendXML(nil, v); !errors.Is(err, ErrNotWritten) {
			t.Errorf("%T: %v, want ErrNotWritten", v, err)
		}
	}
}

// FuzzAppendXML: AppendXML and encoding/xml write the same bytes for responses of any text.
func FuzzAppendXML(f *testing.F) {
	f.Add("urn:x", []byte("doc"), uint8(0xff))
	f.Add("<&\"'\r\n\x00\xed\xa0\x80", []byte{}, uint8(0x15))
	f.Fuzz(func(t *testing.T, s string, data []byte, flags uint8) {
		for _, v := range responses(s, data, flags) {
			checkAppendXML(t, v)
		}
	})
}
