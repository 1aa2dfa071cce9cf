package devjson

import (
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTOTPRFC6238 uses the SHA-1 test vectors of RFC 6238 Appendix B (8 digits there; the
// last 6 digits are the 6-digit codes).
func TestTOTPRFC6238(t *testing.T) {
	t.Parallel()
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		got, err := TOTP(secret, time.Unix(tc.unix, 0))
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.want[2:]; got != want {
			t.Errorf("TOTP at %d = %s, want %s", tc.unix, got, want)
		}
	}
	if _, err := TOTP("not base32!", time.Unix(0, 0)); err == nil {
		t.Error("TOTP accepted a bad secret")
	}
}

func TestRoundTripAndLookup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := &File{
		URL: "https://127.0.0.1:8443", CA: filepath.Join(dir, "root.pem"),
		Users: []User{
			{Name: "alice", Token: "t1", Credentials: []Credential{
				{ID: "alice-rsa", Key: "RSA-2048", SCAL: 1, Cert: filepath.Join(dir, "a.pem")},
				{ID: "alice-qes", Key: "RSA-3072", SCAL: 2, Cert: filepath.Join(dir, "q.pem"), PIN: "1", TOTPSecret: "JBSWY3DP"},
			}},
			{Name: "bob", Token: "t2", Credentials: []Credential{{ID: "bob-rsa", Key: "RSA-2048", SCAL: 1, Cert: filepath.Join(dir, "b.pem")}}},
		},
		TSA: "https://127.0.0.1:8443/dev/tsa", OCSP: "https://127.0.0.1:8443/dev/ocsp",
	}
	path := filepath.Join(dir, "dev.json")
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("dev.json mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	for _, key := range []string{`"url"`, `"ca"`, `"users"`, `"totp_secret"`, `"scal"`, `"tsa"`, `"ocsp"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("dev.json lacks %s", key)
		}
	}
	if strings.Count(string(raw), `"pin"`) != 1 {
		t.Errorf("pin must appear for the scal 2 credential only:\n%s", raw)
	}
	g, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := g.User("")
	if err != nil || u.Name != "alice" {
		t.Fatalf("default user = %v, %v; want alice", u, err)
	}
	if _, err := u.Credential(""); err == nil {
		t.Error("alice has two credentials; an empty id must be refused")
	}
	c, err := u.Credential("alice-qes")
	if err != nil || c.SCAL != 2 || c.PIN != "1" {
		t.Fatalf("alice-qes = %+v, %v", c, err)
	}
	b, _ := g.User("bob")
	if c, err := b.Credential(""); err != nil || c.ID != "bob-rsa" {
		t.Errorf("bob's only credential = %+v, %v", c, err)
	}
	if _, err := g.User("carol"); err == nil {
		t.Error("unknown user accepted")
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"url":"http://x","ca":"rel.pem","users":[],"extra":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(bad); err == nil {
		t.Error("Read accepted an unknown field")
	}
}
