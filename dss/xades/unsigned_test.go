//go:build e2e

package xades

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss/xades/interop"
	"dssd/dss/xmlsafe"
	"dssd/internal/testkit/xadestest"

	"github.com/beevik/etree"
)

// levelSet is one signature raised to B-T, B-LT and B-LTA, with the tokens and the digests
// they were requested for.
type levelSet struct {
	name        string
	key         *testKey
	obj         Object
	p           Params
	bt, blt, ba *Signed
	sigTS, arTS []byte // tokens
	sigIn, arIn []byte // timestamp inputs
}

// raise builds the three levels over a fresh B-B signature, the way dss.applyLevel does,
// with real tokens from tsa (signature timestamp) and atsa (archive timestamp).
func raise(t *testing.T, ls *levelSet, tsa, atsa *xadestest.TSA, crl []byte) {
	t.Helper()
	ctx := context.Background()
	bb, err := Sign(ls.obj, ls.p)
	if err != nil {
		t.Fatalf("%s: Sign: %v", ls.name, err)
	}
	if ls.sigIn, err = SignatureTimestampInput(bb); err != nil {
		t.Fatal(err)
	}
	if ls.sigTS, err = tsa.Timestamp(ctx, crypto.SHA256, sha256Of(ls.sigIn)); err != nil {
		t.Fatal(err)
	}
	if ls.bt, err = AddSignatureTimestamp(bb, ls.sigTS); err != nil {
		t.Fatalf("%s: AddSignatureTimestamp: %v", ls.name, err)
	}
	var certs [][]byte
	for _, c := range append(ls.key.chain(), tsa.Cert, tsa.CA, ls.key.ca) { // the CA twice: written once
		certs = append(certs, c.Raw)
	}
	if ls.blt, err = AddValidationData(ls.bt, certs, [][]byte{fakeOCSP(t, 1), fakeOCSP(t, 2), fakeOCSP(t, 1)}, [][]byte{crl}); err != nil {
		t.Fatalf("%s: AddValidationData: %v", ls.name, err)
	}
	detached := map[string][]byte{}
	if ls.p.Packaging == Detached {
		detached[ls.obj.URI] = ls.obj.Data
	}
	if ls.arIn, err = ArchiveTimestampInput(ls.blt, detached); err != nil {
		t.Fatalf("%s: ArchiveTimestampInput: %v", ls.name, err)
	}
	if ls.arTS, err = atsa.Timestamp(ctx, crypto.SHA256, sha256Of(ls.arIn)); err != nil {
		t.Fatal(err)
	}
	ats, err := AddArchiveTimestamp(ls.blt, ls.arTS)
	if err != nil {
		t.Fatalf("%s: AddArchiveTimestamp: %v", ls.name, err)
	}
	// The archive TSA's chain: its CA is new, its certificate too; the OCSP response 2 is
	// already embedded and is left out.
	if ls.ba, err = AddTimestampValidationData(ats, [][]byte{atsa.Cert.Raw, atsa.CA.Raw, ls.key.ca.Raw}, [][]byte{fakeOCSP(t, 3), fakeOCSP(t, 2)}, nil); err != nil {
		t.Fatalf("%s: AddTimestampValidationData: %v", ls.name, err)
	}
}

func levelCases(ks *testKeys, invoice []byte) []*levelSet {
	var out []*levelSet
	for _, k := range []*testKey{ks.rsa, ks.p256} {
		alg := RSASHA256
		if k == ks.p256 {
			alg = ECDSASHA256
		}
		for _, c := range []struct {
			name string
			obj  Object
			pk   Packaging
		}{
			{"enveloped", Object{Data: invoice, XML: true}, Enveloped},
			{"enveloping-xml", Object{Data: invoice, XML: true}, Enveloping},
			{"enveloping-binary", Object{Data: binaryData()}, Enveloping},
			{"detached", Object{Data: binaryData(), URI: "data.bin"}, Detached},
		} {
			out = append(out, &levelSet{
				name: c.name + "-" + k.name, key: k, obj: c.obj,
				p: Params{Type: TypeXAdES, Packaging: c.pk, SignatureMethod: alg, Signer: k.signer, Chain: k.chain(),
					SigningTime: fixedTime(), SignatureID: "sig-" + c.name},
			})
		}
	}
	return out
}

