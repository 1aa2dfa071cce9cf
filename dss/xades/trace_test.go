package xades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/beevik/etree"
)

// traceCase is one signature whose self-check must take Sign's digests for every part it
// canonicalizes.
type traceCase struct {
	name string
	obj  Object
	p    Params
	key  *testKey
}

func traceCases(t *testing.T) []traceCase {
	t.Helper()
	ks := loadKeys(t)
	base := func(typ string, pk Packaging, m, c14n string, k *testKey) Params {
		return Params{Type: typ, Packaging: pk, SignatureMethod: m, C14N: c14n, Signer: k.signer, Chain: k.chain(),
			SigningTime: fixedTime(), SignatureID: "sig-1"}
	}
	var cases []traceCase
	for _, doc := range []string{"invoice.xml", "mixed.xml", "default-ns.xml", "prefixed-root.xml", "xml-lang-single.xml", "unused-ns.xml"} {
		data := readDoc(t, doc)
		for _, c14n := range []string{ExcC14N, C14N11} {
			for _, typ := range []string{TypeXAdES, TypeXMLDSig} {
				cases = append(cases,
					traceCase{fmt.Sprintf("%s/enveloped/%s/%s", doc, c14n, typ), Object{ID: "doc-1", Data: data, XML: true},
						base(typ, Enveloped, RSASHA256, c14n, ks.rsa), ks.rsa},
					traceCase{fmt.Sprintf("%s/enveloping/%s/%s", doc, c14n, typ), Object{ID: "doc-1", Data: data, XML: true},
						base(typ, Enveloping, ECDSASHA256, c14n, ks.p256), ks.p256},
				)
			}
		}
	}
	cases = append(cases,
		traceCase{"detached", Object{Data: []byte("content"), URI: "a.bin"}, base(TypeXAdES, Detached, RSAPSSSHA256, "", ks.rsa), ks.rsa},
		traceCase{"enveloping-binary", Object{Data: binaryData()}, base(TypeXAdES, Enveloping, RSASHA256, "", ks.rsa), ks.rsa},
	)
	return cases
}

// tracedParts reparses s and reports, for SignedInfo and each same-document reference, whether
// the trace holds a digest for the reparsed part's print (what Check would use).
func tracedParts(t *testing.T, s *Signed) (hits, misses []string) {
	t.Helper()
	data := s.Signature
	if s.Document != nil {
		data = s.Document
	}
	doc, err := parseOwn(data)
	if err != nil {
		t.Fatal(err)
	}
	ids := buildIDIndex(doc.Root())
	sig, err := ids.lookup(s.SignatureID)
	if err != nil {
		t.Fatal(err)
	}
	si := sig.ChildElements()[0]
	sm, err := lookupSigMethod(si.ChildElements()[1].SelectAttrValue("Algorithm", ""))
	if err != nil {
		t.Fatal(err)
	}
	c14n := si.ChildElements()[0].SelectAttrValue("Algorithm", "")
	note := func(what string, ok bool) {
		if ok {
			hits = append(hits, what)
		} else {
			misses = append(misses, what)
		}
	}
	_, ok := s.trace.digest(elementPrint(si, nil), c14n, sm.hash)
	note("SignedInfo", ok)
	for _, ref := range si.ChildElements()[2:] {
		uri := ref.SelectAttr("URI")
		if uri == nil || (uri.Value != "" && uri.Value[0] != '#') {
			continue
		}
		var transforms []string
		if ts := ref.SelectElement("Transforms"); ts != nil {
			for _, tr := range ts.ChildElements() {
				transforms = append(transforms, tr.SelectAttrValue("Algorithm", ""))
			}
		}
		if len(transforms) == 1 && transforms[0] == TransformBase64 {
			continue // digest of decoded bytes, no canonicalization
		}
		h, err := digestHash(ref.SelectElement("DigestMethod").SelectAttrValue("Algorithm", ""))
		if err != nil {
			t.Fatal(err)
		}
		alg := transforms[len(transforms)-1]
		var p treePrint
		if uri.Value == "" {
			p = documentPrint(doc, sig)
		} else {
			target, err := ids.lookup(uri.Value[1:])
			if err != nil {
				t.Fatal(err)
			}
			p = elementPrint(target, nil)
		}
		_, ok := s.trace.digest(p, alg, h)
		note("reference "+uri.Value, ok)
	}
	return hits, misses
}

