package verify

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Fuzz targets for the trust stages of the verifier (issue 10): revocation data and its
// freshness, certificate path and purpose, timestamp tokens. Each runs on one small input
// with a precomputed PKI, so that it reaches thousands of executions per second, and checks
// an oracle beyond "no panic".

// FuzzRevocationData feeds bytes as an OCSP response and as a CRL to the request store and
// asks about the revoked signer. Oracle: nothing the fuzzer can make without the CA's key
// says the revoked signer is good (every seed signed by the CA says "revoked"), and no item
// about the valid signer comes from a party other than its issuer.
func FuzzRevocationData(f *testing.F) {
	p := newPKI(f)
	f.Add(p.ocspFor(f, p.revoked, true))
	f.Add(p.ocspFor(f, p.ec, false))
	f.Add(p.crl(f))
	f.Add(ocspBy(f, p.ca.cert, p.ca, p.revoked.cert.SerialNumber, ocsp.Revoked, testNow, p.revokedAt))
	f.Add(p.crlWith(f, testNow, nil, idpExt(f, "http://crl.example/1.crl", false, false)))
	f.Add(ocspBy(f, p.otherRoot.cert, p.otherRoot, p.revoked.cert.SerialNumber, ocsp.Good, testNow, time.Time{}))
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		st := newRevStore(lim)
		var items []*revItem
		for _, isCRL := range []bool{false, true} {
			it, err := st.add(b, isCRL, fromRequest)
			if err != nil {
				return
			}
			items = append(items, it)
		}
		for _, o := range st.observe(items, p.revoked.cert, p.ca.cert) {
			if !o.revoked {
				t.Fatalf("a good status for the revoked signer from %d bytes", len(b))
			}
		}
		// The revoked signer's status judged at any time is never good.
		if s := judge(st.observe(items, p.revoked.cert, p.ca.cert), testNow, time.Time{}, 365*24*time.Hour); s.state == statusGood {
			t.Fatal("judged good")
		}
		// Nothing speaks for the EC signer unless its issuer signed it.
		for _, it := range items {
			if len(st.observe([]*revItem{it}, p.ec.cert, p.otherRoot.cert)) != 0 {
				t.Fatal("an item of the issuing CA accepted for another issuer")
			}
		}
	})
}

// FuzzRevocationFreshness decodes observations and times from bytes and judges them.
// Oracle: a revocation (dated, not in the future) always wins; "good" only with an
// observation that is online, issued after the proof of existence, or inside the window
// and before its nextUpdate.
func FuzzRevocationFreshness(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(make([]byte, 64))
	f.Add([]byte("revoked good online poe window"))
	f.Fuzz(func(t *testing.T, b []byte) {
		base := testNow
		u := func(i int) time.Time {
			if i+2 > len(b) {
				return time.Time{}
			}
			return base.Add(time.Duration(int16(binary.BigEndian.Uint16(b[i:]))) * time.Minute)
		}
		if len(b) < 4 {
			return
		}
		now, poe := base, u(0)
		if b[2]&1 == 0 {
			poe = time.Time{}
		}
		window := time.Duration(b[3]) * time.Minute
		var obs []observation
		for i := 4; i+7 <= len(b) && len(obs) < 16; i += 7 {
			o := observation{revoked: b[i]&1 == 1, online: b[i]&2 == 2, thisUpdate: u(i + 1), nextUpdate: u(i + 3), revokedAt: u(i + 5)}
			if b[i]&4 == 4 {
				o.nextUpdate = time.Time{}
			}
			obs = append(obs, o)
		}
		st := judge(obs, now, poe, window)
		valid := func(o observation) bool { return !o.thisUpdate.IsZero() && !o.thisUpdate.After(now.Add(clockSkew)) }
		revoked := slices.ContainsFunc(obs, func(o observation) bool { return o.revoked && valid(o) })
		if revoked != (st.state == statusRevoked) {
			t.Fatalf("revoked %v, judged %v", revoked, st.state)
		}
		if st.state == statusGood && !slices.ContainsFunc(obs, func(o observation) bool {
			return valid(o) && !o.revoked && (o.online || (!poe.IsZero() && !o.thisUpdate.Before(poe)) ||
				(!o.thisUpdate.Before(now.Add(-window)) && (o.nextUpdate.IsZero() || !now.After(o.nextUpdate))))
		}) {
			t.Fatal("good without a fresh observation")
		}
	})
}

