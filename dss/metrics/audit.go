package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/dss"
)

type auditCollectors struct {
	duration prometheus.Histogram
	failures prometheus.Counter
}

func newAuditCollectors(cs *Collectors) *auditCollectors {
	return &auditCollectors{
		duration: cs.Histogram("dssd_audit_commit_duration_seconds",
			"Time to store one audit record durably (every signature waits for it).",
			prometheus.ExponentialBuckets(0.0005, 2, 14)),
		failures: cs.Counter("dssd_audit_commit_failures_total",
			"Audit records that could not be stored; the request they belong to was refused (alert on any)."),
	}
}

// AuditSink returns a instrumented (dssd_audit_commit_duration_seconds,
// dssd_audit_commit_failures_total).
func (m *Meter) AuditSink(a dss.AuditSink) dss.AuditSink {
	return &auditSink{inner: a, c: m.audit}
}

type auditSink struct {
	inner dss.AuditSink
	c     *auditCollectors
}

func (a *auditSink) Append(ctx context.Context, ev dss.AuditEvent) error {
	start := time.Now()
	err := a.inner.Append(ctx, ev)
	a.c.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		a.c.failures.Inc()
	}
	return err
}