// TestCheckReusesSignDigests shows that the self-check of Sign's own output canonicalizes
// nothing again: every part it would canonicalize has a reparsed print Sign recorded, across
// documents with CDATA, comments splitting text, carriage returns, default namespaces,
// xml:lang and unused declarations, both c14n algorithms and all packagings.
func TestCheckReusesSignDigests(t *testing.T) {
	t.Parallel()
	for _, tc := range traceCases(t) {
		s, err := Sign(tc.obj, tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := Check(s, tc.obj, tc.key.cert); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		noTrace := *s
		noTrace.trace = nil
		if err := Check(&noTrace, tc.obj, tc.key.cert); err != nil {
			t.Fatalf("%s without trace: %v", tc.name, err)
		}
		hits, misses := tracedParts(t, s)
		if len(misses) != 0 || len(hits) == 0 {
			t.Errorf("%s: canonicalized again: %v (reused: %v)", tc.name, misses, hits)
		}
	}
}

// region returns the offsets of the first element named name (a qualified name as written)
// in b, start tag to end tag inclusive.
func region(t *testing.T, b []byte, name string) (int, int) {
	t.Helper()
	i := bytes.Index(b, []byte("<"+name))
	j := bytes.Index(b, []byte("</"+name+">"))
	if i < 0 || j < i {
		t.Fatalf("no %s in the output", name)
	}
	return i, j + len("</"+name+">")
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// TestCheckRejectsBitFlips flips the lowest bit of every letter and digit of the signed
// document (outside the signature, the XML declaration and comments), of SignedInfo, of
// SignedProperties and of SignatureValue in Sign's output, and requires Check to refuse each
// result, both with Sign's trace (the shortcut) and without it (the full canonicalization).
func TestCheckRejectsBitFlips(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	obj := Object{ID: "doc-1", Data: readDoc(t, "invoice.xml"), XML: true}
	for _, kv := range []struct {
		k         *testKey
		verifying bool
	}{{ks.rsa, false}, {ks.p256, false}, {ks.rsa, true}, {ks.p256, true}} {
		k := kv.k
		m := RSASHA256
		if k == ks.p256 {
			m = ECDSASHA256
		}
		var signer crypto.Signer = k.signer
		if kv.verifying {
			signer = verifyingSigner{k.signer} // Check skips the verification of the untouched value
		}
		p := Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: m, Signer: signer, Chain: k.chain(),
			SigningTime: fixedTime(), SignatureID: "sig-1"}
		s, err := Sign(obj, p)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Document
		sigStart, sigEnd := region(t, out, "ds:Signature")
		siStart, siEnd := region(t, out, "ds:SignedInfo")
		spStart, spEnd := region(t, out, "xades:SignedProperties")
		svStart, svEnd := region(t, out, "ds:SignatureValue")
		svStart += len("<ds:SignatureValue>")
		svEnd -= len("</ds:SignatureValue>")
		// The last base64 digit before the padding carries bits the decoder ignores.
		svEnd = svStart + bytes.IndexByte(out[svStart:svEnd], '=') - 1
		declEnd := bytes.Index(out, []byte("?>")) + 2

		var positions []int
		inComment := false
		for i := declEnd; i < len(out); i++ {
			switch {
			case bytes.HasPrefix(out[i:], []byte("<!--")):
				inComment = true
			case bytes.HasPrefix(out[i:], []byte("-->")):
				inComment = false
			}
			inside := func(a, b int) bool { return i >= a && i < b }
			signed := !inside(sigStart, sigEnd) || inside(siStart, siEnd) || inside(spStart, spEnd) || inside(svStart, svEnd)
			if signed && !inComment && isAlnum(out[i]) {
				positions = append(positions, i)
			}
		}
		if len(positions) < 1500 {
			t.Fatalf("only %d positions to flip", len(positions))
		}
		regions := map[string]int{}
		for _, i := range positions {
			bad := bytes.Clone(out)
			bad[i] ^= 1
			c := *s
			c.Document = bad
			noTrace := c
			noTrace.trace = nil
			for _, v := range []*Signed{&c, &noTrace} {
				if err := Check(v, obj, k.cert); !errors.Is(err, ErrSelfCheck) {
					t.Fatalf("%s (verifying signer %v): flip at %d (%q in %q) accepted (trace %v): %v", k.name, kv.verifying, i, out[i], out[max(0, i-20):min(len(out), i+20)], v.trace != nil, err)
				}
			}
			switch {
			case i >= siStart && i < siEnd:
				regions["SignedInfo"]++
			case i >= spStart && i < spEnd:
				regions["SignedProperties"]++
			case i >= svStart && i < svEnd:
				regions["SignatureValue"]++
			default:
				regions["document"]++
			}
		}
		for _, r := range []string{"SignedInfo", "SignedProperties", "SignatureValue", "document"} {
			if regions[r] < 40 {
				t.Errorf("%s: only %d flips in %s", k.name, regions[r], r)
			}
		}
		t.Logf("%s: %d flips refused: %v", k.name, len(positions), regions)
	}
}

// TestCheckSerializationFaults edits Sign's output the way a faulty serializer would: the
// bytes still parse, but into a different tree. Check must refuse them with the trace. An
// edit that keeps the tree (another spelling of the same character) is accepted, through the
// shortcut.
func TestCheckSerializationFaults(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	obj := Object{ID: "doc-1", Data: readDoc(t, "mixed.xml"), XML: true}
	p := Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(),
		SigningTime: fixedTime(), SignatureID: "sig-1"}
	s, err := Sign(obj, p)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) *Signed {
		t.Helper()
		if !bytes.Contains(s.Document, []byte(old)) {
			t.Fatalf("%q not in the output", old)
		}
		c := *s
		c.Document = bytes.Replace(s.Document, []byte(old), []byte(new), 1)
		return &c
	}
	faults := []struct{ name, old, new string }{
		{"carriage return written raw (a parser turns it into a line feed)", "carriage&#xD;return", "carriage\rreturn"},
		{"escape dropped in text", "fish &amp; chips", "fish &amp;amp; chips"},
		{"namespace declaration dropped from the root", ` xmlns:m="urn:example:m"`, ``},
		{"text moved out of an element", "<text>fish", "fish<text>"},
		{"empty element gets white space", "<empty/>", "<empty> </empty>"},
		{"processing instruction before the root dropped", `<?xml-stylesheet type="text/xsl" href="style.xsl"?>`, ""},
		{"signature moved out of the root", "</ds:Signature></r:root>", "</ds:Signature>\n</r:root>"},
	}
	for _, f := range faults {
		bad := edit(f.old, f.new)
		noTrace := *bad
		noTrace.trace = nil
		for _, v := range []*Signed{bad, &noTrace} {
			if err := Check(v, obj, ks.rsa.cert); !errors.Is(err, ErrSelfCheck) {
				t.Errorf("%s (trace %v): Check said %v", f.name, v.trace != nil, err)
			}
		}
	}
	same := edit("fish &amp; chips", "fish &#38; chips")
	if err := Check(same, obj, ks.rsa.cert); err != nil {
		t.Errorf("same tree, other spelling: %v", err)
	}
	if _, misses := tracedParts(t, same); len(misses) != 0 {
		t.Errorf("same tree, other spelling: canonicalized again: %v", misses)
	}
	// Another tree with the same canonical form: the print differs, so the document is
	// canonicalized from the bytes, and that is accepted, as any verifier would.
	reordered := edit(`b="2" a="1"`, `a="1" b="2"`)
	if err := Check(reordered, obj, ks.rsa.cert); err != nil {
		t.Errorf("attributes reordered (c14n sorts them): %v", err)
	}
	// (The root's attributes are also context of SignedInfo and SignedProperties, so they are
	// canonicalized again as well.)
	if _, misses := tracedParts(t, reordered); !slices.Contains(misses, "reference ") {
		t.Errorf("attributes reordered: want the document canonicalized again, got %v", misses)
	}
}

