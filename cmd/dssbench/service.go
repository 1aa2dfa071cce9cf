package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

const (
	nsSOAP12     = "http://www.w3.org/2003/05/soap-envelope"
	nsDSS2       = "http://docs.oasis-open.org/dss-x/ns/core"
	nsDSB        = "http://docs.oasis-open.org/dss-x/ns/base"
	xadesType    = "http://uri.etsi.org/01903/v1.3.2#"
	majorSuccess = "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
)

// devJSON is the part of dev.json (interface.md §2) the benchmark reads.
type devJSON struct {
	URL   string `json:"url"`
	CA    string `json:"ca"`
	Users []struct {
		Name        string `json:"name"`
		Token       string `json:"token"`
		Credentials []struct {
			ID   string `json:"id"`
			Cert string `json:"cert"`
		} `json:"credentials"`
	} `json:"users"`
}

// signRequestSOAP is the SOAP 1.2 envelope of a XAdES B-B enveloped SignRequest for doc,
// placed as the first child of the invoice's document element.
func signRequestSOAP(doc []byte, cred, alg string) []byte {
	return []byte(`<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body>` +
		`<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" xmlns:nsl="http://docs.oasis-open.org/dss-x/ns/nsList" RequestID="bench">` +
		`<dsb:Profile>urn:dssd:level:B-B</dsb:Profile>` +
		`<dss2:InputDocuments><dss2:Document ID="doc-1" RefURI=""><dss2:Base64Data MimeType="application/xml"><dsb:Value>` +
		base64.StdEncoding.EncodeToString(doc) + `</dsb:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>` +
		`<dss2:OptionalInputs><dss2:SignatureType>` + xadesType + `</dss2:SignatureType>` +
		`<dss2:KeySelector><dss2:KeyName>` + cred + `</dss2:KeyName></dss2:KeySelector>` +
		`<dss2:SignaturePlacement WhichData="doc-1"><dss2:XPathFirstChildOf>/inv:Invoice</dss2:XPathFirstChildOf>` +
		`<dss2:NsPrefixMapping><nsl:NamespaceURI>urn:example:invoice:2</nsl:NamespaceURI><nsl:NamespacePrefix>inv</nsl:NamespacePrefix></dss2:NsPrefixMapping></dss2:SignaturePlacement>` +
		`<dss2:SignatureAlgorithm>` + alg + `</dss2:SignatureAlgorithm></dss2:OptionalInputs></dss2:SignRequest>` +
		`</soap:Body></soap:Envelope>`)
}

// e2eRunner drives a running `dssd serve --dev`.
type e2eRunner struct {
	srv    *dssdProc
	client *http.Client
	dir    string
	doc    []byte
	o      options
	maxC   int
}

// startService builds dssd and starts `dssd serve --dev` with its own development directory
// on a free loopback port.
func startService(ctx context.Context, dir string, o options, doc []byte, logf func(string, ...any)) (*e2eRunner, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "dssd")
	if err := buildDSSD(ctx, o.repo, bin, logf); err != nil {
		return nil, err
	}
	return startServiceBin(ctx, dir, bin, o, doc, logf)
}

// buildDSSD builds ./cmd/dssd of the source tree src into bin.
func buildDSSD(ctx context.Context, src, bin string, logf func(string, ...any)) error {
	logf("  go build ./cmd/dssd (in %s)", src)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dssd")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/dssd: %w\n%s", err, out)
	}
	return nil
}

// startServiceBin starts `dssd serve --dev` of the binary bin with its own development
// directory under dir on a free loopback port.
func startServiceBin(ctx context.Context, dir, bin string, o options, doc []byte, logf func(string, ...any)) (*e2eRunner, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	srv, err := startDSSD(ctx, bin, dir, o.serverEnv, logf)
	if err != nil {
		return nil, err
	}
	e := &e2eRunner{srv: srv, dir: dir, doc: doc, o: o}
	for _, c := range o.conc {
		e.maxC = max(e.maxC, c)
	}
	e.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        2 * e.maxC,
		MaxIdleConnsPerHost: 2 * e.maxC,
		IdleConnTimeout:     30 * time.Second,
	}}
	return e, nil
}

func (e *e2eRunner) close() {
	e.client.CloseIdleConnections()
	e.srv.stop()
}

