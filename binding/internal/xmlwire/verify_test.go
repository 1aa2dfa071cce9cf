package xmlwire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dssd/dss"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

const verifyFull = `<dss2:VerifyRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core"
    xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="v-1">
  <dss2:InputDocuments>
    <dss2:Document ID="d1" RefURI="report.pdf"><dss2:Base64Data MimeType="application/pdf"><dsb:Value>aGVsbG8=</dsb:Value></dss2:Base64Data></dss2:Document>
  </dss2:InputDocuments>
  <dss2:OptionalInputs>
    <dsb:Language>en</dsb:Language>
    <dss2:ClaimedIdentity><dss2:Name>alice</dss2:Name></dss2:ClaimedIdentity>
    <dss2:UseVerificationTime><dss2:SpecificTime>2026-03-01T12:00:00+01:00</dss2:SpecificTime></dss2:UseVerificationTime>
    <dss2:ReturnVerificationTimeInfo>true</dss2:ReturnVerificationTimeInfo>
    <dss2:AdditionalKeyInfo><dss2:X509Certificate><dsb:Value>AQID</dsb:Value></dss2:X509Certificate></dss2:AdditionalKeyInfo>
    <dss2:AdditionalKeyInfo><dss2:X509CRL><dsb:Value>BAUG</dsb:Value></dss2:X509CRL></dss2:AdditionalKeyInfo>
    <dss2:AdditionalKeyInfo><dss2:OCSPResponse><dsb:Value>BwgJ</dsb:Value></dss2:OCSPResponse></dss2:AdditionalKeyInfo>
    <dss2:ReturnProcessingDetails>1</dss2:ReturnProcessingDetails>
    <dss2:ReturnSigningTimeInfo>true</dss2:ReturnSigningTimeInfo>
    <dss2:ReturnSignerIdentity>true</dss2:ReturnSignerIdentity>
    <dss2:ReturnAugmentedSignature>urn:dssd:level:B-T</dss2:ReturnAugmentedSignature>
  </dss2:OptionalInputs>
  <dss2:SignatureObject><dss2:Base64Signature MimeType="application/xml"><dsb:Value>PHNpZy8+</dsb:Value></dss2:Base64Signature></dss2:SignatureObject>
</dss2:VerifyRequest>`

func decodeVerify(t *testing.T, doc string) *VerifyRequest {
	t.Helper()
	var w VerifyRequest
	if err := NewDecoder(bytes.NewReader([]byte(doc))).Decode(&w); err != nil {
		t.Fatal(err)
	}
	return &w
}

