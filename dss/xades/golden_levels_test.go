package xades

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// levelFixtures are the fixed inputs of the unsigned properties: tokens and revocation values
// are DER SEQUENCEs this package embeds as they are (it never looks inside them), the
// certificates are the deterministic test PKI's.
type levelFixtures struct {
	sigToken, arcToken       []byte
	certs, ocsps, crls       [][]byte // B-LT: the signer's chain, the timestamp authority's
	tsvCerts, tsvOCSPs       [][]byte // B-LTA: the archive authority's (some already embedded)
	presentCerts, presentOCS [][]byte // values already embedded: AddTimestampValidationData adds nothing
}

func fixedDER(t testing.TB, what string) []byte {
	t.Helper()
	b, err := asn1.Marshal(struct {
		What string
		N    int
	}{what, len(what)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newLevelFixtures(t testing.TB, ks *testKeys) *levelFixtures {
	return &levelFixtures{
		sigToken:     fixedDER(t, "signature timestamp token"),
		arcToken:     fixedDER(t, "archive timestamp token"),
		certs:        [][]byte{ks.rsa.cert.Raw, ks.ca.Raw, ks.p384.cert.Raw, ks.ca.Raw},
		ocsps:        [][]byte{fakeOCSP(t, 1), fakeOCSP(t, 2), fakeOCSP(t, 1)},
		crls:         [][]byte{testCRL(t, ks)},
		tsvCerts:     [][]byte{ks.other.cert.Raw, ks.ca.Raw},
		tsvOCSPs:     [][]byte{fakeOCSP(t, 3), fakeOCSP(t, 2)},
		presentCerts: [][]byte{ks.ca.Raw},
		presentOCS:   [][]byte{fakeOCSP(t, 1)},
	}
}

// goldenLevel is what one way of producing a signature at a level yields: the output and the
// inputs of the timestamps it requested (nil when the level has none).
type goldenLevel struct {
	out, sigIn, arcIn []byte
}

// levelSteps are the steps of raising a signature: a Tree takes them in place; bytesSteps
// takes them through the bytes API, where every step parses the bytes of the previous one.
type levelSteps interface {
	SignatureTimestampInput() ([]byte, error)
	AddSignatureTimestamp(token []byte) error
	AddValidationData(certs, ocsps, crls [][]byte) error
	ArchiveTimestampInput(detached map[string][]byte) ([]byte, error)
	AddArchiveTimestamp(token []byte) error
	AddTimestampValidationData(certs, ocsps, crls [][]byte) (bool, error)
	Bytes() (*Signed, error)
}

type bytesSteps struct{ s *Signed }

func (b *bytesSteps) SignatureTimestampInput() ([]byte, error) { return SignatureTimestampInput(b.s) }
func (b *bytesSteps) AddSignatureTimestamp(token []byte) (err error) {
	b.s, err = AddSignatureTimestamp(b.s, token)
	return err
}
func (b *bytesSteps) AddValidationData(certs, ocsps, crls [][]byte) (err error) {
	b.s, err = AddValidationData(b.s, certs, ocsps, crls)
	return err
}
func (b *bytesSteps) ArchiveTimestampInput(detached map[string][]byte) ([]byte, error) {
	return ArchiveTimestampInput(b.s, detached)
}
func (b *bytesSteps) AddArchiveTimestamp(token []byte) (err error) {
	b.s, err = AddArchiveTimestamp(b.s, token)
	return err
}
func (b *bytesSteps) AddTimestampValidationData(certs, ocsps, crls [][]byte) (bool, error) {
	s, err := AddTimestampValidationData(b.s, certs, ocsps, crls)
	if err != nil {
		return false, err
	}
	added := !bytes.Equal(bytesOf(s), bytesOf(b.s))
	b.s = s
	return added, nil
}
func (b *bytesSteps) Bytes() (*Signed, error) { return b.s, nil }

// raiseBytes produces the signature at level (0 B-B … 3 B-LTA) through the bytes API, in the
// order dss.applyLevel calls it.
func raiseBytes(t *testing.T, obj Object, p Params, level int, fx *levelFixtures) goldenLevel {
	t.Helper()
	s, err := Sign(obj, p)
	if err != nil {
		t.Fatal(err)
	}
	return raiseSteps(t, &bytesSteps{s}, obj, p, level, fx)
}

// raiseTree produces the signature at level on one Tree, serialised once at the end: what
// dss does for a signature it makes.
func raiseTree(t *testing.T, obj Object, p Params, level int, fx *levelFixtures) goldenLevel {
	t.Helper()
	tr, err := Build(obj, p)
	if err != nil {
		t.Fatal(err)
	}
	return raiseSteps(t, tr, obj, p, level, fx)
}

func raiseSteps(t *testing.T, st levelSteps, obj Object, p Params, level int, fx *levelFixtures) goldenLevel {
	t.Helper()
	var g goldenLevel
	var err error
	if level >= 1 {
		if g.sigIn, err = st.SignatureTimestampInput(); err != nil {
			t.Fatal(err)
		}
		if err = st.AddSignatureTimestamp(fx.sigToken); err != nil {
			t.Fatal(err)
		}
	}
	if level >= 2 {
		if err = st.AddValidationData(fx.certs, fx.ocsps, fx.crls); err != nil {
			t.Fatal(err)
		}
	}
	if level >= 3 {
		var detached map[string][]byte
		if obj.Data != nil {
			detached = map[string][]byte{obj.URI: obj.Data}
		}
		if g.arcIn, err = st.ArchiveTimestampInput(detached); err != nil {
			t.Fatal(err)
		}
		if err = st.AddArchiveTimestamp(fx.arcToken); err != nil {
			t.Fatal(err)
		}
		if added, err := st.AddTimestampValidationData(fx.presentCerts, fx.presentOCS, nil); err != nil || added {
			t.Fatalf("values already embedded: added %v, %v", added, err)
		}
		if added, err := st.AddTimestampValidationData(fx.tsvCerts, fx.tsvOCSPs, nil); err != nil || !added {
			t.Fatalf("new values: added %v, %v", added, err)
		}
	}
	s, err := st.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(s, obj, p.Chain[0]); err != nil {
		t.Fatal(err)
	}
	g.out = s.Signature
	if g.out == nil {
		g.out = append(append([]byte("<!-- XPath: "+s.XPath+" -->\n"), s.Document...), '\n')
	}
	return g
}

var levelNames = []string{"B-B", "B-T", "B-LT", "B-LTA"}

// TestGoldenLevels pins the exact bytes of B-B, B-T, B-LT and B-LTA signatures, enveloped,
// enveloping (XML and binary) and detached, plain XMLDSig and hash signing, for a fixed clock,
// signature Id, key (RSA PKCS#1 v1.5: deterministic) and fixed tokens and validation data,
// with the SHA-256 of each timestamp input. For ECDSA the SignatureValue, and with it the
// timestamp inputs, are random: the file masks them. These files are the proof that a change
// of how signatures are built leaves the bytes as they were: the files were written by the
// code that parsed and serialised at every step (the bytes API, still used to augment a
// signature that exists only as bytes), and both that path and one Tree serialised once must
// reproduce them.
// Regenerate (after review) with: go test ./dss/xades -run TestGolden -update
func TestGoldenLevels(t *testing.T) {
	ks := loadKeys(t)
	fx := newLevelFixtures(t, ks)
	invoice := readDoc(t, "invoice.xml")
	ns := map[string]string{"i": "urn:example:invoice:1", "c": "urn:example:aggregate:1"}
	xp := func(typ string, pk Packaging) Params {
		return Params{Type: typ, Packaging: pk, SignatureMethod: RSASHA256}
	}
	tests := []struct {
		name  string
		key   *testKey
		obj   Object
		p     Params
		max   int
		masks bool
	}{
		{"enveloped", ks.rsa, Object{ID: "doc-1", Data: invoice, XML: true, XPath: "/i:Invoice/c:Totals", After: true, Namespaces: ns}, xp(TypeXAdES, Enveloped), 3, false},
		{"enveloped-last", ks.rsa, Object{Data: readDoc(t, "mixed.xml"), XML: true}, xp(TypeXAdES, Enveloped), 3, false},
		{"enveloping-xml", ks.rsa, Object{ID: "doc-1", Data: readDoc(t, "default-ns.xml"), XML: true}, xp(TypeXAdES, Enveloping), 3, false},
		{"enveloping-binary", ks.rsa, Object{ID: "doc 1", Data: binaryData(), MimeType: "application/pdf", ObjID: "payload"}, xp(TypeXAdES, Enveloping), 3, false},
		{"detached", ks.rsa, Object{ID: "doc-1", Data: binaryData(), URI: "https://example.org/doc.pdf", RefType: "urn:example:type", MimeType: "application/pdf"}, xp(TypeXAdES, Detached), 3, false},
		{"hash", ks.rsa, Object{ID: "h-1", Digest: digest(crypto.SHA256, binaryData()), DigestHash: crypto.SHA256, URI: "doc.pdf"}, xp(TypeXAdES, Detached), 2, false},
		{"xmldsig-enveloped", ks.rsa, Object{Data: invoice, XML: true}, xp(TypeXMLDSig, Enveloped), 0, false},
		{"xmldsig-enveloping-binary", ks.rsa, Object{Data: binaryData()}, xp(TypeXMLDSig, Enveloping), 0, false},
		{"xmldsig-detached", ks.rsa, Object{Data: binaryData(), URI: "d.bin"}, xp(TypeXMLDSig, Detached), 0, false},
		{"enveloped-ecdsa-p256", ks.p256, Object{ID: "doc-1", Data: invoice, XML: true}, Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: ECDSASHA256}, 3, true},
		{"detached-ecdsa-p256", ks.p256, Object{Data: binaryData(), URI: "d.bin"}, Params{Type: TypeXAdES, Packaging: Detached, SignatureMethod: ECDSASHA256}, 3, true},
	}
	dir := filepath.Join("testdata", "golden", "levels")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		for level := 0; level <= tt.max; level++ {
			name := fmt.Sprintf("%s-%s", tt.name, levelNames[level])
			t.Run(name, func(t *testing.T) {
				p := tt.p
				p.Signer, p.Chain, p.SigningTime, p.SignatureID = tt.key.signer, tt.key.chain(), fixedTime(), "sig-golden"
				file := filepath.Join(dir, name+".xml")
				if !compareGolden(t, file, goldenBytes(raiseBytes(t, tt.obj, p, level, fx), tt.masks)) {
					return
				}
				if got, want := goldenBytes(raiseTree(t, tt.obj, p, level, fx), tt.masks), readFile(t, file); !bytes.Equal(got, want) {
					t.Errorf("one tree: output differs from %s:\ngot:\n%s\nwant:\n%s", file, got, want)
				}
			})
		}
	}
}

// goldenBytes is the content of a golden file: the SHA-256 of the timestamp inputs, then the
// output; with masks, the SignatureValue is masked and the inputs (which cover it) left out.
func goldenBytes(g goldenLevel, masks bool) []byte {
	var b bytes.Buffer
	in := func(what string, data []byte) {
		if data == nil {
			return
		}
		if masks {
			fmt.Fprintf(&b, "<!-- %s timestamp input: covers the SignatureValue (masked) -->\n", what)
			return
		}
		fmt.Fprintf(&b, "<!-- %s timestamp input sha256: %s -->\n", what, hex.EncodeToString(digest(crypto.SHA256, data)))
	}
	in("signature", g.sigIn)
	in("archive", g.arcIn)
	out := g.out
	if masks {
		out = svPattern.ReplaceAll(out, []byte(`<ds:SignatureValue>MASKED</ds:SignatureValue>`))
	}
	b.Write(out)
	return b.Bytes()
}
