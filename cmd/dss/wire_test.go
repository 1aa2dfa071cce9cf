package main

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// coreSchema is the vendored DSS-X 2.0 core schema (protocol.md §0.1).
var coreSchema = filepath.Join("..", "..", "schemas", "oasis-dss-core-schema-v2.0.xsd")

// validate checks doc against the DSS-X core schema with xmllint.
func validate(t *testing.T, doc []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint is not installed: apt-get install libxml2-utils")
	}
	if _, err := os.Stat(coreSchema); err != nil {
		t.Fatalf("schema %s: %v", coreSchema, err)
	}
	path := filepath.Join(t.TempDir(), "req.xml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", coreSchema, path).CombinedOutput()
	if err != nil {
		t.Fatalf("request does not validate against the DSS-X core schema: %v\n%s\n%s", err, out, doc)
	}
}

func TestBuildSignRequestValidates(t *testing.T) {
	t.Parallel()
	xmlDoc := []byte(`<?xml version="1.0"?><invoice xmlns="urn:example"><total>1</total></invoice>`)
	bin := []byte{0, 1, 2, 0xff}
	tests := []struct {
		name string
		p    signParams
		// want are substrings of the serialised request.
		want []string
		// notWant must not appear.
		notWant []string
	}{
		{
			name: "xades enveloped B-B",
			p: signParams{RequestID: "r1", Doc: xmlDoc, MimeType: "application/xml", Format: "xades",
				Placement: "enveloped", Level: "B-B", Credential: "alice-rsa"},
			want: []string{`RefURI=""`, `<SignaturePlacement WhichData="doc-1"`, `<XPathFirstChildOf>/*</XPathFirstChildOf>`,
				`<Profile xmlns="http://docs.oasis-open.org/dss-x/ns/base">urn:dssd:level:B-B</Profile>`, `<Value xmlns="http://docs.oasis-open.org/dss-x/ns/base">`,
				`<SignatureType>http://uri.etsi.org/01903/v1.3.2#</SignatureType>`, `<KeyName>alice-rsa</KeyName>`},
			notWant: []string{"IncludeObject", "SignatureAlgorithm", "ClaimedIdentity"},
		},
		{
			name: "xades enveloped with namespace prefixes",
			p: signParams{RequestID: "r1ns", Doc: xmlDoc, MimeType: "application/xml", Format: "xades",
				Placement: "enveloped", XPath: "/inv:Invoice/ext:UBLExtensions", Namespaces: []nsBinding{{"inv", "urn:inv"}, {"ext", "urn:ext"}}},
			want: []string{`<XPathFirstChildOf>/inv:Invoice/ext:UBLExtensions</XPathFirstChildOf><NsPrefixMapping><NamespaceURI xmlns="http://docs.oasis-open.org/dss-x/ns/nsList">urn:inv</NamespaceURI><NamespacePrefix xmlns="http://docs.oasis-open.org/dss-x/ns/nsList">inv</NamespacePrefix></NsPrefixMapping>`,
				`<NamespacePrefix xmlns="http://docs.oasis-open.org/dss-x/ns/nsList">ext</NamespacePrefix>`},
		},
		{
			name: "xades detached async",
			p: signParams{RequestID: "r-async", Doc: bin, MimeType: "application/octet-stream", Format: "xades",
				Placement: "detached", Level: "B-T", Async: true},
			want: []string{`<EnforceAsynchronousProcessing>true</EnforceAsynchronousProcessing><SignatureType>`},
		},
		{
			name: "xmldsig enveloping binary with algorithm",
			p: signParams{RequestID: "r2", Doc: bin, MimeType: "application/octet-stream", Format: "xmldsig",
				Placement: "enveloping", Algorithm: "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"},
			want:    []string{`<IncludeObject WhichData="doc-1">`, `<SignatureType>urn:ietf:rfc:3275</SignatureType>`, `sha256-rsa-MGF1</SignatureAlgorithm>`},
			notWant: []string{"RefURI", "Profile", "KeySelector", "SignaturePlacement"},
		},
		{
			name: "xades detached B-LTA",
			p: signParams{RequestID: "r3", Doc: bin, DocName: "report%20v1.pdf", MimeType: "application/pdf", Format: "xades",
				Placement: "detached", Level: "B-LTA", Credential: "alice-ec"},
			want:    []string{`RefURI="report%20v1.pdf"`, "urn:dssd:level:B-LTA"},
			notWant: []string{"IncludeObject", "SignaturePlacement"},
		},
		{
			name: "scal 2 with SAD",
			p: signParams{RequestID: "r4", Doc: xmlDoc, MimeType: "application/xml", Format: "xades",
				Placement: "enveloped", XPath: "/inv:invoice", Level: "B-T", Credential: "alice-qes", User: "alice", SAD: "sad.token.value"},
			want: []string{"<ClaimedIdentity><Name>alice</Name>", `<SupportingInfo MimeType="application/jwt">`,
				base64.StdEncoding.EncodeToString([]byte("sad.token.value")), "<XPathFirstChildOf>/inv:invoice</XPathFirstChildOf>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := buildSignRequest(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, out)
			s := string(out)
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("request lacks %s:\n%s", w, s)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(s, w) {
					t.Errorf("request contains %s:\n%s", w, s)
				}
			}
			checkNamespaces(t, out)
			// The document travels unchanged.
			var back struct {
				Docs []struct {
					Value string `xml:"Base64Data>Value"`
				} `xml:"InputDocuments>Document"`
			}
			if err := xml.Unmarshal(out, &back); err != nil || len(back.Docs) != 1 {
				t.Fatalf("re-read: %v %+v", err, back)
			}
			if got, _ := base64.StdEncoding.DecodeString(back.Docs[0].Value); !bytes.Equal(got, tc.p.Doc) {
				t.Errorf("document changed in transit")
			}
		})
	}
}

