package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the content of bench.json.
type Report struct {
	Started  time.Time `json:"started"`
	Elapsed  string    `json:"elapsed"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`

	Raw        []RatePoint  `json:"raw_pkcs11"`         // hsm/pkcs11 signer without hsm.Guard
	RawGuarded []RatePoint  `json:"raw_pkcs11_guarded"` // with hsm.Guard, as dssd uses it
	E2E        []E2EPoint   `json:"end_to_end"`
	Audit      []RatePoint  `json:"audit_append_sqlite"` // the audit sink alone
	Memory     Memory       `json:"service_memory"`
	Samples    []Sample     `json:"samples"`
	Peers      []PeerResult `json:"peers"`
	Ratios     Ratios       `json:"ratios"`
	Targets    []Target     `json:"targets"`
	Profiles   []Profile    `json:"profiles,omitempty"`
	Hostile    []HostileRow `json:"hostile_inputs,omitempty"`  // issue 10: CPU per verification request
	BigDocs    *BigDocs     `json:"large_documents,omitempty"` // bigdoc.go (issue 11)
	MTOM       *MTOMPoint   `json:"mtom_large_file,omitempty"` // mtom.go (issue 15)
	Compare    *Comparison  `json:"compare,omitempty"`         // compare.go: before/after in one run

	Valid    bool     `json:"valid"`
	Problems []string `json:"problems,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MemTotal   string `json:"mem_total"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
	Note       string `json:"note"`
}

// Settings are the parameters of the run.
type Settings struct {
	Duration      string   `json:"duration_per_point"`
	RawDuration   string   `json:"raw_duration_per_point"`
	Warmup        string   `json:"warmup_per_point"`
	Concurrency   []int    `json:"concurrency"`
	Document      string   `json:"document"`
	DocumentBytes int      `json:"document_bytes"`
	PeerN         int      `json:"peer_n"`
	XMLSecN       int      `json:"xmlsec_n"`
	MaxSessions   int      `json:"pkcs11_max_sessions"`
	ServerEnv     []string `json:"server_env,omitempty"`
}

// RatePoint is a raw signing rate.
type RatePoint struct {
	Key         string  `json:"key"`
	Concurrency int     `json:"concurrency"`
	Ops         int     `json:"signatures"`
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"per_second"`
	CPUPerOpMs  float64 `json:"cpu_ms_per_signature,omitempty"` // this process's CPU (SoftHSM runs in it)
}

// E2EPoint is one end-to-end measurement.
type E2EPoint struct {
	Key                string  `json:"key"`
	Concurrency        int     `json:"concurrency"`
	Requests           int     `json:"successful_requests"`
	Errors             int     `json:"non_success_responses"`
	FirstError         string  `json:"first_error,omitempty"`
	Seconds            float64 `json:"seconds"`
	Rate               float64 `json:"per_second"`
	P50ms              float64 `json:"p50_ms"`
	P99ms              float64 `json:"p99_ms"`
	ServiceCPU         float64 `json:"service_cpu_percent"` // dssd's CPU use during the point (100 = one core)
	ServiceCPUPerReqMs float64 `json:"service_cpu_ms_per_request"`
	VmHWMMiB           float64 `json:"vmhwm_mib,omitempty"`              // read right after this point
	RSSPeakSampledMiB  float64 `json:"vmrss_peak_sampled_mib,omitempty"` // VmRSS sampled every 100 ms during it
	RSSSamples         int     `json:"vmrss_samples,omitempty"`
}

// Memory is the service's resident memory.
type Memory struct {
	VmHWMMiB          float64 `json:"vmhwm_mib"`
	RSSPeakSampledMiB float64 `json:"vmrss_peak_sampled_mib"`
	RSSAfterMiB       float64 `json:"vmrss_after_mib"`
}

// Sample is an independent check of one produced signature.
type Sample struct {
	Producer string `json:"producer"`
	Verifier string `json:"verifier"`
	Verified bool   `json:"verified"`
	Output   string `json:"output"`
}

// PeerResult is one peer's in-process (or per-process) rate.
type PeerResult struct {
	Name           string  `json:"name"`
	What           string  `json:"what"`
	Threads        int     `json:"threads"`
	N              int     `json:"signatures"`
	Seconds        float64 `json:"seconds"`
	Rate           float64 `json:"per_second"`
	Verified       bool    `json:"verified_by_xmlsec1"`
	VerifierOutput string  `json:"verifier_output"`
	Note           string  `json:"note,omitempty"`
}

// Ratios are computed within the run.
type Ratios struct {
	E2EOverRaw     []Ratio `json:"e2e_over_raw_pkcs11"`
	E2EOverGuarded []Ratio `json:"e2e_over_guarded_pkcs11"`
	E2EOverPeer    []Ratio `json:"e2e_rsa_over_peer"`
	// CPU-normalised: raw CPU per signature / dssd CPU per request. On a machine shared with
	// other work the rates depend on what the others take; CPU per operation does much less.
	CPURawOverE2E []Ratio `json:"cpu_raw_per_signature_over_dssd_cpu_per_request"`
}

// Ratio is one ratio.
type Ratio struct {
	Key         string  `json:"key,omitempty"`
	Peer        string  `json:"peer,omitempty"`
	Concurrency int     `json:"concurrency"`
	Value       float64 `json:"value"`
}

// Target is one "Done when" target of issue 6.
type Target struct {
	Name string  `json:"name"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Met  bool    `json:"met"`
}

