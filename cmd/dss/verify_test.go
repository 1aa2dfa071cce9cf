package main

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const verifyAnswer = `<VerifyResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core" RequestID="%s"><Result xmlns="http://docs.oasis-open.org/dss-x/ns/base"><ResultMajor>%s</ResultMajor><ResultMinor>%s</ResultMinor></Result>` +
	`<OptionalOutputs><SigningTimeInfo><SigningTime>2026-11-26T10:00:00Z</SigningTime></SigningTimeInfo>` +
	`<VerificationTimeInfo><VerificationTime>2026-11-26T11:00:00Z</VerificationTime></VerificationTimeInfo>` +
	`<ProcessingDetails><%s Type="urn:dssd:indication:%s"><Message xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:lang="en">signature sig-1 (XAdES B-B) %s</Message></%s>` +
	`<%s Type="urn:dssd:scope:document"><Message xml:lang="en">signature sig-1, reference 1 (URI ""): covers the whole of document "doc-1"</Message></%s></ProcessingDetails>` +
	`<SignerIdentity Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">CN=alice-rsa</SignerIdentity></OptionalOutputs></VerifyResponse>`

// TestVerifyCommand: dss verify sends the file as the only Document (or as Base64Signature
// with --data), asks for every output and prints a readable verdict; exit 0 only when valid.
func TestVerifyCommand(t *testing.T) {
	var last struct {
		XMLName xml.Name
		Docs    []struct {
			ID     string  `xml:"ID,attr"`
			RefURI *string `xml:"RefURI,attr"`
			Value  string  `xml:"Base64Data>Value"`
		} `xml:"InputDocuments>Document"`
		Sig  *string `xml:"SignatureObject>Base64Signature>Value"`
		Opts struct {
			Signer string   `xml:"ReturnSignerIdentity"`
			PD     string   `xml:"ReturnProcessingDetails"`
			OCSP   []string `xml:"AdditionalKeyInfo>OCSPResponse>Value"`
		} `xml:"OptionalInputs"`
		RequestID string `xml:"RequestID,attr"`
	}
	verdict := "valid"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/verify" || r.Header.Get("Authorization") != "Bearer "+tokAlice {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		last.Docs, last.Sig, last.Opts.OCSP = nil, nil, nil
		if err := xml.Unmarshal(body, &last); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		switch verdict {
		case "valid":
			fmt.Fprintf(w, verifyAnswer, last.RequestID, majorSuccess, minorValidOnAll, "ValidDetail", "TOTAL-PASSED", "TOTAL-PASSED: the signature is valid", "ValidDetail", "ValidDetail", "ValidDetail")
		case "invalid":
			fmt.Fprintf(w, verifyAnswer, last.RequestID, majorSuccess, minorIncorrect, "InvalidDetail", "TOTAL-FAILED", "TOTAL-FAILED/HASH_FAILURE: the digest does not match", "InvalidDetail", "InvalidDetail", "InvalidDetail")
		case "refused":
			fmt.Fprintf(w, `<VerifyResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core" RequestID="%s"><Result xmlns="http://docs.oasis-open.org/dss-x/ns/base"><ResultMajor>%s</ResultMajor><ResultMinor>urn:oasis:names:tc:dss:1.0:resultminor:NotSupported</ResultMinor></Result></VerifyResponse>`, last.RequestID, majorReqEr)
		}
	}))
	defer srv.Close()
	dir, _ := devDir(t, &fakeServer{Server: srv})
	env := map[string]string{"DSSD_DEV_DIR": dir}
	file := filepath.Join(t.TempDir(), "invoice.xml.signed.xml")
	signed := `<inv:Invoice xmlns:inv="urn:x"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></inv:Invoice>`
	if err := os.WriteFile(file, []byte(signed), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runDSS(t, env, "verify", "--dev", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{file + ": VALID", "signer:  CN=alice-rsa", "signed:  2026-11-26T10:00:00Z", "- signature sig-1 (XAdES B-B) TOTAL-PASSED", "covers the whole of document"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(last.Docs) != 1 || last.Sig != nil || last.Opts.Signer != "true" || last.Opts.PD != "true" {
		t.Errorf("request %+v", last)
	}
	if b, _ := base64.StdEncoding.DecodeString(last.Docs[0].Value); string(b) != signed {
		t.Errorf("document bytes changed")
	}

	verdict = "invalid"
	code, out, errOut = runDSS(t, env, "verify", "--dev", file)
	if code != exitFail || !strings.Contains(out, ": INVALID") || !strings.Contains(out, "HASH_FAILURE") || !strings.Contains(errOut, "INVALID") {
		t.Errorf("invalid: exit %d\n%s%s", code, out, errOut)
	}

	verdict = "refused"
	code, _, errOut = runDSS(t, env, "verify", "--dev", file)
	if code != exitFail || !strings.Contains(errOut, "NotSupported") {
		t.Errorf("refused: exit %d %s", code, errOut)
	}

	// Detached: the signature as Base64Signature, the data as a Document with its RefURI.
	verdict = "valid"
	data := filepath.Join(t.TempDir(), "report 1.pdf")
	if err := os.WriteFile(data, []byte("%PDF"), 0o600); err != nil {
		t.Fatal(err)
	}
	ocspFile := filepath.Join(t.TempDir(), "status.der")
	if err := os.WriteFile(ocspFile, []byte{0x30, 0x00}, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runDSS(t, env, "verify", "--dev", "--data", data, "--ocsp", ocspFile, file); code != 0 {
		t.Fatalf("detached: exit %d\n%s%s", code, out, errOut)
	}
	if last.Sig == nil || len(last.Docs) != 1 || last.Docs[0].RefURI == nil || *last.Docs[0].RefURI != "report%201.pdf" ||
		len(last.Opts.OCSP) != 1 || last.Opts.OCSP[0] != "MAA=" {
		t.Errorf("detached request %+v", last)
	}

	for _, args := range [][]string{{"verify", "--dev"}, {"verify", "--dev", file, file}, {"verify", "--dev", data}} {
		if code, _, _ := runDSS(t, env, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
