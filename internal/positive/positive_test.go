package positive

import (
	"testing"
	"time"
)

func TestOr(t *testing.T) {
	for _, tc := range []struct{ v, want time.Duration }{{0, 7}, {-1, 7}, {1, 1}, {9, 9}} {
		v := tc.v
		Or(&v, 7)
		if v != tc.want {
			t.Errorf("Or(%d, 7) = %d, want %d", tc.v, v, tc.want)
		}
	}
	n := -3
	if Or(&n, 5); n != 5 {
		t.Errorf("Or(-3, 5) = %d", n)
	}
}
