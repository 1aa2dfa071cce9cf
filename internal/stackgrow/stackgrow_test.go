package stackgrow

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"unsafe"
)

// moves reports whether a call chain of about depth bytes of stack, run in a new goroutine after
// prepare, made the runtime copy that goroutine's stack. A copied stack moves its frames, so the
// address of a local variable of the bottom frame, kept as a plain number, changes.
func moves(prepare func(), depth int) bool {
	moved := make(chan bool)
	go func() {
		prepare()
		var local byte
		before := uintptr(unsafe.Pointer(&local))
		descend(depth / 1024)
		moved <- uintptr(unsafe.Pointer(&local)) != before
	}()
	return <-moved
}

// descend takes about 1 KiB of stack per level.
//
//go:noinline
func descend(n int) byte {
	var frame [1000]byte
	if n > 0 {
		frame[n%len(frame)] = descend(n - 1)
	}
	return frame[0]
}

func TestGrowSizesTheStackOnce(t *testing.T) {
	const depth = 24 << 10 // a signing request's depth
	if !moves(func() {}, depth) {
		t.Fatal("without Grow, a 24 KiB call chain did not move a new goroutine's stack: the test cannot show what Grow does")
	}
	for i := range 20 {
		if moves(Grow, depth) {
			t.Fatalf("run %d: after Grow, a 24 KiB call chain still moved the stack", i)
		}
	}
}

func TestHandlerGrowsBeforeTheHandler(t *testing.T) {
	var moved bool
	h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var local byte
		before := uintptr(unsafe.Pointer(&local))
		descend(24)
		moved = uintptr(unsafe.Pointer(&local)) != before
	}))
	done := make(chan struct{})
	go func() { // a new goroutine, as http.TimeoutHandler starts
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-done
	if moved {
		t.Fatal("the handler's stack moved below Handler")
	}
}

// BenchmarkRequestGoroutine is one request's goroutine as http.TimeoutHandler starts it: a
// new goroutine whose work goes 24 KiB deep, with and without Grow first.
func BenchmarkRequestGoroutine(b *testing.B) {
	for _, c := range []struct {
		name    string
		prepare func()
	}{{"plain", func() {}}, {"Grow", Grow}} {
		b.Run(c.name, func(b *testing.B) {
			done := make(chan struct{})
			for b.Loop() {
				go func() {
					c.prepare()
					descend(24)
					done <- struct{}{}
				}()
				<-done
			}
		})
	}
}
