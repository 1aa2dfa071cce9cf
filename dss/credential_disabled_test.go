package dss

import (
	"context"
	"testing"
)

// TestDisabledCredential: a disabled credential is refused to its owner with
// KindCredentialDisabled (no HSM call), while someone else still gets the key-lookup answer
// that reveals nothing; enabling it again signs.
func TestDisabledCredential(t *testing.T) {
	f := newFixture(t)
	cred := f.svc.dir.(dirMap)["alice-ec"]
	cred.Disabled = true
	req := func() *SignRequest {
		return &SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-ec"}}
	}
	before := f.calls()
	_, err := f.svc.Sign(context.Background(), alice, req())
	if KindOf(err) != KindCredentialDisabled {
		t.Fatalf("owner: %v, want KindCredentialDisabled", err)
	}
	if r := ResultOf(err, "ref"); r.Major != MajorRequesterError || r.Minor != MinorKeyLookupFailed || r.Message != "the credential is disabled" {
		t.Errorf("result %+v", r)
	}
	if _, err := f.svc.Sign(context.Background(), Caller{User: "bob", Via: "token"}, req()); KindOf(err) != KindKeyLookup {
		t.Errorf("foreign user: %v, want KindKeyLookup", err)
	}
	if f.calls() != before {
		t.Error("a disabled credential reached the signer")
	}
	if _, err := f.svc.Authorize(context.Background(), alice, &AuthorizeRequest{CredentialID: "alice-ec"}); KindOf(err) != KindCredentialDisabled {
		t.Errorf("authorize: %v, want KindCredentialDisabled", err)
	}
	if got, err := f.svc.Credential(alice, "alice-ec"); err != nil || !got.Disabled {
		t.Errorf("describing the disabled credential: %+v, %v", got, err)
	}
	cred.Disabled = false
	if _, err := f.svc.Sign(context.Background(), alice, req()); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
}
