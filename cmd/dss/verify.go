package main

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// verifyRequest is the DSS-X VerifyRequest dss sends (protocol.md §4.6): the signed file as
// the only Document, or as a Base64Signature with the detached data as Documents; every
// verification output is asked for.
type verifyRequest struct {
	XMLName         xml.Name               `xml:"http://docs.oasis-open.org/dss-x/ns/core VerifyRequest"`
	RequestID       string                 `xml:"RequestID,attr,omitempty"`
	InputDocuments  *inputDocuments        `xml:"InputDocuments"`
	OptionalInputs  verifyOptionalInputs   `xml:"OptionalInputs"`
	SignatureObject *verifySignatureObject `xml:"SignatureObject"`
}

type verifyOptionalInputs struct {
	ReturnVerificationTimeInfo bool                `xml:"ReturnVerificationTimeInfo"`
	AdditionalKeyInfo          []additionalKeyInfo `xml:"AdditionalKeyInfo"`
	ReturnProcessingDetails    bool                `xml:"ReturnProcessingDetails"`
	ReturnSigningTimeInfo      bool                `xml:"ReturnSigningTimeInfo"`
	ReturnSignerIdentity       bool                `xml:"ReturnSignerIdentity"`
}

// additionalKeyInfo is one dss2:AdditionalKeyInfo (a choice) with DER content.
type additionalKeyInfo struct {
	X509Certificate *base64Data `xml:"X509Certificate"`
	X509CRL         *base64Data `xml:"X509CRL"`
	OCSPResponse    *base64Data `xml:"OCSPResponse"`
}

type verifySignatureObject struct {
	Base64Signature base64Data `xml:"Base64Signature"`
}

// verifyResponse reads a VerifyResponse by local names (lenient, like signResponse).
type verifyResponse struct {
	XMLName         xml.Name `xml:""`
	RequestID       string   `xml:"RequestID,attr"`
	Result          result   `xml:"Result"`
	OptionalOutputs struct {
		SigningTimeInfo *struct {
			SigningTime string `xml:"SigningTime"`
		} `xml:"SigningTimeInfo"`
		VerificationTimeInfo *struct {
			VerificationTime string `xml:"VerificationTime"`
		} `xml:"VerificationTimeInfo"`
		ProcessingDetails struct {
			Valid         []detail `xml:"ValidDetail"`
			Indeterminate []detail `xml:"IndeterminateDetail"`
			Invalid       []detail `xml:"InvalidDetail"`
		} `xml:"ProcessingDetails"`
		SignerIdentity *string `xml:"SignerIdentity"`
	} `xml:"OptionalOutputs"`
}

