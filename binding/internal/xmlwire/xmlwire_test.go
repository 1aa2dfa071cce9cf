package xmlwire

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dssd/dss"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

const invoice = `<invoice xmlns="urn:example:invoice"><id>42</id><amount currency="EUR">10.00</amount></invoice>`

func readRequest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "requests", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeSign(t *testing.T, name string) *SignRequest {
	t.Helper()
	var w SignRequest
	if err := NewDecoder(bytes.NewReader(readRequest(t, name))).Decode(&w); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return &w
}

func signFromFile(t *testing.T, name string) *dss.SignRequest {
	t.Helper()
	r, err := SignRequestFromWire(decodeSign(t, name))
	if err != nil {
		t.Fatalf("SignRequestFromWire(%s): %v", name, err)
	}
	return r
}

func TestSignRequestFromWire(t *testing.T) {
	tests := []struct {
		file string
		want *dss.SignRequest
	}{
		{"sign-enveloped.xml", &dss.SignRequest{
			RequestID: "req-enveloped", Profiles: []string{"urn:dssd:level:B-B"},
			Documents: []dss.Document{{ID: "doc-1", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}},
			Options: dss.SignOptions{
				Language: "en", CredentialID: "alice-rsa", SignatureType: "http://uri.etsi.org/01903/v1.3.2#",
				SignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
				Placement: &dss.Placement{WhichData: "doc-1", XPath: "/inv:invoice",
					Namespaces: map[string]string{"inv": "urn:example:invoice"}, CreateEnveloped: true},
			},
		}},
		{"sign-enveloping.xml", &dss.SignRequest{
			RequestID: "req-enveloping",
			Documents: []dss.Document{{ID: "doc-1", MimeType: "application/xml", Data: []byte(invoice)}},
			Options: dss.SignOptions{
				CredentialID: "alice-ec", SignatureType: "urn:ietf:rfc:3275",
				IncludeObjects: []dss.IncludeObject{{WhichData: "doc-1", ObjID: "obj-1", CreateReference: false}},
			},
		}},
		{"sign-detached.xml", &dss.SignRequest{
			RequestID: "req-detached", Profiles: []string{"urn:dssd:level:B-T"},
			Documents: []dss.Document{
				{ID: "doc-1", RefURI: "https://example.org/hello.txt", HasRefURI: true, MimeType: "text/plain", Data: []byte("hello, world\n")},
				{ID: "doc-2", RefURI: "https://example.org/invoice.xml", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)},
			},
			Options: dss.SignOptions{CredentialID: "alice-rsa", AddTimestamp: []string{"urn:ietf:rfc:3161"}},
		}},
		{"sign-hash.xml", &dss.SignRequest{
			RequestID: "req-hash",
			Hashes: []dss.DocumentHash{{
				ID: "hash-1", RefURI: "urn:example:hello", HasRefURI: true,
				Transforms: []string{"http://www.w3.org/2001/10/xml-exc-c14n#"},
				Digests: []dss.Digest{
					{Method: "http://www.w3.org/2001/04/xmlenc#sha256", Value: sha256hello(t)},
					{Method: "2.16.840.1.101.3.4.2.1", Value: sha256hello(t)},
				},
			}},
			Options: dss.SignOptions{
				CredentialID: "alice-qes",
				ClaimedIdentity: &dss.ClaimedIdentity{Name: "alice", SupportingInfo: []byte("eyJhbGciOiJIUzI1NiJ9.e30.sig"),
					SupportingInfoMimeType: "application/jwt"},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := signFromFile(t, tt.file)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("model mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func sha256hello(t *testing.T) []byte {
	b, err := base64.StdEncoding.DecodeString("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every optional input and input form dss does not model is listed, none dropped.
func TestUnsupportedListed(t *testing.T) {
	got := signFromFile(t, "sign-unsupported.xml")
	want := []string{
		"Document/Base64Data/Transforms",
		"TransformedData",
		"ServicePolicy",
		"Other",
		"Schemas",
		"Nonce",
		"IntendedAudience",
		"KeySelector/X509SubjectName",
		"Properties",
		"IncludeEContent",
		"SignedReferences",
		"SignatureQualityLevel",
		"OptionalInputs/{urn:example:extension}Extension",
	}
	if diff := cmp.Diff(want, got.Options.Unsupported); diff != "" {
		t.Errorf("Unsupported (-want +got):\n%s", diff)
	}
	if !got.Options.Async {
		t.Error("EnforceAsynchronousProcessing=true did not set Options.Async")
	}
	if len(got.Documents) != 1 || string(got.Documents[0].Data) != invoice {
		t.Errorf("document not decoded: %+v", got.Documents)
	}
}

func TestUnsupportedSingle(t *testing.T) {
	const pre = `<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base">`
	tests := []struct {
		name, body, want string
	}{
		{"AttRef", `<dss2:InputDocuments><dss2:Document ID="d"><dss2:Base64Data><dsb:AttRef AttRefURI="cid:x"/></dss2:Base64Data></dss2:Document></dss2:InputDocuments>`, "AttRef"},
		{"X509Digest", `<dss2:OptionalInputs><dss2:KeySelector><dss2:X509Digest Algorithm="sha256">AAAA</dss2:X509Digest></dss2:KeySelector></dss2:OptionalInputs>`, "KeySelector/X509Digest"},
		{"X509Certificate", `<dss2:OptionalInputs><dss2:KeySelector><dss2:X509Certificate>AAAA</dss2:X509Certificate></dss2:KeySelector></dss2:OptionalInputs>`, "KeySelector/X509Certificate"},
		{"second KeyName", `<dss2:OptionalInputs><dss2:KeySelector><dss2:KeyName>a</dss2:KeyName></dss2:KeySelector><dss2:KeySelector><dss2:KeyName>b</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs>`, "KeySelector/KeyName"},
		{"unknown child of SignRequest", `<dss2:Extra/>`, "dss2:Extra"},
		{"Transform parameters", `<dss2:InputDocuments><dss2:DocumentHash><dss2:Transforms><ds-rw:Transform xmlns:ds-rw="http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten" Algorithm="urn:t"><ds-rw:XPath>/a</ds-rw:XPath></ds-rw:Transform></dss2:Transforms><dss2:DigestInfos><dsb:DigestMethod>SHA-256</dsb:DigestMethod><dsb:DigestValue>AAAA</dsb:DigestValue></dss2:DigestInfos></dss2:DocumentHash></dss2:InputDocuments>`, "DocumentHash/Transforms/Transform/XPath"},
		{"IDREF", `<dss2:InputDocuments><dss2:Document ID="d"><dss2:Base64Data IDREF="x"/></dss2:Document></dss2:InputDocuments>`, "Base64Data/@IDREF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w SignRequest
			if err := NewDecoder(bytes.NewReader([]byte(pre + tt.body + `</dss2:SignRequest>`))).Decode(&w); err != nil {
				t.Fatal(err)
			}
			r, err := SignRequestFromWire(&w)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tt.want}, r.Options.Unsupported); diff != "" {
				t.Errorf("Unsupported (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignRequestMalformed(t *testing.T) {
	const pre = `<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="r">`
	tests := []struct{ name, body string }{
		{"bad base64 document", `<dss2:InputDocuments><dss2:Document><dss2:Base64Data><dsb:Value>!!!</dsb:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>`},
		{"bad base64 digest", `<dss2:InputDocuments><dss2:DocumentHash><dss2:DigestInfos><dsb:DigestMethod>SHA-256</dsb:DigestMethod><dsb:DigestValue>A</dsb:DigestValue></dss2:DigestInfos></dss2:DocumentHash></dss2:InputDocuments>`},
		{"no digest value", `<dss2:InputDocuments><dss2:DocumentHash><dss2:DigestInfos><dsb:DigestMethod>SHA-256</dsb:DigestMethod></dss2:DigestInfos></dss2:DocumentHash></dss2:InputDocuments>`},
		{"no digest infos", `<dss2:InputDocuments><dss2:DocumentHash/></dss2:InputDocuments>`},
		{"document without value", `<dss2:InputDocuments><dss2:Document><dss2:Base64Data/></dss2:Document></dss2:InputDocuments>`},
		{"bad boolean", `<dss2:OptionalInputs><dss2:IncludeEContent>yes</dss2:IncludeEContent></dss2:OptionalInputs>`},
		{"bad attribute boolean", `<dss2:OptionalInputs><dss2:IncludeObject WhichData="d" createReference="maybe"/></dss2:OptionalInputs>`},
		{"placement without xpath", `<dss2:OptionalInputs><dss2:SignaturePlacement WhichData="d"/></dss2:OptionalInputs>`},
		{"placement with both xpaths", `<dss2:OptionalInputs><dss2:SignaturePlacement WhichData="d"><dss2:XPathAfter>/a</dss2:XPathAfter><dss2:XPathFirstChildOf>/a</dss2:XPathFirstChildOf></dss2:SignaturePlacement></dss2:OptionalInputs>`},
		{"empty key selector", `<dss2:OptionalInputs><dss2:KeySelector/></dss2:OptionalInputs>`},
		{"bad SAD base64", `<dss2:OptionalInputs><dss2:ClaimedIdentity><dss2:Name>a</dss2:Name><dss2:SupportingInfo><dsb:Value>%%%</dsb:Value></dss2:SupportingInfo></dss2:ClaimedIdentity></dss2:OptionalInputs>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w SignRequest
			if err := NewDecoder(bytes.NewReader([]byte(pre + tt.body + `</dss2:SignRequest>`))).Decode(&w); err != nil {
				t.Fatalf("decode must not fail (the converter reports): %v", err)
			}
			_, err := SignRequestFromWire(&w)
			var de *dss.Error
			if !errors.As(err, &de) || de.Kind != dss.KindMalformed {
				t.Fatalf("got %v, want a *dss.Error of KindMalformed", err)
			}
		})
	}
}

func TestBadBase64File(t *testing.T) {
	w := decodeSign(t, "sign-bad-base64.xml")
	if w.RequestID != "req-bad-base64" {
		t.Errorf("RequestID %q", w.RequestID)
	}
	_, err := SignRequestFromWire(w)
	if dss.KindOf(err) != dss.KindMalformed {
		t.Fatalf("got %v, want KindMalformed", err)
	}
}

func TestXSDDefaults(t *testing.T) {
	const doc = `<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core"><dss2:OptionalInputs>` +
		`<dss2:EnforceAsynchronousProcessing/><dss2:IncludeObject WhichData="d"/><dss2:IncludeEContent>false</dss2:IncludeEContent>` +
		`<dss2:SignaturePlacement WhichData="d" CreateEnvelopedSignature="0"><dss2:XPathAfter>/a/b</dss2:XPathAfter></dss2:SignaturePlacement>` +
		`</dss2:OptionalInputs></dss2:SignRequest>`
	var w SignRequest
	if err := NewDecoder(bytes.NewReader([]byte(doc))).Decode(&w); err != nil {
		t.Fatal(err)
	}
	r, err := SignRequestFromWire(&w)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Options.Unsupported) != 0 {
		t.Errorf("defaults recorded as unsupported: %v", r.Options.Unsupported)
	}
	want := []dss.IncludeObject{{WhichData: "d", CreateReference: true}}
	if diff := cmp.Diff(want, r.Options.IncludeObjects); diff != "" {
		t.Errorf("IncludeObject (-want +got):\n%s", diff)
	}
	if p := r.Options.Placement; p == nil || p.CreateEnveloped || !p.After || p.XPath != "/a/b" {
		t.Errorf("placement %+v", p)
	}
}

func TestBase64(t *testing.T) {
	var b Base64
	if err := b.UnmarshalText([]byte(" aGVs\r\n bG8=\t")); err != nil || !b.Valid() || string(b.Bytes) != "hello" {
		t.Errorf("whitespace not tolerated: %q %v", b.Bytes, b.Valid())
	}
	if err := b.UnmarshalText([]byte("aGVsbG8")); err != nil || b.Valid() {
		t.Errorf("unpadded base64 accepted")
	}
	out, _ := Base64{Bytes: []byte("hello")}.MarshalText()
	if string(out) != "aGVsbG8=" {
		t.Errorf("MarshalText = %q", out)
	}
	// As an element, MarshalXML writes exactly what encoding/xml writes for the base64 text
	// (which needs no escaping), in the element's namespace, and it reads back.
	for _, data := range [][]byte{nil, {0}, []byte("hello"), bytes.Repeat([]byte{0xff, 0xfe, 0x3c, 0x26}, 1000)} {
		type withB64 struct {
			XMLName xml.Name `xml:"urn:x Doc"`
			Value   *Base64  `xml:"http://docs.oasis-open.org/dss-x/ns/base Value"`
		}
		type withText struct {
			XMLName xml.Name `xml:"urn:x Doc"`
			Value   string   `xml:"http://docs.oasis-open.org/dss-x/ns/base Value"`
		}
		got, err := xml.Marshal(withB64{Value: NewBase64(data)})
		if err != nil {
			t.Fatal(err)
		}
		want, err := xml.Marshal(withText{Value: base64.StdEncoding.EncodeToString(data)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes:\n got %s\nwant %s", len(data), got, want)
		}
		var back withB64
		if err := xml.Unmarshal(got, &back); err != nil || !back.Value.Valid() || !bytes.Equal(back.Value.Bytes, data) {
			t.Errorf("%d bytes do not read back: %v", len(data), err)
		}
	}
}

func TestVerifyAndPending(t *testing.T) {
	var v VerifyRequest
	if err := NewDecoder(bytes.NewReader(readRequest(t, "verify.xml"))).Decode(&v); err != nil {
		t.Fatal(err)
	}
	vr, err := VerifyRequestFromWire(&v)
	if err != nil {
		t.Fatal(err)
	}
	want := &dss.VerifyRequest{RequestID: "req-verify",
		Documents: []dss.Document{{ID: "doc-1", Data: []byte(invoice)}},
		Options:   dss.VerifyOptions{ReturnSignerIdentity: true}}
	if diff := cmp.Diff(want, vr); diff != "" {
		t.Errorf("verify (-want +got):\n%s", diff)
	}
	var p PendingRequest
	if err := NewDecoder(bytes.NewReader(readRequest(t, "pending.xml"))).Decode(&p); err != nil {
		t.Fatal(err)
	}
	pr, err := PendingRequestFromWire(&p)
	if err != nil || pr.RequestID != "async-5c0d" {
		t.Fatalf("pending: %+v %v", pr, err)
	}
	for _, bad := range []struct {
		doc  string
		kind dss.Kind
	}{
		{`<dss2:PendingRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core"/>`, dss.KindMalformed},
		{`<dss2:PendingRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" RequestID="a"><Profile xmlns="http://docs.oasis-open.org/dss-x/ns/base">x</Profile></dss2:PendingRequest>`, dss.KindMalformed},
		{`<dss2:PendingRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" RequestID="a"><dss2:ClaimedIdentity><dss2:Name>a</dss2:Name></dss2:ClaimedIdentity></dss2:PendingRequest>`, dss.KindNotSupported},
		{`<dss2:PendingRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" RequestID="a"><x:y xmlns:x="urn:x"/></dss2:PendingRequest>`, dss.KindNotSupported},
	} {
		var p PendingRequest
		if err := NewDecoder(bytes.NewReader([]byte(bad.doc))).Decode(&p); err != nil {
			t.Fatal(err)
		}
		if _, err := PendingRequestFromWire(&p); dss.KindOf(err) != bad.kind || err == nil {
			t.Errorf("%s: got %v, want kind %v", bad.doc, err, bad.kind)
		}
	}
}

// sampleSignResponse exercises every output dssd produces.
func sampleSignResponse() *dss.SignResponse {
	return &dss.SignResponse{
		RequestID: "req-1", ResponseID: "resp-1",
		Result:          dss.Result{Major: dss.MajorSuccess},
		AppliedProfiles: []string{"urn:dssd:level:B-B"},
		Signatures: []dss.SignatureObject{
			{WhichDoc: "doc-1", Ptr: &dss.SignaturePtr{WhichData: "signed-doc-1", XPath: "/invoice/*[local-name()='Signature']"}},
			{WhichDoc: "doc-2", MimeType: "application/xml", Value: []byte("<ds:Signature/>")},
		},
		DocumentsWithSignature: []dss.DocumentWithSignature{
			{WhichDoc: "doc-1", ID: "signed-doc-1", MimeType: "application/xml", Data: []byte(invoice)},
		},
	}
}

func TestResponsesValidate(t *testing.T) {
	errRes := dss.ResultOf(dss.Errorf(dss.KindNotSupported, "optional input Nonce is not supported"), "p-1")
	tests := []struct {
		name string
		v    any
	}{
		{"sign", SignResponseToWire(sampleSignResponse())},
		{"sign error", ErrorSignResponse("req-2", errRes)},
		{"sign internal", ErrorSignResponse("", dss.ResultOf(errors.New("secret internal detail"), "p-2"))},
		{"verify", VerifyResponseToWire(&dss.VerifyResponse{RequestID: "v", Result: dss.Result{Major: dss.MajorSuccess}})},
		{"verify error", ErrorVerifyResponse("v", errRes)},
		{"pending", PendingResponseToWire(&dss.SignResponse{RequestID: "async-1", ResponseID: "async-1",
			Result: dss.Result{Major: dss.MajorPending}})},
		{"pending error", ErrorPendingResponse("async-zz", dss.Result{Major: dss.MajorRequesterError,
			Minor: "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultminor:ResponseIdUnknown"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := xml.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("secret")) {
				t.Errorf("internal detail leaked: %s", b)
			}
			xsdtest.Validate(t, schemas.CoreXSD, b)
		})
	}
}

// The emitted form uses the exact namespaces of protocol.md §2.1 and round-trips.
func TestSignResponseRoundTrip(t *testing.T) {
	b, err := xml.Marshal(SignResponseToWire(sampleSignResponse()))
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		`<Result xmlns="http://docs.oasis-open.org/dss-x/ns/base">`,
		`<Base64Data xmlns="http://docs.oasis-open.org/dss-x/ns/core" MimeType="application/xml"><Value xmlns="http://docs.oasis-open.org/dss-x/ns/base">`,
		`<SignaturePtr xmlns="http://docs.oasis-open.org/dss-x/ns/core" WhichData="signed-doc-1"`,
	} {
		if !bytes.Contains(b, []byte(frag)) {
			t.Errorf("missing %s in\n%s", frag, b)
		}
	}
	var back SignResponse
	if err := NewDecoder(bytes.NewReader(b)).Decode(&back); err != nil {
		t.Fatal(err)
	}
	got := back.OptionalOutputs.DocumentWithSignature[0].Document.Base64Data.Value.Bytes
	if string(got) != invoice {
		t.Errorf("document bytes changed: %q", got)
	}
	if string(back.SignatureObject[1].Base64Signature.Value.Bytes) != "<ds:Signature/>" {
		t.Errorf("signature bytes changed")
	}
}

// A wrong-namespace Result is read as dsb:Result (client side of §15 #8).
func TestLenientResult(t *testing.T) {
	const doc = `<SignResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core"><Result><ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success</ResultMajor></Result></SignResponse>`
	var r SignResponse
	if err := NewDecoder(bytes.NewReader([]byte(doc))).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Result.ResultMajor != dss.MajorSuccess {
		t.Errorf("Result not read: %+v", r.Result)
	}
}

func FuzzSignRequestFromWire(f *testing.F) {
	for _, n := range []string{"sign-enveloped.xml", "sign-hash.xml", "sign-unsupported.xml", "sign-bad-base64.xml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "requests", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w SignRequest
		if err := NewDecoder(bytes.NewReader(b)).Decode(&w); err != nil {
			return
		}
		r, err := SignRequestFromWire(&w)
		if err != nil {
			var de *dss.Error
			if !errors.As(err, &de) {
				t.Fatalf("converter error is not a *dss.Error: %v", err)
			}
			return
		}
		if r == nil {
			t.Fatal("nil request without error")
		}
	})
}

// TestWrongNamespace: an element the schema declares, in another namespace (or none), is
// MalformedRequest naming the expected element, in every request type; the right
// namespace is accepted; Property/Value in the core namespace is legitimate.
func TestWrongNamespace(t *testing.T) {
	const (
		core = `xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base"`
		doc  = `<dss2:InputDocuments><dss2:Document ID="d"><dss2:Base64Data>%s</dss2:Base64Data></dss2:Document></dss2:InputDocuments>`
	)
	tests := []struct {
		name, req, want string // want "": accepted
	}{
		{"dsb:Value", `<dss2:SignRequest ` + core + `>` + fmt.Sprintf(doc, `<dsb:Value>aGk=</dsb:Value>`) + `</dss2:SignRequest>`, ""},
		{"dss2:Value in Base64Data", `<dss2:SignRequest ` + core + `>` + fmt.Sprintf(doc, `<dss2:Value>aGk=</dss2:Value>`) + `</dss2:SignRequest>`,
			"SignRequest/InputDocuments/Document/Base64Data holds dss2:Value: the schema expects dsb:Value there"},
		{"Value without namespace", `<dss2:SignRequest ` + core + `>` + fmt.Sprintf(doc, `<Value xmlns="">aGk=</Value>`) + `</dss2:SignRequest>`,
			"holds Value (no namespace): the schema expects dsb:Value"},
		{"dss2:Profile", `<dss2:SignRequest ` + core + `><dss2:Profile>urn:dssd:level:B-B</dss2:Profile></dss2:SignRequest>`,
			"SignRequest holds dss2:Profile: the schema expects dsb:Profile"},
		{"dsb:InputDocuments", `<dss2:SignRequest ` + core + `><dsb:InputDocuments/></dss2:SignRequest>`,
			"SignRequest holds dsb:InputDocuments: the schema expects dss2:InputDocuments"},
		{"dss2:DigestMethod", `<dss2:SignRequest ` + core + `><dss2:InputDocuments><dss2:DocumentHash><dss2:DigestInfos><dss2:DigestMethod>x</dss2:DigestMethod><dsb:DigestValue>AAAA</dsb:DigestValue></dss2:DigestInfos></dss2:DocumentHash></dss2:InputDocuments></dss2:SignRequest>`,
			"DocumentHash/DigestInfos holds dss2:DigestMethod: the schema expects dsb:DigestMethod"},
		{"dss2:Language", `<dss2:SignRequest ` + core + `><dss2:OptionalInputs><dss2:Language>en</dss2:Language></dss2:OptionalInputs></dss2:SignRequest>`,
			"SignRequest/OptionalInputs holds dss2:Language: the schema expects dsb:Language"},
		{"verify dss2:Value", `<dss2:VerifyRequest ` + core + `>` + fmt.Sprintf(doc, `<dss2:Value>aGk=</dss2:Value>`) + `</dss2:VerifyRequest>`,
			"VerifyRequest/InputDocuments/Document/Base64Data holds dss2:Value"},
		{"pending dss2:Profile", `<dss2:PendingRequest RequestID="r" ` + core + `><dss2:Profile>x</dss2:Profile></dss2:PendingRequest>`,
			"PendingRequest holds dss2:Profile: the schema expects dsb:Profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tt.req))
			var err error
			switch {
			case strings.HasPrefix(tt.req, "<dss2:Verify"):
				var w VerifyRequest
				if err = d.Decode(&w); err == nil {
					_, err = VerifyRequestFromWire(&w)
				}
			case strings.HasPrefix(tt.req, "<dss2:Pending"):
				var w PendingRequest
				if err = d.Decode(&w); err == nil {
					_, err = PendingRequestFromWire(&w)
				}
			default:
				var w SignRequest
				if err = d.Decode(&w); err == nil {
					_, err = SignRequestFromWire(&w)
				}
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if dss.KindOf(err) != dss.KindMalformed || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want MalformedRequest containing %q", err, tt.want)
			}
		})
	}
}
