package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"dssd/dss"
	"dssd/dss/store"
)

// Jobs is the asynchronous job queue's part of the suite: the life of a job (submit, claim,
// renew, finish, load), leases that lapse and are claimed again, expiry and purging, the
// per-owner count, and concurrent claims from several handles (every job claimed exactly
// once).
func Jobs(t *testing.T, nb NewBackend) {
	t.Run("Lifecycle", func(t *testing.T) { testJobLifecycle(t, nb(t)) })
	t.Run("Lease", func(t *testing.T) { testJobLease(t, nb(t)) })
	t.Run("Expiry", func(t *testing.T) { testJobExpiry(t, nb(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testJobClaimsConcurrent(t, nb(t)) })
}

func jobStore(t *testing.T, b Backend) store.JobStore { return openAs[store.JobStore](t, b) }

var jobT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newJob(n int, owner string) *dss.Job {
	return &dss.Job{
		ID: fmt.Sprintf("%032x", n), Owner: owner, RequestID: fmt.Sprintf("req-%d", n),
		Payload: []byte(fmt.Sprintf("payload %d", n)),
		Created: jobT0.Add(time.Duration(n) * time.Millisecond), Expires: jobT0.Add(time.Hour),
	}
}

func testJobLifecycle(t *testing.T, b Backend) {
	ctx := context.Background()
	s := jobStore(t, b)
	if err := s.SubmitJob(ctx, newJob(1, "alice")); err != nil {
		t.Fatal(err)
	}
	if err := s.SubmitJob(ctx, newJob(1, "alice")); err == nil {
		t.Error("a second job with the same id was stored")
	}
	if j, err := s.LoadJob(ctx, fmt.Sprintf("%032x", 2), jobT0); err != nil || j != nil {
		t.Errorf("unknown id: %+v, %v", j, err)
	}
	j, err := s.LoadJob(ctx, fmt.Sprintf("%032x", 1), jobT0)
	if err != nil || j == nil || j.State != dss.JobQueued || j.Owner != "alice" || j.RequestID != "req-1" || j.Payload != nil {
		t.Fatalf("queued job loads as %+v, %v", j, err)
	}
	if n, err := s.OpenJobs(ctx, "alice", jobT0); err != nil || n != 1 {
		t.Errorf("OpenJobs(alice) = %d, %v; want 1", n, err)
	}
	if n, err := s.OpenJobs(ctx, "bob", jobT0); err != nil || n != 0 {
		t.Errorf("OpenJobs(bob) = %d, %v; want 0", n, err)
	}
	c, err := s.ClaimJob(ctx, "claim-a", jobT0, jobT0.Add(time.Minute))
	if err != nil || c == nil {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	if c.ID != j.ID || c.State != dss.JobRunning || c.Attempts != 1 || !bytes.Equal(c.Payload, []byte("payload 1")) ||
		!c.Created.Equal(newJob(1, "").Created) || !c.Expires.Equal(jobT0.Add(time.Hour)) {
		t.Errorf("claimed %+v", c)
	}
	if c2, err := s.ClaimJob(ctx, "claim-b", jobT0, jobT0.Add(time.Minute)); err != nil || c2 != nil {
		t.Errorf("a held job was claimed again: %+v, %v", c2, err)
	}
	if ok, err := s.RenewJob(ctx, c.ID, "claim-b", jobT0.Add(2*time.Minute)); err != nil || ok {
		t.Errorf("renewed under a foreign claim: %v, %v", ok, err)
	}
	if ok, err := s.RenewJob(ctx, c.ID, "claim-a", jobT0.Add(2*time.Minute)); err != nil || !ok {
		t.Errorf("renew: %v, %v", ok, err)
	}
	if ok, err := s.FinishJob(ctx, c.ID, "claim-b", []byte("forged")); err != nil || ok {
		t.Errorf("finished under a foreign claim: %v, %v", ok, err)
	}
	if ok, err := s.FinishJob(ctx, c.ID, "claim-a", []byte("the response")); err != nil || !ok {
		t.Fatalf("finish: %v, %v", ok, err)
	}
	if ok, err := s.FinishJob(ctx, c.ID, "claim-a", []byte("again")); err != nil || ok {
		t.Errorf("finished twice: %v, %v", ok, err)
	}
	j, err = s.LoadJob(ctx, c.ID, jobT0)
	if err != nil || j == nil || j.State != dss.JobDone || string(j.Response) != "the response" {
		t.Fatalf("done job loads as %+v, %v", j, err)
	}
	if n, err := s.OpenJobs(ctx, "alice", jobT0); err != nil || n != 0 {
		t.Errorf("OpenJobs(alice) after finishing = %d, %v; want 0", n, err)
	}
	if c2, err := s.ClaimJob(ctx, "claim-c", jobT0.Add(time.Hour/2), jobT0.Add(time.Hour)); err != nil || c2 != nil {
		t.Errorf("a done job was claimed: %+v, %v", c2, err)
	}
}

func testJobLease(t *testing.T, b Backend) {
	ctx := context.Background()
	s := jobStore(t, b)
	other := jobStore(t, b) // a second node
	for n := 1; n <= 2; n++ {
		if err := s.SubmitJob(ctx, newJob(n, "alice")); err != nil {
			t.Fatal(err)
		}
	}
	c1, err := s.ClaimJob(ctx, "node-a", jobT0, jobT0.Add(10*time.Second))
	if err != nil || c1 == nil || c1.RequestID != "req-1" {
		t.Fatalf("the oldest job first: %+v, %v", c1, err)
	}
	c2, err := other.ClaimJob(ctx, "node-b", jobT0.Add(5*time.Second), jobT0.Add(15*time.Second))
	if err != nil || c2 == nil || c2.RequestID != "req-2" {
		t.Fatalf("the other node takes the next job while the lease holds: %+v, %v", c2, err)
	}
	// Node a dies; after its lease, node b claims the job again.
	c3, err := other.ClaimJob(ctx, "node-b2", jobT0.Add(11*time.Second), jobT0.Add(21*time.Second))
	if err != nil || c3 == nil || c3.ID != c1.ID || c3.Attempts != 2 || !bytes.Equal(c3.Payload, c1.Payload) {
		t.Fatalf("lapsed lease not reclaimed: %+v, %v", c3, err)
	}
	if ok, err := s.FinishJob(ctx, c1.ID, "node-a", []byte("late")); err != nil || ok {
		t.Errorf("the node that lost its claim finished the job: %v, %v", ok, err)
	}
	if ok, err := other.FinishJob(ctx, c3.ID, "node-b2", []byte("answer")); err != nil || !ok {
		t.Errorf("finish after reclaim: %v, %v", ok, err)
	}
	if j, err := s.LoadJob(ctx, c1.ID, jobT0); err != nil || j == nil || string(j.Response) != "answer" {
		t.Errorf("reclaimed job: %+v, %v", j, err)
	}
}

func testJobExpiry(t *testing.T, b Backend) {
	ctx := context.Background()
	s := jobStore(t, b)
	for n := 1; n <= 3; n++ {
		if err := s.SubmitJob(ctx, newJob(n, "alice")); err != nil {
			t.Fatal(err)
		}
	}
	late := jobT0.Add(2 * time.Hour)
	if j, err := s.LoadJob(ctx, fmt.Sprintf("%032x", 1), late); err != nil || j != nil {
		t.Errorf("expired job loads: %+v, %v", j, err)
	}
	if c, err := s.ClaimJob(ctx, "x", late, late.Add(time.Minute)); err != nil || c != nil {
		t.Errorf("expired job claimed: %+v, %v", c, err)
	}
	if n, err := s.OpenJobs(ctx, "alice", late); err != nil || n != 0 {
		t.Errorf("OpenJobs counts expired jobs: %d, %v", n, err)
	}
	if n, err := s.PurgeJobs(ctx, jobT0); err != nil || n != 0 {
		t.Errorf("purged live jobs: %d, %v", n, err)
	}
	if n, err := s.PurgeJobs(ctx, late); err != nil || n != 3 {
		t.Errorf("PurgeJobs = %d, %v; want 3", n, err)
	}
	if j, err := s.LoadJob(ctx, fmt.Sprintf("%032x", 1), jobT0); err != nil || j != nil {
		t.Errorf("purged job loads: %+v, %v", j, err)
	}
}

func testJobClaimsConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	const jobs, handles, workers = 24, 2, 3
	var ss []store.JobStore
	for range handles {
		ss = append(ss, jobStore(t, b))
	}
	for n := 1; n <= jobs; n++ {
		if err := ss[0].SubmitJob(ctx, newJob(n, "alice")); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, handles*workers)
	for h := range handles {
		for w := range workers {
			wg.Go(func() {
				for i := 0; ; i++ {
					claim := fmt.Sprintf("h%d-w%d-%d", h, w, i)
					c, err := ss[h].ClaimJob(ctx, claim, jobT0, jobT0.Add(time.Minute))
					if err != nil {
						errs <- err
						return
					}
					if c == nil {
						return
					}
					mu.Lock()
					claimed[c.ID]++
					mu.Unlock()
					if ok, err := ss[h].FinishJob(ctx, c.ID, claim, []byte(claim)); err != nil || !ok {
						errs <- fmt.Errorf("finish %s: %v, %v", c.ID, ok, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != jobs {
		t.Errorf("%d distinct jobs claimed; want %d", len(claimed), jobs)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("job %s claimed %d times", id, n)
		}
	}
}
