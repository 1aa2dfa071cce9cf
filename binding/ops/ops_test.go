package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/dss"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestHealthAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dssd_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	h := New(Options{Gatherer: reg})
	if code, body := get(t, h, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, h, "/readyz"); code != 200 {
		t.Errorf("/readyz without a check = %d %q", code, body)
	}
	if code, body := get(t, h, "/metrics"); code != 200 || !strings.Contains(body, "dssd_test_total 3") {
		t.Errorf("/metrics = %d\n%s", code, body)
	}
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name  string
		check func(context.Context) error
		code  int
		body  string
	}{
		{"ready", func(context.Context) error { return nil }, 200, "ready\n"},
		{"hsm down", func(context.Context) error {
			return dss.Wrap(dss.KindHSMUnavailable, errors.New("CKR_DEVICE_ERROR slot 3 /secret/path"), "")
		}, 503, "not ready: HSM unavailable\n"},
		{"plain error", func(context.Context) error { return errors.New("pin 1234 rejected") }, 503, "not ready: unavailable\n"},
		{"timeout", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 503, "not ready: timeout\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Options{Ready: tt.check, ReadyTimeout: 50 * time.Millisecond})
			start := time.Now()
			code, body := get(t, h, "/readyz")
			if code != tt.code || body != tt.body {
				t.Errorf("/readyz = %d %q, want %d %q", code, body, tt.code, tt.body)
			}
			if time.Since(start) > 2*time.Second {
				t.Error("readiness check not bounded")
			}
		})
	}
}

func TestDefaultTimeout(t *testing.T) {
	var deadline time.Duration
	h := New(Options{Ready: func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		deadline = time.Until(d)
		return nil
	}})
	get(t, h, "/readyz")
	if deadline <= time.Second || deadline > DefaultReadyTimeout {
		t.Errorf("deadline %v, want about %v", deadline, DefaultReadyTimeout)
	}
}
