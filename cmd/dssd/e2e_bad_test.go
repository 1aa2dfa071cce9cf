//go:build e2e

package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// noSignature fails when a response carries any signature or signed document.
func noSignature(t *testing.T, name string, raw []byte) {
	t.Helper()
	for _, tag := range []string{"SignatureObject", "Base64Signature", "DocumentWithSignature", "Signature>"} {
		if bytes.Contains(raw, []byte(tag)) {
			t.Errorf("%s: the response carries %s:\n%s", name, tag, raw)
		}
	}
}

// fault reads a SOAP Fault: its code (1.2 Value or 1.1 faultcode) and reason.
func fault(t *testing.T, raw []byte) (code, reason string) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatalf("fault is not XML: %v\n%s", err, raw)
	}
	f := doc.FindElement("//Fault")
	if f == nil {
		t.Fatalf("no SOAP Fault in:\n%s", raw)
	}
	if v := f.FindElement("./Code/Value"); v != nil {
		code = v.Text()
	} else if v := f.FindElement("./faultcode"); v != nil {
		code = v.Text()
	}
	if r := f.FindElement("./Reason/Text"); r != nil {
		reason = r.Text()
	} else if r := f.FindElement("./faultstring"); r != nil {
		reason = r.Text()
	}
	return code, reason
}

func envelope12(body string) []byte {
	return []byte(`<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body>` + body + `</soap:Body></soap:Envelope>`)
}

func simpleSign(reqID, cred string, doc []byte) string {
	return signRequestXML(reqID, signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: cred}, doc)
}

