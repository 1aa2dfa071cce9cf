package main

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestOnePerSecond(t *testing.T) {
	calls := 0
	fail := errors.New("down")
	check := onePerSecond(func(context.Context) error { calls++; return fail })
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := check(context.Background()); !errors.Is(err, fail) {
				t.Errorf("got %v, want the check's error", err)
			}
		}()
	}
	wg.Wait()
	if calls != 1 {
		t.Fatalf("the check ran %d times for 20 probes within a second, want 1", calls)
	}
}
