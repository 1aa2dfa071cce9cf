package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
)

const smallDoc = `<doc xmlns="urn:example:doc"><data Id="d1">signed content</data><other>x</other></doc>`

func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bytesOf returns what a verifier is given for s: the document (enveloped) or the signature.
func bytesOf(s *xades.Signed) []byte {
	if s.Document != nil {
		return s.Document
	}
	return s.Signature
}

type want struct {
	ind    Indication
	sub    SubIndication
	reason Reason
}

func check(t *testing.T, v *Verifier, in Input, w want) *Report {
	t.Helper()
	rep, err := v.Verify(context.Background(), in)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Signatures) != 1 {
		t.Fatalf("%d signatures reported, want 1", len(rep.Signatures))
	}
	r := rep.Signatures[0]
	if r.Indication != w.ind || r.SubIndication != w.sub || (w.reason != "" && r.Reason != w.reason) {
		t.Fatalf("got %s/%s (%s): %s; want %s/%s (%s)", r.Indication, r.SubIndication, r.Reason, r.Detail, w.ind, w.sub, w.reason)
	}
	return rep
}

var passed = want{ind: TotalPassed}

func TestValidSignatures(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	invoice := readTestdata(t, "documents/invoice.xml")
	bin := []byte("%PDF-1.7 binary \x00\x01\x02 content")
	tests := []struct {
		name     string
		signer   party
		obj      xades.Object
		typ      string
		pkg      xades.Packaging
		alg      string
		detached []Document
		scope    string
	}{
		{"xades enveloped rsa", p.rsa, xades.Object{Data: invoice, XML: true}, xades.TypeXAdES, xades.Enveloped, "", nil, ScopeDocument},
		{"xades enveloped ec p-384", p.ec384, xades.Object{Data: invoice, XML: true}, xades.TypeXAdES, xades.Enveloped, xades.ECDSASHA384, nil, ScopeDocument},
		{"xades enveloping xml rsa-pss", p.rsa, xades.Object{ID: "doc-1", Data: invoice, XML: true}, xades.TypeXAdES, xades.Enveloping, xades.RSAPSSSHA384, nil, ScopeObject},
		{"xades enveloping binary ec", p.ec, xades.Object{ID: "doc-1", Data: bin}, xades.TypeXAdES, xades.Enveloping, "", nil, ScopeObject},
		{"xades detached ec", p.ec, xades.Object{ID: "doc-1", Data: bin, URI: "report.pdf"}, xades.TypeXAdES, xades.Detached, "",
			[]Document{{ID: "doc-1", URI: "report.pdf", HasURI: true, Data: bin}}, ScopeDetached},
		{"xmldsig enveloped rsa-sha512", p.rsa, xades.Object{Data: invoice, XML: true}, xades.TypeXMLDSig, xades.Enveloped, xades.RSASHA512, nil, ScopeDocument},
		{"xmldsig detached without URI", p.ec, xades.Object{Data: bin}, xades.TypeXMLDSig, xades.Detached, "",
			[]Document{{ID: "doc-1", Data: bin}}, ScopeDetached},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sign(t, tt.signer, p.chainOf(tt.signer), tt.obj, tt.typ, tt.pkg, tt.alg)
			rep := check(t, v, Input{Signature: bytesOf(s), Detached: tt.detached}, passed)
			r := rep.Signatures[0]
			if !sameCert(r.Signer, tt.signer.cert) || len(r.Chain) != 3 || !sameCert(r.Chain[2], p.root.cert) {
				t.Errorf("signer %v, chain of %d", r.Signer.Subject, len(r.Chain))
			}
			if r.XAdES != (tt.typ == xades.TypeXAdES) {
				t.Errorf("XAdES = %v", r.XAdES)
			}
			if r.Scope[0].Kind != tt.scope {
				t.Errorf("scope %+v, want kind %s", r.Scope, tt.scope)
			}
			if r.XAdES {
				if len(r.Scope) != 2 || r.Scope[1].Kind != ScopeSignedProperties || r.Level != "B-B" {
					t.Errorf("scope %+v level %s", r.Scope, r.Level)
				}
				if !r.SigningTime.Equal(testNow.Add(-time.Hour)) {
					t.Errorf("signing time %v", r.SigningTime)
				}
			}
		})
	}
}

