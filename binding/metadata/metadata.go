// Package metadata serves the DSS-X service metadata (OASIS DSS-X Metadata v1.0, md:Provider)
// at GET /.well-known/dss-info, as TS 119 432 V1.3.1 clause 8.2.1 asks: XML by default and
// for Accept: application/xml, JSON (the DSS-MD JSON short names under the root member
// "service") for Accept: application/json. It states the DSS-X profile dssd implements, its
// operations with the signature types, level profiles and algorithms they accept, how the
// signature activation data (SAD) travels (clause 8.1 (a): ClaimedIdentity/SupportingInfo)
// and how a client obtains the signer certificate (clause 8.3.1), and the CSC JSON binding.
package metadata

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"dssd/dss"
)

// Paths served by the handler.
const (
	Path     = "/.well-known/dss-info"
	LogoPath = "/.well-known/dssd-logo.svg"
)

// ProfileDSSX is the identifier of dssd's TS 119 432 clause 8 profile of DSS-X 2.0.
const ProfileDSSX = "urn:dssd:profile:etsi-119432-dssx"

// ProfileCSC is the identifier of dssd's TS 119 432 clause 7 (CSC API v2) binding.
const ProfileCSC = "urn:dssd:profile:etsi-119432-csc"

// Options describe the service. The zero value is usable.
type Options struct {
	Name        string   // default "dssd"
	Logo        string   // absolute URI; default: LogoPath on the host the request was sent to
	Region      string   // ISO 3166-1 alpha-2; default "ZZ" (unknown)
	Description string   // English
	Levels      []string // supported level profiles (urn:dssd:level:*); default B-B
	// TLSClientAuth says whether TLS client certificates are mapped to users.
	TLSClientAuth bool
	// CSCMethods lists the CSC methods served under /csc/v2/ (none: the binding is not listed).
	CSCMethods []string
	// Async says whether asynchronous processing (DSS-X 2.0 §7) is enabled.
	Async bool
}

// New returns the handler of Path and LogoPath.
func New(opts Options) http.Handler {
	opts.Name = cmp.Or(opts.Name, "dssd")
	opts.Region = cmp.Or(opts.Region, "ZZ")
	opts.Description = cmp.Or(opts.Description, "dssd remote signing service: OASIS DSS-X 2.0 (SOAP and HTTP POST) and the ETSI TS 119 432 JSON binding, keys in a PKCS#11 HSM")
	if len(opts.Levels) == 0 {
		opts.Levels = []string{dss.LevelBB}
	}
	return &handler{opts: opts}
}

type handler struct{ opts Options }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case LogoPath:
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(logoSVG))
		}
		return
	case Path:
	default:
		http.NotFound(w, r)
		return
	}
	p := Build(h.opts, "https://"+SafeHost(r.Host))
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Cache-Control", "no-cache")
	var b []byte
	var err error
	if wantsJSON(r.Header.Values("Accept")) {
		b, err = json.Marshal(jsonDoc{Service: p})
		w.Header().Set("Content-Type", "application/json")
	} else {
		b, err = xml.Marshal(p)
		b = append([]byte(xml.Header), b...)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// SafeHost returns host when it is a plain host[:port], else "localhost": the Host header
// is client-controlled and ends up in the document (and in the CSC info answer).
func SafeHost(host string) string {
	if host == "" || len(host) > 255 {
		return "localhost"
	}
	for _, c := range host {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)
		if !ok {
			return "localhost"
		}
	}
	return host
}

// wantsJSON decides the representation by the Accept header: JSON only when
// application/json is preferred over (and not tied with) the XML media types.
func wantsJSON(accept []string) bool {
	var qJSON, qXML float64 = -1, -1
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(s, 64); err == nil {
					q = v
				}
			}
			switch mt {
			case "application/json":
				qJSON = max(qJSON, q)
			case "application/xml", "text/xml", "*/*", "application/*":
				qXML = max(qXML, q)
			}
		}
	}
	return qJSON > 0 && qJSON > qXML
}

// Specifications cited.
const (
	specDSSX    = "https://docs.oasis-open.org/dss-x/dss-core/v2.0/dss-core-v2.0.html"
	specTS19432 = "https://www.etsi.org/deliver/etsi_ts/119400_119499/119432/"
	specCSC     = "https://cloudsignatureconsortium.org/"
)

func en(s string) []IntString { return []IntString{{Lang: "en", Value: s}} }

