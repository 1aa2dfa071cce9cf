package main

// A large file signed detached over MTOM (issue 15): a random file (1 GiB by default) in a
// temporary directory is sent as the MTOM attachment of a SOAP 1.2 SignRequest to a running
// `dssd serve --dev`, streamed from disk by this client (io.Pipe, mime/multipart), and hashed
// by dssd as it arrives. Measured in the same run: sha256sum over the same file (before and
// after, the faster counts), the wall time of the signing request, dssd's resident memory at
// rest (VmRSS after a warm-up request) and its peak during the request (VmHWM, reset through
// /proc/PID/clear_refs before the request, and VmRSS sampled every 20 ms). The Reference digest
// of the signature is compared with sha256sum's. The file is removed at the end.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"dssd/cmd/internal/mtomclient"
)

// MTOMPoint is the result of the large-file measurement.
type MTOMPoint struct {
	FileBytes        int64   `json:"file_bytes"`
	Seconds          float64 `json:"seconds"` // the signing request, client wall time (upload included)
	MiBps            float64 `json:"mib_per_s"`
	SHA256SumSeconds float64 `json:"sha256sum_seconds"` // the faster of two runs
	SHA256SumMiBps   float64 `json:"sha256sum_mib_per_s"`
	Ratio            float64 `json:"throughput_over_sha256sum"`
	IdleRSSMiB       float64 `json:"idle_rss_mib"`         // VmRSS after a warm-up request
	PeakRSSMiB       float64 `json:"peak_rss_mib"`         // VmHWM during the request (reset before it)
	PeakSampledMiB   float64 `json:"peak_rss_sampled_mib"` // highest VmRSS sampled every 20 ms
	PeakOverIdleMiB  float64 `json:"peak_over_idle_mib"`
	DigestMatches    bool    `json:"digest_matches_sha256sum"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds"` // dssd's user+system CPU during the request
	Error            string  `json:"error,omitempty"`
}

// mtomBench runs the large-file measurement against a dssd it starts.
func mtomBench(ctx context.Context, dir string, o options, size int64, logf func(string, ...any)) (*MTOMPoint, error) {
	e, err := startService(ctx, filepath.Join(dir, "svc"), o, nil, logf)
	if err != nil {
		return nil, err
	}
	defer e.close()
	p := &MTOMPoint{FileBytes: size}
	file := filepath.Join(dir, "large.bin")
	defer os.Remove(file)
	logf("  writing a %d MiB random file", size>>20)
	if err := writeRandom(file, size); err != nil {
		return nil, err
	}
	sum, secs, err := sha256sum(ctx, file)
	if err != nil {
		return nil, err
	}
	// Warm-up: one small MTOM request, so that idle means "after serving one".
	small := filepath.Join(dir, "small.bin")
	defer os.Remove(small)
	if err := writeRandom(small, 1<<20); err != nil {
		return nil, err
	}
	if _, err := e.signMTOM(ctx, small); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(2 * time.Second) // let the runtime return what the warm-up freed
	pid := e.srv.pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return nil, fmt.Errorf("resetting VmHWM: %w", err)
	}
	idle, err := procStatusKiB(pid, "VmRSS")
	if err != nil {
		return nil, err
	}
	cpu0, _ := procCPUSeconds(pid)
	sampler := sampleRSS(pid, 20*time.Millisecond)
	logf("  signing it detached over MTOM")
	start := time.Now()
	sig, err := e.signMTOM(ctx, file)
	elapsed := time.Since(start)
	sampledPeak, _ := sampler.stop()
	if err != nil {
		p.Error = err.Error()
		return p, nil
	}
	cpu1, _ := procCPUSeconds(pid)
	hwm, err := procStatusKiB(pid, "VmHWM")
	if err != nil {
		return nil, err
	}
	sum2, secs2, err := sha256sum(ctx, file)
	if err != nil {
		return nil, err
	}
	if sum2 != sum {
		return nil, errors.New("sha256sum changed between its two runs")
	}
	secs = min(secs, secs2)
	mib := float64(size) / (1 << 20)
	p.Seconds = round(elapsed.Seconds(), 2)
	p.MiBps = round(mib/elapsed.Seconds(), 1)
	p.SHA256SumSeconds = round(secs, 2)
	p.SHA256SumMiBps = round(mib/secs, 1)
	p.Ratio = round(secs/elapsed.Seconds(), 3)
	p.IdleRSSMiB = round(float64(idle)/1024, 1)
	p.PeakRSSMiB = round(float64(hwm)/1024, 1)
	p.PeakSampledMiB = round(float64(sampledPeak)/1024, 1)
	p.PeakOverIdleMiB = round(p.PeakRSSMiB-p.IdleRSSMiB, 1)
	p.ServerCPUSeconds = round(cpu1-cpu0, 2)
	raw, _ := hex.DecodeString(sum)
	p.DigestMatches = bytes.Contains(sig, []byte(`URI="large.bin"`)) &&
		bytes.Contains(sig, []byte("<ds:DigestValue>"+base64.StdEncoding.EncodeToString(raw)+"</ds:DigestValue>"))
	logf("  %.0f MiB in %.2f s (%.0f MiB/s; sha256sum %.0f MiB/s, ratio %.2f); dssd RSS idle %.0f MiB, peak %.0f MiB (+%.0f)",
		mib, p.Seconds, p.MiBps, p.SHA256SumMiBps, p.Ratio, p.IdleRSSMiB, p.PeakRSSMiB, p.PeakOverIdleMiB)
	return p, nil
}