func TestTimestampAndValidationData(t *testing.T) {
	p := newPKI(t)
	invoice := readTestdata(t, "documents/invoice.xml")
	base := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: invoice, XML: true}, xades.TypeXAdES, xades.Enveloped, "")

	t.Run("B-T", func(t *testing.T) {
		s := p.addTimestamp(t, base, testNow.Add(-30*time.Minute), false)
		rep := check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, passed)
		r := rep.Signatures[0]
		if r.Level != "B-T" || len(r.TimestampTimes) != 1 || !r.TimestampTimes[0].Equal(testNow.Add(-30*time.Minute)) {
			t.Errorf("level %s timestamps %v", r.Level, r.TimestampTimes)
		}
	})
	t.Run("imprint mismatch", func(t *testing.T) {
		s := p.addTimestamp(t, base, testNow.Add(-30*time.Minute), true)
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, want{Indeterminate, SigConstraintsFailure, ReasonTimestamp})
	})
	t.Run("timestamp from an untrusted TSA", func(t *testing.T) {
		s := p.addTimestamp(t, base, testNow.Add(-30*time.Minute), false)
		v := newVerifier(t, p, func(c *Config) { c.Anchors = []*x509.Certificate{p.otherRoot.cert} })
		check(t, v, Input{Signature: bytesOf(s)}, want{Indeterminate, SigConstraintsFailure, ReasonTimestamp})
	})
	t.Run("B-LT without an online source", func(t *testing.T) {
		s := p.addTimestamp(t, base, testNow.Add(-30*time.Minute), false)
		// Fetched after the timestamp, as dss does: fresh for its proof of existence.
		after := testNow.Add(-10 * time.Minute)
		s, err := xades.AddValidationData(s, [][]byte{p.ca.cert.Raw, p.root.cert.Raw},
			[][]byte{p.ocspAt(t, p.ec, false, after), p.ocspAt(t, party{cert: p.ca.cert}, false, after), p.ocspAt(t, p.tsa, false, after)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier(t, p, func(c *Config) { c.Revocation = nil })
		rep := check(t, v, Input{Signature: bytesOf(s)}, passed)
		if rep.Signatures[0].Level != "B-LT" {
			t.Errorf("level %s", rep.Signatures[0].Level)
		}
	})
	t.Run("B-B without any revocation data", func(t *testing.T) {
		v := newVerifier(t, p, func(c *Config) { c.Revocation = nil })
		check(t, v, Input{Signature: bytesOf(base)}, want{Indeterminate, TryLater, ReasonRevocation})
	})
	t.Run("online source down", func(t *testing.T) {
		v := newVerifier(t, p, func(c *Config) { c.Revocation = &fakeRevocation{p: p, t: t, err: errors.New("unreachable")} })
		check(t, v, Input{Signature: bytesOf(base)}, want{Indeterminate, TryLater, ReasonRevocation})
	})
}

func TestSignerStatus(t *testing.T) {
	p := newPKI(t)
	doc := []byte(smallDoc)
	obj := xades.Object{Data: doc, XML: true}
	t.Run("expired signer", func(t *testing.T) {
		s := sign(t, p.expired, p.chainOf(p.expired), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, want{Indeterminate, OutOfBoundsNoPOE, ReasonValidity})
	})
	t.Run("expired signer with a timestamp inside its validity", func(t *testing.T) {
		s := sign(t, p.expired, p.chainOf(p.expired), obj, xades.TypeXAdES, xades.Enveloped, "")
		s = p.addTimestamp(t, s, testNow.Add(-40*24*time.Hour), false)
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, passed)
	})
	t.Run("revoked signer, OCSP", func(t *testing.T) {
		s := sign(t, p.revoked, p.chainOf(p.revoked), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s), OCSP: [][]byte{p.ocspFor(t, p.revoked, true)}},
			want{Indeterminate, RevokedNoPOE, ReasonRevocation})
	})
	t.Run("revoked signer, online", func(t *testing.T) {
		s := sign(t, p.revoked, p.chainOf(p.revoked), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, want{Indeterminate, RevokedNoPOE, ReasonRevocation})
	})
	t.Run("revoked signer, CRL, timestamp after the revocation", func(t *testing.T) {
		s := sign(t, p.revoked, p.chainOf(p.revoked), obj, xades.TypeXAdES, xades.Enveloped, "")
		s = p.addTimestamp(t, s, testNow.Add(-time.Hour), false)
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s), CRLs: [][]byte{p.crl(t)}}, want{TotalFailed, Revoked, ReasonRevocation})
	})
	t.Run("revoked signer, timestamp before the revocation", func(t *testing.T) {
		s := sign(t, p.revoked, p.chainOf(p.revoked), obj, xades.TypeXAdES, xades.Enveloped, "")
		s = p.addTimestamp(t, s, p.revokedAt.Add(-time.Hour), false)
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s), CRLs: [][]byte{p.crl(t)}}, passed)
	})
	t.Run("untrusted root", func(t *testing.T) {
		s := sign(t, p.stranger, p.chainOf(p.stranger), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, want{Indeterminate, NoCertificateChainFound, ReasonChain})
	})
	t.Run("untrusted root even with the root in AdditionalKeyInfo", func(t *testing.T) {
		s := sign(t, p.stranger, p.chainOf(p.stranger), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s), Certificates: []*x509.Certificate{p.otherRoot.cert}},
			want{Indeterminate, NoCertificateChainFound, ReasonChain})
	})
	t.Run("chain completed by AdditionalKeyInfo", func(t *testing.T) {
		s := sign(t, p.ec, []*x509.Certificate{p.ec.cert}, obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, want{Indeterminate, NoCertificateChainFound, ReasonChain})
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s), Certificates: []*x509.Certificate{p.ca.cert}}, passed)
	})
	t.Run("verification time before the certificate", func(t *testing.T) {
		s := sign(t, p.ec, p.chainOf(p.ec), obj, xades.TypeXAdES, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s), Time: testNow.Add(-2 * 365 * 24 * time.Hour)},
			want{Indeterminate, NotYetValid, ReasonValidity})
	})
	t.Run("RSA-1024 refused", func(t *testing.T) {
		s := sign(t, p.small, p.chainOf(p.small), obj, xades.TypeXMLDSig, xades.Enveloped, "")
		check(t, newVerifier(t, p, nil), Input{Signature: bytesOf(s)}, want{Indeterminate, CryptoConstraintsFailure, ReasonAlgorithm})
	})
}

