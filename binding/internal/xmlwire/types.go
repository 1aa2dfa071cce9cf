package xmlwire

import "encoding/xml"

// Any is an element dssd does not model: it keeps the name (and, for diagnostics, the
// attributes, text and children) so that the converters can report it by name.
type Any struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []Any      `xml:",any"`
}

// ---------------------------------------------------------------- requests

// RequestBase is dsb:RequestBaseType, the base of every request type. It is embedded, so
// its attribute and child belong to the embedding element, in schema order.
type RequestBase struct {
	RequestID string   `xml:"RequestID,attr,omitempty"`
	Profile   []string `xml:"http://docs.oasis-open.org/dss-x/ns/base Profile"`
}

// SignRequest is dss2:SignRequest (dss2:SignRequestType extending dsb:RequestBaseType).
type SignRequest struct {
	XMLName xml.Name `xml:"http://docs.oasis-open.org/dss-x/ns/core SignRequest"`
	RequestBase
	InputDocuments *InputDocuments     `xml:"http://docs.oasis-open.org/dss-x/ns/core InputDocuments"`
	OptionalInputs *OptionalInputsSign `xml:"http://docs.oasis-open.org/dss-x/ns/core OptionalInputs"`
	Unknown        []Any               `xml:",any"`
}

// VerifyRequest is dss2:VerifyRequest.
type VerifyRequest struct {
	XMLName xml.Name `xml:"http://docs.oasis-open.org/dss-x/ns/core VerifyRequest"`
	RequestBase
	InputDocuments  *InputDocuments       `xml:"http://docs.oasis-open.org/dss-x/ns/core InputDocuments"`
	OptionalInputs  *OptionalInputsVerify `xml:"http://docs.oasis-open.org/dss-x/ns/core OptionalInputs"`
	SignatureObject []SignatureObject     `xml:"http://docs.oasis-open.org/dss-x/ns/core SignatureObject"`
	Unknown         []Any                 `xml:",any"`
}

// PendingRequest is an element of dss2:PendingRequestType. The core schema declares no global
// element for it; dssd accepts <dss2:PendingRequest> (protocol.md §15 #1) and its WSDL
// declares the element in schemas/dssd-pending.xsd.
type PendingRequest struct {
	XMLName xml.Name `xml:"http://docs.oasis-open.org/dss-x/ns/core PendingRequest"`
	RequestBase
	ClaimedIdentity *ClaimedIdentity `xml:"http://docs.oasis-open.org/dss-x/ns/core ClaimedIdentity"`
	Unknown         []Any            `xml:",any"`
}

// InputDocuments is dss2:InputDocuments.
type InputDocuments struct {
	Document        []Document     `xml:"http://docs.oasis-open.org/dss-x/ns/core Document"`
	TransformedData []Any          `xml:"http://docs.oasis-open.org/dss-x/ns/core TransformedData"`
	DocumentHash    []DocumentHash `xml:"http://docs.oasis-open.org/dss-x/ns/core DocumentHash"`
	Unknown         []Any          `xml:",any"`
}

// DocumentBase is dss2:DocumentBaseType, the attributes of Document and DocumentHash. It is
// embedded, so they belong to the embedding element.
type DocumentBase struct {
	ID         string  `xml:"ID,attr,omitempty"`
	RefURI     *string `xml:"RefURI,attr,omitempty"`
	RefType    string  `xml:"RefType,attr,omitempty"`
	SchemaRefs string  `xml:"SchemaRefs,attr,omitempty"`
}

// Document is dss2:DocumentType (InputDocuments/Document, DocumentWithSignature/Document).
type Document struct {
	DocumentBase
	Base64Data Base64Data `xml:"http://docs.oasis-open.org/dss-x/ns/core Base64Data"`
	Unknown    []Any      `xml:",any"`
}

// DocumentHash is dss2:DocumentHash.
type DocumentHash struct {
	DocumentBase
	WhichReference string       `xml:"WhichReference,attr,omitempty"`
	Transforms     *Transforms  `xml:"http://docs.oasis-open.org/dss-x/ns/core Transforms"`
	DigestInfos    []DigestInfo `xml:"http://docs.oasis-open.org/dss-x/ns/core DigestInfos"`
	Unknown        []Any        `xml:",any"`
}

