package xades

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/beevik/etree"
)

// Packaging says where the signature goes relative to the signed data.
type Packaging int

const (
	// Detached: the data stays outside; the Reference URI is Object.URI.
	Detached Packaging = iota
	// Enveloped: the signature is inserted into the XML document it signs.
	Enveloped
	// Enveloping: the data is carried in a ds:Object inside the signature.
	Enveloping
)

func (p Packaging) String() string {
	switch p {
	case Detached:
		return "detached"
	case Enveloped:
		return "enveloped"
	case Enveloping:
		return "enveloping"
	default:
		return fmt.Sprintf("Packaging(%d)", int(p))
	}
}

// Object is one data object to be signed (one ds:Reference).
type Object struct {
	ID       string // the DSS input document ID; used to derive the Reference and Object Ids (may be empty)
	Data     []byte // document bytes; nil for a precomputed digest (hash signing)
	XML      bool   // Data is an XML document (required for enveloped; inlined when enveloping)
	MimeType string // ds:Object/@MimeType and xades:DataObjectFormat/MimeType (default text/xml or application/octet-stream)
	URI      string // detached and hash signing: the Reference URI (DSS RefURI); empty: no URI attribute
	RefType  string // optional Reference/@Type (DSS RefType)

	// Hash signing: a digest computed by the client, used as the
	// Reference's DigestValue. Packaging must be Detached.
	Digest     []byte
	DigestHash crypto.Hash
	Transforms []string // transform URIs the client applied (declared, not applied here)

	// Enveloped placement (DSS SignaturePlacement). XPath is an absolute
	// location path of child name steps (/a/b, /p:a/p:b with the prefixes
	// bound in Namespaces, never the document's; *; positional [n]) that
	// must select exactly one element. The signature becomes its first
	// child, or with After its next sibling. Empty XPath: the last child of
	// the document element.
	XPath      string
	After      bool
	Namespaces map[string]string

	// Enveloping (DSS IncludeObject): the ds:Object Id; default derived
	// from the signature Id and ID.
	ObjID string

	// Parsed is what Precheck made of Data, if it ran: Build then takes that tree instead
	// of parsing Data again (once: Build changes it).
	Parsed *Input
}

// Input is an XML document Precheck parsed through the ingress gate.
type Input struct {
	data   []byte
	maxDoc int64
	doc    *etree.Document
	used   bool
}

// Params are the signature parameters.
type Params struct {
	Type            string              // TypeXMLDSig or TypeXAdES
	Packaging       Packaging           // Detached, Enveloped or Enveloping
	SignatureMethod string              // URI; decides hash and RSA vs PSS vs ECDSA; must fit the key
	DigestHash      crypto.Hash         // Reference digests (default SHA-256)
	C14N            string              // SignedInfo and data reference c14n: ExcC14N (default) or C14N11
	Signer          crypto.Signer       // any signer; ECDSA must return ASN.1 DER (converted to r‖s here)
	Chain           []*x509.Certificate // signer certificate first (KeyInfo/X509Data, SigningCertificateV2)
	SigningTime     time.Time           // XAdES SigningTime (written in UTC, whole seconds)
	SignatureID     string              // ds:Signature/@Id, an NCName; random in production, fixed in tests
	Rand            io.Reader           // randomness for ECDSA and PSS; nil means crypto/rand

	// MaxDocumentBytes is the size limit of the XML document to sign (enveloped, enveloping);
	// 0: xmlsafe.DefaultMaxDocumentBytes. The other gate limits follow (xmlsafe.DocumentLimitsFor).
	MaxDocumentBytes int64
	// MaxC14NBytes bounds the canonical bytes the signature covers together, as the verifier
	// counts them (dss/verify Limits.MaxC14NBytes): the data reference's (the document of an
	// enveloped or enveloping signature), SignedProperties', SignedInfo's and, for an archive
	// timestamp, its input (Tree.ArchiveTimestampInput). Each walk stops as soon as its output
	// passes what is left; the error wraps ErrLimit. Exclusive c14n writes a namespace
	// declaration again on every element that uses it when the parent does not, so a small
	// document can have a canonical form many times its size. 0:
	// xmldsig.MaxC14NBytesFor(MaxDocumentBytes), the service's verifier's bound.
	MaxC14NBytes int64
}