// post sends one SignRequest and checks that it succeeded.
func (e *e2eRunner) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.dev.URL+"/soap", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+e.srv.token)
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return raw, fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, raw)
	}
	if !bytes.Contains(raw, []byte(majorSuccess)) || !bytes.Contains(raw, []byte("DocumentWithSignature")) {
		return raw, fmt.Errorf("not a successful SignResponse with DocumentWithSignature: %.300s", raw)
	}
	return raw, nil
}

// sample sends one request for k and has xmlsec1 verify the signed document, so that the
// rates measured are rates of signatures that verify.
func (e *e2eRunner) sample(ctx context.Context, k benchKey) (Sample, error) {
	raw, err := e.post(ctx, signRequestSOAP(e.doc, k.cred, k.uri))
	if err != nil {
		return Sample{}, fmt.Errorf("%s: first request: %w", k.name, err)
	}
	return verifySample(ctx, e.dir, k, raw, e.srv)
}

// measure runs the closed-loop load for k at concurrency c. At the highest concurrency it
// samples VmRSS every 100 ms and reads VmHWM afterwards.
func (e *e2eRunner) measure(ctx context.Context, k benchKey, c int) (E2EPoint, error) {
	body := signRequestSOAP(e.doc, k.cred, k.uri)
	var mem *rssSampler
	if c == e.maxC {
		mem = sampleRSS(e.srv.pid, 100*time.Millisecond)
	}
	var cpu0, cpu1 float64
	r := runLoadHook(ctx, c, e.o.warmup, e.o.duration, func(int) error { _, err := e.post(ctx, body); return err },
		func(begin bool) {
			if v, err := procCPUSeconds(e.srv.pid); err == nil {
				if begin {
					cpu0 = v
				} else {
					cpu1 = v
				}
			}
		})
	p := E2EPoint{
		Key: k.name, Concurrency: c, Requests: r.ops, Errors: r.errs, Seconds: round(r.seconds, 3),
		Rate:  round(r.rate(), 1),
		P50ms: round(float64(r.percentile(50).Microseconds())/1000, 2),
		P99ms: round(float64(r.percentile(99).Microseconds())/1000, 2),
	}
	if r.firstErr != nil {
		p.FirstError = truncate(r.firstErr.Error(), 300)
	}
	if cpu1 > cpu0 && r.seconds > 0 {
		p.ServiceCPU = round(100*(cpu1-cpu0)/r.seconds, 0)
		if r.ops > 0 {
			p.ServiceCPUPerReqMs = round(1000*(cpu1-cpu0)/float64(r.ops), 3)
		}
	}
	if mem != nil {
		peak, n := mem.stop()
		p.RSSPeakSampledMiB = round(float64(peak)/1024, 1)
		p.RSSSamples = n
		hwm, err := procStatusKiB(e.srv.pid, "VmHWM")
		if err != nil {
			return p, err
		}
		p.VmHWMMiB = round(float64(hwm)/1024, 1)
	}
	return p, ctx.Err()
}

// dssdProc is a running `dssd serve --dev`.
type dssdProc struct {
	pid   int
	dev   devJSON
	roots *x509.CertPool
	token string // alice's bearer token
	certs map[string]string
	stop  func()
}

