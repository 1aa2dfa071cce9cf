package verify

import (
	"context"
	"testing"

	"dssd/dss/xades"
)

// BenchmarkVerify measures one XAdES B-B enveloped signature over the 2 KB invoice with the
// revocation status given as an OCSP response (no network): gate, parse, two references,
// signature value, path and OCSP check.
func BenchmarkVerify(b *testing.B) {
	p := newPKI(b)
	invoice := readTestdata(b, "documents/invoice.xml")
	for _, tc := range []struct {
		name   string
		signer party
	}{{"rsa2048", p.rsa}, {"ecp256", p.ec}} {
		b.Run(tc.name, func(b *testing.B) {
			s := bytesOf(sign(b, tc.signer, p.chainOf(tc.signer), xades.Object{Data: invoice, XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
			in := Input{Signature: s, OCSP: [][]byte{p.ocspAt(b, tc.signer, false, testNow), p.ocspAt(b, p.ca, false, testNow)}}
			v := newVerifier(b, p, func(c *Config) { c.Revocation = nil })
			b.SetBytes(int64(len(s)))
			b.ResetTimer()
			for b.Loop() {
				rep, err := v.Verify(context.Background(), in)
				if err != nil || rep.Signatures[0].Indication != TotalPassed {
					b.Fatalf("%v %+v", err, rep)
				}
			}
		})
	}
}
