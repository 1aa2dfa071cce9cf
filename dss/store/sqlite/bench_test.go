package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"dssd/dss"
	"dssd/dss/store/sqlite"
)

// BenchmarkAppendClients measures audit appends on one handle from 1, 4 and 16 clients, each
// waiting for its own append before the next (as a request waits for its audit record).
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
		})
	}
}
