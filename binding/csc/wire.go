package csc

// JSON messages of the CSC API v2 methods dssd serves. Field names are CSC's, case-sensitive;
// decoding rejects unknown and repeated members (strict.go).

type infoRequest struct {
	Lang string `json:"lang"`
}

// infoAbout is the first members of info in CSC 1.0.4 and in CSC 2: who the service is and
// how it authenticates. It is embedded, so encoding/json writes its members in place.
type infoAbout struct {
	Specs       string   `json:"specs"`
	Name        string   `json:"name"`
	Logo        string   `json:"logo"`
	Region      string   `json:"region"`
	Lang        string   `json:"lang"`
	Description string   `json:"description"`
	AuthType    []string `json:"authType"`
}

type infoResponse struct {
	infoAbout
	Methods                   []string         `json:"methods"`
	AsynchronousOperationMode bool             `json:"asynchronousOperationMode"`
	ValidationInfo            bool             `json:"validationInfo"`
	SignAlgorithms            signAlgorithms   `json:"signAlgorithms"`
	SignatureFormats          signatureFormats `json:"signature_formats"`
	ConformanceLevels         []string         `json:"conformance_levels"`
	OAuth2FAPISupport         bool             `json:"oauth2FAPIsupport"` // TS 119 432 V1.3.1 clause 7.2
	OAuth2                    string           `json:"oauth2,omitempty"`
	OAuth2Issuer              string           `json:"oauth2Issuer,omitempty"`
	SupportedHashTypes        []string         `json:"supportedHashTypes"` // EUDI rQES client library
}

// infoV1Response is info under /csc/v1/ (CSC 1.0.4.0 member names).
type infoV1Response struct {
	infoAbout
	OAuth2  string   `json:"oauth2,omitempty"`
	Methods []string `json:"methods"`
}

type signAlgorithms struct {
	Algos []string `json:"algos"`
}

type signatureFormats struct {
	Formats            []string   `json:"formats"`
	EnvelopeProperties [][]string `json:"envelope_properties"`
}

type listRequest struct {
	UserID         *string `json:"userID"`
	CredentialInfo bool    `json:"credentialInfo"`
	Certificates   string  `json:"certificates"`
	CertInfo       bool    `json:"certInfo"`
	AuthInfo       bool    `json:"authInfo"`
	OnlyValid      bool    `json:"onlyValid"`
	Lang           string  `json:"lang"`
	ClientData     string  `json:"clientData"`
}

type listResponse struct {
	CredentialIDs   []string          `json:"credentialIDs"`
	CredentialInfos []*credentialInfo `json:"credentialInfos,omitempty"`
	OnlyValid       bool              `json:"onlyValid,omitempty"`
}

type infoCredRequest struct {
	CredentialID string `json:"credentialID"`
	Certificates string `json:"certificates"`
	CertInfo     bool   `json:"certInfo"`
	AuthInfo     bool   `json:"authInfo"`
	Lang         string `json:"lang"`
	ClientData   string `json:"clientData"`
}

// credentialInfo is the credentials/info answer of CSC v2 (and a credentialInfos entry of
// credentials/list, which adds credentialID), with the "auth" object when asked for.
type credentialInfo struct {
	CredentialID string    `json:"credentialID,omitempty"`
	Description  string    `json:"description,omitempty"`
	Key          keyInfo   `json:"key"`
	Cert         certInfo  `json:"cert"`
	Auth         *authInfo `json:"auth,omitempty"`
	SCAL         string    `json:"SCAL"`
	Multisign    int       `json:"multisign"`
	Lang         string    `json:"lang,omitempty"`
}

// credentialInfoV1 is credentials/info under /csc/v1/ (CSC 1.0.4.0: authMode, PIN, OTP).
type credentialInfoV1 struct {
	Description string   `json:"description,omitempty"`
	Key         keyInfo  `json:"key"`
	Cert        certInfo `json:"cert"`
	AuthMode    string   `json:"authMode"`
	PIN         *pinInfo `json:"PIN,omitempty"`
	OTP         *otpInfo `json:"OTP,omitempty"`
	SCAL        string   `json:"SCAL"`
	Multisign   int      `json:"multisign"`
	Lang        string   `json:"lang,omitempty"`
}

