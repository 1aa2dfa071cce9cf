// Package revocation fetches and checks the revocation status of certificate chains for XAdES
// B-LT and B-LTA: OCSP first (the responders named in each certificate's authority information
// access), the CRL distribution points when no OCSP responder gives a usable answer. Every
// answer is verified before use: an OCSP response is signed by the issuer or by a responder the
// issuer delegated (extended key usage OCSPSigning), a CRL by the issuer, and both are current
// (thisUpdate not in the future, nextUpdate not passed). Verified answers are cached per
// certificate until their nextUpdate or a maximum age, whichever comes first.
//
// The package also holds the development OCSP responder and CRL handler (responder.go).
package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/dss/verify"
	"dssd/internal/positive"
)

// Defaults applied by New to fields left zero.
const (
	DefaultOCSPTimeout      = 5 * time.Second
	DefaultCRLTimeout       = 10 * time.Second
	DefaultMaxAge           = time.Hour
	DefaultCacheEntries     = 1024
	DefaultMaxClockSkew     = 5 * time.Minute
	DefaultMaxCRLBytes      = 16 << 20
	DefaultMaxOCSPBytes     = 1 << 20
	oidOCSPNoCheckExtension = "1.3.6.1.5.5.7.48.1.5"
)

// RevokedError says which certificate was revoked, when and why. It wraps verify.ErrRevoked,
// the one sentinel of a revocation (declared with the RevocationSource port it belongs to).
type RevokedError struct {
	Subject   string
	Serial    *big.Int
	RevokedAt time.Time
	Reason    int    // RFC 5280 CRLReason
	Source    string // "OCSP" or "CRL"
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("certificate %q (serial %x) was revoked at %s, reason %s (%s)",
		e.Subject, e.Serial, e.RevokedAt.UTC().Format(time.RFC3339), reasonName(e.Reason), e.Source)
}

func (e *RevokedError) Unwrap() error { return verify.ErrRevoked }

func reasonName(r int) string {
	names := []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn", "aACompromise"}
	if r >= 0 && r < len(names) && names[r] != "" {
		return names[r]
	}
	return fmt.Sprintf("%d", r)
}

// Config configures a Source.
type Config struct {
	// RootCAs are trusted for https:// OCSP and CRL URLs; nil means the system roots.
	RootCAs *x509.CertPool
	// Transport, when set, replaces the one built from RootCAs (tests count requests with it).
	Transport http.RoundTripper
	// OCSPTimeout bounds one OCSP request, CRLTimeout one CRL download.
	OCSPTimeout, CRLTimeout time.Duration
	// MaxAge is the longest time an answer is used: a cached answer is fetched again after
	// MaxAge even when its nextUpdate is later, and an answer without nextUpdate is stale once
	// its thisUpdate is older than MaxAge.
	MaxAge time.Duration
	// CacheEntries bounds the cache (DefaultCacheEntries when 0; negative disables caching).
	CacheEntries int
	// MaxClockSkew is how far in the future a thisUpdate may lie.
	MaxClockSkew time.Duration
	// MaxCRLBytes and MaxOCSPBytes bound downloads.
	MaxCRLBytes, MaxOCSPBytes int64
	// Anchors are trust anchors: a chain certificate that is an anchor is not checked, and an
	// anchor may serve as the issuer of the last certificate of a chain.
	Anchors []*x509.Certificate
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Source fetches revocation material. It is safe for concurrent use.
type Source struct {
	cfg    Config
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]*entry

	// links remembers which certificate signatures were verified: the key is the SHA-256 of
	// the child's DER followed by that of the signer's. Certificates are immutable, so a
	// verified link stays verified; only successes are kept, and the map is cleared when it
	// reaches linkEntries (it holds the service's few chains, not attacker-chosen ones).
	linkMu sync.Mutex
	links  map[[64]byte]struct{}
}

// linkEntries bounds Source.links.
const linkEntries = 4096

// entry is the verified status of one certificate.
type entry struct {
	ocsp, crl  []byte        // the DER answer (exactly one is set)
	revoked    *RevokedError // nil when good
	expires    time.Time
	thisUpdate time.Time
	nextUpdate time.Time // zero: absent
}

// Fresh says whether a "good" answer issued at thisUpdate and valid until nextUpdate (zero:
// absent) is fresh enough for the caller (for B-LT: dss/verify.RevocationFresh with the
// signature timestamp as proof of existence).
type Fresh func(thisUpdate, nextUpdate time.Time) bool

