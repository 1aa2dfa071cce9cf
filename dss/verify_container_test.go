package dss

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestVerifyContainerInjection reproduces the container attack of issue 10: an <amount>
// element injected into each container of a dssd-produced enveloped signature (which dssd puts
// first under the root, so a client reading the first <amount> reads the attacker's). None is
// valid:signature:OnAllDocuments, and the message names the container.
func TestVerifyContainerInjection(t *testing.T) {
	f, signed := signedInvoice(t)
	doc := string(signed)
	const amount = `<amount>1000000.00</amount>`
	// insertAfter puts s right after the first match of the start tag pattern.
	insertAfter := func(pattern, s string) string {
		t.Helper()
		loc := regexp.MustCompile(pattern).FindStringIndex(doc)
		if loc == nil {
			t.Fatalf("no %s in the signed document", pattern)
		}
		return doc[:loc[1]] + s + doc[loc[1]:]
	}
	insertBefore := func(pattern, s string) string {
		t.Helper()
		loc := regexp.MustCompile(pattern).FindStringIndex(doc)
		if loc == nil {
			t.Fatalf("no %s in the signed document", pattern)
		}
		return doc[:loc[0]] + s + doc[loc[0]:]
	}
	tests := []struct {
		name, doc, want string
	}{
		{"ds:KeyInfo", insertAfter(`<ds:KeyInfo[^>]*>`, amount), "ds:KeyInfo holds the element \"amount\""},
		{"ds:X509Data", insertAfter(`<ds:X509Data[^>]*>`, amount), "ds:X509Data holds the element \"amount\""},
		{"ds:Object of QualifyingProperties", insertAfter(`<ds:Object[^>]*>`, amount), "the ds:Object holding QualifyingProperties holds the element \"amount\""},
		{"xades:SignedProperties", insertAfter(`<xades:SignedProperties[^>]*>`, amount), "signed-properties"},
		{"xades:UnsignedProperties", insertBefore(`</xades:QualifyingProperties>`, `<xades:UnsignedProperties>`+amount+`</xades:UnsignedProperties>`),
			"xades:UnsignedProperties holds the element \"amount\""},
		{"xades:UnsignedSignatureProperties", insertBefore(`</xades:QualifyingProperties>`,
			`<xades:UnsignedProperties><xades:UnsignedSignatureProperties>`+amount+`</xades:UnsignedSignatureProperties></xades:UnsignedProperties>`),
			"xades:UnsignedSignatureProperties holds the element \"amount\""},
		{"new ds:Object", insertBefore(`</ds:Signature>`, `<ds:Object Id="o2">`+amount+`</ds:Object>`), "#o2 covered by no Reference"},
		{"text in ds:KeyInfo", insertAfter(`<ds:KeyInfo[^>]*>`, `1000000.00`), "ds:KeyInfo holds text"},
	}
	check := func(t *testing.T, b []byte) *VerifyResponse {
		t.Helper()
		vr, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: b}},
			Options: VerifyOptions{VerificationTime: time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		return vr
	}
	if vr := check(t, signed); vr.Result.Minor != MinorValidOnAllDocuments {
		t.Fatalf("intact signature: %s (%s)", vr.Result.Minor, vr.Result.Message)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.doc == doc {
				t.Fatal("nothing injected")
			}
			vr := check(t, []byte(tt.doc))
			if vr.Result.Minor == MinorValidOnAllDocuments || !strings.Contains(vr.Result.Message, tt.want) {
				t.Fatalf("got %s: %s; want a verdict naming %q", vr.Result.Minor, vr.Result.Message, tt.want)
			}
		})
	}
}
