//go:build e2e

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dssd/dss/store"
)

// recordBytes is what one audit record stores, field by field (as TestHardening counts it).
func recordBytes(r store.Record) int {
	return len(r.RequestID) + len(r.ProblemRef) + len(r.User) + len(r.Via) + len(r.Action) + len(r.Credential) + len(r.Major) +
		len(r.Minor) + len(r.Detail) + len(r.Hash) + len(r.PrevHash) + len(r.MAC) + 8 + 8
}

// TestOAuth2RefusalFlood: on a node of its own (default limits: 1 failure/s, burst 10, one
// summary per minute), 1 000 bad client secrets, 1 000 junk request_uris and 1 000 wrong
// sign-in passwords, each flood from its own address. Each is answered 401/400/200 within the
// address's budget, then 429 with Retry-After, and adds a bounded number of audit records
// (the budget's, one at once for the first throttled refusal, one summary with the count).
// The PIN/OTP lockout is unchanged: wrong PINs typed on the page still count 4, 3, ... and
// lock the credential, whatever the limiter.
func TestOAuth2RefusalFlood(t *testing.T) {
	s := start(t)
	dbPath := filepath.Join(t.TempDir(), "flood.db")
	cfgPath := nodeConfig(t, s, func(c map[string]any) { c["store"] = map[string]any{"type": "sqlite", "path": dbPath} })
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
	envFrom := func(ip string) *oauthEnv {
		return newOAuthEnv(t, s.devDir, target{url: n.url, client: clientFrom(n, ip), cfg: cfgPath})
	}
	const total, workers = 1000, 4
	type floodResult struct {
		statuses map[int]int
		took     time.Duration
	}
	flood := func(send func() (int, string)) floodResult {
		var mu sync.Mutex
		res := floodResult{statuses: map[int]int{}}
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < total/workers; i++ {
					st, ra := send()
					mu.Lock()
					res.statuses[st]++
					if st == http.StatusTooManyRequests && ra == "" {
						res.statuses[-429]++ // a 429 without Retry-After
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		res.took = time.Since(start)
		return res
	}
	do := func(c *http.Client, req *http.Request) (int, string) {
		resp, err := c.Do(req)
		if err != nil {
			return -1, ""
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	e1 := envFrom("127.0.0.71")
	badSecret := flood(func() (int, string) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {"y"}, "client_id": {e1.clientID}, "client_secret": {"CANARY-bad-secret"}}
		req, _ := http.NewRequest(http.MethodPost, n.url+"/csc/v2/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(e1.tg.client, req)
	})
	e2 := envFrom("127.0.0.72")
	junk := "urn:ietf:params:oauth:request_uri:" + strings.Repeat("J", 4000)
	junkURI := flood(func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/csc/v2/oauth2/authorize?"+url.Values{"client_id": {e2.clientID}, "request_uri": {junk}}.Encode(), nil)
		return do(e2.ua, req)
	})
	e3 := envFrom("127.0.0.73")
	_, challenge := pkcePair()
	st, body, tx, csrf := e3.page(t, e3.authParams("service", challenge, "flood"))
	if st != http.StatusOK || tx == "" || csrf == "" {
		t.Fatalf("page: %d\n%s", st, body)
	}
	wrongPassword := flood(func() (int, string) {
		form := url.Values{"tx": {tx}, "csrf": {csrf}, "username": {"alice"}, "password": {"CANARY-wrong-password"}}
		req, _ := http.NewRequest(http.MethodPost, n.url+"/csc/v2/oauth2/authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(e3.ua, req)
	})

	// The lockout of SCAL2 credentials is the service's, untouched by the limiter: wrong PINs
	// typed on the page (after a right password) count down and lock.
	e4 := envFrom("127.0.0.74")
	q := s.qes(t, "alice-qes")
	h := sum([]byte("flood lockout"))
	_, challenge = pkcePair()
	p := credentialParams(e4.authParams("credential", challenge, "lock"), q.id, [][]byte{h})
	for left := 4; left >= 0; left-- {
		_, _, tx, csrf := e4.page(t, p)
		st, loc, body := e4.submit(t, url.Values{"tx": {tx}, "csrf": {csrf}, "username": {"alice"}, "password": {e4.passwords["alice"]},
			"pin": {"CANARY-WRONG"}, "otp": {freshOTP(t, cfgPath, q)}})
		if left > 0 {
			if want := fmt.Sprintf("%d attempt(s) left", left); st != http.StatusOK || !strings.Contains(body, want) {
				t.Fatalf("wrong PIN: %d %q, want %q", st, loc, want)
			}
			continue
		}
		if got := e4.redirected(t, st, loc); got.Get("error") != "access_denied" {
			t.Fatalf("fifth wrong PIN: %v", got)
		}
	}
	if st, out := (target{url: n.url, client: n.client, cfg: cfgPath}).authorize(t, s.token("alice"), q.id, [][]byte{h}, q.pin,
		freshOTP(t, cfgPath, q)); st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error_description"]), "locked") {
		t.Errorf("the right PIN after the lockout: %d %v", st, out)
	}

	n.stop(t) // flushes the windows' summaries
	recs := auditRecords(t, cfgPath)
	for _, fl := range []struct {
		name, ip string
		res      floodResult
		refused  int
	}{
		{"bad client secrets", "127.0.0.71", badSecret, http.StatusUnauthorized},
		{"junk request_uris (4 000 bytes)", "127.0.0.72", junkURI, http.StatusBadRequest},
		{"wrong sign-in passwords", "127.0.0.73", wrongPassword, http.StatusOK},
	} {
		var count, bytes int
		var summary string
		for _, r := range recs {
			// The refusals of an address name it (the limiter's records) or are the binding's and
			// the service's records made while that flood ran: count them by their text.
			if !strings.HasSuffix(r.Major, ":Success") && (strings.Contains(r.Detail, fl.ip) || strings.Contains(r.Detail, floodText[fl.name])) {
				count++
				bytes += recordBytes(r)
				if strings.Contains(r.Detail, "further authentication failures") {
					summary = r.Detail
				}
			}
			if strings.Contains(r.Detail, "CANARY") || strings.Contains(r.Detail, strings.Repeat("J", 200)) {
				t.Errorf("a record holds the presented secret or the whole request_uri: %.200s", r.Detail)
			}
		}
		t.Logf("%d %s in %v: statuses %v; %d audit records, %d bytes; summary: %.160s", total, fl.name, fl.res.took.Round(time.Millisecond),
			fl.res.statuses, count, bytes, summary)
		// Within the budget: Burst (10) at once, then about one per second. The sign-in page asks
		// the limiter before the password check and counts a failure after it, so requests in
		// flight (at most one per worker) may pass together.
		budget := 10 + int(fl.res.took.Seconds()) + 1
		if fl.refused == http.StatusOK {
			// Each moment the bucket has a token (at once, and at each refill) may let one
			// request of every worker through before their failures are counted.
			budget += workers * (int(fl.res.took.Seconds()) + 2)
		}
		if fl.res.statuses[http.StatusTooManyRequests] == 0 || fl.res.statuses[-429] != 0 ||
			fl.res.statuses[fl.refused]+fl.res.statuses[http.StatusTooManyRequests] != total || fl.res.statuses[fl.refused] > budget {
			t.Errorf("%s: statuses %v, want at most %d × %d then 429 with Retry-After", fl.name, fl.res.statuses, budget, fl.refused)
		}
		if count > budget+2 || summary == "" {
			t.Errorf("%s: %d audit records (budget %d + 2), summary %q", fl.name, count, budget, summary)
		}
	}
	noSecrets(t, "the node log", n.logText(), map[string]string{"client secret": "CANARY-bad-secret", "password": "CANARY-wrong-password"})
}

// floodText identifies the per-refusal records of each flood.
var floodText = map[string]string{
	"bad client secrets":              "client authentication failed for client_id",
	"junk request_uris (4 000 bytes)": "invalid or expired request_uri",
	"wrong sign-in passwords":         "sign-in page, user \"alice\"",
}
