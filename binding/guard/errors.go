package guard

import "errors"

// ErrBusy is returned by the body of a request that would exceed a limit on request bytes in
// flight, and by exchange.ReadBody for a request on a connection over the connection limits:
// the bindings answer it with 503 Service Unavailable and Retry-After (a DSS response where
// one is expected).
var ErrBusy = errors.New("server busy: too many request bytes in flight or too many connections")