// VerifyingSigner is a crypto.Signer that verifies every signature it returns with its own
// public key before returning it, and fails instead of returning one that does not verify
// (hsm.Guard is one). Check does not repeat the public-key verification for the SignatureValue
// such a signer returned when it reads the same value over the same SignedInfo digest back
// from the bytes: the verification would be the one the signer made.
type VerifyingSigner interface {
	crypto.Signer
	VerifiesSignatures()
}

// Signed is the result of Sign.
type Signed struct {
	Signature   []byte // the ds:Signature element alone (detached, enveloping, hash signing)
	Document    []byte // enveloped: the whole document with the signature inserted (Signature is then nil)
	XPath       string // enveloped: an XPath 1.0 expression selecting exactly the signature in Document
	SignatureID string // ds:Signature/@Id

	maxDoc  int64           // Params.MaxDocumentBytes of the signature Build made; 0 otherwise
	maxC14N int64           // Params.MaxC14NBytes (resolved) of the signature Build made; 0 otherwise
	signer  *signerVerified // the value a VerifyingSigner verified; nil when not made by Build
}

// Ids derived from the signature Id.
func signedPropsID(sigID string) string { return sigID + "-signedprops" }

func refID(sigID, docID string) string {
	if docID == "" {
		return sigID + "-ref-0"
	}
	return sigID + "-ref-" + ncnameTail(docID)
}

func objID(sigID string, obj Object) string {
	if obj.ObjID != "" {
		return obj.ObjID
	}
	if obj.ID == "" {
		return sigID + "-obj"
	}
	return sigID + "-obj-" + ncnameTail(obj.ID)
}

type builder struct {
	obj    Object
	p      Params
	sm     sigMethod
	c14n   string
	dgURI  string
	refID  string
	doc    *etree.Document // enveloped: the parsed document
	sig    *etree.Element
	si     *etree.Element
	dataDV *etree.Element // DigestValue of the data reference
	spDV   *etree.Element // DigestValue of the SignedProperties reference
	sp     *etree.Element
	qp     *etree.Element // xades:QualifyingProperties
	sv     *etree.Element // ds:SignatureValue
	signer *signerVerified
	n      nodes     // the signature's elements
	bound  c14nBound // Params.MaxC14NBytes and what is left of it
}

func newBuilder(obj Object, p Params) (*builder, error) {
	b := &builder{obj: obj, p: p, c14n: p.C14N, bound: newC14NBound(p.MaxC14NBytes, p.MaxDocumentBytes)}
	if p.Type != TypeXMLDSig && p.Type != TypeXAdES {
		return nil, fmt.Errorf("%w: signature type %q", ErrNotSupported, p.Type)
	}
	if !isNCName(p.SignatureID) {
		return nil, fmt.Errorf("%w: signature id %q is not an NCName", ErrMalformed, p.SignatureID)
	}
	if p.Signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrMalformed)
	}
	if len(p.Chain) == 0 || p.Chain[0] == nil {
		return nil, fmt.Errorf("%w: no signer certificate", ErrMalformed)
	}
	pub := p.Signer.Public()
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(p.Chain[0].PublicKey) {
		return nil, fmt.Errorf("%w: the first certificate of the chain is not the signer's", ErrInappropriate)
	}
	sm, err := lookupSigMethod(p.SignatureMethod)
	if err != nil {
		return nil, err
	}
	if err := sm.fits(pub); err != nil {
		return nil, err
	}
	b.sm = sm
	if b.p.DigestHash == 0 {
		b.p.DigestHash = crypto.SHA256
	}
	if b.dgURI, err = digestURI(b.p.DigestHash); err != nil {
		return nil, err
	}
	if b.c14n == "" {
		b.c14n = ExcC14N
	}
	if err := checkC14N(b.c14n); err != nil {
		return nil, err
	}
	if p.Type == TypeXAdES && p.SigningTime.IsZero() {
		return nil, fmt.Errorf("%w: xades needs a signing time", ErrMalformed)
	}
	if p.Packaging == Enveloping && obj.ObjID != "" && !isNCName(obj.ObjID) {
		return nil, fmt.Errorf("%w: object id %q is not an NCName", ErrMalformed, obj.ObjID)
	}
	b.refID = refID(p.SignatureID, obj.ID)
	return b, nil
}

