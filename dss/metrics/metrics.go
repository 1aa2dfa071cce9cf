// Package metrics implements dss.Meter with Prometheus collectors. Only low-cardinality
// labels are used: key type, format, result and error class; never a user or credential id.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Meter is a Prometheus dss.Meter.
type Meter struct {
	signatures *prometheus.CounterVec
	hsm        *prometheus.HistogramVec
	selfCheck  prometheus.Counter
}

// New registers the collectors with reg and returns the Meter.
func New(reg prometheus.Registerer) (*Meter, error) {
	m := &Meter{
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dssd_signatures_total",
			Help: "Signing attempts per document or hash, by key type, format and result.",
		}, []string{"key_type", "format", "result"}),
		hsm: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dssd_sign_seconds",
			Help:    "Time to build and sign one signature (HSM call included), by key type and error class.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"key_type", "class"}),
		selfCheck: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dssd_signature_selfcheck_failures_total",
			Help: "Produced signatures that failed their own verification and were withheld (alert on any).",
		}),
	}
	for _, c := range []prometheus.Collector{m.signatures, m.hsm, m.selfCheck} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Meter) Signature(keyType, format, result string) {
	m.signatures.WithLabelValues(keyType, format, result).Inc()
}

func (m *Meter) HSM(keyType string, d time.Duration, class string) {
	m.hsm.WithLabelValues(keyType, class).Observe(d.Seconds())
}

func (m *Meter) SelfCheckFailed() { m.selfCheck.Inc() }
