package metrics

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/dss"
	"dssd/dss/verify"
)

// maxAuthorities bounds the distinct values of the "authority" label: OCSP and CRL addresses
// come from certificates, so past this many hosts they are counted as "other".
const maxAuthorities = 32

// The "service" of an authority exchange.
const (
	ServiceTSA  = "tsa"
	ServiceOCSP = "ocsp"
	ServiceCRL  = "crl"
)

type authorityCollectors struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	timestamps   *prometheus.CounterVec
	timestampDur prometheus.Histogram
	revocation   *prometheus.CounterVec
	revDur       prometheus.Histogram

	mu    sync.Mutex
	known map[string]bool
}

func newAuthorityCollectors(cs *Collectors) *authorityCollectors {
	buckets := prometheus.ExponentialBuckets(0.005, 2, 12)
	return &authorityCollectors{
		known: map[string]bool{},
		requests: cs.CounterVec("dssd_authority_requests_total",
			"HTTP exchanges with timestamp, OCSP and CRL authorities, by service (tsa, ocsp, crl), authority (scheme://host) and outcome (ok, http_4xx, http_5xx, timeout, canceled, error).",
			"service", "authority", "outcome"),
		duration: cs.HistogramVec("dssd_authority_request_duration_seconds",
			"Duration of one exchange with an authority, body included, by service and authority.",
			buckets, "service", "authority"),
		timestamps: cs.CounterVec("dssd_timestamps_total",
			"Timestamp tokens requested by the service, by outcome (ok: a verified token from one of the authorities; failed: none gave one; canceled).",
			"outcome"),
		timestampDur: cs.Histogram("dssd_timestamp_duration_seconds",
			"Time to obtain a verified timestamp token, failover between authorities included.",
			buckets),
		revocation: cs.CounterVec("dssd_revocation_checks_total",
			"Revocation checks of a certificate chain, by outcome (ok, revoked, failed, canceled).",
			"outcome"),
		revDur: cs.Histogram("dssd_revocation_check_duration_seconds",
			"Time to gather the OCSP responses or CRLs of one chain, cache hits included.",
			buckets),
	}
}

// authority returns the label value for u: scheme://host, or "other" past maxAuthorities.
func (c *authorityCollectors) authority(r *http.Request) string {
	name := r.URL.Scheme + "://" + r.URL.Host
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known[name] {
		return name
	}
	if len(c.known) >= maxAuthorities {
		return "other"
	}
	c.known[name] = true
	return name
}

// Transport returns base (http.DefaultTransport when nil) instrumented for service: every
// exchange is counted by authority and outcome and timed until its body is closed. service is
// ServiceTSA, or "" for revocation, where OCSP (a POST) and CRL (a GET) are told apart. A nil
// Meter returns base: Transport, Timestamper and RevocationSource accept a nil receiver.
func (m *Meter) Transport(service string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if m == nil {
		return base
	}
	return &transport{base: base, service: service, c: m.authorities}
}

type transport struct {
	base    http.RoundTripper
	service string
	c       *authorityCollectors
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	svc := t.service
	if svc == "" {
		svc = ServiceCRL
		if r.Method == http.MethodPost {
			svc = ServiceOCSP
		}
	}
	auth := t.c.authority(r)
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		t.c.requests.WithLabelValues(svc, auth, transportOutcome(r.Context(), err)).Inc()
		t.c.duration.WithLabelValues(svc, auth).Observe(time.Since(start).Seconds())
		return nil, err
	}
	outcome := "ok"
	if resp.StatusCode >= 300 {
		outcome = "http_" + strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	t.c.requests.WithLabelValues(svc, auth, outcome).Inc()
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() {
		t.c.duration.WithLabelValues(svc, auth).Observe(time.Since(start).Seconds())
	}}
	return resp, nil
}

func transportOutcome(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(ctx.Err(), context.Canceled):
		return "canceled"
	}
	return "error"
}

type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

// Timestamper returns t instrumented (dssd_timestamps_total, dssd_timestamp_duration_seconds);
// nil stays nil.
func (m *Meter) Timestamper(t dss.Timestamper) dss.Timestamper {
	if t == nil || m == nil {
		return t
	}
	return &timestamper{inner: t, c: m.authorities}
}

type timestamper struct {
	inner dss.Timestamper
	c     *authorityCollectors
}

func (t *timestamper) Timestamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	start := time.Now()
	tok, err := t.inner.Timestamp(ctx, h, digest)
	t.c.timestampDur.Observe(time.Since(start).Seconds())
	t.c.timestamps.WithLabelValues(callOutcome(ctx, err)).Inc()
	return tok, err
}

// callOutcome names how a call of a decorated port ended: ok, canceled (its context ended)
// or failed.
func callOutcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() != nil:
		return "canceled"
	}
	return "failed"
}

// RevocationSource returns r instrumented (dssd_revocation_checks_total,
// dssd_revocation_check_duration_seconds); nil stays nil.
func (m *Meter) RevocationSource(r dss.RevocationSource) dss.RevocationSource {
	if r == nil || m == nil {
		return r
	}
	return &revocationSource{inner: r, c: m.authorities}
}

type revocationSource struct {
	inner dss.RevocationSource
	c     *authorityCollectors
}

func (r *revocationSource) Validation(ctx context.Context, chain []*x509.Certificate, fresh func(thisUpdate, nextUpdate time.Time) bool) ([][]byte, [][]byte, error) {
	start := time.Now()
	o, c, err := r.inner.Validation(ctx, chain, fresh)
	r.c.revDur.Observe(time.Since(start).Seconds())
	outcome := callOutcome(ctx, err)
	if errors.Is(err, verify.ErrRevoked) { // before canceled: the answer was given
		outcome = "revoked"
	}
	r.c.revocation.WithLabelValues(outcome).Inc()
	return o, c, err
}
