// Package authn authenticates the caller of a binding: a bearer token or a verified TLS
// client certificate, each mapped to a configured user. Configuration holds only SHA-256
// digests of tokens and of certificate DER encodings; comparisons are constant-time.
package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"

	"dssd/dss"
)

// User is a configured user with the digests of its bearer tokens and client certificates.
type User struct {
	Name        string
	TokenSHA256 [][32]byte // SHA-256 of each bearer token
	CertSHA256  [][32]byte // SHA-256 of the DER encoding of each client certificate
	Disabled    bool       // kept so that no credential of any kind (a JWT too) maps to it
}

// Authenticator maps requests to users.
type Authenticator struct {
	users    atomic.Pointer[[]User] // replaced as a whole by SetUsers
	failures *Failures              // nil: failures are neither throttled nor aggregated
	jwt      *JWTVerifier           // nil: no identity provider (jwt.go)
}

// LimitFailures makes a throttle and aggregate failed authentications (see FailureLimits).
// Call it before serving.
func (a *Authenticator) LimitFailures(f *Failures) { a.failures = f }

// New returns an Authenticator for users. Users without a name are ignored.
func New(users []User) *Authenticator {
	a := &Authenticator{}
	a.SetUsers(users)
	return a
}

// SetUsers replaces the whole user list at once (users kept in the store change while the
// service runs): a request is matched against either the old list or the new one, never a
// mix. Users without a name are ignored.
func (a *Authenticator) SetUsers(users []User) {
	var list []User
	for _, u := range users {
		if u.Name == "" {
			continue
		}
		list = append(list, User{
			Name:        u.Name,
			TokenSHA256: append([][32]byte(nil), u.TokenSHA256...),
			CertSHA256:  append([][32]byte(nil), u.CertSHA256...),
			Disabled:    u.Disabled,
		})
	}
	a.users.Store(&list)
}

// Authenticate returns the caller of r: the user whose token digest matches the
// "Authorization: Bearer" token, else the user whose certificate digest matches the verified
// TLS client certificate (r.TLS.VerifiedChains[0][0]). Failure is a *dss.Error of
// KindNotAuthenticated whose detail never contains the token.
func (a *Authenticator) Authenticate(r *http.Request) (dss.Caller, error) {
	c, err := a.authenticate(r)
	return c, a.Fail(r, err)
}

// Identify is Authenticate without the failure limiter: a binding that tries further
// credentials after a failure (OAuth2 access tokens) calls Identify, then Fail with the final
// error.
func (a *Authenticator) Identify(r *http.Request) (dss.Caller, error) { return a.authenticate(r) }

// Fail takes the failed authentication err of r from the failure limiter (LimitFailures) and
// returns the error to answer with, as Authenticate does; errors that are not
// KindNotAuthenticated (an internal fault) pass unchanged.
func (a *Authenticator) Fail(r *http.Request, err error) error {
	if err == nil || a.failures == nil || dss.KindOf(err) != dss.KindNotAuthenticated {
		return err
	}
	return a.failures.fail(r.RemoteAddr, err)
}

// Failures returns the failure limiter (nil when failures are not limited).
func (a *Authenticator) Failures() *Failures { return a.failures }

func (a *Authenticator) authenticate(r *http.Request) (dss.Caller, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "the Authorization header is not a bearer token")
		}
		sum := sha256.Sum256([]byte(tok))
		if name, ok := a.match(sum, func(u *User) [][32]byte { return u.TokenSHA256 }); ok {
			return dss.Caller{User: name, Via: "token"}, nil
		}
		if a.jwt != nil && LooksLikeJWT(tok) {
			c, err := a.jwt.Authenticate(r.Context(), tok, a.known)
			if err == nil && a.disabled(c.User) { // also when the provider accepts any user
				return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "the token's user is disabled")
			}
			return c, err
		}
		return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "unknown bearer token")
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		sum := sha256.Sum256(r.TLS.VerifiedChains[0][0].Raw)
		if name, ok := a.match(sum, func(u *User) [][32]byte { return u.CertSHA256 }); ok {
			return dss.Caller{User: name, Via: "certificate"}, nil
		}
		return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "client certificate not mapped to a user")
	}
	return dss.Caller{}, dss.Errorf(dss.KindNotAuthenticated, "no credentials: send a bearer token or a client certificate")
}

// known reports whether name is a configured user (a JWT's user must be one unless its
// provider accepts any).
func (a *Authenticator) known(name string) bool {
	for _, u := range *a.users.Load() {
		if u.Name == name {
			return !u.Disabled
		}
	}
	return false
}

// disabled reports whether name is a user who was disabled.
func (a *Authenticator) disabled(name string) bool {
	for _, u := range *a.users.Load() {
		if u.Name == name {
			return u.Disabled
		}
	}
	return false
}

// match compares sum with every digest of every user, without stopping early, so that the
// time taken does not depend on which user (if any) matches.
func (a *Authenticator) match(sum [32]byte, digests func(*User) [][32]byte) (string, bool) {
	users := *a.users.Load()
	found := -1
	for i := range users {
		for _, d := range digests(&users[i]) {
			if subtle.ConstantTimeCompare(sum[:], d[:]) == 1 && found < 0 && !users[i].Disabled {
				found = i
			}
		}
	}
	if found < 0 {
		return "", false
	}
	return users[found].Name, true
}

// Challenge sets the WWW-Authenticate header of a 401 answer.
func Challenge(h http.Header) {
	h.Set("WWW-Authenticate", `Bearer realm="dssd"`)
}

// FailureAuditor records failed authentications; dss.Service implements it.
type FailureAuditor interface {
	AuditAuthFailure(ctx context.Context, remoteAddr, reason, requestID string)
}

// ReportFailure reports the refused authentication err of r to a: every binding calls it
// once for each request it answers with 401 or 429. When failures are limited (LimitFailures), only the first failure of an address's
// window is recorded at once; the others become one record with their count.
// ctx should carry the request's problem reference (dss.WithProblemRef). The reason is the
// client-safe detail of err, which never contains the presented token.
func ReportFailure(ctx context.Context, a FailureAuditor, r *http.Request, err error, requestID string) {
	if a == nil || err == nil {
		return
	}
	reason := "authentication failed"
	var e *dss.Error
	if errors.As(err, &e) && e.Detail != "" {
		reason = e.Detail
	}
	if Throttled(err) {
		reason += " (throttled: answered 429)"
	}
	var fe *FailureError
	if errors.As(err, &fe) && fe.f != nil && !fe.f.report(fe, reason) {
		return // counted in the summary record of the address's window
	}
	a.AuditAuthFailure(ctx, r.RemoteAddr, reason, requestID)
}