// FuzzCertificatePurpose parses bytes as a certificate and applies the signer purpose rule.
// Oracle: the extended key usages as crypto/x509 reads them agree with the rule: a
// certificate that passes has digitalSignature or nonRepudiation and, if it has an
// extendedKeyUsage, one allowed by DefaultSignerEKUs; a TLS-, timestamping-, OCSP- or
// code-signing-only certificate never passes; and a path is built only to the anchor.
func FuzzCertificatePurpose(f *testing.F) {
	p := newPKI(f)
	for _, c := range []*x509.Certificate{p.ec.cert, p.tsa.cert, p.ca.cert, p.rsa.cert, p.stranger.cert,
		signerCert(f, "tls", ecKeyP256(f), &p.ca, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }).cert,
		signerCert(f, "doc", ecKeyP256(f), &p.ca, func(c *x509.Certificate) { c.UnknownExtKeyUsage = append(c.UnknownExtKeyUsage, oidDocumentSigning) }).cert,
	} {
		f.Add(c.Raw)
	}
	pur, err := newPurpose(nil)
	if err != nil {
		f.Fatal(err)
	}
	allowedGo := map[x509.ExtKeyUsage]bool{x509.ExtKeyUsageEmailProtection: true, x509.ExtKeyUsageAny: true}
	v := newVerifier(f, p, func(c *Config) { c.Revocation = nil })
	f.Fuzz(func(t *testing.T, b []byte) {
		cert, err := x509.ParseCertificate(b)
		if err != nil {
			return
		}
		err = pur.signer(cert)
		// An empty extendedKeyUsage (malformed: SIZE 1..MAX) allows nothing.
		hasEKU := slices.ContainsFunc(cert.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidExtKeyUsage) })
		okGo := slices.ContainsFunc(cert.ExtKeyUsage, func(u x509.ExtKeyUsage) bool { return allowedGo[u] }) ||
			slices.ContainsFunc(cert.UnknownExtKeyUsage, func(o asn1.ObjectIdentifier) bool {
				return slices.Contains(DefaultSignerEKUs, o.String())
			})
		if err == nil {
			if cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
				t.Fatal("passed without digitalSignature or nonRepudiation")
			}
			if hasEKU && !okGo {
				t.Fatalf("passed with extended key usages %v %v", cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
			}
		} else if cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0 && (!hasEKU || okGo) {
			t.Fatalf("refused a document-signing certificate: %v", err)
		}
		c := &sigCtx{v: v, ctx: context.Background(), in: &Input{}, at: testNow, req: &reqState{rev: newRevStore(v.lim), memo: map[[32]byte]pathResult{}}}
		chains, err := c.buildPath(cert, []*x509.Certificate{p.ca.cert}, testNow, x509.ExtKeyUsageAny)
		for _, ch := range chains {
			if err != nil || !ch[len(ch)-1].Equal(p.root.cert) {
				t.Fatal("a path to something else than the anchor")
			}
			if pur.chain(ch) == nil && pur.signer(cert) == nil && hasEKU && !okGo {
				t.Fatal("a path for a certificate that is not for signing")
			}
		}
	})
}

// FuzzTimestampToken verifies bytes as an RFC 3161 token of a signature. Oracle: a token
// that verifies has a TSA certificate with the timeStamping usage that chains to the anchor,
// a time not after the validation time, and an imprint algorithm the policy accepts.
func FuzzTimestampToken(f *testing.F) {
	p := newPKI(f)
	d := sha256.Sum256([]byte("signature value"))
	f.Add(p.token(f, d[:], testNow.Add(-time.Hour)))
	f.Add(p.token(f, d[:], testNow.Add(time.Hour)))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	online := staticRevocation{p.ocspAt(f, p.tsa, false, testNow), p.ocspAt(f, party{cert: p.ca.cert}, false, testNow)}
	v := newVerifier(f, p, func(c *Config) { c.Revocation = online })
	f.Fuzz(func(t *testing.T, b []byte) {
		// A hang becomes a crasher (the worker dies and the fuzzer keeps the input).
		wd := time.AfterFunc(10*time.Second, func() { panic("verifyToken did not return within 10 s") })
		defer wd.Stop()
		c := &sigCtx{v: v, ctx: context.Background(), in: &Input{}, at: testNow, req: &reqState{rev: newRevStore(v.lim), memo: map[[32]byte]pathResult{}}}
		ts, vd := c.verifyToken(b)
		if vd != nil {
			if vd.ind != Indeterminate || vd.detail == "" {
				t.Fatalf("incomplete verdict %+v", vd)
			}
			return
		}
		if ts == nil || ts.Time.After(testNow.Add(clockSkew)) || !v.policy.hashAllowed(ts.HashAlgorithm) {
			t.Fatalf("accepted token %+v", ts)
		}
		tsa := ts.Certificates
		ok := false
		for _, cert := range tsa {
			if slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) && cert.CheckSignatureFrom(p.ca.cert) == nil {
				ok = true
			}
		}
		if !ok {
			t.Fatal("accepted a token without a timeStamping certificate of the CA")
		}
	})
}

// staticRevocation answers every chain with the same OCSP responses (fuzz targets may not
// build them inside the target).
type staticRevocation [][]byte

func (s staticRevocation) Validation(context.Context, []*x509.Certificate) ([][]byte, [][]byte, error) {
	return s, nil, nil
}
