package csc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"dssd/dss"
)

type fakeJob struct {
	owner string
	req   *dss.SignRequest
	resp  *dss.SignResponse
	done  bool
}

// submit stores an asynchronous request as a job of c (f.mu held) that finishes with resp
// once the test marks it done.
func (f *fakeService) submit(c dss.Caller, req *dss.SignRequest, resp *dss.SignResponse) *dss.SignResponse {
	if f.jobs == nil {
		f.jobs = map[string]*fakeJob{}
	}
	id := fmt.Sprintf("%032x", len(f.jobs)+1)
	f.jobs[id] = &fakeJob{owner: c.User, req: req, resp: resp}
	return &dss.SignResponse{ResponseID: id, Result: dss.Result{Major: dss.MajorPending}}
}

func (f *fakeService) finish(id string, resp *dss.SignResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if resp != nil {
		f.jobs[id].resp = resp
	}
	f.jobs[id].done = true
}

func asyncOn(o *Options) { o.Async = true }

func TestAsyncSignHash(t *testing.T) {
	f := setup(t, asyncOn)
	h1, h2 := digestOf("one"), digestOf("two")
	body := fmt.Sprintf(`{"credentialID":"alice-qes","SAD":%q,"hashes":[%q,%q],"signAlgo":%q,"operationMode":"A","validity_period":60000,"clientData":"c-1"}`,
		testSAD, b64(h1), b64(h2), OIDSHA256WithRSA)
	a := f.call(t, "signatures/signHash", aliceToken, body)
	if a.status != 202 {
		t.Fatalf("signHash A: %d %s", a.status, a.body)
	}
	id, _ := a.json["responseID"].(string)
	if id == "" || a.json["signatures"] != nil {
		t.Fatalf("async answer: %s", a.body)
	}
	req := f.svc.jobs[id].req
	if !req.Options.Async || req.Options.AsyncRetention != time.Minute || req.Tag != tagSignHash || req.RequestID != "c-1" {
		t.Errorf("submitted request: Async %v, retention %v, tag %q, RequestID %q", req.Options.Async, req.Options.AsyncRetention, req.Tag, req.RequestID)
	}
	if ci := req.Options.ClaimedIdentity; ci == nil || string(ci.SupportingInfo) != testSAD {
		t.Error("the SAD did not reach the service with the submission")
	}

	poll := func(token, id string) answer {
		return f.call(t, "signatures/signPolling", token, fmt.Sprintf(`{"responseID":%q}`, id))
	}
	// Pending: the CSC "not yet completed" answer.
	p := poll(aliceToken, id)
	p.wantError(t, 400, ErrInvalidRequest, PendingDescription)
	// Another user, an unknown id, junk: one answer.
	unknown := poll(bobToken, id)
	unknown.wantError(t, 400, ErrInvalidRequest, "")
	for _, other := range []answer{poll(aliceToken, strings.Repeat("ab", 16)), poll(aliceToken, "../x")} {
		if string(other.body) != string(unknown.body) {
			t.Errorf("unknown id answered %s, foreign id %s", other.body, unknown.body)
		}
	}
	if strings.Contains(string(unknown.body), "completed") {
		t.Errorf("a foreign id is answered as pending: %s", unknown.body)
	}

	f.svc.finish(id, nil)
	done := poll(aliceToken, id)
	if done.status != 200 {
		t.Fatalf("poll after completion: %d %s", done.status, done.body)
	}
	want := []any{b64(append([]byte("sig:"), h1...)), b64(append([]byte("sig:"), h2...))}
	if fmt.Sprint(done.json["signatures"]) != fmt.Sprint(want) {
		t.Errorf("signatures = %v, want %v", done.json["signatures"], want)
	}
	// requestID (TS 119 432 V1.1.1) is an alias.
	if a := f.call(t, "signatures/signPolling", aliceToken, fmt.Sprintf(`{"requestID":%q}`, id)); a.status != 200 {
		t.Errorf("poll by requestID: %d %s", a.status, a.body)
	}
	// Still bob's unknown after completion.
	if b := poll(bobToken, id); string(b.body) != string(unknown.body) {
		t.Errorf("foreign finished job answered %s", b.body)
	}
}

