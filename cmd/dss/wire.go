package main

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// The client side of DSS-X 2.0 (protocol.md §2.1, §16): the few elements dss sends and reads.
// Namespaces follow the child-namespace rules of §2.1: the root declares the core namespace
// as the default, every element without a namespace in its tag inherits it, and only the
// children of dsb base types (Profile, Value) name the base namespace, so encoding/xml writes
// xmlns="...base" on exactly those.

const (
	nsCore = "http://docs.oasis-open.org/dss-x/ns/core"
	nsBase = "http://docs.oasis-open.org/dss-x/ns/base"

	sigTypeXMLDSig = "urn:ietf:rfc:3275"
	sigTypeXAdES   = "http://uri.etsi.org/01903/v1.3.2#"
	levelPrefix    = "urn:dssd:level:"

	majorSuccess = "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
	majorPending = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultmajor:Pending"

	mimeSAD = "application/jwt"
)

type signRequest struct {
	XMLName        xml.Name        `xml:"http://docs.oasis-open.org/dss-x/ns/core SignRequest"`
	RequestID      string          `xml:"RequestID,attr,omitempty"`
	Profile        []string        `xml:"http://docs.oasis-open.org/dss-x/ns/base Profile"`
	InputDocuments *inputDocuments `xml:"InputDocuments"`
	OptionalInputs *optionalInputs `xml:"OptionalInputs"`
}

type inputDocuments struct {
	Document []document `xml:"Document"`
}

type document struct {
	ID         string     `xml:"ID,attr,omitempty"`
	RefURI     *string    `xml:"RefURI,attr"` // a pointer: RefURI="" is meaningful (enveloped)
	Base64Data base64Data `xml:"Base64Data"`
}

// base64Data is dsb:Base64DataType as a child of a dss2 element: the element itself is in the
// namespace of its parent's type, its Value child in dsb.
type base64Data struct {
	MimeType string    `xml:"MimeType,attr,omitempty"`
	Value    valueElem `xml:"http://docs.oasis-open.org/dss-x/ns/base Value"`
}

// valueElem is dsb:Value: base64 text, or in an MTOM message an xop:Include naming the
// attachment that carries the bytes.
type valueElem struct {
	Text    string      `xml:",chardata"`
	Include *xopInclude `xml:"http://www.w3.org/2004/08/xop/include Include"`
}

type xopInclude struct {
	Href string `xml:"href,attr"`
}

// optionalInputs follows the schema order of OptionalInputsSignType (protocol.md §4.4).
type optionalInputs struct {
	ClaimedIdentity    *claimedIdentity    `xml:"ClaimedIdentity"`
	EnforceAsync       string              `xml:"EnforceAsynchronousProcessing,omitempty"`
	SignatureType      string              `xml:"SignatureType,omitempty"`
	KeySelector        []keySelector       `xml:"KeySelector"`
	IncludeObject      []includeObject     `xml:"IncludeObject"`
	SignaturePlacement *signaturePlacement `xml:"SignaturePlacement"`
	SignatureAlgorithm string              `xml:"SignatureAlgorithm,omitempty"`
}

type claimedIdentity struct {
	Name           string      `xml:"Name"`
	SupportingInfo *base64Data `xml:"SupportingInfo"`
}

type keySelector struct {
	KeyName string `xml:"KeyName"`
}

type includeObject struct {
	WhichData string `xml:"WhichData,attr"`
}

type signaturePlacement struct {
	WhichData         string            `xml:"WhichData,attr"`
	XPathFirstChildOf string            `xml:"XPathFirstChildOf"`
	NsPrefixMapping   []nsPrefixMapping `xml:"NsPrefixMapping"`
}

// nsPrefixMapping is nsl:NsPrefixMappingType: binds a prefix of the placement XPath.
type nsPrefixMapping struct {
	NamespaceURI    string `xml:"http://docs.oasis-open.org/dss-x/ns/nsList NamespaceURI"`
	NamespacePrefix string `xml:"http://docs.oasis-open.org/dss-x/ns/nsList NamespacePrefix"`
}

