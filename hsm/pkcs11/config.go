package pkcs11

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"dssd/hsm"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultModule          = "/usr/lib/softhsm/libsofthsm2.so"
	DefaultMaxSessions     = 8
	DefaultPoolWaitTimeout = 2 * time.Second
	DefaultSignTimeout     = 5 * time.Second
	DefaultProbeInterval   = time.Second
)

// States of the backend reported to Config.OnStateChange (and logged).
const (
	StateUp   = "up"   // the token answers; reported when it comes back after being down
	StateDown = "down" // the token failed; callers get hsm.ErrUnavailable while it is probed
	// StateLoginRefused: a rebuild met a refused or locked PIN; probing stops (a retry loop
	// would lock the token) and the backend stays down until dssd is restarted.
	StateLoginRefused = "login_refused"
)

// Config configures a PKCS#11 KeyManager. The zero value of every field except TokenLabel and
// PIN is usable.
type Config struct {
	Module          string        // path of the PKCS#11 module, default DefaultModule
	TokenLabel      string        // label of the token to use; required
	PIN             string        // the user PIN (the caller reads it from a file or env; never logged)
	MaxSessions     int           // session pool size, default 8; crypto11 needs at least 2
	PoolWaitTimeout time.Duration // longest wait for a free session, default 2 s (never 0: crypto11 would wait forever)
	SignTimeout     time.Duration // deadline of each call into the token, default 5 s; must exceed PoolWaitTimeout
	HealthKey       hsm.KeyRef    // optional key used by Health for a real sign+verify
	// ProbeInterval is the fixed interval of the background probe: while the backend is
	// up, a health check (Ready answers from its result); while it is down, an attempt to
	// open the token again. Default 1 s.
	ProbeInterval time.Duration
	// OnStateChange, when set, is called (never with the KeyManager's lock held) on every
	// change of state: StateDown, StateUp, StateLoginRefused. It must not block.
	OnStateChange func(state string)
	// Logger receives one event per change of state (down: ERROR, up: WARN). Default
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with defaults filled in.
func (c Config) withDefaults() Config {
	c.Module = cmp.Or(c.Module, DefaultModule)
	c.MaxSessions = cmp.Or(c.MaxSessions, DefaultMaxSessions)
	c.PoolWaitTimeout = cmp.Or(c.PoolWaitTimeout, DefaultPoolWaitTimeout)
	c.SignTimeout = cmp.Or(c.SignTimeout, DefaultSignTimeout)
	c.ProbeInterval = cmp.Or(c.ProbeInterval, DefaultProbeInterval)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// validate checks a Config that has its defaults. Error messages never include the PIN.
func (c Config) validate() error {
	if c.TokenLabel == "" {
		return errors.New("pkcs11: token label is required")
	}
	if len(c.TokenLabel) > 32 {
		return errors.New("pkcs11: token label longer than 32 bytes")
	}
	if c.MaxSessions < 2 {
		return fmt.Errorf("pkcs11: max sessions %d: must be at least 2", c.MaxSessions)
	}
	if c.PoolWaitTimeout < 0 {
		return errors.New("pkcs11: pool wait timeout must be positive")
	}
	if c.SignTimeout <= c.PoolWaitTimeout {
		return fmt.Errorf("pkcs11: sign timeout %s must exceed the pool wait timeout %s", c.SignTimeout, c.PoolWaitTimeout)
	}
	if c.ProbeInterval < 0 {
		return errors.New("pkcs11: probe interval must be positive")
	}
	if !c.HealthKey.IsZero() {
		if err := c.HealthKey.Validate(); err != nil {
			return fmt.Errorf("pkcs11: health key: %w", err)
		}
		if c.HealthKey.Token != "" && c.HealthKey.Token != c.TokenLabel {
			return fmt.Errorf("pkcs11: health key names token %q, the backend uses %q", c.HealthKey.Token, c.TokenLabel)
		}
	}
	return nil
}
