package oauth2

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"dssd/binding/authn"
	"dssd/dss"
)

// floodSvc is the slice of the service the refusal paths reach: it counts the audit records
// and the password checks. Sealed values are plain JSON prefixed with their kind.
type floodSvc struct {
	mu       sync.Mutex
	refusals []string // AuditOAuth2Refusal details
	failures []string // AuditAuthFailure reasons (the limiter's summaries)
	signIns  int
}

func (f *floodSvc) SignIn(_ context.Context, _, user, password string) (dss.Caller, error) {
	f.mu.Lock()
	f.signIns++
	f.mu.Unlock()
	if user == "alice" && password == "right" {
		return dss.Caller{User: user, Via: dss.ViaOAuth2}, nil
	}
	return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "wrong user name or password")
}
func (f *floodSvc) Credential(dss.Caller, string) (*dss.Credential, error) {
	return nil, errors.New("unused")
}
func (f *floodSvc) Authorize(context.Context, dss.Caller, *dss.AuthorizeRequest) (*dss.Authorization, error) {
	return nil, errors.New("unused")
}
func (f *floodSvc) IssueCode(context.Context, dss.CodeGrant) (string, error) { return "code", nil }
func (f *floodSvc) RedeemCode(context.Context, dss.RedeemRequest) (*dss.AccessToken, error) {
	return nil, errors.New("unused")
}
func (f *floodSvc) RevokeToken(context.Context, string, string) error { return nil }
func (f *floodSvc) OAuth2Caller(context.Context, string) (dss.Caller, error) {
	return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "unknown bearer token")
}
func (f *floodSvc) Seal(kind string, v any, _ time.Duration) (string, error) {
	b, err := json.Marshal(v)
	return kind + "." + string(b), err
}
func (f *floodSvc) Open(kind, sealed string, v any) error {
	rest, ok := strings.CutPrefix(sealed, kind+".")
	if !ok || json.Unmarshal([]byte(rest), v) != nil {
		return dss.Errorf(dss.KindMalformed, "the request is invalid or expired")
	}
	return nil
}
func (f *floodSvc) FormTag(...string) string                                    { return "tag" }
func (f *floodSvc) CheckFormTag(tag string, _ ...string) bool                   { return tag == "tag" }
func (f *floodSvc) ActivationAttemptsLeft(context.Context, string) (int, error) { return 5, nil }
func (f *floodSvc) AuditOAuth2Refusal(_ context.Context, _, _, detail string, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusals = append(f.refusals, detail)
	return err
}
func (f *floodSvc) AuditAuthFailure(_ context.Context, _, reason, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, reason)
}

type limiterOf struct{ f *authn.Failures }

func (l limiterOf) Failures() *authn.Failures { return l.f }

