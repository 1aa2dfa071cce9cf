package dss

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"dssd/internal/positive"
)

// Asynchronous processing (DSS-X 2.0 §7, interface.md §8, protocol.md §5).
//
// A SignRequest with EnforceAsynchronousProcessing or the asynchronous profile is checked
// completely at submission, as a synchronous one is, up to and including the signature
// activation of a SCAL2 credential (the SAD is checked and consumed in the signer's
// presence, then dropped); it is then stored as a job in the shared store and answered
// Pending with a fresh 128-bit ResponseID. Workers on every node claim jobs through the
// store (row locks, a lease renewed while the job runs), sign, record the audit event and
// store the complete SignResponse, which a PendingRequest of the submitting user then
// returns. A job whose node died is claimed again once its lease has lapsed; a job that ends
// attempts without finishing is answered with a ResponderError.

// ProfileAsync is the dsb:Profile of the asynchronous processing profile.
const ProfileAsync = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:1.0"

// MinorResponseIDUnknown answers a PendingRequest for an id that is unknown, expired or not
// the caller's.
const MinorResponseIDUnknown = "urn:oasis:names:tc:dss:1.0:profiles:asynchronousprocessing:resultminor:ResponseIdUnknown"

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
)

// Job is one asynchronous signing request in the store.
type Job struct {
	ID        string // the ResponseID: 32 hex digits of crypto/rand
	Owner     string // the submitting user; nobody else may retrieve it
	RequestID string // the client's RequestID, echoed while pending
	State     string // JobQueued, JobRunning, JobDone
	Payload   []byte // the request as the worker runs it (opaque to the store; dropped when done)
	Response  []byte // the final SignResponse (opaque to the store), once done
	Attempts  int    // claims so far, this one included
	Created   time.Time
	Expires   time.Time // after this the job is unknown and may be deleted
}

// JobStore keeps asynchronous jobs, shared by every node (dss/store implements it).
type JobStore interface {
	// SubmitJob stores a new queued job (ID, Owner, RequestID, Payload, Created, Expires).
	SubmitJob(ctx context.Context, j *Job) error
	// ClaimJob takes the oldest unexpired job that is queued, or running with a lease that
	// ended before now, marks it running under claim until leaseUntil and counts the attempt.
	// At most one caller wins a job (row locks); nil, nil when there is none.
	ClaimJob(ctx context.Context, claim string, now, leaseUntil time.Time) (*Job, error)
	// RenewJob extends the lease of a job still held under claim; false when it is not.
	RenewJob(ctx context.Context, id, claim string, leaseUntil time.Time) (bool, error)
	// FinishJob stores the response of a job still held under claim, marks it done and drops
	// its payload; false when the claim was lost (another node holds the job now).
	FinishJob(ctx context.Context, id, claim string, response []byte) (bool, error)
	// LoadJob returns the job without its payload; nil, nil when it is unknown or expired.
	LoadJob(ctx context.Context, id string, now time.Time) (*Job, error)
	// OpenJobs counts the owner's unexpired jobs that are not done.
	OpenJobs(ctx context.Context, owner string, now time.Time) (int, error)
	// PurgeJobs deletes the jobs that expired before now and returns how many.
	PurgeJobs(ctx context.Context, now time.Time) (int64, error)
}

// AsyncConfig enables asynchronous processing. Zero values get the defaults.
type AsyncConfig struct {
	Jobs           JobStore
	Workers        int           // concurrent jobs on this node; default 2; 0 < Workers
	Lease          time.Duration // a claim's lease, renewed every third of it; default 2 min
	Retention      time.Duration // how long a job (and its answer) is kept; default 24 h
	MaxOpenPerUser int           // unfinished jobs per user; default 100
	Poll           time.Duration // how often an idle worker asks the store; default 1 s
	MaxAttempts    int           // claims before a job is answered with a ResponderError; default 3
	JobTimeout     time.Duration // bound on one run of one job; default 10 min
}

