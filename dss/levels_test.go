//go:build e2e

package dss

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"dssd/dss/tsp"
	"dssd/dss/verify"
	"dssd/dss/xades"
	"dssd/dss/xades/interop"
	"dssd/internal/testkit/xadestest"
)

// recordingTSA wraps a Timestamper, records every digest and token, and fails on demand.
type recordingTSA struct {
	inner   Timestamper
	mu      sync.Mutex
	digests [][]byte
	tokens  [][]byte
	failAt  int   // fail the n-th call (1-based); 0: never
	err     error // the failure
	mangle  func([]byte) []byte
}

func (r *recordingTSA) Timestamp(ctx context.Context, h crypto.Hash, d []byte) ([]byte, error) {
	r.mu.Lock()
	n := len(r.digests) + 1
	r.digests = append(r.digests, bytes.Clone(d))
	r.mu.Unlock()
	if r.failAt == n {
		return nil, r.err
	}
	tok, err := r.inner.Timestamp(ctx, h, d)
	if err != nil {
		return nil, err
	}
	if r.mangle != nil {
		tok = r.mangle(tok)
	}
	r.mu.Lock()
	r.tokens = append(r.tokens, tok)
	r.mu.Unlock()
	return tok, nil
}

func (r *recordingTSA) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.digests)
}

// twoTSAs answers the first call with a and the later ones with b (a different archive TSA).
type twoTSAs struct {
	a, b Timestamper
	n    int
}

func (t *twoTSAs) Timestamp(ctx context.Context, h crypto.Hash, d []byte) ([]byte, error) {
	t.n++
	if t.n == 1 {
		return t.a.Timestamp(ctx, h, d)
	}
	return t.b.Timestamp(ctx, h, d)
}

// fakeRev returns one fake OCSP response per certificate (a DER SEQUENCE naming its serial),
// refuses revoked serials with ErrRevoked and fails with down.
type fakeRev struct {
	mu      sync.Mutex
	revoked map[string]bool // subject common names
	down    error
	chains  [][]string // the common names of every chain asked for
}

func (f *fakeRev) Validation(_ context.Context, chain []*x509.Certificate, _ func(time.Time, time.Time) bool) ([][]byte, [][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, c := range chain {
		names = append(names, c.Subject.CommonName)
	}
	f.chains = append(f.chains, names)
	if f.down != nil {
		return nil, nil, f.down
	}
	var ocsps [][]byte
	for _, c := range chain {
		if f.revoked[c.Subject.CommonName] {
			return nil, nil, fmt.Errorf("%s: %w", c.Subject.CommonName, verify.ErrRevoked)
		}
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			continue
		}
		b, _ := asn1.Marshal(struct {
			Status asn1.Enumerated
			Serial *big.Int
			Name   string
		}{0, c.SerialNumber, c.Subject.CommonName})
		ocsps = append(ocsps, b)
	}
	return ocsps, nil, nil
}

// levelPKI is a CA with an RSA and an EC signer.
type levelPKI struct {
	ca        *x509.Certificate
	rsa, ec   *Credential
	rsaK, ecK crypto.Signer
}

func newLevelPKI(t *testing.T) *levelPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nb := time.Now().Add(-time.Hour)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "levels CA"}, NotBefore: nb, NotAfter: nb.Add(24 * time.Hour * 365),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &levelPKI{ca: ca}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.rsaK, p.ecK = rk, ek
	leaf := func(k crypto.Signer, cn string, serial int64) *Credential {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: nb, NotAfter: nb.Add(24 * time.Hour * 365),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return &Credential{ID: cn, Owner: "alice", Chain: []*x509.Certificate{c, ca}}
	}
	p.rsa, p.ec = leaf(rk, "signer-rsa", 10), leaf(ek, "signer-ec", 11)
	return p
}

const levelDoc = `<invoice xmlns="urn:test:invoice"><id>42</id><note>TAMPER-MARK</note></invoice>`

