package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"dssd/cmd/dssd/devenv/devjson"
)

const (
	tokAlice   = "tok-alice-0123456789"
	tokBob     = "tok-bob-0123456789"
	qesPIN     = "24681357"
	qesTOTP    = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	testSAD    = "sad-eyJhbGciOi.test"
	majorReqEr = "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError"
)

// seenRequest is what the fake server took from a SignRequest.
type seenRequest struct {
	Token       string
	ContentType string
	Root        string            // the MTOM root part (POST /soap)
	Attachments map[string][]byte // MTOM attachments by Content-ID (POST /soap)
	RequestID   string            `xml:"RequestID,attr"`
	Profile     []string          `xml:"Profile"`
	Docs        []struct {
		ID         string  `xml:"ID,attr"`
		RefURI     *string `xml:"RefURI,attr"`
		Base64Data struct {
			MimeType string `xml:"MimeType,attr"`
			Value    string `xml:"Value"`
		} `xml:"Base64Data"`
	} `xml:"InputDocuments>Document"`
	Opt struct {
		Name           string `xml:"ClaimedIdentity>Name"`
		SupportingInfo struct {
			MimeType string `xml:"MimeType,attr"`
			Value    string `xml:"Value"`
		} `xml:"ClaimedIdentity>SupportingInfo"`
		SignatureType string   `xml:"SignatureType"`
		KeyName       []string `xml:"KeySelector>KeyName"`
		IncludeObject []struct {
			WhichData string `xml:"WhichData,attr"`
		} `xml:"IncludeObject"`
		Placement       *string `xml:"SignaturePlacement>XPathFirstChildOf"`
		NsPrefixMapping []struct {
			URI    string `xml:"NamespaceURI"`
			Prefix string `xml:"NamespacePrefix"`
		} `xml:"SignaturePlacement>NsPrefixMapping"`
		SignatureAlgorithm string `xml:"SignatureAlgorithm"`
	} `xml:"OptionalInputs"`
}

// fakeServer imitates the parts of dssd that dss talks to.
type fakeServer struct {
	*httptest.Server
	mu        sync.Mutex
	last      *seenRequest
	authorize map[string]any
	ready     bool
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	fs := &fakeServer{ready: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if !fs.ready {
			http.Error(w, "hsm down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /csc/v2/credentials/authorize", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		fs.mu.Lock()
		fs.authorize = req
		fs.mu.Unlock()
		otpNow, _ := devjson.TOTP(qesTOTP, time.Now())
		otpPrev, _ := devjson.TOTP(qesTOTP, time.Now().Add(-30*time.Second))
		if r.Header.Get("Authorization") != "Bearer "+tokAlice || req["PIN"] != qesPIN || (req["OTP"] != otpNow && req["OTP"] != otpPrev) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_request","error_description":"bad PIN or OTP"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"SAD": testSAD, "expiresIn": 300})
	})
	mux.HandleFunc("POST /sign", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req seenRequest
		if err := xml.Unmarshal(body, &req); err != nil {
			http.Error(w, "not xml", http.StatusBadRequest)
			return
		}
		req.Token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		req.ContentType = r.Header.Get("Content-Type")
		fs.mu.Lock()
		fs.last = &req
		fs.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		if req.Token != tokAlice && req.Token != tokBob {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, errorResponse, req.RequestID, majorReqEr, "urn:dssd:resultminor:authentication", "authentication required")
			return
		}
		if len(req.Opt.KeyName) == 1 && req.Opt.KeyName[0] == "nope" {
			fmt.Fprintf(w, errorResponse, req.RequestID, majorReqEr, "urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed", "no such credential")
			return
		}
		doc, _ := base64.StdEncoding.DecodeString(req.Docs[0].Base64Data.Value)
		profile := "urn:dssd:level:B-B"
		if len(req.Profile) == 1 {
			profile = req.Profile[0]
		}
		if req.Opt.Placement != nil && req.Docs[0].Base64Data.MimeType != "application/xml" {
			fmt.Fprintf(w, errorResponse, req.RequestID, majorReqEr, "urn:oasis:names:tc:dss:1.0:resultminor:InappropriateSignature", "an enveloped signature needs an XML document")
			return
		}
		if req.Opt.Placement != nil {
			signed := base64.StdEncoding.EncodeToString(append([]byte("<!--signed-->"), doc...))
			fmt.Fprintf(w, envelopedResponse, req.RequestID, profile, signed)
			return
		}
		sig := base64.StdEncoding.EncodeToString([]byte("<ds:Signature>" + fmt.Sprint(len(doc)) + "</ds:Signature>"))
		fmt.Fprintf(w, detachedResponse, req.RequestID, profile, sig)
	})
	// POST /soap: the MTOM request of a detached signature (the file as an attachment).
	mux.HandleFunc("POST /soap", func(w http.ResponseWriter, r *http.Request) {
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/related" || params["type"] != "application/xop+xml" {
			http.Error(w, "not MTOM", http.StatusUnsupportedMediaType)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var env struct {
			Body struct {
				Req seenRequest `xml:"SignRequest"`
			} `xml:"Body"`
		}
		req := &env.Body.Req
		atts := map[string][]byte{}
		var root []byte
		for i := 0; ; i++ {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, "bad multipart", http.StatusBadRequest)
				return
			}
			b, _ := io.ReadAll(p)
			if i == 0 {
				root = b
				continue
			}
			atts[strings.Trim(p.Header.Get("Content-Id"), "<>")] = b
		}
		if err := xml.Unmarshal(root, &env); err != nil {
			http.Error(w, "not xml", http.StatusBadRequest)
			return
		}
		req.Token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		req.ContentType = r.Header.Get("Content-Type")
		req.Root, req.Attachments = string(root), atts
		fs.mu.Lock()
		fs.last = req
		fs.mu.Unlock()
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		var doc []byte
		for _, a := range atts {
			doc = a
		}
		sig := base64.StdEncoding.EncodeToString([]byte("<ds:Signature>" + fmt.Sprint(len(doc)) + "</ds:Signature>"))
		fmt.Fprintf(w, `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>`+detachedResponse+`</soap:Body></soap:Envelope>`,
			req.RequestID, "urn:dssd:level:B-B", sig)
	})
	fs.Server = httptest.NewUnstartedServer(mux)
	fs.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-server case fails handshakes on purpose
	fs.StartTLS()
	t.Cleanup(fs.Close)
	return fs
}