// Defaults of AsyncConfig.
const (
	DefaultAsyncWorkers     = 2
	DefaultAsyncLease       = 2 * time.Minute
	DefaultAsyncRetention   = 24 * time.Hour
	DefaultAsyncMaxOpen     = 100
	DefaultAsyncPoll        = time.Second
	DefaultAsyncMaxAttempts = 3
	DefaultAsyncJobTimeout  = 10 * time.Minute
	asyncShutdownGrace      = 10 * time.Second
	asyncPurgeInterval      = time.Minute
	maxJobIDLen             = 64
)

type asyncState struct {
	cfg  AsyncConfig
	wake chan struct{} // capacity Workers: a job was submitted on this node
}

// EnableAsync turns asynchronous processing on; call it before serving. Jobs are run by
// RunJobs. It needs the SAD authority (its key authenticates stored jobs).
func (s *Service) EnableAsync(cfg AsyncConfig) error {
	if cfg.Jobs == nil {
		return errors.New("dss: asynchronous processing needs a job store")
	}
	if s.sad == nil {
		return errors.New("dss: asynchronous processing needs the SAD authority (its key authenticates stored jobs)")
	}
	positive.Or(&cfg.Lease, DefaultAsyncLease)
	positive.Or(&cfg.Retention, DefaultAsyncRetention)
	positive.Or(&cfg.Poll, DefaultAsyncPoll)
	positive.Or(&cfg.JobTimeout, DefaultAsyncJobTimeout)
	positive.Or(&cfg.Workers, DefaultAsyncWorkers)
	positive.Or(&cfg.MaxOpenPerUser, DefaultAsyncMaxOpen)
	positive.Or(&cfg.MaxAttempts, DefaultAsyncMaxAttempts)
	s.async = &asyncState{cfg: cfg, wake: make(chan struct{}, cfg.Workers)}
	return nil
}

// AsyncEnabled reports whether EnableAsync was called.
func (s *Service) AsyncEnabled() bool { return s.async != nil }

// asyncRequested reports whether req asks for asynchronous processing and returns its
// profiles without the asynchronous one.
func asyncRequested(req *SignRequest) (bool, []string) {
	async := req.Options.Async
	var rest []string
	for _, p := range req.Profiles {
		if p == ProfileAsync {
			async = true
			continue
		}
		rest = append(rest, p)
	}
	return async, rest
}

// jobPayload is what a worker runs: the request (without its SAD) and who sent it.
type jobPayload struct {
	Version    int
	Request    *SignRequest
	Via        string
	Activated  bool // the SCAL2 activation was checked and consumed at submission
	ProblemRef string
}

const jobPayloadVersion = 1

// The stored payload of a job is the JSON object {"Payload":<jobPayload as JSON>,"MAC":"<its
// MAC (sad.Authority.JobMAC) in base64>"}, exactly as json.Marshal writes it for a struct of
// those two fields (a json.RawMessage and a []byte).
const jobHead, jobMid, jobTail = `{"Payload":`, `,"MAC":"`, `"}`

// maxJobMAC bounds the MAC openJob decodes from the untrusted store (sad.Authority.JobMAC
// writes 32 bytes), so that its allocation does not follow the stored payload's length.
const maxJobMAC = 64

// sealJob returns the stored payload of p (json.Marshal's output) and its MAC. Written
// directly, not by json.Marshal: that would scan p once more (a json.RawMessage is compacted
// and checked), half the CPU of a submission.
func sealJob(p, mac []byte) []byte {
	env := make([]byte, 0, len(jobHead)+len(p)+len(jobMid)+base64.StdEncoding.EncodedLen(len(mac))+len(jobTail))
	env = append(append(env, jobHead...), p...)
	env = base64.StdEncoding.AppendEncode(append(env, jobMid...), mac)
	return append(env, jobTail...)
}

