package xades

import (
	"bytes"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignErrors(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	doc := readDoc(t, "invoice.xml")
	base := func() (Object, Params) {
		return Object{Data: doc, XML: true, URI: "doc.xml"}, Params{Type: TypeXAdES, Packaging: Detached, SignatureMethod: RSASHA256,
			Signer: ks.rsa.signer, Chain: ks.rsa.chain(), SigningTime: fixedTime(), SignatureID: "s"}
	}
	tests := []struct {
		name    string
		mod     func(*Object, *Params)
		wantErr error
	}{
		{"rsa-sha1", func(o *Object, p *Params) { p.SignatureMethod = "http://www.w3.org/2000/09/xmldsig#rsa-sha1" }, ErrHashAlgorithm},
		{"rsa-md5", func(o *Object, p *Params) { p.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5" }, ErrHashAlgorithm},
		{"ecdsa-sha1", func(o *Object, p *Params) {
			p.SignatureMethod, p.Signer, p.Chain = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1", ks.p256.signer, ks.p256.chain()
		}, ErrHashAlgorithm},
		{"unknown method", func(o *Object, p *Params) { p.SignatureMethod = "urn:x" }, ErrNotSupported},
		{"hmac", func(o *Object, p *Params) { p.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256" }, ErrNotSupported},
		{"ecdsa method, rsa key", func(o *Object, p *Params) { p.SignatureMethod = ECDSASHA256 }, ErrInappropriate},
		{"rsa method, ec key", func(o *Object, p *Params) { p.Signer, p.Chain = ks.p256.signer, ks.p256.chain() }, ErrInappropriate},
		{"pss method, ec key", func(o *Object, p *Params) {
			p.SignatureMethod, p.Signer, p.Chain = RSAPSSSHA256, ks.p256.signer, ks.p256.chain()
		}, ErrInappropriate},
		{"chain of another key", func(o *Object, p *Params) { p.Chain = ks.p256.chain() }, ErrInappropriate},
		{"no chain", func(o *Object, p *Params) { p.Chain = nil }, ErrMalformed},
		{"no signer", func(o *Object, p *Params) { p.Signer = nil }, ErrMalformed},
		{"sha1 references", func(o *Object, p *Params) { p.DigestHash = crypto.SHA1 }, ErrHashAlgorithm},
		{"c14n with comments", func(o *Object, p *Params) { p.C14N = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments" }, ErrNotSupported},
		{"c14n 1.0", func(o *Object, p *Params) { p.C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315" }, ErrNotSupported},
		{"unknown type", func(o *Object, p *Params) { p.Type = "urn:ietf:rfc:3369" }, ErrNotSupported},
		{"bad signature id", func(o *Object, p *Params) { p.SignatureID = "1abc" }, ErrMalformed},
		{"empty signature id", func(o *Object, p *Params) { p.SignatureID = "" }, ErrMalformed},
		{"xades without time", func(o *Object, p *Params) { p.SigningTime = time.Time{} }, ErrMalformed},
		{"no data", func(o *Object, p *Params) { o.Data = nil }, ErrMalformed},
		{"data and digest", func(o *Object, p *Params) { o.Digest, o.DigestHash = make([]byte, 32), crypto.SHA256 }, ErrMalformed},
		{"detached same-document uri", func(o *Object, p *Params) { o.URI = "#x" }, ErrInvalidRefURI},
		{"hash: wrong length", func(o *Object, p *Params) { o.Data, o.Digest, o.DigestHash = nil, make([]byte, 20), crypto.SHA256 }, ErrHashAlgorithm},
		{"hash: sha1", func(o *Object, p *Params) { o.Data, o.Digest, o.DigestHash = nil, make([]byte, 20), crypto.SHA1 }, ErrHashAlgorithm},
		{"hash: no algorithm", func(o *Object, p *Params) { o.Data, o.Digest = nil, make([]byte, 32) }, ErrHashAlgorithm},
		{"hash: xpath transform", func(o *Object, p *Params) {
			o.Data, o.Digest, o.DigestHash = nil, make([]byte, 32), crypto.SHA256
			o.Transforms = []string{"http://www.w3.org/TR/1999/REC-xpath-19991116"}
		}, ErrNotSupported},
		{"hash: enveloped", func(o *Object, p *Params) {
			o.Data, o.Digest, o.DigestHash = nil, make([]byte, 32), crypto.SHA256
			p.Packaging = Enveloped
		}, ErrNotSupported},
		{"enveloped: not xml", func(o *Object, p *Params) { p.Packaging, o.XML, o.URI = Enveloped, false, "" }, ErrMalformed},
		{"enveloped: external uri", func(o *Object, p *Params) { p.Packaging = Enveloped }, ErrInvalidRefURI},
		{"enveloped: #id uri", func(o *Object, p *Params) { p.Packaging, o.URI = Enveloped, "#x" }, ErrNotSupported},
		{"enveloped: descendant xpath", func(o *Object, p *Params) { p.Packaging, o.URI, o.XPath = Enveloped, "", "//x" }, ErrNotSupported},
		{"enveloped: xpath matches nothing", func(o *Object, p *Params) { p.Packaging, o.URI, o.XPath = Enveloped, "", "/nothing" }, ErrMalformed},
		{"enveloped: after the root", func(o *Object, p *Params) { p.Packaging, o.URI, o.XPath, o.After = Enveloped, "", "/*", true }, ErrMalformed},
		{"enveloped: DOCTYPE", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloped, "", []byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`)
		}, ErrMalformed},
		{"enveloped: DOCTYPE without entities", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloped, "", []byte(`<!DOCTYPE a><a/>`)
		}, ErrMalformed},
		{"enveloped: unsupported encoding", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloped, "", []byte("<?xml version=\"1.0\" encoding=\"EUC-JP\"?><a>\xe9</a>")
		}, ErrMalformed},
		{"enveloped: not well-formed", func(o *Object, p *Params) { p.Packaging, o.URI, o.Data = Enveloped, "", []byte(`<a><b></a>`) }, ErrMalformed},
		{"enveloped: duplicate attribute", func(o *Object, p *Params) { p.Packaging, o.URI, o.Data = Enveloped, "", []byte(`<a x="1" x="2"/>`) }, ErrMalformed},
		{"enveloped: us-ascii with a byte above 0x7F", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloped, "", []byte("<?xml version=\"1.0\" encoding=\"US-ASCII\"?><a>\xe9</a>")
		}, ErrMalformed},
		{"enveloped: processing instruction inside the root", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloped, "", []byte("<a>alice<?x y?>.evil.com</a>")
		}, ErrMalformed},
		{"enveloping: not well-formed", func(o *Object, p *Params) { p.Packaging, o.URI, o.Data = Enveloping, "", []byte(`<a>`) }, ErrMalformed},
		{"enveloped: undeclared prefix", func(o *Object, p *Params) { p.Packaging, o.URI, o.Data = Enveloped, "", []byte(`<a><p:b/></a>`) }, ErrMalformed},
		{"enveloped: id already used", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloped, "", []byte(`<a><b Id="s-signedprops"/></a>`)
		}, ErrMalformed},
		{"enveloping: id already used", func(o *Object, p *Params) {
			p.Packaging, o.URI, o.Data = Enveloping, "", []byte(`<a><b Id="s"/></a>`)
		}, ErrMalformed},
		{"enveloping: bad object id", func(o *Object, p *Params) { p.Packaging, o.URI, o.ObjID = Enveloping, "", "1x" }, ErrMalformed},
		{"enveloping: foreign uri", func(o *Object, p *Params) { p.Packaging = Enveloping }, ErrInvalidRefURI},
		{"unknown packaging", func(o *Object, p *Params) { p.Packaging = Packaging(7) }, ErrNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, p := base()
			tt.mod(&o, &p)
			s, err := Sign(o, p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if s != nil {
				t.Fatal("a signature came with the error")
			}
		})
	}
}

func TestCheckRejects(t *testing.T) {
	t.Parallel()
	ks := loadKeys(t)
	doc := readDoc(t, "invoice.xml")
	obj := Object{Data: doc, XML: true}
	p := Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: ECDSASHA256, Signer: ks.p256.signer, Chain: ks.p256.chain(),
		SigningTime: fixedTime(), SignatureID: "s"}
	s, err := Sign(obj, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(s, obj, ks.p256.cert); err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) *Signed {
		if !bytes.Contains(s.Document, []byte(old)) {
			t.Fatalf("%q not in the document", old)
		}
		c := *s
		c.Document = bytes.Replace(s.Document, []byte(old), []byte(new), 1)
		return &c
	}
	sv := s.Document[bytes.Index(s.Document, []byte("<ds:SignatureValue>"))+len("<ds:SignatureValue>"):]
	sv = sv[:bytes.IndexByte(sv, '<')]
	flipped := []byte(string(sv))
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	tests := []struct {
		name string
		s    *Signed
	}{
		{"signature value", edit(string(sv), string(flipped))},
		{"signing time", edit("<xades:SigningTime>2025-03-14T14:09:26Z", "<xades:SigningTime>2025-03-14T14:09:27Z")},
		{"mime type", edit("<xades:MimeType>text/xml", "<xades:MimeType>text/html")},
		{"document content", edit("1190.00", "1190.01")},
		{"element added to signed content", edit("<cbc:ID>", "<cbc:ID><x/>")},
		{"duplicate SignedProperties id", edit("<cbc:IssueDate>", `<cbc:IssueDate Id="s-signedprops">`)},
		{"duplicate signature id", edit("<cbc:IssueDate>", `<cbc:IssueDate Id="s">`)},
		{"signature method swapped", edit(ECDSASHA256, ECDSASHA384)},
		{"c14n swapped", edit(`<ds:CanonicalizationMethod Algorithm="`+ExcC14N, `<ds:CanonicalizationMethod Algorithm="`+C14N11)},
		{"not well-formed", edit("</inv:Invoice>", "</inv:Invoic>")},
		{"signature id unknown", &Signed{Document: s.Document, SignatureID: "nope"}},
		{"both outputs", &Signed{Document: s.Document, Signature: s.Document, SignatureID: "s"}},
	}
	for _, tt := range tests {
		if err := Check(tt.s, obj, ks.p256.cert); !errors.Is(err, ErrSelfCheck) {
			t.Errorf("%s: Check said %v", tt.name, err)
		}
	}
	if err := Check(s, obj, ks.rsa.cert); !errors.Is(err, ErrSelfCheck) {
		t.Errorf("wrong certificate: Check said %v", err)
	}
	if err := Check(s, obj, ks.other.cert); !errors.Is(err, ErrSelfCheck) {
		t.Errorf("other certificate: Check said %v", err)
	}
	// A comment inside signed content does not change the digest (c14n
	// without comments), so Check accepts it, as every verifier would.
	if err := Check(edit("<cbc:ID>", "<cbc:ID><!-- c -->"), obj, ks.p256.cert); err != nil {
		t.Errorf("comment in signed content: %v", err)
	}

	// Detached: the wrong content, another URI.
	dobj := Object{Data: []byte("content"), URI: "a.bin"}
	p.Packaging = Detached
	ds, err := Sign(dobj, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Object{{Data: []byte("Content"), URI: "a.bin"}, {Data: []byte("content"), URI: "b.bin"}, {Data: []byte("content")}} {
		if err := Check(ds, o, ks.p256.cert); !errors.Is(err, ErrSelfCheck) {
			t.Errorf("detached %q %q: Check said %v", o.Data, o.URI, err)
		}
	}
	// A signature whose SignedProperties reference was dropped.
	i := bytes.Index(ds.Signature, []byte(`<ds:Reference Type=`))
	j := bytes.Index(ds.Signature[i:], []byte(`</ds:Reference>`))
	cut := *ds
	cut.Signature = append(bytes.Clone(ds.Signature[:i]), ds.Signature[i+j+len(`</ds:Reference>`):]...)
	if err := Check(&cut, dobj, ks.p256.cert); !errors.Is(err, ErrSelfCheck) || !strings.Contains(err.Error(), "QualifyingProperties") {
		t.Errorf("unreferenced SignedProperties: Check said %v", err)
	}
}