// TestLevels raises enveloped, enveloping and detached RSA and EC signatures to B-T, B-LT and
// B-LTA with real tokens, and checks every level: Check still passes, the ingress gate accepts
// the output, each token verifies with openssl ts -verify against the digest of its input,
// the structure is what EN 319 132-1 asks, the XAdES parts validate against the 1.3.2 and
// 1.4.1 schemas, an independent implementation (lxml's libxml2 c14n) recomputes both
// timestamp inputs, and xmlsec1, Santuario, the JDK and xadesjs accept every signature and
// reject a tampered copy.
func TestLevels(t *testing.T) {
	t.Parallel()
	xadestest.Require(t)
	ks := loadKeys(t)
	tsa := xadestest.NewTSA(t, "dssd test TSA", true)
	atsa := xadestest.NewTSA(t, "dssd test archive TSA", false)
	crl := testCRL(t, ks)
	dir := t.TempDir()
	invoice := readDoc(t, "invoice.xml")
	cases := levelCases(ks, invoice)

	var ps []produced
	var schemaFiles, oracle []string
	for _, ls := range cases {
		raise(t, ls, tsa, atsa, crl)
		for lvl, s := range map[string]*Signed{"B-T": ls.bt, "B-LT": ls.blt, "B-LTA": ls.ba} {
			if err := Check(s, ls.obj, ls.key.cert); err != nil {
				t.Errorf("%s %s: Check: %v", ls.name, lvl, err)
			}
			if err := xmlsafe.Check(bytesOf(s), outputLimits()); err != nil {
				t.Errorf("%s %s: the xml gate refuses the output: %v", ls.name, lvl, err)
			}
			if in, err := SignatureTimestampInput(s); err != nil || !bytes.Equal(in, ls.sigIn) {
				t.Errorf("%s %s: the signature timestamp input changed: %v", ls.name, lvl, err)
			}
		}
		if err := tsa.Verify(ls.sigTS, sha256Of(ls.sigIn)); err != nil {
			t.Errorf("%s: signature timestamp: %v", ls.name, err)
		}
		if err := atsa.Verify(ls.arTS, sha256Of(ls.arIn)); err != nil {
			t.Errorf("%s: archive timestamp: %v", ls.name, err)
		}
		if err := tsa.Verify(ls.sigTS, sha256Of(append(bytes.Clone(ls.sigIn), ' '))); err == nil {
			t.Errorf("%s: openssl ts -verify accepted a token for another imprint", ls.name)
		}
		checkStructure(t, ls)

		file := filepath.Join(dir, ls.name+".xml")
		writeFile(t, file, bytesOf(ls.ba))
		schemaFiles = append(schemaFiles, extractQP(t, dir, ls.name, bytesOf(ls.ba)))
		if ls.p.Packaging != Enveloped {
			schemaFiles = append(schemaFiles, file)
		}
		content := ""
		if ls.p.Packaging == Detached {
			content = filepath.Join(dir, ls.name+".content")
			writeFile(t, content, ls.obj.Data)
		}
		oracle = append(oracle, strings.Join([]string{ls.name, file, ls.p.SignatureID, content,
			fmt.Sprintf("%x", sha256Of(ls.sigIn)), fmt.Sprintf("%x", sha256Of(ls.arIn))}, "\t"))

		for lvl, s := range map[string]*Signed{"B-T": ls.bt, "B-LTA": ls.ba} {
			name := ls.name + " " + lvl
			f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".xml")
			writeFile(t, f, bytesOf(s))
			certFile := filepath.Join(dir, ls.key.name+".pem")
			writeFile(t, certFile, ls.key.certPEM)
			pr := produced{sigCase: sigCase{name: name}}
			pr.good = interop.Case{Name: name, File: f, Cert: certFile, XAdES: true, Alg: ls.p.SignatureMethod, SignatureID: ls.p.SignatureID}
			pr.bad = pr.good
			pr.bad.Name = name + " TAMPERED"
			switch {
			case ls.p.Packaging == Detached:
				good, bad := filepath.Join(dir, ls.name+".content"), filepath.Join(dir, ls.name+".tampered.content")
				writeFile(t, good, ls.obj.Data)
				writeFile(t, bad, flipMark(t, ls.obj.Data))
				pr.good.Detached = map[string]string{ls.obj.URI: good}
				pr.bad.Detached = map[string]string{ls.obj.URI: bad}
			case ls.p.Packaging == Enveloping && !ls.obj.XML:
				pr.bad.File = strings.TrimSuffix(f, ".xml") + ".tampered.xml"
				writeFile(t, pr.bad.File, flipBase64Object(t, bytesOf(s)))
			default:
				pr.bad.File = strings.TrimSuffix(f, ".xml") + ".tampered.xml"
				writeFile(t, pr.bad.File, flipMark(t, bytesOf(s)))
			}
			ps = append(ps, pr)
		}
	}
	validateSchemas(t, schemaFiles)
	runOracle(t, dir, oracle)
	verifyBatch(t, ps, nil)
}

