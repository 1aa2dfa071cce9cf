package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"dssd/binding/authn"
	"dssd/binding/guard"
	"dssd/dss"
)

// newGuard returns the overload guard of cfg (binding/guard). Health probes are served on
// a connection over the limits, so that an orchestrator does not restart a busy service.
func newGuard(cfg *Config) *guard.Guard {
	g := cfg.Guard
	return guard.New(guard.Config{
		MaxConns: guardLimit(g.MaxConnections), MaxConnsPerClient: guardLimit(g.MaxConnectionsPerClient),
		MaxInflight: guardLimit(g.MaxInflightBytes), MaxInflightPerClient: guardLimit(g.MaxInflightBytesPerClient),
		RetryAfter: g.RetryAfter.Duration(),
		Exempt:     func(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" },
	})
}

// limitFailures throttles and aggregates the failed authentications of auth (binding/authn)
// and records them through svc; the summaries run until ctx ends. Flush the returned
// limiter after the server has stopped, before the store closes.
func limitFailures(ctx context.Context, cfg *Config, auth *authn.Authenticator, svc *dss.Service) *authn.Failures {
	g := cfg.Guard
	rate := g.AuthFailureRate
	if rate < 0 {
		rate = 0
	}
	f := authn.NewFailures(authn.FailureLimits{
		Rate: rate, Burst: g.AuthFailureBurst, Window: g.AuthFailureWindow.Duration(), MaxClients: g.AuthFailureClients,
	}, svc)
	auth.LimitFailures(f)
	go f.Run(ctx)
	return f
}

// guardServer applies the guard to srv and ln (its Handler is already in srv.Handler):
// connection accounting, idle connections closed under pressure, and an HTTP/2 receive
// window of 64 KiB per stream (what a client can make the server buffer before a handler
// reads).
func guardServer(g *guard.Guard, srv *http.Server, ln net.Listener) net.Listener {
	srv.ConnState = g.ConnState
	srv.ConnContext = g.ConnContext
	srv.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 1 << 20}
	return g.Listener(ln)
}

// metricsHandler serves h to the users of cfg.Metrics.Users only (any user when the list is
// empty: then h is returned as is).
func metricsHandler(cfg *Config, auth *authn.Authenticator, h http.Handler) http.Handler {
	if len(cfg.Metrics.Users) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := auth.Authenticate(r)
		switch {
		case err != nil:
			authn.Challenge(w.Header())
			http.Error(w, "authentication required", http.StatusUnauthorized)
		case !slices.Contains(cfg.Metrics.Users, c.User):
			http.Error(w, "user not allowed to read the metrics", http.StatusForbidden)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// serveMetrics serves /metrics on cfg.Metrics.Addr (HTTPS with the server's TLS
// configuration) until ctx ends.
func serveMetrics(ctx context.Context, cfg *Config, tlsCfg *tls.Config, h http.Handler, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{
		Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Metrics.Addr)
	if err != nil {
		return err
	}
	logger.Info("metrics listening", "addr", "https://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener failed", "err", err)
		}
	}()
	return nil
}