// New returns a Source for cfg with defaults applied.
func New(cfg Config) *Source {
	positive.Or(&cfg.OCSPTimeout, DefaultOCSPTimeout)
	positive.Or(&cfg.CRLTimeout, DefaultCRLTimeout)
	positive.Or(&cfg.MaxAge, DefaultMaxAge)
	if cfg.CacheEntries == 0 { // negative disables the cache
		cfg.CacheEntries = DefaultCacheEntries
	}
	positive.Or(&cfg.MaxClockSkew, DefaultMaxClockSkew)
	positive.Or(&cfg.MaxCRLBytes, DefaultMaxCRLBytes)
	positive.Or(&cfg.MaxOCSPBytes, DefaultMaxOCSPBytes)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: cfg.OCSPTimeout,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	return &Source{
		cfg: cfg,
		now: now,
		client: &http.Client{
			Transport: rt,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
					return errors.New("redirect to a non-http URL")
				}
				return nil
			},
		},
		cache: map[[32]byte]*entry{},
		links: map[[64]byte]struct{}{},
	}
}

// Validation returns, for every certificate of chain except a self-signed certificate or a
// configured anchor, the DER OCSP response (OCSPResponse) or CRL that shows it is not revoked,
// without duplicates. chain is the signer's certificate first, then its issuers. The error wraps
// verify.ErrRevoked (as a *RevokedError) when a certificate is revoked; no material is returned with
// an error.
func (s *Source) Validation(ctx context.Context, chain []*x509.Certificate) (ocspResponses [][]byte, crls [][]byte, err error) {
	return s.ValidationFresh(ctx, chain, nil)
}

// ValidationFresh is Validation where every "good" answer must also be fresh (nil: any
// current answer): a cached answer that is not is fetched again, and a fetched one that is
// not is no status (the next responder or distribution point is asked). A "revoked" answer
// is returned whatever its date: revocation does not become untrue.
func (s *Source) ValidationFresh(ctx context.Context, chain []*x509.Certificate, fresh Fresh) (ocspResponses [][]byte, crls [][]byte, err error) {
	if len(chain) == 0 {
		return nil, nil, errors.New("revocation: empty certificate chain")
	}
	seen := map[[32]byte]bool{}
	add := func(list *[][]byte, der []byte) {
		k := sha256.Sum256(der)
		if !seen[k] {
			seen[k] = true
			*list = append(*list, der)
		}
	}
	for i, c := range chain {
		if s.isAnchor(c) || s.isSelfSigned(c) || hasOCSPNoCheck(c) {
			continue
		}
		issuer := s.issuerOf(c, chain[i+1:])
		if issuer == nil {
			return nil, nil, fmt.Errorf("revocation: the issuer of %q is neither in the chain nor an anchor", c.Subject.String())
		}
		e, err := s.status(ctx, c, issuer, fresh)
		if err != nil {
			return nil, nil, err
		}
		if e.revoked != nil {
			return nil, nil, fmt.Errorf("revocation: %w", e.revoked)
		}
		if e.ocsp != nil {
			add(&ocspResponses, e.ocsp)
		} else {
			add(&crls, e.crl)
		}
	}
	return ocspResponses, crls, nil
}

func (s *Source) isAnchor(c *x509.Certificate) bool {
	for _, a := range s.cfg.Anchors {
		if a.Equal(c) {
			return true
		}
	}
	return false
}

func (s *Source) isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && s.signedBy(c, c)
}

// signedBy reports whether p's key signed c (x509.Certificate.CheckSignatureFrom), from the
// cache of verified links when it can: every signature costs a public-key verification, and
// the same chains come with every signing request.
func (s *Source) signedBy(c, p *x509.Certificate) bool {
	var key [64]byte
	ch, ph := sha256.Sum256(c.Raw), sha256.Sum256(p.Raw)
	copy(key[:32], ch[:])
	copy(key[32:], ph[:])
	s.linkMu.Lock()
	_, ok := s.links[key]
	s.linkMu.Unlock()
	if ok {
		return true
	}
	if c.CheckSignatureFrom(p) != nil {
		return false
	}
	s.linkMu.Lock()
	if len(s.links) >= linkEntries {
		clear(s.links)
	}
	s.links[key] = struct{}{}
	s.linkMu.Unlock()
	return true
}

func hasOCSPNoCheck(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.String() == oidOCSPNoCheckExtension {
			return true
		}
	}
	return false
}

