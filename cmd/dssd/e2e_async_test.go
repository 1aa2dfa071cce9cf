//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dssd/dss"
	"dssd/dss/store"
	"dssd/dss/xades/interop"
)

const (
	profileAsync   = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:1.0"
	majorPending   = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultmajor:Pending"
	minorIDUnknown = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultminor:ResponseIdUnknown"
)

var responseIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// asyncByOption turns a SignRequest of signRequestXML into an asynchronous one with
// OptionalInputs/EnforceAsynchronousProcessing (in its schema position, before SignatureType).
func asyncByOption(req string) string {
	return strings.Replace(req, "<dss2:OptionalInputs>",
		"<dss2:OptionalInputs><dss2:EnforceAsynchronousProcessing>true</dss2:EnforceAsynchronousProcessing>", 1)
}

// withProfiles adds dsb:Profile elements (before InputDocuments).
func withProfiles(req string, profiles ...string) string {
	var p strings.Builder
	for _, u := range profiles {
		p.WriteString("<dsb:Profile>" + u + "</dsb:Profile>")
	}
	return strings.Replace(req, "<dss2:InputDocuments>", p.String()+"<dss2:InputDocuments>", 1)
}

// dssCall posts a DSS request element through binding b to the node at base: a SOAP
// envelope to /soap, or bare XML to path (/sign, /retrievePending). It returns the HTTP
// status and the DSS response element.
func dssCall(t *testing.T, client *http.Client, base string, b binding, path, token, dssXML string) (int, []byte) {
	t.Helper()
	body, ctype := dssXML, "application/xml"
	switch b {
	case viaSOAP12:
		body = `<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body>` + dssXML + `</soap:Body></soap:Envelope>`
		path, ctype = "/soap", "application/soap+xml; charset=utf-8"
	case viaSOAP11:
		body = `<soap:Envelope xmlns:soap="` + nsSOAP11 + `"><soap:Body>` + dssXML + `</soap:Body></soap:Envelope>`
		path, ctype = "/soap", "text/xml; charset=utf-8"
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b == viaPOST {
		return resp.StatusCode, raw
	}
	return resp.StatusCode, soapBodyChild(t, raw)
}

func pendingRequestXML(id string) string {
	return `<dss2:PendingRequest xmlns:dss2="` + nsDSS2 + `" RequestID="` + id + `"/>`
}

// submitAsync sends an asynchronous SignRequest and returns the ResponseID of its Pending
// answer (whose file is appended to *responses).
func submitAsync(t *testing.T, client *http.Client, base string, b binding, token, req, requestID, dir string, responses *[]string) string {
	t.Helper()
	status, raw := dssCall(t, client, base, b, "/sign", token, req)
	root, r := parseResponse(t, raw)
	if status != http.StatusOK || r.major != majorPending || root.Tag != "SignResponse" {
		t.Fatalf("submit %s over %s: HTTP %d, <%s> %s %s: %s", requestID, b, status, root.Tag, r.major, r.minor, r.message)
	}
	if got := root.SelectAttrValue("RequestID", ""); got != requestID {
		t.Errorf("submit %s: RequestID echoed as %q", requestID, got)
	}
	id := root.SelectAttrValue("ResponseID", "")
	if !responseIDRE.MatchString(id) {
		t.Fatalf("submit %s: ResponseID %q is not 128 random bits in hex", requestID, id)
	}
	if responses != nil {
		*responses = append(*responses, writeOut(t, filepath.Join(dir, requestID+".pending.xml"), raw))
	}
	return id
}

// awaitDone polls the job with PendingRequest until it is no longer Pending and returns the
// final response. Every Pending answer must be a SignResponse echoing the ResponseID.
func awaitDone(t *testing.T, client *http.Client, base string, b binding, token, id string, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		status, raw := dssCall(t, client, base, b, "/retrievePending", token, pendingRequestXML(id))
		root, r := parseResponse(t, raw)
		if status != http.StatusOK {
			t.Fatalf("poll %s over %s: HTTP %d %s %s: %s", id, b, status, r.major, r.minor, r.message)
		}
		if r.major != majorPending {
			return raw
		}
		if root.Tag != "SignResponse" || root.SelectAttrValue("ResponseID", "") != id {
			t.Fatalf("poll %s: a Pending answer must be the SignResponse with the ResponseID:\n%s", id, raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still pending after %s", id, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAsyncSignAndPoll: asynchronous signing over SOAP 1.2, SOAP 1.1 and POST, asked for by
// EnforceAsynchronousProcessing and by the profile: Pending with the RequestID echoed and a
// 128-bit ResponseID, then PendingRequest polls that answer Pending until the complete,
// schema-valid SignResponse whose signatures both independent verifiers accept. A poll by
// another user and a poll of an unknown id get the same answer, RequesterError +
// ResponseIdUnknown, before and after the job is done.
func TestAsyncSignAndPoll(t *testing.T) {
	s := start(t)
	interop.Require(t)
	alice, bob := s.token("alice"), s.token("bob")
	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	dir := t.TempDir()
	var responses []string
	var cases []interop.Case
	run := time.Now().UnixNano()
	for i, tc := range []struct {
		via     binding
		profile bool
		c       signCase
		level   string
	}{
		{viaSOAP12, false, signCase{sigType: xadesURI, placement: "enveloped", alg: rsaSHA256, cred: "alice-rsa"}, "B-T"},
		{viaPOST, true, signCase{sigType: xadesURI, placement: "detached", alg: ecdsaSHA256, cred: "alice-ec"}, "B-B"},
		{viaSOAP11, true, signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: "alice-rsa"}, "B-LT"},
		{viaPOST, false, signCase{sigType: dsigURI, placement: "enveloping", alg: ecdsaSHA256, cred: "alice-ec"}, ""},
	} {
		name := fmt.Sprintf("async-%d-%s-%s", i, tc.via, tc.c.placement)
		reqID := fmt.Sprintf("%s-%d", name, run)
		req := signRequestXML(reqID, tc.c, invoice)
		var profiles []string
		if tc.level != "" {
			profiles = append(profiles, "urn:dssd:level:"+tc.level)
		}
		if tc.profile {
			profiles = append(profiles, profileAsync)
		} else {
			req = asyncByOption(req)
		}
		req = withProfiles(req, profiles...)
		id := submitAsync(t, s.client, s.dev.URL, tc.via, alice, req, reqID, dir, &responses)

		// Another user and an unknown id: the same answer, while the job may still run.
		foreign := pollAnswer(t, s, tc.via, bob, id)
		unknown := pollAnswer(t, s, tc.via, alice, strings.Repeat("0", 32))
		if foreign != unknown || !strings.Contains(foreign, minorIDUnknown) || !strings.Contains(foreign, majorRequester) {
			t.Errorf("%s: foreign poll %q, unknown id %q; want the same RequesterError/ResponseIdUnknown", name, foreign, unknown)
		}

		raw := awaitDone(t, s.client, s.dev.URL, tc.via, alice, id, 2*time.Minute)
		responses = append(responses, writeOut(t, filepath.Join(dir, name+".response.xml"), raw))
		root, r := parseResponse(t, raw)
		if !r.ok() || root.Tag != "SignResponse" {
			t.Fatalf("%s: final answer <%s> %s %s: %s", name, root.Tag, r.major, r.minor, r.message)
		}
		// A poll's answer echoes the poll's RequestID, which is the ResponseID (interface.md §8).
		if root.SelectAttrValue("RequestID", "") != id || root.SelectAttrValue("ResponseID", "") != id {
			t.Errorf("%s: final answer RequestID %q ResponseID %q", name, root.SelectAttrValue("RequestID", ""), root.SelectAttrValue("ResponseID", ""))
		}
		if tc.level != "" {
			if p := find(root, nsDSB, "AppliedProfile"); p == nil || p.Text() != "urn:dssd:level:"+tc.level {
				t.Errorf("%s: AppliedProfile does not echo %s", name, tc.level)
			}
		}
		// Polled again: the same complete answer; and still the unknown answer for bob.
		if _, again := dssCall(t, s.client, s.dev.URL, tc.via, "/retrievePending", alice, pendingRequestXML(id)); !bytes.Equal(again, raw) {
			t.Errorf("%s: a second poll of the finished job differs", name)
		}
		if foreign2 := pollAnswer(t, s, tc.via, bob, id); foreign2 != unknown {
			t.Errorf("%s: foreign poll of a finished job: %q; want %q", name, foreign2, unknown)
		}

		var sig []byte
		if tc.c.placement == "enveloped" {
			sig = decodeValue(t, find(root, nsDSS2, "DocumentWithSignature"))
		} else {
			sig = decodeValue(t, find(root, nsDSS2, "Base64Signature"))
		}
		file := writeOut(t, filepath.Join(dir, name+".xml"), sig)
		c := interop.Case{Name: name, File: file, Cert: s.certFile(t, tc.c.cred), XAdES: tc.c.sigType == xadesURI, Alg: tc.c.alg}
		if tc.c.placement == "detached" {
			c.Detached = map[string]string{detachedURI: writeOut(t, file+".content", invoice)}
		}
		cases = append(cases, c)
	}
	// An unknown id answered with the generic dss2:Response, schema-valid.
	_, raw := dssCall(t, s.client, s.dev.URL, viaPOST, "/retrievePending", alice, pendingRequestXML(strings.Repeat("ab", 16)))
	responses = append(responses, writeOut(t, filepath.Join(dir, "unknown.response.xml"), raw))
	validateResponses(t, dir, responses)
	verifyFiles(t, cases)
}

// pollAnswer is the HTTP status, ResultMajor, ResultMinor and ResultMessage of one poll.
func pollAnswer(t *testing.T, s *server, b binding, token, id string) string {
	t.Helper()
	status, raw := dssCall(t, s.client, s.dev.URL, b, "/retrievePending", token, pendingRequestXML(id))
	_, r := parseResponse(t, raw)
	return fmt.Sprintf("%d %s %s %s", status, r.major, r.minor, r.message)
}

// TestAsyncSCAL2ConsumedAtSubmission: a request that cannot be signed is refused at once,
// not turned into a job (here: another user's credential), and the SCAL2 path consumes the
// SAD at submission: the same SAD sent again is refused as a replay while the first job
// completes; the audit log has the submission and the completion, without the SAD.
func TestAsyncSCAL2ConsumedAtSubmission(t *testing.T) {
	s := start(t)
	alice := s.token("alice")
	tg := s.target()
	run := time.Now().UnixNano()

	bad := asyncByOption(signRequestXML(fmt.Sprintf("async-badcred-%d", run),
		signCase{sigType: xadesURI, placement: "enveloping", alg: rsaSHA256, cred: "bob-rsa"}, []byte("<a/>")))
	_, raw := dssCall(t, s.client, s.dev.URL, viaPOST, "/sign", alice, bad)
	if _, r := parseResponse(t, raw); r.major != majorRequester || r.minor != minorKeyLookup {
		t.Errorf("a foreign credential was not refused at submission: %s %s", r.major, r.minor)
	}

	q := s.qes(t, "alice-qes")
	doc := inDoc{id: "doc-1", refURI: "urn:async-scal2", data: []byte(fmt.Sprintf("asynchronous SCAL2 %d", run))}
	tok := tg.mustAuthorize(t, alice, q, sum(doc.data))
	reqID := fmt.Sprintf("async-scal2-%d", run)
	req := withProfiles(scal2Request(reqID, q.id, "alice", tok, doc), profileAsync)
	id := submitAsync(t, s.client, s.dev.URL, viaSOAP12, alice, req, reqID, "", nil)
	replayID := reqID + "-replay"
	_, raw = dssCall(t, s.client, s.dev.URL, viaPOST, "/sign", alice, withProfiles(scal2Request(replayID, q.id, "alice", tok, doc), profileAsync))
	if _, r := parseResponse(t, raw); r.major != majorRequester || r.minor != minorSADInvalid {
		t.Errorf("the SAD was not consumed at submission: a second submission got %s %s", r.major, r.minor)
	}
	raw = awaitDone(t, s.client, s.dev.URL, viaSOAP12, alice, id, time.Minute)
	if _, r := parseResponse(t, raw); !r.ok() {
		t.Fatalf("SCAL2 job: %s %s: %s", r.major, r.minor, r.message)
	}
	// Audit: the submission (Pending) and the completion (Success), and no SAD in either.
	submitted, completed, recs := jobAudit(t, tg.cfg, reqID, id, id)
	if !submitted || !completed {
		t.Errorf("audit records of %s: submitted %v, completed %v:\n%s", reqID, submitted, completed, recordsText(recs))
	}
	noSecrets(t, "audit", recordsText(recs), map[string]string{"SAD": tok})
}

// TestAsyncBatchBLTA: 50 documents submitted asynchronously at XAdES B-LTA, over the three
// bindings, all complete; every signature is accepted by the independent verifiers.
func TestAsyncBatchBLTA(t *testing.T) {
	s := start(t)
	interop.Require(t)
	alice := s.token("alice")
	dir := t.TempDir()
	run := time.Now().UnixNano()
	const n = 50
	type sub struct {
		name, reqID, id string
		via             binding
		doc             []byte
	}
	subs := make([]sub, n)
	var responses []string
	for i := range n {
		sb := sub{name: fmt.Sprintf("batch-%02d", i), via: binding(i % 3)}
		sb.reqID = fmt.Sprintf("%s-%d", sb.name, run)
		sb.doc = []byte(fmt.Sprintf(`<Invoice xmlns="urn:example:invoice:2"><Id>%d</Id><Total>%d.00</Total></Invoice>`, i, 100+i))
		c := signCase{sigType: xadesURI, placement: "enveloping", alg: ecdsaSHA256, cred: "alice-ec"}
		req := withProfiles(asyncByOption(signRequestXML(sb.reqID, c, sb.doc)), "urn:dssd:level:B-LTA")
		sb.id = submitAsync(t, s.client, s.dev.URL, sb.via, alice, req, sb.reqID, dir, &responses)
		subs[i] = sb
	}
	// Polled one after the other: the jobs run meanwhile on the server's workers.
	var cases []interop.Case
	for _, sb := range subs {
		raw := awaitDone(t, s.client, s.dev.URL, viaPOST, alice, sb.id, 5*time.Minute)
		root, r := parseResponse(t, raw)
		if !r.ok() {
			t.Errorf("%s: %s %s: %s", sb.name, r.major, r.minor, r.message)
			continue
		}
		sig := decodeValue(t, find(root, nsDSS2, "Base64Signature"))
		if !bytes.Contains(sig, []byte(":ArchiveTimeStamp")) {
			t.Errorf("%s: no ArchiveTimeStamp", sb.name)
		}
		responses = append(responses, writeOut(t, filepath.Join(dir, sb.name+".response.xml"), raw))
		file := writeOut(t, filepath.Join(dir, sb.name+".xml"), sig)
		cases = append(cases, interop.Case{Name: sb.name, File: file, Cert: s.certFile(t, "alice-ec"), XAdES: true, Alg: ecdsaSHA256})
	}
	if t.Failed() {
		return
	}
	if len(cases) != n {
		t.Fatalf("%d of %d jobs completed", len(cases), n)
	}
	validateResponses(t, dir, responses)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], true)
	}
}

