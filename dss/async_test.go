package dss

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"dssd/dss/sad"
)

// memJobs is an in-memory JobStore for the unit tests of the fault paths; the real stores
// pass internal/testkit/storetest and the end-to-end tests in cmd/dssd.
type memJobs struct {
	mu     sync.Mutex
	jobs   map[string]*Job
	claims map[string]string
	leases map[string]time.Time
}

func newMemJobs() *memJobs {
	return &memJobs{jobs: map[string]*Job{}, claims: map[string]string{}, leases: map[string]time.Time{}}
}

func (m *memJobs) SubmitJob(_ context.Context, j *Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *j
	c.State = JobQueued
	m.jobs[j.ID] = &c
	return nil
}

func (m *memJobs) ClaimJob(_ context.Context, claim string, now, leaseUntil time.Time) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, j := range m.jobs {
		if j.Expires.After(now) && (j.State == JobQueued || j.State == JobRunning && m.leases[id].Before(now)) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Slice(ids, func(a, b int) bool { return m.jobs[ids[a]].Created.Before(m.jobs[ids[b]].Created) })
	j := m.jobs[ids[0]]
	j.State, j.Attempts = JobRunning, j.Attempts+1
	m.claims[j.ID], m.leases[j.ID] = claim, leaseUntil
	c := *j
	return &c, nil
}

func (m *memJobs) RenewJob(_ context.Context, id, claim string, leaseUntil time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j := m.jobs[id]; j == nil || j.State != JobRunning || m.claims[id] != claim {
		return false, nil
	}
	m.leases[id] = leaseUntil
	return true, nil
}

func (m *memJobs) FinishJob(_ context.Context, id, claim string, response []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil || j.State != JobRunning || m.claims[id] != claim {
		return false, nil
	}
	j.State, j.Response, j.Payload = JobDone, response, nil
	return true, nil
}

func (m *memJobs) LoadJob(_ context.Context, id string, now time.Time) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil || !j.Expires.After(now) {
		return nil, nil
	}
	c := *j
	c.Payload = nil
	return &c, nil
}

func (m *memJobs) OpenJobs(_ context.Context, owner string, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, j := range m.jobs {
		if j.Owner == owner && j.State != JobDone && j.Expires.After(now) {
			n++
		}
	}
	return n, nil
}

func (m *memJobs) PurgeJobs(_ context.Context, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, j := range m.jobs {
		if !j.Expires.After(now) {
			delete(m.jobs, id)
			n++
		}
	}
	return n, nil
}

// tamper rewrites the stored payload of job id with alter.
func (m *memJobs) tamper(t *testing.T, id string, alter func(t *testing.T, payload []byte) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil {
		t.Fatalf("no job %s", id)
	}
	j.Payload = alter(t, j.Payload)
}

