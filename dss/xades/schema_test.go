package xades

import (
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss/xmlsafe"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// specDir is the folder of the vendored XAdES schemas and the XML catalog that maps their
// imports to the local copies (schemas/xades, see schemas/SOURCES.md).
func specDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "schemas", "xades"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"1913201-XAdES01903v132.xsd", "catalog.xml"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			t.Fatalf("vendored XAdES schema files missing: %v", err)
		}
	}
	return d
}

// TestXAdESSchema validates the XAdES output of every packaging against
// the XAdES 1.3.2 schema (EN 319 132-1 v1.3.1) with xmllint: the extracted
// QualifyingProperties strictly, and every stand-alone ds:Signature as a
// whole (XMLDSig schema, QualifyingProperties laxly inside ds:Object).
func TestXAdESSchema(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed (apt-get install libxml2-utils)")
	}
	spec := specDir(t)
	ks := loadKeys(t)
	dir := t.TempDir()
	invoice := readDoc(t, "invoice.xml")
	var files []string
	for i, c := range []struct {
		key *testKey
		obj Object
		p   Params
	}{
		{ks.rsa, Object{Data: invoice, XML: true}, Params{Packaging: Enveloped, SignatureMethod: RSASHA256}},
		{ks.rsa, Object{Data: invoice, XML: true}, Params{Packaging: Enveloping, SignatureMethod: RSAPSSSHA512, C14N: C14N11}},
		{ks.p256, Object{Data: binaryData()}, Params{Packaging: Enveloping, SignatureMethod: ECDSASHA256}},
		{ks.p384, Object{Data: invoice, URI: "invoice.xml", MimeType: "application/xml"}, Params{Packaging: Detached, SignatureMethod: ECDSASHA512, DigestHash: crypto.SHA512}},
		{ks.rsa, Object{Digest: digest(crypto.SHA384, invoice), DigestHash: crypto.SHA384, URI: "x"}, Params{Packaging: Detached, SignatureMethod: RSASHA384}},
	} {
		p := c.p
		p.Type, p.Signer, p.Chain, p.SigningTime, p.SignatureID = TypeXAdES, c.key.signer, c.key.chain(), fixedTime(), "s"
		s, err := Sign(c.obj, p)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Signature
		if out == nil {
			out = s.Document
		} else {
			f := filepath.Join(dir, fmt.Sprintf("signature-%d.xml", i))
			writeFile(t, f, out)
			files = append(files, f)
		}
		doc, err := parseXML(out, xmlsafe.DocumentLimits())
		if err != nil {
			t.Fatal(err)
		}
		var qp *etree.Element
		for _, el := range doc.FindElements("//QualifyingProperties") {
			if is(el, NSXAdES, "QualifyingProperties") {
				qp = el
			}
		}
		if qp == nil {
			t.Fatalf("case %d: no QualifyingProperties", i)
		}
		ctx, err := etreeutils.NSBuildParentContext(qp)
		if err != nil {
			t.Fatal(err)
		}
		detached, err := etreeutils.NSDetatch(ctx, qp)
		if err != nil {
			t.Fatal(err)
		}
		qd := etree.NewDocument()
		qd.SetRoot(detached)
		b, err := qd.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("qualifying-%d.xml", i))
		writeFile(t, f, b)
		files = append(files, f)
	}
	args := append([]string{"--nonet", "--noout", "--schema", filepath.Join(spec, "1913201-XAdES01903v132.xsd")}, files...)
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
