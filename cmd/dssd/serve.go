package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"dssd/binding/authn"
	"dssd/binding/httpxml"
	"dssd/binding/ops"
	"dssd/binding/schemasrv"
	"dssd/binding/soap"
	"dssd/cmd/dssd/devenv"
	"dssd/dss"
	"dssd/dss/metrics"
	"dssd/hsm"
	"dssd/hsm/pkcs11"
	"dssd/internal/stackgrow"
)

type serveOptions struct {
	configPath string
	dev        bool
	devDir     string
	addr       string
}

func serve(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(150 << 20)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfgPath := o.configPath
	if o.dev {
		addr := o.addr
		if addr == "" {
			addr = "127.0.0.1:8443"
		}
		env, err := devenv.Ensure(ctx, o.devDir, addr)
		if err != nil {
			return fmt.Errorf("development environment: %w", err)
		}
		cfgPath = env.ConfigPath
		fmt.Fprintf(stdout, "dssd development mode: environment in %s, clients read %s\n", env.Root, env.DevJSONPath)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	if o.addr != "" {
		cfg.Listen.Addr = o.addr
	}
	if cfg.Log.Level == "debug" {
		logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	reg, meter, err := newMetrics()
	if err != nil {
		return err
	}
	hsmState := metrics.NewHSMState()
	reg.MustRegister(hsmState)
	keys, err := openHSM(ctx, cfg, logger, hsmState.Changed)
	if err != nil {
		return err
	}
	defer keys.Close()
	// base is the backend itself: readiness asks it directly (hsm.ReadyReporter), while every
	// other use goes through the instrumented decorator.
	base := keys
	if keys, err = meter.KeyManager(keys); err != nil {
		return err
	}

	static, err := loadDirectory(ctx, cfg, keys)
	if err != nil {
		return err
	}
	dir := newLiveDirectory(static) // the store's credentials join it below (registry.go)
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	st.Audit = meter.AuditSink(st.Audit)
	tsa, rev, err := levelSources(ctx, cfg, logger, meter)
	if err != nil {
		return err
	}
	act, err := loadActivation(cfg, logger)
	if err != nil {
		return err
	}
	passwords, err := userPasswords(cfg)
	if err != nil {
		return err
	}
	svc, err := dss.New(dss.Config{
		Keys: keys, Directory: dir, Meter: meter, Logger: logger,
		MaxDocuments: cfg.Limits.MaxDocuments, MaxDocumentBytes: cfg.Limits.MaxDocumentBytes,
		Audit: st.Audit, Timestamps: tsa, Revocation: rev,
		Replay: st.Replay, Lockout: st.Lockout,
		SAD: act.sad, Factors: act.factors, MaxActivationFailures: cfg.SAD.MaxFailures,
		Passwords: passwords, Revocations: revocations{st.Lockout},
		OAuth2CodeTTL: time.Duration(cfg.OAuth2.CodeTTL), OAuth2TokenTTL: time.Duration(cfg.OAuth2.TokenTTL),
	})
	if err != nil {
		return err
	}
	if err := configureVerify(svc, cfg); err != nil {
		return err
	}
	jobsCtx, stopJobs := context.WithCancel(ctx)
	waitJobs, err := startAsync(jobsCtx, svc, cfg, st, logger)
	if err != nil {
		stopJobs()
		return err
	}
	defer func() { stopJobs(); waitJobs() }()
	auth, yamlUsers, err := authenticator(cfg)
	if err != nil {
		return err
	}
	if err := identityProviders(cfg, auth, logger); err != nil {
		return err
	}
	// Credentials and users of the store: loaded once before serving, then polled.
	regSync := newRegistrySync(st.Registry, keys, static, yamlUsers, dir, auth, logger)
	if err := regSync.refresh(ctx); err != nil {
		return fmt.Errorf("store credentials and users: %w", err)
	}
	go regSync.run(jobsCtx, cfg.Store.PollInterval.Duration())

	// Readiness: a backend that probes itself (hsm/pkcs11 signs with the health key every
	// second) answers from its state and last probe, so /readyz never waits behind signing
	// requests for a session; other backends get a real health check. /readyz is
	// unauthenticated, so one check runs at a time and its answer serves every probe of the
	// next second.
	ready := onePerSecond(func(ctx context.Context) error {
		if rr, ok := base.(hsm.ReadyReporter); ok {
			return rr.Ready(ctx)
		}
		if hc, ok := keys.(hsm.HealthChecker); ok {
			return hc.Health(ctx)
		}
		return nil
	})
	mux := http.NewServeMux()
	soapOpts := soapOptions(cfg)
	soapOpts.Logger = logger
	mux.Handle("/soap", soap.New(svc, auth, soapOpts))
	mux.Handle("/schemas/", schemasrv.New())
	postH := httpxml.New(svc, auth, httpxml.Options{MaxBody: cfg.Limits.MaxBodyBytes, MaxNodes: cfg.Limits.MaxEnvelopeNodes, Logger: logger})
	mux.Handle(httpxml.PathSign, postH)
	mux.Handle(httpxml.PathVerify, postH)
	mux.Handle(httpxml.PathPending, postH)
	opsH := ops.New(ops.Options{Ready: ready, Gatherer: reg})
	mux.Handle("/healthz", opsH)
	mux.Handle("/readyz", opsH)
	// /metrics: on the main listener, or on a listener of its own (metrics.addr); readable by
	// metrics.users only when that list is set.
	metricsH := metricsHandler(cfg, auth, opsH)
	if cfg.Metrics.Addr == "" {
		mux.Handle("/metrics", metricsH)
	}
	if err := mountCSC(mux, cfg, svc, auth, logger); err != nil {
		return err
	}
	if err := mountDev(mux, cfg, logger); err != nil {
		return err
	}

	httpMetrics, err := ops.NewHTTPMetrics(reg)
	if err != nil {
		return err
	}
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	timeout := cfg.Limits.RequestTimeout.Duration()
	grd := newGuard(cfg) // inside the timeout: request bytes are released when the handler returns
	srv := &http.Server{
		Addr: cfg.Listen.Addr,
		Handler: httpMetrics.Wrap(mux, uploads(http.TimeoutHandler(stackgrow.Handler(grd.Handler(mux)), timeout, ""),
			http.TimeoutHandler(stackgrow.Handler(grd.Handler(mux)), cfg.Limits.UploadTimeout.Duration(), ""), cfg.Limits.UploadTimeout.Duration())),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       timeout,
		WriteTimeout:      timeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen.Addr)
	if err != nil {
		return err
	}
	// Overload limits (connections, request bytes in flight) and failed-authentication limits.
	ln = guardServer(grd, srv, ln)
	failures := limitFailures(ctx, cfg, auth, svc)
	if cfg.Metrics.Addr != "" {
		if err := serveMetrics(ctx, cfg, tlsCfg, metricsH, logger); err != nil {
			ln.Close()
			return err
		}
	}
	servingGC()
	logger.Info("dssd listening", "addr", "https://"+ln.Addr().String(), "version", versionString(), "credentials", len(cfg.Credentials))
	fmt.Fprintf(stdout, "dssd listening on https://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logger.Info("dssd shutting down")
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	failures.Flush() // the counts of open failure windows, before the store closes
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openHSM opens the configured key manager. This is the only place that names a backend.
// The backend logs its changes of state with logger and reports them to onState.
func openHSM(ctx context.Context, cfg *Config, logger *slog.Logger, onState func(string)) (hsm.KeyManager, error) {
	switch cfg.HSM.Type {
	case "", "pkcs11":
		if cfg.HSM.SoftHSM2Conf != "" {
			// SoftHSM2 reads its configuration file from the environment when the module loads.
			if err := os.Setenv("SOFTHSM2_CONF", cfg.HSM.SoftHSM2Conf); err != nil {
				return nil, err
			}
		}
		pin, err := readSecret(cfg.HSM.PINFile, cfg.HSM.PINEnv)
		if err != nil {
			return nil, fmt.Errorf("hsm pin: %w", err)
		}
		var health hsm.KeyRef
		if cfg.HSM.HealthKey != "" {
			if health, err = hsm.ParseKeyRef(cfg.HSM.HealthKey); err != nil {
				return nil, fmt.Errorf("hsm.health_key: %w", err)
			}
		}
		return pkcs11.Open(ctx, pkcs11.Config{
			Module: cfg.HSM.Module, TokenLabel: cfg.HSM.TokenLabel, PIN: pin,
			MaxSessions: cfg.HSM.MaxSessions, PoolWaitTimeout: cfg.HSM.PoolWaitTimeout.Duration(),
			SignTimeout: cfg.HSM.SignTimeout.Duration(), HealthKey: health,
			Logger: logger, OnStateChange: onState,
		})
	}
	return nil, fmt.Errorf("hsm.type %q is not supported", cfg.HSM.Type)
}

func readSecret(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	}
	return "", errors.New("neither pin_file nor pin_env is set")
}

// authenticator returns the authenticator of the configuration's users, and those users
// (the registry adds the store's users to them).
func authenticator(cfg *Config) (*authn.Authenticator, []authn.User, error) {
	var users []authn.User
	for _, u := range cfg.Users {
		au := authn.User{Name: u.Name}
		for _, h := range u.TokenSHA256 {
			d, err := hexDigest(h)
			if err != nil {
				return nil, nil, fmt.Errorf("user %s: token_sha256: %w", u.Name, err)
			}
			au.TokenSHA256 = append(au.TokenSHA256, d)
		}
		for _, h := range u.ClientCertSHA256 {
			d, err := hexDigest(h)
			if err != nil {
				return nil, nil, fmt.Errorf("user %s: client_cert_sha256: %w", u.Name, err)
			}
			au.CertSHA256 = append(au.CertSHA256, d)
		}
		users = append(users, au)
	}
	return authn.New(users), users, nil
}

func hexDigest(s string) ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return d, errors.New("not a hex SHA-256 digest")
	}
	copy(d[:], b)
	return d, nil
}

// serverTLS: TLS 1.3 preferred, TLS 1.2 only with ECDHE and AEAD suites; client certificates
// are verified against the configured CA when given.
func serverTLS(cfg *Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.Listen.TLS.Cert, cfg.Listen.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("listen.tls: %w", err)
	}
	t := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if cfg.Listen.TLS.ClientCA != "" {
		b, err := os.ReadFile(cfg.Listen.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("listen.tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, errors.New("listen.tls.client_ca: no certificate")
		}
		t.ClientCAs = pool
		t.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return t, nil
}

// onePerSecond runs check at most once per second and one at a time; callers in between get
// the last answer.
func onePerSecond(check func(context.Context) error) func(context.Context) error {
	var (
		mu   sync.Mutex
		last time.Time
		err  error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && time.Since(last) < time.Second {
			return err
		}
		err = check(ctx)
		last = time.Now()
		return err
	}
}

// servingGC sets the collector for serving, once start-up is done. Signing allocates
// short-lived XML trees: collecting less often (GOGC 400: the heap may grow to five times what
// is live) costs memory the service has and saves CPU per request. Start-up runs with Go's
// default (100) and ends with a collection, so that its garbage (in development mode, two
// Argon2id PIN hashes of 19 MiB each) neither raises the peak resident memory nor sets the
// heap goal of serving: that goal is then five times the heap live at the start of serving, not
// five times the start-up's peak. GOGC and GOMEMLIMIT in the environment still override.
func servingGC() {
	runtime.GC()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
