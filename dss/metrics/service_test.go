package metrics

import (
	"context"
	"crypto"
	"crypto/rand"
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
	"dssd/hsm"
)

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