// DigestInfo is dsb:DigestInfoType; its children are dsb elements.
type DigestInfo struct {
	DigestMethod string  `xml:"http://docs.oasis-open.org/dss-x/ns/base DigestMethod"`
	DigestValue  *Base64 `xml:"http://docs.oasis-open.org/dss-x/ns/base DigestValue"`
	Unknown      []Any   `xml:",any"`
}

// Base64Data is dsb:Base64DataType (also dsb:AnyType): the element carrying it is named by
// the parent (dss2:Base64Data, dss2:Base64Signature, dss2:SupportingInfo, dsb:Other, ...),
// its children are always dsb elements.
type Base64Data struct {
	MimeType   string      `xml:"MimeType,attr,omitempty"`
	ID         string      `xml:"ID,attr,omitempty"`
	IDREF      string      `xml:"IDREF,attr,omitempty"`
	Value      *Base64     `xml:"http://docs.oasis-open.org/dss-x/ns/base Value"`
	AttRef     *Any        `xml:"http://docs.oasis-open.org/dss-x/ns/base AttRef"`
	Transforms *Transforms `xml:"http://docs.oasis-open.org/dss-x/ns/base Transforms"`
	Unknown    []Any       `xml:",any"`
}

// Transforms is ds-rw:TransformsType. The element itself is named by its parent
// (dss2:Transforms in DocumentHash, dsb:Transforms in Base64Data).
type Transforms struct {
	Transform []Transform `xml:"http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten Transform"`
	Unknown   []Any       `xml:",any"`
}

// Transform is ds-rw:TransformType.
type Transform struct {
	Algorithm       string            `xml:"Algorithm,attr"`
	Value           *string           `xml:"http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten value"`
	Base64Content   *Base64           `xml:"http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten Base64Content"`
	XPath           []string          `xml:"http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten XPath"`
	NsPrefixMapping []NsPrefixMapping `xml:"http://docs.oasis-open.org/dss-x/ns/xmldsig/rewritten NsPrefixMapping"`
	Unknown         []Any             `xml:",any"`
}

// NsPrefixMapping is nsl:NsPrefixMappingType; the element is named by its parent, its
// children are nsl elements.
type NsPrefixMapping struct {
	NamespaceURI    string `xml:"http://docs.oasis-open.org/dss-x/ns/nsList NamespaceURI"`
	NamespacePrefix string `xml:"http://docs.oasis-open.org/dss-x/ns/nsList NamespacePrefix"`
	Unknown         []Any  `xml:",any"`
}

// OptionalInputsBase is dss2:OptionalInputsBaseType (with the children of dsb:OptionalInputsType
// it extends), the first children of both OptionalInputsSign and OptionalInputsVerify. It is
// embedded, so its fields are children of the embedding element, in schema order.
type OptionalInputsBase struct {
	ServicePolicy                 []string         `xml:"http://docs.oasis-open.org/dss-x/ns/base ServicePolicy"`
	Language                      *string          `xml:"http://docs.oasis-open.org/dss-x/ns/base Language"`
	Other                         []Base64Data     `xml:"http://docs.oasis-open.org/dss-x/ns/base Other"`
	ClaimedIdentity               *ClaimedIdentity `xml:"http://docs.oasis-open.org/dss-x/ns/core ClaimedIdentity"`
	Schemas                       *Any             `xml:"http://docs.oasis-open.org/dss-x/ns/core Schemas"`
	AddTimestamp                  []string         `xml:"http://docs.oasis-open.org/dss-x/ns/core AddTimestamp"`
	EnforceAsynchronousProcessing *string          `xml:"http://docs.oasis-open.org/dss-x/ns/core EnforceAsynchronousProcessing"`
	Nonce                         *string          `xml:"http://docs.oasis-open.org/dss-x/ns/core Nonce"`
}

