package main

import (
	"log/slog"
	"net/http"

	"dssd/binding/authn"
	"dssd/binding/csc"
	"dssd/binding/metadata"
	"dssd/dss"
)

// mountCSC mounts the ETSI TS 119 432 JSON binding (CSC API v2) and the DSS-X metadata.
func mountCSC(mux *http.ServeMux, cfg *Config, svc *dss.Service, auth *authn.Authenticator, logger *slog.Logger) {
	levels := svc.Levels() // with the configured timestamp and revocation sources
	authTypes := []string{"external"}
	tlsAuth := cfg.Listen.TLS.ClientCA != ""
	if tlsAuth {
		authTypes = append(authTypes, "tls")
	}
	multisign := cfg.Limits.MaxDocuments
	mux.Handle(csc.Prefix, csc.New(svc, auth, csc.Options{
		Provider:  csc.Provider{Logo: metadata.LogoPath},
		AuthTypes: authTypes, Levels: levels, Multisign: multisign,
		MaxBody: cfg.Limits.MaxBodyBytes, Logger: logger,
	}))
	md := metadata.New(metadata.Options{Levels: levels, TLSClientAuth: tlsAuth, CSCMethods: csc.Methods(), Async: svc.AsyncEnabled()})
	mux.Handle(metadata.Path, md)
	mux.Handle(metadata.LogoPath, md)
}