// bb signs a B-B signature of the given packaging.
func (p *levelPKI) bb(t *testing.T, cred *Credential, pk xades.Packaging) (*xades.Signed, xades.Object) {
	t.Helper()
	k, alg := p.rsaK, xades.RSASHA256
	if cred == p.ec {
		k, alg = p.ecK, xades.ECDSASHA256
	}
	obj := xades.Object{ID: "d1", Data: []byte(levelDoc), XML: true}
	if pk == xades.Detached {
		obj = xades.Object{ID: "d1", Data: []byte("binary TAMPER-MARK \x00\xff data"), URI: "data.bin"}
	}
	s, err := xades.Sign(obj, xades.Params{Type: xades.TypeXAdES, Packaging: pk, SignatureMethod: alg, Signer: k,
		Chain: cred.Chain, SigningTime: time.Now(), SignatureID: "sig-1"})
	if err != nil {
		t.Fatal(err)
	}
	return s, obj
}

func sigBytes(s *xades.Signed) []byte {
	if s.Document != nil {
		return s.Document
	}
	return s.Signature
}

// tokensIn returns the tokens of the SignatureTimeStamp and ArchiveTimeStamp in order.
func tokensIn(t *testing.T, b []byte) (sig, arc [][]byte) {
	t.Helper()
	re := regexp.MustCompile(`<(?:xades:SignatureTimeStamp|xades141:ArchiveTimeStamp)[^>]*>.*?<xades:EncapsulatedTimeStamp>([^<]*)</xades:EncapsulatedTimeStamp>`)
	for _, m := range re.FindAllSubmatch(b, -1) {
		tok, err := base64.StdEncoding.DecodeString(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(m[0], []byte("<xades:Sig")) {
			sig = append(sig, tok)
		} else {
			arc = append(arc, tok)
		}
	}
	return sig, arc
}

func TestApplyLevel(t *testing.T) {
	t.Parallel()
	xadestest.Require(t)
	pki := newLevelPKI(t)
	tsa := xadestest.NewTSA(t, "levels TSA", true)
	atsa := xadestest.NewTSA(t, "levels archive TSA", false)
	dir := t.TempDir()
	ctx := context.Background()
	var cases []interop.Case
	for _, cred := range []*Credential{pki.rsa, pki.ec} {
		for _, pk := range []xades.Packaging{xades.Enveloped, xades.Enveloping, xades.Detached} {
			for _, level := range []string{LevelBB, LevelBT, LevelBLT, LevelBLTA} {
				name := fmt.Sprintf("%s %v %s", cred.ID, pk, level[len("urn:dssd:level:"):])
				rec := &recordingTSA{inner: &twoTSAs{a: tsa, b: atsa}}
				rev := &fakeRev{}
				s := &Service{tsa: rec, rev: rev}
				bb, obj := pki.bb(t, cred, pk)
				out, err := s.applyLevel(ctx, level, bb, obj, cred)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := xades.Check(out, obj, cred.Chain[0]); err != nil {
					t.Fatalf("%s: Check: %v", name, err)
				}
				b := sigBytes(out)
				wantTS := map[string]int{LevelBB: 0, LevelBT: 1, LevelBLT: 1, LevelBLTA: 2}[level]
				if rec.calls() != wantTS {
					t.Errorf("%s: %d timestamps, want %d", name, rec.calls(), wantTS)
				}
				// The signer's status is checked at every level.
				if len(rev.chains) == 0 || strings.Join(rev.chains[0], ",") != cred.ID+",levels CA" {
					t.Errorf("%s: revocation asked for %v", name, rev.chains)
				}
				sig, arc := tokensIn(t, b)
				if len(sig)+len(arc) != wantTS {
					t.Fatalf("%s: %d+%d tokens embedded, want %d", name, len(sig), len(arc), wantTS)
				}
				if wantTS > 0 {
					in, err := xades.SignatureTimestampInput(out)
					if err != nil {
						t.Fatal(err)
					}
					d := crypto.SHA256.New()
					d.Write(in)
					if !bytes.Equal(d.Sum(nil), rec.digests[0]) || !bytes.Equal(sig[0], rec.tokens[0]) {
						t.Errorf("%s: the signature timestamp is not over the SignatureValue input", name)
					}
					if err := tsa.Verify(sig[0], rec.digests[0]); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
				switch level {
				case LevelBLT, LevelBLTA:
					// signer chain, then the TSA chain from the token: TSA and its CA.
					if len(rev.chains) < 2 || strings.Join(rev.chains[1], ",") != "levels TSA,levels TSA root" {
						t.Errorf("%s: revocation asked for %v", name, rev.chains)
					}
					if n := bytes.Count(b, []byte("<xades:EncapsulatedX509Certificate>")); n != 4+map[bool]int{true: 1}[level == LevelBLTA] {
						t.Errorf("%s: %d certificate values", name, n)
					}
					if n := bytes.Count(b, []byte("<xades:EncapsulatedOCSPValue>")); n != 2+map[bool]int{true: 1}[level == LevelBLTA] {
						t.Errorf("%s: %d OCSP values", name, n)
					}
				}
				if level == LevelBLTA {
					if err := atsa.Verify(arc[0], rec.digests[1]); err != nil {
						t.Errorf("%s: archive timestamp: %v", name, err)
					}
					// The archive TSA is new: its chain (issuer not in the token: only its
					// leaf) gets TimeStampValidationData after the archive timestamp.
					if len(rev.chains) != 3 || strings.Join(rev.chains[2], ",") != "levels archive TSA" ||
						!bytes.Contains(b, []byte("</xades141:ArchiveTimeStamp><xades141:TimeStampValidationData")) {
						t.Errorf("%s: archive TSA validation data: asked %v", name, rev.chains)
					}
				}
				if level == LevelBB {
					if !bytes.Equal(b, sigBytes(bb)) {
						t.Errorf("%s: B-B changed", name)
					}
					continue
				}
				f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".xml")
				if err := os.WriteFile(f, b, 0o644); err != nil {
					t.Fatal(err)
				}
				certFile := filepath.Join(dir, cred.ID+".pem")
				if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cred.Chain[0].Raw}), 0o644); err != nil {
					t.Fatal(err)
				}
				c := interop.Case{Name: name, File: f, Cert: certFile, XAdES: true, SignatureID: "sig-1"}
				if pk == xades.Detached {
					content := filepath.Join(dir, "data.bin")
					if err := os.WriteFile(content, obj.Data, 0o644); err != nil {
						t.Fatal(err)
					}
					c.Detached = map[string]string{"data.bin": content}
				}
				cases = append(cases, c)
			}
		}
	}
	interop.Require(t)
	vctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := interop.VerifyAll(vctx, cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		judged := 0
		for _, v := range res[c.Name] {
			if v.Skipped {
				continue
			}
			judged++
			if !v.OK {
				t.Errorf("%s: %v", c.Name, v)
			}
		}
		if judged < 4 {
			t.Errorf("%s: only %d verifiers judged it", c.Name, judged)
		}
	}
}

