package main

import (
	"cmp"
	"fmt"
	"net"
	"time"
)

// GuardConfig bounds what clients can make dssd hold (binding/guard) and what failed
// authentications can cost (binding/authn). Zero values take the defaults; -1 disables a
// limit.
type GuardConfig struct {
	MaxConnections            int      `yaml:"max_connections"`
	MaxConnectionsPerClient   int      `yaml:"max_connections_per_client"`
	MaxInflightBytes          int64    `yaml:"max_inflight_bytes"`
	MaxInflightBytesPerClient int64    `yaml:"max_inflight_bytes_per_client"`
	RetryAfter                Duration `yaml:"retry_after"`
	AuthFailureRate           float64  `yaml:"auth_failure_rate"`    // failures per second per client address
	AuthFailureBurst          int      `yaml:"auth_failure_burst"`   // failures at once per client address
	AuthFailureWindow         Duration `yaml:"auth_failure_window"`  // one audit record per address and window
	AuthFailureClients        int      `yaml:"auth_failure_clients"` // addresses tracked at once
}

// MetricsConfig: where /metrics is served and who may read it.
type MetricsConfig struct {
	// Addr, when set, serves /metrics on a listener of its own (HTTPS with the server
	// certificate) and no longer on the main listener.
	Addr string `yaml:"addr"`
	// Users, when set, are the configured users allowed to read /metrics (bearer token or
	// client certificate); empty: /metrics is public on its listener.
	Users []string `yaml:"users"`
}

// Guard defaults (docs/config.md, docs/performance.md "Hardening").
const (
	defaultMaxConnections          = 2048
	defaultMaxConnectionsPerClient = 256
	defaultGuardRetryAfter         = Duration(2 * time.Second)
	defaultAuthFailureRate         = 1.0
	defaultAuthFailureBurst        = 10
	defaultAuthFailureWindow       = Duration(time.Minute)
	defaultAuthFailureClients      = 10000
)

func (c *Config) guardDefaults() {
	g := &c.Guard
	g.MaxConnections = cmp.Or(g.MaxConnections, defaultMaxConnections)
	g.MaxConnectionsPerClient = cmp.Or(g.MaxConnectionsPerClient, defaultMaxConnectionsPerClient)
	// One request of the largest body at a time, per client address and overall, with room
	// beside it for smaller requests (docs/performance.md: a 60 MiB request peaks at about
	// 200 MiB of RSS, so two at once would not fit the memory dssd is given).
	g.MaxInflightBytesPerClient = cmp.Or(g.MaxInflightBytesPerClient, c.Limits.MaxBodyBytes+1<<20)
	g.MaxInflightBytes = cmp.Or(g.MaxInflightBytes, c.Limits.MaxBodyBytes+16<<20)
	g.RetryAfter = cmp.Or(g.RetryAfter, defaultGuardRetryAfter)
	g.AuthFailureRate = cmp.Or(g.AuthFailureRate, defaultAuthFailureRate)
	g.AuthFailureBurst = cmp.Or(g.AuthFailureBurst, defaultAuthFailureBurst)
	g.AuthFailureWindow = cmp.Or(g.AuthFailureWindow, defaultAuthFailureWindow)
	g.AuthFailureClients = cmp.Or(g.AuthFailureClients, defaultAuthFailureClients)
}

func (c *Config) validateGuard(add func(field, format string, a ...any)) {
	g := c.Guard
	for _, v := range []struct {
		field string
		n     int64
	}{
		{"guard.max_connections", int64(g.MaxConnections)},
		{"guard.max_connections_per_client", int64(g.MaxConnectionsPerClient)},
		{"guard.max_inflight_bytes", g.MaxInflightBytes},
		{"guard.max_inflight_bytes_per_client", g.MaxInflightBytesPerClient},
		{"guard.auth_failure_burst", int64(g.AuthFailureBurst)},
		{"guard.auth_failure_clients", int64(g.AuthFailureClients)},
	} {
		if v.n < -1 {
			add(v.field, "must be positive, or -1 (no limit)")
		}
	}
	if g.MaxInflightBytesPerClient > 0 && g.MaxInflightBytesPerClient < c.Limits.MaxBodyBytes {
		add("guard.max_inflight_bytes_per_client", "is below limits.max_body_bytes (%d): a request of the largest body could never be read", c.Limits.MaxBodyBytes)
	}
	if g.MaxInflightBytes > 0 && g.MaxInflightBytes < c.Limits.MaxBodyBytes {
		add("guard.max_inflight_bytes", "is below limits.max_body_bytes (%d): a request of the largest body could never be read", c.Limits.MaxBodyBytes)
	}
	if g.RetryAfter < 0 {
		add("guard.retry_after", "must be positive")
	}
	if g.AuthFailureRate < 0 && g.AuthFailureRate != -1 {
		add("guard.auth_failure_rate", "must be positive, or -1 (no throttling)")
	}
	if g.AuthFailureWindow < 0 {
		add("guard.auth_failure_window", "must be positive")
	}
	if a := c.Metrics.Addr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil {
			add("metrics.addr", "not host:port (%v)", err)
		} else if a == c.Listen.Addr && port != "0" {
			add("metrics.addr", "is listen.addr; leave it empty to serve /metrics there")
		}
	}
	names := map[string]bool{}
	for _, u := range c.Users {
		names[u.Name] = true
	}
	for i, u := range c.Metrics.Users {
		if !names[u] {
			add(fmt.Sprintf("metrics.users[%d]", i), "user %q is not configured", u)
		}
	}
}

// guardLimit is n, or 0 (no limit) for -1.
func guardLimit[T int | int64](n T) T {
	if n < 0 {
		return 0
	}
	return n
}
