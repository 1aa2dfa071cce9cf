package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestAdminUsage: `dssd credential` and `dssd user` answer a missing verb, help and an unknown
// verb with their usage, and a known verb without --config or --dev with an error.
func TestAdminUsage(t *testing.T) {
	for _, g := range []struct {
		group, usage, known string
	}{{"credential", credentialUsage, "list"}, {"user", userUsage, "add"}} {
		var out, errOut bytes.Buffer
		if err := run([]string{g.group}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || errOut.String() != g.usage || out.Len() != 0 {
			t.Errorf("%s without a verb: %v, stdout %q, stderr %q", g.group, err, out.String(), errOut.String())
		}
		out.Reset()
		errOut.Reset()
		if err := run([]string{g.group, "help"}, &out, &errOut); err != nil || out.String() != g.usage || errOut.Len() != 0 {
			t.Errorf("%s help: %v, stdout %q, stderr %q", g.group, err, out.String(), errOut.String())
		}
		out.Reset()
		errOut.Reset()
		err := run([]string{g.group, "bogus"}, &out, &errOut)
		if want := "unknown " + g.group + ` command "bogus"`; err == nil || err.Error() != want || errOut.String() != g.usage {
			t.Errorf("%s bogus: %v (want %s), stderr %q", g.group, err, want, errOut.String())
		}
		out.Reset()
		errOut.Reset()
		err = run([]string{g.group, g.known}, &out, &errOut)
		if want := g.group + " " + g.known + " needs exactly one of --config and --dev"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s %s: %v (want %s)", g.group, g.known, err, want)
		}
	}
}
