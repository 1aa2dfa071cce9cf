package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/binding/authn"
	"dssd/binding/soap"
	"dssd/dss"
	"dssd/dss/metrics"
	"dssd/dss/store/sqlite"
	"dssd/hsm"
	"dssd/hsm/pkcs11"
	"dssd/hsm/softhsm"
	"dssd/internal/stackgrow"
)

// Profile is the CPU profile of the service stack driven in this process.
type Profile struct {
	File        string  `json:"file"`
	Key         string  `json:"key"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"per_second"`
	CPUSeconds  float64 `json:"cpu_seconds"`        // all samples of the process
	ServerCPU   float64 `json:"server_cpu_seconds"` // samples under net/http.(*conn).serve
	Stages      []Stage `json:"stages"`
	Note        string  `json:"note"`
}

// Stage is the cumulative CPU of the functions that make up one stage of a request.
type Stage struct {
	Stage            string  `json:"stage"`
	Functions        string  `json:"functions"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	Percent          float64 `json:"percent_of_server_cpu"`
	MicrosPerRequest float64 `json:"cpu_us_per_request"`
}

// serverRoots are the goroutines that serve a request: the connection (TLS, HTTP), the
// handler goroutine of http.TimeoutHandler and the PKCS#11 deadline worker of hsm/pkcs11.
const serverRoots = `^net/http\.\(\*conn\)\.serve$|^net/http\.\(\*timeoutHandler\)\.ServeHTTP\.func1$|^dssd/hsm/pkcs11\.\(\*KeyManager\)\.do\.func1$|^dssd/dss/store/sqlite\.\(\*Store\)\.commitLoop$`

// stages maps request stages to the functions whose cumulative CPU is the stage, read from
// the samples of the server goroutines only (scope "server") or from all samples ("all").
// Stages nest (the document gate is inside xades.Build): read each row on its own, do not add
// them up. Function names are regular expressions over pprof's names.
var stages = []struct{ name, scope, re string }{
	{"server total (conn + handler + PKCS#11 worker goroutines)", "server", serverRoots},
	{"TLS record layer, server side", "server", `^crypto/tls\.\(\*Conn\)\.(Read|Write)$`},
	{"SOAP handler (everything below)", "server", `^dssd/binding/soap\.\(\*handler\)\.serveSOAP$`},
	{"  xmlsafe gate on the request body, tokens kept (exchange.GateTokens)", "server", `^dssd/binding/internal/exchange\.GateTokens$`},
	{"  SOAP envelope parse from the gate's tokens (soap.parseEnvelope)", "server", `^dssd/binding/soap\.parseEnvelope$`},
	{"  DSS request decode (exchange.DecodeRequest)", "server", `^dssd/binding/internal/exchange\.DecodeRequest$`},
	{"  response encoding (soap writeResponse)", "server", `^dssd/binding/soap\.\(\*handler\)\.writeResponse$`},
	{"  dss.Service.Sign", "server", `^dssd/dss\.\(\*Service\)\.Sign$`},
	{"    xades.Build (gate, tree, c14n, HSM wait)", "server", `^dssd/dss/xades\.Build$`},
	{"      document gate, tree built from its tokens (xades.parseInput)", "server", `^dssd/dss/xades\.parseInput$`},
	{"      hsm.Guard verify after signing (guarded.Sign CPU)", "server", `^dssd/hsm\.\(\*guarded\)\.Sign$`},
	{"    xades.Tree.Bytes (the one serialisation)", "server", `^dssd/dss/xades\.\(\*Tree\)\.Bytes$`},
	{"    xades.Check (self-check: reparse, digests, verify)", "server", `^dssd/dss/xades\.Check$`},
	{"      reparse of the output through the gate (xades.parseSigned)", "server", `^dssd/dss/xades\.parseSigned$`},
	{"  audit record (dss record: slog line + SQLite append)", "server", `^dssd/dss\.\(\*Service\)\.record$`},
	{"    of which SQLite append", "server", `^dssd/dss/store/sqlite\.\(\*Store\)\.Append$`},
	{"  all xmlsafe tokenizing passes (gate + document)", "server", `^dssd/dss/xmlsafe\.check$`},
	{"  all canonicalisation (xades.canonicalizeSkip)", "server", `^dssd/dss/xades\.canonicalizeSkip$`},
	{"  serialising the signed document (xades.serialize)", "server", `^dssd/dss/xades\.serialize$`},
	{"  base64 (encode + decode)", "server", `^encoding/base64\.\(\*Encoding\)\.(Encode|Decode)$`},
	{"  request log (slog)", "server", `^log/slog\.\(\*Logger\)\.(log|logAttrs)$`},
	{"PKCS#11 sign (worker goroutine: crypto11 + SoftHSM)", "server", `^dssd/hsm/pkcs11\.\(\*KeyManager\)\.do\.func1$`},
	{"garbage collector (background mark workers)", "all", `^runtime\.gcBgMarkWorker$`},
	{"load generator, client side (same process)", "all", `^net/http\.\(\*persistConn\)\.(readLoop|writeLoop)$|^main\.runLoad\.func1$`},
}

// benchDirectory is a dss.Directory with one user's credentials.
type benchDirectory map[string]*dss.Credential

func (d benchDirectory) Credential(id string) *dss.Credential { return d[id] }
func (d benchDirectory) CredentialsOf(user string) []*dss.Credential {
	var out []*dss.Credential
	for _, c := range d {
		if c.Owner == user {
			out = append(out, c)
		}
	}
	return out
}

// profileService wires the SOAP handler, the dss.Service and a PKCS#11 KeyManager on a
// private SoftHSM2 token the way cmd/dssd/serve.go does (TimeoutHandler, Prometheus meter, JSON
// request log, the SQLite audit store, TLS 1.2+), serves HTTPS on loopback in this process, drives it at
// o.profileConc with requests for each key type and records one CPU profile per key type
// (o.profile for the first, o.profile with the key name appended for the others).
func profileService(ctx context.Context, dir string, o options, doc []byte, logf func(string, ...any)) ([]Profile, error) {
	pins := make([]byte, 16)
	if _, err := rand.Read(pins); err != nil {
		return nil, err
	}
	tok, err := softhsm.Init(filepath.Join(dir, "hsm"), "dssbench-profile", hex.EncodeToString(pins[:8]), hex.EncodeToString(pins[8:]))
	if err != nil {
		return nil, err
	}
	if err := os.Setenv("SOFTHSM2_CONF", tok.Conf); err != nil {
		return nil, err
	}
	defer os.Unsetenv("SOFTHSM2_CONF")
	km, err := pkcs11.Open(ctx, pkcs11.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: hex.EncodeToString(pins[8:]), MaxSessions: benchMaxSessions})
	if err != nil {
		return nil, err
	}
	defer km.Close()

	directory := benchDirectory{}
	for i, k := range benchKeys {
		ref := hsm.KeyRef{Label: k.cred, ID: []byte{byte(0x10 + i)}}
		s, err := km.CreateKey(ctx, ref, k.alg)
		if err != nil {
			return nil, err
		}
		cert, err := selfSigned(s, k.cred, nil)
		if err != nil {
			return nil, err
		}
		directory[k.cred] = &dss.Credential{ID: k.cred, Owner: "alice", Key: k.name, SCAL: 1, Ref: ref, Chain: []*x509.Certificate{cert}}
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	meter, err := metrics.New(reg)
	if err != nil {
		return nil, err
	}
	// The audit store serve.go opens by default (SQLite, synchronous), on its own file.
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "audit.db")})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc, err := dss.New(dss.Config{Keys: km, Directory: directory, Meter: meter, Logger: logger,
		Audit: st, Replay: st, Lockout: st})
	if err != nil {
		return nil, err
	}
	token := hex.EncodeToString(pins)
	auth := authn.New([]authn.User{{Name: "alice", TokenSHA256: [][32]byte{sha256.Sum256([]byte(token))}}})
	mux := http.NewServeMux()
	mux.Handle("/soap", soap.New(svc, auth, soap.Options{Logger: logger}))

	tlsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tlsCert, err := selfSigned(tlsKey, "127.0.0.1", []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler: http.TimeoutHandler(stackgrow.Handler(mux), 30*time.Second, ""),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{tlsCert.Raw}, PrivateKey: tlsKey}},
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 35 * time.Second,
		IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(tlsCert)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 2 * o.profileConc,
	}}
	defer client.CloseIdleConnections()
	url := "https://" + ln.Addr().String() + "/soap"

	var profiles []Profile
	for i, k := range benchKeys {
		file := o.profile
		if i > 0 {
			file = strings.TrimSuffix(o.profile, ".pprof") + "-" + strings.ToLower(k.name) + ".pprof"
		}
		p, err := profileKey(ctx, k, file, o, doc, client, url, token, logf)
		if err != nil {
			return nil, err
		}
		profiles = append(profiles, *p)
	}
	return profiles, nil
}

// profileKey drives the in-process service with SignRequests for k and records a CPU profile
// of the measured part in file.
func profileKey(ctx context.Context, k benchKey, file string, o options, doc []byte, client *http.Client, url, token string, logf func(string, ...any)) (*Profile, error) {
	body := signRequestSOAP(doc, k.cred, k.uri)
	post := func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(majorSuccess)) {
			return fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, raw)
		}
		return nil
	}
	if err := post(0); err != nil {
		return nil, fmt.Errorf("in-process service: %w", err)
	}
	// Warm up without profiling, then profile one measured load.
	runLoad(ctx, o.profileConc, 0, o.warmup, post)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	r := runLoad(ctx, o.profileConc, 0, o.profileTime, post)
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		return nil, err
	}
	if r.errs > 0 {
		return nil, fmt.Errorf("profiled load: %d errors, first: %w", r.errs, r.firstErr)
	}
	p := &Profile{File: file, Key: k.name, Concurrency: o.profileConc, Requests: r.ops,
		Seconds: round(r.seconds, 3), Rate: round(r.rate(), 1),
		Note: "service and load generator in one process (client-side TLS and HTTP are listed separately); stages nest and overlap: read each row on its own"}
	logf("  in-process %s c=%d: %.1f req/s, profile in %s", k.name, o.profileConc, p.Rate, file)
	if err := summarise(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// summarise reads `go tool pprof -top -cum` (all samples, and the server goroutines only)
// and fills p's stage table.
func summarise(ctx context.Context, p *Profile) error {
	type row struct {
		name string
		cum  float64
	}
	read := func(focus string) ([]row, float64, error) {
		args := []string{"tool", "pprof", "-top", "-cum", "-nodecount=100000"}
		if focus != "" {
			args = append(args, "-focus="+focus)
		}
		out, err := exec.CommandContext(ctx, "go", append(args, p.File)...).Output()
		if err != nil {
			return nil, 0, fmt.Errorf("go tool pprof: %w", err)
		}
		var total float64
		if m := regexp.MustCompile(`Total samples = ([0-9.]+[a-zµ]+)`).FindSubmatch(out); m != nil {
			total = pprofSeconds(string(m[1]))
		}
		var rows []row
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			// flat flat% sum% cum cum% name...
			if len(f) < 6 || !strings.HasSuffix(f[1], "%") || !strings.HasSuffix(f[4], "%") {
				continue
			}
			rows = append(rows, row{name: strings.Join(f[5:], " "), cum: pprofSeconds(f[3])})
		}
		return rows, total, nil
	}
	all, total, err := read("")
	if err != nil {
		return err
	}
	server, _, err := read(serverRoots)
	if err != nil {
		return err
	}
	p.CPUSeconds = round(total, 2)
	for i, s := range stages {
		rows := all
		if s.scope == "server" {
			rows = server
		}
		re := regexp.MustCompile(s.re)
		var secs float64
		var names []string
		for _, r := range rows {
			if re.MatchString(r.name) {
				secs += r.cum
				names = append(names, shortName(r.name))
			}
		}
		if i == 0 {
			p.ServerCPU = round(secs, 2)
		}
		p.Stages = append(p.Stages, Stage{Stage: s.name, Functions: strings.Join(names, ", "), CPUSeconds: round(secs, 3)})
	}
	for i := range p.Stages {
		if p.ServerCPU > 0 {
			p.Stages[i].Percent = round(100*p.Stages[i].CPUSeconds/p.ServerCPU, 1)
		}
		if p.Requests > 0 {
			p.Stages[i].MicrosPerRequest = round(1e6*p.Stages[i].CPUSeconds/float64(p.Requests), 0)
		}
	}
	return nil
}

func shortName(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// pprofSeconds parses pprof's durations: "10ms", "1.5s", "2.01mins", "0".
func pprofSeconds(s string) float64 {
	for _, u := range []struct {
		suffix string
		mul    float64
	}{{"mins", 60}, {"hrs", 3600}, {"ms", 1e-3}, {"us", 1e-6}, {"µs", 1e-6}, {"ns", 1e-9}, {"s", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil {
				return 0
			}
			return v * u.mul
		}
	}
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// selfSigned issues a self-signed certificate for key (a crypto.Signer: the HSM's or a soft key).
func selfSigned(key crypto.Signer, cn string, ips []net.IP) (*x509.Certificate, error) {
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		IPAddresses: ips,
	}
	if ips != nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
