package dss

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dssd/dss/sad"
)

// The domain half of the OAuth2 authorization server of the CSC API (interface.md §7;
// binding/oauth2 is the HTTP half): signing in with a password, authorization codes bound to
// a client, a redirect URI and a PKCE challenge, their single-use redemption across nodes,
// the access tokens, and their revocation. Codes and service tokens are sealed values of
// dss/sad; the access token of a credential authorization is the SAD itself, issued by
// Authorize after the PIN and OTP typed into dssd's own page, so it carries every binding
// and single-use rule of interface.md §5.

// Scopes of the CSC OAuth2 server.
const (
	ScopeService    = "service"
	ScopeCredential = "credential"
)

// Caller.Via of OAuth2 access tokens.
const (
	ViaOAuth2    = "oauth2"            // a service access token
	ViaOAuth2SAD = "oauth2-credential" // a credential access token (a SAD): signing only
)

// AuditOAuth2 is the audit action of the OAuth2 server's decisions (codes, tokens, page).
const AuditOAuth2 = "oauth2"

// Default lifetimes.
const (
	DefaultOAuth2CodeTTL  = time.Minute
	DefaultOAuth2TokenTTL = time.Hour
	maxOAuth2TokenTTL     = 24 * time.Hour
)

// RevocationList remembers revoked service access tokens, shared by every node.
type RevocationList interface {
	Revoke(ctx context.Context, id string, notAfter time.Time) error
	Revoked(ctx context.Context, id string) (bool, error)
}

// CodeGrant is what an authorization code stands for.
type CodeGrant struct {
	ClientID     string `json:"cid"`
	RedirectURI  string `json:"ruri"`
	Challenge    string `json:"pkce"` // S256 code_challenge
	Scope        string `json:"scope"`
	User         string `json:"sub"`
	CredentialID string `json:"cred,omitempty"`
	SAD          string `json:"sad,omitempty"` // scope credential: the access token to hand out
	SADExpires   int64  `json:"sadexp,omitempty"`
}

// RedeemRequest is a token request with grant_type authorization_code, its client already
// authenticated by the binding.
type RedeemRequest struct {
	ClientID     string
	Code         string
	RedirectURI  string
	CodeVerifier string
}

// AccessToken is the answer of the token endpoint.
type AccessToken struct {
	Token        string
	ExpiresIn    int
	Scope        string
	CredentialID string
}

// serviceToken is the sealed content of a service access token.
type serviceToken struct {
	User     string `json:"sub"`
	ClientID string `json:"cid"`
}

const (
	sealCode    = "code"
	sealService = "access"
)

func (s *Service) oauthReady() error {
	if s.sad == nil || s.replay == nil {
		return Wrap(KindInternal, errors.New("the OAuth2 server needs the SAD key and the replay store"), "")
	}
	return nil
}

// SignIn checks a user's password (argon2id, the cost bounded like PIN checks) and returns
// the caller. Every attempt is audited; a wrong password, an unknown user and a user without
// a password are one answer.
func (s *Service) SignIn(ctx context.Context, requestID, user, password string) (Caller, error) {
	c := Caller{User: user, Via: ViaOAuth2}
	ev := s.event(ctx, Caller{Via: ViaOAuth2}, AuditAuthenticate, requestID, "")
	ev.Detail = fmt.Sprintf("sign-in page, user %q", clipText(user))
	err := func() error {
		select {
		case s.pinSlots <- struct{}{}:
			defer func() { <-s.pinSlots }()
		case <-ctx.Done():
			return Wrap(KindInternal, ctx.Err(), "")
		}
		h := s.passwords[user]
		if h == nil {
			h = s.dummyPassword // same cost whether or not the user exists
			_ = h.Verify(password)
			return Errorf(KindNotAuthenticated, "wrong user name or password")
		}
		if !h.Verify(password) {
			return Errorf(KindNotAuthenticated, "wrong user name or password")
		}
		return nil
	}()
	if err == nil {
		ev.User = user
	}
	if err := s.record(ctx, &ev, err); err != nil {
		return Caller{}, err
	}
	return c, nil
}

// HasPasswords reports whether any user can sign in on the page.
func (s *Service) HasPasswords() bool { return len(s.passwords) > 0 }

