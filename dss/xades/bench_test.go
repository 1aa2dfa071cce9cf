package xades

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"testing"
)

// stubSigner has a real public key but returns a constant "signature", so
// that a benchmark measures the XML work alone.
type stubSigner struct {
	pub crypto.PublicKey
	sig []byte
}

func (s stubSigner) Public() crypto.PublicKey { return s.pub }
func (s stubSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return s.sig, nil
}

func benchParams(b *testing.B) (Object, Params, *testKey) {
	ks := loadKeys(b)
	obj := Object{ID: "doc-1", Data: readDoc(b, "invoice.xml"), XML: true, XPath: "/i:Invoice", Namespaces: map[string]string{"i": "urn:example:invoice:1"}}
	return obj, Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(),
		SigningTime: fixedTime(), SignatureID: "sig-1"}, ks.rsa
}

// BenchmarkSign: XAdES B-B enveloped over a 2 KB document with a software
// RSA-2048 key (parse, c14n of the document, SignedProperties and SignedInfo,
// RSA, serialization). Compare with BenchmarkRSASignPKCS1v15.
func BenchmarkSign(b *testing.B) {
	obj, p, _ := benchParams(b)
	b.SetBytes(int64(len(obj.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(obj, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignXMLOnly is BenchmarkSign with the RSA operation stubbed out.
func BenchmarkSignXMLOnly(b *testing.B) {
	obj, p, k := benchParams(b)
	p.Signer = stubSigner{pub: k.signer.Public(), sig: make([]byte, 256)}
	b.SetBytes(int64(len(obj.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(obj, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck: the self-check of the same signature (parse, Id index,
// three c14n, RSA verification).
func BenchmarkCheck(b *testing.B) {
	obj, p, k := benchParams(b)
	s, err := Sign(obj, p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(s, obj, k.cert); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSASignPKCS1v15 is the bare RSA-2048 signature of a SHA-256 digest.
func BenchmarkRSASignPKCS1v15(b *testing.B) {
	_, _, k := benchParams(b)
	d := sha256.Sum256([]byte("x"))
	key := k.signer.(*rsa.PrivateKey)
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLevelsBLTA: an enveloped XAdES B-LTA signature with a software RSA-2048 key, fixed
// tokens and validation data (the steps of dss.applyLevel), and its self-check.
func BenchmarkLevelsBLTA(b *testing.B) { benchLevelsBLTA(b, false) }

// BenchmarkLevelsBLTAGuarded is BenchmarkLevelsBLTA with a signer that verifies its
// signatures, as hsm.Guard does for every signer of the service.
func BenchmarkLevelsBLTAGuarded(b *testing.B) { benchLevelsBLTA(b, true) }

// benchLevelsBLTA: an enveloped XAdES B-LTA signature with a software RSA-2048 key, fixed
// tokens and validation data (the steps of dss.applyLevel) on one Tree, serialised once, and
// its self-check.
func benchLevelsBLTA(b *testing.B, guarded bool) {
	obj, p, k := benchParams(b)
	if guarded {
		p.Signer = verifyingSigner{k.signer}
	}
	fx := newLevelFixtures(b, loadKeys(b))
	b.ReportAllocs()
	for b.Loop() {
		t, err := Build(obj, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err = t.SignatureTimestampInput(); err != nil {
			b.Fatal(err)
		}
		if err = t.AddSignatureTimestamp(fx.sigToken); err != nil {
			b.Fatal(err)
		}
		if err = t.AddValidationData(fx.certs, fx.ocsps, fx.crls); err != nil {
			b.Fatal(err)
		}
		if _, err = t.ArchiveTimestampInput(nil); err != nil {
			b.Fatal(err)
		}
		if err = t.AddArchiveTimestamp(fx.arcToken); err != nil {
			b.Fatal(err)
		}
		if _, err = t.AddTimestampValidationData(fx.tsvCerts, fx.tsvOCSPs, nil); err != nil {
			b.Fatal(err)
		}
		s, err := t.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		if err := Check(s, obj, k.cert); err != nil {
			b.Fatal(err)
		}
	}
}
