package main

import (
	"strings"
	"testing"
	"time"
)

func TestAsyncConfig(t *testing.T) {
	t.Parallel()
	yml := `
listen: {tls: {cert: s.pem, key: s.key}}
hsm: {module: /usr/lib/softhsm/libsofthsm2.so, token_label: t, pin_env: DSSD_TEST_DEFAULTS_PIN}
`
	c, err := parseConfig([]byte(yml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := c.Async
	if !a.enabled() || a.Workers != 2 || a.Lease.Duration() != 2*time.Minute || a.Retention.Duration() != 24*time.Hour ||
		a.MaxOpenPerUser != 100 || a.PollInterval.Duration() != time.Second || a.MaxAttempts != 3 || a.JobTimeout.Duration() != 10*time.Minute {
		t.Errorf("async defaults: %+v", a)
	}
	c, err = parseConfig([]byte(yml+"async: {enabled: false, workers: 4, lease: 30s}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Async.enabled() || c.Async.Workers != 4 || c.Async.Lease.Duration() != 30*time.Second {
		t.Errorf("async settings: %+v", c.Async)
	}

	bad := AsyncConfig{Workers: 65, Lease: Duration(time.Second), Retention: Duration(time.Second), MaxOpenPerUser: -1,
		PollInterval: Duration(time.Hour), MaxAttempts: 101, JobTimeout: Duration(time.Millisecond)}
	var got []string
	bad.validate(func(field, format string, args ...any) { got = append(got, field) })
	want := "async.workers async.lease async.retention async.poll_interval async.job_timeout async.max_open_per_user async.max_attempts"
	if strings.Join(got, " ") != want {
		t.Errorf("rejected %v; want %s", got, want)
	}
	good := AsyncConfig{}
	good.applyDefaults()
	good.validate(func(field, format string, args ...any) { t.Errorf("defaults rejected: %s", field) })
}