// IssueCode returns an authorization code for g (valid for the code lifetime, single use).
func (s *Service) IssueCode(ctx context.Context, g CodeGrant) (string, error) {
	if err := s.oauthReady(); err != nil {
		return "", err
	}
	code, _, err := s.sad.Seal(sealCode, g, s.clock().Add(s.codeTTL))
	if err != nil {
		return "", Wrap(KindInternal, err, "")
	}
	return code, nil
}

// RedeemCode exchanges an authorization code for an access token: the code must have been
// issued to this client for this redirect URI, the verifier must match its S256 challenge,
// and the code is consumed once across all nodes (a second redemption is refused). Every
// redemption is audited.
func (s *Service) RedeemCode(ctx context.Context, req RedeemRequest) (*AccessToken, error) {
	ev := s.event(ctx, Caller{Via: ViaOAuth2}, AuditOAuth2, "", "")
	ev.Detail = fmt.Sprintf("token request of client %q", clipText(req.ClientID))
	out, err := s.redeem(ctx, req, &ev)
	if err := s.record(ctx, &ev, err); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrInvalidGrant marks refusals that OAuth2 answers with invalid_grant.
var ErrInvalidGrant = errors.New("invalid_grant")

func grantError(format string, args ...any) error {
	return &Error{Kind: KindNotAuthenticated, Detail: fmt.Sprintf(format, args...), Err: ErrInvalidGrant}
}

func (s *Service) redeem(ctx context.Context, req RedeemRequest, ev *AuditEvent) (*AccessToken, error) {
	if err := s.oauthReady(); err != nil {
		return nil, err
	}
	var g CodeGrant
	id, _, err := s.sad.Open(sealCode, req.Code, &g)
	if err != nil {
		return nil, grantError("the authorization code is invalid or expired")
	}
	ev.User, ev.Credential = g.User, g.CredentialID
	switch {
	case g.ClientID != req.ClientID:
		return nil, grantError("the authorization code was issued to another client")
	case g.RedirectURI != req.RedirectURI:
		return nil, grantError("redirect_uri differs from the one of the authorization request")
	case !sad.PKCE(g.Challenge, req.CodeVerifier):
		return nil, grantError("code_verifier does not match the code_challenge")
	}
	fresh, err := s.replay.Consume(ctx, "oauth2-code:"+id, s.clock().Add(s.codeTTL+time.Minute))
	if err != nil {
		return nil, Wrap(KindInternal, fmt.Errorf("replay store: %w", err), "")
	}
	if !fresh {
		return nil, grantError("the authorization code was already used")
	}
	now := s.clock()
	switch g.Scope {
	case ScopeCredential:
		exp := time.Unix(g.SADExpires, 0)
		if g.SAD == "" || !exp.After(now) {
			return nil, grantError("the authorization expired")
		}
		secs := max(1, int(exp.Sub(now)/time.Second))
		ev.Detail += ": credential access token issued"
		return &AccessToken{Token: g.SAD, ExpiresIn: secs, Scope: ScopeCredential, CredentialID: g.CredentialID}, nil
	case ScopeService:
		tok, _, err := s.sad.Seal(sealService, serviceToken{User: g.User, ClientID: g.ClientID}, now.Add(s.tokenTTL))
		if err != nil {
			return nil, Wrap(KindInternal, err, "")
		}
		ev.Detail += ": service access token issued"
		return &AccessToken{Token: tok, ExpiresIn: int(s.tokenTTL / time.Second), Scope: ScopeService}, nil
	}
	return nil, grantError("unknown scope")
}

// OAuth2Caller authenticates an OAuth2 access token: a service token (Via ViaOAuth2) or a
// credential token, which is a SAD (Via ViaOAuth2SAD; it is checked in full, and consumed,
// when it is used to sign).
func (s *Service) OAuth2Caller(ctx context.Context, token string) (Caller, error) {
	if s.sad == nil {
		return Caller{}, Errorf(KindNotAuthenticated, "unknown bearer token")
	}
	if sad.LooksLikeSAD(token) {
		c, err := s.sad.Peek(token)
		if err != nil {
			return Caller{}, Errorf(KindNotAuthenticated, "the credential access token is invalid or expired")
		}
		return Caller{User: c.User, Via: ViaOAuth2SAD}, nil
	}
	var st serviceToken
	id, _, err := s.sad.Open(sealService, token, &st)
	if err != nil {
		return Caller{}, Errorf(KindNotAuthenticated, "unknown bearer token")
	}
	if s.revoked != nil {
		r, err := s.revoked.Revoked(ctx, "oauth2-access:"+id)
		if err != nil {
			return Caller{}, Wrap(KindInternal, fmt.Errorf("revocation list: %w", err), "")
		}
		if r {
			return Caller{}, Errorf(KindNotAuthenticated, "the access token was revoked")
		}
	}
	return Caller{User: st.User, Via: ViaOAuth2}, nil
}

// RevokeToken revokes an access token of clientID (RFC 7009): a credential token (a SAD) is
// consumed, a service token is put on the revocation list. Tokens that are unknown, invalid,
// expired or of another client are ignored, as RFC 7009 §2.2 asks. Revocations are audited.
func (s *Service) RevokeToken(ctx context.Context, clientID, token string) error {
	if err := s.oauthReady(); err != nil {
		return err
	}
	ev := s.event(ctx, Caller{Via: ViaOAuth2}, AuditOAuth2, "", "")
	if sad.LooksLikeSAD(token) {
		c, err := s.sad.Peek(token)
		if err != nil {
			return nil
		}
		ev.User, ev.Credential = c.User, c.Credential
		ev.Detail = fmt.Sprintf("client %q revoked a credential access token", clipText(clientID))
		var rerr error
		if err := s.sad.Consume(ctx, s.replay, c); err != nil && !errors.Is(err, sad.ErrInvalid) {
			rerr = Wrap(KindInternal, err, "")
		}
		return s.record(ctx, &ev, rerr)
	}
	var st serviceToken
	id, exp, err := s.sad.Open(sealService, token, &st)
	if err != nil || st.ClientID != clientID || s.revoked == nil {
		return nil
	}
	ev.User = st.User
	ev.Detail = fmt.Sprintf("client %q revoked a service access token", clipText(clientID))
	var rerr error
	if err := s.revoked.Revoke(ctx, "oauth2-access:"+id, exp.Add(time.Minute)); err != nil {
		rerr = Wrap(KindInternal, fmt.Errorf("revocation list: %w", err), "")
	}
	return s.record(ctx, &ev, rerr)
}

// Seal and Open protect the OAuth2 binding's own values (pushed requests, page
// transactions) the way codes are protected; the binding chooses the kind.
func (s *Service) Seal(kind string, v any, ttl time.Duration) (string, error) {
	if err := s.oauthReady(); err != nil {
		return "", err
	}
	out, _, err := s.sad.Seal("binding/"+kind, v, s.clock().Add(ttl))
	if err != nil {
		return "", Wrap(KindInternal, err, "")
	}
	return out, nil
}

// Open opens a value of Seal; a forged, foreign or expired value is KindMalformed.
func (s *Service) Open(kind, sealed string, v any) error {
	if err := s.oauthReady(); err != nil {
		return err
	}
	if _, _, err := s.sad.Open("binding/"+kind, sealed, v); err != nil {
		return Wrap(KindMalformed, err, "the request is invalid or expired")
	}
	return nil
}

// FormTag returns the CSRF token of a page form bound to data; CheckFormTag checks one.
func (s *Service) FormTag(data ...string) string {
	if s.sad == nil {
		return ""
	}
	return s.sad.Tag("form", data...)
}

// CheckFormTag reports whether tag is FormTag(data...).
func (s *Service) CheckFormTag(tag string, data ...string) bool {
	return s.sad != nil && tag != "" && s.sad.TagEqual(tag, "form", data...)
}

// ActivationAttemptsLeft returns how many wrong PIN/OTP attempts remain before the
// credential locks (0: locked).
func (s *Service) ActivationAttemptsLeft(ctx context.Context, credentialID string) (int, error) {
	if s.lockout == nil {
		return 0, Wrap(KindInternal, errors.New("no lockout store"), "")
	}
	n, err := s.lockout.Failures(ctx, credentialID)
	if err != nil {
		return 0, Wrap(KindInternal, err, "")
	}
	return max(0, s.maxFail-n), nil
}

// AuditOAuth2Refusal records a request the OAuth2 binding refused by itself (an unregistered
// redirect URI, a missing CSRF token, a bad client) and returns err (or the audit failure).
func (s *Service) AuditOAuth2Refusal(ctx context.Context, user, credential, detail string, err error) error {
	ev := s.event(ctx, Caller{User: user, Via: ViaOAuth2}, AuditOAuth2, "", credential)
	ev.Detail = detail
	return s.record(ctx, &ev, err)
}

// OAuth2TokenTTL is the lifetime of service access tokens.
func (s *Service) OAuth2TokenTTL() time.Duration { return s.tokenTTL }

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
