//go:build cgo && !nopkcs11

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// fakeToken is an in-memory token behind the p11 seam. Keys survive context rebuilds; faults
// are injected per operation ("find", "sign", "generate") as queues of errors, and for
// configure as a queue of errors.
type fakeToken struct {
	mu           sync.Mutex
	keys         []*fakeKeyPair
	faults       map[string][]error
	configureErr []error
	findResult   func() []crypto11.Signer // overrides the result of the next finds when set
	hang         chan struct{}            // when non-nil, Sign blocks until it is closed
	corrupt      bool                     // flip a bit in every signature
	lastPub      crypto11.AttributeSet
	lastPriv     crypto11.AttributeSet
	contexts     []*fakeCtx

	configures atomic.Int32
	finds      atomic.Int32
	signs      atomic.Int32
}

type fakeKeyPair struct {
	id    []byte
	label string
	key   crypto.Signer
}

func newFakeToken() *fakeToken { return &fakeToken{faults: map[string][]error{}} }

func (t *fakeToken) configure(*crypto11.Config) (p11, error) {
	t.configures.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.configureErr) > 0 {
		err := t.configureErr[0]
		t.configureErr = t.configureErr[1:]
		return nil, err
	}
	c := &fakeCtx{tok: t}
	t.contexts = append(t.contexts, c)
	return c, nil
}

// inject queues errors for the next calls of op.
func (t *fakeToken) inject(op string, errs ...error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults[op] = append(t.faults[op], errs...)
}

func (t *fakeToken) injectConfigure(errs ...error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.configureErr = append(t.configureErr, errs...)
}

func (t *fakeToken) fault(op string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.faults[op]
	if len(q) == 0 {
		return nil
	}
	t.faults[op] = q[1:]
	return q[0]
}

func (t *fakeToken) add(label string, id []byte, key crypto.Signer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = append(t.keys, &fakeKeyPair{id: id, label: label, key: key})
}

func (t *fakeToken) openContexts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.contexts {
		if !c.closed.Load() {
			n++
		}
	}
	return n
}

type fakeCtx struct {
	tok    *fakeToken
	closed atomic.Bool
}

var errFakeClosed = errors.New("cannot used closed Context")

func (c *fakeCtx) FindKeyPairs(id, label []byte) ([]crypto11.Signer, error) {
	c.tok.finds.Add(1)
	if c.closed.Load() {
		return nil, errFakeClosed
	}
	if err := c.tok.fault("find"); err != nil {
		return nil, err
	}
	c.tok.mu.Lock()
	defer c.tok.mu.Unlock()
	if c.tok.findResult != nil {
		return c.tok.findResult(), nil
	}
	var out []crypto11.Signer
	for _, k := range c.tok.keys {
		if len(id) > 0 && !bytes.Equal(id, k.id) {
			continue
		}
		if len(label) > 0 && string(label) != k.label {
			continue
		}
		out = append(out, &fakeSigner{ctx: c, kp: k})
	}
	return out, nil // nil, nil when nothing matches, like crypto11
}

func (c *fakeCtx) generate(public, private crypto11.AttributeSet, gen func() (crypto.Signer, error)) (*fakeSigner, error) {
	if c.closed.Load() {
		return nil, errFakeClosed
	}
	if err := c.tok.fault("generate"); err != nil {
		return nil, err
	}
	k, err := gen()
	if err != nil {
		return nil, err
	}
	kp := &fakeKeyPair{key: k}
	if a := private[crypto11.CkaId]; a != nil {
		kp.id = a.Value
	}
	if a := private[crypto11.CkaLabel]; a != nil {
		kp.label = string(a.Value)
	}
	c.tok.mu.Lock()
	c.tok.keys = append(c.tok.keys, kp)
	c.tok.lastPub, c.tok.lastPriv = public, private
	c.tok.mu.Unlock()
	return &fakeSigner{ctx: c, kp: kp}, nil
}

func (c *fakeCtx) GenerateRSAKeyPairWithAttributes(public, private crypto11.AttributeSet, bits int) (crypto11.SignerDecrypter, error) {
	s, err := c.generate(public, private, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) })
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c *fakeCtx) GenerateECDSAKeyPairWithAttributes(public, private crypto11.AttributeSet, curve elliptic.Curve) (crypto11.Signer, error) {
	s, err := c.generate(public, private, func() (crypto.Signer, error) { return ecdsa.GenerateKey(curve, rand.Reader) })
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c *fakeCtx) Close() error {
	c.closed.Store(true)
	return nil
}

// fakeSigner is a key handle of one fake context.
type fakeSigner struct {
	ctx *fakeCtx
	kp  *fakeKeyPair
}

func (s *fakeSigner) Public() crypto.PublicKey { return s.kp.key.Public() }

func (s *fakeSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	t := s.ctx.tok
	t.signs.Add(1)
	t.mu.Lock()
	hang, corrupt := t.hang, t.corrupt
	t.mu.Unlock()
	if hang != nil {
		<-hang
	}
	if s.ctx.closed.Load() {
		return nil, errFakeClosed
	}
	if err := t.fault("sign"); err != nil {
		return nil, err
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok && pss.SaltLength == rsa.PSSSaltLengthAuto {
		return nil, errors.New("unsupported RSA option value") // like crypto11
	}
	sig, err := s.kp.key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, err
	}
	if corrupt {
		sig[len(sig)/2] ^= 0x80
	}
	return sig, nil
}

func (s *fakeSigner) Decrypt(io.Reader, []byte, crypto.DecrypterOpts) ([]byte, error) {
	return nil, pkcs11.Error(pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED)
}

func (s *fakeSigner) Delete() error {
	t := s.ctx.tok
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, k := range t.keys {
		if k == s.kp {
			t.keys = append(t.keys[:i], t.keys[i+1:]...)
			return nil
		}
	}
	return pkcs11.Error(pkcs11.CKR_OBJECT_HANDLE_INVALID)
}