func (b *builder) sign() (*Tree, error) {
	obj, p := b.obj, b.p
	b.buildSkeleton()

	hashSigning := obj.Data == nil
	if hashSigning && len(obj.Digest) == 0 {
		return nil, fmt.Errorf("%w: neither data nor digest", ErrMalformed)
	}
	if !hashSigning && obj.Digest != nil {
		return nil, fmt.Errorf("%w: both data and digest", ErrMalformed)
	}

	var err error
	switch {
	case hashSigning:
		err = b.hashReference()
	case p.Packaging == Detached:
		err = b.detachedReference()
	case p.Packaging == Enveloped:
		err = b.envelopedReference()
	case p.Packaging == Enveloping:
		err = b.envelopingReference()
	default:
		err = fmt.Errorf("%w: packaging %v", ErrNotSupported, p.Packaging)
	}
	if err != nil {
		return nil, err
	}
	b.keyInfo()
	if p.Type == TypeXAdES {
		if err := b.qualifyingProperties(); err != nil {
			return nil, err
		}
	}
	if b.doc != nil {
		if err := b.place(); err != nil {
			return nil, err
		}
	}
	if b.sp != nil {
		d, err := canonicalDigest(b.p.DigestHash, b.sp, ExcC14N, &b.bound)
		if err != nil {
			return nil, err
		}
		b.n.text(b.spDV, b64(d))
	}
	if err := b.signatureValue(); err != nil {
		return nil, err
	}

	t := &Tree{doc: b.doc, sig: b.sig, qp: b.qp, enveloped: b.doc != nil, id: p.SignatureID, maxDoc: p.MaxDocumentBytes,
		maxC14N: b.bound.max, signer: b.signer}
	if t.enveloped {
		t.xpath = pathTo(b.sig, p.SignatureID)
	} else {
		t.doc = etree.NewDocument()
		t.doc.SetRoot(b.sig)
	}
	return t, nil
}

// buildSkeleton creates ds:Signature with SignedInfo and the data
// Reference (without transforms and digest).
func (b *builder) buildSkeleton() {
	b.n.reserve(len(b.p.Chain))
	b.sig = b.n.elem(nil, "ds", "Signature", 5, 2)
	b.sig.CreateAttr("xmlns:ds", NSXMLDSig)
	b.sig.CreateAttr("Id", b.p.SignatureID)
	b.si = b.n.elem(b.sig, "ds", "SignedInfo", 4, 0)
	b.n.elem(b.si, "ds", "CanonicalizationMethod", 0, 1).CreateAttr("Algorithm", b.c14n)
	b.n.elem(b.si, "ds", "SignatureMethod", 0, 1).CreateAttr("Algorithm", b.sm.uri)
}

// dataReference appends the data Reference to SignedInfo.
func (b *builder) dataReference(uri string, hasURI bool, transforms []string, dgURI string, dv []byte) {
	ref := b.n.elem(b.si, "ds", "Reference", 3, 3)
	ref.CreateAttr("Id", b.refID)
	if hasURI {
		ref.CreateAttr("URI", uri)
	}
	if b.obj.RefType != "" {
		ref.CreateAttr("Type", b.obj.RefType)
	}
	b.addTransforms(ref, transforms)
	b.n.elem(ref, "ds", "DigestMethod", 0, 1).CreateAttr("Algorithm", dgURI)
	b.dataDV = b.n.elem(ref, "ds", "DigestValue", 1, 0)
	b.n.text(b.dataDV, b64(dv))
}

func (b *builder) addTransforms(ref *etree.Element, transforms []string) {
	if len(transforms) == 0 {
		return
	}
	ts := b.n.elem(ref, "ds", "Transforms", len(transforms), 0)
	for _, t := range transforms {
		b.n.elem(ts, "ds", "Transform", 0, 1).CreateAttr("Algorithm", t)
	}
}

func (b *builder) hashReference() error {
	obj := b.obj
	if b.p.Packaging != Detached {
		return fmt.Errorf("%w: hash signing is always detached, not %v", ErrNotSupported, b.p.Packaging)
	}
	dgURI, err := digestURI(obj.DigestHash)
	if err != nil {
		return err
	}
	if len(obj.Digest) != obj.DigestHash.Size() {
		return fmt.Errorf("%w: digest has %d bytes, %v needs %d", ErrHashAlgorithm, len(obj.Digest), obj.DigestHash, obj.DigestHash.Size())
	}
	for _, t := range obj.Transforms {
		if err := checkTransform(t); err != nil {
			return err
		}
	}
	if err := checkDetachedURI(obj.URI); err != nil {
		return err
	}
	b.dataReference(obj.URI, obj.URI != "", obj.Transforms, dgURI, obj.Digest)
	return nil
}