// TestPrints pins what a print distinguishes and what it does not.
func TestPrints(t *testing.T) {
	t.Parallel()
	parse := func(s string) *etree.Document {
		d := etree.NewDocument()
		if err := d.ReadFromString(s); err != nil {
			t.Fatal(err)
		}
		return d
	}
	pr := func(s string) treePrint { return documentPrint(parse(s), nil) }
	base := pr(`<r a="1"><x>ab</x></r>`)
	for _, s := range []string{`<r a="1"><x>a</x><x>b</x></r>`, `<r a="2"><x>ab</x></r>`, `<r b="1"><x>ab</x></r>`,
		`<r a="1"><y>ab</y></r>`, `<r a="1" b=""><x>ab</x></r>`, `<r a="1"><x>a<!--c-->b</x></r>`, `<?p?><r a="1"><x>ab</x></r>`,
		`<r xmlns="u" a="1"><x>ab</x></r>`, `<p:r xmlns:p="u" a="1"><x>ab</x></p:r>`, `<r a="1"><x>ab</x> </r>`} {
		if pr(s) == base {
			t.Errorf("%s has the print of the base", s)
		}
	}
	// Equal: text split by CDATA (PreserveCData off) or by an element left out; the xml
	// declaration and comments outside the root.
	for _, s := range []string{`<r a="1"><x>a<![CDATA[b]]></x></r>`, `<?xml version="1.0"?><!--c--><r a="1"><x>ab</x></r>`} {
		if pr(s) != base {
			t.Errorf("%s differs from the base", s)
		}
	}
	d := parse(`<r a="1"><x>a<s/>b</x></r>`)
	if documentPrint(d, d.FindElement("//s")) != base {
		t.Error("a skipped element still counts")
	}
	// The context of an element: its ancestors' declarations count.
	e1 := parse(`<a xmlns:p="u"><b/></a>`).FindElement("//b")
	e2 := parse(`<a xmlns:p="v"><b/></a>`).FindElement("//b")
	if elementPrint(e1, nil) == elementPrint(e2, nil) {
		t.Error("the namespace context does not count")
	}
}

