package metrics

import (
	"errors"
	"testing"
)

// A readiness answer from a self-probing backend (hsm.ReadyReporter) sets dssd_hsm_up both ways.
func TestObserveReady(t *testing.T) {
	_, m := newMeter(t)
	m.ObserveReady(errors.New("token gone"))
	if got := counter(t, m.hsmOps.up); got != 0 {
		t.Fatalf("dssd_hsm_up after a failed readiness = %v, want 0", got)
	}
	m.ObserveReady(nil)
	if got := counter(t, m.hsmOps.up); got != 1 {
		t.Fatalf("dssd_hsm_up after readiness = %v, want 1", got)
	}
}
