package xmlwire

import (
	"encoding/xml"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"unsafe"
	"weak"

	"dssd/dss"
	"dssd/dss/xmlsafe"
)

const (
	// keptSign sets every string of a dss.SignRequest that can come from an attribute or
	// an element name (RequestID, IDs, URIs, MIME types, algorithms, an unknown element in
	// no namespace), besides some that come from text.
	keptSign = `<SignRequest xmlns="` + NSCore + `" xmlns:dsb="` + NSBase + `" xmlns:ds="` + NSDsRW + `" RequestID="r-kept">` +
		`<dsb:Profile>urn:profile</dsb:Profile><InputDocuments>` +
		`<Document ID="doc-1" RefURI="urn:doc" RefType="urn:type"><Base64Data MimeType="text/plain"><dsb:Value>aGk=</dsb:Value></Base64Data></Document>` +
		`<DocumentHash ID="hash-1" RefURI="urn:hash" RefType="urn:type2"><Transforms><ds:Transform Algorithm="urn:transform"/></Transforms>` +
		`<DigestInfos><dsb:DigestMethod>urn:sha256</dsb:DigestMethod><dsb:DigestValue>AAAA</dsb:DigestValue></DigestInfos></DocumentHash>` +
		`</InputDocuments><OptionalInputs><dsb:Language>en</dsb:Language>` +
		`<ClaimedIdentity><Name>alice</Name><SupportingInfo MimeType="text/x"><dsb:Value>aGk=</dsb:Value></SupportingInfo></ClaimedIdentity>` +
		`<IncludeObject WhichData="doc-1" ObjId="obj-1"/><SignaturePlacement WhichData="doc-1"><XPathFirstChildOf>/a</XPathFirstChildOf></SignaturePlacement>` +
		`</OptionalInputs><Extra xmlns=""/></SignRequest>`
	keptVerify = `<VerifyRequest xmlns="` + NSCore + `" xmlns:dsb="` + NSBase + `" RequestID="v-kept">` +
		`<InputDocuments><Document ID="doc-1" RefURI="urn:doc"><Base64Data MimeType="text/plain"><dsb:Value>aGk=</dsb:Value></Base64Data></Document></InputDocuments>` +
		`<SignatureObject WhichDoc="doc-1"><Base64Signature MimeType="application/xml"><dsb:Value>aGk=</dsb:Value></Base64Signature></SignatureObject>` +
		`<Extra xmlns=""/></VerifyRequest>`
	keptVerifyPtr = `<VerifyRequest xmlns="` + NSCore + `" xmlns:dsb="` + NSBase + `" RequestID="v-kept">` +
		`<SignatureObject><SignaturePtr WhichData="doc-1" XPath="/a"/></SignatureObject></VerifyRequest>`
	keptPending = `<PendingRequest xmlns="` + NSCore + `" RequestID="p-kept"/>`
)

// convertKept reads doc (request element op) as the bindings do, from the gate's tokens, and
// converts it. It returns the dss request and weak pointers to the body and to the gate's
// copy of it (which the raw RequestID attribute is a substring of).
func convertKept(t *testing.T, op Op, doc string) (kept any, body, gateCopy weak.Pointer[byte]) {
	t.Helper()
	b := []byte(doc)
	toks, err := xmlsafe.Tokens(b, xmlsafe.EnvelopeLimits())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range toks[0].(xml.StartElement).Attr {
		if a.Name.Local == "RequestID" {
			gateCopy = weak.Make(unsafe.StringData(a.Value))
		}
	}
	body = weak.Make(&b[0])
	d := NewTokens(toks)
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	req := NewRequest(op)
	if err := d.DecodeElement(req, &start); err != nil {
		t.Fatal(err)
	}
	switch q := req.(type) {
	case *SignRequest:
		kept, err = SignRequestFromWire(q)
	case *VerifyRequest:
		kept, err = VerifyRequestFromWire(q)
	case *PendingRequest:
		kept, err = PendingRequestFromWire(q)
	}
	if err != nil {
		t.Fatal(err)
	}
	return kept, body, gateCopy
}

// TestConvertedRequestKeepsNoBody: a converted request, kept after the request's body and
// tokens are gone, keeps neither the body nor the gate's copy of it alive (own.go).
func TestConvertedRequestKeepsNoBody(t *testing.T) {
	for _, tt := range []struct {
		name, doc, id string
		op            Op
		kept          func(any) (id string, unsupported []string)
	}{
		{"sign", keptSign, "r-kept", OpSign, func(r any) (string, []string) {
			return r.(*dss.SignRequest).RequestID, r.(*dss.SignRequest).Options.Unsupported
		}},
		{"verify", keptVerify, "v-kept", OpVerify, func(r any) (string, []string) {
			return r.(*dss.VerifyRequest).RequestID, r.(*dss.VerifyRequest).Unsupported
		}},
		{"verify SignaturePtr", keptVerifyPtr, "v-kept", OpVerify, func(r any) (string, []string) {
			return r.(*dss.VerifyRequest).RequestID, []string{"Extra"}
		}},
		{"pending", keptPending, "p-kept", OpPending, func(r any) (string, []string) {
			return r.(*dss.PendingRequest).RequestID, []string{"Extra"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kept, body, gateCopy := convertKept(t, tt.op, tt.doc)
			if gateCopy == (weak.Pointer[byte]{}) {
				t.Fatal("no RequestID in the gate's tokens")
			}
			runtime.GC()
			runtime.GC()
			if gateCopy.Value() != nil {
				t.Error("the converted request keeps the gate's copy of the body alive")
			}
			if body.Value() != nil {
				t.Error("the converted request keeps the body alive")
			}
			// what it keeps is intact
			if id, unsupported := tt.kept(kept); id != tt.id || !slices.Contains(unsupported, "Extra") {
				t.Errorf("RequestID %q, unsupported %q", id, unsupported)
			}
		})
	}
}

// stringFields sets every string reachable in v (a struct: through exported fields, pointers
// and slices, one element each; maps stay nil) to a new string of its own and returns them.
func stringFields(v reflect.Value, out []reflect.Value) []reflect.Value {
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("field-%d", len(out)))
		return append(out, v)
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.New(v.Type().Elem()))
			return stringFields(v.Elem(), out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			return stringFields(v.Index(0), out)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out = stringFields(v.Field(i), out)
			}
		}
	}
	return out
}

// TestOwnerReachesEveryString: signStrings and verifyStrings reach every string field of the
// dss requests, so a string field added later cannot keep the body alive unnoticed. Maps are
// not walked: the only one, Placement.Namespaces, is made of element text, which the decoders
// copy.
func TestOwnerReachesEveryString(t *testing.T) {
	check := func(name string, r any, walk func(*owner)) {
		fields := stringFields(reflect.ValueOf(r).Elem(), nil)
		if len(fields) < 10 {
			t.Fatalf("%s: only %d string fields", name, len(fields))
		}
		before := make([]*byte, len(fields))
		for i, f := range fields {
			before[i] = unsafe.StringData(f.String())
		}
		var o owner
		for o.more() {
			walk(&o)
		}
		for i, f := range fields {
			if want := fmt.Sprintf("field-%d", i); f.String() != want {
				t.Errorf("%s: string %d is %q, want %q", name, i, f.String(), want)
			} else if unsafe.StringData(f.String()) == before[i] {
				t.Errorf("%s: string %q was not reached", name, want)
			}
		}
	}
	var s dss.SignRequest
	check("SignRequest", &s, func(o *owner) { signStrings(&s, o) })
	var v dss.VerifyRequest
	check("VerifyRequest", &v, func(o *owner) { verifyStrings(&v, o) })
}