const envelopedResponse = `<?xml version="1.0" encoding="UTF-8"?>
<dss2:SignResponse xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="%s">
<dsb:Result><dsb:ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success</dsb:ResultMajor></dsb:Result>
<dsb:AppliedProfile>%s</dsb:AppliedProfile>
<dss2:OptionalOutputs><dss2:DocumentWithSignature WhichDoc="doc-1"><dss2:Document ID="signed-doc-1"><dss2:Base64Data><dsb:Value>%s</dsb:Value></dss2:Base64Data></dss2:Document></dss2:DocumentWithSignature></dss2:OptionalOutputs>
<dss2:SignatureObject><dss2:SignaturePtr WhichData="signed-doc-1"/></dss2:SignatureObject>
</dss2:SignResponse>`

const detachedResponse = `<dss2:SignResponse xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="%s">
<dsb:Result><dsb:ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success</dsb:ResultMajor></dsb:Result>
<dsb:AppliedProfile>%s</dsb:AppliedProfile>
<dss2:SignatureObject WhichDoc="doc-1"><dss2:Base64Signature MimeType="text/xml"><dsb:Value>%s</dsb:Value></dss2:Base64Signature></dss2:SignatureObject>
</dss2:SignResponse>`

const errorResponse = `<dss2:SignResponse xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="%s">
<dsb:Result><dsb:ResultMajor>%s</dsb:ResultMajor><dsb:ResultMinor>%s</dsb:ResultMinor><dsb:ResultMessage xml:lang="en">%s</dsb:ResultMessage></dsb:Result>
</dss2:SignResponse>`

func (fs *fakeServer) lastRequest(t *testing.T) *seenRequest {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.last == nil {
		t.Fatal("the server got no SignRequest")
	}
	r := fs.last
	fs.last = nil
	return r
}

// writeTestCert writes a self-signed certificate to path.
func writeTestCert(t *testing.T, path, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"dssd development"}},
		Issuer:       pkix.Name{CommonName: cn},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// devDir writes a dev.json for the fake server and returns its directory and the CA file.