func TestVerifyRequestFromWire(t *testing.T) {
	xsdtest.Validate(t, schemas.CoreXSD, []byte(verifyFull))
	r, err := VerifyRequestFromWire(decodeVerify(t, verifyFull))
	if err != nil {
		t.Fatal(err)
	}
	want := &dss.VerifyRequest{
		RequestID: "v-1",
		Documents: []dss.Document{{ID: "d1", RefURI: "report.pdf", HasRefURI: true, MimeType: "application/pdf", Data: []byte("hello")}},
		Signature: &dss.SignatureObject{MimeType: "application/xml", Value: []byte("<sig/>")},
		Options: dss.VerifyOptions{
			Language: "en", ClaimedIdentity: &dss.ClaimedIdentity{Name: "alice"},
			VerificationTime:           time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
			ReturnVerificationTimeInfo: true, ReturnProcessingDetails: true, ReturnSigningTimeInfo: true, ReturnSignerIdentity: true,
			ReturnAugmentedSignature: "urn:dssd:level:B-T",
			Certificates:             [][]byte{{1, 2, 3}}, CRLs: [][]byte{{4, 5, 6}}, OCSP: [][]byte{{7, 8, 9}},
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVerifyRequestUnsupportedAndBad(t *testing.T) {
	const pre = `<dss2:VerifyRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base">`
	const post = `</dss2:VerifyRequest>`
	unsupported := []struct{ body, name string }{
		{`<dss2:OptionalInputs><dss2:VerifyManifests>true</dss2:VerifyManifests></dss2:OptionalInputs>`, "VerifyManifests"},
		{`<dss2:OptionalInputs><dss2:ReturnTimestampedSignature>urn:x</dss2:ReturnTimestampedSignature></dss2:OptionalInputs>`, "ReturnTimestampedSignature"},
		{`<dss2:OptionalInputs><dss2:UseVerificationTime><dss2:Base64Content>AA==</dss2:Base64Content></dss2:UseVerificationTime></dss2:OptionalInputs>`, "UseVerificationTime/Base64Content"},
		{`<dss2:OptionalInputs><dss2:AdditionalKeyInfo><dss2:PoE><dsb:Value>AA==</dsb:Value></dss2:PoE></dss2:AdditionalKeyInfo></dss2:OptionalInputs>`, "AdditionalKeyInfo/PoE"},
		{`<dss2:OptionalInputs><dss2:AddTimestamp>urn:ietf:rfc:3161</dss2:AddTimestamp></dss2:OptionalInputs>`, "AddTimestamp"},
		{`<dss2:OptionalInputs><dss2:Nonce>1</dss2:Nonce></dss2:OptionalInputs>`, "Nonce"},
		{`<dss2:OptionalInputs><x:Foo xmlns:x="urn:x"/></dss2:OptionalInputs>`, "OptionalInputs/{urn:x}Foo"},
		{`<dss2:InputDocuments><dss2:DocumentHash><dss2:DigestInfos><dsb:DigestMethod>x</dsb:DigestMethod><dsb:DigestValue>AA==</dsb:DigestValue></dss2:DigestInfos></dss2:DocumentHash></dss2:InputDocuments>`, "DocumentHash"},
		{`<dss2:SignatureObject><dss2:SignaturePtr WhichData="a"/></dss2:SignatureObject><dss2:SignatureObject><dss2:SignaturePtr WhichData="b"/></dss2:SignatureObject>`, "SignatureObject (more than one)"},
	}
	for _, tt := range unsupported {
		r, err := VerifyRequestFromWire(decodeVerify(t, pre+tt.body+post))
		if err != nil || len(r.Unsupported) == 0 || r.Unsupported[0] != tt.name {
			t.Errorf("%s: got %v %v, want Unsupported %q", tt.body, r, err, tt.name)
		}
	}
	bad := []string{
		`<dss2:OptionalInputs><dss2:ReturnSignerIdentity>yes</dss2:ReturnSignerIdentity></dss2:OptionalInputs>`,
		`<dss2:OptionalInputs><dss2:UseVerificationTime><dss2:SpecificTime>yesterday</dss2:SpecificTime></dss2:UseVerificationTime></dss2:OptionalInputs>`,
		`<dss2:SignatureObject><dss2:Base64Signature><dsb:Value>!!</dsb:Value></dss2:Base64Signature></dss2:SignatureObject>`,
		`<dss2:SignatureObject/>`,
		`<dss2:OptionalInputs><dss2:AdditionalKeyInfo/></dss2:OptionalInputs>`,
	}
	for _, b := range bad {
		if _, err := VerifyRequestFromWire(decodeVerify(t, pre+b+post)); dss.KindOf(err) != dss.KindMalformed {
			t.Errorf("%s: got %v, want malformed", b, err)
		}
	}
	// The signer-certificate request: credential by AdditionalKeyInfo/KeyName or KeySelector.
	for _, b := range []string{
		`<dss2:OptionalInputs><dss2:AdditionalKeyInfo><dss2:KeyName>alice-rsa</dss2:KeyName></dss2:AdditionalKeyInfo><dss2:ReturnSignerIdentity>true</dss2:ReturnSignerIdentity></dss2:OptionalInputs>`,
		`<dss2:OptionalInputs><dss2:ReturnSignerIdentity>true</dss2:ReturnSignerIdentity><dss2:KeySelector><dss2:KeyName>alice-rsa</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs>`,
	} {
		r, err := VerifyRequestFromWire(decodeVerify(t, pre+b+post))
		if err != nil || r.Options.CredentialID != "alice-rsa" || !r.Options.ReturnSignerIdentity || len(r.Unsupported) != 0 {
			t.Errorf("%s: %+v %v", b, r, err)
		}
	}
}

func sampleVerifyResponse() *dss.VerifyResponse {
	t0 := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	return &dss.VerifyResponse{
		RequestID:   "v-1",
		Result:      dss.VerdictResult("TOTAL-PASSED", "", "", true, "signature sig-1 (XAdES B-T) TOTAL-PASSED: the signature is valid"),
		Other:       []dss.OtherOutput{{MimeType: "application/pkix-cert", Data: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}},
		SigningTime: &dss.SigningTimeInfo{Time: t0, Upper: &t1},
		VerificationTime: &dss.VerificationTimeInfo{Time: t1.Add(time.Hour), Additional: []dss.AdditionalTimeInfo{
			{Type: dss.TimeInfoClaimedSigningTime, Ref: "sig-1", Time: t0}, {Type: dss.TimeInfoSignatureTimestamp, Ref: "sig-1", Time: t1}}},
		ProcessingDetails: &dss.ProcessingDetails{
			Valid:         []dss.Detail{{Type: "urn:dssd:indication:TOTAL-PASSED", Message: "ok"}, {Type: "urn:dssd:scope:document", Message: "the whole document"}},
			Indeterminate: []dss.Detail{{Type: "urn:dssd:indication:INDETERMINATE", Code: "urn:dssd:subindication:TRY_LATER"}},
			Invalid:       []dss.Detail{{Type: "urn:dssd:indication:TOTAL-FAILED", Code: "urn:dssd:subindication:HASH_FAILURE", Message: "changed"}},
		},
		SignerIdentity: &dss.NameID{Value: "CN=alice", Format: dss.NameIDX509Subject},
		Augmented: []dss.AugmentedSignature{{Type: "urn:dssd:level:B-T",
			Signature: &dss.SignatureObject{MimeType: "application/xml", Value: []byte("<ds:Signature/>")}}},
	}
}

// Every VerifyResponse shape validates against the DSS-X 2.0 schema.
func TestVerifyResponsesValidate(t *testing.T) {
	for name, r := range map[string]*dss.VerifyResponse{
		"full":          sampleVerifyResponse(),
		"invalid":       {Result: dss.VerdictResult("TOTAL-FAILED", "HASH_FAILURE", "digest", true, "changed")},
		"indeterminate": {Result: dss.VerdictResult("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE", "validity", true, "expired")},
		"empty details": {Result: dss.Result{Major: dss.MajorSuccess}, ProcessingDetails: &dss.ProcessingDetails{}},
		"document":      {Result: dss.Result{Major: dss.MajorSuccess}, Augmented: []dss.AugmentedSignature{{Type: "urn:dssd:level:B-T", Document: &dss.DocumentWithSignature{WhichDoc: "d", ID: "signed-d", MimeType: "application/xml", Data: []byte("<a/>")}}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := xml.Marshal(VerifyResponseToWire(r))
			if err != nil {
				t.Fatal(err)
			}
			xsdtest.Validate(t, schemas.CoreXSD, b)
		})
	}
}

func FuzzVerifyRequestFromWire(f *testing.F) {
	f.Add([]byte(verifyFull))
	for _, n := range []string{"verify.xml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "requests", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w VerifyRequest
		if err := NewDecoder(bytes.NewReader(b)).Decode(&w); err != nil {
			return
		}
		r, err := VerifyRequestFromWire(&w)
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
