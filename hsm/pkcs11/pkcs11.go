//go:build cgo && !nopkcs11

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"

	"dssd/hsm"
)

// p11 is the part of *crypto11.Context the backend uses. It is the seam that lets the fault
// handling be tested with a fake in plain `go test`.
type p11 interface {
	FindKeyPairs(id, label []byte) ([]crypto11.Signer, error)
	GenerateRSAKeyPairWithAttributes(public, private crypto11.AttributeSet, bits int) (crypto11.SignerDecrypter, error)
	GenerateECDSAKeyPairWithAttributes(public, private crypto11.AttributeSet, curve elliptic.Curve) (crypto11.Signer, error)
	Close() error
}

// configureFunc opens a context on the token: crypto11.Configure in production, a fake in tests.
type configureFunc func(*crypto11.Config) (p11, error)

func configureCrypto11(c *crypto11.Config) (p11, error) {
	if _, err := os.Stat(c.Path); err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	ctx, err := crypto11.Configure(c)
	if err != nil {
		return nil, err
	}
	return ctx, nil
}

// options holds what tests change; Open uses defaultOptions.
type options struct {
	configure     configureFunc
	closeTimeout  time.Duration // longest wait for the old context to close during a rebuild
	keygenTimeout time.Duration // deadline of a key generation
	noProber      bool          // no background health probe while up (unit tests count calls)
}

func defaultOptions() options {
	return options{
		configure:     configureCrypto11,
		closeTimeout:  30 * time.Second,
		keygenTimeout: 2 * time.Minute,
	}
}

// KeyManager is a PKCS#11 token seen through crypto11. It implements hsm.KeyManager,
// hsm.KeyCreator and hsm.HealthChecker and is safe for concurrent use.
type KeyManager struct {
	cfg  Config
	opts options

	mu        sync.Mutex
	ctx       p11                  // nil while the backend is down or closed
	gen       uint64               // incremented whenever ctx changes
	down      error                // why the backend is down (when ctx is nil and not closed)
	downSince time.Time            // when it went down
	keys      map[string]cachedKey // found keys by canonical KeyRef (without token)
	found     map[string]uint64    // keys found, by cache name: the generation that found them
	probe     probeResult          // the last background health probe
	closed    bool
	rebuilds  int // completed rebuilds
	stop      chan struct{}
	life      context.Context // ends with Close: bounds the background probe
	endLife   context.CancelFunc
	wg        sync.WaitGroup
}

// probeResult is the outcome of a background health probe on the context of generation gen.
type probeResult struct {
	at  time.Time
	gen uint64
	err error
}

type cachedKey struct {
	key crypto11.Signer
	gen uint64
}

var (
	_ hsm.KeyManager    = (*KeyManager)(nil)
	_ hsm.KeyCreator    = (*KeyManager)(nil)
	_ hsm.HealthChecker = (*KeyManager)(nil)
	_ hsm.ReadyReporter = (*KeyManager)(nil)
)

// Open configures crypto11 for the token cfg.TokenLabel in cfg.Module and logs in with cfg.PIN.
// A refused PIN gives an error wrapping hsm.ErrLogin and is not retried. When cfg.HealthKey is
// set it must exist. Close the KeyManager when done.
func Open(ctx context.Context, cfg Config) (*KeyManager, error) {
	return open(ctx, cfg, defaultOptions())
}

func open(ctx context.Context, cfg Config, o options) (*KeyManager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	km := &KeyManager{
		cfg:   cfg,
		opts:  o,
		gen:   1,
		keys:  map[string]cachedKey{},
		found: map[string]uint64{},
		stop:  make(chan struct{}),
	}
	km.life, km.endLife = context.WithCancel(context.Background())
	p, err := km.configureWithin(ctx)
	if err != nil {
		km.endLife()
		return nil, err
	}
	km.ctx = p
	if !cfg.HealthKey.IsZero() {
		if _, err := km.Signer(ctx, cfg.HealthKey); err != nil {
			_ = km.Close()
			return nil, fmt.Errorf("pkcs11: health key %s: %w", cfg.HealthKey, err)
		}
	}
	if !o.noProber {
		km.wg.Add(1)
		go km.probeLoop()
	}
	return km, nil
}

