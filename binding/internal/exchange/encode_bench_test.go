package exchange

import (
	"testing"

	"dssd/binding/internal/xmlwire"
	"dssd/dss"
)

// BenchmarkEncode measures the encoding of a SignResponse with one signature (the shape of
// the answer to soap12-sign-enveloped.xml) and of a generic error Response.
func BenchmarkEncode(b *testing.B) {
	sign := xmlwire.SignResponseToWire(&dss.SignResponse{RequestID: "req-enveloped",
		Result: dss.Result{Major: dss.MajorSuccess}, AppliedProfiles: []string{"urn:dssd:level:B-B"},
		DocumentsWithSignature: []dss.DocumentWithSignature{{WhichDoc: "doc-1", ID: "signed-doc-1",
			MimeType: "application/xml", Data: make([]byte, 2048)}},
		Signatures: []dss.SignatureObject{{WhichDoc: "doc-1",
			Ptr: &dss.SignaturePtr{WhichData: "signed-doc-1", XPath: "/*/*[local-name()='Signature']"}}}})
	fail := xmlwire.ErrorResponse(xmlwire.OpSign, "r-1", dss.Result{Major: dss.MajorRequesterError,
		Minor: dss.MinorMalformed, Message: "the SignRequest element cannot be parsed", ProblemReference: "0123456789abcdef"})
	for _, c := range []struct {
		name string
		v    any
	}{{"sign", sign}, {"error", fail}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, err := Encode("<p>", c.v, "</p>")
				if err != nil {
					b.Fatal(err)
				}
				e.Release()
			}
		})
	}
}