func (r *Report) rawRate(points []RatePoint, key string, c int) float64 {
	for _, p := range points {
		if p.Key == key && p.Concurrency == c {
			return p.Rate
		}
	}
	return 0
}

func (r *Report) rawCPU(key string, c int) float64 {
	for _, p := range r.Raw {
		if p.Key == key && p.Concurrency == c {
			return p.CPUPerOpMs
		}
	}
	return 0
}

func (r *Report) e2e(key string, c int) *E2EPoint {
	for i := range r.E2E {
		if r.E2E[i].Key == key && r.E2E[i].Concurrency == c {
			return &r.E2E[i]
		}
	}
	return nil
}

func (r *Report) peer(name string) *PeerResult {
	for i := range r.Peers {
		if r.Peers[i].Name == name {
			return &r.Peers[i]
		}
	}
	return nil
}

// finish computes ratios, targets and validity.
func (r *Report) finish() {
	r.Settings.MaxSessions = benchMaxSessions
	r.Valid = len(r.Problems) == 0
	for _, p := range r.E2E {
		if p.Errors > 0 {
			r.Valid = false
			r.Problems = append(r.Problems, fmt.Sprintf("end to end %s at concurrency %d: %d non-success responses (first: %s)", p.Key, p.Concurrency, p.Errors, p.FirstError))
		}
	}
	for _, s := range r.Samples {
		if !s.Verified {
			r.Valid = false
			r.Problems = append(r.Problems, s.Producer+": sample signature rejected by "+s.Verifier+": "+s.Output)
		}
	}
	for _, p := range r.E2E {
		if raw := r.rawRate(r.Raw, p.Key, p.Concurrency); raw > 0 {
			r.Ratios.E2EOverRaw = append(r.Ratios.E2EOverRaw, Ratio{Key: p.Key, Concurrency: p.Concurrency, Value: round(p.Rate/raw, 3)})
		}
		if rc := r.rawCPU(p.Key, p.Concurrency); rc > 0 && p.ServiceCPUPerReqMs > 0 {
			r.Ratios.CPURawOverE2E = append(r.Ratios.CPURawOverE2E, Ratio{Key: p.Key, Concurrency: p.Concurrency, Value: round(rc/p.ServiceCPUPerReqMs, 3)})
		}
		if g := r.rawRate(r.RawGuarded, p.Key, p.Concurrency); g > 0 {
			r.Ratios.E2EOverGuarded = append(r.Ratios.E2EOverGuarded, Ratio{Key: p.Key, Concurrency: p.Concurrency, Value: round(p.Rate/g, 3)})
		}
		if p.Key != "RSA-2048" {
			continue
		}
		for _, peer := range r.Peers {
			if peer.Rate > 0 {
				r.Ratios.E2EOverPeer = append(r.Ratios.E2EOverPeer, Ratio{Peer: peer.Name, Concurrency: p.Concurrency, Value: round(p.Rate/peer.Rate, 3)})
			}
		}
	}

	// The "Done when" targets at concurrency 4.
	const c = 4
	ratio := func(key string) float64 {
		e, raw := r.e2e(key, c), r.rawRate(r.Raw, key, c)
		if e == nil || raw == 0 {
			return math.NaN()
		}
		return round(e.Rate/raw, 3)
	}
	add := func(name, want string, got float64, met bool) {
		if math.IsNaN(got) {
			name, got, met = name+" (not measured)", 0, false
		}
		r.Targets = append(r.Targets, Target{Name: name, Want: want, Got: got, Met: met})
	}
	for _, h := range r.Hostile {
		add("hostile input: "+h.Name+": CPU ms per request", "< 1000", h.CPUms, h.CPUms < 1000)
	}
	if m := r.MTOM; m != nil {
		if m.Error != "" {
			r.Valid = false
			r.Problems = append(r.Problems, "MTOM large file: "+m.Error)
		}
		gib := fmt.Sprintf("%.0f MiB", float64(m.FileBytes)/(1<<20))
		add("MTOM "+gib+" detached: dssd peak RSS over idle RSS, MiB", "<= 64", m.PeakOverIdleMiB, m.Error == "" && m.PeakOverIdleMiB <= 64)
		add("MTOM "+gib+" detached: throughput / sha256sum on the same file", ">= 0.5", m.Ratio, m.Error == "" && m.Ratio >= 0.5)
		add("MTOM "+gib+" detached: Reference digest = sha256sum (1 = yes)", "= 1", b2f(m.DigestMatches), m.DigestMatches)
	}
	r.compareTargets(add)
	rsa := ratio("RSA-2048")
	add("e2e RSA-2048 / raw PKCS#11 RSA-2048 at concurrency 4", ">= 0.8", rsa, rsa >= 0.8)
	ec := ratio("EC-P256")
	add("e2e EC-P256 / raw PKCS#11 EC-P256 at concurrency 4", ">= 0.5", ec, ec >= 0.5)
	if e := r.e2e("RSA-2048", c); e != nil {
		for _, name := range []string{"xadesjs", "santuario-xades", "santuario-xmldsig"} {
			if p := r.peer(name); p != nil && p.Rate > 0 {
				v := round(e.Rate/p.Rate, 3)
				add("e2e RSA-2048 at concurrency 4 / "+name, ">= 1", v, v >= 1)
			}
		}
	}
	maxC := 0
	for _, c := range r.Settings.Concurrency {
		maxC = max(maxC, c)
	}
	add(fmt.Sprintf("service peak RSS (VmHWM) after the concurrency-%d runs, MiB", maxC), "< 200", r.Memory.VmHWMMiB,
		r.Memory.VmHWMMiB > 0 && r.Memory.VmHWMMiB < 200)
}

