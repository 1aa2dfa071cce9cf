//go:build e2e

package verify

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"dssd/dss/xades"
	"dssd/dss/xades/interop"
)

// interopDoc is the document every signer signs. Its attributes in several namespaces (whose
// canonical order is by namespace URI, not by local name) and its empty default namespace are
// where goxmldsig's canonicalization departs from the specification.
const interopDoc = `<?xml version="1.0" encoding="UTF-8"?>
<inv:Invoice xmlns:inv="urn:example:invoice:2" xmlns:cbc="urn:example:basic" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:example:invoice:2 invoice.xsd" xmlns:z="urn:a-first" xmlns:a="urn:z-last">
  <cbc:ID>INV-2026-0042</cbc:ID>
  <cbc:Note>Payment within 30 days &amp; no discount</cbc:Note>
  <inv:Line Id="line-1"><cbc:Amount currency="EUR" z:m="2" a:k="1">10.00</cbc:Amount></inv:Line>
  <Free xmlns="">no namespace</Free>
</inv:Invoice>
`

// interopFreeLine is the element of interopDoc in no namespace.
const interopFreeLine = "  <Free xmlns=\"\">no namespace</Free>\n"

// xmlsec1Template is an enveloped XMLDSig template for xmlsec1 --sign; %s are the
// canonicalization method, signature method and data canonicalization transform.
const xmlsec1Template = `<?xml version="1.0" encoding="UTF-8"?>
<inv:Invoice xmlns:inv="urn:example:invoice:2" xmlns:cbc="urn:example:basic" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:example:invoice:2 invoice.xsd" xmlns:z="urn:a-first" xmlns:a="urn:z-last">
  <cbc:ID>INV-2026-0042</cbc:ID>
  <cbc:Note>Payment within 30 days &amp; no discount</cbc:Note>
  <inv:Line Id="line-1"><cbc:Amount currency="EUR" z:m="2" a:k="1">10.00</cbc:Amount></inv:Line>
  <Free xmlns="">no namespace</Free>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="xmlsec1-sig"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="%s"/><ds:SignatureMethod Algorithm="%s"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="%s"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature></inv:Invoice>
`

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestInteropSigners: signatures made by xmlsec1, xadesjs and Apache Santuario over the same
// document verify as TOTAL-PASSED, and a changed byte makes each one TOTAL-FAILED.
func TestInteropSigners(t *testing.T) {
	interop.Require(t)
	vdir, err := interop.VerifiersDir()
	if err != nil {
		t.Fatal(err)
	}
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	dir := t.TempDir()
	doc := filepath.Join(dir, "invoice.xml")
	if err := os.WriteFile(doc, []byte(interopDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	// xadesjs 2.6.8 renders xmlns="" where no default namespace is rendered above it (xmlsec1
	// rejects its signature of interopDoc): it signs the document without that element.
	xadesjsDoc := filepath.Join(dir, "invoice-xadesjs.xml")
	if err := os.WriteFile(xadesjsDoc, []byte(strings.Replace(interopDoc, interopFreeLine, "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := writePEM(t, dir, "ca.pem", p.ca.cert)
	type signed struct{ name, file string }
	var (
		mu  sync.Mutex
		out []signed
		wg  sync.WaitGroup
	)
	add := func(name, file string) {
		mu.Lock()
		out = append(out, signed{name, file})
		mu.Unlock()
	}
	for _, s := range []struct {
		name string
		who  party
	}{{"rsa", p.rsa}, {"ec", p.ec}} {
		key := writeKey(t, dir, s.name+".key", s.who.key)
		cert := writePEM(t, dir, s.name+".pem", s.who.cert)
		alg := xades.RSASHA256
		if s.name == "ec" {
			alg = xades.ECDSASHA256
		}
		// xmlsec1, exclusive c14n and (inclusive) c14n 1.0.
		for _, c14n := range []struct{ name, uri string }{{"exc", xades.ExcC14N}, {"c14n10", C14N10}} {
			tmpl := filepath.Join(dir, fmt.Sprintf("tmpl-%s-%s.xml", s.name, c14n.name))
			if err := os.WriteFile(tmpl, []byte(fmt.Sprintf(xmlsec1Template, c14n.uri, alg, c14n.uri)), 0o600); err != nil {
				t.Fatal(err)
			}
			o := filepath.Join(dir, fmt.Sprintf("xmlsec1-%s-%s.xml", s.name, c14n.name))
			run(t, "xmlsec1", "--sign", "--privkey-pem", key+","+cert+","+ca, "--output", o, tmpl)
			add("xmlsec1 "+s.name+" "+c14n.name, o)
		}
		wg.Add(2)
		go func(name, key, cert string) {
			defer wg.Done()
			o := filepath.Join(dir, "xadesjs-"+name+".xml")
			if b, err := exec.Command("node", filepath.Join(vdir, "xadesjs", "sign.mjs"), key, cert, ca, xadesjsDoc, o).CombinedOutput(); err != nil {
				t.Errorf("xadesjs sign.mjs: %v\n%s", err, b)
				return
			}
			add("xadesjs "+name, o)
		}(s.name, key, cert)
		go func(name, key, cert string) {
			defer wg.Done()
			o := filepath.Join(dir, "santuario-"+name+".xml")
			cp := "/usr/share/java/xmlsec.jar:/usr/share/java/commons-codec.jar:/usr/share/java/slf4j-api.jar"
			if b, err := exec.Command("java", "-cp", cp, filepath.Join(vdir, "santuario", "Sign.java"), key, cert, ca, doc, o).CombinedOutput(); err != nil {
				t.Errorf("santuario Sign.java: %v\n%s", err, b)
				return
			}
			add("santuario "+name, o)
		}(s.name, key, cert)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// The project's own signature over the same document.
	own := sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(interopDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, "")
	ownFile := filepath.Join(dir, "dssd.xml")
	if err := os.WriteFile(ownFile, own.Document, 0o600); err != nil {
		t.Fatal(err)
	}
	add("dssd", ownFile)
	if len(out) != 9 {
		t.Fatalf("%d signed files, want 9", len(out))
	}
	for _, s := range out {
		t.Run(s.name, func(t *testing.T) {
			b, err := os.ReadFile(s.file)
			if err != nil {
				t.Fatal(err)
			}
			rep := check(t, v, Input{Signature: b}, passed)
			r := rep.Signatures[0]
			wantXAdES := strings.HasPrefix(s.name, "xadesjs") || s.name == "dssd"
			if r.XAdES != wantXAdES || r.Scope[0].Kind != ScopeDocument || !r.Scope[0].Enveloped {
				t.Errorf("XAdES %v scope %+v", r.XAdES, r.Scope)
			}
			check(t, v, Input{Signature: []byte(strings.Replace(string(b), "10.00", "11.00", 1))}, want{TotalFailed, HashFailure, ReasonDigest})
		})
	}
}
