package xades

import (
	"crypto"
	"fmt"

	"github.com/beevik/etree"

	"dssd/dss/internal/xmlcount"
	"dssd/dss/xmlsafe"
)

// Tree is one signature as a tree, from B-B to B-LTA: Build makes it from the data object,
// Open from the bytes of an existing signature (augmentation); the Add methods extend it in
// place, and Bytes serialises it. A signature made by the service is parsed never (Build
// parses only the input document) and serialised once; Check parses those bytes once more.
// A Tree is not safe for concurrent use.
type Tree struct {
	doc       *etree.Document
	sig       *etree.Element
	qp        *etree.Element // xades:QualifyingProperties targeting sig; nil for XMLDSig
	enveloped bool
	id        string // ds:Signature/@Id
	xpath     string // enveloped: selects sig in doc
	maxDoc    int64  // Params.MaxDocumentBytes (0 when opened from bytes)
	maxC14N   int64  // Params.MaxC14NBytes, resolved (newC14NBound)
	signer    *signerVerified
}

// signerVerified is the SignatureValue a VerifyingSigner returned (r‖s for ECDSA) with the
// SignedInfo digest it signed, that digest's hash and the signer's key. Check need not verify
// the same value over the same digest with the same key again.
type signerVerified struct {
	key    crypto.PublicKey
	hash   crypto.Hash
	digest []byte
	value  []byte
}

// Build builds one XMLDSig or XAdES B-B signature over obj into a Tree.
func Build(obj Object, p Params) (*Tree, error) {
	b, err := newBuilder(obj, p)
	if err != nil {
		return nil, err
	}
	return b.sign()
}

// Sign builds one XMLDSig or XAdES B-B signature over obj and serialises it.
func Sign(obj Object, p Params) (*Signed, error) {
	t, err := Build(obj, p)
	if err != nil {
		return nil, err
	}
	return t.Bytes()
}

// SignatureID returns ds:Signature/@Id.
func (t *Tree) SignatureID() string { return t.id }

// Bytes serialises the tree: the whole document for an enveloped signature, else the
// ds:Signature element alone.
func (t *Tree) Bytes() (*Signed, error) {
	b, err := serializeTree(t.doc)
	if err != nil {
		return nil, fmt.Errorf("serialize signature: %w", err)
	}
	out := &Signed{XPath: t.xpath, SignatureID: t.id, maxDoc: t.maxDoc, maxC14N: t.maxC14N, signer: t.signer}
	if t.enveloped {
		out.Document = b
	} else {
		out.Signature = b
	}
	return out, nil
}

// Open parses the bytes of s (its Document when enveloped, else its Signature) through the
// ingress gate with the document limits for maxDocBytes (0: the default) and finds the
// signature and its QualifyingProperties: the start of augmenting a signature that exists
// only as bytes. The bound on the canonical bytes the signature covers is the one Build was
// given when s is its result, else xmldsig.MaxC14NBytesFor(maxDocBytes).
func Open(s *Signed, maxDocBytes int64) (*Tree, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	enveloped := s.Document != nil
	if enveloped == (s.Signature != nil) {
		return nil, fmt.Errorf("%w: want exactly one of Signature and Document", ErrMalformed)
	}
	data := s.Signature
	if enveloped {
		data = s.Document
	}
	doc, err := parseSigned(data, maxDocBytes)
	if err != nil {
		return nil, err
	}
	sig, err := findSignature(doc, s.SignatureID, enveloped)
	if err != nil {
		return nil, err
	}
	t := &Tree{doc: doc, sig: sig, enveloped: enveloped, id: s.SignatureID, xpath: s.XPath,
		maxC14N: newC14NBound(s.maxC14N, maxDocBytes).max}
	for _, o := range sig.ChildElements() {
		if !is(o, NSXMLDSig, "Object") {
			continue
		}
		for _, qp := range o.ChildElements() {
			if !is(qp, NSXAdES, "QualifyingProperties") {
				continue
			}
			if t.qp != nil {
				return nil, fmt.Errorf("%w: more than one QualifyingProperties", ErrMalformed)
			}
			t.qp = qp
		}
	}
	if t.qp != nil && t.qp.SelectAttrValue("Target", "") != "#"+s.SignatureID {
		return nil, fmt.Errorf("%w: QualifyingProperties does not target the signature", ErrMalformed)
	}
	return t, nil
}

// findSignature finds the ds:Signature with Id id in doc; when not enveloped, it must be the
// document element.
func findSignature(doc *etree.Document, id string, enveloped bool) (*etree.Element, error) {
	sig, err := buildIDIndex(doc.Root()).lookup(id)
	if err != nil {
		return nil, err
	}
	if !is(sig, NSXMLDSig, "Signature") {
		return nil, fmt.Errorf("%w: id %q is not a ds:Signature", ErrMalformed, id)
	}
	if !enveloped && sig != doc.Root() {
		return nil, fmt.Errorf("%w: the signature is not the document element", ErrMalformed)
	}
	return sig, nil
}

// xadesOnly refuses a signature without QualifyingProperties: only XAdES signatures have
// unsigned properties.
func (t *Tree) xadesOnly() error {
	if t.qp == nil {
		return fmt.Errorf("%w: not a XAdES signature (no QualifyingProperties)", ErrMalformed)
	}
	return nil
}

// signedLimits are the gate's limits for a signature's bytes: the document limits for
// maxDocBytes plus what a signature adds to a document (its own levels and elements, the
// declarations of its namespaces, validation data of any size).
func signedLimits(maxDocBytes int64, size int) xmlsafe.Limits {
	l := xmlsafe.DocumentLimitsFor(maxDocBytes)
	l.MaxBytes = max(l.MaxBytes/3*4+1<<20, int64(size))
	l.MaxDepth += 16
	l.MaxElements += 1000 + size/64
	l.MaxNSInScope += 16
	l.AnyEncoding = false // this package writes UTF-8 only
	return l
}

// parseInput parses a document to be signed through the ingress gate.
func parseInput(b []byte, maxDocBytes int64) (*etree.Document, error) {
	xmlcount.Count(xmlcount.ParseInput)
	return parseXML(b, xmlsafe.DocumentLimitsFor(maxDocBytes))
}

// parseSigned parses the bytes of a signature through the ingress gate.
func parseSigned(b []byte, maxDocBytes int64) (*etree.Document, error) {
	xmlcount.Count(xmlcount.ParseSigned)
	return parseXML(b, signedLimits(maxDocBytes, len(b)))
}

func serializeTree(doc *etree.Document) ([]byte, error) {
	xmlcount.Count(xmlcount.Serialize)
	return serialize(doc)
}