// openJob splits a stored payload into the jobPayload's JSON and its MAC, which the caller
// checks before it reads that JSON. The store is not trusted: anything but what sealJob
// writes is an error. It reads only the envelope's ends; json.Unmarshal of the envelope would
// scan the payload twice (to check it, then to skip it) before its own decoding.
func openJob(env []byte) (p, mac []byte, err error) {
	rest, head := bytes.CutPrefix(env, []byte(jobHead))
	rest, tail := bytes.CutSuffix(rest, []byte(jobTail))
	i := bytes.LastIndex(rest, []byte(jobMid)) // the base64 of the MAC holds no '"'
	if !head || !tail || i < 0 {
		return nil, nil, errors.New("not a sealed job")
	}
	enc := rest[i+len(jobMid):]
	if len(enc) > base64.StdEncoding.EncodedLen(maxJobMAC) {
		return nil, nil, fmt.Errorf("its MAC: more than %d bytes", maxJobMAC)
	}
	if mac, err = base64.StdEncoding.AppendDecode(nil, enc); err != nil {
		return nil, nil, fmt.Errorf("its MAC: %w", err)
	}
	if len(enc) != base64.StdEncoding.EncodedLen(len(mac)) { // the decoder skips '\r' and '\n'
		return nil, nil, errors.New("its MAC: not in the form sealJob writes")
	}
	return rest[:i], mac, nil
}

// submit answers an asynchronous SignRequest: Pending with the job's id, or an error.
func (s *Service) submit(ctx context.Context, c Caller, req *SignRequest) (*SignResponse, error) {
	ev := s.event(ctx, c, AuditSubmit, req.RequestID, req.Options.CredentialID)
	resp, err := s.submitJob(ctx, c, req, &ev)
	if err == nil {
		ev.Major = MajorPending
	}
	if err = s.record(ctx, &ev, err); err != nil {
		return nil, err
	}
	s.wakeWorker()
	return resp, nil
}

func (s *Service) submitJob(ctx context.Context, c Caller, req *SignRequest, ev *AuditEvent) (*SignResponse, error) {
	a := s.async
	if a == nil {
		return nil, Errorf(KindNotSupported, "asynchronous processing (EnforceAsynchronousProcessing, profile %s) is not enabled on this service", ProfileAsync)
	}
	now := s.clock()
	open, err := a.cfg.Jobs.OpenJobs(ctx, c.User, now)
	if err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("count jobs: %w", err), "")
	}
	if open >= a.cfg.MaxOpenPerUser {
		return nil, Errorf(KindLimit, "%d asynchronous requests of this user are unfinished; the limit is %d", open, a.cfg.MaxOpenPerUser)
	}
	_, cred, err := s.prepare(ctx, c, req, ev, false)
	if err != nil {
		return nil, err
	}
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	id := hex.EncodeToString(b[:])
	stored := *req
	stored.Options.ClaimedIdentity = nil // the SAD was consumed; it is never stored
	stored.Options.Async = false
	stored.Options.AsyncRetention = 0
	p, err := json.Marshal(jobPayload{
		Version: jobPayloadVersion, Request: &stored, Via: c.Via,
		Activated: cred.SCAL >= 2, ProblemRef: ev.ProblemRef,
	})
	if err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	env := sealJob(p, s.sad.JobMAC(id, c.User, p))
	retention := a.cfg.Retention
	if r := req.Options.AsyncRetention; r > 0 && r < retention {
		retention = r
	}
	j := &Job{
		ID: id, Owner: c.User, RequestID: req.RequestID, State: JobQueued, Payload: env,
		Created: now.UTC(), Expires: now.Add(retention).UTC(),
	}
	if err := a.cfg.Jobs.SubmitJob(ctx, j); err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("store job: %w", err), "")
	}
	ev.Detail = "asynchronous job " + id + " accepted"
	return &SignResponse{RequestID: req.RequestID, ResponseID: id, Result: Result{Major: MajorPending}}, nil
}

func (s *Service) wakeWorker() {
	if s.async == nil {
		return
	}
	select {
	case s.async.wake <- struct{}{}:
	default:
	}
}