func TestApplyLevelFailures(t *testing.T) {
	t.Parallel()
	xadestest.Require(t)
	pki := newLevelPKI(t)
	tsa := xadestest.NewTSA(t, "levels TSA", true)
	ctx := context.Background()
	down := errors.New(`Post "http://tsa.example/": dial tcp 192.0.2.1:80: connect: connection refused`)
	type want struct {
		kind  Kind
		major string
		msg   string
	}
	authority := func(msg string) want { return want{KindAuthorityUnavailable, MajorResponderError, msg} }
	tests := []struct {
		name     string
		level    string
		tsa      *recordingTSA // nil: none configured
		rev      *fakeRev      // nil: none configured
		obj      func(xades.Object) xades.Object
		want     want
		tsaCalls int
	}{
		{"no TSA configured", LevelBT, nil, nil, nil, want{KindNotSupported, MajorRequesterError, "needs a timestamp authority"}, 0},
		{"no revocation configured", LevelBLT, &recordingTSA{inner: tsa}, nil, nil, want{KindNotSupported, MajorRequesterError, "needs revocation sources"}, 0},
		{"unknown level", "urn:dssd:level:B-XL", &recordingTSA{inner: tsa}, &fakeRev{}, nil, want{KindNotSupported, MajorRequesterError, "not supported"}, 0},
		{"TSA down at B-T", LevelBT, &recordingTSA{inner: tsa, failAt: 1, err: down}, nil, nil, authority("timestamp authority unavailable: " + down.Error()), 1},
		{"TSA down at B-LTA", LevelBLTA, &recordingTSA{inner: tsa, failAt: 1, err: down}, &fakeRev{}, nil, authority("timestamp authority unavailable: Post"), 1},
		{"archive TSA down", LevelBLTA, &recordingTSA{inner: tsa, failAt: 2, err: context.DeadlineExceeded}, &fakeRev{}, nil, authority("timestamp authority unavailable: context deadline exceeded"), 2},
		{"token over another imprint", LevelBT, &recordingTSA{inner: &twoTSAs{a: otherImprint{tsa}}}, nil, nil, authority("imprint is not the requested one"), 1},
		{"token not DER", LevelBT, &recordingTSA{inner: tsa, mangle: func(b []byte) []byte { return b[:len(b)-3] }}, nil, nil, authority("unusable signature timestamp"), 1},
		{"signer revoked at B-B", LevelBB, nil, &fakeRev{revoked: map[string]bool{"signer-rsa": true}}, nil, want{KindCertificateRevoked, MajorRequesterError, "credential signer-rsa holds a revoked certificate"}, 0},
		{"signer revoked at B-T", LevelBT, &recordingTSA{inner: tsa}, &fakeRev{revoked: map[string]bool{"signer-rsa": true}}, nil, want{KindCertificateRevoked, MajorRequesterError, "signing refused"}, 0},
		{"signer CA revoked at B-LT", LevelBLT, &recordingTSA{inner: tsa}, &fakeRev{revoked: map[string]bool{"levels CA": true}}, nil, want{KindCertificateRevoked, MajorRequesterError, "levels CA: certificate revoked"}, 1},
		{"TSA revoked at B-LT", LevelBLT, &recordingTSA{inner: tsa}, &fakeRev{revoked: map[string]bool{"levels TSA": true}}, nil, authority("timestamp authority certificate is revoked"), 1},
		{"OCSP and CRL unreachable at B-B", LevelBB, nil, &fakeRev{down: errors.New("ocsp: HTTP 500; crl: timeout")}, nil, authority("revocation status of the signer certificate unavailable: ocsp: HTTP 500; crl: timeout"), 0},
		{"OCSP and CRL unreachable at B-LTA", LevelBLTA, &recordingTSA{inner: tsa}, &fakeRev{down: errors.New("no responder")}, nil, authority("revocation status of the signer certificate unavailable"), 1},
		{"B-LTA over a hash", LevelBLTA, &recordingTSA{inner: tsa}, &fakeRev{}, func(o xades.Object) xades.Object { o.Data = nil; return o }, want{KindNotSupported, MajorRequesterError, "cannot be archived"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{}
			if tt.tsa != nil {
				s.tsa = tt.tsa
			}
			if tt.rev != nil {
				s.rev = tt.rev
			}
			bb, obj := pki.bb(t, pki.rsa, xades.Detached)
			if tt.obj != nil {
				obj = tt.obj(obj)
			}
			before := bytes.Clone(sigBytes(bb))
			out, err := s.applyLevel(ctx, tt.level, bb, obj, pki.rsa)
			if out != nil || err == nil {
				t.Fatalf("got a signature (%v) and error %v", out != nil, err)
			}
			if KindOf(err) != tt.want.kind {
				t.Fatalf("kind %v, want %v: %v", KindOf(err), tt.want.kind, err)
			}
			r := ResultOf(err, "ref")
			if r.Major != tt.want.major || !strings.Contains(r.Message, tt.want.msg) {
				t.Errorf("result %s / %q, want %s with %q", r.Major, r.Message, tt.want.major, tt.want.msg)
			}
			if tt.tsa != nil && tt.tsa.calls() != tt.tsaCalls {
				t.Errorf("%d timestamp requests, want %d", tt.tsa.calls(), tt.tsaCalls)
			}
			if !bytes.Equal(before, sigBytes(bb)) {
				t.Error("the B-B signature was modified")
			}
		})
	}
	if r := ResultOf(&Error{Kind: KindAuthorityUnavailable, Detail: "x"}, ""); r.Minor != MinorAuthority {
		t.Errorf("minor %q", r.Minor)
	}
	if r := ResultOf(&Error{Kind: KindCertificateRevoked, Detail: "x"}, ""); r.Minor != MinorRevoked {
		t.Errorf("minor %q", r.Minor)
	}
}

