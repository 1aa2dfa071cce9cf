package xmlwire

import (
	"bytes"
	"encoding/xml"
	"testing"

	"dssd/dss"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

// TestReturnTransformedDocument: the option is read as DSS-X 2.0 §4.4.33 defines it, a bad
// WhichReference is Malformed, and the response carrying TransformedDocuments (in dsb:Other,
// since OptionalOutputsVerifyType has no place for them) validates against the schema.
func TestReturnTransformedDocument(t *testing.T) {
	const pre = `<dss2:VerifyRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base"><dss2:OptionalInputs>`
	const post = `</dss2:OptionalInputs><dss2:SignatureObject><dss2:Base64Signature MimeType="application/xml"><dsb:Value>PHNpZy8+</dsb:Value></dss2:Base64Signature></dss2:SignatureObject></dss2:VerifyRequest>`
	r, err := VerifyRequestFromWire(decodeVerify(t, pre+`<dss2:ReturnTransformedDocument WhichReference="1"/><dss2:ReturnTransformedDocument WhichReference=" 3 "/>`+post))
	if err != nil || len(r.Unsupported) != 0 || len(r.Options.ReturnTransformedDocuments) != 2 ||
		r.Options.ReturnTransformedDocuments[0] != 1 || r.Options.ReturnTransformedDocuments[1] != 3 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{`0`, `-1`, `x`, ``} {
		_, err := VerifyRequestFromWire(decodeVerify(t, pre+`<dss2:ReturnTransformedDocument WhichReference="`+bad+`"/>`+post))
		if dss.KindOf(err) != dss.KindMalformed {
			t.Errorf("WhichReference %q: got %v, want malformed", bad, err)
		}
	}
	resp := sampleVerifyResponse()
	resp.Transformed = []dss.TransformedDocument{{WhichReference: 1, Data: []byte(`<doc xmlns="urn:x">signed</doc>`)}, {WhichReference: 2, Data: []byte{0, 1, 2}}}
	b, err := xml.Marshal(VerifyResponseToWire(resp))
	if err != nil {
		t.Fatal(err)
	}
	xsdtest.Validate(t, schemas.CoreXSD, b)
	if !bytes.Contains(b, []byte(`ID="TransformedDocument-1"`)) || !bytes.Contains(b, []byte(`ID="TransformedDocument-2"`)) {
		t.Fatalf("no TransformedDocument in %s", b)
	}
}
