package dss

import (
	"crypto/x509"
	"fmt"
	"time"

	"dssd/hsm"
)

// Caller is the authenticated party of a request, as established by the binding
// (bearer token or TLS client certificate). It crosses into dss as a value.
type Caller struct {
	User string // user name from configuration
	Via  string // "token" or "certificate"
}

// SignRequest is a binding-neutral DSS-X SignRequest (or CSC signHash/signDoc).
type SignRequest struct {
	RequestID string
	Profiles  []string // dsb:Profile URIs

	Documents []Document     // InputDocuments/Document, in request order
	Hashes    []DocumentHash // InputDocuments/DocumentHash, in request order

	Options SignOptions

	// Tag is opaque to dss: a binding's note of the request's shape (the CSC binding's method
	// and envelope, for example). It is stored with an asynchronous job and echoed in the
	// SignResponse, so that a poll is answered in the shape of the original request.
	Tag string
}

// Document is an InputDocuments/Document: data to be signed.
type Document struct {
	ID        string // @ID (may be empty)
	RefURI    string // @RefURI
	HasRefURI bool   // whether @RefURI was present (an empty RefURI is a same-document reference)
	RefType   string // @RefType
	MimeType  string // Base64Data/@MimeType
	Data      []byte // decoded dsb:Value; nil when Streamed is set

	// Streamed is set instead of Data for a document the binding did not keep: an MTOM
	// attachment whose bytes went into a digest while they arrived. Only a detached
	// signature can be made over it (its Reference carries that digest).
	Streamed *StreamedData
}

// StreamedData is what a binding keeps of a document it hashed while reading it.
type StreamedData struct {
	Size   int64  // bytes read
	SHA256 []byte // SHA-256 of the bytes: the Reference digest, the SAD binding, the audit digest
	Head   []byte // the first bytes (at most StreamedHeadBytes), for the XML-or-binary decision
}

// StreamedHeadBytes is how much of a streamed document a binding keeps in StreamedData.Head.
const StreamedHeadBytes = 64

// DocumentHash is an InputDocuments/DocumentHash: a digest computed by the client.
type DocumentHash struct {
	ID         string
	RefURI     string
	HasRefURI  bool
	RefType    string
	Transforms []string // Transform/@Algorithm URIs, in order
	Digests    []Digest // DigestInfos; the service picks the first acceptable one
}

// Digest is one DigestInfo.
type Digest struct {
	Method string // URI, OID or name as sent ("http://www.w3.org/2001/04/xmlenc#sha256", "2.16.840.1.101.3.4.2.1", "SHA-256")
	Value  []byte
}

// SignOptions are the OptionalInputs of a SignRequest that dss implements.
type SignOptions struct {
	Language           string   // dsb:Language
	CredentialID       string   // KeySelector/KeyName
	SignatureType      string   // SignatureType URI; empty means the default
	SignatureAlgorithm string   // SignatureAlgorithm URI or OID; empty means the key's default
	AddTimestamp       []string // AddTimestamp type URIs

	Placement      *Placement      // SignaturePlacement (enveloped)
	IncludeObjects []IncludeObject // IncludeObject (enveloping)

	ClaimedIdentity *ClaimedIdentity

	// Async is EnforceAsynchronousProcessing=true: answer Pending and sign in a job (async.go).
	Async bool
	// AsyncRetention bounds how long an asynchronous job and its answer are kept (CSC
	// validity_period); zero means the configured retention, which also caps it.
	AsyncRetention time.Duration

	// Unsupported lists the optional inputs present in the request that the binding
	// recognised (or could not recognise) but dss does not implement, by element name.
	// dss refuses such a request with NotSupported naming the first one: no optional
	// input is ever silently ignored.
	Unsupported []string
}

// Placement is a SignaturePlacement: put an enveloped signature into the document WhichData.
type Placement struct {
	WhichData       string
	XPath           string            // XPathFirstChildOf or XPathAfter
	After           bool              // true for XPathAfter
	Namespaces      map[string]string // NsPrefixMapping: prefix → namespace URI
	CreateEnveloped bool              // @CreateEnvelopedSignature (default true)
}

