package soap_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"dssd/binding/soap"
	"dssd/dss"
	"dssd/internal/testkit/fakesvc"
	"dssd/internal/testkit/xsdtest"
	"dssd/schemas"
)

// part is one MIME part of a test MTOM message.
type part struct {
	cid, ct, cte string
	body         []byte
}

// mtomMessage builds an MTOM message from the root envelope and the attachments (Go's
// mime/multipart writer, as a client would) and returns the body and its Content-Type.
func mtomMessage(t *testing.T, rootCT string, envelope string, atts ...part) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", rootCT)
	h.Set("Content-Transfer-Encoding", "8bit")
	h.Set("Content-ID", "<root.message@example.org>")
	w, _ := mw.CreatePart(h)
	_, _ = io.WriteString(w, envelope)
	for _, a := range atts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", cmp(a.ct, "application/octet-stream"))
		h.Set("Content-Transfer-Encoding", cmp(a.cte, "binary"))
		if a.cid != "" {
			h.Set("Content-ID", "<"+a.cid+">")
		}
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(a.body)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	ct := `multipart/related; type="application/xop+xml"; boundary="` + mw.Boundary() +
		`"; start="<root.message@example.org>"; start-info="application/soap+xml"`
	return b.Bytes(), ct
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const xopRoot12 = `application/xop+xml; charset=UTF-8; type="application/soap+xml"`

// signEnvelope is a SOAP envelope (version ns) whose SignRequest carries docs (inner XML of
// InputDocuments) and opts (inner XML of OptionalInputs).
func signEnvelope(ns, docs, opts string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="` + ns + `"><s:Body>` +
		`<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base"` +
		` xmlns:xop="http://www.w3.org/2004/08/xop/include" RequestID="req-mtom">` +
		`<dss2:InputDocuments>` + docs + `</dss2:InputDocuments>` +
		`<dss2:OptionalInputs><dss2:KeySelector><dss2:KeyName>alice-rsa</dss2:KeyName></dss2:KeySelector>` + opts + `</dss2:OptionalInputs>` +
		`</dss2:SignRequest></s:Body></s:Envelope>`
}

func xopDoc(id, cid string) string {
	return `<dss2:Document ID="` + id + `" RefURI="` + id + `.bin"><dss2:Base64Data MimeType="application/octet-stream">` +
		`<dsb:Value><xop:Include href="cid:` + cid + `"/></dsb:Value></dss2:Base64Data></dss2:Document>`
}

// TestMTOMDetachedStreamed: the attachment of a detached document reaches the service as its
// SHA-256 (no bytes), for SOAP 1.2 and 1.1, and with the root part labelled text/xml as
// node-soap labels it (the envelope decides the version).
func TestMTOMDetachedStreamed(t *testing.T) {
	data := bytes.Repeat([]byte{0, 1, 2, 3, 0xff, 'x'}, 300000)
	sum := sha256.Sum256(data)
	for _, tc := range []struct{ name, ns, rootCT, wantCT string }{
		{"soap12", soap.NS12, xopRoot12, "application/soap+xml; charset=utf-8"},
		{"soap11", soap.NS11, `application/xop+xml; charset=UTF-8; type="text/xml"`, "text/xml; charset=utf-8"},
		{"soap12 root labelled text/xml", soap.NS12, "text/xml; charset=utf-8", "application/soap+xml; charset=utf-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, soap.Options{})
			body, ct := mtomMessage(t, tc.rootCT, signEnvelope(tc.ns, xopDoc("big", "a1@example.org"), ""),
				part{cid: "a1@example.org", body: data})
			r := s.post(t, ct, token, body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d\n%s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != tc.wantCT {
				t.Errorf("Content-Type %q, want %q (a small response stays a plain SOAP message)", got, tc.wantCT)
			}
			req := s.svc.LastSign()
			if req == nil || len(req.Documents) != 1 {
				t.Fatalf("service got %+v", req)
			}
			d := req.Documents[0]
			if d.Data != nil || d.Streamed == nil {
				t.Fatalf("document not streamed: data %d bytes, streamed %+v", len(d.Data), d.Streamed)
			}
			if !bytes.Equal(d.Streamed.SHA256, sum[:]) || d.Streamed.Size != int64(len(data)) || !bytes.Equal(d.Streamed.Head, data[:dss.StreamedHeadBytes]) {
				t.Errorf("streamed %d bytes, digest %x; want %d, %x", d.Streamed.Size, d.Streamed.SHA256, len(data), sum)
			}
			if d.RefURI != "big.bin" || d.MimeType != "application/octet-stream" {
				t.Errorf("metadata lost: %+v", d)
			}
			xsdtest.Validate(t, schemas.CoreXSD, bodyChild(t, r.body))
		})
	}
}