// validJobID reports whether id can be a job id (so that junk never reaches the store).
func validJobID(id string) bool {
	if len(id) == 0 || len(id) > maxJobIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Pending answers a PendingRequest: the SignResponse of the job when it is done, Pending
// while it is not, and KindResponseIDUnknown for an id that is unknown, expired or another
// user's (one answer for all three).
func (s *Service) Pending(ctx context.Context, c Caller, req *PendingRequest) (*SignResponse, error) {
	a := s.async
	if a == nil {
		return nil, Errorf(KindNotSupported, "asynchronous processing is not enabled on this service")
	}
	unknown := Errorf(KindResponseIDUnknown, "no pending request with this ResponseID")
	if !validJobID(req.RequestID) || c.User == "" {
		return nil, unknown
	}
	j, err := a.cfg.Jobs.LoadJob(ctx, req.RequestID, s.clock())
	if err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("load job: %w", err), "")
	}
	if j == nil || j.Owner != c.User {
		return nil, unknown
	}
	if j.State != JobDone {
		return &SignResponse{RequestID: j.RequestID, ResponseID: j.ID, Result: Result{Major: MajorPending}}, nil
	}
	var resp SignResponse
	if err := json.Unmarshal(j.Response, &resp); err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("job %s: stored response: %w", j.ID, err), "")
	}
	return &resp, nil
}

// RunJobs runs this node's workers until ctx ends, then waits for the jobs they are running
// (each gets asyncShutdownGrace to finish; one that does not is left to be claimed again).
// It does nothing when asynchronous processing is not enabled.
func (s *Service) RunJobs(ctx context.Context) {
	a := s.async
	if a == nil {
		return
	}
	var wg sync.WaitGroup
	for range a.cfg.Workers {
		wg.Go(func() { s.worker(ctx) })
	}
	wg.Go(func() {
		t := time.NewTicker(asyncPurgeInterval)
		defer t.Stop()
		for {
			if n, err := a.cfg.Jobs.PurgeJobs(ctx, s.clock()); err != nil && ctx.Err() == nil {
				s.log.Warn("purge expired jobs", "err", err)
			} else if n > 0 {
				s.log.Info("expired jobs purged", "jobs", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	wg.Wait()
}

func (s *Service) worker(ctx context.Context) {
	a := s.async
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		case <-a.wake:
		}
		for ctx.Err() == nil {
			claim, err := s.newID("")
			if err != nil {
				break
			}
			now := s.clock()
			j, err := a.cfg.Jobs.ClaimJob(ctx, claim, now, now.Add(a.cfg.Lease))
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("claim job", "err", err)
				}
				break
			}
			if j == nil {
				break
			}
			s.runJob(ctx, j, claim)
		}
		idle.Reset(a.cfg.Poll)
	}
}

// runJob runs one claimed job and stores its answer. The job runs on a context that
// outlives ctx by asyncShutdownGrace; a run whose context ended is not answered, so the job
// is claimed again after its lease (and counted against MaxAttempts).
func (s *Service) runJob(ctx context.Context, j *Job, claim string) {
	a := s.async
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.JobTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(asyncShutdownGrace, cancel)
		context.AfterFunc(jctx, func() { t.Stop() })
	})
	defer stop()

	// Renew the lease while the job runs.
	renewDone := make(chan struct{})
	go func() {
		t := time.NewTicker(a.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewDone:
				return
			case <-t.C:
				if ok, err := a.cfg.Jobs.RenewJob(jctx, j.ID, claim, s.clock().Add(a.cfg.Lease)); err != nil || !ok {
					s.log.Warn("job lease not renewed", "job", j.ID, "lost", !ok, "err", err)
				}
			}
		}
	}()
	resp := s.execJob(jctx, j)
	close(renewDone)
	if jctx.Err() != nil {
		s.log.Warn("job not finished: its run was cut short; it will be claimed again", "job", j.ID, "attempt", j.Attempts)
		return
	}
	resp.ResponseID = j.ID
	data, err := json.Marshal(resp)
	if err != nil {
		s.log.Error("job response not encoded", "job", j.ID, "err", err)
		return
	}
	ok, err := a.cfg.Jobs.FinishJob(jctx, j.ID, claim, data)
	switch {
	case err != nil:
		s.log.Error("job response not stored; it will be claimed again", "job", j.ID, "err", err)
	case !ok:
		s.log.Warn("job finished after its claim was lost; the other node's answer stands", "job", j.ID)
	}
}

