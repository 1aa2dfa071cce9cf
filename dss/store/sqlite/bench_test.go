package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"dssd/dss"
	"dssd/dss/store/sqlite"
)

// BenchmarkAppendClients measures audit appends on one handle from 1, 4 and 16 clients, each
// waiting for its own append before the next (as a request waits for its audit record). Besides
// the wall time it reports the process CPU per append (user + system, from getrusage: the
// committer, SQLite, the WAL writes and fsyncs, and the clients), the figure that matters on a
// loaded server, and the appends per transaction.
func BenchmarkAppendClients(b *testing.B) {
	for _, clients := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("c=%d", clients), func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "dssd.db"), AuditKey: make([]byte, 32)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			commits0 := sqlite.Commits(s)
			cpu0 := processCPU(b)
			b.ResetTimer()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						ev := dss.AuditEvent{RequestID: fmt.Sprint(i), User: "alice", Action: dss.AuditSign, Credential: "alice-rsa",
							Digests: []string{"sha256:0f0f"}, Major: dss.MajorSuccess}
						if err := s.Append(context.Background(), ev); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			cpu := processCPU(b) - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
			if n := sqlite.Commits(s) - commits0; n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "appends/commit")
			}
		})
	}
}

// processCPU is the user and system CPU time of the whole process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
