package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one measured point of a closed-loop load.
type loadResult struct {
	ops       int
	errs      int
	firstErr  error
	seconds   float64
	latencies []time.Duration // of successful operations, sorted
}

func (r loadResult) rate() float64 {
	if r.seconds <= 0 {
		return 0
	}
	return float64(r.ops) / r.seconds
}

// percentile returns the p-th percentile (0 < p ≤ 100) of the sorted latencies, nearest rank.
func (r loadResult) percentile(p float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	i := int(float64(n)*p/100+0.999999) - 1
	return r.latencies[max(0, min(i, n-1))]
}

// runLoad runs op from conc workers in a closed loop: warmup (not counted), then dur during
// which every operation that ends is counted. An error at any time (also in the warm-up) is
// counted in errs. op gets the worker index.
func runLoad(ctx context.Context, conc int, warmup, dur time.Duration, op func(worker int) error) loadResult {
	return runLoadHook(ctx, conc, warmup, dur, op, nil)
}

// runLoadHook is runLoad calling hook(true) when the measured window opens and hook(false)
// when it closes (hook may be nil).
func runLoadHook(ctx context.Context, conc int, warmup, dur time.Duration, op func(worker int) error, hook func(begin bool)) loadResult {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		res       loadResult
	)
	type workerStats struct {
		ops, errs int
		firstErr  error
		lat       []time.Duration
	}
	stats := make([]workerStats, conc)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			st := &stats[w]
			st.lat = make([]time.Duration, 0, 4096)
			for !stop.Load() && ctx.Err() == nil {
				start := time.Now()
				err := op(w)
				el := time.Since(start)
				if !measuring.Load() {
					if err != nil && st.firstErr == nil {
						st.firstErr = err
						st.errs++ // an error in the warm-up invalidates the run too
					}
					continue
				}
				if err != nil {
					st.errs++
					if st.firstErr == nil {
						st.firstErr = err
					}
					continue
				}
				st.ops++
				st.lat = append(st.lat, el)
			}
		}(w)
	}
	sleep(ctx, warmup)
	if hook != nil {
		hook(true)
	}
	t0 := time.Now()
	measuring.Store(true)
	sleep(ctx, dur)
	measuring.Store(false)
	res.seconds = time.Since(t0).Seconds()
	if hook != nil {
		hook(false)
	}
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, st := range stats {
		res.ops += st.ops
		res.errs += st.errs
		if res.firstErr == nil {
			res.firstErr = st.firstErr
		}
		res.latencies = append(res.latencies, st.lat...)
	}
	slices.Sort(res.latencies)
	return res
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
