// Package tsp is an RFC 3161 timestamp client for XAdES B-T and above, and a small timestamp
// authority for development mode and tests.
//
// The Client asks several authorities in order: each gets its own timeout, and the first valid
// token wins. A token is valid only when the response status is granted (or grantedWithMods),
// the nonce of the request is echoed, the message imprint names the requested hash algorithm and
// digest, the CMS signature verifies, the signer's certificate is the one its ESS
// signing-certificate attribute names, and that certificate carries the critical timeStamping
// extended key usage and chains to one of the configured anchors at the current time.
//
// Errors name the cause per authority (URL without user information or query) and never carry
// request or response bytes.
package tsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
)

// Defaults applied by New to fields left zero.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxClockSkew     = 5 * time.Minute
	DefaultMaxResponseBytes = 1 << 20
)

// ErrUnavailable is wrapped by Timestamp when no authority gave a valid token.
var ErrUnavailable = errors.New("no timestamp authority gave a valid token")

// Authority is one RFC 3161 timestamp authority.
type Authority struct {
	// URL is the http:// or https:// address requests are POSTed to.
	URL string
	// Timeout bounds one request to this authority, connection included (DefaultTimeout when 0).
	Timeout time.Duration
	// RootCAs are the CA certificates trusted for the TLS connection; nil means the system roots.
	RootCAs *x509.CertPool
}

// Config configures a Client.
type Config struct {
	// Authorities are tried in order until one returns a valid token.
	Authorities []Authority
	// Anchors are the trust anchors a TSA certificate must chain to. Required.
	Anchors []*x509.Certificate
	// Intermediates help build the TSA certificate chain when a token does not carry it.
	Intermediates []*x509.Certificate
	// Policy, when set, is the TSA policy requested (reqPolicy) and required in the token.
	Policy asn1.ObjectIdentifier
	// MaxClockSkew bounds the distance between the token's genTime and the local clock
	// (DefaultMaxClockSkew when 0).
	MaxClockSkew time.Duration
	// MaxResponseBytes bounds a response body (DefaultMaxResponseBytes when 0).
	MaxResponseBytes int64
	// Now is the clock (time.Now when nil); Rand the source of nonces (crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
	// Transport, when set, is used for every authority instead of one built from RootCAs
	// (tests use it to count or fail requests).
	Transport http.RoundTripper
}

// Client obtains verified timestamp tokens. It is safe for concurrent use.
type Client struct {
	auths    []authority
	anchors  *x509.CertPool
	inter    []*x509.Certificate
	policy   asn1.ObjectIdentifier
	skew     time.Duration
	maxBytes int64
	now      func() time.Time
	rand     io.Reader
}

type authority struct {
	url     string
	name    string // URL without user information, query or fragment: safe in errors
	timeout time.Duration
	client  *http.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if len(cfg.Authorities) == 0 {
		return nil, errors.New("tsp: no timestamp authority configured")
	}
	if len(cfg.Anchors) == 0 {
		return nil, errors.New("tsp: no trust anchor configured for TSA certificates")
	}
	c := &Client{
		anchors:  x509.NewCertPool(),
		inter:    cfg.Intermediates,
		policy:   cfg.Policy,
		skew:     cfg.MaxClockSkew,
		maxBytes: cfg.MaxResponseBytes,
		now:      cfg.Now,
		rand:     cfg.Rand,
	}
	for _, a := range cfg.Anchors {
		c.anchors.AddCert(a)
	}
	if c.skew <= 0 {
		c.skew = DefaultMaxClockSkew
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	for i, a := range cfg.Authorities {
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("tsp: authority %d: not an http(s) URL", i+1)
		}
		name := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
		to := a.Timeout
		if to <= 0 {
			to = DefaultTimeout
		}
		rt := cfg.Transport
		if rt == nil {
			rt = &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				TLSClientConfig:     &tls.Config{RootCAs: a.RootCAs, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: to,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     90 * time.Second,
			}
		}
		c.auths = append(c.auths, authority{
			url: a.URL, name: name, timeout: to,
			client: &http.Client{
				Transport: rt,
				// A timestamp request is a POST: a redirect is a misconfiguration, not a hint.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
		})
	}
	return c, nil
}

// Timestamp returns a verified DER TimeStampToken (CMS ContentInfo) over digest, which h made.
// Authorities are tried in order; the error, when all fail, wraps ErrUnavailable and names the
// cause for each authority.
func (c *Client) Timestamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("tsp: hash algorithm %v is not supported", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("tsp: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	var errs []error
	for _, a := range c.auths {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("tsa %s: not tried: %w", a.name, err))
			continue
		}
		tok, err := c.ask(ctx, a, h, digest)
		if err == nil {
			return tok, nil
		}
		errs = append(errs, fmt.Errorf("tsa %s: %w", a.name, err))
	}
	return nil, &failure{errs: errs}
}

// failure is the error of Timestamp when every authority failed: it wraps ErrUnavailable and
// each authority's error, and reads as one line.
type failure struct{ errs []error }

func (f *failure) Error() string {
	msgs := make([]string, len(f.errs))
	for i, e := range f.errs {
		msgs[i] = e.Error()
	}
	return "tsp: " + ErrUnavailable.Error() + ": " + strings.Join(msgs, "; ")
}

func (f *failure) Unwrap() []error { return append([]error{ErrUnavailable}, f.errs...) }

// ask performs one request to a and verifies the answer.
func (c *Client) ask(ctx context.Context, a authority, h crypto.Hash, digest []byte) ([]byte, error) {
	nonce, err := c.nonce()
	if err != nil {
		return nil, err
	}
	req := timestamp.Request{HashAlgorithm: h, HashedMessage: digest, Certificates: true, Nonce: nonce, TSAPolicyOID: c.policy}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	interrupted := func(err error) error {
		if perr := parent.Err(); perr != nil {
			return fmt.Errorf("interrupted: %w", perr)
		}
		return transportError(ctx, a.timeout, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("bad request URL")
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hr.Header.Set("Accept", "application/timestamp-reply")
	resp, err := a.client.Do(hr)
	if err != nil {
		return nil, interrupted(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", interrupted(err))
	}
	if int64(len(data)) > c.maxBytes {
		return nil, fmt.Errorf("response larger than %d bytes", c.maxBytes)
	}
	return c.verifyResponse(data, h, digest, nonce)
}

// transportError describes a failed exchange; a deadline names the timeout.
func transportError(ctx context.Context, timeout time.Duration, err error) error {
	// The per-authority deadline is not the caller's: it is reported, not wrapped (ask wraps
	// the caller's own context error).
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return errors.New("cancelled")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the URL, which may hold user information: keep only the cause.
		return fmt.Errorf("unreachable: %w", ue.Err)
	}
	return fmt.Errorf("unreachable: %w", err)
}

// nonce returns a random positive 64-bit nonce.
func (c *Client) nonce() (*big.Int, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	b[0] |= 0x01 // never zero, never shorter than it should be
	return new(big.Int).SetBytes(b), nil
}
