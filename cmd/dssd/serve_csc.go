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
func mountCSC(mux *http.ServeMux, cfg *Config, svc *dss.Service, auth *authn.Authenticator, logger *slog.Logger) error {
	cscAuth, withOAuth2, err := mountOAuth2(mux, cfg, svc, auth, logger)
	if err != nil {
		return err
	}
	levels := svc.Levels() // with the configured timestamp and revocation sources
	authTypes := []string{"external"}
	tlsAuth := cfg.Listen.TLS.ClientCA != ""
	if tlsAuth {
		authTypes = append(authTypes, "tls")
	}
	multisign := cfg.Limits.MaxDocuments
	cscH := csc.New(svc, cscAuth, csc.Options{
		Provider:  csc.Provider{Region: cfg.CSC.Region},
		AuthTypes: authTypes, Levels: levels, Multisign: multisign,
		MaxBody: cfg.Limits.MaxBodyBytes, Logger: logger,
		OAuth2: withOAuth2, V1: cfg.CSC.V1, Async: svc.AsyncEnabled(),
	})
	mux.Handle(csc.Prefix, cscH)
	// Each method is also its own pattern, so that HTTP metrics name it as a route.
	for _, m := range csc.Methods(true) {
		mux.Handle(csc.Prefix+m, cscH)
	}
	if cfg.CSC.V1 {
		mux.Handle(csc.PrefixV1, cscH)
	}
	md := metadata.New(metadata.Options{Levels: levels, TLSClientAuth: tlsAuth, CSCMethods: csc.Methods(svc.AsyncEnabled()), Async: svc.AsyncEnabled()})
	mux.Handle(metadata.Path, md)
	mux.Handle(metadata.LogoPath, md)
	return nil
}
