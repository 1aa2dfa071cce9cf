package xades

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// qualifyingProperties appends ds:Object/xades:QualifyingProperties with the
// XAdES baseline B-B signed properties, and the SignedProperties Reference
// (its DigestValue is filled in once the signature sits in its final
// context).
func (b *builder) qualifyingProperties() error {
	id := b.p.SignatureID
	cert := textOf(b.p.Chain[0]) // the certificate's digest and IssuerSerial, once per certificate
	if cert.issuerErr != nil {
		return cert.issuerErr
	}
	n := &b.n

	o := n.elem(b.sig, "ds", "Object", 1, 0)
	qp := n.elem(o, "xades", "QualifyingProperties", 1, 2)
	qp.CreateAttr("xmlns:xades", NSXAdES)
	qp.CreateAttr("Target", "#"+id)
	sp := n.elem(qp, "xades", "SignedProperties", 2, 1)
	sp.CreateAttr("Id", signedPropsID(id))

	ssp := n.elem(sp, "xades", "SignedSignatureProperties", 2, 0)
	n.text(n.elem(ssp, "xades", "SigningTime", 1, 0), b.p.SigningTime.UTC().Truncate(1e9).Format("2006-01-02T15:04:05Z"))
	c := n.elem(n.elem(ssp, "xades", "SigningCertificateV2", 1, 0), "xades", "Cert", 2, 0)
	cd := n.elem(c, "xades", "CertDigest", 2, 0)
	n.elem(cd, "ds", "DigestMethod", 0, 1).CreateAttr("Algorithm", DigestSHA256)
	n.text(n.elem(cd, "ds", "DigestValue", 1, 0), cert.sha256)
	n.text(n.elem(c, "xades", "IssuerSerialV2", 1, 0), cert.issuerSerial)

	sdop := n.elem(sp, "xades", "SignedDataObjectProperties", 1, 0)
	dof := n.elem(sdop, "xades", "DataObjectFormat", 1, 1)
	dof.CreateAttr("ObjectReference", "#"+b.refID)
	n.text(n.elem(dof, "xades", "MimeType", 1, 0), b.mimeType())

	ref := n.elem(b.si, "ds", "Reference", 3, 2)
	ref.CreateAttr("Type", SignedPropsRef)
	ref.CreateAttr("URI", "#"+signedPropsID(id))
	b.addTransforms(ref, []string{ExcC14N})
	n.elem(ref, "ds", "DigestMethod", 0, 1).CreateAttr("Algorithm", b.dgURI)
	b.spDV = n.elem(ref, "ds", "DigestValue", 1, 0)
	b.sp, b.qp = sp, qp
	return nil
}

// mimeType is the data object's media type for DataObjectFormat.
func (b *builder) mimeType() string {
	switch {
	case b.obj.MimeType != "":
		return b.obj.MimeType
	case b.obj.XML:
		return "text/xml"
	default:
		return "application/octet-stream"
	}
}

// issuerSerialV2 returns the DER of the RFC 5035 IssuerSerial of cert:
//
//	IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }
//
// with the issuer as a single directoryName ([4], explicit because Name is a
// CHOICE).
func issuerSerialV2(cert *x509.Certificate) ([]byte, error) {
	v := struct {
		Issuer []asn1.RawValue
		Serial *big.Int
	}{
		Issuer: []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}},
		Serial: cert.SerialNumber,
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: issuer and serial of the signer certificate: %w", ErrMalformed, err)
	}
	return der, nil
}
