package verify

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"dssd/dss/xades"
)

const nsXMLDSig11 = "http://www.w3.org/2009/xmldsig11#"

// allowedKids are the children the XMLDSig (1.0 and 1.1) and XAdES (1.3.2, 1.4.1) schemas
// allow in the containers an attacker can write to without breaking the signature value. The
// schemas' "any element of another namespace" wildcards are not honoured: nothing a relying
// party could read as data may sit there unreported (issue 10).
var allowedKids = map[string]map[nsName]bool{
	"ds:KeyInfo": names(xades.NSXMLDSig, "KeyName", "KeyValue", "RetrievalMethod", "X509Data", "PGPData", "SPKIData", "MgmtData").
		add(nsXMLDSig11, "DEREncodedKeyValue", "KeyInfoReference"),
	"ds:X509Data": names(xades.NSXMLDSig, "X509IssuerSerial", "X509SKI", "X509SubjectName", "X509Certificate", "X509CRL").
		add(nsXMLDSig11, "X509Digest"),
	"xades:SignedProperties": names(xades.NSXAdES, "SignedSignatureProperties", "SignedDataObjectProperties"),
	"xades:SignedSignatureProperties": names(xades.NSXAdES, "SigningTime", "SigningCertificate", "SigningCertificateV2",
		"SignaturePolicyIdentifier", "SignatureProductionPlace", "SignatureProductionPlaceV2", "SignerRole", "SignerRoleV2"),
	"xades:SignedDataObjectProperties": names(xades.NSXAdES, "DataObjectFormat", "CommitmentTypeIndication",
		"AllDataObjectsTimeStamp", "IndividualDataObjectsTimeStamp"),
	"xades:UnsignedProperties": names(xades.NSXAdES, "UnsignedSignatureProperties", "UnsignedDataObjectProperties"),
	"xades:UnsignedSignatureProperties": names(xades.NSXAdES, "CounterSignature", "SignatureTimeStamp",
		"CompleteCertificateRefs", "CompleteRevocationRefs", "AttributeCertificateRefs", "AttributeRevocationRefs",
		"SigAndRefsTimeStamp", "RefsOnlyTimeStamp", "CertificateValues", "RevocationValues",
		"AttrAuthoritiesCertValues", "AttributeRevocationValues", "ArchiveTimeStamp").
		add(xades.NSXAdES141, "ArchiveTimeStamp", "TimeStampValidationData", "CompleteCertificateRefsV2",
			"AttributeCertificateRefsV2", "SigAndRefsTimeStampV2", "RefsOnlyTimeStampV2"),
	"xades:UnsignedDataObjectProperties": names(xades.NSXAdES, "UnsignedDataObjectProperty"),
}

// nsName is an expanded name: namespace URI and local name.
type nsName struct{ ns, local string }

type nameSet map[nsName]bool

func names(ns string, locals ...string) nameSet { return nameSet{}.add(ns, locals...) }

func (s nameSet) add(ns string, locals ...string) nameSet {
	for _, l := range locals {
		s[nsName{ns, l}] = true
	}
	return s
}

// maxContainerFindings bounds the entries of Result.UnsignedContent.
const maxContainerFindings = 8