// OptionalInputsSign is dss2:OptionalInputsSignType, every child in schema order. Booleans
// and integers are kept as text so that the converters apply the XSD defaults and report
// bad values as a RequesterError.
type OptionalInputsSign struct {
	OptionalInputsBase
	SignatureType         *string             `xml:"http://docs.oasis-open.org/dss-x/ns/core SignatureType"`
	IntendedAudience      *Any                `xml:"http://docs.oasis-open.org/dss-x/ns/core IntendedAudience"`
	KeySelector           []KeySelector       `xml:"http://docs.oasis-open.org/dss-x/ns/core KeySelector"`
	Properties            *Any                `xml:"http://docs.oasis-open.org/dss-x/ns/core Properties"`
	IncludeObject         []IncludeObject     `xml:"http://docs.oasis-open.org/dss-x/ns/core IncludeObject"`
	IncludeEContent       *string             `xml:"http://docs.oasis-open.org/dss-x/ns/core IncludeEContent"`
	SignaturePlacement    *SignaturePlacement `xml:"http://docs.oasis-open.org/dss-x/ns/core SignaturePlacement"`
	SignedReferences      *Any                `xml:"http://docs.oasis-open.org/dss-x/ns/core SignedReferences"`
	SignatureAlgorithm    *string             `xml:"http://docs.oasis-open.org/dss-x/ns/core SignatureAlgorithm"`
	SignatureQualityLevel *string             `xml:"http://docs.oasis-open.org/dss-x/ns/core SignatureQualityLevel"`
	Unknown               []Any               `xml:",any"`
}

// OptionalInputsVerify is dss2:OptionalInputsVerifyType, every child in schema order, plus
// dss2:KeySelector, which the schema does not allow here but TS 119 432 clause 8.3.1 clients
// send to name the credential of a signer-certificate request (accepted leniently;
// AdditionalKeyInfo/KeyName is the schema-valid form).
type OptionalInputsVerify struct {
	OptionalInputsBase
	UseVerificationTime        *UseVerificationTime `xml:"http://docs.oasis-open.org/dss-x/ns/core UseVerificationTime"`
	ReturnVerificationTimeInfo *string              `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnVerificationTimeInfo"`
	AdditionalKeyInfo          []AdditionalKeyInfo  `xml:"http://docs.oasis-open.org/dss-x/ns/core AdditionalKeyInfo"`
	ReturnProcessingDetails    *string              `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnProcessingDetails"`
	ReturnSigningTimeInfo      *string              `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnSigningTimeInfo"`
	ReturnSignerIdentity       *string              `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnSignerIdentity"`
	ReturnAugmentedSignature   *string              `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnAugmentedSignature"`
	ReturnTimestampedSignature []string             `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnTimestampedSignature"`
	VerifyManifests            *string              `xml:"http://docs.oasis-open.org/dss-x/ns/core VerifyManifests"`
	KeySelector                []KeySelector        `xml:"http://docs.oasis-open.org/dss-x/ns/core KeySelector"`
	// ReturnTransformedDocument is defined by DSS-X 2.0 (§4.4.33) but left out of the Verify
	// types (protocol.md §15 #4): accepted here as the prose defines it.
	ReturnTransformedDocument []ReturnTransformedDocument `xml:"http://docs.oasis-open.org/dss-x/ns/core ReturnTransformedDocument"`
	Unknown                   []Any                       `xml:",any"`
}

// ReturnTransformedDocument is dss2:ReturnTransformedDocumentType.
type ReturnTransformedDocument struct {
	WhichReference string `xml:"WhichReference,attr"`
}

// UseVerificationTime is dss2:UseVerificationTimeType, a choice.
type UseVerificationTime struct {
	CurrentTime   *string `xml:"http://docs.oasis-open.org/dss-x/ns/core CurrentTime"`
	SpecificTime  *string `xml:"http://docs.oasis-open.org/dss-x/ns/core SpecificTime"`
	Base64Content *Any    `xml:"http://docs.oasis-open.org/dss-x/ns/core Base64Content"`
	Unknown       []Any   `xml:",any"`
}