func devDir(t *testing.T, fs *fakeServer) (dir, ca string) {
	t.Helper()
	dir = t.TempDir()
	ca = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := func(id string) string {
		p := filepath.Join(dir, id+".pem")
		writeTestCert(t, p, "alice "+id)
		return p
	}
	f := &devjson.File{
		URL: fs.URL, CA: ca, TSA: fs.URL + "/dev/tsa", OCSP: fs.URL + "/dev/ocsp",
		Users: []devjson.User{
			{Name: "alice", Token: tokAlice, Credentials: []devjson.Credential{
				{ID: "alice-rsa", Key: "RSA-2048", SCAL: 1, Cert: cert("alice-rsa")},
				{ID: "alice-qes", Key: "RSA-3072", SCAL: 2, Cert: cert("alice-qes"), PIN: qesPIN, TOTPSecret: qesTOTP},
			}},
			{Name: "bob", Token: tokBob, Credentials: []devjson.Credential{
				{ID: "bob-rsa", Key: "RSA-2048", SCAL: 1, Cert: cert("bob-rsa")},
			}},
		},
	}
	if err := devjson.Write(filepath.Join(dir, "dev.json"), f); err != nil {
		t.Fatal(err)
	}
	return dir, ca
}

// runDSS runs the CLI in-process.
func runDSS(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code = run(context.Background(), args, &out, &errb, getenv)
	return code, out.String(), errb.String()
}

