// Package stackgrow gives a new goroutine the stack a signing request needs in one step.
//
// A goroutine starts with a small stack (2 to 8 KiB) that the runtime doubles whenever a call
// would overflow it, copying every frame on it each time and looking up each frame's pointer
// maps. http.TimeoutHandler runs every request in a new goroutine, and a SOAP signing request
// goes 16 to 32 KiB deep (the gate, the XAdES builder, the self-check), so each request
// paid two or three such copies, deep in its call chain: 3 % of the server's CPU in the
// profile of decisions §42. Calling Grow first, while the stack is still shallow, makes the
// runtime size the stack once, copying almost nothing.
package stackgrow

import "net/http"

// Frame is the stack frame Grow takes: the runtime then grows the stack to at least twice this
// (32 KiB), which the request's deepest path fits in.
const Frame = 16 << 10

// Grow makes sure the calling goroutine's stack has room for a call chain of Frame bytes,
// growing it now, in one copy, if it has not.
//
//go:noinline
func Grow() {
	var pad [Frame]byte
	keep(pad[:])
}

// keep uses the frame so that the compiler cannot drop it.
//
//go:noinline
func keep(b []byte) { _ = b[len(b)-1] }

// Handler calls Grow before h: for handlers that run in a goroutine of their own, such as the
// one http.TimeoutHandler starts for each request.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Grow()
		h.ServeHTTP(w, r)
	})
}