// AdditionalKeyInfo is dss2:AdditionalKeyInfoType, a choice. X509Certificate, X509CRL,
// OCSPResponse and PoE are dsb:Base64DataType (protocol.md §15 #5).
type AdditionalKeyInfo struct {
	X509Digest      *Any        `xml:"http://docs.oasis-open.org/dss-x/ns/core X509Digest"`
	X509SubjectName *string     `xml:"http://docs.oasis-open.org/dss-x/ns/core X509SubjectName"`
	X509SKI         *Any        `xml:"http://docs.oasis-open.org/dss-x/ns/core X509SKI"`
	X509Certificate *Base64Data `xml:"http://docs.oasis-open.org/dss-x/ns/core X509Certificate"`
	KeyName         *string     `xml:"http://docs.oasis-open.org/dss-x/ns/core KeyName"`
	X509CRL         *Base64Data `xml:"http://docs.oasis-open.org/dss-x/ns/core X509CRL"`
	OCSPResponse    *Base64Data `xml:"http://docs.oasis-open.org/dss-x/ns/core OCSPResponse"`
	PoE             *Base64Data `xml:"http://docs.oasis-open.org/dss-x/ns/core PoE"`
	Unknown         []Any       `xml:",any"`
}

// ClaimedIdentity is dss2:ClaimedIdentityType.
type ClaimedIdentity struct {
	Name           NameID      `xml:"http://docs.oasis-open.org/dss-x/ns/core Name"`
	SupportingInfo *Base64Data `xml:"http://docs.oasis-open.org/dss-x/ns/core SupportingInfo"`
	Unknown        []Any       `xml:",any"`
}

// NameID is saml2-rw:NameIDType (simple content with attributes).
type NameID struct {
	Value           string `xml:",chardata"`
	Format          string `xml:"Format,attr,omitempty"`
	SPProvidedID    string `xml:"SPProvidedID,attr,omitempty"`
	NameQualifier   string `xml:"NameQualifier,attr,omitempty"`
	SPNameQualifier string `xml:"SPNameQualifier,attr,omitempty"`
}

// KeySelector is dss2:KeySelectorType, a choice.
type KeySelector struct {
	X509Digest      *Any    `xml:"http://docs.oasis-open.org/dss-x/ns/core X509Digest"`
	X509SubjectName *string `xml:"http://docs.oasis-open.org/dss-x/ns/core X509SubjectName"`
	X509SKI         *Any    `xml:"http://docs.oasis-open.org/dss-x/ns/core X509SKI"`
	X509Certificate *Any    `xml:"http://docs.oasis-open.org/dss-x/ns/core X509Certificate"`
	KeyName         *string `xml:"http://docs.oasis-open.org/dss-x/ns/core KeyName"`
	Unknown         []Any   `xml:",any"`
}

// IncludeObject is dss2:IncludeObjectType (attributes only).
type IncludeObject struct {
	WhichData                     string  `xml:"WhichData,attr,omitempty"`
	HasObjectTagsAndAttributesSet *string `xml:"HasObjectTagsAndAttributesSet,attr,omitempty"`
	ObjID                         string  `xml:"ObjId,attr,omitempty"`
	CreateReference               *string `xml:"createReference,attr,omitempty"`
	Unknown                       []Any   `xml:",any"`
}

// SignaturePlacement is dss2:SignaturePlacementType.
type SignaturePlacement struct {
	WhichData                string            `xml:"WhichData,attr,omitempty"`
	CreateEnvelopedSignature *string           `xml:"CreateEnvelopedSignature,attr,omitempty"`
	XPathAfter               *string           `xml:"http://docs.oasis-open.org/dss-x/ns/core XPathAfter"`
	XPathFirstChildOf        *string           `xml:"http://docs.oasis-open.org/dss-x/ns/core XPathFirstChildOf"`
	NsPrefixMapping          []NsPrefixMapping `xml:"http://docs.oasis-open.org/dss-x/ns/core NsPrefixMapping"`
	Unknown                  []Any             `xml:",any"`
}

// ---------------------------------------------------------------- responses

