package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
)

// TestXOPDecode: an MTOM answer is rebuilt with each xop:Include replaced by the base64 of its
// attachment; a plain answer is returned as it is; a missing attachment is an error.
func TestXOPDecode(t *testing.T) {
	sig := []byte("<ds:Signature>binary \x00 data</ds:Signature>")
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", `application/xop+xml; type="application/soap+xml"`)
	h.Set("Content-ID", "<root@x>")
	w, _ := mw.CreatePart(h)
	io.WriteString(w, `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>`+
		`<SignResponse xmlns="http://docs.oasis-open.org/dss-x/ns/core"><SignatureObject><Base64Signature>`+
		`<Value xmlns="http://docs.oasis-open.org/dss-x/ns/base"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:1.b@dssd"/></Value>`+
		`</Base64Signature></SignatureObject></SignResponse></soap:Body></soap:Envelope>`)
	h = textproto.MIMEHeader{}
	h.Set("Content-ID", "<1.b@dssd>")
	w, _ = mw.CreatePart(h)
	w.Write(sig)
	mw.Close()
	ct := `multipart/related; type="application/xop+xml"; boundary="` + mw.Boundary() + `"`
	env, err := xopDecode(ct, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := `<Value xmlns="http://docs.oasis-open.org/dss-x/ns/base">` + base64.StdEncoding.EncodeToString(sig) + `</Value>`
	if !bytes.Contains(env, []byte(want)) {
		t.Fatalf("include not resolved:\n%s", env)
	}
	child, err := soapBodyChild(env)
	if err != nil || !bytes.HasPrefix(child, []byte("<SignResponse")) || !bytes.HasSuffix(child, []byte("</SignResponse>")) {
		t.Fatalf("body child %v:\n%s", err, child)
	}
	if plain, err := xopDecode("application/soap+xml; charset=utf-8", []byte("<x/>")); err != nil || string(plain) != "<x/>" {
		t.Errorf("plain answer changed: %q %v", plain, err)
	}
	bad := bytes.Replace(b.Bytes(), []byte("<1.b@dssd>"), []byte("<other@dssd>"), 1)
	if _, err := xopDecode(ct, bad); err == nil || !strings.Contains(err.Error(), "does not carry") {
		t.Errorf("missing attachment: %v", err)
	}
	fault := []byte(`<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="en">the message was refused</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>`)
	if _, err := soapBodyChild(fault); err == nil || !strings.Contains(err.Error(), "the message was refused") {
		t.Errorf("fault: %v", err)
	}
}

// TestProgress: the bar shows bytes sent of the total, the percentage and a rate, and ends
// with a newline once.
func TestProgress(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "big.iso", 3<<20)
	if _, err := io.Copy(io.Discard, p.reader(bytes.NewReader(make([]byte, 3<<20)))); err != nil {
		t.Fatal(err)
	}
	p.done()
	p.done()
	s := out.String()
	for _, want := range []string{"\rbig.iso [", "3.0 MiB / 3.0 MiB 100%", "/s "} {
		if !strings.Contains(s, want) {
			t.Errorf("progress output lacks %q: %q", want, s)
		}
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("progress must end with exactly one newline: %q", s)
	}
	if isTerminal(&out) {
		t.Error("a buffer is not a terminal")
	}
}