// verifyingSigner verifies what its signer returns, as hsm.Guard does (PKCS#1 v1.5, PSS with
// the hash length as salt, ECDSA in ASN.1), and so is a VerifyingSigner.
type verifyingSigner struct{ crypto.Signer }

func (v verifyingSigner) VerifiesSignatures() {}

func (v verifyingSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := v.Signer.Sign(r, d, opts)
	if err != nil {
		return nil, err
	}
	switch pub := v.Public().(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			err = rsa.VerifyPSS(pub, pss.Hash, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: pss.Hash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, opts.HashFunc(), d, sig)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, d, sig) {
			err = errors.New("ecdsa signature does not verify")
		}
	}
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// lyingSigner claims to verify its signatures but returns another key's: it shows which
// checks Check still makes when a VerifyingSigner returned the value.
type lyingSigner struct {
	crypto.Signer
	pub crypto.PublicKey
}

func (l lyingSigner) VerifiesSignatures()      {}
func (l lyingSigner) Public() crypto.PublicKey { return l.pub }

// TestCheckTrustsVerifyingSigner: Check does not verify again the SignatureValue a
// VerifyingSigner returned over the SignedInfo digest it reads back, and only that: the same
// output checked without the trace, or against a certificate of another key, is refused.
func TestCheckTrustsVerifyingSigner(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	obj := Object{ID: "doc-1", Data: readDoc(t, "invoice.xml"), XML: true}
	// The lie: alice's certificate and public key, another RSA key's signatures.
	liar := lyingSigner{Signer: ks.other.signer, pub: ks.rsa.signer.Public()}
	p := Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256, Signer: liar, Chain: ks.rsa.chain(),
		SigningTime: fixedTime(), SignatureID: "sig-1"}
	s, err := Sign(obj, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(s, obj, ks.rsa.cert); err != nil {
		t.Fatalf("the value a VerifyingSigner returned was verified again: %v", err)
	}
	noTrace := *s
	noTrace.trace = nil
	if err := Check(&noTrace, obj, ks.rsa.cert); !errors.Is(err, ErrSelfCheck) {
		t.Fatalf("without the trace the other key's signature passed: %v", err)
	}
	if err := Check(s, obj, ks.other.cert); !errors.Is(err, ErrSelfCheck) {
		t.Fatalf("checked against another certificate, the output passed: %v", err)
	}
	// The recorded verification counts only for the key it was made with.
	if !s.trace.signerKeyIs(ks.rsa.cert.PublicKey) || s.trace.signerKeyIs(ks.other.cert.PublicKey) {
		t.Fatal("the trace does not tell the signer's key from another")
	}
}