// Result is dsb:ResultType.
type Result struct {
	ResultMajor      string               `xml:"http://docs.oasis-open.org/dss-x/ns/base ResultMajor"`
	ResultMinor      string               `xml:"http://docs.oasis-open.org/dss-x/ns/base ResultMinor,omitempty"`
	ResultMessage    *InternationalString `xml:"http://docs.oasis-open.org/dss-x/ns/base ResultMessage"`
	ProblemReference string               `xml:"http://docs.oasis-open.org/dss-x/ns/base ProblemReference,omitempty"`
}

// InternationalString is dsb:InternationalStringType: text with a required xml:lang.
type InternationalString struct {
	Lang  string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
	Value string `xml:",chardata"`
}

// ResponseBase is dsb:ResponseBaseType, the base of every response type. It is embedded,
// so its attributes and children belong to the embedding element, in schema order.
type ResponseBase struct {
	RequestID      string   `xml:"RequestID,attr,omitempty"`
	ResponseID     string   `xml:"ResponseID,attr,omitempty"`
	Result         Result   `xml:"http://docs.oasis-open.org/dss-x/ns/base Result"`
	AppliedProfile []string `xml:"http://docs.oasis-open.org/dss-x/ns/base AppliedProfile"`
}

// SignResponse is dss2:SignResponse.
type SignResponse struct {
	XMLName xml.Name `xml:"http://docs.oasis-open.org/dss-x/ns/core SignResponse"`
	ResponseBase
	OptionalOutputs *OptionalOutputsSign `xml:"http://docs.oasis-open.org/dss-x/ns/core OptionalOutputs"`
	SignatureObject []SignatureObject    `xml:"http://docs.oasis-open.org/dss-x/ns/core SignatureObject"`
}

// OptionalOutputsSign is dss2:OptionalOutputsSignType (only the outputs dssd produces).
type OptionalOutputsSign struct {
	DocumentWithSignature []DocumentWithSignature `xml:"http://docs.oasis-open.org/dss-x/ns/core DocumentWithSignature"`
}

// DocumentWithSignature is dss2:DocumentWithSignatureType.
type DocumentWithSignature struct {
	WhichDoc string   `xml:"WhichDoc,attr,omitempty"`
	Document Document `xml:"http://docs.oasis-open.org/dss-x/ns/core Document"`
}

// SignatureObject is dss2:SignatureObjectType, a choice of Base64Signature and SignaturePtr.
type SignatureObject struct {
	WhichDoc        string        `xml:"WhichDoc,attr,omitempty"`
	SchemaRefs      string        `xml:"SchemaRefs,attr,omitempty"`
	Base64Signature *Base64Data   `xml:"http://docs.oasis-open.org/dss-x/ns/core Base64Signature"`
	SignaturePtr    *SignaturePtr `xml:"http://docs.oasis-open.org/dss-x/ns/core SignaturePtr"`
	Unknown         []Any         `xml:",any"`
}

// SignaturePtr is dsb:SignaturePtrType; its NsPrefixMapping children are dsb elements.
type SignaturePtr struct {
	WhichData       string            `xml:"WhichData,attr"`
	XPath           string            `xml:"XPath,attr,omitempty"`
	XPathQualifier  string            `xml:"XPathQualifier,attr,omitempty"`
	NsPrefixMapping []NsPrefixMapping `xml:"http://docs.oasis-open.org/dss-x/ns/base NsPrefixMapping"`
}

// VerifyResponse is dss2:VerifyResponse.
type VerifyResponse struct {
	XMLName xml.Name `xml:"http://docs.oasis-open.org/dss-x/ns/core VerifyResponse"`
	ResponseBase
	OptionalOutputs *OptionalOutputsVerify `xml:"http://docs.oasis-open.org/dss-x/ns/core OptionalOutputs"`
}

