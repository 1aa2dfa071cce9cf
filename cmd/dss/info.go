package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"dssd/cmd/internal/pemcerts"
)

func cmdInfo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c connFlags
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.register(fs, getenv)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("info takes no arguments")
	}
	t, err := c.resolve(getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "server\t%s\n", t.url)
	cl, err := newClient(t.url, t.token, t.ca)
	if err != nil {
		return err
	}
	ready, status := cl.ready(ctx)
	fmt.Fprintf(w, "status\t%s\n", status)
	if t.ca != "" {
		fmt.Fprintf(w, "ca\t%s\n", t.ca)
	}
	if t.user == nil {
		fmt.Fprintf(w, "credentials\t(listed with --dev only)\n")
		if err := w.Flush(); err != nil {
			return err
		}
		return notReady(ready)
	}
	fmt.Fprintf(w, "user\t%s\n", t.user.Name)
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	for _, cr := range t.user.Credentials {
		fmt.Fprintf(stdout, "%s  %s  scal %d\n", cr.ID, cr.Key, cr.SCAL)
		cert, err := firstCertificate(cr.Cert)
		if err != nil {
			fmt.Fprintf(stdout, "  certificate  %s: %v\n\n", cr.Cert, err)
			continue
		}
		sum := sha256.Sum256(cert.Raw)
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "  subject\t%s\n", cert.Subject)
		fmt.Fprintf(w, "  issuer\t%s\n", cert.Issuer)
		fmt.Fprintf(w, "  valid\t%s to %s\n", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "  sha256\t%s\n", fingerprint(sum[:]))
		fmt.Fprintf(w, "  file\t%s\n", cr.Cert)
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
	}
	return notReady(ready)
}

// notReady makes dss info fail when the server is not ready, so that scripts can wait for it.
func notReady(ready bool) error {
	if ready {
		return nil
	}
	return errors.New("the server is not ready")
}

// firstCertificate reads the first certificate of a PEM file.
func firstCertificate(path string) (*x509.Certificate, error) {
	certs, err := pemcerts.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs[0], nil
}

// fingerprint formats a digest as colon-separated upper-case hex (openssl's form).
func fingerprint(d []byte) string {
	parts := make([]string, len(d))
	for i, b := range d {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
