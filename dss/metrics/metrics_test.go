package metrics

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"dssd/dss"
	"dssd/dss/verify"
	"dssd/hsm"
	"dssd/hsm/soft"
	"dssd/internal/testkit/hsmtest"
)

func newMeter(t *testing.T) (*prometheus.Registry, *Meter) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return reg, m
}

func counter(t *testing.T, c prometheus.Collector, labels ...string) float64 {
	t.Helper()
	switch v := c.(type) {
	case *prometheus.CounterVec:
		return testutil.ToFloat64(v.WithLabelValues(labels...))
	case *prometheus.GaugeVec:
		return testutil.ToFloat64(v.WithLabelValues(labels...))
	}
	return testutil.ToFloat64(c)
}

// The decorated KeyManager still passes the conformance suite every backend passes, and keeps
// exactly the optional abilities of what it wraps.
func TestKeyManagerConformance(t *testing.T) {
	_, m := newMeter(t)
	km, err := m.KeyManager(soft.New())
	if err != nil {
		t.Fatal(err)
	}
	kc, ok := km.(hsm.KeyCreator)
	if !ok {
		t.Fatal("the decorator hides hsm.KeyCreator")
	}
	if _, ok := km.(hsm.HealthChecker); !ok {
		t.Fatal("the decorator hides hsm.HealthChecker")
	}
	hsmtest.Run(t, km, kc)

	_, m2 := newMeter(t)
	plain, err := m2.KeyManager(onlyKM{soft.New()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.(hsm.HealthChecker); ok {
		t.Error("the decorator adds hsm.HealthChecker to a backend without it")
	}
	if _, ok := plain.(hsm.KeyCreator); ok {
		t.Error("the decorator adds hsm.KeyCreator to a backend without it")
	}
}

type onlyKM struct{ hsm.KeyManager }

// softKey returns an in-memory backend holding a new P-256 key under label, and the backend
// instrumented by m.
func softKey(t *testing.T, m *Meter, label string) (*soft.KeyManager, hsm.KeyManager, *ecdsa.PrivateKey, hsm.KeyRef) {
	t.Helper()
	backend := soft.New()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ref := hsm.KeyRef{Label: label}
	if err := backend.AddKey(ref, key); err != nil {
		t.Fatal(err)
	}
	km, err := m.KeyManager(backend)
	if err != nil {
		t.Fatal(err)
	}
	return backend, km, key, ref
}

func TestKeyManagerCounts(t *testing.T) {
	reg, m := newMeter(t)
	backend, km, _, ref := softKey(t, m, "k1")
	ctx := context.Background()
	s, err := km.Signer(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(interface{ VerifiesSignatures() }); !ok {
		t.Error("the instrumented signer lost the VerifiesSignatures marker of hsm.Guard")
	}
	d := sha256.Sum256([]byte("x"))
	for range 3 {
		if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Sign(rand.Reader, d[:5], crypto.SHA256); !errors.Is(err, hsm.ErrInvalidDigest) {
		t.Fatalf("short digest: %v", err)
	}
	if _, err := km.Signer(ctx, hsm.KeyRef{Label: "missing"}); err == nil {
		t.Fatal("missing key found")
	}
	hc := km.(hsm.HealthChecker)
	if err := hc.Health(ctx); err != nil {
		t.Fatal(err)
	}
	backend.SetFault(fmt.Errorf("pulled: %w", hsm.ErrUnavailable))
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Sign during a fault: %v", err)
	}
	if err := hc.Health(ctx); err == nil {
		t.Fatal("Health during a fault: nil")
	}
	backend.SetFault(nil)

	for _, c := range []struct {
		op, outcome string
		want        float64
	}{
		{OpSigner, "ok", 1}, {OpSigner, "key_not_found", 1},
		{OpSign, "ok", 3}, {OpSign, "invalid_digest", 1}, {OpSign, "unavailable", 1},
		{OpHealth, "ok", 1}, {OpHealth, "unavailable", 1},
	} {
		if got := counter(t, m.hsmOps.ops, c.op, c.outcome); got != c.want {
			t.Errorf("dssd_hsm_operations_total{operation=%q,outcome=%q} = %v, want %v", c.op, c.outcome, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.hsmOps.inFlight); got != 0 {
		t.Errorf("dssd_hsm_operations_in_flight = %v at rest, want 0", got)
	}
	// Every operation has its duration observed: the histogram counts match the counters.
	n, err := testutil.GatherAndCount(reg, "dssd_hsm_operation_duration_seconds")
	if err != nil || n != 3 {
		t.Errorf("dssd_hsm_operation_duration_seconds series = %d (%v), want 3 (signer, sign, health)", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dssd_hsm_rebuilds_total Completed rebuilds of the HSM backend's device context after a device failure.
# TYPE dssd_hsm_rebuilds_total counter
`), "dssd_hsm_rebuilds_total"); err != nil {
		t.Errorf("a backend without a rebuild count exports dssd_hsm_rebuilds_total: %v", err)
	}
}

type rebuilding struct {
	hsm.KeyManager
	n uint64
}

func (r *rebuilding) Rebuilds() uint64 { return r.n }

func TestKeyManagerRebuilds(t *testing.T) {
	reg, m := newMeter(t)
	b := &rebuilding{KeyManager: soft.New()}
	if _, err := m.KeyManager(b); err != nil {
		t.Fatal(err)
	}
	b.n = 2
	want := `
# HELP dssd_hsm_rebuilds_total Completed rebuilds of the HSM backend's device context after a device failure.
# TYPE dssd_hsm_rebuilds_total counter
dssd_hsm_rebuilds_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "dssd_hsm_rebuilds_total"); err != nil {
		t.Error(err)
	}
}

func TestActivationAndBuildInfo(t *testing.T) {
	reg, m := newMeter(t)
	for _, ev := range []dss.ActivationEvent{dss.SADIssued, dss.SADIssued, dss.SADConsumed, dss.SADRefused, dss.ActivationFailed, dss.ActivationFailed, dss.ActivationFailed, dss.CredentialLocked, "unknown"} {
		m.Activation(ev)
	}
	if err := BuildInfo(reg, "v1.2.3", "go1.26.8"); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP dssd_sad_issued_total Signature activation data issued by Authorize (SCAL2).
# TYPE dssd_sad_issued_total counter
dssd_sad_issued_total 2
# HELP dssd_sad_consumed_total Signature activation data accepted and consumed by a signing request.
# TYPE dssd_sad_consumed_total counter
dssd_sad_consumed_total 1
# HELP dssd_sad_refused_total Signing requests whose signature activation data was refused (invalid, expired, replayed, not bound to the request).
# TYPE dssd_sad_refused_total counter
dssd_sad_refused_total 1
# HELP dssd_activation_failures_total Authorize requests refused for a wrong PIN or OTP, a replayed OTP or a locked credential.
# TYPE dssd_activation_failures_total counter
dssd_activation_failures_total 3
# HELP dssd_credential_lockouts_total Credentials locked by consecutive activation failures (once per lockout).
# TYPE dssd_credential_lockouts_total counter
dssd_credential_lockouts_total 1
# HELP dssd_build_info The dssd build: version and Go version as labels, value 1.
# TYPE dssd_build_info gauge
dssd_build_info{goversion="go1.26.8",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"dssd_sad_issued_total", "dssd_sad_consumed_total", "dssd_sad_refused_total",
		"dssd_activation_failures_total", "dssd_credential_lockouts_total", "dssd_build_info"); err != nil {
		t.Error(err)
	}
}

type auditFunc func(context.Context, dss.AuditEvent) error

func (f auditFunc) Append(ctx context.Context, ev dss.AuditEvent) error { return f(ctx, ev) }

func TestAuditSink(t *testing.T) {
	reg, m := newMeter(t)
	fail := errors.New("disk full")
	var n int
	a := m.AuditSink(auditFunc(func(context.Context, dss.AuditEvent) error {
		n++
		if n == 3 {
			return fail
		}
		return nil
	}))
	for range 3 {
		_ = a.Append(context.Background(), dss.AuditEvent{})
	}
	if got := testutil.ToFloat64(m.audit.failures); got != 1 {
		t.Errorf("dssd_audit_commit_failures_total = %v, want 1", got)
	}
	if err := a.Append(context.Background(), dss.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	want := "dssd_audit_commit_duration_seconds_count 4\n"
	if got := gatherText(t, reg); !strings.Contains(got, want) {
		t.Errorf("scrape lacks %q", want)
	}
}

func gatherText(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			if h := mm.GetHistogram(); h != nil {
				fmt.Fprintf(&b, "%s_count %d\n", mf.GetName(), h.GetSampleCount())
			}
		}
	}
	return b.String()
}

type tsaFunc func() ([]byte, error)

func (f tsaFunc) Timestamp(context.Context, crypto.Hash, []byte) ([]byte, error) { return f() }

type revFunc func() error

func (f revFunc) Validation(context.Context, []*x509.Certificate, func(time.Time, time.Time) bool) ([][]byte, [][]byte, error) {
	return nil, nil, f()
}

func TestAuthorities(t *testing.T) {
	_, m := newMeter(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte("answer"))
	}))
	defer srv.Close()
	host := srv.URL // http://127.0.0.1:port

	do := func(rt http.RoundTripper, method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tsa := m.Transport(ServiceTSA, nil)
	do(tsa, http.MethodPost, "/tsa")
	do(tsa, http.MethodPost, "/down")
	rev := m.Transport("", nil)
	do(rev, http.MethodPost, "/ocsp")
	do(rev, http.MethodGet, "/crl")
	do(rev, http.MethodGet, "/crl")
	// A refused connection is an "error" of the authority.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	req, _ := http.NewRequest(http.MethodPost, deadURL, nil)
	if _, err := (&http.Client{Transport: tsa}).Do(req); err == nil {
		t.Fatal("request to a closed server succeeded")
	}
	for _, c := range []struct {
		svc, auth, outcome string
		want               float64
	}{
		{ServiceTSA, host, "ok", 1}, {ServiceTSA, host, "http_5xx", 1}, {ServiceTSA, deadURL, "error", 1},
		{ServiceOCSP, host, "ok", 1}, {ServiceCRL, host, "ok", 2},
	} {
		if got := counter(t, m.authorities.requests, c.svc, c.auth, c.outcome); got != c.want {
			t.Errorf("dssd_authority_requests_total{service=%q,authority=%q,outcome=%q} = %v, want %v", c.svc, c.auth, c.outcome, got, c.want)
		}
	}

	ts := m.Timestamper(tsaFunc(func() ([]byte, error) { return []byte{1}, nil }))
	_, _ = ts.Timestamp(context.Background(), crypto.SHA256, nil)
	tsBad := m.Timestamper(tsaFunc(func() ([]byte, error) { return nil, errors.New("no authority answered") }))
	_, _ = tsBad.Timestamp(context.Background(), crypto.SHA256, nil)
	_, _ = tsBad.Timestamp(context.Background(), crypto.SHA256, nil)
	if got, want := counter(t, m.authorities.timestamps, "ok"), 1.0; got != want {
		t.Errorf("dssd_timestamps_total{outcome=ok} = %v, want %v", got, want)
	}
	if got, want := counter(t, m.authorities.timestamps, "failed"), 2.0; got != want {
		t.Errorf("dssd_timestamps_total{outcome=failed} = %v, want %v", got, want)
	}
	for _, err := range []error{nil, fmt.Errorf("leaf: %w", verify.ErrRevoked), errors.New("responder down")} {
		_, _, _ = m.RevocationSource(revFunc(func() error { return err })).Validation(context.Background(), nil, nil)
	}
	for _, o := range []string{"ok", "revoked", "failed"} {
		if got := counter(t, m.authorities.revocation, o); got != 1 {
			t.Errorf("dssd_revocation_checks_total{outcome=%q} = %v, want 1", o, got)
		}
	}
	var nilMeter *Meter
	if nilMeter.Timestamper(ts) != ts || nilMeter.RevocationSource(nil) != nil || nilMeter.Transport(ServiceTSA, tsa) != tsa {
		t.Error("a nil Meter decorates")
	}
}

// Past maxAuthorities distinct hosts, the authority label is "other": certificates name the
// OCSP and CRL addresses, so the label set stays bounded.
func TestAuthorityLabelBounded(t *testing.T) {
	_, m := newMeter(t)
	for i := range maxAuthorities + 5 {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://h%d.invalid/crl", i), nil)
		m.authorities.authority(req)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://late.invalid/crl", nil)
	if got := m.authorities.authority(req); got != "other" {
		t.Errorf("authority label %q past the bound, want other", got)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://h1.invalid/crl", nil)
	if got := m.authorities.authority(req); got != "http://h1.invalid" {
		t.Errorf("known authority label %q", got)
	}
}

// nopSigner returns a fixed value: the benchmark measures the decorator alone.
type nopSigner struct{ crypto.Signer }

func (nopSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, nil }

// BenchmarkInstrumentedSign: the cost the KeyManager decorator adds to one Sign call.
func BenchmarkInstrumentedSign(b *testing.B) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := instrumentSigner(nopSigner{}, m.hsmOps)
	d := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.Sign(nil, d, crypto.SHA256)
	}
}

// oneCredential is a Directory of one credential.
type oneCredential struct{ c *dss.Credential }

func (d oneCredential) Credential(id string) *dss.Credential {
	if id == d.c.ID {
		return d.c
	}
	return nil
}

func (d oneCredential) CredentialsOf(user string) []*dss.Credential {
	if user == d.c.Owner {
		return []*dss.Credential{d.c}
	}
	return nil
}

// corrupting hands out signers whose signatures have one bit flipped: what a faulty device
// returns, caught only by the service's self-check.
type corrupting struct{ hsm.KeyManager }

func (c corrupting) Signer(ctx context.Context, ref hsm.KeyRef) (crypto.Signer, error) {
	s, err := c.KeyManager.Signer(ctx, ref)
	if err != nil {
		return nil, err
	}
	return flipSigner{s}, nil
}

type flipSigner struct{ crypto.Signer }

func (f flipSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := f.Signer.Sign(r, d, o)
	if err == nil {
		sig[len(sig)/2] ^= 0x40
	}
	return sig, err
}

// histogramCount is the number of observations of the series of the histogram name whose
// labels are exactly labels (name=value pairs).
func histogramCount(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestServiceSignMetrics: real signing requests through dss.Service, with the Prometheus Meter
// and the instrumented key manager, move dssd_signatures_total, dssd_sign_seconds,
// dssd_signature_selfcheck_failures_total and dssd_hsm_operations_total by what happened.
func TestServiceSignMetrics(t *testing.T) {
	reg, m := newMeter(t)
	backend, km, key, ref := softKey(t, m, "alice-ec")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "alice-ec"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := oneCredential{&dss.Credential{ID: "alice-ec", Owner: "alice", Key: "EC-P256", SCAL: 1, Ref: ref, Chain: []*x509.Certificate{cert}}}
	newService := func(keys hsm.KeyManager) *dss.Service {
		svc, err := dss.New(dss.Config{Keys: keys, Directory: dir, Meter: m})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := newService(km)
	caller := dss.Caller{User: "alice", Via: "token"}
	invoice := []byte(`<inv:Invoice xmlns:inv="urn:example:invoice"><inv:ID>42</inv:ID></inv:Invoice>`)
	xmldsig := func() *dss.SignRequest {
		return &dss.SignRequest{Documents: []dss.Document{{ID: "d1", MimeType: "application/xml", Data: invoice}},
			Options: dss.SignOptions{CredentialID: "alice-ec", SignatureType: dss.TypeXMLDSig, IncludeObjects: []dss.IncludeObject{{WhichData: "d1", CreateReference: true}}}}
	}
	xadesDetached := &dss.SignRequest{Documents: []dss.Document{{ID: "d1", RefURI: "urn:d1", HasRefURI: true, Data: invoice}},
		Options: dss.SignOptions{CredentialID: "alice-ec"}}
	ctx := context.Background()
	for _, req := range []*dss.SignRequest{xmldsig(), xmldsig(), xadesDetached} {
		if _, err := svc.Sign(ctx, caller, req); err != nil {
			t.Fatal(err)
		}
	}
	// The device fails: an error, counted with its class.
	backend.SetFault(fmt.Errorf("pulled: %w", hsm.ErrUnavailable))
	if _, err := svc.Sign(ctx, caller, xmldsig()); dss.KindOf(err) != dss.KindHSMUnavailable {
		t.Fatalf("Sign during a fault: %v", err)
	}
	backend.SetFault(nil)
	// The device returns a corrupted signature: withheld by the self-check, an alert.
	var de *dss.Error
	if _, err := newService(corrupting{km}).Sign(ctx, caller, xmldsig()); !errors.As(err, &de) || de.Kind != dss.KindInternal {
		t.Fatalf("Sign with a corrupting device: %v", err)
	}
	// A refused request never reaches the device and is not a signing attempt.
	if _, err := svc.Sign(ctx, caller, &dss.SignRequest{Documents: xmldsig().Documents, Options: dss.SignOptions{CredentialID: "nobody"}}); dss.KindOf(err) != dss.KindKeyLookup {
		t.Fatalf("unknown credential: %v", err)
	}

	want := `
# HELP dssd_signatures_total Signing attempts per document or hash, by key type, format and result.
# TYPE dssd_signatures_total counter
dssd_signatures_total{format="xades",key_type="EC-P256",result="ok"} 1
dssd_signatures_total{format="xmldsig",key_type="EC-P256",result="error"} 1
dssd_signatures_total{format="xmldsig",key_type="EC-P256",result="ok"} 2
dssd_signatures_total{format="xmldsig",key_type="EC-P256",result="selfcheck"} 1
# HELP dssd_signature_selfcheck_failures_total Produced signatures that failed their own verification and were withheld (alert on any).
# TYPE dssd_signature_selfcheck_failures_total counter
dssd_signature_selfcheck_failures_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "dssd_signatures_total", "dssd_signature_selfcheck_failures_total"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		class string
		want  uint64
	}{{"ok", 4}, {dss.KindHSMUnavailable.String(), 1}} {
		if got := histogramCount(t, reg, "dssd_sign_seconds", "key_type", "EC-P256", "class", c.class); got != c.want {
			t.Errorf("dssd_sign_seconds{key_type=EC-P256,class=%q} count = %d, want %d", c.class, got, c.want)
		}
	}
	// One device signature per produced signature (the corrupted one included), one failed.
	if got := counter(t, m.hsmOps.ops, OpSign, "ok"); got != 4 {
		t.Errorf("dssd_hsm_operations_total{operation=sign,outcome=ok} = %v, want 4", got)
	}
	if got := counter(t, m.hsmOps.ops, OpSign, "unavailable"); got != 1 {
		t.Errorf("dssd_hsm_operations_total{operation=sign,outcome=unavailable} = %v, want 1", got)
	}
}

// histogramSum is the sum of the observations of the unlabelled histogram name.
func histogramSum(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	return 0
}

// TestAuthorityDurations: an exchange with an authority is timed until its body is closed
// (dssd_authority_request_duration_seconds); a timestamp and a revocation check are timed
// whatever their outcome, and the time covers the whole call.
func TestAuthorityDurations(t *testing.T) {
	reg, m := newMeter(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("answer"))
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tsa", nil)
	resp, err := (&http.Client{Transport: m.Transport(ServiceTSA, nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := histogramCount(t, reg, "dssd_authority_request_duration_seconds", "service", ServiceTSA, "authority", srv.URL); n != 0 {
		t.Errorf("exchange timed before its body was closed: %d observations", n)
	}
	resp.Body.Close()
	resp.Body.Close() // a second Close is not a second exchange
	if n := histogramCount(t, reg, "dssd_authority_request_duration_seconds", "service", ServiceTSA, "authority", srv.URL); n != 1 {
		t.Errorf("dssd_authority_request_duration_seconds{service=tsa} count = %d, want 1", n)
	}

	const pause = 20 * time.Millisecond
	slow := func(err error) func() error {
		return func() error { time.Sleep(pause); return err }
	}
	for _, err := range []error{nil, errors.New("no authority answered")} {
		f := slow(err)
		_, _ = m.Timestamper(tsaFunc(func() ([]byte, error) { return nil, f() })).Timestamp(context.Background(), crypto.SHA256, nil)
		_, _, _ = m.RevocationSource(revFunc(f)).Validation(context.Background(), nil, nil)
	}
	for _, name := range []string{"dssd_timestamp_duration_seconds", "dssd_revocation_check_duration_seconds"} {
		if n := histogramCount(t, reg, name); n != 2 {
			t.Errorf("%s count = %d, want 2 (a success and a failure)", name, n)
		}
		if s := histogramSum(t, reg, name); s < 2*pause.Seconds() {
			t.Errorf("%s sum = %vs, want at least %vs (the calls took that long)", name, s, 2*pause.Seconds())
		}
	}
}
