package dss

import (
	"context"
	"sync"
	"testing"
	"time"
)

// eventMeter records activation events.
type eventMeter struct {
	NoopMeter
	mu  sync.Mutex
	got map[ActivationEvent]int
}

func (m *eventMeter) Activation(ev ActivationEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got[ev]++
}

// Every signature activation outcome reaches the Meter exactly once.
func TestActivationMeter(t *testing.T) {
	f := newSCAL2(t) // MaxActivationFailures: 3
	m := &eventMeter{got: map[ActivationEvent]int{}}
	f.svc.meter = m
	ctx := context.Background()
	d := doc("d1")
	tok := f.authorize(t, "alice-qes", sum256(d.Data))
	req := &SignRequest{Documents: []Document{d}, Options: SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok)}}
	if _, err := f.svc.Sign(ctx, alice, req); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	_, err := f.svc.Sign(ctx, alice, req) // the SAD again
	wantKind(t, err, KindSADInvalid)
	// A SCAL1 signature touches no activation counter.
	if _, err := f.svc.Sign(ctx, alice, &SignRequest{Documents: []Document{d}, Options: SignOptions{CredentialID: "alice-rsa"}}); err != nil {
		t.Fatalf("SCAL1 Sign: %v", err)
	}
	for range 4 { // three failures lock; the fourth meets a locked credential
		f.advance(30 * time.Second)
		_, err := f.svc.Authorize(ctx, alice, &AuthorizeRequest{CredentialID: "alice-qes", NumSignatures: 1, Hashes: [][]byte{sum256([]byte("x"))}, PIN: "wrong", OTP: otpAt(t, f.clock())})
		wantKind(t, err, KindSADInvalid)
	}
	want := map[ActivationEvent]int{SADIssued: 1, SADConsumed: 1, SADRefused: 1, ActivationFailed: 4, CredentialLocked: 1}
	for ev, n := range want {
		if m.got[ev] != n {
			t.Errorf("%s counted %d times, want %d", ev, m.got[ev], n)
		}
	}
	if len(m.got) != len(want) {
		t.Errorf("events %v, want %v", m.got, want)
	}
}
