package ops

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/dss/metrics"
)

// HTTPMetrics counts and times the requests of a ServeMux by route: the mux pattern that
// matched (never the raw path, which the client chooses), "unmatched" when none did.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewHTTPMetrics registers dssd_http_requests_total{route,method,code},
// dssd_http_request_duration_seconds{route,method} and dssd_http_requests_in_flight with reg.
func NewHTTPMetrics(reg prometheus.Registerer) (*HTTPMetrics, error) {
	cs := metrics.NewCollectors(reg)
	m := &HTTPMetrics{
		requests: cs.CounterVec("dssd_http_requests_total",
			"HTTP requests answered, by route (the mux pattern), method and status code.",
			"route", "method", "code"),
		duration: cs.HistogramVec("dssd_http_request_duration_seconds",
			"Time from the request headers to the end of the handler, by route and method.",
			prometheus.ExponentialBuckets(0.001, 2, 15), "route", "method"),
		inFlight: cs.Gauge("dssd_http_requests_in_flight", "HTTP requests being served."),
	}
	if err := cs.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// Wrap returns next measured; routes are named by the pattern of mux that matches the request
// (next is typically mux itself, or mux behind a timeout handler).
func (m *HTTPMetrics) Wrap(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "unmatched"
		if _, p := mux.Handler(r); p != "" {
			route = p
		}
		method := methodLabel(r.Method)
		m.inFlight.Inc()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			m.inFlight.Dec()
			code := sw.code
			if code == 0 {
				code = http.StatusOK // nothing written: net/http answers 200
			}
			m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel keeps the label set bounded: unknown methods are "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status code; Unwrap lets http.ResponseController reach the
// connection (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx answers are not the final status
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