// c11Config returns a fresh crypto11 configuration (crypto11.Configure modifies the one it gets).
func (km *KeyManager) c11Config() *crypto11.Config {
	return &crypto11.Config{
		Path:            km.cfg.Module,
		TokenLabel:      km.cfg.TokenLabel,
		Pin:             km.cfg.PIN,
		MaxSessions:     km.cfg.MaxSessions,
		PoolWaitTimeout: km.cfg.PoolWaitTimeout,
	}
}

// configureWithin opens a context, giving up when ctx ends (a context that is opened later is
// closed again).
func (km *KeyManager) configureWithin(ctx context.Context) (p11, error) {
	type result struct {
		p   p11
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := km.opts.configure(km.c11Config())
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, km.classifyConfigure(r.err)
		}
		return r.p, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				_ = r.p.Close()
			}
		}()
		return nil, fmt.Errorf("%w: opening token %q: %w", hsm.ErrUnavailable, km.cfg.TokenLabel, ctx.Err())
	}
}

// Signer returns a guarded signer for the one key matching ref. The key is looked up once and
// cached; the signer keeps working across context rebuilds (it looks the key up again).
func (km *KeyManager) Signer(ctx context.Context, ref hsm.KeyRef) (crypto.Signer, error) {
	if err := km.checkRef(ref); err != nil {
		return nil, fmt.Errorf("%w: %w", hsm.ErrKeyNotFound, err)
	}
	ref.Token = ""
	var pub crypto.PublicKey
	err := km.withKey(ctx, ref, func(key crypto11.Signer, _ uint64) error {
		pub = key.Public()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hsm.Guard(&keySigner{km: km, ref: ref, name: cacheName(ref), pub: pub}), nil
}

func (km *KeyManager) checkRef(ref hsm.KeyRef) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if ref.Token != "" && ref.Token != km.cfg.TokenLabel {
		return fmt.Errorf("key names token %q, the backend uses %q", ref.Token, km.cfg.TokenLabel)
	}
	return nil
}

// keySigner signs with the key named by ref through the KeyManager's cache. hsm.Guard wraps it.
type keySigner struct {
	km   *KeyManager
	ref  hsm.KeyRef
	name string // cacheName(ref), once
	pub  crypto.PublicKey
}

func (s *keySigner) Public() crypto.PublicKey { return s.pub }

func (s *keySigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	var sig []byte
	err := s.km.withKeyNamed(context.Background(), s.ref, s.name, func(key crypto11.Signer, gen uint64) error {
		if !samePublic(key.Public(), s.pub) {
			s.km.evict(s.name, gen)
			return fmt.Errorf("%w: %s now names another key", hsm.ErrKeyNotFound, s.ref)
		}
		return s.km.do(context.Background(), gen, true, s.km.cfg.SignTimeout, func() (err error) {
			sig, err = key.Sign(r, digest, opts)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// withKey finds the key for ref (from the cache or the token) and calls use with it. When
// the lookup or use fails with hsm.ErrSessionInvalid, the cached key is dropped and both are
// tried once more; a second session failure marks the backend down, because only a new
// crypto11 context clears its session pool.
func (km *KeyManager) withKey(ctx context.Context, ref hsm.KeyRef, use func(key crypto11.Signer, gen uint64) error) error {
	return km.withKeyNamed(ctx, ref, cacheName(ref), use)
}

// withKeyNamed is withKey for a caller that has the cache name of ref already.
func (km *KeyManager) withKeyNamed(ctx context.Context, ref hsm.KeyRef, name string, use func(key crypto11.Signer, gen uint64) error) error {
	var (
		err error
		gen uint64
	)
	for attempt := 0; attempt < 2; attempt++ {
		var key crypto11.Signer
		key, gen, err = km.key(ctx, ref, name)
		if err == nil {
			err = use(key, gen)
		}
		if !errors.Is(err, hsm.ErrSessionInvalid) {
			return err
		}
		km.evict(name, gen)
	}
	km.markDown(gen, err)
	return fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
}

// key returns the cached key for name or looks it up, with the generation of the context it
// belongs to.
func (km *KeyManager) key(ctx context.Context, ref hsm.KeyRef, name string) (crypto11.Signer, uint64, error) {
	km.mu.Lock()
	if err := km.usableLocked(); err != nil {
		km.mu.Unlock()
		return nil, 0, err
	}
	if c, ok := km.keys[name]; ok && c.gen == km.gen {
		km.mu.Unlock()
		return c.key, c.gen, nil
	}
	p, gen := km.ctx, km.gen
	km.mu.Unlock()

	var found []crypto11.Signer
	err := km.do(ctx, gen, true, km.cfg.SignTimeout, func() (err error) {
		found, err = p.FindKeyPairs(ref.ID, []byte(ref.Label))
		return err
	})
	if err != nil {
		return nil, gen, err
	}
	key, err := exactlyOne(found, ref)
	if err != nil {
		if errors.Is(err, hsm.ErrKeyNotFound) {
			found, stale := km.foundIn(name, gen)
			if found {
				// The same context found this key before: keys do not vanish from a working
				// token, so the device (or its storage) failed. Rebuild, and tell clients the
				// HSM is unavailable rather than that their key does not exist.
				e := fmt.Errorf("%w: key %s was found before and is gone: %w", hsm.ErrUnavailable, ref, err)
				km.markDown(gen, e)
				return nil, gen, e
			}
			if stale {
				// The context was taken out of service while we searched it.
				return nil, gen, fmt.Errorf("%w: the token was reopened during the key search: %w", hsm.ErrUnavailable, err)
			}
		}
		return nil, gen, err
	}
	km.mu.Lock()
	if km.gen == gen && !km.closed {
		km.keys[name] = cachedKey{key: key, gen: gen}
		km.found[name] = gen
	}
	km.mu.Unlock()
	return key, gen, nil
}

// foundIn reports whether the context of generation gen has found the key named name, and
// whether gen is no longer the current generation.
func (km *KeyManager) foundIn(name string, gen uint64) (found, stale bool) {
	km.mu.Lock()
	defer km.mu.Unlock()
	g, ok := km.found[name]
	return ok && g == gen, km.gen != gen
}

// exactlyOne checks a FindKeyPairs result: crypto11 answers (nil, nil) when nothing matches.
func exactlyOne(found []crypto11.Signer, ref hsm.KeyRef) (crypto11.Signer, error) {
	var keys []crypto11.Signer
	for _, k := range found {
		if k != nil {
			keys = append(keys, k)
		}
	}
	switch len(keys) {
	case 0:
		return nil, fmt.Errorf("%w: %s", hsm.ErrKeyNotFound, ref)
	case 1:
	default:
		return nil, fmt.Errorf("%w: %s matches %d keys", hsm.ErrKeyNotFound, ref, len(keys))
	}
	switch keys[0].Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return keys[0], nil
	default:
		return nil, fmt.Errorf("%w: key %s has type %T", hsm.ErrNotSupported, ref, keys[0].Public())
	}
}

func (km *KeyManager) evict(name string, gen uint64) {
	km.mu.Lock()
	defer km.mu.Unlock()
	if c, ok := km.keys[name]; ok && c.gen == gen {
		delete(km.keys, name)
	}
}

// cacheName is the cache key of a KeyRef whose token has been checked.
func cacheName(ref hsm.KeyRef) string {
	return hsm.KeyRef{Label: ref.Label, ID: ref.ID}.String()
}

// do runs one call into the token in a worker goroutine, waiting at most timeout (and no
// longer than ctx lives), and classifies its error. When the deadline (not ctx) ends the wait
// and markOnTimeout is set, the backend is marked down. The abandoned worker finishes in the
// background.
func (km *KeyManager) do(ctx context.Context, gen uint64, markOnTimeout bool, timeout time.Duration, f func() error) error {
	// A timer rather than a context.WithTimeout of ctx: the same two ends of the wait, without
	// a derived context per token call; ctx's end wins when both have come.
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("pkcs11: panic in the token call: %v", r)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return km.classify(gen, err)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", hsm.ErrUnavailable, ctx.Err())
	case <-timer.C:
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
		}
		err := fmt.Errorf("%w: pkcs11 call did not finish within %s", hsm.ErrUnavailable, timeout)
		if markOnTimeout {
			km.markDown(gen, err)
		}
		return err
	}
}

// usableLocked reports why the backend cannot serve now. km.mu is held.
func (km *KeyManager) usableLocked() error {
	switch {
	case km.closed:
		return fmt.Errorf("%w: pkcs11 key manager is closed", hsm.ErrUnavailable)
	case km.ctx == nil:
		return fmt.Errorf("%w: pkcs11 backend is down: %w", hsm.ErrUnavailable, km.down)
	}
	return nil
}

// markDown takes the context of generation gen out of service and starts one background
// rebuild. Calls for an older generation (a rebuild already happened or is under way) do
// nothing, which makes the rebuild single-flight.
func (km *KeyManager) markDown(gen uint64, cause error) {
	km.mu.Lock()
	if km.closed || km.ctx == nil || gen != km.gen {
		km.mu.Unlock()
		return
	}
	old := km.ctx
	km.ctx = nil
	km.gen++
	km.down = cause
	km.downSince = time.Now()
	clear(km.keys) // km.found is kept: its entries name their generation, and a search that
	// was running on the old context must still see what that context had found
	km.wg.Add(1)
	km.mu.Unlock()
	km.notify(StateDown, cause, 0)
	go km.rebuild(old)
}

// rebuild closes the old context and then, every ProbeInterval (a fixed interval, so the
// backend is back within one interval of the token's return however long it was away),
// configures a new one until it works, the KeyManager is closed, or the PIN is refused (never
// retried). A new context counts as working when it also finds the health key (when one is
// configured): a token whose storage is missing opens but holds no keys.
func (km *KeyManager) rebuild(old p11) {
	defer km.wg.Done()
	km.closeWithin(old)
	for {
		t := time.NewTimer(km.cfg.ProbeInterval)
		select {
		case <-km.stop:
			t.Stop()
			return
		case <-t.C:
		}
		p, err := km.opts.configure(km.c11Config())
		if err != nil {
			err = km.classifyConfigure(err)
		} else if err = km.canary(p); err != nil {
			km.closeWithin(p)
		}
		km.mu.Lock()
		if km.closed {
			km.mu.Unlock()
			if err == nil {
				_ = p.Close()
			}
			return
		}
		if err == nil {
			km.ctx = p
			km.gen++
			km.down = nil
			km.rebuilds++
			if !km.cfg.HealthKey.IsZero() {
				km.found[cacheName(km.cfg.HealthKey)] = km.gen
			}
			downFor := time.Since(km.downSince)
			km.mu.Unlock()
			km.notify(StateUp, nil, downFor)
			return
		}
		km.down = err
		km.mu.Unlock()
		if errors.Is(err, hsm.ErrLogin) {
			km.notify(StateLoginRefused, err, 0)
			return
		}
	}
}

// canary checks a freshly configured context: the health key, when configured, must be there.
func (km *KeyManager) canary(p p11) error {
	if km.cfg.HealthKey.IsZero() {
		return nil
	}
	ref := km.cfg.HealthKey
	var found []crypto11.Signer
	err := callWithin(km.cfg.SignTimeout, func() (err error) {
		found, err = p.FindKeyPairs(ref.ID, []byte(ref.Label))
		return err
	})
	if err == nil {
		_, err = exactlyOne(found, ref)
	}
	if err != nil {
		return fmt.Errorf("%w: token %q opened but its health key is not usable: %w", hsm.ErrUnavailable, km.cfg.TokenLabel, err)
	}
	return nil
}

// callWithin runs f in a goroutine and waits at most timeout for it.
func callWithin(timeout time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w: pkcs11 call did not finish within %s", hsm.ErrUnavailable, timeout)
	}
}

// notify logs a change of state and reports it to Config.OnStateChange. km.mu is not held.
func (km *KeyManager) notify(state string, cause error, downFor time.Duration) {
	log := km.cfg.Logger
	switch state {
	case StateDown:
		log.Error("hsm down: signing answers HSMUnavailable while the token is probed",
			"token", km.cfg.TokenLabel, "probe_interval", km.cfg.ProbeInterval.String(), "cause", cause.Error())
	case StateUp:
		log.Warn("hsm back up: signing resumed", "token", km.cfg.TokenLabel, "down_for", downFor.Round(time.Millisecond).String())
	case StateLoginRefused:
		log.Error("hsm login refused while reopening the token: probing stopped, fix the PIN and restart dssd",
			"token", km.cfg.TokenLabel, "cause", cause.Error())
	}
	if km.cfg.OnStateChange != nil {
		km.cfg.OnStateChange(state)
	}
}

// probeLoop runs a health check every ProbeInterval while the backend is up, so a failed
// token is found (and its rebuild started) without waiting for a client, and Ready can
// answer without a token call. While the backend is down, the rebuild loop probes instead.
func (km *KeyManager) probeLoop() {
	defer km.wg.Done()
	t := time.NewTicker(km.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-km.stop:
			return
		case <-t.C:
		}
		km.mu.Lock()
		up, gen := km.ctx != nil && !km.closed, km.gen
		km.mu.Unlock()
		if !up {
			continue
		}
		err := km.Health(km.life)
		if err != nil && isBusy(err) {
			// No free session within PoolWaitTimeout: the token is busy serving clients,
			// which says nothing against it. Keep the previous result.
			continue
		}
		km.mu.Lock()
		km.probe = probeResult{at: time.Now(), gen: gen, err: err}
		km.mu.Unlock()
	}
}

// Ready answers whether the backend can sign now without calling the token: hsm.ErrUnavailable
// while it is down or closed, the error of the last background health probe when that probe
// (on the current context, within the last few intervals) failed, else nil. It never waits
// for a session, so readiness checks do not queue behind signing requests.
func (km *KeyManager) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	km.mu.Lock()
	defer km.mu.Unlock()
	if err := km.usableLocked(); err != nil {
		return err
	}
	fresh := 3*km.cfg.ProbeInterval + km.cfg.SignTimeout
	if p := km.probe; p.err != nil && p.gen == km.gen && time.Since(p.at) < fresh {
		return fmt.Errorf("%w: last health probe failed: %w", hsm.ErrUnavailable, p.err)
	}
	return nil
}

