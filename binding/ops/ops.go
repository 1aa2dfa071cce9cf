// Package ops serves the operational endpoints: GET /healthz (liveness), GET /readyz
// (readiness: a real check, typically a token operation, bounded by a timeout) and
// GET /metrics (Prometheus exposition of a given Gatherer).
package ops

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dssd/dss"
)

// DefaultReadyTimeout bounds one readiness check.
const DefaultReadyTimeout = 2 * time.Second

// Options configure the handler.
type Options struct {
	Ready        func(context.Context) error // nil: always ready
	ReadyTimeout time.Duration               // 0: DefaultReadyTimeout
	Gatherer     prometheus.Gatherer         // nil: /metrics is not served
}

// New returns a mux serving /healthz, /readyz and /metrics.
func New(opts Options) http.Handler {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if opts.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), opts.ReadyTimeout)
			defer cancel()
			if err := opts.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + Class(err) + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

// Class names the class of a readiness failure without internals: "timeout", the dss.Kind
// of a *dss.Error (e.g. "HSM unavailable"), or "unavailable".
func Class(err error) string {
	var de *dss.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &de):
		return de.Kind.String()
	}
	return "unavailable"
}
