package main

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"dssd/cmd/internal/algnames"
	"dssd/dss"
	"dssd/dss/verify"
)

// verifyDigests and verifySignatureMethods map the short names of the verify section to
// XMLDSig URIs (RFC 6931). MD5 and HMAC have no name: they are never accepted.
var (
	verifyDigests = map[string]string{
		"sha1":   verify.DigestSHA1,
		"sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
		"sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
		"sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
	}
	verifySignatureMethods = func() map[string]string {
		m := algnames.Signature() // the names dss --algorithm takes, and SHA-1 for verifying
		m["rsa-sha1"] = verify.RSASHA1
		m["ecdsa-sha1"] = verify.ECDSASHA1
		return m
	}()
)

// algURIs resolves short names (case-insensitive) or URIs.
func algURIs(names []string, table map[string]string, field string) ([]string, error) {
	var out []string
	for _, n := range names {
		if u, ok := table[strings.ToLower(strings.TrimSpace(n))]; ok {
			out = append(out, u)
			continue
		}
		if !slices.Contains(mapValues(table), n) {
			return nil, fmt.Errorf("%s: %q is not one of %s (MD5 and HMAC are never accepted)", field, n, strings.Join(sortedKeys(table), ", "))
		}
		out = append(out, n)
	}
	return out, nil
}

func mapValues(m map[string]string) []string {
	var v []string
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	slices.Sort(k)
	return k
}

// validate checks the verify section for Config.Validate.
func (v *VerifyConfig) validate(add func(field, format string, a ...any)) {
	for i, f := range v.TrustAnchors {
		field := fmt.Sprintf("verify.trust_anchors[%d]", i)
		if checkFile(add, field, f) {
			if _, err := readCertificates(f); err != nil {
				add(field, "%v", err)
			}
		}
	}
	if _, err := algURIs(v.Digests, verifyDigests, "verify.digests"); err != nil {
		add("verify.digests", "%v", err)
	}
	if _, err := algURIs(v.SignatureMethods, verifySignatureMethods, "verify.signature_methods"); err != nil {
		add("verify.signature_methods", "%v", err)
	}
	if v.MinRSABits != 0 && (v.MinRSABits < 1024 || v.MinRSABits > 8192) {
		add("verify.min_rsa_bits", "must be between 1024 and 8192")
	}
	if v.MaxSignatures < 0 || v.MaxSignatures > 1000 {
		add("verify.max_signatures", "must be between 1 and 1000")
	}
	if v.RevocationFreshness < 0 {
		add("verify.revocation_freshness", "must not be negative")
	}
	if _, err := verify.New(verify.Config{SignerEKUs: v.SignerEKUs}); err != nil {
		add("verify.signer_ekus", "%v", err)
	}
	if v.MaxRevocationValues < 0 || v.MaxRevocationValues > 10000 {
		add("verify.max_revocation_values", "must be between 1 and 10000")
	}
	if v.MaxRevocationBytes < 0 || v.MaxRevocationBytes > 1<<30 {
		add("verify.max_revocation_bytes", "must be between 1 and 1 GiB")
	}
	if v.MaxPathBuilds < 0 || v.MaxPathBuilds > 100000 {
		add("verify.max_path_builds", "must be between 1 and 100000")
	}
	if v.MaxPrefixList < 0 || v.MaxPrefixList > 1024 {
		add("verify.max_prefix_list", "must be between 1 and 1024")
	}
	if v.MaxNodes < 0 || v.MaxNodes > 1<<31 {
		add("verify.max_nodes", "must be between 1 and 2147483648")
	}
	if v.MaxC14NNodes < 0 || v.MaxC14NNodes > 1<<33 {
		add("verify.max_c14n_nodes", "must be between 1 and 8589934592")
	}
}

// verifyOptions builds the verification configuration of the service from the verify
// section. In development mode without trust anchors, the development root CA (which issues
// the credentials' and the TSA's certificates) is the anchor.
func verifyOptions(cfg *Config) (dss.VerifyConfig, error) {
	v := cfg.Verify
	var out dss.VerifyConfig
	files := v.TrustAnchors
	if len(files) == 0 && cfg.Dev.Enabled && cfg.Dev.Dir != "" {
		files = []string{filepath.Join(cfg.Dev.Dir, "pki", "root.pem")}
	}
	for _, f := range files {
		certs, err := readCertificates(f)
		if err != nil {
			return out, fmt.Errorf("verify.trust_anchors: %s: %w", f, err)
		}
		out.Anchors = append(out.Anchors, certs...)
	}
	var err error
	if out.Digests, err = algURIs(v.Digests, verifyDigests, "verify.digests"); err != nil {
		return out, err
	}
	if out.SignatureMethods, err = algURIs(v.SignatureMethods, verifySignatureMethods, "verify.signature_methods"); err != nil {
		return out, err
	}
	out.MinRSABits, out.MaxSignatures = v.MinRSABits, v.MaxSignatures
	out.RevocationFreshness, out.SignerEKUs = v.RevocationFreshness.Duration(), v.SignerEKUs
	out.MaxRevocationValues, out.MaxRevocationBytes, out.MaxPathBuilds = v.MaxRevocationValues, v.MaxRevocationBytes, v.MaxPathBuilds
	out.MaxPrefixList = v.MaxPrefixList
	out.MaxNodes, out.MaxC14NNodes = v.MaxNodes, v.MaxC14NNodes
	return out, nil
}

// configureVerify applies verifyOptions to svc. serve calls it once after dss.New.
func configureVerify(svc *dss.Service, cfg *Config) error {
	vc, err := verifyOptions(cfg)
	if err != nil {
		return err
	}
	if err := svc.ConfigureVerify(vc); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// anchorsOf is used by tests: the anchors a configuration yields.
func anchorsOf(cfg *Config) ([]*x509.Certificate, error) {
	vc, err := verifyOptions(cfg)
	return vc.Anchors, err
}