// TestHostile covers the attacks of the issue and of hardening.md §2.1–2.2.
func TestHostile(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	doc := []byte(smallDoc)
	enveloped := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: doc, XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	dsigEnv := bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: doc, XML: true}, xades.TypeXMLDSig, xades.Enveloped, ""))
	enveloping := bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "doc-1", Data: doc, XML: true}, xades.TypeXAdES, xades.Enveloping, ""))
	// A signature over the element with Id d1 only (URI="#d1"), placed in the document.
	byID := resign(t, edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
		ref := child(sig, xades.NSXMLDSig, "Reference")
		ref.CreateAttr("URI", "#d1")
		ts := ref.SelectElement("Transforms")
		ts.RemoveChildAt(0) // no enveloped-signature transform: the signature is not inside d1
	}), p.rsa.key)
	check(t, v, Input{Signature: byID}, passed)

	tests := []struct {
		name string
		in   []byte
		w    want
	}{
		{"changed byte in the signed document", replaceOnce(t, enveloped, "signed content", "signed c0ntent"), want{TotalFailed, HashFailure, ReasonDigest}},
		{"changed byte in an enveloping object", replaceOnce(t, enveloping, "signed content", "signed c0ntent"), want{TotalFailed, HashFailure, ReasonDigest}},
		{"changed SignedProperties", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			child(sig, xades.NSXAdES, "SigningTime").SetText("2020-01-01T00:00:00Z")
		}), want{TotalFailed, HashFailure, ReasonDigest}},
		{"changed signature value", edit(t, dsigEnv, func(d *etree.Document, sig *etree.Element) {
			sv := sig.SelectElement("SignatureValue")
			b := []byte(sv.Text())
			// Another valid base64 character (flipping a bit could leave the alphabet, e.g. '/' → '.').
			if b[10] == 'A' {
				b[10] = 'B'
			} else {
				b[10] = 'A'
			}
			sv.SetText(string(b))
		}), want{TotalFailed, SigCryptoFailure, ReasonSignatureValue}},
		{"second SignedInfo", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			sig.InsertChildAt(1, sig.SelectElement("SignedInfo").Copy())
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"second SignatureValue", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			sig.InsertChildAt(sig.SelectElement("KeyInfo").Index(), sig.SelectElement("SignatureValue").Copy())
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"no SignatureValue", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			sig.RemoveChild(sig.SelectElement("SignatureValue"))
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"SignedInfo without SignatureMethod", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			si := sig.SelectElement("SignedInfo")
			si.RemoveChild(si.SelectElement("SignatureMethod"))
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"empty KeyInfo", edit(t, dsigEnv, func(d *etree.Document, sig *etree.Element) {
			ki := sig.SelectElement("KeyInfo")
			for _, c := range ki.ChildElements() {
				ki.RemoveChild(c)
			}
		}), want{Indeterminate, NoSigningCertificateFound, ReasonKeyInfo}},
		{"KeyValue only (never trusted)", edit(t, dsigEnv, func(d *etree.Document, sig *etree.Element) {
			ki := sig.SelectElement("KeyInfo")
			ki.RemoveChild(ki.SelectElement("X509Data"))
			ki.CreateElement("ds:KeyValue").CreateElement("ds:ECKeyValue").SetText("AAAA")
		}), want{Indeterminate, NoSigningCertificateFound, ReasonKeyInfo}},
		{"duplicated Id", edit(t, byID, func(d *etree.Document, sig *etree.Element) {
			e := d.Root().CreateElement("data")
			e.CreateAttr("Id", "d1")
			e.SetText("evil")
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"duplicated Id under another attribute name", edit(t, byID, func(d *etree.Document, sig *etree.Element) {
			e := d.Root().CreateElement("data")
			e.CreateAttr("xmlns:wsu", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd")
			e.CreateAttr("wsu:Id", "d1")
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"wrapped Id: original moved, fake in its place", edit(t, byID, func(d *etree.Document, sig *etree.Element) {
			orig := d.Root().SelectElement("data")
			d.Root().RemoveChild(orig)
			w := d.Root().CreateElement("wrapper")
			w.AddChild(orig)
			fake := etree.NewElement("data")
			fake.CreateAttr("Id", "d1")
			fake.SetText("pay the attacker")
			d.Root().InsertChildAt(0, fake)
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"duplicated SignedProperties Id", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			sp := child(sig, xades.NSXAdES, "SignedProperties").Copy()
			sp.CreateAttr("xmlns:xades", xades.NSXAdES)
			sp.CreateAttr("xmlns:ds", xades.NSXMLDSig)
			d.Root().InsertChildAt(0, sp)
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"second QualifyingProperties", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			qp := child(sig, xades.NSXAdES, "QualifyingProperties")
			o := sig.CreateElement("ds:Object")
			c := qp.Copy()
			c.SelectElement("SignedProperties").RemoveAttr("Id")
			o.AddChild(c)
		}), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"QualifyingProperties for another signature", resign(t, edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			child(sig, xades.NSXAdES, "QualifyingProperties").CreateAttr("Target", "#other")
		}), p.rsa.key), want{Indeterminate, FormatFailure, ReasonFormat}},
		{"SignedProperties reference without its Type", resign(t, edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			for _, r := range sig.SelectElement("SignedInfo").SelectElements("Reference") {
				r.RemoveAttr("Type")
			}
		}), p.rsa.key), want{TotalFailed, FormatFailure, ReasonFormat}},
		{"reference outside the document (http)", signDetachedURI(t, p, "http://attacker.example/x"), want{Indeterminate, SignedDataNotFound, ReasonReference}},
		{"reference outside the document (file)", signDetachedURI(t, p, "file:///etc/passwd"), want{Indeterminate, SignedDataNotFound, ReasonReference}},
		{"xpointer reference", edit(t, byID, func(d *etree.Document, sig *etree.Element) {
			child(sig, xades.NSXMLDSig, "Reference").CreateAttr("URI", "#xpointer(id('d1'))")
		}), want{Indeterminate, SigConstraintsFailure, ReasonReference}},
		{"swapped KeyInfo certificate (XMLDSig)", edit(t, dsigEnv, func(d *etree.Document, sig *etree.Element) {
			child(sig, xades.NSXMLDSig, "X509Certificate").SetText(b64(p.ec384.cert.Raw))
		}), want{TotalFailed, SigCryptoFailure, ReasonSignatureValue}},
		{"swapped KeyInfo certificate (XAdES)", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			child(sig, xades.NSXMLDSig, "X509Certificate").SetText(b64(p.ec.cert.Raw))
		}), want{TotalFailed, SigCryptoFailure, ReasonSignatureValue}},
		{"wrong SigningCertificateV2 digest", resign(t, edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			cd := child(child(sig, xades.NSXAdES, "SigningCertificateV2"), xades.NSXMLDSig, "DigestValue")
			cd.SetText(b64(sha256Of(p.ec.cert.Raw)))
		}), p.rsa.key), want{Indeterminate, NoSigningCertificateFound, ReasonSigningCertificate}},
		{"wrong IssuerSerialV2", resign(t, edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			ec := sign(t, p.ec, p.chainOf(p.ec), xades.Object{Data: doc, XML: true}, xades.TypeXAdES, xades.Enveloped, "")
			other := child(parseDoc(t, bytesOf(ec)).Root(), xades.NSXAdES, "IssuerSerialV2").Text()
			child(sig, xades.NSXAdES, "IssuerSerialV2").SetText(other)
		}), p.rsa.key), want{Indeterminate, NoSigningCertificateFound, ReasonSigningCertificate}},
		{"SHA-1 digest", resign(t, refDigests(t, enveloped, DigestSHA1), p.rsa.key), want{Indeterminate, CryptoConstraintsFailure, ReasonAlgorithm}},
		// Integrity first: a 32-byte value cannot be an MD5 digest, whatever the policy.
		{"MD5 digest", refDigests(t, enveloped, DigestMD5), want{TotalFailed, HashFailure, ReasonDigest}},
		{"rsa-sha1 signature method", replaceOnce(t, enveloped, xades.RSASHA256, RSASHA1), want{Indeterminate, CryptoConstraintsFailure, ReasonAlgorithm}},
		{"HMAC signature method", replaceOnce(t, enveloped, xades.RSASHA256, HMACSHA1), want{Indeterminate, CryptoConstraintsFailure, ReasonAlgorithm}},
		{"HMACOutputLength", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			child(sig, xades.NSXMLDSig, "SignatureMethod").CreateElement("ds:HMACOutputLength").SetText("8")
		}), want{Indeterminate, CryptoConstraintsFailure, ReasonAlgorithm}},
		{"XPath transform", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			ts := child(sig, xades.NSXMLDSig, "Transforms")
			x := ts.CreateElement("ds:Transform")
			x.CreateAttr("Algorithm", TransformXPath)
			ts.InsertChildAt(0, x)
		}), want{Indeterminate, SigConstraintsFailure, ReasonTransform}},
		{"XSLT transform", replaceOnce(t, enveloped, xades.TransformEnveloped, TransformXSLT), want{Indeterminate, SigConstraintsFailure, ReasonTransform}},
		// Comments variants are computed now; the changed SignedInfo no longer verifies.
		{"c14n with comments", replaceOnce(t, enveloped, `CanonicalizationMethod Algorithm="`+xades.ExcC14N+`"`, `CanonicalizationMethod Algorithm="`+ExcC14NComments+`"`), want{TotalFailed, SigCryptoFailure, ReasonSignatureValue}},
		{"ECDSA value in DER", edit(t, dsigEnv, func(d *etree.Document, sig *etree.Element) {
			sig.SelectElement("SignatureValue").SetText(b64(append([]byte{0x30, 0x44}, make([]byte, 68)...)))
		}), want{TotalFailed, SigCryptoFailure, ReasonSignatureValue}},
		{"ECDSA value with r = 0", edit(t, dsigEnv, func(d *etree.Document, sig *etree.Element) {
			sig.SelectElement("SignatureValue").SetText(b64(append(make([]byte, 32), make([]byte, 32)...)))
		}), want{TotalFailed, SigCryptoFailure, ReasonSignatureValue}},
		{"too many references", edit(t, enveloped, func(d *etree.Document, sig *etree.Element) {
			si := sig.SelectElement("SignedInfo")
			r := si.SelectElement("Reference")
			for range 8 {
				si.AddChild(r.Copy())
			}
		}), want{Indeterminate, SigConstraintsFailure, ReasonFormat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, v, Input{Signature: tt.in}, tt.w)
		})
	}
}