// issuerOf returns the certificate that signed c: the next certificate of the chain, or else
// an anchor.
func (s *Source) issuerOf(c *x509.Certificate, rest []*x509.Certificate) *x509.Certificate {
	candidates := append(append([]*x509.Certificate{}, rest...), s.cfg.Anchors...)
	for _, p := range candidates {
		if bytes.Equal(c.RawIssuer, p.RawSubject) && s.signedBy(c, p) {
			return p
		}
	}
	return nil
}

// usable reports whether e may be used by a caller that asks for fresh answers.
func (e *entry) usable(fresh Fresh) bool {
	return fresh == nil || e.revoked != nil || fresh(e.thisUpdate, e.nextUpdate)
}

// status returns the verified status of c, from the cache or fetched.
func (s *Source) status(ctx context.Context, c, issuer *x509.Certificate, fresh Fresh) (*entry, error) {
	key := sha256.Sum256(c.Raw)
	now := s.now()
	s.mu.Lock()
	if e, ok := s.cache[key]; ok {
		if now.Before(e.expires) && e.usable(fresh) {
			s.mu.Unlock()
			return e, nil
		}
		if !now.Before(e.expires) {
			delete(s.cache, key)
		}
	}
	s.mu.Unlock()
	// kept stores a fetched answer and returns it when it is fresh enough, else why not.
	kept := func(e *entry, err error) (*entry, error) {
		if err != nil {
			return nil, err
		}
		s.store(key, e)
		if !e.usable(fresh) {
			return nil, fmt.Errorf("the answer issued at %s is not fresh enough", e.thisUpdate.UTC().Format(time.RFC3339))
		}
		return e, nil
	}

	var errs []string
	for _, u := range c.OCSPServer {
		e, err := kept(s.fetchOCSP(ctx, u, c, issuer))
		if err == nil {
			return e, nil
		}
		errs = append(errs, fmt.Sprintf("ocsp %s: %v", safeURL(u), err))
		if ctx.Err() != nil {
			break
		}
	}
	for _, u := range c.CRLDistributionPoints {
		if ctx.Err() != nil {
			break
		}
		e, err := kept(s.fetchCRL(ctx, u, c, issuer))
		if err == nil {
			return e, nil
		}
		errs = append(errs, fmt.Sprintf("crl %s: %v", safeURL(u), err))
	}
	if len(c.OCSPServer) == 0 && len(c.CRLDistributionPoints) == 0 {
		errs = append(errs, "the certificate names no OCSP responder and no CRL distribution point")
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("revocation: no status for %q (serial %x): %s", c.Subject.String(), c.SerialNumber, strings.Join(errs, "; "))
}

func (s *Source) store(key [32]byte, e *entry) {
	if s.cfg.CacheEntries < 0 {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= s.cfg.CacheEntries {
		for k, old := range s.cache {
			if !now.Before(old.expires) {
				delete(s.cache, k)
			}
		}
		for k := range s.cache {
			if len(s.cache) < s.cfg.CacheEntries {
				break
			}
			delete(s.cache, k)
		}
	}
	s.cache[key] = e
}

// expiry is when an answer produced at thisUpdate, valid until nextUpdate (zero: unknown) and
// fetched now stops being used.
func (s *Source) expiry(now, nextUpdate time.Time) time.Time {
	exp := now.Add(s.cfg.MaxAge)
	if !nextUpdate.IsZero() && nextUpdate.Before(exp) {
		exp = nextUpdate
	}
	return exp
}

// checkTimes applies the currency rules to thisUpdate and nextUpdate.
func (s *Source) checkTimes(now, thisUpdate, nextUpdate time.Time) error {
	switch {
	case thisUpdate.IsZero():
		return errors.New("no thisUpdate")
	case thisUpdate.After(now.Add(s.cfg.MaxClockSkew)):
		return fmt.Errorf("thisUpdate %s lies in the future", thisUpdate.UTC().Format(time.RFC3339))
	case !nextUpdate.IsZero() && nextUpdate.Before(thisUpdate):
		return errors.New("nextUpdate is before thisUpdate")
	case !nextUpdate.IsZero() && !now.Before(nextUpdate):
		return fmt.Errorf("stale: nextUpdate %s has passed", nextUpdate.UTC().Format(time.RFC3339))
	case nextUpdate.IsZero() && now.Sub(thisUpdate) > s.cfg.MaxAge:
		return fmt.Errorf("stale: thisUpdate %s is older than %s and there is no nextUpdate", thisUpdate.UTC().Format(time.RFC3339), s.cfg.MaxAge)
	}
	return nil
}

// fetchOCSP asks one responder about c and verifies the answer.
func (s *Source) fetchOCSP(ctx context.Context, u string, c, issuer *x509.Certificate) (*entry, error) {
	reqDER, err := ocsp.CreateRequest(c, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	der, err := s.fetch(ctx, http.MethodPost, u, reqDER, s.cfg.OCSPTimeout, s.cfg.MaxOCSPBytes, "application/ocsp-request")
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.ParseResponseForCert(der, c, issuer)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("the responder answers %s", re.Status)
		}
		var pe ocsp.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("unusable response: %w", err)
		}
		return nil, errors.New("the answer is not a DER OCSP response")
	}
	now := s.now()
	if rc := resp.Certificate; rc != nil && !rc.Equal(issuer) {
		// ParseResponseForCert checked that the issuer signed rc and rc signed the response.
		if !hasEKU(rc, x509.ExtKeyUsageOCSPSigning) {
			return nil, fmt.Errorf("the response is signed by %q, which the issuer did not authorise for OCSP (no OCSPSigning extended key usage)", rc.Subject.String())
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return nil, fmt.Errorf("the responder certificate %q is not valid now", rc.Subject.String())
		}
	}
	if resp.SerialNumber == nil || resp.SerialNumber.Cmp(c.SerialNumber) != 0 {
		return nil, errors.New("the response is about another certificate")
	}
	if err := s.checkTimes(now, resp.ThisUpdate, resp.NextUpdate); err != nil {
		return nil, err
	}
	e := &entry{ocsp: der, expires: s.expiry(now, resp.NextUpdate), thisUpdate: resp.ThisUpdate, nextUpdate: resp.NextUpdate}
	switch resp.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		e.revoked = &RevokedError{Subject: c.Subject.String(), Serial: c.SerialNumber, RevokedAt: resp.RevokedAt, Reason: resp.RevocationReason, Source: "OCSP"}
	default:
		return nil, errors.New("the responder does not know the certificate (status unknown)")
	}
	return e, nil
}

