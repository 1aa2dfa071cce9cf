package main

import (
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss/verify"
)

func TestVerifyConfig(t *testing.T) {
	dir := t.TempDir()
	anchor := filepath.Join(dir, "anchor.pem")
	writeCert(t, anchor, "", testKey(t, "EC-P256"))
	c := &Config{Verify: VerifyConfig{TrustAnchors: []string{anchor}, Digests: []string{"SHA256", "sha1"},
		SignatureMethods: []string{"ecdsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"}, MinRSABits: 3072}}
	vc, err := verifyOptions(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(vc.Anchors) != 1 || len(vc.Digests) != 2 || vc.Digests[1] != verify.DigestSHA1 || len(vc.SignatureMethods) != 2 || vc.MinRSABits != 3072 {
		t.Errorf("%+v", vc)
	}
	var errs []string
	add := func(field, format string, a ...any) { errs = append(errs, field) }
	bad := VerifyConfig{TrustAnchors: []string{filepath.Join(dir, "missing.pem")}, Digests: []string{"md5"},
		SignatureMethods: []string{"hmac-sha1"}, MinRSABits: 512, MaxSignatures: -1}
	bad.validate(add)
	if got := strings.Join(errs, " "); got != "verify.trust_anchors[0] verify.digests verify.signature_methods verify.min_rsa_bits verify.max_signatures" {
		t.Errorf("errors for %s", got)
	}
	// Development mode without anchors: the development root.
	devDir := t.TempDir()
	writeCert(t, filepath.Join(devDir, "pki", "root.pem"), "", testKey(t, "EC-P256"))
	anchors, err := anchorsOf(&Config{Dev: DevConfig{Enabled: true, Dir: devDir}})
	if err != nil || len(anchors) != 1 {
		t.Errorf("dev anchors %v %v", anchors, err)
	}
	if anchors, err := anchorsOf(&Config{}); err != nil || len(anchors) != 0 {
		t.Errorf("no anchors: %v %v", anchors, err)
	}
}
