//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades/interop"
)

// signCase is one SignRequest of the format × placement × algorithm matrix.
type signCase struct {
	sigType   string // dsigURI or xadesURI
	placement string // enveloped, enveloping, detached
	alg       string // SignatureAlgorithm URI
	cred      string
	binary    bool // sign a binary document instead of the invoice (enveloping and detached only)
	via       binding
}

func (c signCase) name() string {
	format := "xades"
	if c.sigType == dsigURI {
		format = "xmldsig"
	}
	alg := c.alg[strings.LastIndex(c.alg, "#")+1:]
	kind := "xml"
	if c.binary {
		kind = "bin"
	}
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s", format, c.placement, kind, alg, c.cred, c.via)
}

const (
	rsaSHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	rsaSHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	rsaSHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	pssSHA256   = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
	pssSHA384   = "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
	pssSHA512   = "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"
	ecdsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ecdsaSHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ecdsaSHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

// matrix is every format × placement × algorithm, spread over the three bindings, plus
// binary documents for the placements that take them.
func matrix() []signCase {
	algs := []struct{ alg, cred string }{
		{rsaSHA256, "alice-rsa"}, {rsaSHA384, "alice-rsa"}, {rsaSHA512, "alice-rsa"},
		{pssSHA256, "alice-rsa"}, {pssSHA384, "alice-rsa"}, {pssSHA512, "alice-rsa"},
		{ecdsaSHA256, "alice-ec"}, {ecdsaSHA384, "alice-ec"}, {ecdsaSHA512, "alice-ec"},
		{ecdsaSHA256, "alice-ec384"}, {ecdsaSHA384, "alice-ec384"},
	}
	var cases []signCase
	n := 0
	for _, typ := range []string{dsigURI, xadesURI} {
		for _, pl := range []string{"enveloped", "enveloping", "detached"} {
			for _, a := range algs {
				cases = append(cases, signCase{sigType: typ, placement: pl, alg: a.alg, cred: a.cred, via: binding(n % 3)})
				n++
			}
		}
		for _, pl := range []string{"enveloping", "detached"} {
			for _, a := range []struct{ alg, cred string }{{rsaSHA256, "alice-rsa"}, {ecdsaSHA256, "alice-ec"}, {pssSHA256, "alice-rsa"}} {
				cases = append(cases, signCase{sigType: typ, placement: pl, alg: a.alg, cred: a.cred, binary: true, via: binding(n % 3)})
				n++
			}
		}
	}
	return cases
}

// binaryDoc is a document that is not XML (its bytes include NUL and invalid UTF-8).
var binaryDoc = append([]byte("%PDF-1.7\n\x00\xff\xfe binary payload "), bytes.Repeat([]byte{0x00, 0x9f, 0x41}, 200)...)

const detachedURI = "https://documents.example.org/invoice-42"

// signRequestXML builds a SignRequest by hand, as an outside client would.
func signRequestXML(id string, c signCase, doc []byte) string {
	mime := "application/xml"
	if c.binary {
		mime = "application/octet-stream"
	}
	refURI := ""
	switch c.placement {
	case "enveloped":
		refURI = ` RefURI=""`
	case "detached":
		refURI = ` RefURI="` + detachedURI + `"`
	}
	var placement string
	switch c.placement {
	case "enveloped":
		placement = `<dss2:SignaturePlacement WhichData="doc-1"><dss2:XPathFirstChildOf>/inv:Invoice</dss2:XPathFirstChildOf>` +
			`<dss2:NsPrefixMapping><nsl:NamespaceURI>urn:example:invoice:2</nsl:NamespaceURI><nsl:NamespacePrefix>inv</nsl:NamespacePrefix></dss2:NsPrefixMapping></dss2:SignaturePlacement>`
	case "enveloping":
		placement = `<dss2:IncludeObject WhichData="doc-1" ObjId="obj-1"/>`
	}
	return `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" xmlns:nsl="http://docs.oasis-open.org/dss-x/ns/nsList" RequestID="` + id + `">` +
		`<dss2:InputDocuments><dss2:Document ID="doc-1"` + refURI + `><dss2:Base64Data MimeType="` + mime + `"><dsb:Value>` + b64(doc) + `</dsb:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>` +
		`<dss2:OptionalInputs><dss2:SignatureType>` + c.sigType + `</dss2:SignatureType>` +
		`<dss2:KeySelector><dss2:KeyName>` + c.cred + `</dss2:KeyName></dss2:KeySelector>` + placement +
		`<dss2:SignatureAlgorithm>` + c.alg + `</dss2:SignatureAlgorithm></dss2:OptionalInputs></dss2:SignRequest>`
}

// signed is a signature produced in the matrix, written to files for the verifiers.
type signed struct {
	c        signCase
	file     string // signed XML
	detached string // detached content file, for detached signatures
	content  []byte // the signed document
}

// TestSignMatrix: every format × placement × algorithm is answered with a schema-valid
// SignResponse whose signature every applicable independent verifier accepts, and whose
// tampered copy each of them rejects.
func TestSignMatrix(t *testing.T) {
	s := start(t)
	interop.Require(t)
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	token := s.token("alice")
	dir := t.TempDir()

	var responses []string
	var out []signed
	for i, c := range matrix() {
		doc := invoice
		if c.binary {
			doc = binaryDoc
		}
		reqID := fmt.Sprintf("req-%03d", i)
		status, raw := s.send(t, c.via, token, signRequestXML(reqID, c, doc))
		responses = append(responses, writeOut(t, filepath.Join(dir, c.name()+".response.xml"), raw))
		root, r := parseResponse(t, raw)
		if status != http.StatusOK || !r.ok() {
			t.Fatalf("%s: HTTP %d, %s %s: %s", c.name(), status, r.major, r.minor, r.message)
		}
		if got := root.SelectAttrValue("RequestID", ""); got != reqID {
			t.Errorf("%s: RequestID echoed as %q", c.name(), got)
		}
		profiles := findAll(root, nsDSB, "AppliedProfile", nil)
		if c.sigType == xadesURI && (len(profiles) != 1 || profiles[0].Text() != "urn:dssd:level:B-B") {
			t.Errorf("%s: AppliedProfile should echo B-B, got %d elements", c.name(), len(profiles))
		}
		sg := signed{c: c, content: doc}
		var sigXML []byte
		if c.placement == "enveloped" {
			dws := find(root, nsDSS2, "DocumentWithSignature")
			if dws == nil {
				t.Fatalf("%s: no DocumentWithSignature:\n%s", c.name(), raw)
			}
			sigXML = decodeValue(t, dws)
			if ptr := find(root, nsDSS2, "SignaturePtr"); ptr == nil || ptr.SelectAttrValue("WhichData", "") != "signed-doc-1" {
				t.Errorf("%s: SignatureObject/SignaturePtr missing or not pointing at signed-doc-1", c.name())
			}
		} else {
			so := find(root, nsDSS2, "Base64Signature")
			if so == nil {
				t.Fatalf("%s: no Base64Signature:\n%s", c.name(), raw)
			}
			sigXML = decodeValue(t, so)
		}
		if obj := find(root, nsDSS2, "SignatureObject"); obj == nil || obj.SelectAttrValue("WhichDoc", "") != "doc-1" {
			t.Errorf("%s: SignatureObject/@WhichDoc should name doc-1", c.name())
		}
		sg.file = writeOut(t, filepath.Join(dir, c.name()+".xml"), sigXML)
		if c.placement == "detached" {
			sg.detached = writeOut(t, filepath.Join(dir, c.name()+".content"), doc)
		}
		out = append(out, sg)
	}
	validateResponses(t, dir, responses)

	// Independent verification of every signature and of a tampered copy of each.
	var cases []interop.Case
	tampered := map[string]bool{}
	for _, sg := range out {
		cert := s.certFile(t, sg.c.cred)
		good := interop.Case{Name: sg.c.name(), File: sg.file, Cert: cert, XAdES: sg.c.sigType == xadesURI, Alg: sg.c.alg}
		bad := good
		bad.Name = "tampered-" + good.Name
		tampered[bad.Name] = true
		switch sg.c.placement {
		case "detached":
			good.Detached = map[string]string{detachedURI: sg.detached}
			changed := append([]byte(nil), sg.content...)
			changed[len(changed)/2] ^= 0x01
			bad.Detached = map[string]string{detachedURI: writeOut(t, sg.detached+".tampered", changed)}
		default:
			b := readFile(t, sg.file)
			var changed []byte
			if sg.c.binary {
				// The base64 text of the binary document inside ds:Object: change one character.
				enc := base64.StdEncoding.EncodeToString(sg.content)
				i := bytes.Index(b, []byte(enc[:40]))
				if i < 0 {
					t.Fatalf("%s: the signed object does not hold the document's base64", sg.c.name())
				}
				changed = append([]byte(nil), b...)
				changed[i+10] = flipB64(changed[i+10])
			} else {
				changed = bytes.Replace(b, []byte("1210.00"), []byte("9210.00"), 1)
			}
			if bytes.Equal(changed, b) {
				t.Fatalf("%s: tampering changed nothing", sg.c.name())
			}
			bad.File = writeOut(t, sg.file+".tampered.xml", changed)
		}
		cases = append(cases, good, bad)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatalf("running the verifiers: %v", err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], !tampered[c.Name])
	}
	t.Logf("%d signatures and %d tampered copies judged by the independent verifiers", len(out), len(out))
}

func flipB64(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// decodeValue decodes the base64 dsb:Value below e.
func decodeValue(t *testing.T, e *etree.Element) []byte {
	t.Helper()
	v := find(e, nsDSB, "Value")
	if v == nil {
		t.Fatalf("%s has no dsb:Value", e.Tag)
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v.Text()), ""))
	if err != nil {
		t.Fatalf("dsb:Value is not base64: %v", err)
	}
	return b
}