func TestSign(t *testing.T) {
	fs := newFakeServer(t)
	dir, ca := devDir(t, fs)
	work := t.TempDir()
	xmlFile := filepath.Join(work, "invoice.xml")
	xmlDoc := []byte(`<?xml version="1.0" encoding="UTF-8"?><invoice><total>12</total></invoice>`)
	binFile := filepath.Join(work, "report v1.pdf")
	binDoc := []byte("%PDF-1.7 binary \x00\x01")
	for p, d := range map[string][]byte{xmlFile: xmlDoc, binFile: binDoc} {
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	devEnv := map[string]string{"DSSD_DEV_DIR": dir}

	t.Run("dev enveloped xades default", func(t *testing.T) {
		code, stdout, stderr := runDSS(t, devEnv, "sign", "--dev", "--credential", "alice-rsa", xmlFile)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got, err := os.ReadFile(xmlFile + ".signed.xml")
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("<!--signed-->"), xmlDoc...); !bytes.Equal(got, want) {
			t.Errorf("output %q, want %q", got, want)
		}
		req := fs.lastRequest(t)
		if req.Token != tokAlice || !strings.HasPrefix(req.ContentType, "application/xml") {
			t.Errorf("token %q content type %q", req.Token, req.ContentType)
		}
		if len(req.Profile) != 1 || req.Profile[0] != "urn:dssd:level:B-B" || req.Opt.SignatureType != sigTypeXAdES {
			t.Errorf("profile %v signature type %q", req.Profile, req.Opt.SignatureType)
		}
		if len(req.Opt.KeyName) != 1 || req.Opt.KeyName[0] != "alice-rsa" || req.Opt.Placement == nil || *req.Opt.Placement != "/*" {
			t.Errorf("key %v placement %v", req.Opt.KeyName, req.Opt.Placement)
		}
		if req.Docs[0].RefURI == nil || *req.Docs[0].RefURI != "" || req.Docs[0].Base64Data.MimeType != "application/xml" {
			t.Errorf("document attributes %+v", req.Docs[0])
		}
		if !strings.Contains(stdout, "invoice.xml.signed.xml") || !strings.Contains(stdout, "urn:dssd:level:B-B") {
			t.Errorf("stdout %q", stdout)
		}
	})

	t.Run("dev binary defaults to enveloping, flags after the file", func(t *testing.T) {
		code, _, stderr := runDSS(t, devEnv, "sign", binFile, "--dev", "--user", "bob", "--level", "b-t")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got, err := os.ReadFile(binFile + ".sig.xml"); err != nil || !strings.HasPrefix(string(got), "<ds:Signature>") {
			t.Fatalf("output %q, %v", got, err)
		}
		req := fs.lastRequest(t)
		if req.Token != tokBob || len(req.Opt.IncludeObject) != 1 || req.Opt.IncludeObject[0].WhichData != "doc-1" || req.Docs[0].RefURI != nil {
			t.Errorf("token %q include %v refuri %v", req.Token, req.Opt.IncludeObject, req.Docs[0].RefURI)
		}
		if len(req.Opt.KeyName) != 1 || req.Opt.KeyName[0] != "bob-rsa" { // bob's only credential
			t.Errorf("key %v", req.Opt.KeyName)
		}
		if req.Profile[0] != "urn:dssd:level:B-T" || req.Docs[0].Base64Data.MimeType != "application/pdf" {
			t.Errorf("profile %v mime %q", req.Profile, req.Docs[0].Base64Data.MimeType)
		}
	})

	t.Run("detached xmldsig with algorithm and out", func(t *testing.T) {
		out := filepath.Join(work, "custom.sig")
		code, _, stderr := runDSS(t, devEnv, "sign", "--dev", "--credential", "alice-rsa", "--format", "xmldsig",
			"--placement", "detached", "--algorithm", "rsa-pss-sha256", "--out", out, binFile)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(out); err != nil {
			t.Fatal(err)
		}
		req := fs.lastRequest(t)
		if req.Opt.SignatureType != sigTypeXMLDSig || len(req.Profile) != 0 ||
			req.Opt.SignatureAlgorithm != "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" {
			t.Errorf("type %q profile %v alg %q", req.Opt.SignatureType, req.Profile, req.Opt.SignatureAlgorithm)
		}
		if req.Docs[0].RefURI == nil || *req.Docs[0].RefURI != "report%20v1.pdf" {
			t.Errorf("RefURI %v", req.Docs[0].RefURI)
		}
		// The file went as the one MTOM attachment that the xop:Include names.
		want := binDoc
		m := regexp.MustCompile(`<Include xmlns="http://www.w3.org/2004/08/xop/include" href="cid:([^"]+)"`).FindStringSubmatch(req.Root)
		if m == nil || len(req.Attachments) != 1 || !bytes.Equal(req.Attachments[m[1]], want) {
			t.Errorf("attachment not sent as named: include %v, %d attachments\n%s", m, len(req.Attachments), req.Root)
		}
		if req.Docs[0].Base64Data.Value != "" {
			t.Errorf("the detached document was also sent inline")
		}
	})

	t.Run("scal 2 gets a SAD first", func(t *testing.T) {
		code, _, stderr := runDSS(t, devEnv, "sign", "--dev", "--credential", "alice-qes", xmlFile)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		fs.mu.Lock()
		auth := fs.authorize
		fs.mu.Unlock()
		sum := sha256.Sum256(xmlDoc)
		hashes, _ := auth["hashes"].([]any)
		if auth["credentialID"] != "alice-qes" || auth["numSignatures"] != float64(1) || len(hashes) != 1 ||
			hashes[0] != base64.StdEncoding.EncodeToString(sum[:]) || auth["hashAlgorithmOID"] != "2.16.840.1.101.3.4.2.1" {
			t.Errorf("authorize request %v", auth)
		}
		req := fs.lastRequest(t)
		if req.Opt.Name != "alice" || req.Opt.SupportingInfo.MimeType != "application/jwt" ||
			req.Opt.SupportingInfo.Value != base64.StdEncoding.EncodeToString([]byte(testSAD)) {
			t.Errorf("claimed identity %q %+v", req.Opt.Name, req.Opt.SupportingInfo)
		}
		if strings.Contains(stderr, qesPIN) {
			t.Error("the PIN was printed")
		}
	})

	t.Run("scal 2 refused", func(t *testing.T) {
		code, _, stderr := runDSS(t, devEnv, "sign", "--dev", "--credential", "alice-qes", "--pin", "00000000", "--otp", "000000", xmlFile)
		if code != 1 || !strings.Contains(stderr, "signature activation refused (HTTP 400)") || !strings.Contains(stderr, "bad PIN or OTP") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if strings.Contains(stderr, "00000000") {
			t.Error("the PIN was printed")
		}
	})

	t.Run("DSS error without dev", func(t *testing.T) {
		code, _, stderr := runDSS(t, map[string]string{"DSSD_TOKEN": tokAlice},
			"sign", "--url", fs.URL, "--ca", ca, "--credential", "nope", xmlFile)
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		for _, w := range []string{"ResultMajor: " + majorReqEr, "ResultMinor: urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed", "ResultMessage: no such credential"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, stderr)
			}
		}
		if req := fs.lastRequest(t); req.Token != tokAlice {
			t.Errorf("DSSD_TOKEN not used: %q", req.Token)
		}
	})

	t.Run("bad token", func(t *testing.T) {
		code, _, stderr := runDSS(t, nil, "sign", "--url", fs.URL, "--ca", ca, "--token", "wrong", xmlFile)
		if code != 1 || !strings.Contains(stderr, "HTTP 401") || !strings.Contains(stderr, majorReqEr) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		fs.lastRequest(t)
	})

	t.Run("untrusted server", func(t *testing.T) {
		code, _, stderr := runDSS(t, nil, "sign", "--url", fs.URL, "--token", tokAlice, xmlFile)
		if code != 1 || !strings.Contains(stderr, "certificate") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})

	// The placement is the user's: the CLI sends an enveloped request for a binary file as it
	// is asked, and the server's refusal is the answer.
	t.Run("enveloped binary fails with the server's message", func(t *testing.T) {
		code, _, stderr := runDSS(t, devEnv, "sign", "--dev", "--credential", "alice-rsa", "--placement", "enveloped", binFile)
		if code != exitFail || !strings.Contains(stderr, "an enveloped signature needs an XML document") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if req := fs.lastRequest(t); req.Opt.Placement == nil || len(req.Opt.IncludeObject) != 0 {
			t.Errorf("the request was not sent as enveloped: %+v", req.Opt)
		}
	})

	t.Run("ns prefixes are sent as NsPrefixMapping", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "ns.signed.xml")
		code, _, stderr := runDSS(t, devEnv, "sign", "--dev", "--credential", "alice-rsa", "--xpath", "/a:r/b:s",
			"--ns", "a=urn:a", "--ns", "b = urn:b", "--out", out, xmlFile)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		req := fs.lastRequest(t)
		m := req.Opt.NsPrefixMapping
		if req.Opt.Placement == nil || *req.Opt.Placement != "/a:r/b:s" || len(m) != 2 ||
			m[0].Prefix != "a" || m[0].URI != "urn:a" || m[1].Prefix != "b" || m[1].URI != "urn:b" {
			t.Errorf("placement %v, mappings %+v", req.Opt.Placement, m)
		}
	})

	usage := []struct {
		name string
		args []string
	}{
		{"no file", []string{"sign", "--dev"}},
		{"two files", []string{"sign", "--dev", xmlFile, binFile}},
		{"level with xmldsig", []string{"sign", "--dev", "--format", "xmldsig", "--level", "B-T", xmlFile}},
		{"ns without xpath", []string{"sign", "--dev", "--credential", "alice-rsa", "--ns", "a=urn:a", xmlFile}},
		{"ns without uri", []string{"sign", "--dev", "--credential", "alice-rsa", "--xpath", "/a:r", "--ns", "a", xmlFile}},
		{"bad algorithm", []string{"sign", "--dev", "--algorithm", "md5", xmlFile}},
		{"no server", []string{"sign", xmlFile}},
		{"plain http", []string{"sign", "--url", "http://127.0.0.1:1", "--token", "x", xmlFile}},
		{"unknown flag", []string{"sign", "--frobnicate", xmlFile}},
		{"unknown command", []string{"verify"}},
	}
	for _, tc := range usage {
		t.Run("usage "+tc.name, func(t *testing.T) {
			if code, _, stderr := runDSS(t, devEnv, tc.args...); code != exitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	fs := newFakeServer(t)
	dir, _ := devDir(t, fs)
	code, stdout, stderr := runDSS(t, nil, "info", "--dev", "--dev-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{fs.URL, "ready", "alice", "alice-rsa  RSA-2048  scal 1", "alice-qes  RSA-3072  scal 2",
		"CN=alice alice-qes,O=dssd development", "2025-01-01T00:00:00Z to 2027-01-01T00:00:00Z", "sha256"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("info lacks %q:\n%s", w, stdout)
		}
	}
	if strings.Contains(stdout, "bob-rsa") || strings.Contains(stdout, tokAlice) || strings.Contains(stdout, qesPIN) {
		t.Errorf("info shows another user's credential or a secret:\n%s", stdout)
	}
	// The fingerprint is the SHA-256 of the certificate's DER.
	c, err := firstCertificate(filepath.Join(dir, "alice-rsa.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Raw)
	if !strings.Contains(stdout, fingerprint(sum[:])) {
		t.Errorf("info lacks the fingerprint %s", fingerprint(sum[:]))
	}

	fs.mu.Lock()
	fs.ready = false
	fs.mu.Unlock()
	code, stdout, _ = runDSS(t, nil, "info", "--dev", "--dev-dir", dir, "--user", "bob")
	if code != 1 || !strings.Contains(stdout, "not ready (HTTP 503)") || !strings.Contains(stdout, "bob-rsa") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	if code, stdout, _ := runDSS(t, nil, "version"); code != 0 || !strings.HasPrefix(stdout, "dss ") {
		t.Errorf("version: exit %d %q", code, stdout)
	}
	if code, stdout, _ := runDSS(t, nil, "help"); code != 0 || !strings.Contains(stdout, "dss sign --dev --credential alice-rsa") {
		t.Errorf("help: exit %d", code)
	}
	if code, _, stderr := runDSS(t, nil); code != exitUsage || !strings.Contains(stderr, "usage:") {
		t.Errorf("no args: exit %d", code)
	}
}
