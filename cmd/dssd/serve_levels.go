package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dssd/cmd/dssd/devenv"
	"dssd/dss"
	"dssd/dss/metrics"
	"dssd/dss/revocation"
	"dssd/dss/tsp"
)

// levelSources builds the timestamp and revocation clients used for XAdES B-T and above. Either
// is nil when its section is not configured; the service then refuses the levels that need it.
// Both are measured by meter, their exchanges with each authority too.
func levelSources(_ context.Context, cfg *Config, logger *slog.Logger, meter *metrics.Meter) (dss.Timestamper, dss.RevocationSource, error) {
	var (
		tsa dss.Timestamper
		rev dss.RevocationSource
	)
	if auths := cfg.Timestamp.authorities(); len(auths) > 0 {
		anchors, err := readCertFiles("timestamp.trust_anchors", cfg.Timestamp.TrustAnchors)
		if err != nil {
			return nil, nil, err
		}
		tc := tsp.Config{Anchors: anchors}
		names := make([]string, len(auths))
		router := hostRouter{}
		for i, a := range auths {
			pool, err := certPool(fmt.Sprintf("timestamp authority %d ca", i+1), a.CA)
			if err != nil {
				return nil, nil, err
			}
			tc.Authorities = append(tc.Authorities, tsp.Authority{URL: a.URL, Timeout: a.Timeout.Duration(), RootCAs: pool})
			names[i] = safeURL(a.URL)
			if u, err := url.Parse(a.URL); err == nil && router[u.Scheme+"://"+u.Host] == nil {
				to := a.Timeout.Duration()
				if to <= 0 {
					to = tsp.DefaultTimeout
				}
				router[u.Scheme+"://"+u.Host] = authorityTransport(pool, to)
			}
		}
		tc.Transport = meter.Transport(metrics.ServiceTSA, router)
		c, err := tsp.New(tc)
		if err != nil {
			return nil, nil, err
		}
		tsa = meter.Timestamper(c)
		logger.Info("timestamp authorities", "urls", names)
	}
	if r := cfg.Revocation; r.Enabled {
		pool, err := certPool("revocation.ca", r.CA)
		if err != nil {
			return nil, nil, err
		}
		anchors, err := readCertFiles("revocation.trust_anchors", r.TrustAnchors)
		if err != nil {
			return nil, nil, err
		}
		rev = meter.RevocationSource(revocationSource{revocation.New(revocation.Config{
			RootCAs:      pool,
			Transport:    meter.Transport("", authorityTransport(pool, r.OCSPTimeout.Duration())),
			OCSPTimeout:  r.OCSPTimeout.Duration(),
			CRLTimeout:   r.CRLTimeout.Duration(),
			MaxAge:       r.MaxAge.Duration(),
			CacheEntries: r.CacheEntries,
			MaxCRLBytes:  r.MaxCRLBytes,
			Anchors:      anchors,
		})})
		logger.Info("revocation checking enabled", "max_age", r.MaxAge.String())
	}
	return tsa, rev, nil
}

// revocationSource adapts *revocation.Source to dss.RevocationSource (its revocation errors
// wrap verify.ErrRevoked, the sentinel dss matches).
type revocationSource struct{ src *revocation.Source }

func (r revocationSource) Validation(ctx context.Context, chain []*x509.Certificate, fresh func(thisUpdate, nextUpdate time.Time) bool) ([][]byte, [][]byte, error) {
	return r.src.ValidationFresh(ctx, chain, fresh)
}

// certPool returns a pool of the certificates in file, or nil (the system roots) for "".
func certPool(field, file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	certs, err := readCertificates(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// readCertFiles returns every certificate of the PEM files.
func readCertFiles(field string, files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		certs, err := readCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", field, f, err)
		}
		out = append(out, certs...)
	}
	return out, nil
}

// safeURL is u without user information, query or fragment, for logs.
func safeURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if s, rest, ok := strings.Cut(u, "://"); ok {
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			rest = rest[at+1:]
		}
		return s + "://" + rest
	}
	return u
}

// devRevokedFile lists the certificates the development OCSP responder and CRL report as
// revoked: one hexadecimal serial number per line (colons allowed, as openssl prints them),
// optionally followed by an RFC 3339 revocation time; '#' starts a comment. Without a time the
// file's modification time is used. A missing file revokes nothing.
const devRevokedFile = "revoked.txt"

// mountDev mounts the development-only authorities (/dev/tsa, /dev/ocsp, /dev/crl) when
// cfg.Dev.Enabled. They sign with the keys of the development PKI in cfg.Dev.Dir.
func mountDev(mux *http.ServeMux, cfg *Config, logger *slog.Logger) error {
	if !cfg.Dev.Enabled {
		return nil
	}
	env, err := devenv.Load(cfg.Dev.Dir)
	if err != nil {
		return err
	}
	tsa, err := env.TSA()
	if err != nil {
		return err
	}
	issuing, err := env.IssuingCA()
	if err != nil {
		return err
	}
	responder, err := env.OCSPResponder()
	if err != nil {
		return err
	}
	root, err := env.RootCA()
	if err != nil {
		return err
	}
	revoked := func() ([]revocation.Revocation, error) {
		return readDevRevoked(filepath.Join(env.Root, devRevokedFile))
	}
	keys := []revocation.OCSPKey{
		// Certificates of the issuing CA: its delegated responder (OCSPSigning, ocsp-nocheck).
		{Issuer: issuing.Cert, Responder: responder.Cert, Signer: responder.Signer},
		// The issuing CA itself: the root answers.
		{Issuer: root.Cert, Responder: root.Cert, Signer: root.Signer},
	}
	mux.Handle("/dev/tsa", tsp.NewServer(tsa.Cert, tsa.Chain, tsa.Signer, nil))
	mux.Handle("/dev/ocsp", revocation.NewOCSPResponder(keys, revoked, revocation.ResponderOptions{}))
	mux.Handle("/dev/crl", revocation.NewCRLHandler(issuing.Cert, issuing.Signer, revoked, revocation.ResponderOptions{}))
	logger.Info("development authorities mounted", "tsa", "/dev/tsa", "ocsp", "/dev/ocsp", "crl", "/dev/crl",
		"revoked_list", filepath.Join(env.Root, devRevokedFile))
	return nil
}

// readDevRevoked reads the development revocation list (see devRevokedFile).
func readDevRevoked(path string) ([]revocation.Revocation, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var out []revocation.Revocation
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		serial, ok := new(big.Int).SetString(strings.ReplaceAll(fields[0], ":", ""), 16)
		if !ok || len(fields) > 2 {
			return nil, fmt.Errorf("%s:%d: want a hexadecimal serial number and an optional RFC 3339 time", path, n)
		}
		at := st.ModTime()
		if len(fields) == 2 {
			if at, err = time.Parse(time.RFC3339, fields[1]); err != nil {
				return nil, fmt.Errorf("%s:%d: %q is not an RFC 3339 time", path, n, fields[1])
			}
		}
		out = append(out, revocation.Revocation{Serial: serial, RevokedAt: at, Reason: 0})
	}
	return out, sc.Err()
}
