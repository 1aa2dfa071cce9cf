package main

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	r := loadResult{}
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}}
	for _, tt := range tests {
		if got := r.percentile(tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := (loadResult{}).percentile(50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestRunLoadCountsErrors(t *testing.T) {
	n := 0
	r := runLoad(t.Context(), 1, 0, 50*time.Millisecond, func(int) error {
		n++
		if n%2 == 0 {
			return errors.New("odd")
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	if r.ops == 0 || r.errs == 0 || r.firstErr == nil {
		t.Fatalf("runLoad: ops %d, errs %d, first %v: want both counted", r.ops, r.errs, r.firstErr)
	}
	if len(r.latencies) != r.ops {
		t.Errorf("%d latencies for %d successful operations", len(r.latencies), r.ops)
	}
}

func TestPprofSeconds(t *testing.T) {
	tests := map[string]float64{"10ms": 0.01, "1.5s": 1.5, "2mins": 120, "0": 0, "250us": 0.00025}
	for in, want := range tests {
		if got := pprofSeconds(in); got < want*0.999 || got > want*1.001 {
			t.Errorf("pprofSeconds(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseInts(t *testing.T) {
	got, err := parseInts("1, 4,16")
	if err != nil || len(got) != 3 || got[2] != 16 {
		t.Fatalf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "x", "1,,2"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}

func sampleReport() *Report {
	r := &Report{Settings: Settings{Concurrency: []int{1, 4, 16}, DocumentBytes: 2389}, Machine: Machine{CPUs: 2}}
	for _, c := range []int{1, 4, 16} {
		r.Raw = append(r.Raw, RatePoint{Key: "RSA-2048", Concurrency: c, Rate: 1000}, RatePoint{Key: "EC-P256", Concurrency: c, Rate: 10000})
		r.E2E = append(r.E2E, E2EPoint{Key: "RSA-2048", Concurrency: c, Rate: 850}, E2EPoint{Key: "EC-P256", Concurrency: c, Rate: 4000})
	}
	r.Peers = []PeerResult{{Name: "xadesjs", Rate: 900}, {Name: "santuario-xades", Rate: 800}, {Name: "xmlsec1", Rate: 30}}
	r.Memory.VmHWMMiB = 80
	return r
}

func TestTargets(t *testing.T) {
	r := sampleReport()
	r.finish()
	want := map[string]bool{
		"e2e RSA-2048 / raw PKCS#11 RSA-2048 at concurrency 4": true,  // 0.85
		"e2e EC-P256 / raw PKCS#11 EC-P256 at concurrency 4":   false, // 0.4
		"e2e RSA-2048 at concurrency 4 / xadesjs":              false, // 850 < 900
		"e2e RSA-2048 at concurrency 4 / santuario-xades":      true,
	}
	seen := 0
	for _, tg := range r.Targets {
		if w, ok := want[tg.Name]; ok {
			seen++
			if tg.Met != w {
				t.Errorf("%s: met = %v (got %v), want %v", tg.Name, tg.Met, tg.Got, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of %d targets in %+v", seen, len(want), r.Targets)
	}
	if !r.Valid {
		t.Errorf("a run without errors is invalid: %v", r.Problems)
	}
	r.E2E[0].Errors = 1
	r.Targets, r.Ratios = nil, Ratios{}
	r.finish()
	if r.Valid {
		t.Error("a run with a non-success response is valid")
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	r := sampleReport()
	r.Peers[0].Name = `a<b&"c"`
	svg := chartSVG(r)
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{"<polyline", "dssd end to end RSA-2048", "raw PKCS#11 EC-P256", "xmlsec1 30/s", "a&lt;b&amp;&quot;c&quot;"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestProcStatus(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatal("this benchmark reads /proc (Linux only)")
	}
	kib, err := procStatusKiB(os.Getpid(), "VmRSS")
	if err != nil || kib <= 0 {
		t.Fatalf("VmRSS = %d, %v", kib, err)
	}
	cpu, err := procCPUSeconds(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("CPU = %v, %v", cpu, err)
	}
}

func TestXMLSecTemplate(t *testing.T) {
	file, err := xmlsecTemplate("../..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(string(b), "<inv:Invoice"), strings.Index(string(b), "<ds:Signature")
	if i < 0 || j < i || strings.Contains(string(b[i:j]), "<cbc:") {
		t.Fatalf("the signature template is not the first child of inv:Invoice")
	}
}