type detail struct {
	Type    string `xml:"Type,attr"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

const (
	minorValidOnAll      = "urn:oasis:names:tc:dss:1.0:resultminor:valid:signature:OnAllDocuments"
	minorValidNotAll     = "urn:oasis:names:tc:dss:1.0:resultminor:valid:signature:NotAllDocumentsReferenced"
	minorIncorrect       = "urn:oasis:names:tc:dss:1.0:resultminor:invalid:IncorrectSignature"
	majorInsufficientURI = "urn:oasis:names:tc:dss:1.0:resultmajor:InsufficientInformation"
)

// verdictError is a processed VerifyRequest whose signature is not valid (exit status 1).
type verdictError struct{ verdict string }

func (e *verdictError) Error() string { return "the signature is " + e.verdict }

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var conn connFlags
	var data, certs, crls, ocsps stringList
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conn.register(fs, getenv)
	fs.Var(&data, "data", "")
	fs.Var(&certs, "cert", "")
	fs.Var(&crls, "crl", "")
	fs.Var(&ocsps, "ocsp", "")
	file, err := parseOneFile(fs, args, "verify")
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !looksLikeXML(sig) {
		return usagef("%s is not XML: dss verifies XML signatures (XMLDSig, XAdES)", file)
	}
	t, err := conn.resolve(getenv)
	if err != nil {
		return err
	}
	if t.token == "" {
		return usagef("no bearer token: give --token (or DSSD_TOKEN), or --dev")
	}
	reqID, err := newRequestID()
	if err != nil {
		return err
	}
	req := verifyRequest{RequestID: reqID, OptionalInputs: verifyOptionalInputs{
		ReturnVerificationTimeInfo: true, ReturnProcessingDetails: true, ReturnSigningTimeInfo: true, ReturnSignerIdentity: true}}
	for _, g := range []struct {
		files stringList
		set   func(*additionalKeyInfo, *base64Data)
	}{
		{certs, func(a *additionalKeyInfo, b *base64Data) { a.X509Certificate = b }},
		{crls, func(a *additionalKeyInfo, b *base64Data) { a.X509CRL = b }},
		{ocsps, func(a *additionalKeyInfo, b *base64Data) { a.OCSPResponse = b }},
	} {
		for _, f := range g.files {
			der, err := readDER(f)
			if err != nil {
				return err
			}
			var a additionalKeyInfo
			g.set(&a, &base64Data{Value: valueElem{Text: base64.StdEncoding.EncodeToString(der)}})
			req.OptionalInputs.AdditionalKeyInfo = append(req.OptionalInputs.AdditionalKeyInfo, a)
		}
	}
	docs := &inputDocuments{}
	if len(data) == 0 {
		docs.Document = append(docs.Document, document{ID: "doc-1", Base64Data: base64Data{MimeType: "application/xml", Value: valueElem{Text: base64.StdEncoding.EncodeToString(sig)}}})
	} else {
		req.SignatureObject = &verifySignatureObject{Base64Signature: base64Data{MimeType: "application/xml", Value: valueElem{Text: base64.StdEncoding.EncodeToString(sig)}}}
		for i, f := range data {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			uri := refURIFor(f)
			docs.Document = append(docs.Document, document{ID: fmt.Sprintf("data-%d", i+1), RefURI: &uri,
				Base64Data: base64Data{MimeType: mimeTypeFor(f, looksLikeXML(b)), Value: valueElem{Text: base64.StdEncoding.EncodeToString(b)}}})
		}
	}
	req.InputDocuments = docs
	body, err := xml.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, conn.timeout)
	defer cancel()
	cl, err := newClient(t.url, t.token, t.ca)
	if err != nil {
		return err
	}
	resp, raw, err := cl.do(ctx, http.MethodPost, "/verify", "application/xml", append([]byte(xml.Header), body...))
	if err != nil {
		return err
	}
	vr, err := parseVerifyResponse(raw, reqID)
	if err != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("authentication failed (HTTP 401)\n%w", err)
		}
		return err
	}
	return printVerdict(stdout, file, vr)
}

// readDER reads a DER file, or the first PEM block of a PEM file.
func readDER(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes, nil
	}
	return b, nil
}

// parseVerifyResponse decodes a VerifyResponse. A Result that is neither a verdict (Success
// or InsufficientInformation) is a *dssError.
func parseVerifyResponse(body []byte, wantRequestID string) (*verifyResponse, error) {
	var r verifyResponse
	if err := decodeResponse(body, &r, &r.XMLName, "VerifyResponse"); err != nil {
		return nil, err
	}
	switch r.Result.Major {
	case "":
		return nil, errors.New("the DSS response has no ResultMajor")
	case majorSuccess, majorInsufficientURI:
	default:
		return nil, &dssError{Result: r.Result}
	}
	if wantRequestID != "" && r.RequestID != wantRequestID {
		return nil, fmt.Errorf("the response echoes RequestID %q, the request had %q", r.RequestID, wantRequestID)
	}
	return &r, nil
}

// printVerdict writes a readable verdict and returns a *verdictError unless it is valid.
func printVerdict(w io.Writer, file string, r *verifyResponse) error {
	verdict := "INDETERMINATE"
	switch {
	case r.Result.Major == majorSuccess && (r.Result.Minor == minorValidOnAll || r.Result.Minor == minorValidNotAll):
		verdict = "VALID"
	case r.Result.Major == majorSuccess && r.Result.Minor == minorIncorrect:
		verdict = "INVALID"
	}
	fmt.Fprintf(w, "%s: %s\n", file, verdict)
	fmt.Fprintf(w, "  result:  %s\n", strings.TrimPrefix(r.Result.Major, "urn:oasis:names:tc:dss:1.0:resultmajor:"))
	if r.Result.Minor != "" {
		fmt.Fprintf(w, "  minor:   %s\n", r.Result.Minor)
	}
	o := r.OptionalOutputs
	if o.SignerIdentity != nil {
		fmt.Fprintf(w, "  signer:  %s\n", strings.TrimSpace(*o.SignerIdentity))
	}
	if o.SigningTimeInfo != nil {
		fmt.Fprintf(w, "  signed:  %s\n", strings.TrimSpace(o.SigningTimeInfo.SigningTime))
	}
	if o.VerificationTimeInfo != nil {
		fmt.Fprintf(w, "  checked: %s\n", strings.TrimSpace(o.VerificationTimeInfo.VerificationTime))
	}
	pd := o.ProcessingDetails
	for _, group := range [][]detail{pd.Invalid, pd.Indeterminate, pd.Valid} {
		for _, d := range group {
			msg := strings.TrimSpace(d.Message)
			switch {
			case strings.HasPrefix(d.Type, "urn:dssd:indication:"):
				fmt.Fprintf(w, "  - %s\n", msg)
			default:
				fmt.Fprintf(w, "      %s\n", msg)
			}
		}
	}
	if len(pd.Valid)+len(pd.Indeterminate)+len(pd.Invalid) == 0 {
		if m := strings.TrimSpace(r.Result.Message.Text); m != "" {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
	if verdict != "VALID" {
		return &verdictError{verdict: verdict}
	}
	return nil
}