func hasEKU(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == want {
			return true
		}
	}
	return false
}

var (
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
)

// fetchCRL downloads one CRL and looks c up in it.
func (s *Source) fetchCRL(ctx context.Context, u string, c, issuer *x509.Certificate) (*entry, error) {
	der, err := s.fetch(ctx, http.MethodGet, u, nil, s.cfg.CRLTimeout, s.cfg.MaxCRLBytes, "")
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(bytes.TrimSpace(der), []byte("-----BEGIN")) {
		return nil, errors.New("PEM instead of a DER CRL")
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, errors.New("the answer is not a DER CRL")
	}
	if !bytes.Equal(crl.RawIssuer, c.RawIssuer) {
		return nil, errors.New("the CRL is issued by another CA")
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("bad CRL signature: %w", err)
	}
	for _, ext := range crl.Extensions {
		if ext.Id.Equal(oidDeltaCRLIndicator) {
			return nil, errors.New("a delta CRL is not a complete CRL")
		}
		if ext.Critical && ext.Id.Equal(oidIssuingDistributionPoint) {
			return nil, errors.New("partitioned CRLs (issuing distribution point) are not supported")
		}
	}
	now := s.now()
	if err := s.checkTimes(now, crl.ThisUpdate, crl.NextUpdate); err != nil {
		return nil, err
	}
	e := &entry{crl: der, expires: s.expiry(now, crl.NextUpdate), thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate}
	for _, r := range crl.RevokedCertificateEntries {
		if r.SerialNumber != nil && r.SerialNumber.Cmp(c.SerialNumber) == 0 {
			e.revoked = &RevokedError{Subject: c.Subject.String(), Serial: c.SerialNumber, RevokedAt: r.RevocationTime, Reason: r.ReasonCode, Source: "CRL"}
			break
		}
	}
	return e, nil
}

// fetch performs one bounded HTTP exchange and returns the body of a 200 answer.
func (s *Source) fetch(ctx context.Context, method, u string, body []byte, timeout time.Duration, maxBytes int64, contentType string) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return nil, errors.New("not an http(s) URL")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, errors.New("bad URL")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transportError(ctx, timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, transportError(ctx, timeout, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("answer larger than %d bytes", maxBytes)
	}
	return data, nil
}

func transportError(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("unreachable: %v", ue.Err)
	}
	return fmt.Errorf("unreachable: %v", err)
}

// safeURL is u without user information, query or fragment.
func safeURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: pu.Scheme, Host: pu.Host, Path: pu.Path}).String()
}

// RevocationTime is when the certificate was revoked (dss/verify reads it through an
// interface to judge past-time validation).
func (e *RevokedError) RevocationTime() time.Time { return e.RevokedAt }
