package main

import (
	"log/slog"
	"net/http"

	"dssd/binding/authn"
	"dssd/dss"
)

// mountCSC mounts the ETSI TS 119 432 JSON binding (CSC API v2) and the DSS-X metadata.
func mountCSC(mux *http.ServeMux, svc *dss.Service, auth *authn.Authenticator, logger *slog.Logger) {}
