//go:build e2e

package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// scrape reads /metrics of the running server: the text and its samples by series, the series
// written as in the exposition (labels sorted by name).
func (s *server) scrape(t *testing.T) (string, map[string]float64) {
	t.Helper()
	resp, err := s.client.Get(s.dev.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	samples := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unparsable sample %q", line)
		}
		samples[line[:i]] = v
	}
	return string(raw), samples
}

// TestMetricsEndToEnd: known requests move the metrics operators alert on by known amounts,
// and a real scrape passes `promtool check metrics`.
func TestMetricsEndToEnd(t *testing.T) {
	s := start(t)
	promtool := requireTool(t, "promtool", "prometheus")
	token := s.token("alice")
	_, before := s.scrape(t)

	invoice := readFile(t, "../../testdata/documents/invoice.xml")
	bb := signCase{sigType: xadesURI, placement: "enveloping", alg: ecdsaSHA256, cred: "alice-ec", via: viaPOST}
	if status, raw := s.send(t, viaPOST, token, signRequestXML("metrics-bb", bb, invoice)); status != http.StatusOK {
		t.Fatalf("B-B: HTTP %d %s", status, raw)
	} else if _, r := parseResponse(t, raw); !r.ok() {
		t.Fatalf("B-B: %s %s %s", r.major, r.minor, r.message)
	}
	lt := strings.Replace(signRequestXML("metrics-lt", bb, invoice), "<dss2:InputDocuments>",
		"<dsb:Profile>urn:dssd:level:B-LT</dsb:Profile><dss2:InputDocuments>", 1)
	if status, raw := s.send(t, viaPOST, token, lt); status != http.StatusOK {
		t.Fatalf("B-LT: HTTP %d %s", status, raw)
	} else if _, r := parseResponse(t, raw); !r.ok() {
		t.Fatalf("B-LT: %s %s %s", r.major, r.minor, r.message)
	}
	// 401, or 429 once failed authentications from this address are rate-limited.
	refused, _ := s.send(t, viaPOST, "not-a-token", signRequestXML("metrics-401", bb, invoice))
	if refused != http.StatusUnauthorized && refused != http.StatusTooManyRequests {
		t.Fatalf("bad token: HTTP %d, want 401 (or 429)", refused)
	}
	// A CSC method is its own route, not the /csc/v2/ prefix.
	if status, raw := s.post(t, "/csc/v2/info", "application/json", "", []byte("{}")); status != http.StatusOK {
		t.Fatalf("CSC info: HTTP %d %s", status, raw)
	}
	for _, p := range []string{"/no/such/route/1", "/no/such/route/2"} {
		resp, err := s.client.Get(s.dev.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	text, after := s.scrape(t)
	delta := func(series string) float64 { return after[series] - before[series] }

	tsaURL, err := url.Parse(s.dev.TSA)
	if err != nil || s.dev.TSA == "" {
		t.Fatalf("dev.json tsa %q: %v", s.dev.TSA, err)
	}
	tsaAuthority := tsaURL.Scheme + "://" + tsaURL.Host
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`dssd_http_requests_total{code="200",method="POST",route="/sign"}`, 2},
		{`dssd_http_requests_total{code="404",method="GET",route="unmatched"}`, 2},
		{`dssd_http_requests_total{code="200",method="POST",route="/csc/v2/info"}`, 1},
		{`dssd_http_request_duration_seconds_count{method="POST",route="/sign"}`, 3},
		{`dssd_hsm_operations_total{operation="sign",outcome="ok"}`, 2},
		{`dssd_hsm_operation_duration_seconds_count{operation="sign"}`, 2},
		{`dssd_timestamps_total{outcome="ok"}`, 1},
		{`dssd_authority_requests_total{authority="` + tsaAuthority + `",outcome="ok",service="tsa"}`, 1},
		{`dssd_signatures_total{format="xades",key_type="EC-P256",result="ok"}`, 2},
	} {
		if got := delta(c.series); got != c.want {
			t.Errorf("%s moved by %v, want %v", c.series, got, c.want)
		}
	}
	if got := delta(`dssd_http_requests_total{code="` + strconv.Itoa(refused) + `",method="POST",route="/sign"}`); got != 1 {
		t.Errorf("the refused request (HTTP %d) moved its counter by %v, want 1", refused, got)
	}
	for _, series := range []string{
		`dssd_revocation_checks_total{outcome="ok"}`,
		`dssd_audit_commit_duration_seconds_count`,
	} {
		if got := delta(series); got < 1 {
			t.Errorf("%s moved by %v, want at least 1", series, got)
		}
	}
	if after[`dssd_audit_commit_failures_total`] != 0 || after[`dssd_signature_selfcheck_failures_total`] != 0 {
		t.Error("audit commit or self-check failures on a healthy server")
	}
	if after[`dssd_hsm_up`] != 1 {
		t.Errorf("dssd_hsm_up = %v on a ready server, want 1", after[`dssd_hsm_up`])
	}
	if !strings.Contains(text, `dssd_build_info{goversion="go`) {
		t.Error("dssd_build_info is missing")
	}
	for series := range after {
		if strings.Contains(series, "/no/such") {
			t.Errorf("a raw path became a label: %s", series)
		}
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader([]byte(text))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// requireTool returns the path of a command the test needs, or fails naming the Debian
// package that provides it (.ci/deps.sh test installs it).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is missing: apt-get install %s (bash .ci/deps.sh test installs it)", name, pkg)
	}
	return p
}
