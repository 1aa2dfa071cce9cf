package main

// Before and after in one run (-baseline REV or -baseline-bin PATH): a second dssd, the
// baseline, is built from the commit REV (git archive into a temporary directory, then go
// build) or taken as it is; both it and the candidate (the dssd of this tree) run `serve --dev`
// with their own development directory made the same way, and their end-to-end points are
// measured interleaved: for each key and concurrency the raw PKCS#11 rate, then baseline,
// candidate, baseline, candidate (-compare-rounds pairs), same document, same client. Each
// binary's points are summed over its rounds: requests per second, dssd CPU ms per request,
// and at the end its peak resident memory (VmHWM over its whole life, which saw the same
// load). The report gives each binary's figures and the ratios candidate/baseline.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// Comparison is the before/after part of bench.json.
type Comparison struct {
	Baseline          string         `json:"baseline"`           // what -baseline or -baseline-bin named
	BaselineCommit    string         `json:"baseline_commit"`    // the commit built (empty for -baseline-bin)
	Candidate         string         `json:"candidate"`          // git describe of this tree
	Rounds            int            `json:"rounds"`             // baseline/candidate pairs per point
	Points            []ComparePoint `json:"points"`             // per key and concurrency
	BaselineVmHWMMiB  float64        `json:"baseline_vmhwm_mib"` // over the whole run of each binary
	CandidateVmHWMMiB float64        `json:"candidate_vmhwm_mib"`
	VmHWMRatio        float64        `json:"vmhwm_candidate_over_baseline"`
	Runs              []CompareRun   `json:"runs"` // every measured point, in order
}