// writeRandom writes n random bytes to path.
func writeRandom(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sha256sum runs coreutils sha256sum on path: the hex digest and the wall time.
func sha256sum(ctx context.Context, path string) (string, float64, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "sha256sum", path).Output()
	secs := time.Since(start).Seconds()
	if err != nil {
		return "", 0, fmt.Errorf("sha256sum: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", 0, errors.New("sha256sum printed nothing")
	}
	return f[0], secs, nil
}

var mtomSigRE = regexp.MustCompile(`(?s)<xop:Include[^>]*href="cid:([^"]+)"`)

// signMTOM signs file detached over MTOM (SOAP 1.2) as alice-rsa and returns the signature.
func (e *e2eRunner) signMTOM(ctx context.Context, file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	name := filepath.Base(file)
	env := `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>` +
		`<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="bench-mtom">` +
		`<dss2:InputDocuments><dss2:Document ID="doc-1" RefURI="` + name + `"><dss2:Base64Data MimeType="application/octet-stream"><dsb:Value>` +
		`<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:file@bench"/></dsb:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>` +
		`<dss2:OptionalInputs><dss2:KeySelector><dss2:KeyName>alice-rsa</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs>` +
		`</dss2:SignRequest></soap:Body></soap:Envelope>`
	mb := mtomclient.NewBody([]byte(env), "root@bench", "file@bench", f)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.dev.URL+"/soap", mb)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mb.ContentType)
	req.Header.Set("Authorization", "Bearer "+e.srv.token)
	client := &http.Client{Transport: e.client.Transport} // no overall timeout: the upload is long
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("resultmajor:Success")) {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, tail(body, 600))
	}
	// The signature is the attachment the xop:Include names (or inline base64).
	if m := mtomSigRE.FindSubmatch(body); m != nil {
		i := bytes.Index(body, []byte("Content-Id: <"+string(m[1])+">"))
		if i < 0 {
			i = bytes.Index(body, []byte("Content-ID: <"+string(m[1])+">"))
		}
		if i < 0 {
			return nil, errors.New("the answer names an attachment it does not carry")
		}
		rest := body[i:]
		if j := bytes.Index(rest, []byte("\r\n\r\n")); j >= 0 {
			rest = rest[j+4:]
		}
		if j := bytes.Index(rest, []byte("\r\n--")); j >= 0 {
			rest = rest[:j]
		}
		return rest, nil
	}
	return body, nil
}
