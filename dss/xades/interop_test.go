//go:build e2e

package xades

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/dss/xades/interop"
	"dssd/dss/xmlsafe"
)

// The tests in this file sign every combination the service offers, check
// each signature with Check, tamper with a copy of each, and hand all of them
// in one batch to the independent verifiers (xmlsec1, Santuario, the JDK and
// xadesjs). Valid signatures must be accepted by every verifier that can
// judge them (at least two), tampered ones rejected by all.

var matrixMethods = []struct {
	uri  string
	p384 bool
}{
	{RSASHA256, false}, {RSASHA384, false}, {RSASHA512, false},
	{RSAPSSSHA256, false}, {RSAPSSSHA384, false}, {RSAPSSSHA512, false},
	{ECDSASHA256, false}, {ECDSASHA384, false}, {ECDSASHA512, false},
	{ECDSASHA384, true},
}

func shortAlg(uri string, p384 bool) string {
	s := uri[strings.LastIndexByte(uri, '#')+1:]
	if p384 {
		s += "-p384"
	}
	return s
}

// flipMark changes one byte of the tamper mark in b.
func flipMark(t testing.TB, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("TAMPER-MARK"))
	if i < 0 {
		t.Fatal("no TAMPER-MARK to flip")
	}
	out := bytes.Clone(b)
	out[i+len("TAMPER-MAR")] ^= 0x07 // K -> L
	return out
}

// flipBase64Object changes one base64 character inside the base64 ds:Object.
func flipBase64Object(t testing.TB, b []byte) []byte {
	t.Helper()
	marker := []byte(`Encoding="` + EncodingBase64 + `">`)
	i := bytes.Index(b, marker)
	if i < 0 {
		t.Fatal("no base64 object to flip")
	}
	out := bytes.Clone(b)
	j := i + len(marker) + 20
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}

// sigCase is one signature to produce and verify.
type sigCase struct {
	name   string
	key    *testKey
	obj    Object
	params Params
	// verifierLimits names verifiers whose verdict on this case is logged but
	// not asserted, with the reason (a known defect of that verifier).
	verifierLimits map[string]string
}

// produced is a sigCase after signing: interop cases for the valid and the
// tampered copy.
type produced struct {
	sigCase
	good, bad interop.Case
}

