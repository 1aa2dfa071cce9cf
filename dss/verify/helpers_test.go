package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
)

// fakeRevocation is an online source answering from the test PKI.
type fakeRevocation struct {
	p     *testPKI
	t     testing.TB
	err   error
	calls int
}

func (f *fakeRevocation) Validation(_ context.Context, chain []*x509.Certificate) ([][]byte, [][]byte, error) {
	f.calls++
	if f.err != nil {
		return nil, nil, f.err
	}
	var out [][]byte
	for _, c := range chain {
		switch {
		case sameCert(c, f.p.revoked.cert):
			out = append(out, f.p.ocspFor(f.t, f.p.revoked, true))
		case c.CheckSignatureFrom(f.p.ca.cert) == nil || sameCert(c, f.p.ca.cert):
			out = append(out, f.p.ocspFor(f.t, party{cert: c}, false))
		}
	}
	return out, nil, nil
}

// newVerifier returns a Verifier anchored at the test root, at testNow, with the fake online
// revocation source.
func newVerifier(t testing.TB, p *testPKI, mod func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Anchors: []*x509.Certificate{p.root.cert}, Clock: func() time.Time { return testNow },
		Revocation: &fakeRevocation{p: p, t: t}}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// parseDoc parses b with plain etree (tests only: the hostile edits need a tree).
func parseDoc(t testing.TB, b []byte) *etree.Document {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return d
}

func serialize(t testing.TB, d *etree.Document) []byte {
	t.Helper()
	d.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	b, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signatureOf returns the (first) ds:Signature of d.
func signatureOf(t testing.TB, d *etree.Document) *etree.Element {
	t.Helper()
	s := findSignatures(d.Root(), nil)
	if len(s) == 0 {
		t.Fatal("no signature")
	}
	return s[0]
}

// child returns the first descendant-or-self {ns}local of el.
func child(el *etree.Element, ns, local string) *etree.Element {
	if is(el, ns, local) {
		return el
	}
	for _, c := range el.ChildElements() {
		if f := child(c, ns, local); f != nil {
			return f
		}
	}
	return nil
}

// resign recomputes every same-document Reference digest (with the DigestMethod each names,
// SHA-1 included) and the signature value of the first signature of doc, after an edit.
// detached gives detached data.
func resign(t testing.TB, doc []byte, key crypto.Signer, detached ...Document) []byte {
	t.Helper()
	d := parseDoc(t, doc)
	sig := signatureOf(t, d)
	c := &sigCtx{v: &Verifier{lim: DefaultLimits()}, doc: d, ids: buildIDIndex(d.Root()), sig: sig, in: &Input{Detached: detached}}
	c.res.ID = sig.SelectAttrValue("Id", "")
	if v := c.structure(); v != nil {
		t.Fatalf("resign: %v", v)
	}
	if v := c.xadesLayout(); v != nil {
		c.sp = child(sig, xades.NSXAdES, "SignedProperties") // a deliberately broken layout
	}
	if v := c.resolve(); v != nil {
		t.Fatalf("resign: %v", v)
	}
	for _, r := range c.refs {
		h, ok := digestHashes[r.digestURI]
		if !ok {
			h = crypto.SHA256
		}
		r.hash = h
		data, v := c.referenceData(r)
		if v != nil {
			t.Fatalf("resign: %v", v)
		}
		w := h.New()
		w.Write(data)
		r.el.SelectElement("DigestValue").SetText(base64.StdEncoding.EncodeToString(w.Sum(nil)))
	}
	m := sigMethods[c.res.SignatureMethod]
	data, err := canonicalize(c.si, c.c14n, c.c14nPrefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := m.hash.New()
	w.Write(data)
	dg := w.Sum(nil)
	var sv []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sv, err = rsa.SignPKCS1v15(rand.Reader, k, m.hash, dg)
	case *ecdsa.PrivateKey:
		var der []byte
		der, err = ecdsa.SignASN1(rand.Reader, k, dg)
		if err == nil {
			sv, err = xades.RawECDSA(der, &k.PublicKey)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c.sv.SetText(base64.StdEncoding.EncodeToString(sv))
	return serialize(t, d)
}

// edit parses b, applies f to it and serializes it again.
func edit(t testing.TB, b []byte, f func(d *etree.Document, sig *etree.Element)) []byte {
	t.Helper()
	d := parseDoc(t, b)
	f(d, signatureOf(t, d))
	return serialize(t, d)
}

func replaceOnce(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	s := string(b)
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in the document", old)
	}
	return []byte(strings.Replace(s, old, new, 1))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func replaceAll(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if !strings.Contains(string(b), old) {
		t.Fatalf("%q not in the document", old)
	}
	return []byte(strings.ReplaceAll(string(b), old, new))
}

// signDetachedURI returns a valid detached signature whose Reference URI is uri.
func signDetachedURI(t testing.TB, p *testPKI, uri string) []byte {
	t.Helper()
	return bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "x", Data: []byte("data"), URI: uri}, xades.TypeXAdES, xades.Detached, ""))
}

// refDigests sets the DigestMethod of every Reference (not of CertDigest) to uri.
func refDigests(t testing.TB, b []byte, uri string) []byte {
	return edit(t, b, func(d *etree.Document, sig *etree.Element) {
		for _, r := range sig.SelectElement("SignedInfo").SelectElements("Reference") {
			r.SelectElement("DigestMethod").CreateAttr("Algorithm", uri)
		}
	})
}