// closeWithin closes a context, waiting at most closeTimeout: crypto11's Close blocks until
// every session is back in the pool, and a worker may be stuck in the token. If the old
// context is still open, crypto11 keeps the module loaded and the new context shares it.
func (km *KeyManager) closeWithin(p p11) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Close()
	}()
	t := time.NewTimer(km.opts.closeTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-km.stop:
	}
}

// CreateKey generates a key pair inside the token with CKA_LABEL and CKA_ID from ref (the id
// is required), signing only, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and not CKA_EXTRACTABLE.
// It refuses when a key with the same id or label exists, and proves the new key with a
// signature verified by its public key (deleting the key when that fails).
func (km *KeyManager) CreateKey(ctx context.Context, ref hsm.KeyRef, alg hsm.KeyAlgorithm) (crypto.Signer, error) {
	if err := km.checkRef(ref); err != nil {
		return nil, fmt.Errorf("pkcs11: create key: %w", err)
	}
	if len(ref.ID) == 0 {
		return nil, errors.New("pkcs11: create key: an id (CKA_ID) is required")
	}
	ref.Token = ""
	var (
		bits  int
		curve elliptic.Curve
	)
	switch alg {
	case hsm.RSA2048:
		bits = 2048
	case hsm.RSA3072:
		bits = 3072
	case hsm.RSA4096:
		bits = 4096
	case hsm.ECP256:
		curve = elliptic.P256()
	case hsm.ECP384:
		curve = elliptic.P384()
	default:
		return nil, fmt.Errorf("%w: key algorithm %q", hsm.ErrNotSupported, alg)
	}
	pubAttrs, privAttrs, err := keyAttributes(ref)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: create key: %w", err)
	}

	km.mu.Lock()
	if err := km.usableLocked(); err != nil {
		km.mu.Unlock()
		return nil, err
	}
	p, gen := km.ctx, km.gen
	km.mu.Unlock()

	probes := []hsm.KeyRef{{ID: ref.ID}}
	if ref.Label != "" {
		probes = append(probes, hsm.KeyRef{Label: ref.Label})
	}
	for _, probe := range probes {
		var found []crypto11.Signer
		err := km.do(ctx, gen, true, km.cfg.SignTimeout, func() (err error) {
			found, err = p.FindKeyPairs(probe.ID, []byte(probe.Label))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("pkcs11: create key: %w", err)
		}
		if len(found) > 0 {
			return nil, fmt.Errorf("pkcs11: create key: a key %s already exists", probe)
		}
	}

	var key crypto11.Signer
	err = km.do(ctx, gen, false, km.opts.keygenTimeout, func() error {
		if bits > 0 {
			k, err := p.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, bits)
			if err == nil {
				key = k
			}
			return err
		}
		k, err := p.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, curve)
		key = k
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: generate %s: %w", alg, err)
	}
	if key == nil {
		return nil, fmt.Errorf("pkcs11: generate %s: no key returned", alg)
	}

	name := cacheName(ref)
	km.mu.Lock()
	if km.gen == gen && !km.closed {
		km.keys[name] = cachedKey{key: key, gen: gen}
	}
	km.mu.Unlock()
	signer := hsm.Guard(&keySigner{km: km, ref: ref, name: name, pub: key.Public()})
	if err := selfTest(signer); err != nil {
		km.evict(name, gen)
		_ = km.do(ctx, gen, false, km.cfg.SignTimeout, key.Delete)
		return nil, fmt.Errorf("pkcs11: new %s key failed its self-test and was deleted: %w", alg, err)
	}
	return signer, nil
}