// containers reports content in the signature's containers that the schemas do not allow
// there, and ds:Object content no Reference covers (Result.UnsignedContent). It never
// changes the indication: the signature value is what it is, but the verdict then never
// says that the signature covers the whole input.
func (c *sigCtx) containers() *verdict {
	add := func(format string, a ...any) {
		if len(c.res.UnsignedContent) < maxContainerFindings {
			c.res.UnsignedContent = append(c.res.UnsignedContent, fmt.Sprintf(format, a...))
		}
	}
	check := func(el *etree.Element, container string) {
		allowed := allowedKids[container]
		for _, t := range el.Child {
			switch t := t.(type) {
			case *etree.Element:
				if !allowed[nsName{t.NamespaceURI(), t.Tag}] {
					add("%s holds %s, which the schema does not allow there", container, describe(t))
				}
			case *etree.CharData:
				if strings.TrimSpace(t.Data) != "" {
					add("%s holds text, which the schema does not allow there", container)
				}
			}
		}
	}
	if c.ki != nil {
		check(c.ki, "ds:KeyInfo")
		for _, k := range c.ki.ChildElements() {
			if is(k, xades.NSXMLDSig, "X509Data") {
				check(k, "ds:X509Data")
			}
		}
	}
	if c.qp != nil {
		if o := c.qp.Parent(); o != nil {
			for _, t := range o.Child {
				switch t := t.(type) {
				case *etree.Element:
					if t != c.qp {
						add("the ds:Object holding QualifyingProperties holds %s, which no Reference covers", describe(t))
					}
				case *etree.CharData:
					if strings.TrimSpace(t.Data) != "" {
						add("the ds:Object holding QualifyingProperties holds text, which no Reference covers")
					}
				}
			}
		}
		for _, k := range c.qp.ChildElements() {
			switch {
			case is(k, xades.NSXAdES, "SignedProperties"):
				check(k, "xades:SignedProperties")
				for _, g := range k.ChildElements() {
					if g.NamespaceURI() == xades.NSXAdES && allowedKids["xades:"+g.Tag] != nil {
						check(g, "xades:"+g.Tag)
					}
				}
			case is(k, xades.NSXAdES, "UnsignedProperties"):
				check(k, "xades:UnsignedProperties")
				for _, g := range k.ChildElements() {
					if g.NamespaceURI() == xades.NSXAdES && allowedKids["xades:"+g.Tag] != nil {
						check(g, "xades:"+g.Tag)
					}
				}
			}
		}
	}
	// ds:Object content: an Object a Reference covers only in part (a Reference points into
	// it) has its other content reported; an Object no Reference reaches is in
	// UncoveredObjects already.
	for _, o := range c.objects {
		if c.qp != nil && c.qp.Parent() == o {
			continue
		}
		if c.coverage(o) != partlyCovered {
			continue
		}
		c.uncoveredIn(o, objectName(o), add)
	}
	return nil
}

type cover int

const (
	notCovered cover = iota
	partlyCovered
	covered
)

// coverage says whether the References cover el whole (a Reference targets it or an
// ancestor), in part (one targets a descendant) or not at all.
func (c *sigCtx) coverage(el *etree.Element) cover {
	res := notCovered
	for _, r := range c.refs {
		if r.target == nil {
			continue
		}
		for t := r.target; t != nil; t = t.Parent() {
			if t == el {
				if r.target == el {
					return covered
				}
				res = partlyCovered
			}
		}
		for p := el.Parent(); p != nil; p = p.Parent() {
			if p == r.target {
				return covered
			}
		}
	}
	return res
}

// uncoveredIn reports the content of el (partly covered) that no Reference covers; it stops
// once maxContainerFindings are reported (the cost stays bounded on a wide Object).
func (c *sigCtx) uncoveredIn(el *etree.Element, where string, add func(string, ...any)) {
	for _, t := range el.Child {
		if len(c.res.UnsignedContent) >= maxContainerFindings {
			return
		}
		switch t := t.(type) {
		case *etree.Element:
			switch c.coverage(t) {
			case notCovered:
				add("%s holds %s, which no Reference covers", where, describe(t))
			case partlyCovered:
				c.uncoveredIn(t, where, add)
			}
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				add("%s holds text that no Reference covers", where)
			}
		}
	}
}

func objectName(o *etree.Element) string {
	if id := o.SelectAttrValue("Id", ""); id != "" {
		return "ds:Object " + clip(id)
	}
	return "a ds:Object"
}

// describe names an element for a client: {namespace}local.
func describe(el *etree.Element) string {
	return "the element " + clip(qname(el))
}