// otherImprint asks its TSA for a token over a different digest.
type otherImprint struct{ tsa Timestamper }

func (o otherImprint) Timestamp(ctx context.Context, h crypto.Hash, d []byte) ([]byte, error) {
	d = bytes.Clone(d)
	d[0] ^= 1
	return o.tsa.Timestamp(ctx, h, d)
}

// TestApplyLevelSameArchiveTSA: when the archive timestamp comes from the TSA whose data is
// already embedded, no TimeStampValidationData is added and revocation is not asked again.
func TestApplyLevelSameArchiveTSA(t *testing.T) {
	t.Parallel()
	xadestest.Require(t)
	pki := newLevelPKI(t)
	tsa := xadestest.NewTSA(t, "levels TSA", true)
	rev := &fakeRev{}
	s := &Service{tsa: tsa, rev: rev}
	bb, obj := pki.bb(t, pki.ec, xades.Enveloped)
	out, err := s.applyLevel(context.Background(), LevelBLTA, bb, obj, pki.ec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out.Document, []byte("TimeStampValidationData")) || len(rev.chains) != 2 {
		t.Fatalf("validation data of an embedded TSA added again (revocation asked %v)", rev.chains)
	}
	if err := xades.Check(out, obj, pki.ec.Chain[0]); err != nil {
		t.Fatal(err)
	}
}