// TestMTOMResponse: a response to an MTOM request that carries large data (the enveloped
// DocumentWithSignature) is an MTOM message; resolved, its root part validates against the
// DSS-X schema, and the attachment holds the document.
func TestMTOMResponse(t *testing.T) {
	s := newServer(t, soap.Options{})
	doc := []byte(`<invoice xmlns="urn:example:invoice">` + strings.Repeat("<line>1</line>", 200) + `</invoice>`)
	env := signEnvelope(soap.NS12, `<dss2:Document ID="d1" RefURI=""><dss2:Base64Data MimeType="application/xml"><dsb:Value><xop:Include href="cid:doc%401"/></dsb:Value></dss2:Base64Data></dss2:Document>`,
		`<dss2:SignaturePlacement WhichData="d1"><dss2:XPathFirstChildOf>/*</dss2:XPathFirstChildOf></dss2:SignaturePlacement>`)
	body, ct := mtomMessage(t, xopRoot12, env, part{cid: "doc@1", ct: "application/xml", cte: "base64", body: []byte(base64.StdEncoding.EncodeToString(doc))})
	r := s.post(t, ct, token, body)
	if r.status != http.StatusOK {
		t.Fatalf("status %d\n%s", r.status, r.body)
	}
	if got := s.svc.LastSign().Documents[0].Data; !bytes.Equal(got, doc) {
		t.Fatalf("placed document kept in memory: %d bytes, want %d", len(got), len(doc))
	}
	root, atts := readMTOM(t, r)
	if !bytes.Contains(root, []byte("<xop:Include")) || len(atts) != 1 {
		t.Fatalf("response not optimized: %d attachments\n%s", len(atts), root)
	}
	resolved := resolveXOP(t, root, atts)
	child := bodyChild(t, resolved)
	xsdtest.Validate(t, schemas.CoreXSD, child)
	want := base64.StdEncoding.EncodeToString(append([]byte("<!--signed-->"), doc...))
	if !bytes.Contains(child, []byte(want)) {
		t.Errorf("the DocumentWithSignature attachment is not the signed document")
	}
}