// TestCLISignAsync: `dss sign --async` submits with EnforceAsynchronousProcessing, reports the
// accepted job, polls until the result is there and writes a signature the independent
// verifiers accept; the detached signature's data is the file itself.
func TestCLISignAsync(t *testing.T) {
	s := start(t)
	interop.Require(t)
	dir := t.TempDir()
	content := readFile(t, "../../testdata/documents/invoice.xml")
	doc := writeOut(t, filepath.Join(dir, "invoice.xml"), content)
	out := filepath.Join(dir, "invoice-async.sig.xml")
	cmd := exec.Command(s.cli, "sign", "--dev", "--dev-dir", s.devDir, "--credential", "alice-rsa", "--async",
		"--level", "B-T", "--placement", "detached", "--out", out, doc)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dss sign --async: %v\n%s", err, b)
	}
	if m := regexp.MustCompile(`accepted as asynchronous request ([0-9a-f]{32})`).FindSubmatch(b); m == nil {
		t.Errorf("dss sign --async did not report the accepted job:\n%s", b)
	}
	if !bytes.Contains(readFile(t, out), []byte("SignatureTimeStamp")) {
		t.Error("the B-T signature has no SignatureTimeStamp")
	}
	verifyFiles(t, []interop.Case{{Name: "cli-async", File: out, Cert: s.certFile(t, "alice-rsa"), XAdES: true,
		Detached: map[string]string{"invoice.xml": doc}}})
}

// jobAudit reads the audit log of the node configured by cfg for the request key and reports
// whether it holds a submission (Pending) whose detail contains submitDetail and a successful
// signing whose detail contains signDetail; recs are the key's records.
func jobAudit(t *testing.T, cfg, key, submitDetail, signDetail string) (submitted, signed bool, recs []store.Record) {
	t.Helper()
	recs = byRequestID(auditRecords(t, cfg), key)
	for _, r := range recs {
		switch {
		case r.Action == dss.AuditSubmit && r.Major == majorPending && strings.Contains(r.Detail, submitDetail):
			submitted = true
		case r.Action == dss.AuditSign && r.Major == dss.MajorSuccess && strings.Contains(r.Detail, signDetail):
			signed = true
		}
	}
	return submitted, signed, recs
}
