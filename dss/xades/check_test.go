package xades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"testing"
)

// selfCheckCase is one signature the self-check must accept.
type selfCheckCase struct {
	name string
	obj  Object
	p    Params
	key  *testKey
}

func selfCheckCases(t *testing.T) []selfCheckCase {
	t.Helper()
	ks := loadKeys(t)
	base := func(typ string, pk Packaging, m, c14n string, k *testKey) Params {
		return Params{Type: typ, Packaging: pk, SignatureMethod: m, C14N: c14n, Signer: k.signer, Chain: k.chain(),
			SigningTime: fixedTime(), SignatureID: "sig-1"}
	}
	var cases []selfCheckCase
	for _, doc := range []string{"invoice.xml", "mixed.xml", "default-ns.xml", "prefixed-root.xml", "xml-lang-single.xml", "unused-ns.xml"} {
		data := readDoc(t, doc)
		for _, c14n := range []string{ExcC14N, C14N11} {
			for _, typ := range []string{TypeXAdES, TypeXMLDSig} {
				cases = append(cases,
					selfCheckCase{fmt.Sprintf("%s/enveloped/%s/%s", doc, c14n, typ), Object{ID: "doc-1", Data: data, XML: true},
						base(typ, Enveloped, RSASHA256, c14n, ks.rsa), ks.rsa},
					selfCheckCase{fmt.Sprintf("%s/enveloping/%s/%s", doc, c14n, typ), Object{ID: "doc-1", Data: data, XML: true},
						base(typ, Enveloping, ECDSASHA256, c14n, ks.p256), ks.p256},
				)
			}
		}
	}
	cases = append(cases,
		selfCheckCase{"detached", Object{Data: []byte("content"), URI: "a.bin"}, base(TypeXAdES, Detached, RSAPSSSHA256, "", ks.rsa), ks.rsa},
		selfCheckCase{"enveloping-binary", Object{Data: binaryData()}, base(TypeXAdES, Enveloping, RSASHA256, "", ks.rsa), ks.rsa},
	)
	return cases
}

// TestCheckAcceptsOwnOutput: the self-check accepts what Build made, across documents with
// CDATA, comments splitting text, carriage returns, default namespaces, xml:lang and unused
// declarations, both c14n algorithms and all packagings, with and without the signer's
// verification (a VerifyingSigner's).
func TestCheckAcceptsOwnOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range selfCheckCases(t) {
		for _, verifying := range []bool{false, true} {
			p := tc.p
			if verifying {
				p.Signer = verifyingSigner{p.Signer}
			}
			s, err := Sign(tc.obj, p)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if (s.signer != nil) != verifying {
				t.Fatalf("%s: signer's verification recorded: %v, want %v", tc.name, s.signer != nil, verifying)
			}
			if err := Check(s, tc.obj, tc.key.cert); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			unverified := *s
			unverified.signer = nil
			if err := Check(&unverified, tc.obj, tc.key.cert); err != nil {
				t.Fatalf("%s without the signer's verification: %v", tc.name, err)
			}
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
// result, both with the signer's verification recorded (a VerifyingSigner: the public-key
// verification is skipped for the value it returned) and without it.
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
			unverified := c
			unverified.signer = nil
			for _, v := range []*Signed{&c, &unverified} {
				if err := Check(v, obj, k.cert); !errors.Is(err, ErrSelfCheck) {
					t.Fatalf("%s (verifying signer %v): flip at %d (%q in %q) accepted (signer's verification %v): %v", k.name, kv.verifying, i, out[i], out[max(0, i-20):min(len(out), i+20)], v.signer != nil, err)
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
// bytes still parse, but into a different tree. Check must refuse them. An edit that keeps
// the tree (another spelling of the same character), or only its canonical form, is accepted.
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
		unverified := *bad
		unverified.signer = nil
		for _, v := range []*Signed{bad, &unverified} {
			if err := Check(v, obj, ks.rsa.cert); !errors.Is(err, ErrSelfCheck) {
				t.Errorf("%s (signer's verification %v): Check said %v", f.name, v.signer != nil, err)
			}
		}
	}
	same := edit("fish &amp; chips", "fish &#38; chips")
	if err := Check(same, obj, ks.rsa.cert); err != nil {
		t.Errorf("same tree, other spelling: %v", err)
	}
	// Another tree with the same canonical form is accepted, as any verifier would.
	reordered := edit(`b="2" a="1"`, `a="1" b="2"`)
	if err := Check(reordered, obj, ks.rsa.cert); err != nil {
		t.Errorf("attributes reordered (c14n sorts them): %v", err)
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
// output checked without the record of that verification, or against a certificate of another
// key, is refused.
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
	unverified := *s
	unverified.signer = nil
	if err := Check(&unverified, obj, ks.rsa.cert); !errors.Is(err, ErrSelfCheck) {
		t.Fatalf("without the signer's verification the other key's signature passed: %v", err)
	}
	if err := Check(s, obj, ks.other.cert); !errors.Is(err, ErrSelfCheck) {
		t.Fatalf("checked against another certificate, the output passed: %v", err)
	}
	// The recorded verification counts only for the key it was made with.
	v := s.signer
	if !v.covers(ks.rsa.cert.PublicKey, v.hash, v.digest, v.value) || v.covers(ks.other.cert.PublicKey, v.hash, v.digest, v.value) {
		t.Fatal("the record of the signer's verification does not tell the signer's key from another")
	}
}
