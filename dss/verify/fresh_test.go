package verify

import (
	"testing"
	"time"
)

// TestRevocationFresh: the exported freshness rule that judge and dssd's B-LT producer share.
func TestRevocationFresh(t *testing.T) {
	poe := time.Date(2026, 3, 1, 12, 0, 0, 700_000_000, time.UTC) // a genTime with a fraction
	now := poe.Add(24 * time.Hour)
	sec := poe.Truncate(time.Second)
	for _, tt := range []struct {
		name                   string
		thisUpdate, nextUpdate time.Time
		poe                    time.Time
		window                 time.Duration
		want                   bool
	}{
		{"issued after the proof of existence", poe.Add(time.Minute), poe.Add(2 * time.Minute), poe, 0, true},
		{"issued in the second of the proof of existence", sec, time.Time{}, poe, 0, true},
		{"issued the second before", sec.Add(-time.Second), time.Time{}, poe, 0, false},
		{"no proof of existence, old", poe, time.Time{}, time.Time{}, 0, false},
		{"within the window", now.Add(-time.Minute), now.Add(time.Minute), time.Time{}, time.Hour, true},
		{"within the window but past nextUpdate", now.Add(-time.Minute), now.Add(-time.Second), time.Time{}, time.Hour, false},
		{"older than the window", now.Add(-2 * time.Hour), time.Time{}, time.Time{}, time.Hour, false},
	} {
		if got := RevocationFresh(tt.thisUpdate, tt.nextUpdate, now, tt.poe, tt.window); got != tt.want {
			t.Errorf("%s: RevocationFresh = %v, want %v", tt.name, got, tt.want)
		}
	}
}
