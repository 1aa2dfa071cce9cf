package dss

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// enveloping signs text as an enveloping XAdES signature and configures verification to trust
// the fixture's self-signed certificate.
func enveloping(t *testing.T, text string) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	resp, err := f.svc.Sign(context.Background(), alice, &SignRequest{
		Documents: []Document{{ID: "d", MimeType: "text/plain", Data: []byte(text)}},
		Options:   SignOptions{CredentialID: "alice-rsa", IncludeObjects: []IncludeObject{{WhichData: "d", CreateReference: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	sig := string(resp.Signatures[0].Value)
	if strings.HasPrefix(sig, "<?xml") {
		sig = sig[strings.Index(sig, "?>")+2:]
	}
	f.svc.ConfigureVerify(VerifyConfig{Anchors: []*x509.Certificate{f.svc.dir.Credential("alice-rsa").Chain[0]}})
	return f, sig
}

// TestVerifyWrappedContentIsNotAllDocuments: a valid signature next to content it does not sign
// (hardening.md §2.1) is never reported as covering all documents, and the reason is given.
func TestVerifyWrappedContentIsNotAllDocuments(t *testing.T) {
	f, sig := enveloping(t, "pay 10 EUR to Bob")
	i := strings.Index(sig, "<ds:Object")
	if i < 0 {
		t.Fatal("no ds:Object in the enveloping signature")
	}
	tests := []struct {
		name string
		req  VerifyRequest
		want string
	}{
		{"intact signature alone", VerifyRequest{Signature: &SignatureObject{MimeType: "application/xml", Value: []byte(sig)}}, ""},
		{"enveloping signature inside a fake document", VerifyRequest{Documents: []Document{{ID: "inv", Data: []byte(
			`<inv:Invoice xmlns:inv="urn:example:invoice"><inv:Total>1000000.00</inv:Total><inv:PayTo>Mallory</inv:PayTo>` + sig + `</inv:Invoice>`)}}},
			"does not sign the document that holds it"},
		{"unreferenced ds:Object injected", VerifyRequest{Signature: &SignatureObject{MimeType: "application/xml", Value: []byte(
			sig[:i] + `<ds:Object Id="fake" MimeType="text/plain" Encoding="http://www.w3.org/2000/09/xmldsig#base64">cGF5IDEwMDAwMDAgRVVSIHRvIE1hbGxvcnk=</ds:Object>` + sig[i:])}},
			"#fake covered by no Reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Options = VerifyOptions{VerificationTime: time.Now()}
			vr, err := f.svc.Verify(context.Background(), alice, &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if vr.Result.Minor != MinorValidOnAllDocuments {
					t.Fatalf("intact signature: %s (%s)", vr.Result.Minor, vr.Result.Message)
				}
				return
			}
			if vr.Result.Minor == MinorValidOnAllDocuments || !strings.Contains(vr.Result.Message, tt.want) {
				t.Fatalf("got %s: %s; want a partial verdict saying %q", vr.Result.Minor, vr.Result.Message, tt.want)
			}
		})
	}
}

// TestVerifySignerIdentityOnlyWhenValid: SignerIdentity is not returned for a failed signature.
func TestVerifySignerIdentityOnlyWhenValid(t *testing.T) {
	f, signed := signedInvoice(t)
	bad := []byte(strings.Replace(string(signed), "10.00", "99.00", 1))
	vr, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: bad}},
		Options: VerifyOptions{VerificationTime: time.Now(), ReturnSignerIdentity: true}})
	if err != nil {
		t.Fatal(err)
	}
	if vr.Result.Minor != MinorIncorrectSignature {
		t.Fatalf("tampered invoice: %s", vr.Result.Minor)
	}
	if vr.SignerIdentity != nil {
		t.Errorf("SignerIdentity %q returned for a signature that failed", vr.SignerIdentity.Value)
	}
}
