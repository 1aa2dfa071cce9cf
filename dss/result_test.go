package dss

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEveryKindHasAResult(t *testing.T) {
	for k := Kind(0); k < kindCount; k++ {
		info := results[k]
		if info.major == "" || info.minor == "" || info.fixed == "" {
			t.Errorf("kind %v has an incomplete row: %+v", k, info)
		}
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestKinds(t *testing.T) {
	ks := Kinds()
	if len(ks) != int(kindCount) {
		t.Fatalf("Kinds() has %d kinds, want %d", len(ks), kindCount)
	}
	for i, k := range ks {
		if k != Kind(i) {
			t.Errorf("Kinds()[%d] = %v", i, k)
		}
	}
}

func TestResultOf(t *testing.T) {
	secret := errors.New("CKR_DEVICE_ERROR at /secret/path")
	tests := []struct {
		name     string
		err      error
		major    string
		minor    string
		msg      string
		notInMsg string
		wantKind Kind
	}{
		{"nil is success", nil, MajorSuccess, "", "", "", KindInternal},
		{"plain error is internal", secret, MajorResponderError, MinorGeneralError, "", "CKR_", KindInternal},
		{"wrapped internal keeps cause out", fmt.Errorf("sign: %w", Wrap(KindInternal, secret, "detail")), MajorResponderError, MinorGeneralError, "", "detail", KindInternal},
		{"not supported exposes detail", Errorf(KindNotSupported, "optional input X is not supported"), MajorRequesterError, MinorNotSupported, "optional input X is not supported", "", KindNotSupported},
		{"key lookup hides detail", &Error{Kind: KindKeyLookup, Detail: "credential bob-rsa belongs to bob"}, MajorRequesterError, MinorKeyLookupFailed, "", "bob", KindKeyLookup},
		{"hsm unavailable", Wrap(KindHSMUnavailable, secret, ""), MajorResponderError, MinorHSMUnavailable, "", "CKR_", KindHSMUnavailable},
		{"out of range kind", &Error{Kind: kindCount + 3}, MajorResponderError, MinorGeneralError, "", "", KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ResultOf(tt.err, "ref-1")
			if r.Major != tt.major || r.Minor != tt.minor {
				t.Fatalf("ResultOf = %q/%q, want %q/%q", r.Major, r.Minor, tt.major, tt.minor)
			}
			if tt.msg != "" && r.Message != tt.msg {
				t.Errorf("message %q, want %q", r.Message, tt.msg)
			}
			if tt.notInMsg != "" && strings.Contains(r.Message, tt.notInMsg) {
				t.Errorf("message %q leaks %q", r.Message, tt.notInMsg)
			}
			if tt.err != nil {
				if r.ProblemReference != "ref-1" || r.Lang != "en" || r.Message == "" {
					t.Errorf("result %+v lacks problem reference, language or message", r)
				}
				if got := KindOf(tt.err); got != tt.wantKind {
					t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
				}
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	err := fmt.Errorf("outer: %w", Wrap(KindMalformed, cause, "bad base64"))
	if !errors.Is(err, cause) {
		t.Fatal("cause not reachable through Unwrap")
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindMalformed {
		t.Fatalf("errors.As did not find the Kind: %v", err)
	}
	if !strings.Contains(err.Error(), "cause") {
		t.Errorf("Error() should include the cause for logs: %q", err.Error())
	}
}