// checkStructure asserts the shape of the unsigned properties of the B-LTA signature.
func checkStructure(t *testing.T, ls *levelSet) {
	t.Helper()
	tr, err := Open(ls.ba, 0)
	if err != nil {
		t.Fatal(err)
	}
	usp, err := tr.findUnsignedSignatureProperties()
	if err != nil || usp == nil {
		t.Fatalf("%s: no UnsignedSignatureProperties: %v", ls.name, err)
	}
	var names []string
	for _, c := range usp.ChildElements() {
		names = append(names, c.NamespaceURI()+c.Tag)
	}
	want := []string{NSXAdES + "SignatureTimeStamp", NSXAdES + "CertificateValues", NSXAdES + "RevocationValues",
		NSXAdES141 + "ArchiveTimeStamp", NSXAdES141 + "TimeStampValidationData"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("%s: unsigned signature properties %q, want %q", ls.name, names, want)
	}
	kids := usp.ChildElements()
	count := func(el *etree.Element, local string) int {
		n := 0
		var walk func(e *etree.Element)
		walk = func(e *etree.Element) {
			for _, c := range e.ChildElements() {
				if is(c, NSXAdES, local) {
					n++
				}
				walk(c)
			}
		}
		walk(el)
		return n
	}
	// B-LT: signer chain (2) + TSA chain (2), the CA given twice written once; 2 distinct
	// OCSP responses of 3; one CRL.
	if got := [3]int{count(kids[1], "EncapsulatedX509Certificate"), count(kids[2], "EncapsulatedOCSPValue"), count(kids[2], "EncapsulatedCRLValue")}; got != [3]int{4, 2, 1} {
		t.Errorf("%s: B-LT certificates, OCSP, CRL = %v, want [4 2 1]", ls.name, got)
	}
	// TimeStampValidationData: only what is missing (archive TSA and its CA; OCSP 3).
	if got := [2]int{count(kids[4], "EncapsulatedX509Certificate"), count(kids[4], "EncapsulatedOCSPValue")}; got != [2]int{2, 1} {
		t.Errorf("%s: TimeStampValidationData certificates, OCSP = %v, want [2 1]", ls.name, got)
	}
	for _, i := range []int{0, 3} {
		cm := kids[i].ChildElements()
		if len(cm) != 2 || !is(cm[0], NSXMLDSig, "CanonicalizationMethod") || cm[0].SelectAttrValue("Algorithm", "") != ExcC14N || !is(cm[1], NSXAdES, "EncapsulatedTimeStamp") {
			t.Errorf("%s: %s is not CanonicalizationMethod(exc-c14n) + EncapsulatedTimeStamp", ls.name, kids[i].Tag)
		}
	}
}

// extractQP writes the QualifyingProperties of a signed file as a document of their own.
func extractQP(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	doc, err := parseSigned(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	var qp *etree.Element
	var find func(e *etree.Element)
	find = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			if is(c, NSXAdES, "QualifyingProperties") {
				qp = c
			}
			find(c)
		}
	}
	find(doc.Root())
	if qp == nil {
		t.Fatalf("%s: no QualifyingProperties", name)
	}
	c, err := canonicalize(qp, ExcC14N) // a stand-alone copy with every namespace it uses
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+".qp.xml")
	writeFile(t, f, c)
	return f
}

// validateSchemas validates files with xmllint against the XAdES 1.4.1 schema, which imports
// 1.3.2: QualifyingProperties strictly, including the v1.4.1 elements that 1.3.2's
// UnsignedSignaturePropertiesType admits through its strict xsd:any.
func validateSchemas(t *testing.T, files []string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed (apt-get install libxml2-utils)")
	}
	spec := specDir(t)
	args := append([]string{"--nonet", "--noout", "--schema", filepath.Join(spec, "1913201-XAdES01903v141.xsd")}, files...)
	cmd := exec.Command("xmllint", args...)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(spec, "catalog.xml"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schema validation failed: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), " validates"); n != len(files) {
		t.Fatalf("%d of %d files validate:\n%s", n, len(files), out)
	}
}

// runOracle recomputes both timestamp inputs with testdata/ats_oracle.py (lxml, libxml2's
// exclusive c14n: an implementation independent of goxmldsig's) and compares the digests.
func runOracle(t *testing.T, dir string, lines []string) {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatal("/usr/bin/python3 with lxml is needed (apt-get install python3-lxml)")
	}
	manifest := filepath.Join(dir, "oracle.tsv")
	writeFile(t, manifest, []byte(strings.Join(lines, "\n")+"\n"))
	out, err := exec.Command(py, filepath.Join("testdata", "ats_oracle.py"), manifest).CombinedOutput()
	if err != nil {
		t.Fatalf("timestamp input oracle: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "OK "); n != len(lines) {
		t.Fatalf("oracle agreed on %d of %d signatures:\n%s", n, len(lines), out)
	}
}

