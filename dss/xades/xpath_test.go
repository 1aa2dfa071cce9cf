package xades

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss/xmlsafe"
)

func TestSelectXPath(t *testing.T) {
	const doc = `<a:root xmlns:a="urn:a" xmlns="urn:d">
  <a:x n="1"/><a:x n="2"><b n="3"/></a:x>
  <y xmlns="" n="4"><z n="5"/><z n="6"/></y>
</a:root>`
	d, err := parseXML([]byte(doc), xmlsafe.DocumentLimits())
	if err != nil {
		t.Fatal(err)
	}
	ns := map[string]string{"p": "urn:a", "d": "urn:d"}
	tests := []struct {
		xpath   string
		want    string // @n of the selected element; "root" for the document element
		wantErr error
	}{
		{"/p:root", "root", nil},
		{"/*", "root", nil},
		{" /p:root ", "root", nil},
		{"/p:root/p:x[2]", "2", nil},
		{"/p:root/p:x[2]/d:b", "3", nil},
		{"/p:root/*[3]", "4", nil},
		{"/p:root/y", "4", nil}, // unprefixed: no namespace (XPath 1.0), not the document's default
		{"/p:root/y/z[2]", "6", nil},
		{"/*[1]/*[2]/*", "3", nil},
		{"/root", "", ErrMalformed},          // root is in urn:a, not in no namespace
		{"/p:root/d:y", "", ErrMalformed},    // y is in no namespace
		{"/p:root/p:x", "", ErrMalformed},    // two elements
		{"/p:root/p:x[3]", "", ErrMalformed}, // none
		{"/q:root", "", ErrMalformed},        // unbound prefix (the document's a: does not count)
		{"/a:root", "", ErrMalformed},
		{"//p:x", "", ErrNotSupported},
		{"p:root", "", ErrNotSupported},
		{"/", "", ErrNotSupported},
		{"/p:root/p:x[@n='1']", "", ErrNotSupported},
		{"/p:root/p:x[last()]", "", ErrNotSupported},
		{"/p:root/p:x[0]", "", ErrNotSupported},
		{"/p:root/p:x[1][1]", "", ErrNotSupported},
		{"/p:root/child::p:x", "", ErrNotSupported},
		{"/p:root/..", "", ErrNotSupported},
		{"/p:root/text()", "", ErrNotSupported},
		{"/p:root | /p:root", "", ErrNotSupported},
	}
	for _, tt := range tests {
		el, err := selectXPath(d, tt.xpath, ns)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%q: got %v, want %v", tt.xpath, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.xpath, err)
			continue
		}
		got := el.SelectAttrValue("n", "root")
		if got != tt.want {
			t.Errorf("%q selected n=%s, want %s", tt.xpath, got, tt.want)
		}
	}
}

// TestResultXPath: the XPath returned for an enveloped signature selects
// exactly that signature, also with another ds:Signature next to it, as
// libxml2's XPath engine evaluates it.
func TestResultXPath(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed (apt-get install libxml2-utils)")
	}
	ks := loadKeys(t)
	dir := t.TempDir()
	tests := []struct {
		doc, xpath string
		ns         map[string]string
		after      bool
		want       string
	}{
		{"other-signature.xml", "/envelope", nil, false, "/envelope/*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#' and @Id='sig-1']"},
		{"other-signature.xml", "/envelope/slot[2]", nil, false, "/envelope/slot[2]/*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#' and @Id='sig-1']"},
		{"default-ns.xml", "/o:order/o:item", map[string]string{"o": "urn:example:order"}, true, ""},
		{"invoice.xml", "/i:Invoice/c:Lines/c:Line[2]", map[string]string{"i": "urn:example:invoice:1", "c": "urn:example:aggregate:1"}, false, ""},
		{"mixed.xml", "/*/*[2]", nil, true, ""},
	}
	for i, tt := range tests {
		obj := Object{Data: readDoc(t, tt.doc), XML: true, XPath: tt.xpath, Namespaces: tt.ns, After: tt.after}
		s, err := Sign(obj, Params{Type: TypeXMLDSig, Packaging: Enveloped, SignatureMethod: RSASHA256,
			Signer: ks.rsa.signer, Chain: ks.rsa.chain(), SignatureID: "sig-1"})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want != "" && s.XPath != tt.want {
			t.Errorf("%s: XPath %s, want %s", tt.doc, s.XPath, tt.want)
		}
		f := filepath.Join(dir, strings.Repeat("x", i+1)+".xml")
		writeFile(t, f, s.Document)
		out, err := exec.Command("xmllint", "--xpath", "concat(count("+s.XPath+"), ':', "+s.XPath+"/@Id)", f).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: xmllint %s: %v: %s", tt.doc, s.XPath, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "1:sig-1" {
			t.Errorf("%s: %s selects %q, want 1:sig-1", tt.doc, s.XPath, got)
		}
		// And our own evaluation of the placement agrees with the XPath.
		d, err := parseXML(s.Document, xmlsafe.DocumentLimits())
		if err != nil {
			t.Fatal(err)
		}
		ids := buildIDIndex(d.Root())
		sig, _ := ids.lookup("sig-1")
		if pathTo(sig, "sig-1") != s.XPath {
			t.Errorf("%s: pathTo after reparse differs: %s", tt.doc, pathTo(sig, "sig-1"))
		}
	}
}

func TestXPathLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"a":     "'a'",
		"it's":  `"it's"`,
		`a'b"c`: `concat('a', "'", 'b"c')`,
	} {
		if got := xpathLiteral(in); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}
