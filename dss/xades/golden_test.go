package xades

import (
	"bytes"
	"crypto"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// maskSignatureValue replaces the (randomized) ECDSA and PSS signature value.
var svPattern = regexp.MustCompile(`<ds:SignatureValue>[^<]*</ds:SignatureValue>`)

// TestGolden pins the exact output for a fixed clock, signature Id and keys.
// RSA PKCS#1 v1.5 is deterministic, so those files are byte-exact; for ECDSA
// and PSS the SignatureValue is masked (the signature itself is verified).
// Regenerate with: go test ./dss/xades -run TestGolden -update
func TestGolden(t *testing.T) {
	ks := loadKeys(t)
	invoice := readDoc(t, "invoice.xml")
	blob := binaryData()
	ns := map[string]string{"i": "urn:example:invoice:1", "c": "urn:example:aggregate:1"}
	tests := []struct {
		name  string
		key   *testKey
		obj   Object
		p     Params
		masks bool
	}{
		{"xades-enveloped-rsa-sha256", ks.rsa, Object{ID: "doc-1", Data: invoice, XML: true, XPath: "/i:Invoice/c:Totals", After: true, Namespaces: ns},
			Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256}, false},
		{"xmldsig-enveloped-rsa-sha512-c14n11", ks.rsa, Object{Data: readDoc(t, "mixed.xml"), XML: true, XPath: "/*"},
			Params{Type: TypeXMLDSig, Packaging: Enveloped, SignatureMethod: RSASHA512, DigestHash: crypto.SHA512, C14N: C14N11}, false},
		{"xades-enveloping-xml-rsa-sha384", ks.rsa, Object{ID: "doc-1", Data: readDoc(t, "default-ns.xml"), XML: true},
			Params{Type: TypeXAdES, Packaging: Enveloping, SignatureMethod: RSASHA384}, false},
		{"xmldsig-enveloping-binary-rsa-sha256", ks.rsa, Object{ID: "doc 1", Data: blob, MimeType: "application/pdf", ObjID: "payload"},
			Params{Type: TypeXMLDSig, Packaging: Enveloping, SignatureMethod: RSASHA256}, false},
		{"xades-detached-ecdsa-p256-sha256", ks.p256, Object{ID: "doc-1", Data: blob, URI: "https://example.org/doc.pdf", RefType: "urn:example:type", MimeType: "application/pdf"},
			Params{Type: TypeXAdES, Packaging: Detached, SignatureMethod: ECDSASHA256}, true},
		{"xades-hash-pss-sha256", ks.rsa, Object{ID: "h-1", Digest: digest(crypto.SHA256, blob), DigestHash: crypto.SHA256, URI: "doc.pdf"},
			Params{Type: TypeXAdES, Packaging: Detached, SignatureMethod: RSAPSSSHA256}, true},
		{"xades-enveloped-ecdsa-p384", ks.p384, Object{Data: readDoc(t, "prefixed-root.xml"), XML: true},
			Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: ECDSASHA384, DigestHash: crypto.SHA384}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Signer, p.Chain, p.SigningTime, p.SignatureID = tt.key.signer, tt.key.chain(), fixedTime(), "sig-"+strings.ReplaceAll(tt.name, "-", "")[:8]
			s, err := Sign(tt.obj, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(s, tt.obj, tt.key.cert); err != nil {
				t.Fatal(err)
			}
			got := s.Signature
			if got == nil {
				got = append(append([]byte("<!-- XPath: "+s.XPath+" -->\n"), s.Document...), '\n')
			}
			if tt.masks {
				got = svPattern.ReplaceAll(got, []byte(`<ds:SignatureValue>MASKED</ds:SignatureValue>`))
			} else {
				// Deterministic: a second run gives the same bytes.
				s2, err := Sign(tt.obj, p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(s.Signature, s2.Signature) || !bytes.Equal(s.Document, s2.Document) {
					t.Fatal("two signatures with the same inputs differ")
				}
			}
			compareGolden(t, filepath.Join("testdata", "golden", tt.name+".xml"), got)
		})
	}
}

// compareGolden compares got with the golden file (with -update, writes it instead) and
// reports whether the file was compared and equal.
func compareGolden(t *testing.T, file string, got []byte) bool {
	t.Helper()
	if *update {
		writeFile(t, file, got)
		return false
	}
	if want := readFile(t, file); !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update after reviewing):\ngot:\n%s\nwant:\n%s", file, got, want)
		return false
	}
	return true
}

func readFile(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	return b
}

// TestPrecheckedInput: a document Precheck parsed is signed as it was parsed, with the bytes
// of a fresh parse; the tree is used once, and never for other bytes or other limits.
func TestPrecheckedInput(t *testing.T) {
	ks := loadKeys(t)
	ns := map[string]string{"i": "urn:example:invoice:1", "c": "urn:example:aggregate:1"}
	for _, pk := range []Packaging{Enveloped, Enveloping} {
		obj := Object{ID: "doc-1", Data: readDoc(t, "invoice.xml"), XML: true}
		if pk == Enveloped {
			obj.XPath, obj.After, obj.Namespaces = "/i:Invoice/c:Totals", true, ns
		}
		p := Params{Type: TypeXAdES, Packaging: pk, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(),
			SigningTime: fixedTime(), SignatureID: "sig-pre"}
		want, err := Sign(obj, p)
		if err != nil {
			t.Fatal(err)
		}
		in, err := Precheck(obj, pk, 0)
		if err != nil || in == nil {
			t.Fatalf("%v: Precheck: %v, %v", pk, in, err)
		}
		pre := obj
		pre.Parsed = in
		for i := range 2 { // the second Build parses anew
			got, err := Sign(pre, p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytesOf(got), bytesOf(want)) || got.XPath != want.XPath {
				t.Fatalf("%v, build %d: the prechecked tree signs other bytes", pk, i)
			}
		}
		if !in.used {
			t.Fatalf("%v: Build did not take the prechecked tree", pk)
		}
		for _, other := range []struct {
			name string
			obj  Object
			p    Params
		}{
			{"other bytes", Object{ID: "doc-1", Data: bytes.Clone(obj.Data), XML: true, XPath: obj.XPath, After: obj.After, Namespaces: ns, Parsed: &Input{data: obj.Data, doc: in.doc}}, p},
			{"other limits", Object{ID: "doc-1", Data: obj.Data, XML: true, XPath: obj.XPath, After: obj.After, Namespaces: ns, Parsed: &Input{data: obj.Data, maxDoc: 1 << 20, doc: in.doc}}, p},
		} {
			if _, err := Build(other.obj, other.p); err != nil {
				t.Fatal(err)
			}
			if other.obj.Parsed.used {
				t.Errorf("%v, %s: the prechecked tree was used", pk, other.name)
			}
		}
	}
}
