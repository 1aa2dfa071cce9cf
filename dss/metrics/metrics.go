// Package metrics implements dss.Meter with Prometheus collectors, and the instrumented
// decorators of the ports dss consumes (hsm.KeyManager, dss.Timestamper, dss.RevocationSource,
// dss.AuditSink). Only low-cardinality labels are used: key type, format, result, operation,
// outcome and authority; never a user, a credential id, a path or a digest.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/dss"
)

// Meter is a Prometheus dss.Meter.
type Meter struct {
	reg        prometheus.Registerer
	signatures *prometheus.CounterVec
	hsm        *prometheus.HistogramVec
	selfCheck  prometheus.Counter
	activation map[dss.ActivationEvent]prometheus.Counter

	hsmOps      *hsmCollectors
	authorities *authorityCollectors
	audit       *auditCollectors
}

var _ dss.Meter = (*Meter)(nil)

// New registers the collectors with reg and returns the Meter.
func New(reg prometheus.Registerer) (*Meter, error) {
	m := &Meter{
		reg: reg,
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
	act := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.activation = map[dss.ActivationEvent]prometheus.Counter{
		dss.SADIssued:        act("dssd_sad_issued_total", "Signature activation data issued by Authorize (SCAL2)."),
		dss.SADConsumed:      act("dssd_sad_consumed_total", "Signature activation data accepted and consumed by a signing request."),
		dss.SADRefused:       act("dssd_sad_refused_total", "Signing requests whose signature activation data was refused (invalid, expired, replayed, not bound to the request)."),
		dss.ActivationFailed: act("dssd_activation_failures_total", "Authorize requests refused for a wrong PIN or OTP, a replayed OTP or a locked credential."),
		dss.CredentialLocked: act("dssd_credential_lockouts_total", "Credentials locked by consecutive activation failures (once per lockout)."),
	}
	cs := []prometheus.Collector{m.signatures, m.hsm, m.selfCheck}
	for _, c := range m.activation {
		cs = append(cs, c)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	var err error
	if m.hsmOps, err = newHSMCollectors(reg); err != nil {
		return nil, err
	}
	if m.authorities, err = newAuthorityCollectors(reg); err != nil {
		return nil, err
	}
	if m.audit, err = newAuditCollectors(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// BuildInfo registers dssd_build_info{version,goversion} (value 1) with reg.
func BuildInfo(reg prometheus.Registerer, version, goVersion string) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "dssd_build_info",
		Help:        "The dssd build: version and Go version as labels, value 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	g.Set(1)
	return reg.Register(g)
}

func (m *Meter) Signature(keyType, format, result string) {
	m.signatures.WithLabelValues(keyType, format, result).Inc()
}

func (m *Meter) HSM(keyType string, d time.Duration, class string) {
	m.hsm.WithLabelValues(keyType, class).Observe(d.Seconds())
}

func (m *Meter) SelfCheckFailed() { m.selfCheck.Inc() }

func (m *Meter) Activation(ev dss.ActivationEvent) {
	if c, ok := m.activation[ev]; ok {
		c.Inc()
	}
}