func checkDetachedURI(uri string) error {
	if len(uri) > 0 && uri[0] == '#' {
		return fmt.Errorf("%w: detached reference %q points into the signature document", ErrInvalidRefURI, uri)
	}
	return nil
}

func (b *builder) detachedReference() error {
	if err := checkDetachedURI(b.obj.URI); err != nil {
		return err
	}
	b.dataReference(b.obj.URI, b.obj.URI != "", nil, b.dgURI, digest(b.p.DigestHash, b.obj.Data))
	return nil
}

func (b *builder) envelopedReference() error {
	obj := b.obj
	if !obj.XML {
		return fmt.Errorf("%w: an enveloped signature needs an xml document", ErrMalformed)
	}
	switch {
	case obj.URI == "":
	case obj.URI[0] == '#':
		return fmt.Errorf("%w: enveloped reference to an element by id (%q); only URI=\"\"", ErrNotSupported, obj.URI)
	default:
		return fmt.Errorf("%w: enveloped signature with the external reference %q", ErrInvalidRefURI, obj.URI)
	}
	doc, err := b.document()
	if err != nil {
		return err
	}
	if err := b.checkIDsFree(doc.Root()); err != nil {
		return err
	}
	b.doc = doc
	d, err := withC14NBuf(func(buf []byte) ([]byte, []byte, error) {
		c, err := canonicalizeDocumentBuf(buf, doc, b.c14n, nil, b.bound.walk()) // the signature is not inserted yet
		if err = b.bound.charge(len(c), err); err != nil {
			return nil, c, err
		}
		return digest(b.p.DigestHash, c), c, nil
	})
	if err != nil {
		return err
	}
	b.dataReference("", true, []string{TransformEnveloped, b.c14n}, b.dgURI, d)
	return nil
}

// checkIDsFree refuses a document that already uses one of the Ids this
// signature will carry, which would make its references ambiguous.
func (b *builder) checkIDsFree(root *etree.Element) error {
	x := buildIDIndex(root)
	ids := []string{b.p.SignatureID, b.refID}
	if b.p.Type == TypeXAdES {
		ids = append(ids, signedPropsID(b.p.SignatureID))
	}
	if b.p.Packaging == Enveloping {
		ids = append(ids, objID(b.p.SignatureID, b.obj))
	}
	for _, id := range ids {
		if x.has(id) {
			return fmt.Errorf("%w: the document already uses the id %q", ErrMalformed, id)
		}
	}
	return nil
}

func (b *builder) envelopingReference() error {
	obj := b.obj
	id := objID(b.p.SignatureID, obj)
	if obj.URI != "" && obj.URI != "#"+id {
		return fmt.Errorf("%w: enveloping reference must be \"#%s\", not %q", ErrInvalidRefURI, id, obj.URI)
	}
	o := b.sig.CreateElement("ds:Object")
	o.CreateAttr("Id", id)
	mime := obj.MimeType
	if obj.XML {
		if mime == "" {
			mime = "text/xml"
		}
		o.CreateAttr("MimeType", mime)
		doc, err := b.document()
		if err != nil {
			return err
		}
		if err := b.checkIDsFree(doc.Root()); err != nil {
			return err
		}
		o.AddChild(doc.Root())
		c, err := canonicalizeBuf(nil, o, b.c14n, nil, b.bound.walk())
		if err = b.bound.charge(len(c), err); err != nil {
			return err
		}
		b.dataReference("#"+id, true, []string{b.c14n}, b.dgURI, digest(b.p.DigestHash, c))
		return nil
	}
	if mime == "" {
		mime = "application/octet-stream"
	}
	o.CreateAttr("MimeType", mime)
	o.CreateAttr("Encoding", EncodingBase64)
	o.SetText(base64.StdEncoding.EncodeToString(obj.Data))
	b.dataReference("#"+id, true, []string{TransformBase64}, b.dgURI, digest(b.p.DigestHash, obj.Data))
	return nil
}

