package ops

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHTTPMetricsByRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	hm, err := NewHTTPMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/sign", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("signed"))
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {}) // writes nothing: 200
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(50 * time.Millisecond) })
	h := hm.Wrap(mux, http.TimeoutHandler(mux, 10*time.Millisecond, ""))

	do := func(method, target string, auth bool) int {
		req := httptest.NewRequest(method, target, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer x")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	do("POST", "/sign", true)
	do("POST", "/sign", true)
	do("POST", "/sign", false)
	do("GET", "/items/1", false)
	do("GET", "/items/2", false) // same route as /items/1: the pattern, not the path
	do("GET", "/no/such/path/abc", false)
	do("BREW", "/sign", true)
	if c := do("GET", "/slow", false); c != http.StatusServiceUnavailable {
		t.Fatalf("timeout answered %d", c)
	}
	want := `
# HELP dssd_http_requests_total HTTP requests answered, by route (the mux pattern), method and status code.
# TYPE dssd_http_requests_total counter
dssd_http_requests_total{code="200",method="GET",route="GET /items/{id}"} 2
dssd_http_requests_total{code="200",method="POST",route="/sign"} 2
dssd_http_requests_total{code="200",method="other",route="/sign"} 1
dssd_http_requests_total{code="401",method="POST",route="/sign"} 1
dssd_http_requests_total{code="404",method="GET",route="unmatched"} 1
dssd_http_requests_total{code="503",method="GET",route="/slow"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "dssd_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(hm.duration); n != 5 {
		t.Errorf("%d duration series, want 5 (route × method)", n)
	}
	if v := testutil.ToFloat64(hm.inFlight); v != 0 {
		t.Errorf("in flight at rest: %v", v)
	}
}

// BenchmarkHTTPMetrics: what the middleware (a second mux lookup, the status writer, two
// observations) adds to a request.
func BenchmarkHTTPMetrics(b *testing.B) {
	hm, err := NewHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/soap", "/sign", "/verify", "/retrievePending", "/healthz", "/readyz", "/metrics", "/csc/v2/", "/csc/v2/signatures/signHash"} {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	h := hm.Wrap(mux, mux)
	req := httptest.NewRequest("POST", "/csc/v2/signatures/signHash", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// TestHTTPMetricsInFlight: dssd_http_requests_in_flight counts the requests being served
// (up while a handler runs, down when it returns, a panicking handler included), and each
// answered request is one observation of dssd_http_request_duration_seconds for its route.
func TestHTTPMetricsInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	hm, err := NewHTTPMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/sign", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	h := hm.Wrap(mux, mux)
	done := make(chan struct{})
	for range 2 {
		go func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/sign", nil))
			done <- struct{}{}
		}()
	}
	<-entered
	<-entered
	if v := testutil.ToFloat64(hm.inFlight); v != 2 {
		t.Errorf("dssd_http_requests_in_flight = %v with two requests in their handler, want 2", v)
	}
	close(release)
	<-done
	<-done
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	if v := testutil.ToFloat64(hm.inFlight); v != 0 {
		t.Errorf("dssd_http_requests_in_flight = %v at rest, want 0", v)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "dssd_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			counts[strings.TrimSpace(key)] = m.GetHistogram().GetSampleCount()
		}
	}
	if counts["method=POST route=/sign"] != 2 || counts["method=GET route=/panic"] != 1 || len(counts) != 2 {
		t.Errorf("dssd_http_request_duration_seconds counts = %v, want 2 for POST /sign and 1 for GET /panic", counts)
	}
}
