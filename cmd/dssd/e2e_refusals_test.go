//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss"
	"dssd/dss/store"
)

// TestEveryRefusalAudited walks the refusal paths of every binding for an authenticated
// caller (decided in the binding: unreadable, oversized, not DSS, bad base64, a wrong
// namespace, a parameter mismatch; and decided in the service) and requires exactly one new
// audit record for each, naming alice and the operation, with an error result.
func TestEveryRefusalAudited(t *testing.T) {
	s := start(t)
	tok := s.token("alice")
	cfg, err := LoadConfig(filepath.Join(s.devDir, "dssd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStoreBackend(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lastSeq := func() int64 {
		var after int64
		for {
			page, err := st.Records(context.Background(), after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				return after
			}
			after = page[len(page)-1].Seq
		}
	}
	newRecords := func(after int64) []store.Record {
		page, err := st.Records(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return page
	}

	const (
		dssNS = `xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `"`
		soap  = "application/soap+xml; charset=utf-8"
		xml   = "application/xml"
		json  = "application/json"
	)
	doc := func(value string) string {
		return `<dss2:InputDocuments><dss2:Document ID="d" RefURI="urn:x"><dss2:Base64Data MimeType="application/octet-stream">` + value + `</dss2:Base64Data></dss2:Document></dss2:InputDocuments>`
	}
	signReq := func(id, inner, cred string) string {
		return `<dss2:SignRequest ` + dssNS + ` RequestID="` + id + `">` + inner +
			`<dss2:OptionalInputs><dss2:SignatureType>` + xadesURI + `</dss2:SignatureType><dss2:KeySelector><dss2:KeyName>` + cred +
			`</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs></dss2:SignRequest>`
	}
	sad := `<dss2:ClaimedIdentity><dss2:Name>alice</dss2:Name><dss2:SupportingInfo MimeType="application/jwt"><dsb:Value>` +
		b64([]byte("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")) + `</dsb:Value></dss2:SupportingInfo></dss2:ClaimedIdentity>`
	scal2BadB64 := `<dss2:SignRequest ` + dssNS + ` RequestID="rf-scal2-b64">` + doc(`<dsb:Value>!!! not base64</dsb:Value>`) +
		`<dss2:OptionalInputs><dss2:SignatureType>` + xadesURI + `</dss2:SignatureType>` + sad +
		`<dss2:KeySelector><dss2:KeyName>alice-qes</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs></dss2:SignRequest>`
	env := func(body string) string {
		return `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body>` + body + `</soap:Body></soap:Envelope>`
	}
	goodB64 := `<dsb:Value>` + b64([]byte("hello")) + `</dsb:Value>`
	doctype := `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>`
	huge := func(prefix string) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeatReader(' '), cfg.Limits.MaxBodyBytes+1024))
	}
	h := b64(sum([]byte("x")))

	type call struct {
		name   string
		path   string
		ctype  string
		body   string
		stream io.Reader // instead of body: a chunked body
		action string    // expected audit action
	}
	calls := []call{
		// SOAP
		{name: "soap over the size limit", path: "/soap", ctype: soap, stream: huge(env(`<dss2:SignRequest ` + dssNS + `>`)), action: dss.AuditRequest},
		{name: "soap DOCTYPE", path: "/soap", ctype: soap, body: doctype + env(signReq("rf-s1", doc(goodB64), "alice-ec")), action: dss.AuditRequest},
		{name: "soap two bodies", path: "/soap", ctype: soap, body: `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body/><soap:Body/></soap:Envelope>`, action: dss.AuditRequest},
		{name: "soap mustUnderstand", path: "/soap", ctype: soap, body: `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Header><x:H xmlns:x="urn:x" soap:mustUnderstand="true"/></soap:Header><soap:Body>` + signReq("rf-s2", doc(goodB64), "alice-ec") + `</soap:Body></soap:Envelope>`, action: dss.AuditRequest},
		{name: "soap not a DSS request", path: "/soap", ctype: soap, body: env(`<x:Other xmlns:x="urn:x"/>`), action: dss.AuditRequest},
		{name: "soap bad base64", path: "/soap", ctype: soap, body: env(signReq("rf-s3", doc(`<dsb:Value>!!!</dsb:Value>`), "alice-ec")), action: dss.AuditSign},
		{name: "soap SCAL2 with a SAD and bad base64", path: "/soap", ctype: soap, body: env(scal2BadB64), action: dss.AuditSign},
		{name: "soap dss2:Value", path: "/soap", ctype: soap, body: env(signReq("rf-s4", doc(`<dss2:Value>aGk=</dss2:Value>`), "alice-ec")), action: dss.AuditSign},
		{name: "soap foreign credential", path: "/soap", ctype: soap, body: env(signReq("rf-s5", doc(goodB64), "bob-rsa")), action: dss.AuditKeyLookup},
		{name: "soap verify bad base64", path: "/soap", ctype: soap, body: env(`<dss2:VerifyRequest ` + dssNS + ` RequestID="rf-s6"><dss2:SignatureObject><dss2:Base64Signature><dsb:Value>!!!</dsb:Value></dss2:Base64Signature></dss2:SignatureObject></dss2:VerifyRequest>`), action: dss.AuditVerify},
		{name: "soap pending", path: "/soap", ctype: soap, body: env(`<dss2:PendingRequest ` + dssNS + ` RequestID="rf-s7"/>`), action: dss.AuditPending},
		// HTTP POST
		{name: "post over the size limit", path: "/sign", ctype: xml, stream: huge(`<dss2:SignRequest ` + dssNS + `>`), action: dss.AuditSign},
		{name: "post DOCTYPE", path: "/sign", ctype: xml, body: doctype + signReq("rf-p1", doc(goodB64), "alice-ec"), action: dss.AuditSign},
		{name: "post wrong element", path: "/sign", ctype: xml, body: `<dss2:VerifyRequest ` + dssNS + `/>`, action: dss.AuditSign},
		{name: "post bad base64", path: "/sign", ctype: xml, body: signReq("rf-p2", doc(`<dsb:Value>!!!</dsb:Value>`), "alice-ec"), action: dss.AuditSign},
		{name: "post SCAL2 with a SAD and bad base64", path: "/sign", ctype: xml, body: scal2BadB64, action: dss.AuditSign},
		{name: "post dss2:Value", path: "/sign", ctype: xml, body: signReq("rf-p3", doc(`<dss2:Value>aGk=</dss2:Value>`), "alice-ec"), action: dss.AuditSign},
		{name: "post unsupported input", path: "/sign", ctype: xml, body: signReq("rf-p4", doc(goodB64)+`<dss2:Extra/>`, "alice-ec"), action: dss.AuditSign},
		{name: "post verify with a profile", path: "/verify", ctype: xml, body: `<dss2:VerifyRequest ` + dssNS + ` RequestID="rf-p5"><dsb:Profile>urn:x</dsb:Profile></dss2:VerifyRequest>`, action: dss.AuditVerify},
		{name: "post pending", path: "/retrievePending", ctype: xml, body: `<dss2:PendingRequest ` + dssNS + ` RequestID="rf-p6"/>`, action: dss.AuditPending},
		// CSC
		{name: "csc over the size limit", path: "/csc/v2/signatures/signHash", ctype: json, stream: huge(`{"credentialID":"alice-ec","hashes":["`), action: dss.AuditSign},
		{name: "csc media type", path: "/csc/v2/credentials/list", ctype: "text/plain", body: `{}`, action: dss.AuditCredentials},
		{name: "csc invalid JSON", path: "/csc/v2/signatures/signHash", ctype: json, body: `{"credentialID":`, action: dss.AuditSign},
		{name: "csc authorize numSignatures mismatch", path: "/csc/v2/credentials/authorize", ctype: json, body: fmt.Sprintf(`{"credentialID":"alice-qes","numSignatures":2,"hashes":[%q],"hashAlgorithmOID":"2.16.840.1.101.3.4.2.1","PIN":"1","OTP":"2"}`, h), action: dss.AuditAuthorize},
		{name: "csc signHash foreign credential, invalid algorithm", path: "/csc/v2/signatures/signHash", ctype: json, body: fmt.Sprintf(`{"credentialID":"bob-rsa","hashes":[%q],"signAlgo":"1.2.3.4"}`, h), action: dss.AuditSign},
		{name: "csc signHash bad base64", path: "/csc/v2/signatures/signHash", ctype: json, body: `{"credentialID":"alice-ec","hashes":["%%%"],"signAlgo":"1.2.840.10045.4.3.2"}`, action: dss.AuditSign},
		{name: "csc signHash SCAL2 bad SAD", path: "/csc/v2/signatures/signHash", ctype: json, body: fmt.Sprintf(`{"credentialID":"alice-qes","hashes":[%q],"signAlgo":"1.2.840.113549.1.1.11","SAD":"a.b.c"}`, h), action: dss.AuditSign},
		{name: "csc signDoc bad base64", path: "/csc/v2/signatures/signDoc", ctype: json, body: `{"credentialID":"alice-ec","documents":[{"document":"!!","signature_format":"X"}]}`, action: dss.AuditSign},
		{name: "csc credentials/info foreign", path: "/csc/v2/credentials/info", ctype: json, body: `{"credentialID":"bob-rsa"}`, action: dss.AuditKeyLookup},
		{name: "csc credentials/list userID", path: "/csc/v2/credentials/list", ctype: json, body: `{"userID":"bob"}`, action: dss.AuditCredentials},
	}
	for _, c := range calls {
		before := lastSeq()
		var body io.Reader = strings.NewReader(c.body)
		if c.stream != nil {
			body = c.stream
		}
		req, err := http.NewRequest(http.MethodPost, s.dev.URL+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if c.stream != nil {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", c.ctype)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		refused := resp.StatusCode >= 400 || bytes.Contains(raw, []byte("Error</ResultMajor>"))
		recs := newRecords(before)
		switch {
		case !refused:
			t.Errorf("%s: not refused: %d %.300s", c.name, resp.StatusCode, raw)
		case len(recs) != 1:
			t.Errorf("%s: %d audit records, want 1: %+v", c.name, len(recs), recs)
		case recs[0].User != "alice" || recs[0].Action != c.action || recs[0].Major == dss.MajorSuccess || recs[0].Major == "":
			t.Errorf("%s: record %+v, want action %s by alice with an error result", c.name, recs[0], c.action)
		default:
			t.Logf("%-52s HTTP %d → %s %s", c.name, resp.StatusCode, recs[0].Action, strings.TrimPrefix(recs[0].Minor, "urn:"))
		}
	}
}
