package dss

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCapText(t *testing.T) {
	if got := CapText("short", MaxAuditText); got != "short" {
		t.Errorf("short value changed: %q", got)
	}
	long := strings.Repeat("é", 3000) // 6000 bytes, two-byte runes
	got := CapText(long, MaxAuditText)
	sum := sha256.Sum256([]byte(long))
	if len(got) > MaxAuditText || !utf8.ValidString(got) || !strings.Contains(got, hex.EncodeToString(sum[:])) ||
		!strings.Contains(got, "6000 bytes") || !strings.HasPrefix(got, "éé") {
		t.Errorf("CapText = %q (%d bytes)", got, len(got))
	}
}

// TestAuditRefusal: a refusal decided by a binding is recorded once with the caller, the
// action and the capped client strings; a refusal the service already recorded is not
// recorded again; a nil error records nothing.
func TestAuditRefusal(t *testing.T) {
	f := newSCAL2(t)
	ctx := WithProblemRef(context.Background(), "pr-1")
	rid := strings.Repeat("R", 4000)
	n := len(f.audit.events())
	err := f.svc.AuditRefusal(ctx, alice, AuditSign, rid, "alice-rsa", Errorf(KindMalformed, "invalid base64"))
	if KindOf(err) != KindMalformed || !Audited(err) {
		t.Fatalf("AuditRefusal returned %v", err)
	}
	evs := f.audit.events()
	if len(evs) != n+1 {
		t.Fatalf("%d records added, want 1", len(evs)-n)
	}
	ev := evs[n]
	if ev.Action != AuditSign || ev.User != alice.User || ev.Credential != "alice-rsa" || ev.Minor != MinorMalformed ||
		ev.ProblemRef != "pr-1" || len(ev.RequestID) > MaxAuditText || !strings.Contains(ev.RequestID, "4000 bytes") {
		t.Errorf("refusal record %+v", ev)
	}
	// Already audited by the service (a sign refusal): not recorded twice.
	_, serr := f.svc.Sign(ctx, alice, &SignRequest{RequestID: "x", Options: SignOptions{CredentialID: "bob-rsa"}})
	if serr == nil || !Audited(serr) {
		t.Fatalf("service refusal %v not marked audited", serr)
	}
	n = len(f.audit.events())
	if err := f.svc.AuditRefusal(ctx, alice, AuditSign, "x", "bob-rsa", serr); !errors.Is(err, serr) {
		t.Errorf("AuditRefusal changed an audited error: %v", err)
	}
	if f.svc.AuditRefusal(ctx, alice, AuditSign, "", "", nil) != nil || len(f.audit.events()) != n {
		t.Error("an audited refusal or a nil error was recorded again")
	}
	// A refusal that cannot be stored becomes a ResponderError.
	f.audit.mu.Lock()
	f.audit.err = errors.New("disk full")
	f.audit.mu.Unlock()
	if err := f.svc.AuditRefusal(ctx, alice, AuditVerify, "", "", Errorf(KindMalformed, "x")); KindOf(err) != KindInternal {
		t.Errorf("unstored refusal answered %v", err)
	}
}
