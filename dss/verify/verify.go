package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"dssd/dss/xades"
	"dssd/dss/xmldsig"
	"dssd/dss/xmlsafe"
)

// Indication is an EN 319 102-1 main status indication.
type Indication string

// Indications.
const (
	TotalPassed   Indication = "TOTAL-PASSED"
	TotalFailed   Indication = "TOTAL-FAILED"
	Indeterminate Indication = "INDETERMINATE"
)

// SubIndication is an EN 319 102-1 sub-indication.
type SubIndication string

// Sub-indications used by this package.
const (
	FormatFailure             SubIndication = "FORMAT_FAILURE"
	HashFailure               SubIndication = "HASH_FAILURE"
	SigCryptoFailure          SubIndication = "SIG_CRYPTO_FAILURE"
	Revoked                   SubIndication = "REVOKED"
	SigConstraintsFailure     SubIndication = "SIG_CONSTRAINTS_FAILURE"
	ChainConstraintsFailure   SubIndication = "CHAIN_CONSTRAINTS_FAILURE"
	CryptoConstraintsFailure  SubIndication = "CRYPTO_CONSTRAINTS_FAILURE"
	NoSigningCertificateFound SubIndication = "NO_SIGNING_CERTIFICATE_FOUND"
	NoCertificateChainFound   SubIndication = "NO_CERTIFICATE_CHAIN_FOUND"
	RevokedNoPOE              SubIndication = "REVOKED_NO_POE"
	OutOfBoundsNoPOE          SubIndication = "OUT_OF_BOUNDS_NO_POE"
	NotYetValid               SubIndication = "NOT_YET_VALID"
	TryLater                  SubIndication = "TRY_LATER"
	SignedDataNotFound        SubIndication = "SIGNED_DATA_NOT_FOUND"
)

// Reason names the check that decided a verdict other than TOTAL-PASSED.
type Reason string

// Reasons.
const (
	ReasonFormat             Reason = "format"              // structure, ids, XAdES layout
	ReasonAlgorithm          Reason = "algorithm"           // refused or unknown algorithm, weak key
	ReasonTransform          Reason = "transform"           // transform or canonicalization outside the allow-list
	ReasonReference          Reason = "reference"           // a Reference that cannot be resolved
	ReasonDigest             Reason = "digest"              // a Reference digest does not match
	ReasonSignatureValue     Reason = "signature-value"     // SignatureValue does not verify
	ReasonKeyInfo            Reason = "key-info"            // no certificate to verify with
	ReasonSigningCertificate Reason = "signing-certificate" // SigningCertificate(V2) names another certificate
	ReasonChain              Reason = "chain"               // no path to a trust anchor, or a bad path
	ReasonValidity           Reason = "validity"            // signer certificate expired or not yet valid
	ReasonRevocation         Reason = "revocation"          // revoked, or status unknown
	ReasonTimestamp          Reason = "timestamp"           // a signature timestamp does not verify
	ReasonArchiveTimestamp   Reason = "archive-timestamp"   // an archive timestamp does not cover the signature
)

// Scope kinds: what one Reference covers.
const (
	ScopeDocument         = "document"          // URI="": the whole document holding the signature
	ScopeElement          = "element"           // URI="#id": one element of the document and its content
	ScopeObject           = "object"            // URI="#id" naming a ds:Object of this signature
	ScopeSignedProperties = "signed-properties" // the XAdES SignedProperties of this signature
	ScopeKeyInfo          = "key-info"          // the ds:KeyInfo of this signature
	ScopeDetached         = "detached"          // a detached data object given with the request
)

// Scope is what one Reference of a signature covers.
type Scope struct {
	Reference  int      // 1-based position in SignedInfo
	URI        string   // Reference/@URI
	HasURI     bool     // whether the attribute is present
	Type       string   // Reference/@Type
	Kind       string   // one of the Scope* constants
	Element    string   // document, element, object: "{namespace}local" of the element covered
	ElementID  string   // element, object: the id it was found by
	Document   string   // detached: the ID of the data object
	Transforms []string // transform URIs, in order
	Digest     string   // "<DigestMethod URI> <base64 value>"
	Enveloped  bool     // the enveloped-signature transform left this signature out
}