// keyAttributes returns the templates for a signing-only, non-extractable key pair.
func keyAttributes(ref hsm.KeyRef) (pub, priv crypto11.AttributeSet, err error) {
	pub, priv = crypto11.NewAttributeSet(), crypto11.NewAttributeSet()
	set := func(a crypto11.AttributeSet, t crypto11.AttributeType, v any) {
		if err == nil {
			err = a.Set(t, v)
		}
	}
	for _, a := range []crypto11.AttributeSet{pub, priv} {
		set(a, crypto11.CkaId, ref.ID)
		if ref.Label != "" {
			set(a, crypto11.CkaLabel, []byte(ref.Label))
		}
		set(a, crypto11.CkaToken, true)
	}
	set(pub, crypto11.CkaVerify, true)
	set(pub, crypto11.CkaEncrypt, false)
	set(pub, crypto11.CkaWrap, false)
	set(priv, crypto11.CkaPrivate, true)
	set(priv, crypto11.CkaSign, true)
	set(priv, crypto11.CkaSensitive, true)
	set(priv, crypto11.CkaExtractable, false)
	set(priv, crypto11.CkaDecrypt, false)
	set(priv, crypto11.CkaUnwrap, false)
	set(priv, crypto11.CkaDerive, false)
	return pub, priv, err
}