// produce signs c, checks it, writes the valid and a tampered copy into
// dir, asserts that Check rejects the tampered copy, and returns both as
// interop cases.
func produce(t *testing.T, dir string, c sigCase) (produced, bool) {
	t.Helper()
	p := c.params
	p.Signer, p.Chain = c.key.signer, c.key.chain()
	if p.SigningTime.IsZero() {
		p.SigningTime = fixedTime()
	}
	s, err := Sign(c.obj, p)
	if err != nil {
		t.Errorf("%s: Sign: %v", c.name, err)
		return produced{}, false
	}
	if err := Check(s, c.obj, c.key.cert); err != nil {
		t.Errorf("%s: Check of a fresh signature: %v", c.name, err)
		return produced{}, false
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(c.name)
	out := s.Signature
	if out == nil {
		out = s.Document
	}
	// Check parses its own output without the ingress gate; show that the
	// gate (which dss/verify uses) accepts every output too.
	if err := xmlsafe.Check(out, outputLimits()); err != nil {
		t.Errorf("%s: the xml gate refuses the output: %v", c.name, err)
	}
	goodFile := filepath.Join(dir, file+".xml")
	writeFile(t, goodFile, out)
	certFile := filepath.Join(dir, c.key.name+".pem")
	writeFile(t, certFile, c.key.certPEM)

	pr := produced{sigCase: c}
	pr.good = interop.Case{Name: c.name, File: goodFile, Cert: certFile, XAdES: p.Type == TypeXAdES, Alg: p.SignatureMethod, SignatureID: p.SignatureID}
	pr.bad = pr.good
	pr.bad.Name = c.name + " TAMPERED"

	// Tamper: flip one byte of signed content, wherever it lives.
	switch {
	case c.obj.URI != "" && (p.Packaging == Detached):
		content := c.obj.Data
		if content == nil { // hash signing: the content the client hashed
			content = binaryData()
		}
		goodContent := filepath.Join(dir, file+".content")
		badContent := filepath.Join(dir, file+".tampered.content")
		writeFile(t, goodContent, content)
		writeFile(t, badContent, flipMark(t, content))
		pr.good.Detached = map[string]string{c.obj.URI: goodContent}
		pr.bad.Detached = map[string]string{c.obj.URI: badContent}
		bad := c.obj
		if bad.Data != nil {
			bad.Data = flipMark(t, bad.Data)
		} else {
			bad.Digest = bytes.Clone(bad.Digest)
			bad.Digest[3] ^= 1
		}
		if err := Check(s, bad, c.key.cert); !errors.Is(err, ErrSelfCheck) {
			t.Errorf("%s: Check accepted tampered detached content: %v", c.name, err)
		}
	default:
		var tampered []byte
		if p.Packaging == Enveloping && !c.obj.XML {
			tampered = flipBase64Object(t, out)
		} else {
			tampered = flipMark(t, out)
		}
		badFile := filepath.Join(dir, file+".tampered.xml")
		writeFile(t, badFile, tampered)
		pr.bad.File = badFile
		bs := *s
		if bs.Document != nil {
			bs.Document = tampered
		} else {
			bs.Signature = tampered
		}
		if err := Check(&bs, c.obj, c.key.cert); !errors.Is(err, ErrSelfCheck) {
			t.Errorf("%s: Check accepted a tampered copy: %v", c.name, err)
		}
	}
	return pr, true
}

// verifyBatch runs the independent verifiers over all produced signatures
// in one batch and asserts the verdicts. extra cases must be rejected by
// every verifier.
func verifyBatch(t *testing.T, ps []produced, mustFail []interop.Case) {
	t.Helper()
	interop.Require(t)
	var cases []interop.Case
	for _, p := range ps {
		cases = append(cases, p.good, p.bad)
	}
	cases = append(cases, mustFail...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files verified by the independent verifiers in %v", len(cases), time.Since(start).Round(time.Millisecond))

	judge := func(name string, limits map[string]string, wantOK bool) {
		vs := res[name]
		judged := 0
		for _, v := range vs {
			if v.Skipped {
				continue
			}
			if why, ok := limits[v.Verifier]; ok {
				t.Logf("%s: %v (not asserted: %s)", name, v, why)
				continue
			}
			judged++
			if v.OK != wantOK {
				t.Errorf("%s: %v\n%s", name, v, v.Output)
			}
		}
		if judged < 2 {
			t.Errorf("%s: only %d independent verifiers judged it: %v", name, judged, vs)
		}
	}
	for _, p := range ps {
		judge(p.good.Name, p.verifierLimits, true)
		judge(p.bad.Name, nil, false)
	}
	for _, c := range mustFail {
		judge(c.Name, nil, false)
	}
}

// TestSignMatrix: {XMLDSig, XAdES} × {enveloped, enveloping XML, enveloping
// binary, detached XML, detached binary, hash signing} × every signature
// method, each verified by Check and the independent verifiers, each with
// a tampered copy that everything rejects.
func TestSignMatrix(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	dir := t.TempDir()
	invoice := readDoc(t, "invoice.xml")
	blob := binaryData()
	ns := map[string]string{"i": "urn:example:invoice:1"}

	var ps []produced
	var wrongCert []interop.Case
	for _, typ := range []string{TypeXMLDSig, TypeXAdES} {
		tn := map[string]string{TypeXMLDSig: "xmldsig", TypeXAdES: "xades"}[typ]
		for _, m := range matrixMethods {
			key := ks.forMethod(m.uri, m.p384)
			sm, _ := lookupSigMethod(m.uri)
			variants := []struct {
				name string
				pk   Packaging
				obj  Object
			}{
				{"enveloped", Enveloped, Object{ID: "doc-1", Data: invoice, XML: true, XPath: "/i:Invoice", Namespaces: ns}},
				{"enveloping-xml", Enveloping, Object{ID: "doc-1", Data: invoice, XML: true}},
				{"enveloping-bin", Enveloping, Object{ID: "doc-1", Data: blob, MimeType: "application/pdf"}},
				{"detached-xml", Detached, Object{ID: "doc-1", Data: invoice, XML: true, URI: "invoice.xml", MimeType: "application/xml"}},
				{"detached-bin", Detached, Object{ID: "doc-1", Data: blob, URI: "data.bin", MimeType: "application/pdf"}},
				{"hash", Detached, Object{ID: "doc-1", Digest: digest(sm.hash, blob), DigestHash: sm.hash, URI: "hashed.bin", MimeType: "application/pdf"}},
			}
			for _, v := range variants {
				name := fmt.Sprintf("%s/%s/%s", tn, v.name, shortAlg(m.uri, m.p384))
				pr, ok := produce(t, dir, sigCase{
					name: name, key: key, obj: v.obj,
					params: Params{Type: typ, Packaging: v.pk, SignatureMethod: m.uri, DigestHash: sm.hash, SignatureID: "sig-" + ncnameTail(name)},
				})
				if !ok {
					continue
				}
				ps = append(ps, pr)
				if v.name == "enveloped" && (m.uri == RSASHA256 || m.uri == ECDSASHA256) {
					// The same valid signature checked against a certificate for
					// another key: every verifier must refuse it.
					wc := pr.good
					wc.Name += " WRONG-CERT"
					wc.Cert = filepath.Join(dir, "other.pem")
					writeFile(t, wc.Cert, ks.other.certPEM)
					wrongCert = append(wrongCert, wc)
				}
			}
		}
	}
	if want := 2 * len(matrixMethods) * 6; len(ps) != want {
		t.Fatalf("produced %d signatures, want %d", len(ps), want)
	}
	verifyBatch(t, ps, wrongCert)
}

// tortureDoc is a namespace or character torture document and where an
// enveloped signature goes into it.
type tortureDoc struct {
	file   string
	data   func([]byte) []byte // optional rewrite of the file (e.g. CRLF)
	xpath  string
	ns     map[string]string
	after  bool
	limits map[string]string // enveloped: verifier defects this placement triggers
	// c14n11EnvelopedErr: Sign must refuse an enveloped c14n 1.1 signature
	// with this error.
	c14n11EnvelopedErr error
}

const (
	xadesjsNotRootChild = "xadesjs's enveloped-signature transform removes only ds:Signature children of the document element"
	xadesjsOtherSig     = "xadesjs's enveloped-signature transform removes every ds:Signature child of the document element, not just its own"
	xadesjsTopLevelPI   = "xadesjs digests the document element only, leaving out processing instructions outside it"
)

func tortureDocs() []tortureDoc {
	return []tortureDoc{
		{file: "invoice.xml", xpath: "/i:Invoice/c:Totals", after: true,
			ns: map[string]string{"i": "urn:example:invoice:1", "c": "urn:example:aggregate:1"}},
		{file: "prefixed-root.xml", xpath: "/o:order/o:item[1]", after: true, ns: map[string]string{"o": "urn:example:order"}},
		{file: "default-ns.xml", xpath: "/o:order/in:inner", ns: map[string]string{"o": "urn:example:order", "in": "urn:example:inner"},
			limits: map[string]string{interop.NameXadesjs: xadesjsNotRootChild}},
		{file: "unused-ns.xml", xpath: "/doc/part",
			limits: map[string]string{interop.NameXadesjs: xadesjsNotRootChild}},
		{file: "xml-lang.xml", xpath: "/l:doc/l:section/l:target", ns: map[string]string{"l": "urn:example:lang"},
			limits:             map[string]string{interop.NameXadesjs: xadesjsNotRootChild},
			c14n11EnvelopedErr: ErrNotSupported}, // nested xml:lang: refused for c14n 1.1 (see inheritXMLAttrs)
		{file: "xml-lang-single.xml", xpath: "/l:doc/l:section/l:target", ns: map[string]string{"l": "urn:example:lang"},
			limits: map[string]string{interop.NameXadesjs: xadesjsNotRootChild}},
		{file: "mixed.xml", xpath: "/m:root", ns: map[string]string{"m": "urn:example:mixed"},
			limits: map[string]string{interop.NameXadesjs: xadesjsTopLevelPI}},
		{file: "mixed.xml", data: func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) },
			xpath: "/*/*[3]", after: true,
			limits: map[string]string{interop.NameXadesjs: xadesjsTopLevelPI}},
		// Attributes in several namespaces (the canonical order is by namespace URI, not by
		// local name) and an empty default namespace below a non-empty one.
		{file: "c14n-edges.xml"},
		{file: "other-signature.xml", xpath: "/envelope/slot[2]",
			limits: map[string]string{interop.NameXadesjs: xadesjsOtherSig}},
	}
}

