package metrics

import "github.com/prometheus/client_golang/prometheus"

// HSM backend states as reported by the backend (hsm/pkcs11's State* constants).
const (
	HSMStateUp           = "up"
	HSMStateDown         = "down"
	HSMStateLoginRefused = "login_refused"
)

// HSMState exposes the HSM backend's changes of state:
//
//	dssd_hsm_state_changes_total{state="down"|"up"|"login_refused"}  counter
//	dssd_hsm_up                                                        gauge, 1 while the backend can sign
//
// It is a prometheus.Collector created before the backend is opened (the backend reports
// through Changed from its first failure on) and registered with the node's registry later.
// Alert on dssd_hsm_up == 0 (the backend is down and being probed) and on any increase of
// dssd_hsm_state_changes_total{state="login_refused"} (probing stopped: restart needed).
type HSMState struct {
	changes *prometheus.CounterVec
	up      prometheus.Gauge
}

var _ prometheus.Collector = (*HSMState)(nil)

// NewHSMState returns the collector with every state's counter at 0 and the gauge at 1 (call
// it once the backend has opened).
func NewHSMState() *HSMState {
	cs := NewCollectors(nil) // registered as one Collector by the caller
	h := &HSMState{
		changes: cs.CounterVec("dssd_hsm_state_changes_total",
			"Changes of the HSM backend's state, by the state entered (down, up, login_refused).",
			"state"),
		up: cs.Gauge("dssd_hsm_up",
			"1 while the HSM backend can sign, 0 while it is down (probed every second) or its login was refused."),
	}
	for _, s := range []string{HSMStateDown, HSMStateUp, HSMStateLoginRefused} {
		h.changes.WithLabelValues(s)
	}
	h.up.Set(1)
	return h
}

// Changed records a change of state; it is the backend's state hook.
func (h *HSMState) Changed(state string) {
	h.changes.WithLabelValues(state).Inc()
	if state == HSMStateUp {
		h.up.Set(1)
	} else {
		h.up.Set(0)
	}
}

// Describe implements prometheus.Collector.
func (h *HSMState) Describe(ch chan<- *prometheus.Desc) {
	h.changes.Describe(ch)
	h.up.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *HSMState) Collect(ch chan<- prometheus.Metric) {
	h.changes.Collect(ch)
	h.up.Collect(ch)
}