// Result is the verdict on one signature.
type Result struct {
	Index  int    // 1-based, in document order
	ID     string // ds:Signature/@Id (may be empty)
	XAdES  bool   // the signature carries XAdES qualifying properties
	IsRoot bool   // the signature is the document element (not enveloped in a document)
	// UncoveredObjects names the ds:Object elements of the signature that no Reference covers
	// (their content is not signed).
	UncoveredObjects []string
	// UnsignedContent names content in a container of the signature (KeyInfo, X509Data, the
	// ds:Object holding QualifyingProperties, SignedProperties, UnsignedProperties, a ds:Object
	// a Reference covers only in part) that the XMLDSig and XAdES schemas do not allow there or
	// that no Reference covers: each entry names the container and the content.
	UnsignedContent []string
	Level           string // XAdES: B-B, B-T, B-LT or B-LTA as far as present (not as validated)
	Indication      Indication
	SubIndication   SubIndication // empty for TOTAL-PASSED
	Reason          Reason        // empty for TOTAL-PASSED
	Detail          string        // client-safe explanation, in English

	SignatureMethod string
	Signer          *x509.Certificate   // the signing certificate, when identified
	Chain           []*x509.Certificate // the validated path, signer first, anchor last
	SigningTime     time.Time           // XAdES claimed SigningTime (zero when absent)
	TimestampTimes  []time.Time         // genTime of each signature timestamp that verified
	Scope           []Scope             // one entry per Reference
	Notes           []string            // what was seen but not (fully) validated
	// Transformed holds, for the Reference positions of Input.ReturnTransformed (first
	// signature only), the octets the Reference's digest covers, kept only when that digest
	// matched.
	Transformed map[int][]byte
}

// Name returns the signature's Id, or "#<index>" when it has none.
func (r *Result) Name() string {
	if r.ID != "" {
		return r.ID
	}
	return fmt.Sprintf("#%d", r.Index)
}

// Report is the verdict on every signature of an input.
type Report struct {
	Time       time.Time // the validation time used
	Signatures []Result
}

// Document is a detached data object: the content of a Reference whose URI is neither ""
// nor "#id".
type Document struct {
	ID     string // caller's name for it (DSS Document/@ID)
	URI    string // the Reference URI it stands for (DSS RefURI)
	HasURI bool   // false: it stands for the one Reference without a URI attribute
	Data   []byte
}

// Input is what Verify checks.
type Input struct {
	Signature    []byte              // the XML document holding the signature(s)
	Detached     []Document          // detached data objects
	Certificates []*x509.Certificate // extra certificates (DSS AdditionalKeyInfo); never trusted
	OCSP         [][]byte            // extra DER OCSP responses
	CRLs         [][]byte            // extra DER CRLs
	Time         time.Time           // validation time; zero: Config.Clock()
	// ReturnTransformed are 1-based Reference positions of the first signature whose
	// transformed octets (what the digest covers) are kept in Result.Transformed.
	ReturnTransformed []int
}

// RevocationSource fetches revocation material online. It has the shape of
// dss.RevocationSource; an error wrapping ErrRevoked means a certificate is revoked.
type RevocationSource interface {
	// Validation returns, for every certificate of chain except a self-signed anchor, the
	// DER OCSP responses and CRLs that show its status at the time of the call.
	Validation(ctx context.Context, chain []*x509.Certificate) (ocsp [][]byte, crls [][]byte, err error)
}

// Errors of Verify. Signature problems are Results, not errors.
var (
	ErrMalformed   = errors.New("malformed input")                      // refused by the ingress gate or the parser
	ErrLimit       = errors.New("limit exceeded")                       // a size, depth, count or signature limit
	ErrNoSignature = errors.New("no ds:Signature element in the input") // nothing to verify
	// ErrRevoked is wrapped by a RevocationSource when a certificate is revoked.
	ErrRevoked = errors.New("certificate revoked")
)

// Limits bound the work of Verify (hardening.md §2.6).
type Limits struct {
	Document       xmlsafe.Limits // gate limits of the signature document and of detached XML
	MaxSignatures  int            // ds:Signature elements per document (32)
	MaxReferences  int            // References per SignedInfo (8)
	MaxTransforms  int            // Transforms per Reference (4)
	MaxCertsPerSig int            // certificates in one KeyInfo or CertificateValues (10)
	MaxCertBytes   int            // size of one certificate (16 KiB)
	MaxTimestamps  int            // signature timestamps per signature (4)
	MaxRevocation  int            // revocation values per signature (32)
	MaxC14NBytes   int64          // canonical bytes digested per input, all signatures together (64 MiB)
	MaxPrefixes    int            // distinct prefixes of one InclusiveNamespaces PrefixList (64)
	// Revocation data and paths of one request, all signatures together (issue 10).
	MaxRevocationValues int   // distinct OCSP responses and CRLs in Input.OCSP and Input.CRLs (64)
	MaxRevocationBytes  int64 // their total size (8 MiB)
	MaxPathBuilds       int   // certificate paths built for signers and TSAs (256)
	// The work of one input grows with its nodes, not its bytes (issue 10: 2.1 M elements at
	// the 64 MiB size limit cost 2 s, the worst XPath Filter 2.0 over them 7.6 s).
	MaxNodes     int64 // nodes (elements, attributes, text, comments) of the signature document and its detached XML together (500 000)
	MaxC14NNodes int64 // nodes the canonicalization walks of one input visit, all signatures together (2 000 000)
}

