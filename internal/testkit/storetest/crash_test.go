package storetest

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that keeps its failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.errs = append(r.errs, "FATAL "+fmt.Sprintf(format, a...))
}

// TestRequireLogged: every acknowledged id missing from the log fails, the first five by
// name, then the count; nothing fails when all are logged.
func TestRequireLogged(t *testing.T) {
	logged := map[string]bool{"a": true, "b": true}
	r := &recorder{TB: t}
	RequireLogged(r, "record", []string{"a", "b"}, logged)
	if len(r.errs) != 0 {
		t.Errorf("all logged: %q", r.errs)
	}
	acked := []string{"a", "x1", "b", "x2", "x3", "x4", "x5", "x6"}
	r = &recorder{TB: t}
	RequireLogged(r, "signature", acked, logged)
	if len(r.errs) != 6 || r.errs[0] != "acknowledged signature x1 has no record in the audit log" ||
		r.errs[5] != "FATAL 6 of 8 acknowledged signatures have no record in the audit log" {
		t.Errorf("six lost: %q", r.errs)
	}
}
