package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered returns the value of every sample of reg by "name{label=value}" (or "name").
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				out[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

func TestHSMState(t *testing.T) {
	h := NewHSMState()
	reg := prometheus.NewRegistry()
	if err := reg.Register(h); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"dssd_hsm_up": 1,
		"dssd_hsm_state_changes_total{state=down}":          0,
		"dssd_hsm_state_changes_total{state=up}":            0,
		"dssd_hsm_state_changes_total{state=login_refused}": 0,
	}
	check := func(when string) {
		t.Helper()
		got := gathered(t, reg)
		if len(got) != len(want) {
			t.Errorf("%s: %d samples %v, want %d", when, len(got), got, len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", when, k, got[k], v)
			}
		}
	}
	check("at start")
	h.Changed(HSMStateDown)
	want["dssd_hsm_up"] = 0
	want["dssd_hsm_state_changes_total{state=down}"] = 1
	check("after down")
	h.Changed(HSMStateUp)
	want["dssd_hsm_up"] = 1
	want["dssd_hsm_state_changes_total{state=up}"] = 1
	check("after up")
	h.Changed(HSMStateDown)
	h.Changed(HSMStateLoginRefused)
	want["dssd_hsm_up"] = 0
	want["dssd_hsm_state_changes_total{state=down}"] = 2
	want["dssd_hsm_state_changes_total{state=login_refused}"] = 1
	check("after login_refused")
}