// IncludeObject asks for the document WhichData to be put inside a ds:Object (enveloping).
type IncludeObject struct {
	WhichData                     string
	ObjID                         string
	HasObjectTagsAndAttributesSet bool
	CreateReference               bool // default true
}

// ClaimedIdentity carries the requester's claimed name and supporting information
// (the SAD for SCAL2 credentials, TS 119 432 clause 8).
type ClaimedIdentity struct {
	Name                   string
	SupportingInfo         []byte
	SupportingInfoMimeType string
}

// SignResponse is the binding-neutral answer to a successful SignRequest. Failures are
// returned as errors and turned into a Result by ResultOf.
type SignResponse struct {
	RequestID       string
	ResponseID      string
	Result          Result
	AppliedProfiles []string

	Signatures             []SignatureObject       // one per signed document or hash, in request order
	DocumentsWithSignature []DocumentWithSignature // enveloped results

	Tag string // the request's Tag (asynchronous answers)
}

// SignatureObject is one produced signature.
type SignatureObject struct {
	WhichDoc string // the input document's ID
	MimeType string // of the Base64Signature ("application/xml" for XML signatures, "application/octet-stream" for raw values)
	Value    []byte // Base64Signature content; nil when Ptr is set
	Ptr      *SignaturePtr
}

// SignaturePtr points at a signature inside a DocumentWithSignature.
type SignaturePtr struct {
	WhichData string // the ID of the DocumentWithSignature document
	XPath     string
}

// DocumentWithSignature is an input document with an enveloped signature inserted.
type DocumentWithSignature struct {
	WhichDoc string // the input document's ID
	ID       string // the output Document's ID ("signed-" + input ID)
	MimeType string
	Data     []byte
}

// Result is a DSS-X dsb:Result.
type Result struct {
	Major            string
	Minor            string
	Message          string
	Lang             string // language of Message ("en")
	ProblemReference string
}

// Credential is a signing credential: a key in the HSM, its certificate chain and its owner.
type Credential struct {
	ID    string
	Owner string
	Key   string              // key type, e.g. "RSA-2048", "EC-P256"
	SCAL  int                 // 1 or 2
	Ref   hsm.KeyRef          // the key in the HSM
	Chain []*x509.Certificate // signer certificate first
	// Disabled: an operator disabled the credential; it is listed but never signs or
	// activates (KindCredentialDisabled).
	Disabled bool
	// Factors are the activation factors of a scal 2 credential kept in the store; nil: the
	// service's configured factors for this id (Config.Factors).
	Factors *Factors
}

// VerifyRequest is a binding-neutral DSS-X VerifyRequest (DSS-X 2.0 §4.3.3, §6).
//
// Without Signature the request carries exactly one Document, the XML document that holds
// the signature(s). With a Base64Signature the Documents are the detached data, matched to
// Reference URIs by RefURI; with a SignaturePtr, WhichData names the Document holding the
// signature(s) and the others are detached data. Without both Signature and Documents it is
// the signer-certificate request of TS 119 432 clause 8.3.1 (Options.ReturnSignerIdentity with
// the credential in Options.CredentialID).
type VerifyRequest struct {
	RequestID string
	Profiles  []string
	Documents []Document       // InputDocuments/Document, in request order
	Signature *SignatureObject // SignatureObject: Value (Base64Signature) or Ptr (SignaturePtr)
	Options   VerifyOptions

	Unsupported []string // element names present in the request that dss does not implement
}

// VerifyOptions are the OptionalInputs of a VerifyRequest that dss implements.
type VerifyOptions struct {
	Language        string // dsb:Language
	ClaimedIdentity *ClaimedIdentity

	// VerificationTime is UseVerificationTime/SpecificTime; zero means the current time
	// (also UseVerificationTime/CurrentTime).
	VerificationTime time.Time

	ReturnVerificationTimeInfo bool
	ReturnProcessingDetails    bool
	ReturnSigningTimeInfo      bool
	ReturnSignerIdentity       bool
	ReturnAugmentedSignature   string // the requested level profile URI (urn:dssd:level:B-T ...); empty: none

	// AdditionalKeyInfo: DER certificates (never trusted, only path material), CRLs and OCSP
	// responses.
	Certificates [][]byte
	CRLs         [][]byte
	OCSP         [][]byte

	// CredentialID is AdditionalKeyInfo/KeyName (or, leniently, KeySelector/KeyName): the
	// credential whose certificate a signer-certificate request asks for.
	CredentialID string

	// ReturnTransformedDocuments are the WhichReference values of ReturnTransformedDocument:
	// 1-based positions of References of the (first) signature whose transformed octets are
	// returned, exactly the bytes the digest covers.
	ReturnTransformedDocuments []int
}

