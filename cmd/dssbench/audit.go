package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"dssd/dss"
	"dssd/dss/store/sqlite"
)

// auditBench measures the audit sink dssd uses by default (dss/store/sqlite: WAL,
// synchronous=FULL, one writer connection) on a fresh file under dir: appends per second
// of a SignRequest-sized event, from c goroutines. Every signature dssd returns waits for one
// such append, so this rate caps the service whatever the HSM can do. The CPU per append is
// this process's (user and system) over the measured seconds.
func auditBench(ctx context.Context, dir string, o options, logf func(string, ...any)) ([]RatePoint, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "audit.db")})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var n atomic.Int64
	var out []RatePoint
	for _, c := range o.conc {
		var cpu0, cpu1 float64
		r := runLoadHook(ctx, c, o.warmup, o.rawDuration, func(int) error {
			i := n.Add(1)
			return st.Append(ctx, dss.AuditEvent{
				RequestID: "bench-" + strconv.FormatInt(i, 10), ProblemRef: "p" + strconv.FormatInt(i, 36),
				User: "alice", Via: "token", Action: "sign", Credential: "alice-rsa",
				Digests: []string{"sha256:0a4e1e8a6d2b9c3f0a4e1e8a6d2b9c3f0a4e1e8a6d2b9c3f0a4e1e8a6d2b9c3f"},
				Major:   "urn:oasis:names:tc:dss:1.0:resultmajor:Success",
			})
		}, selfCPU(&cpu0, &cpu1))
		if r.errs > 0 {
			return nil, fmt.Errorf("audit append at concurrency %d: %d errors, first: %w", c, r.errs, r.firstErr)
		}
		p := RatePoint{Key: "audit", Concurrency: c, Ops: r.ops, Seconds: round(r.seconds, 3), Rate: round(r.rate(), 1)}
		if cpu1 > cpu0 && r.ops > 0 {
			p.CPUPerOpMs = round(1000*(cpu1-cpu0)/float64(r.ops), 4) // the whole process: committer, SQLite, clients
		}
		out = append(out, p)
		logf("  audit append (SQLite) c=%-2d %8.1f appends/s  p50 %.2f ms  p99 %.2f ms  CPU %.0f µs/append", c, p.Rate,
			float64(r.percentile(50).Microseconds())/1000, float64(r.percentile(99).Microseconds())/1000, 1000*p.CPUPerOpMs)
	}
	return out, ctx.Err()
}
