package dss

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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

// TestVerifyReturnTransformedDocument: ReturnTransformedDocument gives exactly the octets each
// Reference's digest covers (their SHA-256 is the signed DigestValue), only for a Reference
// whose digest matched, and says so for the others.
func TestVerifyReturnTransformedDocument(t *testing.T) {
	f, signed := signedInvoice(t)
	var digests []string
	for _, m := range regexp.MustCompile(`<ds:DigestValue>([^<]+)</ds:DigestValue>`).FindAllStringSubmatch(string(signed), -1) {
		digests = append(digests, m[1])
	}
	if len(digests) < 2 {
		t.Fatalf("%d References in the signed document", len(digests))
	}
	req := func(b []byte) *VerifyResponse {
		t.Helper()
		vr, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: b}},
			Options: VerifyOptions{VerificationTime: time.Now(), ReturnTransformedDocuments: []int{1, 2, 9, 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return vr
	}
	vr := req(signed)
	if vr.Result.Minor != MinorValidOnAllDocuments || len(vr.Transformed) != 2 {
		t.Fatalf("%s: %s; %d transformed documents", vr.Result.Minor, vr.Result.Message, len(vr.Transformed))
	}
	for i, td := range vr.Transformed {
		sum := sha256.Sum256(td.Data)
		if td.WhichReference != i+1 || base64.StdEncoding.EncodeToString(sum[:]) != digests[i] {
			t.Errorf("reference %d: the returned octets do not digest to the signed DigestValue", td.WhichReference)
		}
	}
	if !strings.Contains(string(vr.Transformed[0].Data), "<amount") && !strings.Contains(string(vr.Transformed[0].Data), "Invoice") {
		t.Errorf("reference 1 octets: %.200s", vr.Transformed[0].Data)
	}
	if !strings.Contains(vr.Result.Message, "no TransformedDocument for reference 9") {
		t.Errorf("message: %s", vr.Result.Message)
	}
	// A changed document: its first Reference no longer matches, nothing of it is returned.
	changed := []byte(strings.Replace(string(signed), "10.00", "99.00", 1))
	if string(changed) == string(signed) {
		t.Fatal("nothing changed")
	}
	if vr := req(changed); vr.Result.Minor != MinorIncorrectSignature || len(vr.Transformed) != 0 {
		t.Fatalf("changed document: %s, %d transformed documents", vr.Result.Minor, len(vr.Transformed))
	}
}