// execJob signs a job's request and returns its final response (a failure is a response
// with that Result). Every run yields one sign audit record.
func (s *Service) execJob(ctx context.Context, j *Job) *SignResponse {
	fail := func(ref string, err error) *SignResponse {
		return &SignResponse{RequestID: j.RequestID, Result: ResultOf(err, ref)}
	}
	var p jobPayload
	payload, mac, err := openJob(j.Payload)
	if err != nil {
		ev := AuditEvent{User: j.Owner, Action: AuditSign, RequestID: j.RequestID, Detail: "asynchronous job " + j.ID}
		return fail("", s.record(ctx, &ev, Wrap(KindInternal, fmt.Errorf("job payload: %w", err), "")))
	}
	if !s.sad.CheckJobMAC(j.ID, j.Owner, payload, mac) {
		ev := AuditEvent{User: j.Owner, Action: AuditSign, RequestID: j.RequestID, Detail: "asynchronous job " + j.ID}
		return fail("", s.record(ctx, &ev, Wrap(KindInternal, errors.New("job MAC does not verify (altered in the store, or made under another SAD key)"), "")))
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Version != jobPayloadVersion || p.Request == nil {
		ev := AuditEvent{User: j.Owner, Action: AuditSign, RequestID: j.RequestID, Detail: "asynchronous job " + j.ID}
		return fail("", s.record(ctx, &ev, Wrap(KindInternal, fmt.Errorf("job payload version %d: %v", p.Version, err), "")))
	}
	c := Caller{User: j.Owner, Via: p.Via}
	ctx = WithProblemRef(ctx, p.ProblemRef)
	ev := s.event(ctx, c, AuditSign, p.Request.RequestID, p.Request.Options.CredentialID)
	ev.Detail = fmt.Sprintf("asynchronous job %s, attempt %d", j.ID, j.Attempts)
	var resp *SignResponse
	if j.Attempts > s.async.cfg.MaxAttempts {
		err = Wrap(KindInternal, fmt.Errorf("job abandoned after %d attempts", j.Attempts-1), "")
	} else {
		var jb *job
		var cred *Credential
		if jb, cred, err = s.prepare(ctx, c, p.Request, &ev, p.Activated); err == nil {
			resp, err = s.execute(ctx, p.Request, jb, cred)
		}
	}
	if ctx.Err() != nil && err != nil {
		// Cut short: recorded, but not answered (runJob leaves the job to be claimed again).
		ev.Detail += ", cut short"
	}
	if err = s.record(ctx, &ev, err); err != nil {
		resp = fail(p.ProblemRef, err)
	}
	resp.Tag = p.Request.Tag
	return resp
}

// JobFailure returns the error a finished asynchronous job's failure Result stands for (the
// Kind whose ResultMinor it carries, KindInternal when none does, with the Result's message
// as its detail), marked as audited: the job's run has its sign record. It returns nil for a
// Result that is not a failure (Success or Pending). Bindings whose wire form of a failure is
// an error (CSC) use it to answer a poll.
func JobFailure(r Result) error {
	if r.Major == MajorSuccess || r.Major == MajorPending || r.Major == "" {
		return nil
	}
	kind, found := KindInternal, false
	for k := range kindCount {
		info := results[k]
		if info.major != r.Major || info.minor != r.Minor {
			continue
		}
		// Kinds may share a ResultMinor (a disabled credential and an unknown one are both
		// KeyLookupFailed): the one whose fixed message the Result carries is the one.
		if !found || (!info.expose && info.fixed == r.Message) {
			kind, found = k, true
		}
	}
	return &auditedError{&Error{Kind: kind, Detail: r.Message}}
}