// readMTOM splits an MTOM response into its root part and attachments by Content-ID.
func readMTOM(t *testing.T, r reply) ([]byte, map[string][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != "application/xop+xml" || params["start-info"] != "application/soap+xml" {
		t.Fatalf("Content-Type %q is not MTOM", r.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var root []byte
	atts := map[string][]byte{}
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		cid := strings.Trim(p.Header.Get("Content-Id"), "<>")
		if i == 0 {
			if "<"+cid+">" != params["start"] || !strings.HasPrefix(p.Header.Get("Content-Type"), "application/xop+xml") {
				t.Fatalf("root part %q %q", cid, p.Header.Get("Content-Type"))
			}
			root = b
			continue
		}
		atts[cid] = b
	}
	return root, atts
}

var includeRE = regexp.MustCompile(`<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:([^"]+)"/>`)

// resolveXOP replaces every xop:Include by the base64 of its attachment (XOP 1.0 §3.2: the
// reconstructed infoset).
func resolveXOP(t *testing.T, root []byte, atts map[string][]byte) []byte {
	t.Helper()
	return includeRE.ReplaceAllFunc(root, func(m []byte) []byte {
		cid := string(includeRE.FindSubmatch(m)[1])
		b, ok := atts[cid]
		if !ok {
			t.Fatalf("xop:Include names %s, not in the response", cid)
		}
		return []byte(base64.StdEncoding.EncodeToString(b))
	})
}

// TestMTOMRefused: every malformed or oversized MTOM message is a clear DSS RequesterError
// (or a fault where the envelope cannot be read), and the service is never called.
func TestMTOMRefused(t *testing.T) {
	small := []byte("attachment data")
	docs2 := xopDoc("a", "a@x") + xopDoc("b", "b@x")
	tests := []struct {
		name   string
		opts   soap.Options
		env    string
		atts   []part
		mangle func([]byte) []byte
		minor  string
		msg    string
	}{
		{"missing cid", soap.Options{}, signEnvelope(soap.NS12, docs2, ""), []part{{cid: "a@x", body: small}},
			nil, dss.MinorMalformed, "names the attachment &lt;b@x&gt;, which the message does not carry"},
		{"duplicate cid", soap.Options{}, signEnvelope(soap.NS12, xopDoc("a", "a@x"), ""), []part{{cid: "a@x", body: small}, {cid: "a@x", body: small}},
			nil, dss.MinorMalformed, "two attachments have the Content-ID &lt;a@x&gt;"},
		{"never referenced", soap.Options{}, signEnvelope(soap.NS12, xopDoc("a", "a@x"), ""), []part{{cid: "a@x", body: small}, {cid: "z@x", body: small}},
			nil, dss.MinorMalformed, "attachment &lt;z@x&gt; is not referenced by any xop:Include"},
		{"no Content-ID", soap.Options{}, signEnvelope(soap.NS12, xopDoc("a", "a@x"), ""), []part{{body: small}},
			nil, dss.MinorMalformed, "has no Content-ID"},
		{"too many", soap.Options{MaxAttachments: 1}, signEnvelope(soap.NS12, docs2, ""), []part{{cid: "a@x", body: small}, {cid: "b@x", body: small}},
			nil, dss.MinorTooLarge, "more than 1 attachments (limits.max_attachments)"},
		{"too large", soap.Options{MaxAttachmentBytes: 10}, signEnvelope(soap.NS12, xopDoc("a", "a@x"), ""), []part{{cid: "a@x", body: small}},
			nil, dss.MinorTooLarge, "larger than 10 bytes (limits.max_attachment_bytes)"},
		{"placed document over the document limit", soap.Options{MaxDocumentBytes: 10}, signEnvelope(soap.NS12, xopDoc("a", "a@x"),
			`<dss2:SignaturePlacement WhichData="a"><dss2:XPathFirstChildOf>/*</dss2:XPathFirstChildOf></dss2:SignaturePlacement>`),
			[]part{{cid: "a@x", body: small}}, nil, dss.MinorTooLarge, "larger than 10 bytes (limits.max_document_bytes)"},
		{"truncated", soap.Options{}, signEnvelope(soap.NS12, xopDoc("a", "a@x"), ""), []part{{cid: "a@x", body: bytes.Repeat(small, 1000)}},
			func(b []byte) []byte { return b[:len(b)-5000] }, dss.MinorMalformed, "the multipart message is truncated"},
		{"whole message over max_mtom_bytes", soap.Options{MaxMTOMBody: 9000}, signEnvelope(soap.NS12, xopDoc("a", "a@x"), ""), []part{{cid: "a@x", body: bytes.Repeat(small, 1000)}},
			nil, "", ""},
		{"include in DigestValue", soap.Options{}, signEnvelope(soap.NS12, `<dss2:DocumentHash ID="h"><dss2:DigestInfos><dsb:DigestMethod>http://www.w3.org/2001/04/xmlenc#sha256</dsb:DigestMethod><dsb:DigestValue><xop:Include href="cid:a@x"/></dsb:DigestValue></dss2:DigestInfos></dss2:DocumentHash>`, ""),
			[]part{{cid: "a@x", body: small}}, nil, dss.MinorMalformed, "MTOM attachments are accepted only in dsb:Value"},
		{"include beside text", soap.Options{}, signEnvelope(soap.NS12, `<dss2:Document ID="a" RefURI="a"><dss2:Base64Data><dsb:Value>QUJD<xop:Include href="cid:a@x"/></dsb:Value></dss2:Base64Data></dss2:Document>`, ""),
			nil, nil, dss.MinorMalformed, "not valid base64"},
		{"other element in Value", soap.Options{}, signEnvelope(soap.NS12, `<dss2:Document ID="a" RefURI="a"><dss2:Base64Data><dsb:Value><x:Include xmlns:x="urn:x" href="cid:a@x"/></dsb:Value></dss2:Base64Data></dss2:Document>`, ""),
			nil, nil, dss.MinorMalformed, "not valid base64"},
		{"href not cid", soap.Options{}, signEnvelope(soap.NS12, `<dss2:Document ID="a" RefURI="a"><dss2:Base64Data><dsb:Value><xop:Include href="http://example.org/a"/></dsb:Value></dss2:Base64Data></dss2:Document>`, ""),
			[]part{{cid: "a@x", body: small}}, nil, dss.MinorMalformed, "is not a cid: URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.opts)
			body, ct := mtomMessage(t, xopRoot12, tt.env, tt.atts...)
			if tt.mangle != nil {
				body = tt.mangle(body)
			}
			r := s.post(t, ct, token, body)
			if s.svc.Calls() != 0 {
				t.Errorf("the service was called")
			}
			if tt.minor == "" { // refused before the envelope: 413 fault
				if r.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d, want 413\n%s", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status %d\n%s", r.status, r.body)
			}
			child := bodyChild(t, r.body)
			xsdtest.Validate(t, schemas.CoreXSD, child)
			for _, want := range []string{dss.MajorRequesterError, tt.minor, tt.msg, `RequestID="req-mtom"`} {
				if !bytes.Contains(child, []byte(want)) {
					t.Errorf("answer lacks %q:\n%s", want, child)
				}
			}
		})
	}
}