func printTable(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\ndssd benchmark, %s, %s (%d CPUs: %s; Go %s)\n", r.Started.Format(time.RFC3339), r.Elapsed, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Go)
	fmt.Fprintf(w, "%s\n", r.Machine.Note)
	fmt.Fprintf(w, "load average before %s, after %s\n\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "key\tconc\traw PKCS#11/s\tguarded/s\te2e req/s\tp50 ms\tp99 ms\te2e/raw\traw CPU ms/sig\tdssd CPU ms/req\tdssd CPU %\terrors\t")
	for _, p := range r.E2E {
		raw, g := r.rawRate(r.Raw, p.Key, p.Concurrency), r.rawRate(r.RawGuarded, p.Key, p.Concurrency)
		ratio := "-"
		if raw > 0 {
			ratio = fmt.Sprintf("%.2f", p.Rate/raw)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%s\t%.3f\t%.3f\t%.0f\t%d\t\n", p.Key, p.Concurrency, raw, g, p.Rate, p.P50ms, p.P99ms, ratio, r.rawCPU(p.Key, p.Concurrency), p.ServiceCPUPerReqMs, p.ServiceCPU, p.Errors)
	}
	tw.Flush()
	if len(r.Audit) > 0 {
		fmt.Fprint(w, "\naudit store alone (dss/store/sqlite Append, WAL + synchronous=FULL):")
		for _, p := range r.Audit {
			fmt.Fprintf(w, "  c=%d %.0f/s %.0f µs CPU", p.Concurrency, p.Rate, 1000*p.CPUPerOpMs)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nservice memory: VmHWM %.1f MiB, sampled VmRSS peak %.1f MiB\n", r.Memory.VmHWMMiB, r.Memory.RSSPeakSampledMiB)
	if len(r.Peers) > 0 {
		fmt.Fprintln(w, "\npeers (one thread, same document, software RSA-2048):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "peer\tsig/s\tverified\te2e RSA c=1 / peer\te2e RSA c=4 / peer\t")
		for _, p := range r.Peers {
			fmt.Fprintf(tw, "%s\t%.1f\t%v\t%s\t%s\t\n", p.Name, p.Rate, p.Verified, r.peerRatio(p, 1), r.peerRatio(p, 4))
		}
		tw.Flush()
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\nCPU profile %s (in-process service, %s, concurrency %d, %.0f req/s; %.2f s CPU in %.1f s): share of the server's CPU per stage\n",
			p.File, p.Key, p.Concurrency, p.Rate, p.CPUSeconds, p.Seconds)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range p.Stages {
			fmt.Fprintf(tw, "  %s\t%5.1f %%\t%6.0f µs/req\t\n", s.Stage, s.Percent, s.MicrosPerRequest)
		}
		tw.Flush()
	}
	if len(r.Hostile) > 0 {
		fmt.Fprintf(w, "\nhostile inputs (issue 10): one verification request each, median of the runs; then the same with a %.0f ms deadline\n", r.Hostile[0].DeadlineMs)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "input\tbytes\tCPU ms\twall ms\toutcome\tms after deadline\t")
		for _, h := range r.Hostile {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%s\t%.1f\t\n", h.Name, h.InputBytes, h.CPUms, h.WallMs, h.Outcome, h.OverrunMs)
		}
		tw.Flush()
	}
	printCompare(w, r.Compare)
	fmt.Fprintln(w, "\ntargets (issue 6, concurrency 4):")
	for _, t := range r.Targets {
		mark := "MISSED"
		if t.Met {
			mark = "met"
		}
		fmt.Fprintf(w, "  %-6s %-66s %8.3f  (want %s)\n", mark, t.Name, t.Got, t.Want)
	}
	if !r.Valid {
		fmt.Fprintln(w, "\nINVALID RUN:", strings.Join(r.Problems, "; "))
	}
}

func (r *Report) peerRatio(p PeerResult, c int) string {
	if e := r.e2e("RSA-2048", c); e != nil && p.Rate > 0 {
		return fmt.Sprintf("%.2f", e.Rate/p.Rate)
	}
	return "-"
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAvg(),
		Note: "the service, the load generator and the peers share this machine (and may share it with other work): compare ratios within one run only"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && k == "MemTotal" {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