func asyncFixture(t *testing.T, maxOpen int) (*fixture, *memJobs, *memAudit) {
	t.Helper()
	f := newFixture(t)
	a, err := sad.New(sad.Config{Key: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	audit := &memAudit{}
	f.svc.sad, f.svc.audit = a, audit
	jobs := newMemJobs()
	if err := f.svc.EnableAsync(AsyncConfig{Jobs: jobs, MaxOpenPerUser: maxOpen, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	return f, jobs, audit
}

func asyncRequest(id string) *SignRequest {
	return &SignRequest{RequestID: id, Profiles: []string{ProfileAsync}, Documents: []Document{doc("d1")},
		Options: SignOptions{CredentialID: "alice-rsa", IncludeObjects: []IncludeObject{{WhichData: "d1", CreateReference: true}}}}
}

// runOne claims and runs the next job as a worker does; it returns the job.
func runOne(t *testing.T, f *fixture, jobs *memJobs) *Job {
	t.Helper()
	now := f.svc.clock()
	j, err := jobs.ClaimJob(context.Background(), "c-"+t.Name(), now, now.Add(time.Minute))
	if err != nil || j == nil {
		t.Fatalf("no job to claim: %v", err)
	}
	f.svc.runJob(context.Background(), j, "c-"+t.Name())
	return j
}

func TestAsyncSubmitPollRun(t *testing.T) {
	f, jobs, audit := asyncFixture(t, 10)
	ctx := context.Background()
	resp, err := f.svc.Sign(ctx, alice, asyncRequest("r1"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result.Major != MajorPending || resp.RequestID != "r1" || len(resp.ResponseID) != 32 || len(resp.Signatures) != 0 {
		t.Fatalf("submission answered %+v", resp)
	}
	if f.calls() != 0 {
		t.Fatal("signed at submission")
	}
	if ev := audit.last(t); ev.Action != AuditSubmit || ev.Major != MajorPending || !strings.Contains(ev.Detail, resp.ResponseID) {
		t.Errorf("submission audit %+v", ev)
	}
	id := resp.ResponseID
	p, err := f.svc.Pending(ctx, alice, &PendingRequest{RequestID: id})
	if err != nil || p.Result.Major != MajorPending || p.ResponseID != id {
		t.Fatalf("poll before the run: %+v, %v", p, err)
	}
	for _, probe := range []struct {
		c  Caller
		id string
	}{{Caller{User: "bob", Via: "token"}, id}, {alice, strings.Repeat("0", 32)}, {alice, "not-hex"}, {Caller{}, id}} {
		if _, err := f.svc.Pending(ctx, probe.c, &PendingRequest{RequestID: probe.id}); KindOf(err) != KindResponseIDUnknown {
			t.Errorf("poll %q by %q: %v; want ResponseID unknown", probe.id, probe.c.User, err)
		}
	}
	runOne(t, f, jobs)
	if f.calls() != 1 {
		t.Errorf("%d device calls; want 1", f.calls())
	}
	p, err = f.svc.Pending(ctx, alice, &PendingRequest{RequestID: id})
	if err != nil || p.Result.Major != MajorSuccess || p.ResponseID != id || p.RequestID != "r1" || len(p.Signatures) != 1 {
		t.Fatalf("poll after the run: %+v, %v", p, err)
	}
	if ev := audit.last(t); ev.Action != AuditSign || ev.Major != MajorSuccess || !strings.Contains(ev.Detail, id+", attempt 1") {
		t.Errorf("completion audit %+v", ev)
	}
	if _, err := f.svc.Pending(ctx, Caller{User: "bob"}, &PendingRequest{RequestID: id}); KindOf(err) != KindResponseIDUnknown {
		t.Errorf("bob polls a finished job of alice: %v", err)
	}
}

func TestAsyncRefusals(t *testing.T) {
	f, _, audit := asyncFixture(t, 1)
	ctx := context.Background()
	// Checked at submission: a foreign credential is refused at once, no job.
	bad := asyncRequest("r-bad")
	bad.Options.CredentialID = "bob-rsa"
	if _, err := f.svc.Sign(ctx, alice, bad); KindOf(err) != KindKeyLookup {
		t.Errorf("foreign credential at submission: %v", err)
	}
	if ev := audit.last(t); ev.Action != AuditKeyLookup {
		t.Errorf("refused submission audited as %+v", ev)
	}
	if _, err := f.svc.Sign(ctx, alice, asyncRequest("r1")); err != nil {
		t.Fatal(err)
	}
	// One open job per user here.
	if _, err := f.svc.Sign(ctx, alice, asyncRequest("r2")); KindOf(err) != KindLimit {
		t.Errorf("second open job: %v; want limit", err)
	}
	// EnforceAsynchronousProcessing=false with no profile is synchronous.
	sync := asyncRequest("r-sync")
	sync.Profiles = nil
	if resp, err := f.svc.Sign(ctx, alice, sync); err != nil || resp.Result.Major != MajorSuccess {
		t.Errorf("synchronous request: %+v, %v", resp, err)
	}
}

// TestAsyncTamperedJob: a job altered in the store is not signed: ResponderError, audited.
// Altered are the request (its MAC does not verify) or the envelope (the same payload and MAC
// in another JSON form, which json.Unmarshal would read: not what sealJob writes).
func TestAsyncTamperedJob(t *testing.T) {
	for _, tc := range []struct {
		name, detail string
		alter        func(t *testing.T, payload []byte) []byte
	}{
		{"request", "MAC", func(_ *testing.T, payload []byte) []byte {
			return bytes.Replace(payload, []byte("alice-rsa"), []byte("alice-ec\x20"), 1)
		}},
		{"envelope", "not a sealed job", func(t *testing.T, payload []byte) []byte {
			var env jobEnvelope
			if err := json.Unmarshal(payload, &env); err != nil {
				t.Fatal(err)
			}
			return []byte(`{"MAC":"` + base64.StdEncoding.EncodeToString(env.MAC) + `","Payload":` + string(env.Payload) + `}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, jobs, audit := asyncFixture(t, 10)
			ctx := context.Background()
			resp, err := f.svc.Sign(ctx, alice, asyncRequest("r1"))
			if err != nil {
				t.Fatal(err)
			}
			jobs.tamper(t, resp.ResponseID, tc.alter)
			runOne(t, f, jobs)
			if f.calls() != 0 {
				t.Error("a job altered in the store was signed")
			}
			p, err := f.svc.Pending(ctx, alice, &PendingRequest{RequestID: resp.ResponseID})
			if err != nil || p.Result.Major != MajorResponderError || p.ResponseID != resp.ResponseID {
				t.Errorf("tampered job answered %+v, %v", p, err)
			}
			if ev := audit.last(t); ev.Action != AuditSign || ev.Major != MajorResponderError || !strings.Contains(ev.Detail, tc.detail) {
				t.Errorf("tampered job audit %+v", ev)
			}
		})
	}
}

func TestAsyncAbandonedAfterAttempts(t *testing.T) {
	f, jobs, _ := asyncFixture(t, 10)
	ctx := context.Background()
	resp, err := f.svc.Sign(ctx, alice, asyncRequest("r1"))
	if err != nil {
		t.Fatal(err)
	}
	now := f.svc.clock()
	// Two claims whose node died (MaxAttempts 2), then the third run gives up.
	for i := range 2 {
		if j, _ := jobs.ClaimJob(ctx, "dead", now.Add(time.Duration(i)*time.Hour), now.Add(time.Duration(i)*time.Hour+time.Minute)); j == nil {
			t.Fatal("job not claimable")
		}
	}
	j, _ := jobs.ClaimJob(ctx, "third", now.Add(2*time.Hour), now.Add(3*time.Hour))
	if j == nil || j.Attempts != 3 {
		t.Fatalf("third claim: %+v", j)
	}
	f.svc.runJob(ctx, j, "third")
	if f.calls() != 0 {
		t.Error("signed on an attempt beyond the limit")
	}
	p, err := f.svc.Pending(ctx, alice, &PendingRequest{RequestID: resp.ResponseID})
	if err != nil || p.Result.Major != MajorResponderError {
		t.Errorf("abandoned job answered %+v, %v", p, err)
	}
}

func TestAsyncDisabled(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Sign(context.Background(), alice, asyncRequest("r1")); KindOf(err) != KindNotSupported {
		t.Errorf("async request without async: %v", err)
	}
	if _, err := f.svc.Pending(context.Background(), alice, &PendingRequest{RequestID: strings.Repeat("a", 32)}); KindOf(err) != KindNotSupported {
		t.Errorf("poll without async: %v", err)
	}
}

// A request's AsyncRetention (CSC validity_period) shortens the job's life, never lengthens
// it past the configured retention; the request's Tag comes back with the answer.
func TestAsyncRetentionAndTag(t *testing.T) {
	f, jobs, _ := asyncFixture(t, 10)
	ctx := context.Background()
	for _, tt := range []struct {
		asked, want time.Duration
	}{{0, DefaultAsyncRetention}, {90 * time.Second, 90 * time.Second}, {48 * time.Hour, DefaultAsyncRetention}} {
		req := asyncRequest("r")
		req.Options.AsyncRetention, req.Tag = tt.asked, "binding:shape"
		resp, err := f.svc.Sign(ctx, alice, req)
		if err != nil {
			t.Fatal(err)
		}
		j := jobs.jobs[resp.ResponseID]
		if got := j.Expires.Sub(j.Created); got != tt.want {
			t.Errorf("retention asked %v: job kept %v, want %v", tt.asked, got, tt.want)
		}
		runOne(t, f, jobs)
		p, err := f.svc.Pending(ctx, alice, &PendingRequest{RequestID: resp.ResponseID})
		if err != nil || p.Result.Major != MajorSuccess || p.Tag != "binding:shape" {
			t.Errorf("answer %+v, %v; want Success with the request's Tag", p, err)
		}
	}
	// A stored failure Result maps back to an error that answers the same Result (the same
	// Kind, or one sharing its ResultMajor, ResultMinor and message), marked as audited.
	for k := range kindCount {
		stored := ResultOf(Errorf(k, "x"), "ref")
		err := JobFailure(stored)
		again := ResultOf(err, "ref")
		if again.Major != stored.Major || again.Minor != stored.Minor || again.Message != stored.Message || !Audited(err) {
			t.Errorf("JobFailure(kind %v) = %v (kind %v, audited %v): answers %+v, want %+v", k, err, KindOf(err), Audited(err), again, stored)
		}
	}
	if err := JobFailure(ResultOf(Errorf(KindCredentialDisabled, "x"), "ref")); KindOf(err) != KindCredentialDisabled {
		t.Errorf("a disabled credential's job failure came back as kind %v", KindOf(err))
	}
	if JobFailure(Result{Major: MajorSuccess}) != nil || JobFailure(Result{Major: MajorPending}) != nil {
		t.Error("JobFailure of Success or Pending is not nil")
	}
}

// jobEnvelope is the stored payload as encoding/json would write and read it: the reference
// for sealJob and openJob.
type jobEnvelope struct {
	Payload json.RawMessage
	MAC     []byte
}

// TestSealJob: the stored payload is, byte for byte, what json.Marshal writes for its
// envelope, for requests with text json.Marshal escapes (HTML, U+2028) and binary data, and
// openJob gives back the payload and the MAC.
func TestSealJob(t *testing.T) {
	a, err := sad.New(sad.Config{Key: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r1", `<a href="x">&amp;</a>` + "\u2028\u2029\x00\xff", `","MAC":"`, ""} {
		req := asyncRequest(id)
		req.Documents[0].Data = append([]byte(id), 0, 1, 0xfe, 0xff)
		p, err := json.Marshal(jobPayload{Version: jobPayloadVersion, Request: req, Via: "token", ProblemRef: id})
		if err != nil {
			t.Fatal(err)
		}
		mac := a.JobMAC("0123", "alice", p)
		want, err := json.Marshal(jobEnvelope{Payload: p, MAC: mac})
		if err != nil {
			t.Fatal(err)
		}
		env := sealJob(p, mac)
		if !bytes.Equal(env, want) {
			t.Errorf("RequestID %q: sealJob wrote\n%s\njson.Marshal writes\n%s", id, env, want)
		}
		gotP, gotMAC, err := openJob(env)
		if err != nil || !bytes.Equal(gotP, p) || !bytes.Equal(gotMAC, mac) {
			t.Errorf("RequestID %q: openJob: %v; payload equal %v, MAC equal %v", id, err, bytes.Equal(gotP, p), bytes.Equal(gotMAC, mac))
		}
	}
}

// TestOpenJobRefuses: a stored payload that is not exactly what sealJob writes is refused,
// even when encoding/json would read the same payload and MAC from it.
func TestOpenJobRefuses(t *testing.T) {
	env := string(sealJob([]byte(`{"Version":1}`), []byte("0123456789abcdef0123456789abcdef")))
	for _, bad := range []string{
		"", "{}", "null", env[:len(env)-1], env + " ", " " + env, env + "\n",
		strings.Replace(env, `{"Payload":`, `{ "Payload":`, 1),
		strings.Replace(env, `{"Payload":`, `{"payload":`, 1),
		strings.Replace(env, `"MAC":"`, `"MAC": "`, 1),
		strings.Replace(env, `,"MAC":"`, `,"MAC":"!`, 1),
		`{"MAC":"MDEyMw==","Payload":{"Version":1}}`,
		`{"Payload":{"Version":1}"}`,
		strings.Replace(env, `,"MAC":"`, `,"MAC":"`+strings.Repeat("AAAA", 1<<10), 1), // a MAC no JobMAC writes
		strings.Replace(env, `,"MAC":"`, `,"MAC":"`+"\r\n", 1),                        // skipped by the base64 decoder
	} {
		if p, mac, err := openJob([]byte(bad)); err == nil {
			t.Errorf("%q opened as %q, %x", bad, p, mac)
		}
	}
}
