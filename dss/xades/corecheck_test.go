package xades

import (
	"bytes"
	"crypto"
	"errors"
	"testing"

	"dssd/dss/xmldsig"
)

// TestCoreCheck: what Sign produces passes the XMLDSig core's check (xmldsig.Env.Check, the
// computation dss/verify runs, without its policy) for each packaging, and a changed
// DigestValue or SignatureValue fails it.
func TestCoreCheck(t *testing.T) {
	ks := loadKeys(t)
	blob := binaryData()
	tests := []struct {
		name string
		key  *testKey
		obj  Object
		p    Params
	}{
		{"enveloped", ks.rsa, Object{Data: readDoc(t, "invoice.xml"), XML: true}, Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256}},
		{"enveloped-c14n11", ks.p384, Object{Data: readDoc(t, "mixed.xml"), XML: true, XPath: "/*"},
			Params{Type: TypeXMLDSig, Packaging: Enveloped, SignatureMethod: ECDSASHA384, DigestHash: crypto.SHA384, C14N: C14N11}},
		{"enveloping-xml", ks.p256, Object{ID: "d", Data: readDoc(t, "default-ns.xml"), XML: true}, Params{Type: TypeXAdES, Packaging: Enveloping, SignatureMethod: ECDSASHA256}},
		{"enveloping-binary", ks.rsa, Object{ID: "d", Data: blob}, Params{Type: TypeXAdES, Packaging: Enveloping, SignatureMethod: RSAPSSSHA256}},
		{"detached", ks.rsa, Object{ID: "d", Data: blob, URI: "doc.pdf"}, Params{Type: TypeXAdES, Packaging: Detached, SignatureMethod: RSASHA512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Signer, p.Chain, p.SigningTime, p.SignatureID = tt.key.signer, tt.key.chain(), fixedTime(), "sig-1"
			s, err := Sign(tt.obj, p)
			if err != nil {
				t.Fatal(err)
			}
			out := s.Signature
			if out == nil {
				out = s.Document
			}
			check := func(b []byte) error {
				doc, err := parseSigned(b, 0)
				if err != nil {
					return err
				}
				ids := xmldsig.IndexIDs(doc.Root())
				el, err := ids.Lookup("sig-1")
				if err != nil {
					return err
				}
				sig, err := xmldsig.ParseSignature(el, xmldsig.DefaultLimits())
				if err != nil {
					return err
				}
				env := &xmldsig.Env{Doc: doc, IDs: ids, Detached: func(r *xmldsig.Reference) ([]byte, error) {
					if r.URI != tt.obj.URI {
						return nil, errors.New("unknown detached data")
					}
					return tt.obj.Data, nil
				}}
				return env.Check(sig, tt.key.cert.PublicKey)
			}
			if err := check(out); err != nil {
				t.Fatalf("the core refuses Sign's output: %v", err)
			}
			// A changed DigestValue of the first Reference (the data object's).
			i := bytes.Index(out, []byte("<ds:DigestValue>")) + len("<ds:DigestValue>")
			bad := bytes.Clone(out)
			bad[i] = other(out[i])
			if check(bad) == nil {
				t.Fatal("a changed DigestValue passes the core's check")
			}
			var prob *xmldsig.Problem
			if err := check(bad); !errors.As(err, &prob) || prob.Class != xmldsig.Mismatch {
				t.Fatalf("a changed DigestValue: %v, want a Mismatch", err)
			}
			j := bytes.Index(out, []byte("<ds:SignatureValue>")) + len("<ds:SignatureValue>") + 4
			bad = bytes.Clone(out)
			bad[j] = other(out[j])
			if check(bad) == nil {
				t.Fatal("a changed SignatureValue passes the core's check")
			}
		})
	}
}

// other returns a base64 character other than c.
func other(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}