// TestMTOMFaults: what cannot be read as an MTOM message is refused before the service.
func TestMTOMFaults(t *testing.T) {
	s := newServer(t, soap.Options{})
	env := signEnvelope(soap.NS12, xopDoc("a", "a@x"), "")
	body, ct := mtomMessage(t, xopRoot12, env, part{cid: "a@x", body: []byte("x")})
	swa := strings.Replace(ct, `type="application/xop+xml"`, `type="text/xml"`, 1)
	if r := s.post(t, swa, token, body); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("SwA (type text/xml): status %d, want 415", r.status)
	}
	wrongStart := strings.Replace(ct, `start="<root.message@example.org>"`, `start="<other@example.org>"`, 1)
	if r := s.post(t, wrongStart, token, body); r.status != http.StatusBadRequest || !bytes.Contains(r.body, []byte("must be the first part")) {
		t.Errorf("root not first: status %d\n%s", r.status, r.body)
	}
	// An xop:Include in a plain SOAP message names nothing.
	r := s.post(t, ct12, token, []byte(env))
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte("only an MTOM message")) {
		t.Errorf("xop:Include outside MTOM: status %d\n%s", r.status, r.body)
	}
	if s.svc.Calls() != 0 {
		t.Errorf("the service was called")
	}
}

// TestMTOMUnauthenticated: a stranger's MTOM message gets 401 after at most 64 KiB of it is
// read by the handler; the attachment is never read.
func TestMTOMUnauthenticated(t *testing.T) {
	svc := &fakesvc.Service{}
	h := soap.New(svc, authenticator(), soap.Options{})
	var read atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &countingBody{ReadCloser: r.Body, n: &read}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	env := signEnvelope(soap.NS12, xopDoc("a", "a@x"), "")
	body, ct := mtomMessage(t, xopRoot12, env, part{cid: "a@x", body: bytes.Repeat([]byte("x"), 8<<20)})
	// With a Content-Length over 64 KiB nothing is read (generic 401); chunked, the root
	// part is read and the 401 echoes its RequestID.
	for _, chunked := range []bool{false, true} {
		read.Store(0)
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/soap", rd)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer wrong-token-0000000000000")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || chunked != bytes.Contains(b, []byte(`RequestID="req-mtom"`)) {
			t.Fatalf("chunked %v: status %d\n%s", chunked, resp.StatusCode, b)
		}
		if n := read.Load(); n > 64<<10 {
			t.Errorf("chunked %v: the handler read %d bytes of a stranger's message; the limit is 64 KiB", chunked, n)
		}
	}
	if svc.Calls() != 0 {
		t.Error("the service was called")
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