type keyInfo struct {
	Status string   `json:"status"`
	Algo   []string `json:"algo"`
	Len    int      `json:"len"`
	Curve  string   `json:"curve,omitempty"`
}

type certInfo struct {
	Status       string   `json:"status,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	IssuerDN     string   `json:"issuerDN,omitempty"`
	SerialNumber string   `json:"serialNumber,omitempty"`
	SubjectDN    string   `json:"subjectDN,omitempty"`
	ValidFrom    string   `json:"validFrom,omitempty"`
	ValidTo      string   `json:"validTo,omitempty"`
}

type authInfo struct {
	Mode       string       `json:"mode"`
	Expression string       `json:"expression,omitempty"`
	Objects    []authObject `json:"objects,omitempty"`
}

type authObject struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Format      string `json:"format"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
	Generator   string `json:"generator,omitempty"`
}

type pinInfo struct {
	Presence    string `json:"presence"`
	Format      string `json:"format"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
}

type otpInfo struct {
	Presence    string `json:"presence"`
	Type        string `json:"type"`
	Format      string `json:"format"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
	ID          string `json:"ID,omitempty"`
	Provider    string `json:"provider,omitempty"`
}

type authorizeRequest struct {
	CredentialID     string     `json:"credentialID"`
	NumSignatures    *int       `json:"numSignatures"`
	Hashes           []string   `json:"hashes"`
	Hash             []string   `json:"hash"` // CSC 1.0.4 (/csc/v1/ only)
	HashAlgorithmOID string     `json:"hashAlgorithmOID"`
	PIN              *string    `json:"PIN"`
	OTP              *string    `json:"OTP"`
	AuthData         []authData `json:"authData"`
	Description      string     `json:"description"`
	ClientData       string     `json:"clientData"`
}

type authData struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

type authorizeResponse struct {
	SAD       string `json:"SAD"`
	ExpiresIn int    `json:"expiresIn"`
}

type signHashRequest struct {
	CredentialID     string   `json:"credentialID"`
	SAD              string   `json:"SAD"`
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	Hash             []string `json:"hash"`     // CSC 1.0.4 (/csc/v1/ only)
	HashAlgo         string   `json:"hashAlgo"` // CSC 1.0.4 (/csc/v1/ only)
	SignAlgo         string   `json:"signAlgo"`
	SignAlgoParams   string   `json:"signAlgoParams"`
	OperationMode    string   `json:"operationMode"`
	ValidityPeriod   *int     `json:"validity_period"`
	ResponseURI      string   `json:"response_uri"`
	ClientData       string   `json:"clientData"`
}

type signHashResponse struct {
	Signatures []string `json:"signatures"`
}

type signDocRequest struct {
	CredentialID         string           `json:"credentialID"`
	SAD                  string           `json:"SAD"`
	SignatureQualifier   string           `json:"signatureQualifier"`
	Documents            []docEntry       `json:"documents"`
	DocumentDigests      []docDigestEntry `json:"documentDigests"`
	OperationMode        string           `json:"operationMode"`
	ValidityPeriod       *int             `json:"validity_period"`
	ResponseURI          string           `json:"response_uri"`
	ClientData           string           `json:"clientData"`
	ReturnValidationInfo bool             `json:"returnValidationInfo"`
}

type docEntry struct {
	Document               string `json:"document"`
	SignatureFormat        string `json:"signature_format"`
	ConformanceLevel       string `json:"conformance_level"`
	SignAlgo               string `json:"signAlgo"`
	SignAlgoParams         string `json:"signAlgoParams"`
	SignedEnvelopeProperty string `json:"signed_envelope_property"`
}

type docDigestEntry struct {
	Hashes                 []string `json:"hashes"`
	HashAlgorithmOID       string   `json:"hashAlgorithmOID"`
	SignatureFormat        string   `json:"signature_format"`
	ConformanceLevel       string   `json:"conformance_level"`
	SignAlgo               string   `json:"signAlgo"`
	SignAlgoParams         string   `json:"signAlgoParams"`
	SignedEnvelopeProperty string   `json:"signed_envelope_property"`
}

type signDocResponse struct {
	DocumentWithSignature []string `json:"DocumentWithSignature,omitempty"`
	SignatureObject       []string `json:"SignatureObject,omitempty"`
}

type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}
