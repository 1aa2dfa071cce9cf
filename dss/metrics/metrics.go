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
	cs := NewCollectors(reg)
	m := &Meter{
		reg: reg,
		signatures: cs.CounterVec("dssd_signatures_total",
			"Signing attempts per document or hash, by key type, format and result.",
			"key_type", "format", "result"),
		hsm: cs.HistogramVec("dssd_sign_seconds",
			"Time to build and sign one signature (HSM call included), by key type and error class.",
			prometheus.ExponentialBuckets(0.0005, 2, 14), "key_type", "class"),
		selfCheck: cs.Counter("dssd_signature_selfcheck_failures_total",
			"Produced signatures that failed their own verification and were withheld (alert on any)."),
	}
	m.activation = map[dss.ActivationEvent]prometheus.Counter{
		dss.SADIssued:        cs.Counter("dssd_sad_issued_total", "Signature activation data issued by Authorize (SCAL2)."),
		dss.SADConsumed:      cs.Counter("dssd_sad_consumed_total", "Signature activation data accepted and consumed by a signing request."),
		dss.SADRefused:       cs.Counter("dssd_sad_refused_total", "Signing requests whose signature activation data was refused (invalid, expired, replayed, not bound to the request)."),
		dss.ActivationFailed: cs.Counter("dssd_activation_failures_total", "Authorize requests refused for a wrong PIN or OTP, a replayed OTP or a locked credential."),
		dss.CredentialLocked: cs.Counter("dssd_credential_lockouts_total", "Credentials locked by consecutive activation failures (once per lockout)."),
	}
	m.hsmOps = newHSMCollectors(cs)
	m.authorities = newAuthorityCollectors(cs)
	m.audit = newAuditCollectors(cs)
	if err := cs.Err(); err != nil {
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