// OptionalOutputsVerify is dss2:OptionalOutputsVerifyType (only the outputs dssd produces),
// in schema order.
type OptionalOutputsVerify struct {
	Other                []Base64Data          `xml:"http://docs.oasis-open.org/dss-x/ns/base Other"`
	SigningTimeInfo      *SigningTimeInfo      `xml:"http://docs.oasis-open.org/dss-x/ns/core SigningTimeInfo"`
	VerificationTimeInfo *VerificationTimeInfo `xml:"http://docs.oasis-open.org/dss-x/ns/core VerificationTimeInfo"`
	ProcessingDetails    *ProcessingDetails    `xml:"http://docs.oasis-open.org/dss-x/ns/core ProcessingDetails"`
	SignerIdentity       *NameID               `xml:"http://docs.oasis-open.org/dss-x/ns/core SignerIdentity"`
	AugmentedSignature   []AugmentedSignature  `xml:"http://docs.oasis-open.org/dss-x/ns/core AugmentedSignature"`
}

// SigningTimeInfo is dss2:SigningTimeInfoType.
type SigningTimeInfo struct {
	SigningTime           string                 `xml:"http://docs.oasis-open.org/dss-x/ns/core SigningTime"`
	SigningTimeBoundaries *SigningTimeBoundaries `xml:"http://docs.oasis-open.org/dss-x/ns/core SigningTimeBoundaries"`
}

// SigningTimeBoundaries is dss2:SigningTimeBoundariesType.
type SigningTimeBoundaries struct {
	LowerBoundary string `xml:"http://docs.oasis-open.org/dss-x/ns/core LowerBoundary,omitempty"`
	UpperBoundary string `xml:"http://docs.oasis-open.org/dss-x/ns/core UpperBoundary,omitempty"`
}

// VerificationTimeInfo is dss2:VerificationTimeInfoType.
type VerificationTimeInfo struct {
	VerificationTime   string               `xml:"http://docs.oasis-open.org/dss-x/ns/core VerificationTime"`
	AdditionalTimeInfo []AdditionalTimeInfo `xml:"http://docs.oasis-open.org/dss-x/ns/core AdditionalTimeInfo"`
}

// AdditionalTimeInfo is dss2:AdditionalTimeInfoType (an xs:dateTime with attributes).
type AdditionalTimeInfo struct {
	Type  string `xml:"Type,attr"`
	Ref   string `xml:"Ref,attr,omitempty"`
	Value string `xml:",chardata"`
}

// ProcessingDetails is dss2:ProcessingDetailsType.
type ProcessingDetails struct {
	ValidDetail         []Detail `xml:"http://docs.oasis-open.org/dss-x/ns/core ValidDetail"`
	IndeterminateDetail []Detail `xml:"http://docs.oasis-open.org/dss-x/ns/core IndeterminateDetail"`
	InvalidDetail       []Detail `xml:"http://docs.oasis-open.org/dss-x/ns/core InvalidDetail"`
}

// Detail is dss2:DetailType.
type Detail struct {
	Type    string               `xml:"Type,attr"`
	Code    string               `xml:"http://docs.oasis-open.org/dss-x/ns/core Code,omitempty"`
	Message *InternationalString `xml:"http://docs.oasis-open.org/dss-x/ns/core Message"`
}

// AugmentedSignature is dss2:AugmentedSignatureType.
type AugmentedSignature struct {
	Type                  string                  `xml:"Type,attr,omitempty"`
	SignatureObject       []SignatureObject       `xml:"http://docs.oasis-open.org/dss-x/ns/core SignatureObject"`
	DocumentWithSignature []DocumentWithSignature `xml:"http://docs.oasis-open.org/dss-x/ns/core DocumentWithSignature"`
}

// Response is the generic dss2:Response. Its type (dsb:ResponseBaseType) is abstract, so it
// is always written with xsi:type (protocol.md §15 #2); the prefixes used in the QName value
// are declared on the element itself. Write-only: the attribute tags are literal names.
type Response struct {
	XMLName   xml.Name `xml:"http://docs.oasis-open.org/dss-x/ns/core Response"`
	XMLNSXSI  string   `xml:"xmlns:xsi,attr"`
	XMLNSDSS2 string   `xml:"xmlns:dss2,attr"`
	XSIType   string   `xml:"xsi:type,attr"`
	ResponseBase
}
