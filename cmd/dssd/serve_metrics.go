package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"dssd/dss/metrics"
)

// newMetrics builds the registry served at /metrics: the Go runtime and process collectors,
// dssd_build_info and the service's meter (docs/deploy.md lists the families).
func newMetrics() (*prometheus.Registry, *metrics.Meter, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := metrics.BuildInfo(reg, versionString(), runtime.Version()); err != nil {
		return nil, nil, err
	}
	meter, err := metrics.New(reg)
	if err != nil {
		return nil, nil, err
	}
	return reg, meter, nil
}

// authorityTransport is the HTTP transport of one timestamp authority or of the revocation
// client, built as dss/tsp and dss/revocation build theirs when given none.
func authorityTransport(roots *x509.CertPool, handshake time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: handshake,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
}

// hostRouter sends each request to the transport of its authority (scheme://host): the
// timestamp client takes one transport for all authorities, each of which has its own CAs.
type hostRouter map[string]http.RoundTripper

func (h hostRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	rt, ok := h[r.URL.Scheme+"://"+r.URL.Host]
	if !ok {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("no transport for %s://%s", r.URL.Scheme, r.URL.Host)
	}
	return rt.RoundTrip(r)
}
