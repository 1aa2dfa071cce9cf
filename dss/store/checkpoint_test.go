package store

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

func TestCheckpointSignVerify(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256([]byte("head"))
	head := Head{Seq: 42, Hash: h[:]}
	at := time.Date(2026, 12, 7, 5, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, signer := range []crypto.Signer{ec, rk} {
		cp, err := NewCheckpoint(head, at, signer, "pkcs11:token=t;object=cp")
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ParseCheckpoint(cp.Marshal())
		if err != nil {
			t.Fatalf("parse %s: %v", cp.Marshal(), err)
		}
		a, err := parsed.Verify(signer.Public())
		if err != nil {
			t.Fatalf("%s: %v", cp.Algorithm, err)
		}
		if a.Seq != 42 || string(a.Hash) != string(h[:]) || !a.Time.Equal(at) {
			t.Errorf("anchor %+v", a)
		}
		if _, err := parsed.Verify(other.Public()); err == nil {
			t.Errorf("%s: verified with another key", cp.Algorithm)
		}
		for _, edit := range []func(c *Checkpoint){
			func(c *Checkpoint) { c.Seq = 41 },
			func(c *Checkpoint) { c.HeadHash = strings.Repeat("00", 32) },
			func(c *Checkpoint) { c.Time = c.Time.Add(time.Nanosecond) },
		} {
			c := *parsed
			edit(&c)
			if _, err := c.Verify(signer.Public()); err == nil || !strings.Contains(err.Error(), "does not verify") {
				t.Errorf("%s: an altered checkpoint %+v: %v", cp.Algorithm, c, err)
			}
		}
	}
	if _, err := NewCheckpoint(Head{Hash: GenesisHash()}, at, ec, ""); err == nil {
		t.Error("checkpoint of an empty log")
	}
	for _, bad := range []string{
		`{}`,
		`{"format":"dssd-audit-checkpoint-v1","seq":0,"head_hash":"","time":"2026-01-01T00:00:00Z","key":"","algorithm":"","signature":""}`,
		`{"format":"dssd-audit-checkpoint-v1","seq":1,"head_hash":"zz","time":"2026-01-01T00:00:00Z","key":"","algorithm":"","signature":""}`,
		`{"format":"dssd-audit-checkpoint-v1","seq":1,"extra":1}`,
		strings.Repeat(" ", MaxCheckpointBytes+1),
	} {
		if _, err := ParseCheckpoint([]byte(bad)); err == nil {
			t.Errorf("parsed %.80q", bad)
		}
	}
}
