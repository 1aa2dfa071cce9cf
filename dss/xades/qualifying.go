package xades

import (
	"crypto"
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
	cert := b.p.Chain[0]
	issuerSerial, err := issuerSerialV2(cert)
	if err != nil {
		return err
	}

	o := b.sig.CreateElement("ds:Object")
	qp := o.CreateElement("xades:QualifyingProperties")
	qp.CreateAttr("xmlns:xades", NSXAdES)
	qp.CreateAttr("Target", "#"+id)
	sp := qp.CreateElement("xades:SignedProperties")
	sp.CreateAttr("Id", signedPropsID(id))

	ssp := sp.CreateElement("xades:SignedSignatureProperties")
	ssp.CreateElement("xades:SigningTime").SetText(b.p.SigningTime.UTC().Truncate(1e9).Format("2006-01-02T15:04:05Z"))
	c := ssp.CreateElement("xades:SigningCertificateV2").CreateElement("xades:Cert")
	cd := c.CreateElement("xades:CertDigest")
	cd.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", DigestSHA256)
	cd.CreateElement("ds:DigestValue").SetText(b64(digest(crypto.SHA256, cert.Raw)))
	c.CreateElement("xades:IssuerSerialV2").SetText(b64(issuerSerial))

	sdop := sp.CreateElement("xades:SignedDataObjectProperties")
	dof := sdop.CreateElement("xades:DataObjectFormat")
	dof.CreateAttr("ObjectReference", "#"+b.refID)
	dof.CreateElement("xades:MimeType").SetText(b.mimeType())

	ref := b.si.CreateElement("ds:Reference")
	ref.CreateAttr("Type", SignedPropsRef)
	ref.CreateAttr("URI", "#"+signedPropsID(id))
	addTransforms(ref, []string{ExcC14N})
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", b.dgURI)
	b.spDV = ref.CreateElement("ds:DigestValue")
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