// DefaultLimits returns the limits of hardening.md §2.6. The document limits are the gate's
// DocumentLimits with room for the signature itself.
func DefaultLimits() Limits {
	return Limits{
		Document: DocumentLimitsFor(0), MaxSignatures: 32, MaxReferences: 8, MaxTransforms: 4,
		MaxCertsPerSig: 10, MaxCertBytes: 16 << 10, MaxTimestamps: 4, MaxRevocation: 32,
		MaxC14NBytes: xmldsig.DefaultMaxC14NBytes, MaxPrefixes: 64,
		MaxRevocationValues: 64, MaxRevocationBytes: 8 << 20, MaxPathBuilds: 256,
		MaxNodes: DefaultMaxNodes, MaxC14NNodes: DefaultMaxC14NNodes,
	}
}

// Defaults of Limits.MaxNodes and MaxC14NNodes: about 0.25 s and 0.3 s of CPU on the project
// machine (docs/performance.md, hostile inputs), and 8 times the nodes of the largest real
// document of the test corpus (a 2.4 MB SAML aggregate of 60 000 nodes).
const (
	DefaultMaxNodes     = 500_000
	DefaultMaxC14NNodes = 2_000_000
)

// DocumentLimitsFor returns the gate limits of a signature over documents of at most
// maxDocBytes (xmlsafe.DocumentLimitsFor; 0: the default): room for the document base64-encoded
// in an enveloping signature, and for the signature's own levels, elements and declarations.
func DocumentLimitsFor(maxDocBytes int64) xmlsafe.Limits {
	d := xmlsafe.DocumentLimitsFor(maxDocBytes)
	d.MaxBytes = d.MaxBytes/3*4 + 1<<20
	d.MaxDepth += 8
	d.MaxElements += 1000
	d.MaxNSInScope += 16
	return d
}

