package main

import (
	"context"
	"log/slog"
	"net/http"

	"dssd/dss"
)

// levelSources builds the timestamp and revocation clients used for XAdES B-T and above.
func levelSources(ctx context.Context, cfg *Config, logger *slog.Logger) (dss.Timestamper, dss.RevocationSource, error) {
	return nil, nil, nil
}

// mountDev mounts the development-only authorities (/dev/tsa, /dev/ocsp, /dev/crl) when
// cfg.Dev.Enabled.
func mountDev(mux *http.ServeMux, cfg *Config, logger *slog.Logger) error { return nil }