// keyInfo adds SignatureValue (empty for now) and KeyInfo with the signer
// certificate first. ds:Object elements follow them, so both are placed
// before any existing Object.
func (b *builder) keyInfo() {
	b.sv = b.n.elem(nil, "ds", "SignatureValue", 1, 0)
	ki := b.n.elem(nil, "ds", "KeyInfo", 1, 0)
	xd := b.n.elem(ki, "ds", "X509Data", len(b.p.Chain), 0)
	for _, c := range b.p.Chain {
		b.n.text(b.n.elem(xd, "ds", "X509Certificate", 1, 0), textOf(c).der)
	}
	b.sig.InsertChildAt(1, b.sv)
	b.sig.InsertChildAt(2, ki)
}

// place inserts the signature into the enveloped document.
func (b *builder) place() error {
	if b.obj.XPath == "" {
		b.doc.Root().AddChild(b.sig)
		return nil
	}
	target, err := selectXPath(b.doc, b.obj.XPath, b.obj.Namespaces)
	if err != nil {
		return err
	}
	if !b.obj.After {
		target.InsertChildAt(0, b.sig)
		return nil
	}
	parent := target.Parent()
	if parent == nil || parent == &b.doc.Element {
		return fmt.Errorf("%w: xpath %q: cannot place a signature after the document element", ErrMalformed, b.obj.XPath)
	}
	parent.InsertChildAt(target.Index()+1, b.sig)
	return nil
}

// signatureValue canonicalizes SignedInfo in place, signs it and fills in
// SignatureValue.
func (b *builder) signatureValue() error {
	h := b.sm.hash
	d, err := canonicalDigest(h, b.si, b.c14n, &b.bound)
	if err != nil {
		return err
	}
	rnd := b.p.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var opts crypto.SignerOpts = h
	if b.sm.kind == kindPSS {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sv, err := b.p.Signer.Sign(rnd, d, opts)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if b.sm.kind == kindECDSA {
		if sv, err = RawECDSA(sv, b.p.Signer.Public().(*ecdsa.PublicKey)); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
	}
	if _, ok := b.p.Signer.(VerifyingSigner); ok {
		b.signer = &signerVerified{key: b.p.Signer.Public(), hash: h, digest: d, value: sv}
	}
	b.n.text(b.sv, b64(sv))
	return nil
}

func digest(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Precheck runs the checks of Sign that depend only on the data object — the ingress gate and
// well-formedness of an XML document that goes into the signature, and the XPath of an
// enveloped placement — without building or signing anything. A caller that must not spend
// anything on a request that will be refused (a SCAL2 activation, consumed once) runs it first.
// maxDocBytes is Params.MaxDocumentBytes.
//
// The document it parsed comes back as an Input (nil when nothing was parsed): set as
// Object.Parsed, Build signs that tree instead of parsing the document again.
func Precheck(obj Object, pk Packaging, maxDocBytes int64) (*Input, error) {
	switch {
	case pk == Enveloped:
		if !obj.XML {
			return nil, fmt.Errorf("%w: an enveloped signature needs an xml document", ErrMalformed)
		}
		doc, err := parseInput(obj.Data, maxDocBytes)
		if err != nil {
			return nil, err
		}
		if obj.XPath != "" {
			if _, err := selectXPath(doc, obj.XPath, obj.Namespaces); err != nil {
				return nil, err
			}
		}
		return &Input{data: obj.Data, maxDoc: maxDocBytes, doc: doc}, nil
	case pk == Enveloping && obj.XML:
		doc, err := parseInput(obj.Data, maxDocBytes)
		if err != nil {
			return nil, err
		}
		return &Input{data: obj.Data, maxDoc: maxDocBytes, doc: doc}, nil
	}
	return nil, nil
}

// document returns the tree of the document to sign: the one Precheck made of these very
// bytes under the same limits, the first time it is asked for, else a new parse.
func (b *builder) document() (*etree.Document, error) {
	in, data := b.obj.Parsed, b.obj.Data
	if in != nil && !in.used && in.maxDoc == b.p.MaxDocumentBytes && len(in.data) == len(data) && len(data) > 0 && &in.data[0] == &data[0] {
		in.used = true
		return in.doc, nil
	}
	return parseInput(data, b.p.MaxDocumentBytes)
}