// TestBadInputFaults: input that cannot be parsed as a SOAP envelope with one DSS element
// gets a SOAP Fault (HTTP 400 for SOAP 1.2 Sender), never a signature, never a crash.
func TestBadInputFaults(t *testing.T) {
	s := start(t)
	token := s.token("alice")
	good := simpleSign("r", "alice-rsa", []byte("<a/>"))
	tests := []struct {
		name string
		body []byte
	}{
		{"malformed XML", []byte(`<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body><dss2:SignRequest xmlns:dss2="` + nsDSS2 + `"></soap:Body>`)},
		{"DOCTYPE with external entity", []byte(`<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + string(envelope12(`<dss2:SignRequest xmlns:dss2="`+nsDSS2+`" RequestID="&x;"/>`)))},
		{"billion laughs", []byte(`<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` + string(envelope12(`<dss2:SignRequest xmlns:dss2="`+nsDSS2+`" RequestID="&c;"/>`)))},
		{"undeclared entity", envelope12(`<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" RequestID="&x;"/>`)},
		{"two Body elements", envelope12(good + good)},
		{"not a DSS element", envelope12(`<x:Other xmlns:x="urn:example"/>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := s.post(t, "/soap", "application/soap+xml; charset=utf-8", token, tt.body)
			if status != http.StatusBadRequest {
				t.Fatalf("HTTP %d, want 400:\n%s", status, raw)
			}
			code, reason := fault(t, raw)
			if !strings.HasSuffix(code, "Sender") || reason == "" {
				t.Errorf("fault code %q reason %q, want Sender with a reason", code, reason)
			}
			if strings.Contains(string(raw), "root:") {
				t.Error("an external entity was expanded")
			}
			noSignature(t, tt.name, raw)
		})
	}
}

// TestBadInputResults: a parseable request that cannot be served gets a DSS error Result
// (HTTP 200), never a signature.
func TestBadInputResults(t *testing.T) {
	s := start(t)
	alice, bob := s.token("alice"), s.token("bob")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	doctypeDoc := []byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>`)
	tests := []struct {
		name  string
		token string
		req   string
		minor string
		msg   string // part of the ResultMessage, when the message is client-safe
	}{
		{"invalid base64", alice, strings.Replace(simpleSign("r1", "alice-rsa", invoice), "<dsb:Value>", "<dsb:Value>!!not base64!!", 1),
			"urn:dssd:resultminor:MalformedRequest", "base64"},
		{"DOCTYPE inside the document", alice, signRequestXML("r2", signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: "alice-rsa"}, doctypeDoc),
			"urn:dssd:resultminor:MalformedRequest", "DOCTYPE"},
		{"unknown credential", alice, simpleSign("r3", "nobody-rsa", invoice), "urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed", ""},
		{"another user's credential", bob, simpleSign("r4", "alice-rsa", invoice), "urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed", ""},
		{"SHA-1 algorithm", alice, strings.Replace(simpleSign("r5", "alice-rsa", invoice), rsaSHA256, "http://www.w3.org/2000/09/xmldsig#rsa-sha1", 1),
			"urn:oasis:names:tc:dss:1.0:resultminor:NotSupported", "rsa-sha1"},
		{"algorithm not fitting the key", alice, simpleSign("r6", "alice-ec", invoice),
			"urn:oasis:names:tc:dss:1.0:resultminor:Inappropriate:signature", ""},
		{"unsupported optional input", alice, strings.Replace(simpleSign("r7", "alice-rsa", invoice), "<dss2:SignatureType>", "<dss2:Nonce>42</dss2:Nonce><dss2:SignatureType>", 1),
			"urn:oasis:names:tc:dss:1.0:resultminor:NotSupported", "Nonce"},
		{"no documents", alice, `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" RequestID="r8"/>`, "urn:dssd:resultminor:MalformedRequest", ""},
	}
	var files []string
	dir := t.TempDir()
	keyLookupMsg := ""
	for _, tt := range tests {
		for _, via := range []binding{viaSOAP12, viaPOST} {
			name := tt.name + "/" + via.String()
			status, raw := s.send(t, via, tt.token, tt.req)
			if status != http.StatusOK {
				t.Errorf("%s: HTTP %d, want 200:\n%s", name, status, raw)
				continue
			}
			_, r := parseResponse(t, raw)
			if r.major != "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError" || r.minor != tt.minor {
				t.Errorf("%s: result %s / %s (%s), want RequesterError / %s", name, r.major, r.minor, r.message, tt.minor)
			}
			if tt.msg != "" && !strings.Contains(strings.ToLower(r.message), strings.ToLower(tt.msg)) {
				t.Errorf("%s: message %q should mention %q", name, r.message, tt.msg)
			}
			if strings.Contains(tt.minor, "KeyLookupFailed") {
				if keyLookupMsg == "" {
					keyLookupMsg = r.message
				} else if r.message != keyLookupMsg {
					t.Errorf("%s: unknown and foreign credentials must get the same answer: %q vs %q", name, r.message, keyLookupMsg)
				}
			}
			noSignature(t, name, raw)
			files = append(files, writeOut(t, dir+"/"+strings.NewReplacer(" ", "-", "'", "", "/", "-").Replace(name)+".xml", raw))
		}
	}
	validateResponses(t, dir, files)
}

// TestAuthentication: a missing or wrong bearer token gets HTTP 401 with a DSS response
// (RequesterError), on every binding.
func TestAuthentication(t *testing.T) {
	s := start(t)
	req := simpleSign("auth-1", "alice-rsa", []byte("<a/>"))
	for _, token := range []string{"", "not-a-valid-token", s.token("alice") + "x"} {
		for _, via := range []binding{viaSOAP12, viaSOAP11, viaPOST} {
			status, raw := s.send(t, via, token, req)
			if status != http.StatusUnauthorized {
				t.Errorf("%s token %q: HTTP %d, want 401", via, token, status)
				continue
			}
			root, r := parseResponse(t, raw)
			if r.major != "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError" {
				t.Errorf("%s: ResultMajor %q, want RequesterError", via, r.major)
			}
			if root.SelectAttrValue("RequestID", "") != "auth-1" {
				t.Errorf("%s: RequestID not echoed", via)
			}
			noSignature(t, "unauthenticated", raw)
		}
	}
}

// TestOversizeBody: a body above the configured limit (by default the one that holds a verify
// request for an enveloping signature of a 64 MiB document) is refused with 413 without being
// read whole.
func TestOversizeBody(t *testing.T) {
	s := start(t)
	limit := defaultMaxBodyFor(defaultMaxDocumentBytes)
	prefix := `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body><dss2:SignRequest xmlns:dss2="` + nsDSS2 + `"><dss2:InputDocuments><dss2:Document><dss2:Base64Data><dsb:Value xmlns:dsb="` + nsDSB + `">`
	size := int64(limit + 1024)
	body := io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeatReader('A'), size-int64(len(prefix))))
	for _, path := range []string{"/soap", "/sign"} {
		ctype := "application/soap+xml"
		if path == "/sign" {
			ctype = "application/xml"
			body = io.MultiReader(strings.NewReader(`<dss2:SignRequest xmlns:dss2="`+nsDSS2+`">`), io.LimitReader(repeatReader(' '), size))
		}
		req, _ := http.NewRequest(http.MethodPost, s.dev.URL+path, body)
		req.ContentLength = -1 // chunked: the limit must hold without a Content-Length too
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+s.token("alice"))
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: HTTP %d, want 413: %.300s", path, resp.StatusCode, raw)
		}
		noSignature(t, path, raw)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestVerifyNotYet: a VerifyRequest with an optional input dssd does not implement
// (VerifyManifests) is answered NotSupported, with a schema-valid VerifyResponse.
func TestVerifyNotYet(t *testing.T) {
	s := start(t)
	status, raw := s.post(t, "/verify", "application/xml", s.token("alice"),
		[]byte(`<dss2:VerifyRequest xmlns:dss2="`+nsDSS2+`" RequestID="v1"><dss2:OptionalInputs><dss2:VerifyManifests>true</dss2:VerifyManifests></dss2:OptionalInputs></dss2:VerifyRequest>`))
	if status != http.StatusOK {
		t.Fatalf("HTTP %d", status)
	}
	root, r := parseResponse(t, raw)
	if root.Tag != "VerifyResponse" || r.minor != "urn:oasis:names:tc:dss:1.0:resultminor:NotSupported" {
		t.Fatalf("got %s with %s / %s", root.Tag, r.major, r.minor)
	}
	validateResponses(t, t.TempDir(), []string{writeOut(t, t.TempDir()+"/verify.xml", raw)})
}

// TestUnauthenticatedLargeBody: a large body from a caller without valid authentication is
// answered 401 with a DSS response after at most 64 KiB have been read (hardening.md §2.6:
// strangers cannot make the service hold and scan megabytes).
func TestUnauthenticatedLargeBody(t *testing.T) {
	s := start(t)
	for _, tc := range []struct{ path, ctype, prefix string }{
		{"/soap", "application/soap+xml", `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body><dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" RequestID="big">`},
		{"/sign", "application/xml", `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" RequestID="big">`},
	} {
		body := io.MultiReader(strings.NewReader(tc.prefix), io.LimitReader(repeatReader(' '), 8<<20))
		req, _ := http.NewRequest(http.MethodPost, s.dev.URL+tc.path, body)
		req.ContentLength = -1
		req.Header.Set("Content-Type", tc.ctype)
		req.Header.Set("Authorization", "Bearer not-a-token")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(raw), "resultmajor:RequesterError") {
			t.Errorf("%s: HTTP %d, want 401 with a RequesterError response: %.300s", tc.path, resp.StatusCode, raw)
		}
	}
}