// checkNamespaces asserts the child-namespace rules of protocol.md §2.1 on a request.
func checkNamespaces(t *testing.T, doc []byte) {
	t.Helper()
	wantNS := map[string]string{
		"SignRequest": nsCore, "InputDocuments": nsCore, "Document": nsCore, "Base64Data": nsCore,
		"OptionalInputs": nsCore, "SignatureType": nsCore, "KeySelector": nsCore, "KeyName": nsCore,
		"SignaturePlacement": nsCore, "XPathFirstChildOf": nsCore, "IncludeObject": nsCore,
		"ClaimedIdentity": nsCore, "Name": nsCore, "SupportingInfo": nsCore, "SignatureAlgorithm": nsCore,
		"EnforceAsynchronousProcessing": nsCore, "Profile": nsBase, "Value": nsBase, "NsPrefixMapping": nsCore,
		"NamespaceURI": "http://docs.oasis-open.org/dss-x/ns/nsList", "NamespacePrefix": "http://docs.oasis-open.org/dss-x/ns/nsList",
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		if se, ok := tok.(xml.StartElement); ok {
			want, known := wantNS[se.Name.Local]
			if !known {
				t.Errorf("unexpected element %s", se.Name.Local)
			} else if se.Name.Space != want {
				t.Errorf("%s is in %q, want %q", se.Name.Local, se.Name.Space, want)
			}
		}
	}
}

func TestBuildSignRequestRejects(t *testing.T) {
	t.Parallel()
	for _, p := range []signParams{
		{Format: "cades", Placement: "enveloping"},
		{Format: "xades", Placement: "inside"},
		{Format: "xmldsig", Placement: "enveloping", Level: "B-T"},
		{Format: "xades", Placement: "enveloping", SAD: "x"}, // SAD without user
	} {
		if _, err := buildSignRequest(p); err == nil {
			t.Errorf("buildSignRequest(%+v) succeeded", p)
		}
	}
}