// signParams is what the user asked for.
type signParams struct {
	RequestID  string
	Doc        []byte
	DocName    string // file base name: the Reference URI of a detached signature
	MimeType   string
	Format     string      // "xades" or "xmldsig"
	Placement  string      // "enveloped", "enveloping" or "detached"
	XPath      string      // enveloped: XPathFirstChildOf
	Namespaces []nsBinding // enveloped: prefixes of XPath (NsPrefixMapping), in the order given
	Algorithm  string      // XMLDSig URI or empty for the server's default
	Level      string      // XAdES level (B-B ...) or empty
	Credential string      // KeyName, or empty for the user's only credential
	User       string      // ClaimedIdentity Name (with a SAD)
	SAD        string      // signature activation data, or empty
	Async      bool        // EnforceAsynchronousProcessing: the server answers Pending, dss polls
	// AttachmentCID, when set, sends the document as the MTOM attachment of that Content-ID
	// (an xop:Include in dsb:Value) instead of base64 inside the message; Doc is then unused.
	AttachmentCID string
}

// nsBinding is one --ns prefix=URI.
type nsBinding struct{ Prefix, URI string }

// nsFlags collects the repeatable --ns flag.
type nsFlags []nsBinding

func (n *nsFlags) String() string { return "" }

func (n *nsFlags) Set(v string) error {
	prefix, uri, ok := strings.Cut(v, "=")
	prefix, uri = strings.TrimSpace(prefix), strings.TrimSpace(uri)
	if !ok || prefix == "" || uri == "" || strings.ContainsAny(prefix, ": \t") {
		return fmt.Errorf("--ns %q: want prefix=namespace-uri", v)
	}
	for _, b := range *n {
		if b.Prefix == prefix && b.URI != uri {
			return fmt.Errorf("--ns binds the prefix %q twice", prefix)
		}
	}
	*n = append(*n, nsBinding{Prefix: prefix, URI: uri})
	return nil
}

const docID = "doc-1"

// buildSignRequest returns the XML of a DSS-X SignRequest for p.
func buildSignRequest(p signParams) ([]byte, error) {
	req := signRequest{RequestID: p.RequestID}
	doc := document{ID: docID, Base64Data: base64Data{MimeType: p.MimeType, Value: valueElem{Text: base64.StdEncoding.EncodeToString(p.Doc)}}}
	if p.AttachmentCID != "" {
		if p.Placement != "detached" {
			return nil, errors.New("only a detached signature streams its document as an attachment")
		}
		doc.Base64Data.Value = valueElem{Include: &xopInclude{Href: "cid:" + p.AttachmentCID}}
	}
	opt := &optionalInputs{}
	if p.Async {
		opt.EnforceAsync = "true"
	}
	switch p.Format {
	case "xades":
		opt.SignatureType = sigTypeXAdES
		if p.Level != "" {
			req.Profile = []string{levelPrefix + p.Level}
		}
	case "xmldsig":
		opt.SignatureType = sigTypeXMLDSig
		if p.Level != "" {
			return nil, errors.New("a level applies to XAdES only")
		}
	default:
		return nil, fmt.Errorf("unknown format %q", p.Format)
	}
	switch p.Placement {
	case "enveloped":
		empty := ""
		doc.RefURI = &empty
		xp := p.XPath
		if xp == "" {
			xp = "/*"
		}
		sp := &signaturePlacement{WhichData: docID, XPathFirstChildOf: xp}
		for _, n := range p.Namespaces {
			sp.NsPrefixMapping = append(sp.NsPrefixMapping, nsPrefixMapping{NamespaceURI: n.URI, NamespacePrefix: n.Prefix})
		}
		opt.SignaturePlacement = sp
	case "enveloping":
		opt.IncludeObject = []includeObject{{WhichData: docID}}
	case "detached":
		name := p.DocName
		doc.RefURI = &name
	default:
		return nil, fmt.Errorf("unknown placement %q", p.Placement)
	}
	if p.Credential != "" {
		opt.KeySelector = []keySelector{{KeyName: p.Credential}}
	}
	opt.SignatureAlgorithm = p.Algorithm
	if p.SAD != "" {
		if p.User == "" {
			return nil, errors.New("signature activation data needs the user name")
		}
		opt.ClaimedIdentity = &claimedIdentity{
			Name:           p.User,
			SupportingInfo: &base64Data{MimeType: mimeSAD, Value: valueElem{Text: base64.StdEncoding.EncodeToString([]byte(p.SAD))}},
		}
	}
	req.InputDocuments = &inputDocuments{Document: []document{doc}}
	req.OptionalInputs = opt
	out, err := xml.Marshal(req)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}