func TestUnsignedDeterministic(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	p := Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(), SigningTime: fixedTime(), SignatureID: "s"}
	obj := Object{Data: readDoc(t, "invoice.xml"), XML: true}
	tok := fakeOCSP(t, 9) // any DER SEQUENCE: the package does not parse tokens
	var prev []byte
	for range 2 {
		s, err := Sign(obj, p)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = AddSignatureTimestamp(s, tok); err != nil {
			t.Fatal(err)
		}
		if s, err = AddValidationData(s, [][]byte{ks.rsa.cert.Raw}, nil, [][]byte{testCRL(t, ks)}); err != nil {
			t.Fatal(err)
		}
		in, err := ArchiveTimestampInput(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = AddArchiveTimestamp(s, tok); err != nil {
			t.Fatal(err)
		}
		out := append(bytes.Clone(s.Document), in...)
		if prev != nil && !bytes.Equal(prev, out) {
			t.Fatal("two runs gave different output")
		}
		prev = out
	}
}

func TestUnsignedErrors(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	data := binaryData()
	base := func(typ string) *Signed {
		s, err := Sign(Object{Data: data, URI: "d.bin"}, Params{Type: typ, Packaging: Detached, SignatureMethod: ECDSASHA256,
			Signer: ks.p256.signer, Chain: ks.p256.chain(), SigningTime: fixedTime(), SignatureID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bb := base(TypeXAdES)
	tok := fakeOCSP(t, 1)
	bt, err := AddSignatureTimestamp(bb, tok)
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(bb.Signature)
	blt, err := AddValidationData(bt, [][]byte{ks.p256.cert.Raw}, [][]byte{fakeOCSP(t, 2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bb.Signature, orig) {
		t.Fatal("an Add function modified its argument")
	}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"xmldsig has no qualifying properties", func() error { _, err := AddSignatureTimestamp(base(TypeXMLDSig), tok); return err }, ErrMalformed},
		{"token is not DER", func() error { _, err := AddSignatureTimestamp(bb, []byte("not a token")); return err }, ErrMalformed},
		{"token with trailing bytes", func() error { _, err := AddArchiveTimestamp(bb, append(bytes.Clone(tok), 0)); return err }, ErrMalformed},
		{"certificate that does not parse", func() error { _, err := AddValidationData(bt, [][]byte{tok}, nil, nil); return err }, ErrMalformed},
		{"validation data twice", func() error { _, err := AddValidationData(blt, nil, [][]byte{fakeOCSP(t, 3)}, nil); return err }, ErrMalformed},
		{"detached data missing", func() error { _, err := ArchiveTimestampInput(blt, nil); return err }, ErrMalformed},
		{"detached data wrong", func() error {
			_, err := ArchiveTimestampInput(blt, map[string][]byte{"d.bin": flipMark(t, data)})
			return err
		}, ErrMalformed},
		{"timestamp validation data not after a timestamp", func() error {
			_, err := AddTimestampValidationData(blt, [][]byte{ks.rsa.cert.Raw}, nil, nil)
			return err
		}, ErrMalformed},
		{"wrong signature id", func() error {
			_, err := SignatureTimestampInput(&Signed{Signature: bb.Signature, SignatureID: "other"})
			return err
		}, ErrMalformed},
		{"nil", func() error { _, err := SignatureTimestampInput(nil); return err }, ErrMalformed},
	}
	for _, tt := range tests {
		if err := tt.fn(); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}

	// Nothing missing: TimeStampValidationData is left out and the signature unchanged.
	same, err := AddTimestampValidationData(bt, [][]byte{ks.p256.cert.Raw, ks.p256.cert.Raw}, nil, nil)
	if err != nil || !bytes.Equal(same.Signature, bt.Signature) {
		t.Fatalf("validation data already in KeyInfo was added again: %v", err)
	}

	// A changed SignatureValue changes the signature timestamp input, so a verifier finds a
	// token that no longer fits.
	in1, _ := SignatureTimestampInput(bt)
	tampered := bytes.Replace(bt.Signature, []byte("<ds:SignatureValue>"), []byte("<ds:SignatureValue>AAAA"), 1)
	in2, err := SignatureTimestampInput(&Signed{Signature: tampered, SignatureID: "s"})
	if err != nil || bytes.Equal(in1, in2) {
		t.Fatalf("tampered SignatureValue gives the same input: %v", err)
	}
	// The archive input covers the unsigned properties before it: validation data changes it.
	d := map[string][]byte{"d.bin": data}
	a1, err1 := ArchiveTimestampInput(bt, d)
	a2, err2 := ArchiveTimestampInput(blt, d)
	if err1 != nil || err2 != nil || bytes.Equal(a1, a2) || !bytes.HasPrefix(a2, a1) {
		t.Fatalf("archive input does not grow with the unsigned properties: %v %v", err1, err2)
	}
}