// TestNamespaceTorture signs torture documents (prefixed root, default
// namespace, unused and clashing declarations, xml:lang and xml:space on
// ancestors, &amp;, CDATA, comments, processing instructions, multi-line
// attributes, character references, CRLF, a foreign ds:Signature) enveloped
// and enveloping, with exclusive c14n and c14n 1.1.
func TestNamespaceTorture(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	dir := t.TempDir()
	var ps []produced
	for i, d := range tortureDocs() {
		data := readDoc(t, d.file)
		if d.data != nil {
			data = d.data(data)
		}
		for _, v := range []struct {
			typ  string
			pk   Packaging
			c14n string
			key  *testKey
			m    string
		}{
			{TypeXAdES, Enveloped, ExcC14N, ks.rsa, RSASHA256},
			{TypeXMLDSig, Enveloped, C14N11, ks.p256, ECDSASHA256},
			{TypeXAdES, Enveloping, C14N11, ks.rsa, RSASHA256},
			{TypeXMLDSig, Enveloping, ExcC14N, ks.p256, ECDSASHA256},
		} {
			c14nName := map[string]string{ExcC14N: "exc", C14N11: "c14n11"}[v.c14n]
			name := fmt.Sprintf("torture/%d-%s/%v/%s/%s", i, d.file, v.pk, c14nName, shortAlg(v.m, false))
			obj := Object{ID: "in", Data: data, XML: true}
			var limits map[string]string
			if v.pk == Enveloped {
				obj.XPath, obj.Namespaces, obj.After = d.xpath, d.ns, d.after
				limits = d.limits
				if v.c14n == C14N11 && d.c14n11EnvelopedErr != nil {
					_, err := Sign(obj, Params{Type: v.typ, Packaging: v.pk, SignatureMethod: v.m, C14N: v.c14n, SignatureID: "x",
						Signer: v.key.signer, Chain: v.key.chain(), SigningTime: fixedTime()})
					if !errors.Is(err, d.c14n11EnvelopedErr) {
						t.Errorf("%s: Sign: got %v, want %v", name, err, d.c14n11EnvelopedErr)
					}
					continue
				}
			}
			pr, ok := produce(t, dir, sigCase{
				name: name, key: v.key, obj: obj, verifierLimits: limits,
				params: Params{Type: v.typ, Packaging: v.pk, SignatureMethod: v.m, C14N: v.c14n, SignatureID: fmt.Sprintf("torture-%d", i)},
			})
			if ok {
				ps = append(ps, pr)
			}
		}
	}
	verifyBatch(t, ps, nil)
}

// TestHashSigningTransforms: hash signing with declared transforms and
// other digests, checked by Check (the content is not available to
// verifiers in a form they could transform).
func TestHashSigningTransforms(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		obj := Object{Digest: digest(h, []byte("x")), DigestHash: h, URI: "urn:example:doc", Transforms: []string{TransformEnveloped, ExcC14N}}
		s, err := Sign(obj, Params{Type: TypeXAdES, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(), SigningTime: fixedTime(), SignatureID: "h"})
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(s, obj, ks.rsa.cert); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(s.Signature, []byte(`<ds:Transform Algorithm="`+TransformEnveloped+`"/>`)) {
			t.Errorf("declared transform missing:\n%s", s.Signature)
		}
		other := obj
		other.Transforms = []string{ExcC14N}
		if err := Check(s, other, ks.rsa.cert); !errors.Is(err, ErrSelfCheck) {
			t.Errorf("Check accepted different transforms: %v", err)
		}
	}
}
