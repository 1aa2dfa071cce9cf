package sad

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testKey = bytes.Repeat([]byte("k"), 32)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAuth(t *testing.T, c *clock, mod func(*Config)) *Authority {
	t.Helper()
	cfg := Config{Key: testKey, TTL: 2 * time.Minute, Clock: c.now}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func h(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// memReplay is an in-memory Replay.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	err  error
}

func (m *memReplay) Consume(_ context.Context, id string, notAfter time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if _, ok := m.seen[id]; ok {
		return false, nil
	}
	m.seen[id] = notAfter
	return true, nil
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"short key":   {Key: []byte("short")},
		"ttl too big": {Key: testKey, TTL: 6 * time.Minute},
		"ttl tiny":    {Key: testKey, TTL: time.Millisecond},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestIssueCheckConsume(t *testing.T) {
	c := &clock{time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	a := newAuth(t, c, nil)
	g := Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("b"), h("a"), h("b")}}
	tok, exp, err := a.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.t.Add(2 * time.Minute); !exp.Equal(want) {
		t.Errorf("expiry %v, want %v", exp, want)
	}
	// Another order of the same multiset is the same grant.
	want := g
	want.Hashes = [][]byte{h("b"), h("b"), h("a")}
	cl, err := a.Check(tok, want)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if cl.User != "alice" || cl.Credential != "alice-qes" || len(cl.Hashes) != 3 || cl.Hash != crypto.SHA256 {
		t.Errorf("claims %+v", cl)
	}
	r := &memReplay{}
	if err := a.Consume(context.Background(), r, cl); err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	err = a.Consume(context.Background(), r, cl)
	if !errors.Is(err, ErrReplayed) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("second Consume = %v, want ErrReplayed", err)
	}
	r.err = errors.New("database down")
	cl2, _ := a.Check(tok, want)
	cl2.ID = "other-id-000000000"
	if err := a.Consume(context.Background(), r, cl2); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("Consume with a failing store = %v, want a store error that is not ErrInvalid", err)
	}
}

// forge signs an arbitrary claim set with the test key.
func forge(t *testing.T, a *Authority, hdr string, w any) string {
	t.Helper()
	p, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	s := hdr + "." + b64url(p)
	return s + "." + b64url(a.mac(s))
}

