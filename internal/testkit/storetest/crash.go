package storetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dssd/dss"
)

// Environment of the crash child: the database to open.
const crashEnv = "DSSD_STORETEST_CRASH_TARGET"

// CrashRounds is how many times Crash kills a child; each round appends onto the log the
// killed one left.
const CrashRounds = 3

// Crash is the kill -9 test. Call it from a top-level test function of the backend's
// package: the test binary re-runs that function as a child process (selected by -test.run
// and an environment variable), which appends records from several goroutines and prints
// the request id of each record after its Append returned. The parent kills it with SIGKILL
// after a varying number of records, CrashRounds times, then reopens the database and
// requires every printed record in a chain that verifies, with no gap or duplicate.
// openFn opens the database in the child (it must be the Open of the backends nb makes).
func Crash(t *testing.T, openFn OpenFunc, nb NewBackend) {
	if target := os.Getenv(crashEnv); target != "" {
		crashChild(openFn, target)
		return
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("storetest.Crash must be called from a top-level test function")
	}
	b := nb(t)
	s := open(t, b, testKey()) // creates the schema before any child runs
	s.Close()

	var acked []string // unique: each id names its round
	for round := range CrashRounds {
		kill := 150 + 97*round // records acknowledged before the kill
		ids := runCrashChild(t, b.Target, round, kill)
		if len(ids) < kill {
			t.Fatalf("round %d: the child acknowledged only %d records", round, len(ids))
		}
		acked = append(acked, ids...)
	}

	s = open(t, b, testKey())
	rep := verify(t, s)
	if !rep.OK() || !rep.MACChecked {
		t.Fatalf("after %d kills: %+v", CrashRounds, rep)
	}
	stored := map[string]bool{}
	recs := allRecords(t, s)
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i+1, r.Seq)
		}
		if stored[r.RequestID] {
			t.Fatalf("request %s stored twice", r.RequestID)
		}
		stored[r.RequestID] = true
	}
	RequireLogged(t, "record", acked, stored)
	t.Logf("%d kills: %d records acknowledged, %d stored (committed but not yet acknowledged: %d), chain verifies",
		CrashRounds, len(acked), len(recs), len(recs)-len(acked))
}

// RequireLogged fails t unless every id of acked (records, or signatures, whose writer was
// answered) is among logged (the request ids found in the audit log): an acknowledged record
// that is not in the log is the loss an audit trail may never have. It names the first five
// lost ids, then counts them; what names an id in the messages ("record", "signature").
func RequireLogged(t testing.TB, what string, acked []string, logged map[string]bool) {
	t.Helper()
	lost := 0
	for _, id := range acked {
		if !logged[id] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s %s has no record in the audit log", what, id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged %ss have no record in the audit log", lost, len(acked), what)
	}
}

// runCrashChild starts the child, reads acknowledgements until kill of them arrived, kills
// it with SIGKILL, drains what it had printed, and returns every acknowledged id.
func runCrashChild(t *testing.T, target string, round, kill int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashEnv+"="+target, fmt.Sprintf("DSSD_STORETEST_CRASH_ROUND=%d", round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	killed := false
	deadline := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "appended ")
		if !ok {
			continue
		}
		ids = append(ids, id)
		if len(ids) == kill && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill: %v", err)
			}
			killed = true // keep reading: lines written before the kill are still in the pipe
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: the child ended before the kill (%d acknowledged): %v", round, len(ids), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: the child was not killed by SIGKILL: %v", round, err)
	}
	return ids
}

// crashChild appends from four goroutines until killed, printing each acknowledged record.
func crashChild(openFn OpenFunc, target string) {
	round := os.Getenv("DSSD_STORETEST_CRASH_ROUND")
	s, err := openFn(context.Background(), target, testKey())
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("crash-r%s-w%d-%d", round, w, i)
				ev := dss.AuditEvent{RequestID: id, User: "alice", Action: dss.AuditSign, Credential: "alice-rsa",
					Digests: []string{"sha256:" + strings.Repeat("0f", 32)}, Major: dss.MajorSuccess}
				if err := s.Append(context.Background(), ev); err != nil {
					fmt.Fprintln(os.Stderr, "crash child: append:", err)
					os.Exit(4)
				}
				mu.Lock()
				// One write(2) per line, straight to the pipe: once written, the parent reads it
				// even if this process dies right after.
				os.Stdout.WriteString("appended " + id + "\n")
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
