package metrics

import (
	"context"
	"crypto"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dssd/hsm"
)

// HSM operations measured by the KeyManager decorator (the "operation" label).
const (
	OpSigner    = "signer"     // KeyManager.Signer: key lookup
	OpSign      = "sign"       // crypto.Signer.Sign: one signature in the device
	OpCreateKey = "create_key" // KeyCreator.CreateKey: key generation
	OpHealth    = "health"     // HealthChecker.Health: the readiness operation
)

type hsmCollectors struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHSMCollectors(cs *Collectors) *hsmCollectors {
	return &hsmCollectors{
		ops: cs.CounterVec("dssd_hsm_operations_total",
			"HSM operations by operation (signer, sign, create_key, health) and outcome (ok or the hsm error class).",
			"operation", "outcome"),
		duration: cs.HistogramVec("dssd_hsm_operation_duration_seconds",
			"Duration of HSM operations, pool wait included, by operation.",
			prometheus.ExponentialBuckets(0.0005, 2, 14), "operation"),
		inFlight: cs.Gauge("dssd_hsm_operations_in_flight",
			"HSM operations under way; each holds one PKCS#11 session (crypto11 does not expose its pool), so this is the number of sessions in use by operations."),
	}
}

// start marks an operation as under way; the returned function records its end.
func (c *hsmCollectors) start(op string) func(error) {
	c.inFlight.Inc()
	t := time.Now()
	return func(err error) {
		c.inFlight.Dec()
		c.duration.WithLabelValues(op).Observe(time.Since(t).Seconds())
		c.ops.WithLabelValues(op, HSMOutcome(err)).Inc()
	}
}

// HSMOutcome names the class of an HSM error for the "outcome" label: "ok", one class per hsm
// sentinel, "timeout", "canceled" or "error".
func HSMOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	for _, c := range hsmClasses {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return "error"
}

// hsmClasses are the outcome classes of HSMOutcome, the first that matches wins.
var hsmClasses = []struct {
	err   error
	class string
}{
	{hsm.ErrUnavailable, "unavailable"},
	{hsm.ErrSessionInvalid, "session_invalid"},
	{hsm.ErrKeyNotFound, "key_not_found"},
	{hsm.ErrLogin, "login"},
	{hsm.ErrInvalidDigest, "invalid_digest"},
	{hsm.ErrBadSignature, "bad_signature"},
	{hsm.ErrNotSupported, "not_supported"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "canceled"},
}

// RebuildCounter is implemented by backends that count how often they rebuilt their device
// context after a failure (hsm/pkcs11). The KeyManager decorator exports it as
// dssd_hsm_rebuilds_total.
type RebuildCounter interface {
	Rebuilds() uint64
}

// KeyManager returns km instrumented: every Signer, Sign, CreateKey and Health call is counted
// by outcome and timed, and the optional abilities of km (hsm.KeyCreator, hsm.HealthChecker)
// are kept, no more. When km counts its rebuilds (RebuildCounter) they are exported too. Call
// it once per Meter.
func (m *Meter) KeyManager(km hsm.KeyManager) (hsm.KeyManager, error) {
	if rc, ok := km.(RebuildCounter); ok {
		err := m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dssd_hsm_rebuilds_total",
			Help: "Completed rebuilds of the HSM backend's device context after a device failure.",
		}, func() float64 { return float64(rc.Rebuilds()) }))
		if err != nil {
			return nil, err
		}
	}
	base := &instrumentedKM{inner: km, c: m.hsmOps}
	hc, isHC := km.(hsm.HealthChecker)
	kc, isKC := km.(hsm.KeyCreator)
	switch {
	case isHC && isKC:
		return struct {
			*instrumentedKM
			healthKM
			creatorKM
		}{base, healthKM{hc, m.hsmOps}, creatorKM{kc, m.hsmOps}}, nil
	case isHC:
		return struct {
			*instrumentedKM
			healthKM
		}{base, healthKM{hc, m.hsmOps}}, nil
	case isKC:
		return struct {
			*instrumentedKM
			creatorKM
		}{base, creatorKM{kc, m.hsmOps}}, nil
	}
	return base, nil
}

type instrumentedKM struct {
	inner hsm.KeyManager
	c     *hsmCollectors
}

func (k *instrumentedKM) Signer(ctx context.Context, ref hsm.KeyRef) (s crypto.Signer, err error) {
	done := k.c.start(OpSigner)
	defer func() { done(err) }()
	s, err = k.inner.Signer(ctx, ref)
	if err != nil {
		return nil, err
	}
	return instrumentSigner(s, k.c), nil
}

func (k *instrumentedKM) Close() error { return k.inner.Close() }

// Unwrap returns the decorated KeyManager.
func (k *instrumentedKM) Unwrap() hsm.KeyManager { return k.inner }

type healthKM struct {
	inner hsm.HealthChecker
	c     *hsmCollectors
}

func (h healthKM) Health(ctx context.Context) (err error) {
	done := h.c.start(OpHealth)
	defer func() { done(err) }()
	return h.inner.Health(ctx)
}

type creatorKM struct {
	inner hsm.KeyCreator
	c     *hsmCollectors
}

func (k creatorKM) CreateKey(ctx context.Context, ref hsm.KeyRef, alg hsm.KeyAlgorithm) (s crypto.Signer, err error) {
	done := k.c.start(OpCreateKey)
	defer func() { done(err) }()
	s, err = k.inner.CreateKey(ctx, ref, alg)
	if err != nil {
		return nil, err
	}
	return instrumentSigner(s, k.c), nil
}

// instrumentSigner times every Sign call of s. A signer that verifies its own signatures
// (hsm.Guard's marker, dss/xades.VerifyingSigner) keeps the marker.
func instrumentSigner(s crypto.Signer, c *hsmCollectors) crypto.Signer {
	is := &instrumentedSigner{inner: s, c: c}
	if _, ok := s.(interface{ VerifiesSignatures() }); ok {
		return verifyingSigner{is}
	}
	return is
}

type instrumentedSigner struct {
	inner crypto.Signer
	c     *hsmCollectors
}

func (s *instrumentedSigner) Public() crypto.PublicKey { return s.inner.Public() }

func (s *instrumentedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) (sig []byte, err error) {
	done := s.c.start(OpSign)
	defer func() { done(err) }()
	return s.inner.Sign(r, digest, opts)
}

// Unwrap returns the decorated signer.
func (s *instrumentedSigner) Unwrap() crypto.Signer { return s.inner }

type verifyingSigner struct{ *instrumentedSigner }

// VerifiesSignatures forwards the marker of the decorated signer.
func (verifyingSigner) VerifiesSignatures() {}
