package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"dssd/binding/authn"
	"dssd/binding/oauth2"
	"dssd/dss"
)

// OAuth2Config configures the OAuth2 authorization server of the CSC API (interface.md §7).
// It is served when at least one client is configured.
type OAuth2Config struct {
	Clients  []OAuth2ClientConfig `yaml:"clients"`
	CodeTTL  Duration             `yaml:"code_ttl"`  // authorization code lifetime; default 1m, at most 10m
	TokenTTL Duration             `yaml:"token_ttl"` // service access token lifetime; default 1h, at most 24h
}

// OAuth2ClientConfig is one registered OAuth2 client.
type OAuth2ClientConfig struct {
	ID           string   `yaml:"client_id"`
	SecretSHA256 []string `yaml:"client_secret_sha256"` // hex SHA-256 of each accepted client secret
	RedirectURIs []string `yaml:"redirect_uris"`        // matched exactly
}

// CSCConfig holds options of the CSC API binding.
type CSCConfig struct {
	Region string `yaml:"region"` // ISO 3166-1 alpha-2 code announced by info; default ZZ
	V1     bool   `yaml:"v1"`     // also serve /csc/v1/ with the CSC 1.0.4 member names (pyHanko)
}

var regionRE = regexp.MustCompile(`^[A-Z]{2}$`)

func (c *Config) validateOAuth2(add func(field, format string, a ...any)) {
	if r := c.CSC.Region; r != "" && !regionRE.MatchString(r) {
		add("csc.region", "%q is not an ISO 3166-1 alpha-2 code (two upper-case letters)", r)
	}
	for i, u := range c.Users {
		if u.PasswordHash == "" {
			continue
		}
		if _, err := dss.ParsePINHash(u.PasswordHash); err != nil {
			add(fmt.Sprintf("users[%d].password_hash", i), "%v", err)
		}
	}
	o := c.OAuth2
	if d := time.Duration(o.CodeTTL); d < 0 || d > 10*time.Minute {
		add("oauth2.code_ttl", "%s is outside 0..10m", d)
	}
	if d := time.Duration(o.TokenTTL); d < 0 || d > 24*time.Hour {
		add("oauth2.token_ttl", "%s is outside 0..24h", d)
	}
	ids := map[string]bool{}
	for i, cl := range o.Clients {
		f := fmt.Sprintf("oauth2.clients[%d]", i)
		switch {
		case cl.ID == "" || !nameRE.MatchString(cl.ID):
			add(f+".client_id", "required: letters, digits and . _ @ - (at most 128)")
		case ids[cl.ID]:
			add(f+".client_id", "duplicate client %q", cl.ID)
		}
		ids[cl.ID] = true
		if len(cl.SecretSHA256) == 0 {
			add(f+".client_secret_sha256", "required (public clients are not supported)")
		}
		for j, h := range cl.SecretSHA256 {
			if !sha256RE.MatchString(h) {
				add(fmt.Sprintf("%s.client_secret_sha256[%d]", f, j), "not a hex SHA-256 (64 hex digits)")
			}
		}
		if len(cl.RedirectURIs) == 0 {
			add(f+".redirect_uris", "at least one is required")
		}
		for j, r := range cl.RedirectURIs {
			if msg := checkRedirectURI(r); msg != "" {
				add(fmt.Sprintf("%s.redirect_uris[%d]", f, j), "%q: %s", r, msg)
			}
		}
	}
	if len(o.Clients) > 0 && c.SAD.KeyFile == "" && c.Store.Type == "postgres" {
		add("oauth2", "needs sad.key_file with store type postgres (codes and tokens are sealed with it)")
	}
}

// checkRedirectURI accepts absolute https URIs and http URIs on a loopback address
// (RFC 8252 §7.3), without fragment.
func checkRedirectURI(r string) string {
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "not an absolute URI"
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return "must not have a fragment"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			return ""
		}
		return "http is allowed on a loopback address only"
	}
	return "use https (or http on a loopback address)"
}

// oauth2Clients converts the configured clients.
func oauth2Clients(cfg *Config) ([]oauth2.Client, error) {
	var out []oauth2.Client
	for _, cl := range cfg.OAuth2.Clients {
		c := oauth2.Client{ID: cl.ID, RedirectURIs: append([]string(nil), cl.RedirectURIs...)}
		for _, h := range cl.SecretSHA256 {
			d, err := hexDigest(h)
			if err != nil {
				return nil, fmt.Errorf("oauth2 client %s: %w", cl.ID, err)
			}
			c.SecretSHA256 = append(c.SecretSHA256, d)
		}
		out = append(out, c)
	}
	return out, nil
}

// userPasswords parses the users' password hashes.
func userPasswords(cfg *Config) (map[string]*dss.PINHash, error) {
	out := map[string]*dss.PINHash{}
	for _, u := range cfg.Users {
		if u.PasswordHash == "" {
			continue
		}
		h, err := dss.ParsePINHash(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("user %s: password_hash: %w", u.Name, err)
		}
		out[u.Name] = h
	}
	return out, nil
}

// revocations keeps revoked OAuth2 access tokens in the shared lockout counters: a revoked
// token's id gets one "failure", which every node sees; nothing else reads those keys.
type revocations struct{ st dss.LockoutStore }

func (r revocations) Revoke(ctx context.Context, id string, _ time.Time) error {
	_, err := r.st.RecordFailure(ctx, id)
	return err
}

func (r revocations) Revoked(ctx context.Context, id string) (bool, error) {
	n, err := r.st.Failures(ctx, id)
	return n > 0, err
}

// mountOAuth2 mounts the OAuth2 server when clients are configured and returns the CSC
// authenticator (which then also accepts OAuth2 access tokens).
func mountOAuth2(mux *http.ServeMux, cfg *Config, svc *dss.Service, auth *authn.Authenticator, logger *slog.Logger) (cscAuthenticator, bool, error) {
	if len(cfg.OAuth2.Clients) == 0 {
		return auth, false, nil
	}
	clients, err := oauth2Clients(cfg)
	if err != nil {
		return nil, false, err
	}
	mux.Handle(oauth2.Prefix, oauth2.New(svc, oauth2.Options{Clients: clients, MaxHashes: cfg.Limits.MaxDocuments, Logger: logger, Limiter: auth}))
	return oauth2.BearerAuthenticator{Base: auth, Svc: svc}, true, nil
}

type cscAuthenticator interface {
	Authenticate(*http.Request) (dss.Caller, error)
}

// hashPassword reads a password (or PIN) from the first line of r and prints its argon2id
// PHC string for users[].password_hash (or a credential's pin_file).
func hashPassword(r io.Reader, w io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("hash-password: give the password on standard input")
	}
	h, err := dss.NewPINHash([]byte(pw), nil)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	_, err = fmt.Fprintln(w, h.String())
	return err
}
