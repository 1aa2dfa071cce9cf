package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"dssd/binding/authn"
)

// IdentityProviderConfig is one identity provider whose bearer JWTs authenticate users
// (issue 14; binding/authn/jwt.go). Static bearer tokens and client certificates stay.
type IdentityProviderConfig struct {
	Issuer      string   `yaml:"issuer"`                // the "iss" claim, matched exactly
	Audience    string   `yaml:"audience"`              // must be among the "aud" claim's values
	JWKSFile    string   `yaml:"jwks_file"`             // the issuer's JWK Set in a file, or
	JWKSURL     string   `yaml:"jwks_url"`              // at an https URL
	CAFile      string   `yaml:"ca_file"`               // CA certificates for jwks_url (default: the system's)
	UserClaim   string   `yaml:"user_claim"`            // claim naming the user; default sub
	Algorithms  []string `yaml:"algorithms"`            // allowed "alg" values; default RS256, ES256, EdDSA
	Leeway      Duration `yaml:"leeway"`                // clock skew tolerated on exp, nbf, iat; default 30s
	JWKSTTL     Duration `yaml:"jwks_ttl"`              // key set cache lifetime; default 10m
	JWKSRefetch Duration `yaml:"jwks_refetch_interval"` // least time between two key set fetches; default 30s
	AnyUser     bool     `yaml:"any_user"`              // accept user names that are not in users[]
}

var claimRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func (c *Config) resolveIdentityProviderPaths(res func(*string)) {
	for i := range c.IdentityProviders {
		res(&c.IdentityProviders[i].JWKSFile)
		res(&c.IdentityProviders[i].CAFile)
	}
}

func (c *Config) validateIdentityProviders(add func(field, format string, a ...any)) {
	issuers := map[string]bool{}
	for i, p := range c.IdentityProviders {
		f := fmt.Sprintf("identity_providers[%d]", i)
		switch {
		case p.Issuer == "":
			add(f+".issuer", "required")
		case issuers[p.Issuer]:
			add(f+".issuer", "duplicate issuer %q", p.Issuer)
		}
		issuers[p.Issuer] = true
		if p.Audience == "" {
			add(f+".audience", "required (the value of the aud claim that names this dssd)")
		}
		switch {
		case (p.JWKSFile == "") == (p.JWKSURL == ""):
			add(f, "give exactly one of jwks_file and jwks_url")
		case p.JWKSURL != "":
			if u, err := url.Parse(p.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
				add(f+".jwks_url", "%q is not an https URL", p.JWKSURL)
			}
		default:
			checkFile(add, f+".jwks_file", p.JWKSFile)
			if p.CAFile != "" {
				add(f+".ca_file", "only with jwks_url")
			}
		}
		if p.CAFile != "" && checkFile(add, f+".ca_file", p.CAFile) {
			if _, err := readCertificates(p.CAFile); err != nil {
				add(f+".ca_file", "%v", err)
			}
		}
		if p.UserClaim != "" && !claimRE.MatchString(p.UserClaim) {
			add(f+".user_claim", "%q is not a claim name (letters, digits, _ . : -; at most 64)", p.UserClaim)
		}
		seen := map[string]bool{}
		for j, a := range p.Algorithms {
			switch {
			case !authn.ValidJWTAlgorithm(a):
				add(fmt.Sprintf("%s.algorithms[%d]", f, j), "%q is not allowed: asymmetric JWS algorithms only (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)", a)
			case seen[a]:
				add(fmt.Sprintf("%s.algorithms[%d]", f, j), "duplicate %q", a)
			}
			seen[a] = true
		}
		if d := time.Duration(p.Leeway); d < 0 || d > 5*time.Minute {
			add(f+".leeway", "%s is outside 0..5m", d)
		}
		if d := time.Duration(p.JWKSTTL); d < 0 || d > 24*time.Hour {
			add(f+".jwks_ttl", "%s is outside 0..24h", d)
		}
		if d := time.Duration(p.JWKSRefetch); d < 0 || d > time.Hour {
			add(f+".jwks_refetch_interval", "%s is outside 0..1h", d)
		}
	}
}

// identityProviders attaches the JWT verifier of cfg's identity providers to auth (none
// configured: nothing to do). Key sets in files are read now; those at URLs at first use.
func identityProviders(cfg *Config, auth *authn.Authenticator, logger *slog.Logger) error {
	if len(cfg.IdentityProviders) == 0 {
		return nil
	}
	var ps []authn.JWTProvider
	for _, p := range cfg.IdentityProviders {
		jp := authn.JWTProvider{
			Issuer: p.Issuer, Audience: p.Audience, JWKSFile: p.JWKSFile, JWKSURL: p.JWKSURL, UserClaim: p.UserClaim,
			Algorithms: p.Algorithms, Leeway: p.Leeway.Duration(), JWKSTTL: p.JWKSTTL.Duration(), Refetch: p.JWKSRefetch.Duration(),
			AnyUser: p.AnyUser,
		}
		if p.JWKSURL != "" {
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if p.CAFile != "" {
				certs, err := readCertificates(p.CAFile)
				if err != nil {
					return fmt.Errorf("identity provider %q: ca_file: %w", p.Issuer, err)
				}
				tc.RootCAs = x509.NewCertPool()
				for _, c := range certs {
					tc.RootCAs.AddCert(c)
				}
			}
			jp.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		ps = append(ps, jp)
	}
	v, err := authn.NewJWTVerifier(ps, authn.JWTOptions{Logger: logger})
	if err != nil {
		return err
	}
	auth.UseJWT(v)
	return nil
}
