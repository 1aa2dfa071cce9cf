package pkcs11

import (
	"strings"
	"testing"
	"time"

	"dssd/hsm"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{TokenLabel: "t"}.withDefaults()
	if c.Module != DefaultModule || c.MaxSessions != 8 || c.PoolWaitTimeout != 2*time.Second || c.SignTimeout != 5*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Fatalf("validate(defaults): %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no token", Config{}, "token label is required"},
		{"long token", Config{TokenLabel: strings.Repeat("t", 33)}, "32 bytes"},
		{"one session", Config{TokenLabel: "t", MaxSessions: 1}, "at least 2"},
		{"negative sessions", Config{TokenLabel: "t", MaxSessions: -1}, "at least 2"},
		{"negative pool wait", Config{TokenLabel: "t", PoolWaitTimeout: -time.Second}, "positive"},
		{"sign timeout below pool wait", Config{TokenLabel: "t", PoolWaitTimeout: 3 * time.Second, SignTimeout: time.Second}, "must exceed"},
		{"health key invalid", Config{TokenLabel: "t", HealthKey: hsm.KeyRef{Token: "t"}}, "health key"},
		{"health key other token", Config{TokenLabel: "t", HealthKey: hsm.KeyRef{Token: "u", Label: "h"}}, "health key names token"},
	}
	for _, tc := range tests {
		err := tc.cfg.withDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: validate = %v, want an error containing %q", tc.name, err, tc.wantErr)
		}
	}
	ok := Config{TokenLabel: "t", PIN: "1234", HealthKey: hsm.KeyRef{Token: "t", Label: "h"}}
	if err := ok.withDefaults().validate(); err != nil {
		t.Errorf("validate(valid) = %v", err)
	}
}