func (l Limits) normalize() Limits {
	d := DefaultLimits()
	if l.Document == (xmlsafe.Limits{}) {
		l.Document = d.Document
	}
	if l.MaxC14NBytes <= 0 {
		l.MaxC14NBytes = d.MaxC14NBytes
	}
	if l.MaxRevocationBytes <= 0 {
		l.MaxRevocationBytes = d.MaxRevocationBytes
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = d.MaxNodes
	}
	if l.MaxC14NNodes <= 0 {
		l.MaxC14NNodes = d.MaxC14NNodes
	}
	for _, p := range []struct{ v, def *int }{
		{&l.MaxSignatures, &d.MaxSignatures}, {&l.MaxReferences, &d.MaxReferences},
		{&l.MaxTransforms, &d.MaxTransforms}, {&l.MaxCertsPerSig, &d.MaxCertsPerSig},
		{&l.MaxCertBytes, &d.MaxCertBytes}, {&l.MaxTimestamps, &d.MaxTimestamps},
		{&l.MaxRevocation, &d.MaxRevocation}, {&l.MaxRevocationValues, &d.MaxRevocationValues},
		{&l.MaxPathBuilds, &d.MaxPathBuilds}, {&l.MaxPrefixes, &d.MaxPrefixes},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return l
}

// Config configures a Verifier.
type Config struct {
	Anchors    []*x509.Certificate // trust anchors for signers and timestamp authorities
	Policy     Policy              // algorithm policy; the zero value is DefaultPolicy
	Revocation RevocationSource    // online revocation; nil: only embedded and extra data
	Clock      func() time.Time    // nil: time.Now
	Limits     Limits              // zero fields: DefaultLimits
	// RevocationFreshness is how old a "good" OCSP response or CRL given with the request or
	// embedded in the signature may be (its thisUpdate before the verifier's clock) to count
	// without a proof of existence of the signature; 0: it must be issued at or after the
	// verifier's clock, i.e. in practice the online source decides (status.go).
	RevocationFreshness time.Duration
	// SignerEKUs are the extended key usages (dotted OIDs) that allow a signing certificate
	// with that extension to sign documents; nil: DefaultSignerEKUs.
	SignerEKUs []string
}

// Verifier validates signatures. It is safe for concurrent use.
type Verifier struct {
	anchors *x509.CertPool
	roots   []*x509.Certificate
	policy  Policy
	rev     RevocationSource
	clock   func() time.Time
	lim     Limits

	freshness time.Duration
	purpose   purpose
}

// New returns a Verifier. Without anchors every signature ends INDETERMINATE
// (NO_CERTIFICATE_CHAIN_FOUND).
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{anchors: x509.NewCertPool(), policy: cfg.Policy, rev: cfg.Revocation, clock: cfg.Clock, lim: cfg.Limits.normalize()}
	for _, a := range cfg.Anchors {
		if a == nil {
			return nil, errors.New("verify: nil trust anchor")
		}
		v.anchors.AddCert(a)
		v.roots = append(v.roots, a)
	}
	if v.policy.isZero() {
		v.policy = DefaultPolicy()
	}
	if err := v.policy.check(); err != nil {
		return nil, err
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if cfg.RevocationFreshness < 0 {
		return nil, errors.New("verify: negative revocation freshness")
	}
	v.freshness = cfg.RevocationFreshness
	var err error
	if v.purpose, err = newPurpose(cfg.SignerEKUs); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify validates every signature of in.Signature. It returns an error only when the input
// cannot be processed at all (see the package documentation).
func (v *Verifier) Verify(ctx context.Context, in Input) (*Report, error) {
	lim := v.lim.Document
	if lim.MaxNodes <= 0 || lim.MaxNodes > v.lim.MaxNodes {
		lim.MaxNodes = v.lim.MaxNodes
	}
	doc, err := xmlsafe.ParseContext(ctx, in.Signature, lim)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if xmlsafe.IsLimit(err) {
			return nil, fmt.Errorf("%w: %w", ErrLimit, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if doc.Root() == nil {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	sigs := findSignatures(doc.Root(), nil)
	if len(sigs) == 0 {
		return nil, ErrNoSignature
	}
	if len(sigs) > v.lim.MaxSignatures {
		return nil, fmt.Errorf("%w: %d signatures in one document; the limit is %d", ErrLimit, len(sigs), v.lim.MaxSignatures)
	}
	at := in.Time
	if at.IsZero() {
		at = v.clock()
	}
	req, err := newReqState(v, &in)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLimit, err)
	}
	req.nodesLeft = v.lim.MaxNodes - countNodes(&doc.Element)
	rep := &Report{Time: at}
	ids := buildIDIndex(doc.Root())
	var work int64
	walk := xmldsig.NewBudget(v.lim.MaxC14NNodes)
	for i, s := range sigs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		c := &sigCtx{v: v, ctx: ctx, doc: doc, ids: ids, sig: s, in: &in, at: at, work: &work, walk: walk, req: req}
		if i == 0 && len(in.ReturnTransformed) > 0 {
			c.transformed = map[int][]byte{}
		}
		c.res = Result{Index: i + 1, ID: s.SelectAttrValue("Id", ""), IsRoot: s == doc.Root()}
		c.run()
		rep.Signatures = append(rep.Signatures, c.res)
	}
	return rep, nil
}

// findSignatures returns every ds:Signature element under el, in document order.
func findSignatures(el *etree.Element, out []*etree.Element) []*etree.Element {
	if is(el, xades.NSXMLDSig, "Signature") {
		out = append(out, el)
	}
	for _, c := range el.ChildElements() {
		out = findSignatures(c, out)
	}
	return out
}

// is reports whether el is the element {ns}local.
func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == ns
}

// verdict ends a signature's validation.
type verdict struct {
	ind    Indication
	sub    SubIndication
	reason Reason
	detail string
}

func (v *verdict) Error() string { return fmt.Sprintf("%s/%s: %s", v.ind, v.sub, v.detail) }

func fail(sub SubIndication, reason Reason, format string, a ...any) *verdict {
	return &verdict{ind: TotalFailed, sub: sub, reason: reason, detail: fmt.Sprintf(format, a...)}
}

func indeterminate(sub SubIndication, reason Reason, format string, a ...any) *verdict {
	return &verdict{ind: Indeterminate, sub: sub, reason: reason, detail: fmt.Sprintf(format, a...)}
}

func formatFailure(format string, a ...any) *verdict {
	return fail(FormatFailure, ReasonFormat, format, a...)
}