// CompareSide is one binary's sum over its rounds at one key and concurrency.
type CompareSide struct {
	Requests    int     `json:"successful_requests"`
	Errors      int     `json:"non_success_responses"`
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"per_second"`
	CPUPerReqMs float64 `json:"service_cpu_ms_per_request"`
	OverRaw     float64 `json:"e2e_over_raw,omitempty"`
}

// ComparePoint compares the two binaries at one key and concurrency.
type ComparePoint struct {
	Key         string      `json:"key"`
	Concurrency int         `json:"concurrency"`
	RawRate     float64     `json:"raw_pkcs11_per_second,omitempty"`
	Baseline    CompareSide `json:"baseline"`
	Candidate   CompareSide `json:"candidate"`
	RateRatio   float64     `json:"rate_candidate_over_baseline"`
	CPURatio    float64     `json:"cpu_per_request_candidate_over_baseline"`
}

// CompareRun is one measured point of one binary.
type CompareRun struct {
	Binary string   `json:"binary"` // "baseline" or "candidate"
	Round  int      `json:"round"`
	Point  E2EPoint `json:"point"`
}

// compareBench measures the baseline against the candidate (see the top of this file).
func compareBench(ctx context.Context, scratch string, o options, doc []byte, rep *Report, logf func(string, ...any)) error {
	cmp := &Comparison{Baseline: o.baseline, Rounds: max(o.compareRounds, 1), Candidate: gitDescribe(ctx, o.repo)}
	dirA, dirB := filepath.Join(scratch, "baseline"), filepath.Join(scratch, "candidate")
	if err := os.MkdirAll(dirA, 0o700); err != nil {
		return err
	}
	binA := o.baselineBin
	if binA != "" {
		cmp.Baseline = binA
	} else {
		commit, err := checkoutRev(ctx, o.repo, o.baseline, filepath.Join(dirA, "src"))
		if err != nil {
			return fmt.Errorf("baseline %s: %w", o.baseline, err)
		}
		cmp.BaselineCommit = commit
		binA = filepath.Join(dirA, "dssd")
		if err := buildDSSD(ctx, filepath.Join(dirA, "src"), binA, logf); err != nil {
			return fmt.Errorf("baseline %s: %w", o.baseline, err)
		}
		_ = os.RemoveAll(filepath.Join(dirA, "src"))
	}
	logf("baseline dssd: %s", cmp.Baseline)
	a, err := startServiceBin(ctx, dirA, binA, o, doc, logf)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	defer a.close()
	logf("candidate dssd: this tree (%s)", cmp.Candidate)
	b, err := startService(ctx, dirB, o, doc, logf)
	if err != nil {
		return fmt.Errorf("candidate: %w", err)
	}
	defer b.close()
	raw, err := openRaw(ctx, filepath.Join(scratch, "compare-raw"))
	if err != nil {
		return fmt.Errorf("raw PKCS#11: %w", err)
	}
	defer raw.close()

	sides := []struct {
		name string
		e    *e2eRunner
	}{{"baseline", a}, {"candidate", b}}
	for _, k := range benchKeys {
		for _, s := range sides {
			smp, err := s.e.sample(ctx, k)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			smp.Producer = s.name + " " + smp.Producer
			rep.Samples = append(rep.Samples, smp)
		}
		for _, c := range o.conc {
			rp, err := measureRaw(ctx, raw.plain[k.name], k.name, c, o)
			if err != nil {
				return fmt.Errorf("raw PKCS#11: %w", err)
			}
			pt := ComparePoint{Key: k.name, Concurrency: c, RawRate: rp.Rate}
			var cpu [2]float64
			for round := 1; round <= cmp.Rounds; round++ {
				for i, s := range sides {
					p, err := s.e.measure(ctx, k, c)
					if err != nil {
						return fmt.Errorf("%s end to end: %w", s.name, err)
					}
					cmp.Runs = append(cmp.Runs, CompareRun{Binary: s.name, Round: round, Point: p})
					side := &pt.Baseline
					if i == 1 {
						side = &pt.Candidate
					}
					side.Requests += p.Requests
					side.Errors += p.Errors
					side.Seconds += p.Seconds
					cpu[i] += p.ServiceCPUPerReqMs * float64(p.Requests)
					logf("  %-8s c=%-2d %-9s round %d: %8.1f req/s  dssd CPU %.3f ms/req", k.name, c, s.name, round, p.Rate, p.ServiceCPUPerReqMs)
				}
			}
			for i, side := range []*CompareSide{&pt.Baseline, &pt.Candidate} {
				side.Seconds = round(side.Seconds, 3)
				if side.Seconds > 0 {
					side.Rate = round(float64(side.Requests)/side.Seconds, 1)
				}
				if side.Requests > 0 {
					side.CPUPerReqMs = round(cpu[i]/float64(side.Requests), 3)
				}
				if pt.RawRate > 0 {
					side.OverRaw = round(side.Rate/pt.RawRate, 3)
				}
			}
			pt.RateRatio = ratioOf(pt.Candidate.Rate, pt.Baseline.Rate)
			pt.CPURatio = ratioOf(pt.Candidate.CPUPerReqMs, pt.Baseline.CPUPerReqMs)
			cmp.Points = append(cmp.Points, pt)
			logf("  %-8s c=%-2d candidate/baseline: req/s %.3f  CPU/req %.3f", k.name, c, pt.RateRatio, pt.CPURatio)
		}
	}
	for i, e := range []*e2eRunner{a, b} {
		hwm, err := procStatusKiB(e.srv.pid, "VmHWM")
		if err != nil {
			return err
		}
		if i == 0 {
			cmp.BaselineVmHWMMiB = round(float64(hwm)/1024, 1)
		} else {
			cmp.CandidateVmHWMMiB = round(float64(hwm)/1024, 1)
		}
	}
	cmp.VmHWMRatio = ratioOf(cmp.CandidateVmHWMMiB, cmp.BaselineVmHWMMiB)
	rep.Compare = cmp
	return ctx.Err()
}

func ratioOf(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return round(num/den, 3)
}

// gitDescribe names the tree at repo ("dev" when git cannot).
func gitDescribe(ctx context.Context, repo string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

// checkoutRev writes the files of commit rev of the repository at repo into dst (git
// archive; the repository itself is not touched) and returns the full commit id.
func checkoutRev(ctx context.Context, repo, rev, dst string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--verify", rev+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse %s: %w", rev, err)
	}
	commit := strings.TrimSpace(string(out))
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "archive", "--format=tar", commit)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	xerr := untar(pipe, dst)
	_, _ = io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("git archive %s: %w: %s", commit, err, stderr.String())
	}
	if xerr != nil {
		return "", fmt.Errorf("git archive %s: %w", commit, xerr)
	}
	return commit, nil
}

// untar extracts the directories, regular files and symbolic links of a tar stream under dst.
func untar(r io.Reader, dst string) error {
	// Every entry is written through an os.Root of dst: neither a name with ".." nor a
	// symbolic link of an earlier entry can make a later one land outside it.
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("archive entry %q leaves the directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o755)
		case tar.TypeReg:
			if err = root.MkdirAll(filepath.Dir(name), 0o755); err == nil {
				err = writeEntry(root, name, os.FileMode(h.Mode)&0o755|0o600, tr)
			}
		case tar.TypeSymlink:
			if err = root.MkdirAll(filepath.Dir(name), 0o755); err == nil {
				err = root.Symlink(h.Linkname, name)
			}
		}
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", h.Name, err)
		}
	}
}

// writeEntry writes the regular file name under root with the contents of r.
func writeEntry(root *os.Root, name string, mode os.FileMode, r io.Reader) error {
	f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// compareTargets are the before/after goals of issue 16 at concurrency 4.
func (r *Report) compareTargets(add func(name, want string, got float64, met bool)) {
	cmp := r.Compare
	if cmp == nil {
		return
	}
	for _, p := range cmp.Points {
		if p.Baseline.Errors+p.Candidate.Errors > 0 {
			r.Valid = false
			r.Problems = append(r.Problems, fmt.Sprintf("compare %s at concurrency %d: %d non-success responses (baseline %d, candidate %d)",
				p.Key, p.Concurrency, p.Baseline.Errors+p.Candidate.Errors, p.Baseline.Errors, p.Candidate.Errors))
		}
	}
	point := func(key string) *ComparePoint {
		for i := range cmp.Points {
			if p := &cmp.Points[i]; p.Key == key && p.Concurrency == 4 {
				return p
			}
		}
		return nil
	}
	if p := point("EC-P256"); p != nil {
		add("compare: dssd CPU/request EC-P256, candidate / baseline", "<= 0.65", p.CPURatio, p.CPURatio > 0 && p.CPURatio <= 0.65)
		add("compare: candidate e2e EC-P256 / raw PKCS#11 EC-P256", ">= 0.2", p.Candidate.OverRaw, p.Candidate.OverRaw >= 0.2)
	}
	if p := point("RSA-2048"); p != nil {
		add("compare: dssd CPU/request RSA-2048, candidate / baseline", "<= 0.80", p.CPURatio, p.CPURatio > 0 && p.CPURatio <= 0.8)
	}
	add("compare: dssd peak RSS (VmHWM), candidate / baseline", "<= 1", cmp.VmHWMRatio, cmp.VmHWMRatio > 0 && cmp.VmHWMRatio <= 1)
}

// printCompare writes the before/after table.
func printCompare(w io.Writer, cmp *Comparison) {
	if cmp == nil {
		return
	}
	base := cmp.Baseline
	if cmp.BaselineCommit != "" {
		base += " (" + cmp.BaselineCommit[:min(12, len(cmp.BaselineCommit))] + ")"
	}
	fmt.Fprintf(w, "\nbefore/after, same run, %d interleaved rounds per point: baseline %s, candidate %s\n", cmp.Rounds, base, cmp.Candidate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "key\tconc\traw/s\tbase req/s\tcand req/s\treq/s c/b\tbase CPU ms/req\tcand CPU ms/req\tCPU c/b\tbase e2e/raw\tcand e2e/raw\terrors\t")
	for _, p := range cmp.Points {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n", p.Key, p.Concurrency, p.RawRate,
			p.Baseline.Rate, p.Candidate.Rate, p.RateRatio, p.Baseline.CPUPerReqMs, p.Candidate.CPUPerReqMs, p.CPURatio,
			p.Baseline.OverRaw, p.Candidate.OverRaw, p.Baseline.Errors+p.Candidate.Errors)
	}
	tw.Flush()
	fmt.Fprintf(w, "peak RSS (VmHWM): baseline %.1f MiB, candidate %.1f MiB, candidate/baseline %.3f\n",
		cmp.BaselineVmHWMMiB, cmp.CandidateVmHWMMiB, cmp.VmHWMRatio)
}