// VerifyResponse is the answer to a VerifyRequest.
type VerifyResponse struct {
	RequestID       string
	ResponseID      string
	Result          Result
	AppliedProfiles []string

	SigningTime       *SigningTimeInfo      // ReturnSigningTimeInfo, when a signing time is known
	VerificationTime  *VerificationTimeInfo // ReturnVerificationTimeInfo
	ProcessingDetails *ProcessingDetails    // ReturnProcessingDetails
	SignerIdentity    *NameID               // ReturnSignerIdentity
	Other             []OtherOutput         // dsb:Other outputs (the signer certificate of clause 8.3.1)
	Augmented         []AugmentedSignature  // ReturnAugmentedSignature
	Transformed       []TransformedDocument // ReturnTransformedDocument
}

// TransformedDocument is the octets one Reference of the verified signature covers (the
// input of its digest), returned for ReturnTransformedDocument.
type TransformedDocument struct {
	WhichReference int
	Data           []byte
}

// TransformedMimeType is the MimeType of a returned TransformedDocument.
const TransformedMimeType = "application/octet-stream"

// TransformedDocumentID names the dsb:Other that carries the TransformedDocument of a
// Reference on the wire (xs:ID).
func TransformedDocumentID(whichReference int) string {
	return fmt.Sprintf("TransformedDocument-%d", whichReference)
}

// SigningTimeInfo is dss2:SigningTimeInfo: the claimed or proven signing time.
type SigningTimeInfo struct {
	Time  time.Time
	Lower *time.Time // SigningTimeBoundaries/LowerBoundary
	Upper *time.Time // SigningTimeBoundaries/UpperBoundary (the earliest signature timestamp)
}

// VerificationTimeInfo is dss2:VerificationTimeInfo.
type VerificationTimeInfo struct {
	Time       time.Time
	Additional []AdditionalTimeInfo
}

// AdditionalTimeInfo is one dss2:AdditionalTimeInfo.
type AdditionalTimeInfo struct {
	Type string // urn:oasis:names:tc:dss:1.0:additionaltimeinfo:signatureTimestamp | claimedSigningTime
	Ref  string // the signature's Id
	Time time.Time
}

// Additional time info types (DSS-X 2.0 AdditionalTimeInfoType).
const (
	TimeInfoSignatureTimestamp = "urn:oasis:names:tc:dss:1.0:additionaltimeinfo:signatureTimestamp"
	TimeInfoClaimedSigningTime = "urn:oasis:names:tc:dss:1.0:additionaltimeinfo:claimedSigningTime"
)

// ProcessingDetails is dss2:ProcessingDetails.
type ProcessingDetails struct {
	Valid         []Detail
	Indeterminate []Detail
	Invalid       []Detail
}

// Detail is dss2:DetailType.
type Detail struct {
	Type    string // required anyURI
	Code    string // optional anyURI
	Message string // optional, English
}

// NameID is a saml2-rw:NameIDType value.
type NameID struct {
	Value  string
	Format string
}

// NameID formats.
const NameIDX509Subject = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"

// OtherOutput is one dsb:Other output carrying base64 data.
type OtherOutput struct {
	MimeType string
	Data     []byte
}

// AugmentedSignature is one dss2:AugmentedSignature: the signature raised to Type (a level
// profile URI), as a Base64Signature (Signature) or a document with the signature inside.
type AugmentedSignature struct {
	Type      string
	Signature *SignatureObject
	Document  *DocumentWithSignature
}

// PendingRequest polls an asynchronous request by its ResponseID (carried in RequestID).
type PendingRequest struct {
	RequestID string
}