// TestReferenceOneTamperedOneValid is GHSA-479m-364c-43vc's shape: the first Reference is
// tampered, the second is valid; the loop must not check only the last.
func TestReferenceOneTamperedOneValid(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	s := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	// XAdES has two References: the document (1) and SignedProperties (2). Break the first only.
	check(t, v, Input{Signature: replaceOnce(t, s, "<other>x</other>", "<other>y</other>")}, want{TotalFailed, HashFailure, ReasonDigest})
}

// TestScopeIsExact: an intact signature over one element next to unsigned content reports the
// element, never the document (hardening.md §2.1).
func TestScopeIsExact(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	s := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	s = resign(t, edit(t, s, func(d *etree.Document, sig *etree.Element) {
		ref := child(sig, xades.NSXMLDSig, "Reference")
		ref.CreateAttr("URI", "#d1")
		ref.SelectElement("Transforms").RemoveChildAt(0)
	}), p.rsa.key)
	s = replaceOnce(t, s, "<other>x</other>", "<other>unsigned, changed at will</other>")
	rep := check(t, v, Input{Signature: s}, passed)
	sc := rep.Signatures[0].Scope[0]
	if sc.Kind != ScopeElement || sc.ElementID != "d1" || sc.Element != "{urn:example:doc}data" {
		t.Errorf("scope %+v", sc)
	}
}

