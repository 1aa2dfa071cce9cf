// Command dssbench is the load generator and report writer behind `make bench` (issue 6).
//
// In one run on one machine it measures:
//
//   - the raw signing rate of SoftHSM2 through crypto11 via hsm/pkcs11 (RSA-2048 and EC P-256
//     keys in a private token created in a temporary directory), at each concurrency, with and
//     without hsm.Guard;
//   - the end-to-end rate of successful SOAP 1.2 SignRequests (XAdES B-B enveloped over
//     testdata/documents/invoice.xml) over HTTPS with keep-alive against a `dssd serve --dev`
//     it builds and starts on a free loopback port with its own development directory, with
//     p50/p99 latency and the server's resident memory (VmHWM, sampled VmRSS);
//   - the same document signed by the peers in their own process: xadesjs (node), Apache
//     Santuario (Java) and xmlsec1 (one process per signature);
//   - a 1 GiB file signed detached over MTOM: throughput against sha256sum on the same file,
//     and dssd's idle and peak resident memory (mtom.go);
//   - optionally (-profile) a CPU profile of the service stack driven in this process at one
//     concurrency, summarised by stage.
//
// It prints a table, and writes bench.json and bench.svg (rate against concurrency) to -out.
// The service and the load generator share the machine: compare ratios within one run only.
//
// Usage (from the repository root):
//
//	go run ./cmd/dssbench [-out var/bench] [-duration 5s] [-profile var/bench/cpu.pprof]
//	go run ./cmd/dssbench -baseline main -only compare   # before/after in one run (compare.go)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

type options struct {
	repo        string        // repository root (holds go.mod, testdata/)
	out         string        // output directory for bench.json, bench.svg
	duration    time.Duration // measured time per point
	warmup      time.Duration // unmeasured time before each point
	rawDuration time.Duration // measured time per raw PKCS#11 point
	conc        []int         // concurrencies
	peerN       int           // signatures per in-process peer run
	xmlsecN     int           // xmlsec1 processes
	profile     string        // CPU profile path; empty: no profile
	profileTime time.Duration
	profileConc int
	keep        bool     // keep the scratch directory
	serverEnv   []string // extra environment of dssd (experiments, e.g. GOGC=400)
	only        string   // run only these parts (comma-separated: raw, e2e, peers, profile); empty: all
	hostileRuns int      // requests per hostile input
	hostileOnly string   // regular expression: only the hostile inputs whose name matches
	mtomSize    int64    // bytes of the file signed over MTOM
	// Before/after in one run (compare.go): the baseline dssd is built from the commit
	// baseline, or is the binary baselineBin; compareRounds baseline/candidate pairs per point.
	baseline, baselineBin string
	compareRounds         int
}