func TestCheckRefusals(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &clock{t0}
	a := newAuth(t, c, nil)
	g := Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("1"), h("2")}}
	tok, _, err := a.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	good := wire{Iss: DefaultIssuer, Aud: DefaultAudience, Sub: "alice", Cred: "alice-qes", HAlg: HashOID(crypto.SHA256),
		N: 2, Iat: t0.Unix(), Exp: t0.Add(time.Minute).Unix(), Jti: "0123456789abcdef0123"}
	for _, x := range sortedHashes(g.Hashes) {
		good.Hashes = append(good.Hashes, base64.StdEncoding.EncodeToString(x))
	}
	if _, err := a.Check(forge(t, a, header, good), g); err != nil {
		t.Fatalf("the forged reference token is refused: %v", err)
	}
	mod := func(f func(*wire)) string {
		w := good
		w.Hashes = append([]string(nil), good.Hashes...)
		f(&w)
		return forge(t, a, header, w)
	}
	otherKey := newAuth(t, c, func(cfg *Config) { cfg.Key = bytes.Repeat([]byte("x"), 32) })
	otherTok, _, _ := otherKey.Issue(g)
	parts := strings.Split(tok, ".")

	tests := []struct {
		name  string
		token string
		want  Grant
		at    time.Time
		msg   string
	}{
		{"empty", "", g, t0, "empty"},
		{"garbage", "garbage", g, t0, "not a compact JWS"},
		{"too long", strings.Repeat("a", MaxToken+1), g, t0, "longer"},
		{"other key", otherTok, g, t0, "bad signature"},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".", g, t0, "protected header"},
		{"tampered payload", parts[0] + "." + strings.Split(mod(func(w *wire) { w.Sub = "bob" }), ".")[1] + "." + parts[2], g, t0, "bad signature"},
		{"wrong issuer", mod(func(w *wire) { w.Iss = "evil" }), g, t0, "issuer"},
		{"wrong audience", mod(func(w *wire) { w.Aud = "evil" }), g, t0, "audience"},
		{"no id", mod(func(w *wire) { w.Jti = "" }), g, t0, "no id"},
		{"expired", tok, g, t0.Add(2*time.Minute + DefaultSkew + time.Second), "expired"},
		{"iat in the future", mod(func(w *wire) { w.Iat = t0.Add(time.Minute).Unix(); w.Exp = t0.Add(2 * time.Minute).Unix() }), g, t0, "future"},
		{"lifetime above policy", mod(func(w *wire) { w.Exp = t0.Add(MaxTTL + time.Second).Unix() }), g, t0, "lifetime"},
		{"exp before iat", mod(func(w *wire) { w.Exp = t0.Add(-time.Second).Unix() }), g, t0, "lifetime"},
		{"unknown hash", mod(func(w *wire) { w.HAlg = "1.3.14.3.2.26" }), g, t0, "hash algorithm"},
		{"count mismatch", mod(func(w *wire) { w.N = 3 }), g, t0, "count"},
		{"unsorted", mod(func(w *wire) { w.Hashes[0], w.Hashes[1] = w.Hashes[1], w.Hashes[0] }), g, t0, "order"},
		{"unknown claim", forge(t, a, header, map[string]any{"iss": DefaultIssuer, "x": 1}), g, t0, "claim set"},
		{"other user", tok, Grant{User: "bob", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: g.Hashes}, t0, "another user"},
		{"other credential", tok, Grant{User: "alice", Credential: "alice-rsa", Hash: crypto.SHA256, Hashes: g.Hashes}, t0, "another credential"},
		{"other hash algorithm", tok, Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA384, Hashes: g.Hashes}, t0, "SHA-384"},
		{"other hashes (H1 vs H2)", tok, Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("1"), h("3")}}, t0, "not the authorised"},
		{"subset", tok, Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("1")}}, t0, "authorises 2"},
		{"superset (count exceeded)", tok, Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("1"), h("2"), h("3")}}, t0, "authorises 2"},
		{"duplicate instead of other", tok, Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("1"), h("1")}}, t0, "not the authorised"},
		{"empty user", tok, Grant{Credential: "alice-qes", Hash: crypto.SHA256, Hashes: g.Hashes}, t0, "another user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = tc.at
			defer func() { c.t = t0 }()
			_, err := a.Check(tc.token, tc.want)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if tc.token != "" && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
				t.Errorf("the error contains the token")
			}
		})
	}
	// Within the skew the token still works.
	c.t = t0.Add(2*time.Minute + DefaultSkew - time.Second)
	if _, err := a.Check(tok, g); err != nil {
		t.Errorf("token refused within the skew: %v", err)
	}
}

func TestIssueRefusesBadGrant(t *testing.T) {
	a := newAuth(t, &clock{time.Now()}, nil)
	for name, g := range map[string]Grant{
		"no user":     {Credential: "c", Hash: crypto.SHA256, Hashes: [][]byte{h("1")}},
		"sha1":        {User: "u", Credential: "c", Hash: crypto.SHA1, Hashes: [][]byte{make([]byte, 20)}},
		"no hashes":   {User: "u", Credential: "c", Hash: crypto.SHA256},
		"short hash":  {User: "u", Credential: "c", Hash: crypto.SHA256, Hashes: [][]byte{make([]byte, 31)}},
		"wrong alg":   {User: "u", Credential: "c", Hash: crypto.SHA512, Hashes: [][]byte{h("1")}},
		"unknown alg": {User: "u", Credential: "c", Hashes: [][]byte{h("1")}},
	} {
		if _, _, err := a.Issue(g); err == nil {
			t.Errorf("%s: Issue succeeded", name)
		}
	}
}

// TestConcurrentConsume: 100 concurrent uses of one SAD, exactly one success.
func TestConcurrentConsume(t *testing.T) {
	a := newAuth(t, &clock{time.Now()}, nil)
	g := Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{h("x")}}
	tok, _, err := a.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	r := &memReplay{}
	var ok, replayed atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := a.Check(tok, g)
			if err != nil {
				t.Error(err)
				return
			}
			switch err := a.Consume(context.Background(), r, cl); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplayed):
				replayed.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replayed.Load() != 99 {
		t.Fatalf("%d successes, %d replays; want 1 and 99", ok.Load(), replayed.Load())
	}
}

func ExampleAuthority_Issue() {
	a, _ := New(Config{Key: bytes.Repeat([]byte("k"), 32), TTL: time.Minute})
	d := sha256.Sum256([]byte("document"))
	tok, _, _ := a.Issue(Grant{User: "alice", Credential: "alice-qes", Hash: crypto.SHA256, Hashes: [][]byte{d[:]}})
	fmt.Println(strings.Count(tok, "."), strings.HasPrefix(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."))
	// Output: 2 true
}