func TestMultipleSignatures(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	a := bytesOf(sign(t, p.ec, p.chainOf(p.ec), xades.Object{ID: "a", Data: []byte("first"), MimeType: "text/plain"}, xades.TypeXAdES, xades.Enveloping, ""))
	b := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{ID: "b", Data: []byte("second")}, xades.TypeXMLDSig, xades.Enveloping, ""))
	// The two signatures carry the same Ids (sig-1...): give the second its own.
	b = []byte(strings.ReplaceAll(string(b), "sig-1", "sig-2"))
	b = resign(t, b, p.rsa.key)
	bad := replaceOnce(t, b, b64([]byte("second")), b64([]byte("SECOND")))
	wrap := func(sigs ...[]byte) []byte {
		var sb strings.Builder
		sb.WriteString(`<signatures xmlns="urn:example:container">`)
		for _, s := range sigs {
			sb.WriteString(strings.TrimPrefix(string(s), `<?xml version="1.0" encoding="UTF-8"?>`))
		}
		sb.WriteString(`</signatures>`)
		return []byte(sb.String())
	}
	rep, err := v.Verify(context.Background(), Input{Signature: wrap(a, b)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Signatures) != 2 || rep.Signatures[0].Indication != TotalPassed || rep.Signatures[1].Indication != TotalPassed {
		t.Fatalf("%+v", rep.Signatures)
	}
	if rep.Signatures[0].ID != "sig-1" || rep.Signatures[1].ID != "sig-2" || !rep.Signatures[0].XAdES || rep.Signatures[1].XAdES {
		t.Errorf("ids/types %+v", rep.Signatures)
	}
	rep, err = v.Verify(context.Background(), Input{Signature: wrap(a, bad)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signatures[0].Indication != TotalPassed || rep.Signatures[1].SubIndication != HashFailure {
		t.Fatalf("one bad signature: %+v", rep.Signatures)
	}
}

func TestInputErrors(t *testing.T) {
	p := newPKI(t)
	v := newVerifier(t, p, nil)
	deep := strings.Repeat("<a>", 400) + strings.Repeat("</a>", 400)
	for _, tt := range []struct {
		name string
		in   string
		want error
	}{
		{"DOCTYPE", `<!DOCTYPE x [<!ENTITY e "x">]><x/>`, ErrMalformed},
		{"duplicate attribute", `<ds:Signature xmlns:ds="` + xades.NSXMLDSig + `" Id="a" Id="b"/>`, ErrMalformed},
		{"not XML", `hello`, ErrMalformed},
		{"no signature", smallDoc, ErrNoSignature},
		{"too deep", deep, ErrLimit},
		{"too many signatures", `<r xmlns:ds="` + xades.NSXMLDSig + `">` + strings.Repeat("<ds:Signature/>", 33) + `</r>`, ErrLimit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), Input{Signature: []byte(tt.in)}); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	if _, err := New(Config{Policy: Policy{Digests: []string{DigestMD5}}}); err == nil {
		t.Error("MD5 accepted in a policy")
	}
	if _, err := New(Config{Policy: Policy{SignatureMethods: []string{HMACSHA1}}}); err == nil {
		t.Error("HMAC accepted in a policy")
	}
	// SHA-1 only when a policy names it.
	p := newPKI(t)
	doc := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	sha1 := resign(t, refDigests(t, doc, DigestSHA1), p.rsa.key)
	legacy := newVerifier(t, p, func(c *Config) {
		c.Policy = DefaultPolicy()
		c.Policy.Digests = append(c.Policy.Digests, DigestSHA1)
	})
	check(t, legacy, Input{Signature: sha1}, passed)
}

// TestWorkBudget: the canonicalization work of one input is bounded, and a cancelled request
// stops.
func TestWorkBudget(t *testing.T) {
	p := newPKI(t)
	s := bytesOf(sign(t, p.rsa, p.chainOf(p.rsa), xades.Object{Data: []byte(smallDoc), XML: true}, xades.TypeXAdES, xades.Enveloped, ""))
	v := newVerifier(t, p, func(c *Config) { c.Limits.MaxC14NBytes = 100 })
	check(t, v, Input{Signature: s}, want{Indeterminate, SigConstraintsFailure, ReasonFormat})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newVerifier(t, p, nil).Verify(ctx, Input{Signature: s}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