func startDSSD(ctx context.Context, bin, dir string, env []string, logf func(string, ...any)) (*dssdProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	devDir := filepath.Join(dir, "dev")
	logPath := filepath.Join(dir, "dssd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(cctx, bin, "serve", "--dev", "--dev-dir", devDir, "--addr", addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	// The server finds its token through dssd.yaml; an inherited SOFTHSM2_CONF must not point
	// it elsewhere before that.
	cmd.Env = append(withoutEnv(os.Environ(), "SOFTHSM2_CONF"), env...)
	if err := cmd.Start(); err != nil {
		cancel()
		logFile.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	p := &dssdProc{pid: cmd.Process.Pid, certs: map[string]string{}}
	p.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			logFile.Close()
		})
	}
	fail := func(err error) (*dssdProc, error) {
		p.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\n--- dssd log (last 2 KB) ---\n%s", err, tail(log, 2048))
	}
	logf("  dssd serve --dev on %s (first start creates the SoftHSM token, keys and PKI)", addr)
	start := time.Now()
	deadline := start.Add(150 * time.Second)
	var client *http.Client
	for {
		select {
		case err := <-done:
			done <- err
			return fail(fmt.Errorf("dssd exited: %v", err))
		case <-ctx.Done():
			return fail(ctx.Err())
		default:
		}
		if client == nil {
			if b, err := os.ReadFile(filepath.Join(devDir, "dev.json")); err == nil && json.Unmarshal(b, &p.dev) == nil && p.dev.CA != "" {
				ca, err := os.ReadFile(p.dev.CA)
				p.roots = x509.NewCertPool()
				if err != nil || !p.roots.AppendCertsFromPEM(ca) {
					return fail(fmt.Errorf("dev.json ca %q unusable: %v", p.dev.CA, err))
				}
				client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}}}
			}
		}
		if client != nil {
			if resp, err := client.Get(p.dev.URL + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return fail(errors.New("dssd not ready after 150 s"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("  dssd ready after %s", time.Since(start).Round(100*time.Millisecond))
	for _, u := range p.dev.Users {
		if u.Name == "alice" {
			p.token = u.Token
		}
		for _, c := range u.Credentials {
			p.certs[c.ID] = c.Cert
		}
	}
	if p.token == "" {
		return fail(errors.New("dev.json has no user alice"))
	}
	for _, k := range benchKeys {
		if p.certs[k.cred] == "" {
			return fail(fmt.Errorf("dev.json has no credential %s", k.cred))
		}
	}
	return p, nil
}

// verifySample extracts the signed document of a SignResponse and has xmlsec1 verify it with
// the credential's certificate.
func verifySample(ctx context.Context, dir string, k benchKey, raw []byte, srv *dssdProc) (Sample, error) {
	s := Sample{Producer: "dssd " + k.name, Verifier: "xmlsec1"}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(raw); err != nil {
		return s, fmt.Errorf("%s: response is not XML: %w", k.name, err)
	}
	var value string
	for _, e := range d.FindElements("//DocumentWithSignature//Value") {
		value = e.Text()
	}
	signed, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(value), ""))
	if err != nil || len(signed) == 0 {
		return s, fmt.Errorf("%s: no base64 DocumentWithSignature value in the response", k.name)
	}
	file := filepath.Join(dir, "sample-"+k.cred+".xml")
	if err := os.WriteFile(file, signed, 0o600); err != nil {
		return s, err
	}
	chain, err := os.ReadFile(srv.certs[k.cred])
	if err != nil {
		return s, err
	}
	blk, _ := pem.Decode(chain)
	if blk == nil {
		return s, fmt.Errorf("%s: no certificate in %s", k.cred, srv.certs[k.cred])
	}
	certFile := filepath.Join(dir, k.cred+"-cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(blk), 0o600); err != nil {
		return s, err
	}
	s.Verified, s.Output, err = xmlsecVerify(ctx, file, certFile, true)
	return s, err
}

// xmlsecVerify runs xmlsec1 --verify, judged by its exit code (toolchain.md §6).
func xmlsecVerify(ctx context.Context, file, cert string, xades bool) (bool, string, error) {
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		return false, "", errors.New("xmlsec1 is missing: apt-get install xmlsec1 (make bench runs .ci/deps.sh test)")
	}
	args := []string{"--verify", "--pubkey-cert-pem", cert}
	if xades {
		args = append(args, "--id-attr:Id", "SignedProperties")
	}
	out, err := exec.CommandContext(ctx, "xmlsec1", append(args, file)...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return false, "", err
	}
	return err == nil, lastLines(string(out), 3), nil
}

// rssSampler reads VmRSS of a process periodically.
type rssSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak int64
	n    int
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v, err := procStatusKiB(pid, "VmRSS"); err == nil {
				s.peak = max(s.peak, v)
				s.n++
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() (peakKiB int64, samples int) {
	close(s.done)
	s.wg.Wait()
	return s.peak, s.n
}

// procCPUSeconds returns the user + system CPU time of a process (/proc/<pid>/stat).
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64) // field 14, utime
	st, err2 := strconv.ParseFloat(f[12], 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return (ut + st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on Linux for every architecture Go supports.
const clockTicks = 100

// procStatusKiB reads a "kB" field of /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if ok && name == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