func TestAsyncSignDocAndFailures(t *testing.T) {
	f := setup(t, asyncOn)
	doc := []byte("<invoice><id>1</id></invoice>")
	body := fmt.Sprintf(`{"credentialID":"alice-ec","operationMode":"A","documents":[{"document":%q,"signature_format":"X","signAlgo":%q,"signed_envelope_property":"Enveloping"}]}`,
		b64(doc), OIDECDSASHA256)
	a := f.call(t, "signatures/signDoc", aliceToken, body)
	if a.status != 202 {
		t.Fatalf("signDoc A: %d %s", a.status, a.body)
	}
	id := a.json["responseID"].(string)
	f.svc.finish(id, nil)
	p := f.call(t, "signatures/signPolling", aliceToken, fmt.Sprintf(`{"responseID":%q}`, id))
	if p.status != 200 || fmt.Sprint(p.json["DocumentWithSignature"]) != fmt.Sprint([]any{b64(append([]byte("xsig:"), doc...))}) {
		t.Errorf("enveloping poll: %d %s", p.status, p.body)
	}

	// A job that failed: its error, with the job's problem reference for server errors.
	a = f.call(t, "signatures/signDoc", aliceToken, body)
	id = a.json["responseID"].(string)
	f.svc.finish(id, &dss.SignResponse{Result: dss.ResultOf(dss.Errorf(dss.KindAuthorityUnavailable, "the timestamp authority did not answer"), "job-ref-1")})
	p = f.call(t, "signatures/signPolling", aliceToken, fmt.Sprintf(`{"responseID":%q}`, id))
	p.wantError(t, 503, ErrTemporarilyUnavailable, "the timestamp authority did not answer (problem reference job-ref-1)")

	h := digestOf("x")
	bad := []struct {
		name, body string
		status     int
		want       string
	}{
		{"bad mode", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"operationMode":"X"}`, b64(h), OIDECDSASHA256), 400, `operationMode`},
		{"response_uri", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"operationMode":"A","response_uri":"https://client.example/cb"}`, b64(h), OIDECDSASHA256), 400, "response_uri is not supported"},
		{"validity without A", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"validity_period":1000}`, b64(h), OIDECDSASHA256), 400, `operationMode "A" only`},
		{"validity zero", fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"operationMode":"A","validity_period":0}`, b64(h), OIDECDSASHA256), 400, "validity_period"},
	}
	n := len(f.svc.signs)
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			f.call(t, "signatures/signHash", aliceToken, tt.body).wantError(t, tt.status, ErrInvalidRequest, tt.want)
		})
	}
	if len(f.svc.signs) != n {
		t.Errorf("%d refused requests reached Sign", len(f.svc.signs)-n)
	}
	f.call(t, "signatures/signPolling", aliceToken, `{}`).wantError(t, 400, ErrInvalidRequest, "responseID")
}

func TestAsyncOff(t *testing.T) {
	f := setup(t, nil)
	h := digestOf("x")
	f.call(t, "signatures/signHash", aliceToken, fmt.Sprintf(`{"credentialID":"alice-ec","hashes":[%q],"signAlgo":%q,"operationMode":"A"}`, b64(h), OIDECDSASHA256)).
		wantError(t, 400, ErrInvalidRequest, "asynchronous")
	f.call(t, "signatures/signPolling", aliceToken, `{"responseID":"00"}`).wantError(t, 400, ErrInvalidRequest, "not enabled")
	info := f.call(t, "info", "", "")
	if info.json["asynchronousOperationMode"] != false || strings.Contains(fmt.Sprint(info.json["methods"]), MethodSignPolling) {
		t.Errorf("info without async: %s", info.body)
	}
	on := setup(t, asyncOn).call(t, "info", "", "")
	if on.json["asynchronousOperationMode"] != true || !strings.Contains(fmt.Sprint(on.json["methods"]), MethodSignPolling) {
		t.Errorf("info with async: %s", on.body)
	}
}
