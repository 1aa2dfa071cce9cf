package sad

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

type sealed struct {
	User   string   `json:"u"`
	Hashes []string `json:"h"`
}

func TestSealOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, err := New(Config{Key: []byte(strings.Repeat("k", 32)), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	in := sealed{User: "alice", Hashes: []string{"aGFzaA=="}}
	s, id, err := a.Seal("code", in, now.Add(time.Minute))
	if err != nil || id == "" {
		t.Fatal(err)
	}
	var out sealed
	gotID, exp, err := a.Open("code", s, &out)
	if err != nil || gotID != id || out.User != "alice" || !exp.Equal(now.Add(time.Minute)) {
		t.Fatalf("open: %v %q %+v %v", err, gotID, out, exp)
	}
	if strings.Contains(s, "alice") {
		t.Error("a sealed value shows its content")
	}
	// Another kind, another key, a flipped byte, an expired value: refused.
	if _, _, err := a.Open("access", s, &out); !errors.Is(err, ErrSealed) {
		t.Errorf("other kind: %v", err)
	}
	b, _ := New(Config{Key: []byte(strings.Repeat("x", 32)), Clock: func() time.Time { return now }})
	if _, _, err := b.Open("code", s, &out); !errors.Is(err, ErrSealed) {
		t.Errorf("other key: %v", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	raw[len(raw)/2] ^= 1
	if _, _, err := a.Open("code", base64.RawURLEncoding.EncodeToString(raw), &out); !errors.Is(err, ErrSealed) {
		t.Errorf("flipped byte: %v", err)
	}
	later, _ := New(Config{Key: []byte(strings.Repeat("k", 32)), Clock: func() time.Time { return now.Add(2 * time.Minute) }})
	if _, _, err := later.Open("code", s, &out); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	for _, bad := range []string{"", "!!", strings.Repeat("A", MaxSealed+1), "AAAA"} {
		if _, _, err := a.Open("code", bad, &out); !errors.Is(err, ErrSealed) {
			t.Errorf("Open(%.10q): %v", bad, err)
		}
	}
	if a.Tag("form", "a", "bc") == a.Tag("form", "ab", "c") || !a.TagEqual(a.Tag("form", "x"), "form", "x") || a.TagEqual("", "form", "x") {
		t.Error("Tag does not separate its parts or TagEqual is wrong")
	}
}

func TestPKCE(t *testing.T) {
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 Appendix B
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !PKCE(challenge, verifier) {
		t.Error("RFC 7636 Appendix B example refused")
	}
	for _, v := range []string{verifier + "x", "short", strings.Repeat("a", 129), strings.Repeat("é", 43)} {
		if PKCE(challenge, v) {
			t.Errorf("PKCE accepted %q", v)
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	if PKCE(base64.StdEncoding.EncodeToString(sum[:]), verifier) {
		t.Error("a padded standard-base64 challenge was accepted")
	}
}

func TestPeek(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, _ := New(Config{Key: []byte(strings.Repeat("k", 32)), Clock: func() time.Time { return now }})
	tok, _, err := a.Issue(Grant{User: "alice", Credential: "c", Hash: 5, Hashes: [][]byte{make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLikeSAD(tok) {
		t.Error("LooksLikeSAD(SAD) = false")
	}
	c, err := a.Peek(tok)
	if err != nil || c.User != "alice" || c.Credential != "c" {
		t.Fatalf("Peek: %v %+v", err, c)
	}
	if _, err := a.Peek(tok[:len(tok)-2] + "AA"); err == nil {
		t.Error("Peek accepted a forged SAD")
	}
}

func BenchmarkSealOpen(b *testing.B) {
	a, _ := New(Config{Key: []byte(strings.Repeat("k", 32))})
	in := sealed{User: "alice", Hashes: []string{strings.Repeat("A", 44), strings.Repeat("B", 44)}}
	var out sealed
	for b.Loop() {
		s, _, _ := a.Seal("code", in, time.Now().Add(time.Minute))
		if _, _, err := a.Open("code", s, &out); err != nil {
			b.Fatal(err)
		}
	}
}