func main() {
	var o options
	var conc string
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.out, "out", "var/bench", "output directory (bench.json, bench.svg)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured duration of each point")
	flag.DurationVar(&o.rawDuration, "raw-duration", 3*time.Second, "measured duration of each raw PKCS#11 point")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each point (not measured)")
	flag.StringVar(&conc, "concurrency", "1,4,16", "comma-separated concurrencies")
	flag.IntVar(&o.peerN, "peer-n", 1000, "signatures per in-process peer run (after as many warm-up signatures)")
	flag.IntVar(&o.xmlsecN, "xmlsec-n", 50, "xmlsec1 runs (one process each)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of the in-process service under load to this file")
	flag.DurationVar(&o.profileTime, "profile-duration", 8*time.Second, "duration of each profiled load")
	flag.IntVar(&o.profileConc, "profile-concurrency", 4, "concurrency of the profiled load")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory (server log, signed samples)")
	var render string
	flag.StringVar(&render, "render", "", "only re-render the table and bench.svg from this bench.json")
	var serverEnv string
	flag.StringVar(&serverEnv, "server-env", "", "extra environment entries for dssd, comma-separated (experiments, e.g. GOGC=400)")
	flag.StringVar(&o.only, "only", "", "run only these parts, comma-separated: raw, e2e, compare, audit, peers, hostile, profile, bigdoc, mtom (a partial run is for investigation: its targets are incomplete)")
	flag.IntVar(&o.hostileRuns, "hostile-runs", 3, "requests per hostile input (the table gives the median)")
	flag.StringVar(&o.hostileOnly, "hostile-only", "", "only the hostile inputs whose name matches this regular expression (investigation)")
	flag.Int64Var(&o.mtomSize, "mtom-size", 1<<30, "bytes of the random file signed detached over MTOM (written to a temporary directory, removed)")
	flag.StringVar(&o.baseline, "baseline", "", "also measure, interleaved with this tree's dssd, a dssd built from this git revision (before/after in one run; compare.go)")
	flag.StringVar(&o.baselineBin, "baseline-bin", "", "like -baseline, with this dssd binary as the baseline")
	flag.IntVar(&o.compareRounds, "compare-rounds", 2, "baseline/candidate pairs per key and concurrency with -baseline")
	var bigDocKind string
	flag.StringVar(&bigDocKind, "bigdoc-child", "", "internal: measure one large document in this process (bigdoc.go)")
	flag.Parse()
	if bigDocKind != "" {
		if err := bigDocChild(bigDocKind, o.repo); err != nil {
			fmt.Fprintln(os.Stderr, "dssbench:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if o.conc, err = parseInts(conc); err != nil {
		fmt.Fprintln(os.Stderr, "dssbench: -concurrency:", err)
		os.Exit(2)
	}
	if serverEnv != "" {
		o.serverEnv = strings.Split(serverEnv, ",")
	}
	if render != "" {
		if err := rerender(render, o.out, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "dssbench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dssbench:", err)
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	o.repo = repo
	if _, err := os.Stat(filepath.Join(repo, "go.mod")); err != nil {
		return fmt.Errorf("-repo %s is not the repository root: %w", repo, err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "dssbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stdout, "scratch directory (kept): %s\n", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	doc, err := os.ReadFile(filepath.Join(repo, "testdata", "documents", "invoice.xml"))
	if err != nil {
		return err
	}

	rep := &Report{
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: machineInfo(),
		Settings: Settings{
			Duration: o.duration.String(), RawDuration: o.rawDuration.String(), Warmup: o.warmup.String(), Concurrency: o.conc,
			Document: "testdata/documents/invoice.xml", DocumentBytes: len(doc),
			PeerN: o.peerN, XMLSecN: o.xmlsecN, ServerEnv: o.serverEnv,
		},
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "dssbench: "+format+"\n", a...) }
	t0 := time.Now()

	part := func(name string) bool {
		return o.only == "" || slices.Contains(strings.Split(o.only, ","), name)
	}
	if o.only != "" {
		rep.Problems = append(rep.Problems, "partial run (-only "+o.only+")")
	}

	// 1 and 2. Raw PKCS#11 and end to end, interleaved: for each key and concurrency the raw
	// points are measured right before the end-to-end point, so that both see the same
	// machine (it is shared and its load changes within a run).
	if part("raw") || part("e2e") {
		if err := measurePaths(ctx, scratch, o, doc, rep, part("raw"), part("e2e"), logf); err != nil {
			return err
		}
	}

	// Before and after, interleaved (-baseline, -baseline-bin).
	if (o.baseline != "" || o.baselineBin != "") && part("compare") {
		logf("before/after: baseline and candidate dssd, interleaved")
		if err := compareBench(ctx, scratch, o, doc, rep, logf); err != nil {
			return fmt.Errorf("before/after: %w", err)
		}
	}

	// The audit store every signature waits for.
	if part("audit") {
		logf("audit store: dss/store/sqlite appends (what every signed response waits for)")
		a, err := auditBench(ctx, filepath.Join(scratch, "audit"), o, logf)
		if err != nil {
			return fmt.Errorf("audit store: %w", err)
		}
		rep.Audit = a
	}

	// 3. Peers.
	if part("peers") {
		logf("peers (xadesjs, Santuario, xmlsec1)")
		peers, err := peerBench(ctx, filepath.Join(scratch, "peers"), o, logf)
		if err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		rep.Peers = peers
	}

	// Hostile inputs (issue 10): CPU per verification request of each attack.
	if part("hostile") {
		logf("hostile inputs: CPU per verification request (dss/verify, in process)")
		h, err := hostileBench(ctx, o.hostileRuns, o.hostileOnly, logf)
		if err != nil {
			return fmt.Errorf("hostile inputs: %w", err)
		}
		rep.Hostile = h
	}

	// 4. Profile.
	if o.profile != "" && part("profile") {
		logf("CPU profile of the in-process service at concurrency %d", o.profileConc)
		prof, err := profileService(ctx, filepath.Join(scratch, "profile"), o, doc, logf)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		rep.Profiles = prof
	}

	// 5. Large documents (issue 11), each in a child process: time and peak memory.
	if part("bigdoc") {
		big, err := bigDocBench(ctx, o, logf)
		if err != nil {
			return fmt.Errorf("large documents: %w", err)
		}
		rep.BigDocs = big
	}

	// 6. A large file signed detached over MTOM (issue 15): throughput and dssd's memory.
	if part("mtom") {
		logf("MTOM: a %d MiB file signed detached, streamed into the digest", o.mtomSize>>20)
		m, err := mtomBench(ctx, filepath.Join(scratch, "mtom"), o, o.mtomSize, logf)
		if err != nil {
			return fmt.Errorf("MTOM: %w", err)
		}
		rep.MTOM = m
	}

	rep.Elapsed = time.Since(t0).Round(time.Second).String()
	rep.finish()
	rep.Machine.LoadAfter = loadAvg()
	jsonPath := filepath.Join(o.out, "bench.json")
	svgPath := filepath.Join(o.out, "bench.svg")
	if err := writeJSON(jsonPath, rep); err != nil {
		return err
	}
	if err := os.WriteFile(svgPath, []byte(chartSVG(rep)), 0o644); err != nil {
		return err
	}
	printTable(stdout, rep)
	printBigDocs(stdout, rep.BigDocs)
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", jsonPath, svgPath)
	if !rep.Valid {
		return errors.New("the run is invalid: " + strings.Join(rep.Problems, "; "))
	}
	return nil
}

func measurePaths(ctx context.Context, scratch string, o options, doc []byte, rep *Report, doRaw, doE2E bool, logf func(string, ...any)) error {
	var (
		raw *rawSigners
		e2e *e2eRunner
		err error
	)
	if doE2E {
		logf("end to end: dssd serve --dev over HTTPS, SOAP 1.2")
		if e2e, err = startService(ctx, filepath.Join(scratch, "e2e"), o, doc, logf); err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
		defer e2e.close()
	}
	if doRaw {
		logf("raw PKCS#11: SoftHSM2 via crypto11 and hsm/pkcs11, private token")
		if raw, err = openRaw(ctx, filepath.Join(scratch, "raw")); err != nil {
			return fmt.Errorf("raw PKCS#11: %w", err)
		}
		defer raw.close()
	}
	for _, k := range benchKeys {
		if e2e != nil {
			s, err := e2e.sample(ctx, k)
			if err != nil {
				return err
			}
			rep.Samples = append(rep.Samples, s)
			logf("  sample %s signature from dssd: xmlsec1 verified=%v", k.name, s.Verified)
		}
		for _, c := range o.conc {
			if raw != nil {
				p, err := measureRaw(ctx, raw.plain[k.name], k.name, c, o)
				if err != nil {
					return fmt.Errorf("raw PKCS#11: %w", err)
				}
				rep.Raw = append(rep.Raw, p)
				g, err := measureRaw(ctx, raw.guarded[k.name], k.name, c, o)
				if err != nil {
					return fmt.Errorf("raw PKCS#11 with hsm.Guard: %w", err)
				}
				rep.RawGuarded = append(rep.RawGuarded, g)
				logf("  %-8s c=%-2d raw %8.1f sig/s   with hsm.Guard %8.1f sig/s", k.name, c, p.Rate, g.Rate)
			}
			if e2e != nil {
				p, err := e2e.measure(ctx, k, c)
				if err != nil {
					return fmt.Errorf("end to end: %w", err)
				}
				rep.E2E = append(rep.E2E, p)
				if p.VmHWMMiB > 0 {
					rep.Memory.VmHWMMiB = max(rep.Memory.VmHWMMiB, p.VmHWMMiB)
					rep.Memory.RSSPeakSampledMiB = max(rep.Memory.RSSPeakSampledMiB, p.RSSPeakSampledMiB)
				}
				logf("  %-8s c=%-2d e2e %8.1f req/s   p50 %6.2f ms  p99 %6.2f ms  errors %d", k.name, c, p.Rate, p.P50ms, p.P99ms, p.Errors)
			}
		}
	}
	if e2e != nil {
		if rss, err := procStatusKiB(e2e.srv.pid, "VmRSS"); err == nil {
			rep.Memory.RSSAfterMiB = round(float64(rss)/1024, 1)
		}
	}
	return nil
}

// rerender reads a bench.json and writes its table to w and its chart to out/bench.svg.
func rerender(jsonPath, out string, w io.Writer) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	printTable(w, &rep)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "bench.svg"), []byte(chartSVG(&rep)), 0o644)
}