func TestParseToken(t *testing.T) {
	t.Parallel()
	xadestest.Require(t)
	tsa := xadestest.NewTSA(t, "parse TSA", true)
	d := crypto.SHA256.New()
	d.Write([]byte("x"))
	digest := d.Sum(nil)
	tok, err := tsa.Timestamp(context.Background(), crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := parseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if info.hash != crypto.SHA256 || !bytes.Equal(info.digest, digest) || len(info.certs) != 2 || time.Since(info.genTime) > time.Minute {
		t.Fatalf("parsed %v %x %d certs %v", info.hash, info.digest, len(info.certs), info.genTime)
	}
	chain := chainOf(info.certs, nil)
	if len(chain) != 2 || !chain[0].Equal(tsa.Cert) || !chain[1].Equal(tsa.CA) {
		t.Fatalf("chain %v", chain)
	}

	// A token of dss/tsp's server (digitorus/pkcs7 encoding) parses the same way.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nb := time.Now().Add(-time.Hour)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tsp CA"}, NotBefore: nb, NotAfter: nb.Add(time.Hour * 48),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tsp TSA"}, NotBefore: nb, NotAfter: nb.Add(time.Hour * 48),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	tDER, err := x509.CreateCertificate(rand.Reader, tT, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := x509.ParseCertificate(tDER)
	req, err := xadestest.Request(crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tsp.NewServer(tc, []*x509.Certificate{ca}, key, nil).Respond(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Status asn1.RawValue
		Token  asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(resp, &tr); err != nil || len(tr.Token.FullBytes) == 0 {
		t.Fatalf("tsp response: %v", err)
	}
	info, err = parseToken(tr.Token.FullBytes)
	if err != nil {
		t.Fatalf("tsp token: %v", err)
	}
	if chain := chainOf(info.certs, nil); !bytes.Equal(info.digest, digest) || len(chain) != 2 || !chain[0].Equal(tc) || !chain[1].Equal(ca) {
		t.Fatalf("tsp token: digest %x, chain %v", info.digest, chain)
	}

	for _, bad := range [][]byte{nil, []byte{0x30, 0}, append(bytes.Clone(tok), 0)} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("parseToken accepted %x", bad)
		}
	}
}