// Build returns the metadata document for opts; base ("https://host:port") makes the schema
// and default logo locations absolute.
func Build(opts Options, base string) *Provider {
	logo := opts.Logo
	if logo == "" {
		logo = base + LogoPath
	}
	levels := append([]string(nil), opts.Levels...)
	sort.Strings(levels)
	var levelFormats []Format
	timestamps := false
	for _, l := range levels {
		levelFormats = append(levelFormats, Format{ID: l, IsDefault: l == dss.LevelBB,
			Description: en("XAdES baseline level " + strings.TrimPrefix(l, "urn:dssd:level:") + " (ETSI EN 319 132-1)")})
		if l != dss.LevelBB {
			timestamps = true
		}
	}
	sigAlgs := make([]Format, 0, len(signatureAlgorithms))
	for _, a := range signatureAlgorithms {
		sigAlgs = append(sigAlgs, Format{ID: a})
	}
	digests := make([]Format, 0, len(digestMethods))
	for _, d := range digestMethods {
		digests = append(digests, Format{ID: d})
	}

	signOptions := []Parameter{
		{Name: "SignatureType", Description: en("The signature format; XAdES when absent."), Formats: []Format{
			{ID: dss.TypeXAdES, IsDefault: true, Description: en("XAdES (ETSI EN 319 132-1) with the levels of Profile")},
			{ID: dss.TypeXMLDSig, Description: en("XMLDSig (W3C XML Signature)")},
		}},
		{Name: "Profile", Description: en("The XAdES level, as a dsb:Profile; the level applied is echoed in AppliedProfile."), Formats: levelFormats},
		{Name: "SignatureAlgorithm", Description: en("An XMLDSig URI (RFC 6931), or for raw hash signatures an OID; default: RSA PKCS#1 v1.5 with SHA-256, or ECDSA with the hash that follows the curve."), Formats: sigAlgs},
		{Name: "KeySelector", Description: en("KeySelector/KeyName = the credential id; needed when the user has several credentials.")},
		{Name: "ClaimedIdentity", Description: en("Name = the authenticated user; SupportingInfo carries the signature activation data of a SCAL2 credential."),
			Formats: []Format{{ID: "application/jwt", Description: en("SupportingInfo MimeType of the SAD: dsb:Value = base64 of the SAD string from credentials/authorize")}}},
		{Name: "SignaturePlacement", Description: en("Enveloped signature: WhichData with XPathFirstChildOf or XPathAfter.")},
		{Name: "IncludeObject", Description: en("Enveloping signature: the document goes into a ds:Object.")},
		{Name: "Language", Description: en("dsb:Language; messages are in English.")},
	}
	if timestamps {
		signOptions = append(signOptions, Parameter{Name: "AddTimestamp", Description: en("Asks for at least level B-T."),
			Formats: []Format{{ID: dss.TimestampRFC3161}}})
	}
	signDesc := "POST /sign (DSS-X HTTP POST binding, application/xml) or the SignRequest operation of POST /soap (SOAP 1.2 and 1.1). Synchronous."
	pendingDesc := "POST /retrievePending or the PendingRequest operation of POST /soap. Asynchronous processing is not enabled on this service, so every PendingRequest is answered with RequesterError and ResultMinor NotSupported."
	if opts.Async {
		signOptions = append(signOptions, Parameter{Name: "EnforceAsynchronousProcessing",
			Description: en("true (or the dsb:Profile " + dss.ProfileAsync + "): the answer is Pending with a ResponseID; the signing runs in a job stored in the shared store, on any node.")})
		signDesc = "POST /sign (DSS-X HTTP POST binding, application/xml) or the SignRequest operation of POST /soap (SOAP 1.2 and 1.1). Synchronous, or asynchronous with EnforceAsynchronousProcessing or the asynchronous processing profile."
		pendingDesc = "POST /retrievePending or the PendingRequest operation of POST /soap, with the ResponseID of a Pending answer in its RequestID attribute: Pending until the job is done, then the complete SignResponse. An unknown, expired or another user's ResponseID gets RequesterError and ResultMinor " + dss.MinorResponseIDUnknown + "."
	}
	signOp := Operation{
		Name:          "sign",
		Specification: specDSSX,
		Description:   en(signDesc),
		Inputs: []Parameter{
			{Name: "Document", Description: en("InputDocuments/Document: data to sign (document signing, TS 119 432 clause 8.6.1); XML or any other data.")},
			{Name: "DocumentHash", Description: en("InputDocuments/DocumentHash with DigestInfos (hash signing, TS 119 432 clause 8.5.1): raw signature values without SignatureType, a detached XMLDSig or XAdES signature with it."), Formats: digests},
		},
		Options: signOptions,
		Outputs: []Parameter{
			{Name: "SignatureObject", Description: en("Base64Signature (detached or enveloping signatures, raw values) or SignaturePtr (enveloped).")},
			{Name: "DocumentWithSignature", Description: en("The document with the enveloped signature inserted.")},
			{Name: "AppliedProfile", Description: en("The XAdES level applied.")},
		},
		Schema: base + "/schemas/oasis-dss-core-schema-v2.0.xsd",
		Extensions: []Extension{
			{Name: "SADTransport", Value: "TS 119 432 V1.3.1 clause 8.1 (a): the signature activation data of a SCAL2 credential is sent in OptionalInputs/ClaimedIdentity: Name = the authenticated user, SupportingInfo with MimeType application/jwt and dsb:Value = base64 of the SAD obtained from POST /csc/v2/credentials/authorize (PIN and OTP). A SAD is bound to the user, the credential, the exact hashes and their count, expires within 5 minutes and is used once. SCAL1 credentials need no SAD: the transport authentication identifies the signatory (clause 8.1 (b))."},
			{Name: "SignerCertificate", Value: "TS 119 432 V1.3.1 clause 8.3.1: the signer certificate and its chain are obtained from the CSC JSON binding, POST /csc/v2/credentials/info with certificates=chain (credentials/list names the caller's credentials). The DSS-X way works too: a VerifyRequest without signature, with ReturnSignerIdentity and the credential as KeySelector/KeyName, returns SignerIdentity and the chain in OptionalOutputs/Other (MimeType application/pkix-cert)."},
			{Name: "Authentication", Value: "Every call is authenticated on TLS: Authorization: Bearer with a token issued out of band" + tlsText(opts.TLSClientAuth) + ". No OAuth 2.0 or SAML metadata is published (no AuthInfo)."},
		},
	}
	verifyOp := Operation{
		Name: "verify", Specification: specDSSX,
		Description: en("POST /verify or the VerifyRequest operation of POST /soap: XMLDSig and XAdES signatures (enveloped, enveloping, detached) against the configured trust anchors, with EN 319 102-1 indications in ProcessingDetails, ReturnAugmentedSignature to the urn:dssd:level:* levels, and the signer certificate of a credential (TS 119 432 clause 8.3.1)."),
	}
	pendingOp := Operation{
		Name: "retrievePending", Specification: specDSSX,
		Description: en(pendingDesc),
	}
	dssx := Protocol{
		Specifications: []string{specDSSX},
		Version:        "2.0",
		Description:    en("OASIS DSS-X 2.0 core (CS02), XML syntax, over the HTTP POST binding and SOAP 1.2/1.1 (WSDL at GET /soap?wsdl)."),
		Profiles: []Profile{{
			Identifier:     ProfileDSSX,
			Specifications: []string{specTS19432},
			Description:    en("The ETSI TS 119 432 V1.3.1 clause 8 profile of DSS-X 2.0 as implemented by dssd."),
			Operations:     []Operation{signOp, verifyOp, pendingOp},
		}},
	}
	if opts.Async {
		dssx.Profiles = append(dssx.Profiles, Profile{
			Identifier:     dss.ProfileAsync,
			Specifications: []string{specDSSX},
			Description:    en("DSS-X 2.0 asynchronous processing (section 7): a SignRequest with EnforceAsynchronousProcessing=true or this profile is answered Pending with a ResponseID; PendingRequest retrieves the result. Jobs live in the shared store and finish even when the node that accepted them dies."),
			Operations:     []Operation{{Name: "sign", Specification: specDSSX, Description: en(signDesc)}, pendingOp},
		})
	}
	p := &Provider{
		Name: opts.Name, Logo: logo, Region: opts.Region,
		Languages:   []string{"en"},
		Description: en(opts.Description),
		Protocols:   []Protocol{dssx},
	}
	if len(opts.CSCMethods) > 0 {
		var ops []Operation
		mode := "synchronous only"
		if opts.Async {
			mode = "synchronous, or asynchronous (operationMode A, then signatures/signPolling)"
		}
		for _, m := range opts.CSCMethods {
			ops = append(ops, Operation{Name: "/csc/v2/" + m, Specification: specCSC})
		}
		p.Protocols = append(p.Protocols, Protocol{
			Specifications: []string{specCSC},
			Version:        "2.0.0.0",
			Description:    en("The Cloud Signature Consortium API v2 as profiled by ETSI TS 119 432 V1.3.1 clause 7: JSON over POST, " + mode + ", signature formats XAdES."),
			Profiles: []Profile{{
				Identifier:     ProfileCSC,
				Specifications: []string{specTS19432},
				Description:    en("TS 119 432 clause 7 methods served by dssd; the SAD of signatures/signHash and signatures/signDoc comes from credentials/authorize."),
				Operations:     ops,
			}},
		})
	}
	return p
}

func tlsText(on bool) string {
	if on {
		return ", or a TLS client certificate mapped to a user"
	}
	return ""
}

// signatureAlgorithms are the XMLDSig SignatureMethod URIs dss accepts (dss/policy.go).
var signatureAlgorithms = []string{
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
	"http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
	"http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1",
	"http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
}

// digestMethods are the DigestInfos methods for hash signing: the XML Encryption and
// RFC 6931 URIs and the NIST OIDs.
var digestMethods = []string{
	"http://www.w3.org/2001/04/xmlenc#sha256",
	"http://www.w3.org/2001/04/xmldsig-more#sha384",
	"http://www.w3.org/2001/04/xmlenc#sha512",
	"2.16.840.1.101.3.4.2.1",
	"2.16.840.1.101.3.4.2.2",
	"2.16.840.1.101.3.4.2.3",
}

const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" rx="10" fill="#1d3557"/><text x="32" y="40" font-family="sans-serif" font-size="20" fill="#f1faee" text-anchor="middle">dssd</text></svg>`