func TestParseSignResponse(t *testing.T) {
	t.Parallel()
	const ok = `<dss2:SignResponse xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="r1">
<dsb:Result><dsb:ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success</dsb:ResultMajor></dsb:Result>
<dsb:AppliedProfile>urn:dssd:level:B-B</dsb:AppliedProfile>
<dss2:OptionalOutputs><dss2:DocumentWithSignature WhichDoc="doc-1"><dss2:Document ID="signed-doc-1"><dss2:Base64Data MimeType="application/xml"><dsb:Value>PGEvPg==</dsb:Value></dss2:Base64Data></dss2:Document></dss2:DocumentWithSignature></dss2:OptionalOutputs>
<dss2:SignatureObject><dss2:SignaturePtr WhichData="signed-doc-1"/></dss2:SignatureObject>
</dss2:SignResponse>`
	r, err := parseSignResponse([]byte(ok), "r1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.signedOutput("enveloped")
	if err != nil || string(got) != "<a/>" {
		t.Fatalf("enveloped output = %q, %v", got, err)
	}
	if _, err := r.signedOutput("detached"); err == nil {
		t.Error("detached output found where there is only a SignaturePtr")
	}
	if _, err := parseSignResponse([]byte(ok), "other"); err == nil || !strings.Contains(err.Error(), "RequestID") {
		t.Errorf("RequestID mismatch not detected: %v", err)
	}

	const bad = `<SignResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core" RequestID="r2"><Result xmlns="http://docs.oasis-open.org/dss-x/ns/base">
<ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError</ResultMajor>
<ResultMinor>urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed</ResultMinor>
<ResultMessage xml:lang="en">unknown credential</ResultMessage><ProblemReference>p-7</ProblemReference></Result></SignResponse>`
	_, err = parseSignResponse([]byte(bad), "r2")
	de, isDSS := err.(*dssError)
	if !isDSS {
		t.Fatalf("error %v is not a *dssError", err)
	}
	for _, w := range []string{"RequesterError", "invalid:KeyLookupFailed", "unknown credential", "p-7"} {
		if !strings.Contains(de.Error(), w) {
			t.Errorf("error lacks %q: %s", w, de)
		}
	}

	for name, body := range map[string]string{
		"not xml":      "oops",
		"wrong root":   `<VerifyResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core"/>`,
		"no namespace": `<SignResponse><Result><ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success</ResultMajor></Result></SignResponse>`,
		"no result":    `<SignResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core"/>`,
		"pending": `<SignResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core"><Result xmlns="http://docs.oasis-open.org/dss-x/ns/base">` +
			`<ResultMajor>urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultmajor:Pending</ResultMajor></Result></SignResponse>`,
	} {
		if _, err := parseSignResponse([]byte(body), ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseAlgorithmAndLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":               "",
		"rsa-sha256":     "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
		"RSA-PSS-SHA384": "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1",
		"ecdsa-sha512":   "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
	} {
		got, err := parseAlgorithm(in)
		if err != nil || got != want {
			t.Errorf("parseAlgorithm(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseAlgorithm("dsa-sha1"); err == nil {
		t.Error("parseAlgorithm accepted dsa-sha1")
	}
	if l, err := parseLevel("b-lt"); err != nil || l != "B-LT" {
		t.Errorf("parseLevel(b-lt) = %q, %v", l, err)
	}
	if _, err := parseLevel("B-X"); err == nil {
		t.Error("parseLevel accepted B-X")
	}
}

func TestLooksLikeXML(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`<a/>`: true,
		"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<a><b/></a>": true,
		`<a>`: true, // the server decides whether it is well-formed
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>": true,
		"\xFF\xFE<\x00a\x00/\x00>\x00":                               true,
		"\xFE\xFF\x00 \x00<\x00a\x00/\x00>":                          true,
		"%PDF-1.7":                                                   false,
		"":                                                           false,
		"\xFF\xFEa\x00":                                              false,
	} {
		if got := looksLikeXML([]byte(in)); got != want {
			t.Errorf("looksLikeXML(%q) = %v, want %v", in, got, want)
		}
	}
	if got := refURIFor("dir/my report#1.pdf"); got != "my%20report%231.pdf" {
		t.Errorf("refURIFor = %q", got)
	}
}