// TestRefusalFlood: 1 000 bad client secrets (token, pushed_authorize, revoke), 1 000 junk
// request_uris and 1 000 wrong sign-in passwords from one address, with the clock stopped
// (no refill): the first Burst refusals are one record each, as without a limiter; the
// others are answered 429 with Retry-After and become one record at once and one summary
// with their count. Only Burst passwords are checked. Another address is not throttled.
func TestRefusalFlood(t *testing.T) {
	const flood, burst = 1000, 10
	cases := []struct {
		name    string
		send    func(h http.Handler, addr string) *httptest.ResponseRecorder
		refused int // status within the budget
	}{
		{"bad client secret at token", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			return serve(h, addr, http.MethodPost, Prefix+EndpointToken, url.Values{"grant_type": {"authorization_code"}, "code": {"c"},
				"code_verifier": {"v"}, "client_id": {"app"}, "client_secret": {"CANARY-wrong"}}, "")
		}, http.StatusUnauthorized},
		{"bad client secret at pushed_authorize", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			return serve(h, addr, http.MethodPost, Prefix+EndpointPAR, url.Values{"client_id": {"app"}, "client_secret": {"CANARY-wrong"}}, "")
		}, http.StatusUnauthorized},
		{"bad client secret at revoke", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			return serve(h, addr, http.MethodPost, Prefix+EndpointRevoke, url.Values{"token": {"t"}, "client_id": {"app"}, "client_secret": {"CANARY-wrong"}}, "")
		}, http.StatusUnauthorized},
		{"junk request_uri", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			return serve(h, addr, http.MethodGet, Prefix+EndpointAuthorize+"?client_id=app&request_uri="+url.QueryEscape(requestURI+strings.Repeat("J", 3000)), nil, "")
		}, http.StatusBadRequest},
		{"bad authorization parameters", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			return serve(h, addr, http.MethodGet, Prefix+EndpointAuthorize+"?"+params("redirect_uri", "https://evil.example/").Encode(), nil, "")
		}, http.StatusBadRequest},
		{"form without CSRF token", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			tx, _ := (&floodSvc{}).Seal("page", authRequest{ClientID: "app", RedirectURI: "https://app.example/cb", Scope: dss.ScopeService}, 0)
			return serve(h, addr, http.MethodPost, Prefix+EndpointAuthorize, url.Values{"tx": {tx}, "username": {"alice"}, "password": {"right"}}, "cookie-value-of-twenty-chars")
		}, http.StatusForbidden},
		{"wrong sign-in password", func(h http.Handler, addr string) *httptest.ResponseRecorder {
			tx, _ := (&floodSvc{}).Seal("page", authRequest{ClientID: "app", RedirectURI: "https://app.example/cb", Scope: dss.ScopeService}, 0)
			return serve(h, addr, http.MethodPost, Prefix+EndpointAuthorize, url.Values{"tx": {tx}, "csrf": {"tag"}, "username": {"alice"},
				"password": {"CANARY-wrong"}}, "cookie-value-of-twenty-chars")
		}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := &floodSvc{}
			now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
			f := authn.NewFailures(authn.FailureLimits{Rate: 1, Burst: burst, Window: time.Minute, Now: func() time.Time { return now }}, svc)
			h := New(svc, Options{Clients: []Client{{ID: "app", RedirectURIs: []string{"https://app.example/cb"},
				SecretSHA256: [][32]byte{sha256.Sum256([]byte("right-secret"))}}}, Limiter: limiterOf{f}})
			statuses := map[int]int{}
			for i := 0; i < flood; i++ {
				w := tc.send(h, "192.0.2.9:4000")
				statuses[w.Code]++
				if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "1" {
					t.Fatalf("429 with Retry-After %q", w.Header().Get("Retry-After"))
				}
				if strings.Contains(w.Body.String(), "CANARY") {
					t.Fatalf("the answer shows the presented secret: %s", w.Body)
				}
			}
			if statuses[tc.refused] != burst || statuses[http.StatusTooManyRequests] != flood-burst {
				t.Errorf("statuses %v: want %d × %d then 429", statuses, burst, tc.refused)
			}
			// Another address is served normally meanwhile.
			if w := tc.send(h, "192.0.2.10:4000"); w.Code != tc.refused {
				t.Errorf("another address: %d", w.Code)
			}
			f.Flush()
			svc.mu.Lock()
			defer svc.mu.Unlock()
			records := len(svc.refusals) + len(svc.failures)
			wantRefusals := burst + 1 + 1 // the budget, the first throttled one, the other address
			if tc.name == "wrong sign-in password" {
				// SignIn records its attempts itself (here a fake): only the throttled one is the binding's.
				wantRefusals = 1
				if svc.signIns != burst+1 {
					t.Errorf("%d passwords checked, want %d", svc.signIns, burst+1)
				}
				records += svc.signIns
			}
			if len(svc.refusals) != wantRefusals || len(svc.failures) != 1 || !strings.Contains(svc.failures[0], "989 further authentication failures") {
				t.Errorf("%d refusal records %q; summaries %q", len(svc.refusals), svc.refusals, svc.failures)
			}
			t.Logf("%d refusals: statuses %v, %d audit records", flood, statuses, records)
		})
	}
}

func serve(h http.Handler, addr, method, target string, form url.Values, cookie string) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: cookie})
	}
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type oauthTokens struct{}

func (oauthTokens) OAuth2Caller(_ context.Context, tok string) (dss.Caller, error) {
	if tok == "oauth-good" {
		return dss.Caller{User: "alice", Via: dss.ViaOAuth2}, nil
	}
	return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "unknown bearer token")
}

// TestBearerAuthenticatorFailures: an accepted OAuth2 access token takes nothing from the
// address's failure budget; a refused one takes one failure and is throttled like a bad
// static token.
func TestBearerAuthenticatorFailures(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	a := authn.New([]authn.User{{Name: "bob", TokenSHA256: [][32]byte{sha256.Sum256([]byte("static"))}}})
	f := authn.NewFailures(authn.FailureLimits{Rate: 1, Burst: 3, Window: time.Minute, Now: func() time.Time { return now }}, &floodSvc{})
	a.LimitFailures(f)
	ba := BearerAuthenticator{Base: a, Svc: oauthTokens{}}
	req := func(tok string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/csc/v2/credentials/list", nil)
		r.RemoteAddr = "192.0.2.20:1"
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	for i := 0; i < 20; i++ {
		if c, err := ba.Authenticate(req("oauth-good")); err != nil || c.User != "alice" {
			t.Fatalf("OAuth2 token %d: %v %v", i, c, err)
		}
	}
	if n := f.Tracked(); n != 0 {
		t.Fatalf("accepted OAuth2 tokens took failures: %d addresses tracked", n)
	}
	for i := 1; i <= 4; i++ {
		_, err := ba.Authenticate(req("junk"))
		if err == nil || authn.Throttled(err) != (i > 3) || dss.KindOf(err) != dss.KindNotAuthenticated {
			t.Fatalf("junk token %d: %v (throttled %v)", i, err, authn.Throttled(err))
		}
	}
	if c, err := ba.Authenticate(req("static")); err != nil || c.User != "bob" {
		t.Errorf("a valid static token from a throttled address: %v %v", c, err)
	}
}