// selfTest signs a fresh nonce and lets hsm.Guard verify the signature.
func selfTest(s crypto.Signer) error {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	d := sha256.Sum256(nonce)
	_, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	return err
}

// Health reports whether the token works now: an error wrapping hsm.ErrUnavailable while the
// backend is down or rebuilding (also hsm.ErrLogin when the PIN was refused), else the result
// of a real operation: a signature with Config.HealthKey, verified with its public key, or, with
// no health key, an object search.
func (km *KeyManager) Health(ctx context.Context) error {
	km.mu.Lock()
	if err := km.usableLocked(); err != nil {
		km.mu.Unlock()
		return err
	}
	p, gen := km.ctx, km.gen
	km.mu.Unlock()

	if km.cfg.HealthKey.IsZero() {
		return km.do(ctx, gen, true, km.cfg.SignTimeout, func() error {
			_, err := p.FindKeyPairs(nil, []byte("dssd-health-probe"))
			return err
		})
	}
	s, err := km.Signer(ctx, km.cfg.HealthKey)
	if err != nil {
		return fmt.Errorf("pkcs11: health key: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- selfTest(s) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("pkcs11: health signature: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: health check: %w", hsm.ErrUnavailable, ctx.Err())
	}
}

// Close stops any rebuild and closes the crypto11 context. It blocks until every session is
// back in crypto11's pool. Signers handed out fail with hsm.ErrUnavailable afterwards.
func (km *KeyManager) Close() error {
	km.mu.Lock()
	if km.closed {
		km.mu.Unlock()
		return nil
	}
	km.closed = true
	close(km.stop)
	km.endLife()
	p := km.ctx
	km.ctx = nil
	km.gen++
	clear(km.keys)
	km.mu.Unlock()
	km.wg.Wait()
	if p != nil {
		return p.Close()
	}
	return nil
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