// The response side matches local names only: dss reads what a server sends, including the
// common namespace mistakes of protocol.md §15 #8.

type signResponse struct {
	XMLName         xml.Name `xml:""`
	RequestID       string   `xml:"RequestID,attr"`
	ResponseID      string   `xml:"ResponseID,attr"`
	Result          result   `xml:"Result"`
	AppliedProfile  []string `xml:"AppliedProfile"`
	OptionalOutputs struct {
		DocumentWithSignature []struct {
			WhichDoc string `xml:"WhichDoc,attr"`
			Document struct {
				ID         string             `xml:"ID,attr"`
				Base64Data responseBase64Data `xml:"Base64Data"`
			} `xml:"Document"`
		} `xml:"DocumentWithSignature"`
	} `xml:"OptionalOutputs"`
	SignatureObject []struct {
		WhichDoc        string              `xml:"WhichDoc,attr"`
		Base64Signature *responseBase64Data `xml:"Base64Signature"`
		SignaturePtr    *struct {
			WhichData string `xml:"WhichData,attr"`
		} `xml:"SignaturePtr"`
	} `xml:"SignatureObject"`
}

type responseBase64Data struct {
	MimeType string `xml:"MimeType,attr"`
	Value    string `xml:"Value"`
}

type result struct {
	Major   string `xml:"ResultMajor"`
	Minor   string `xml:"ResultMinor"`
	Message struct {
		Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
		Text string `xml:",chardata"`
	} `xml:"ResultMessage"`
	ProblemReference string `xml:"ProblemReference"`
}

// dssError is a DSS response whose ResultMajor is not Success.
type dssError struct{ Result result }

func (e *dssError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ResultMajor: %s", e.Result.Major)
	if e.Result.Minor != "" {
		fmt.Fprintf(&b, "\nResultMinor: %s", e.Result.Minor)
	}
	if m := strings.TrimSpace(e.Result.Message.Text); m != "" {
		fmt.Fprintf(&b, "\nResultMessage: %s", m)
	}
	if e.Result.ProblemReference != "" {
		fmt.Fprintf(&b, "\nProblemReference: %s", e.Result.ProblemReference)
	}
	return b.String()
}

// errPending is returned with the response when the server answered Pending.
var errPending = errors.New("the server answered Pending (the request was not sent with --async)")

// decodeResponse decodes body strictly into r, whose root element name lands in *root, and
// checks that the root is a dss2:<want> or a generic dss2:Response.
func decodeResponse(body []byte, r any, root *xml.Name, want string) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	if err := dec.Decode(r); err != nil {
		return fmt.Errorf("the answer is not a DSS response: %w", err)
	}
	if root.Space != nsCore || (root.Local != want && root.Local != "Response") {
		return fmt.Errorf("the answer is a {%s}%s, not a DSS %s", root.Space, root.Local, want)
	}
	return nil
}

// parseSignResponse decodes a SignResponse (or a generic dss2:Response) and returns an error
// of type *dssError when the result is not Success.
func parseSignResponse(body []byte, wantRequestID string) (*signResponse, error) {
	var r signResponse
	if err := decodeResponse(body, &r, &r.XMLName, "SignResponse"); err != nil {
		return nil, err
	}
	if r.Result.Major == "" {
		return nil, errors.New("the DSS response has no ResultMajor")
	}
	if r.Result.Major != majorSuccess {
		if r.Result.Major == majorPending {
			return &r, errPending
		}
		return &r, &dssError{Result: r.Result}
	}
	if wantRequestID != "" && r.RequestID != wantRequestID {
		return nil, fmt.Errorf("the response echoes RequestID %q, the request had %q", r.RequestID, wantRequestID)
	}
	return &r, nil
}

// signedOutput returns the bytes to write: the signed document for an enveloped signature,
// the signature otherwise.
func (r *signResponse) signedOutput(placement string) ([]byte, error) {
	if placement == "enveloped" {
		for _, d := range r.OptionalOutputs.DocumentWithSignature {
			return decodeB64(d.Document.Base64Data.Value)
		}
		return nil, errors.New("the response has no DocumentWithSignature")
	}
	for _, so := range r.SignatureObject {
		if so.Base64Signature != nil {
			return decodeB64(so.Base64Signature.Value)
		}
	}
	return nil, errors.New("the response has no SignatureObject/Base64Signature")
}

func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64 in the response: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("the response carries an empty value")
	}
	return b, nil
}
