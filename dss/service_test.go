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
	"errors"
	"io"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dssd/dss/xades"
	"dssd/hsm"
)

// countingSigner counts device calls; flip makes it return a corrupted signature.
type countingSigner struct {
	crypto.Signer
	calls atomic.Int64
	flip  bool
}

func (c *countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.calls.Add(1)
	sig, err := c.Signer.Sign(r, d, o)
	if err == nil && c.flip {
		sig[len(sig)/2] ^= 0x40
	}
	return sig, err
}

type keyMap map[string]crypto.Signer

func (k keyMap) Signer(_ context.Context, ref hsm.KeyRef) (crypto.Signer, error) {
	if s, ok := k[ref.Label]; ok {
		return s, nil
	}
	return nil, hsm.ErrKeyNotFound
}
func (keyMap) Close() error { return nil }

type dirMap map[string]*Credential

func (d dirMap) Credential(id string) *Credential { return d[id] }
func (d dirMap) CredentialsOf(user string) []*Credential {
	var out []*Credential
	for _, id := range []string{"alice-rsa", "alice-ec", "alice-qes", "bob-rsa"} {
		if c := d[id]; c != nil && c.Owner == user {
			out = append(out, c)
		}
	}
	return out
}

type fixture struct {
	svc     *Service
	signers map[string]*countingSigner
}

func selfSigned(t testing.TB, k crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{signers: map[string]*countingSigner{}}
	keys := keyMap{}
	dir := dirMap{}
	add := func(id, owner, keyType string, scal int, k crypto.Signer) {
		cs := &countingSigner{Signer: k}
		f.signers[id] = cs
		keys[id] = cs
		dir[id] = &Credential{ID: id, Owner: owner, Key: keyType, SCAL: scal, Ref: hsm.KeyRef{Label: id}, Chain: []*x509.Certificate{selfSigned(t, k, id)}}
	}
	add("alice-rsa", "alice", "RSA-2048", 1, rk)
	add("alice-ec", "alice", "EC-P256", 1, ek)
	add("alice-qes", "alice", "RSA-2048", 2, rk)
	add("bob-rsa", "bob", "RSA-2048", 1, rk)
	f.svc, err = New(Config{Keys: keys, Directory: dir, MaxDocuments: 3,
		Clock: func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) calls() int64 {
	var n int64
	for _, s := range f.signers {
		n += s.calls.Load()
	}
	return n
}

var alice = Caller{User: "alice", Via: "token"}

const invoice = `<inv:Invoice xmlns:inv="urn:example:invoice"><inv:ID>42</inv:ID><inv:Total>10.00</inv:Total></inv:Invoice>`

func doc(id string) Document {
	return Document{ID: id, MimeType: "application/xml", Data: []byte(invoice)}
}

func TestSignPlacements(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		req    SignRequest
		ptr    bool
		nSigs  int
		nDocs  int
		levels []string
	}{
		{"enveloped xades", SignRequest{RequestID: "r1", Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}},
			Options: SignOptions{CredentialID: "alice-rsa", Placement: &Placement{WhichData: "d1", XPath: "/i:Invoice", Namespaces: map[string]string{"i": "urn:example:invoice"}, CreateEnveloped: true}}},
			true, 1, 1, []string{LevelBB}},
		{"enveloping xmldsig ec", SignRequest{Documents: []Document{doc("d1")},
			Options: SignOptions{CredentialID: "alice-ec", SignatureType: TypeXMLDSig, IncludeObjects: []IncludeObject{{WhichData: "d1", CreateReference: true}}}},
			false, 1, 0, nil},
		{"detached several documents", SignRequest{Documents: []Document{
			{ID: "a", RefURI: "urn:a", HasRefURI: true, Data: []byte("binary \x00 data")},
			{ID: "b", RefURI: "urn:b", HasRefURI: true, Data: []byte(invoice)},
			{ID: "c", Data: []byte("omitted RefURI")}},
			Options: SignOptions{CredentialID: "alice-rsa", SignatureAlgorithm: "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"}},
			false, 3, 0, []string{LevelBB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.svc.Sign(context.Background(), alice, &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.RequestID != tt.req.RequestID || resp.Result.Major != MajorSuccess {
				t.Fatalf("response %+v", resp.Result)
			}
			if len(resp.Signatures) != tt.nSigs || len(resp.DocumentsWithSignature) != tt.nDocs {
				t.Fatalf("%d signatures, %d documents; want %d, %d", len(resp.Signatures), len(resp.DocumentsWithSignature), tt.nSigs, tt.nDocs)
			}
			for i, s := range resp.Signatures {
				if s.WhichDoc != tt.req.Documents[i].ID {
					t.Errorf("signature %d WhichDoc %q, want %q (request order)", i, s.WhichDoc, tt.req.Documents[i].ID)
				}
				if (s.Ptr != nil) != tt.ptr || (!tt.ptr && !bytes.Contains(s.Value, []byte("SignatureValue"))) {
					t.Errorf("signature %d: ptr %v value %d bytes", i, s.Ptr, len(s.Value))
				}
			}
			if strings.Join(resp.AppliedProfiles, ",") != strings.Join(tt.levels, ",") {
				t.Errorf("applied profiles %v, want %v", resp.AppliedProfiles, tt.levels)
			}
		})
	}
}

// TestSignRefused: every refused request gets its Kind and never reaches the signer.
func TestSignRefused(t *testing.T) {
	f := newFixture(t)
	env := func(o SignOptions) SignRequest {
		return SignRequest{Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}}, Options: o}
	}
	place := &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}
	tests := []struct {
		name   string
		caller Caller
		req    SignRequest
		want   Kind
	}{
		{"unsupported option", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa", Unsupported: []string{"Nonce"}}}, KindNotSupported},
		{"no documents", alice, SignRequest{Options: SignOptions{CredentialID: "alice-rsa"}}, KindMalformed},
		{"hash input without DigestInfos", alice, SignRequest{Hashes: []DocumentHash{{ID: "h"}}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindMalformed},
		{"too many documents", alice, SignRequest{Documents: []Document{doc("a"), doc("b"), doc("c"), doc("d")}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindLimit},
		{"unknown credential", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "nope"}}, KindKeyLookup},
		{"foreign credential", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "bob-rsa"}}, KindKeyLookup},
		{"no key selector with several credentials", alice, SignRequest{Documents: []Document{doc("d")}}, KindKeyLookup},
		{"scal2 without SAD", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-qes"}}, KindSADInvalid},
		{"claimed identity of someone else", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa", ClaimedIdentity: &ClaimedIdentity{Name: "bob"}}}, KindNotAuthenticated},
		{"unknown signature type", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa", SignatureType: "urn:ietf:rfc:3369"}}, KindNotSupported},
		{"level B-T not yet", alice, SignRequest{Profiles: []string{LevelBT}, Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"add timestamp not yet", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa", AddTimestamp: []string{TimestampRFC3161}}}, KindNotSupported},
		{"unknown profile", alice, SignRequest{Profiles: []string{"urn:example:profile"}, Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"sha1", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-rsa", SignatureAlgorithm: "http://www.w3.org/2000/09/xmldsig#rsa-sha1"}}, KindNotSupported},
		{"algorithm for another key type", alice, SignRequest{Documents: []Document{doc("d")}, Options: SignOptions{CredentialID: "alice-ec", SignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}}, KindInappropriate},
		{"placement names no document", alice, env(SignOptions{CredentialID: "alice-rsa", Placement: &Placement{WhichData: "zz", XPath: "/*", CreateEnveloped: true}}), KindDocumentNotFound},
		{"enveloped with external RefURI", alice, SignRequest{Documents: []Document{{ID: "d1", RefURI: "urn:x", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}}, Options: SignOptions{CredentialID: "alice-rsa", Placement: place}}, KindInvalidRefURI},
		{"enveloped binary", alice, SignRequest{Documents: []Document{{ID: "d1", MimeType: "application/pdf", Data: []byte("%PDF")}}, Options: SignOptions{CredentialID: "alice-rsa", Placement: place}}, KindInappropriate},
		{"two RefURIs omitted", alice, SignRequest{Documents: []Document{doc("a"), doc("b")}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindRefURIOmitted},
		{"detached with empty RefURI", alice, env(SignOptions{CredentialID: "alice-rsa"}), KindInvalidRefURI},
		{"DOCTYPE in document", alice, SignRequest{Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: []byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`)}}, Options: SignOptions{CredentialID: "alice-rsa", Placement: place}}, KindMalformed},
		{"not well-formed document", alice, SignRequest{Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: []byte(`<a><b></a>`)}}, Options: SignOptions{CredentialID: "alice-rsa", Placement: place}}, KindMalformed},
		{"xpath outside the subset", alice, env(SignOptions{CredentialID: "alice-rsa", Placement: &Placement{WhichData: "d1", XPath: "//inv:ID/following-sibling::*", CreateEnveloped: true}}), KindNotSupported},
		{"duplicate document ids", alice, SignRequest{Documents: []Document{doc("a"), doc("a")}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.calls()
			resp, err := f.svc.Sign(context.Background(), tt.caller, &tt.req)
			if err == nil || resp != nil {
				t.Fatalf("Sign succeeded: %+v", resp)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.want {
				t.Fatalf("error %v (kind %v), want kind %v", err, KindOf(err), tt.want)
			}
			if got := f.calls() - before; got != 0 {
				t.Errorf("a refused request reached the signer %d times", got)
			}
		})
	}
}

// TestSignC14NBound: the service gives the signer the bound on canonical bytes its verifier
// has (maxC14NBytes: four times the document size limit, at least 64 MiB), so a 70 KB document
// whose exclusive c14n repeats an 8 KiB namespace declaration 8 400 times (69 MB) is refused
// with LimitExceeded before the signer is called, and a signature it makes is one it verifies
// (decisions §44).
func TestSignC14NBound(t *testing.T) {
	f := newFixture(t)
	f.svc.maxBytes = 1 << 20 // the bound is then the least one, 64 MiB
	req := SignRequest{Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml",
		Data: []byte(`<a xmlns:p="urn:` + strings.Repeat("x", 8<<10) + `">` + strings.Repeat(`<p:x/>`, 8400) + `</a>`)}},
		Options: SignOptions{CredentialID: "alice-rsa", Placement: &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}}}
	before := f.calls()
	resp, err := f.svc.Sign(context.Background(), alice, &req)
	if resp != nil || KindOf(err) != KindLimit || !strings.Contains(err.Error(), "longer than 67108864 bytes") {
		t.Fatalf("Sign: %v (kind %v), want LimitExceeded naming 64 MiB", err, KindOf(err))
	}
	if r := ResultOf(err, "p"); r.Major != MajorRequesterError || r.Minor != MinorTooLarge {
		t.Errorf("result %+v, want RequesterError + LimitExceeded", r)
	}
	if got := f.calls() - before; got != 0 {
		t.Errorf("a refused request reached the signer %d times", got)
	}
}

// TestSignCorruptedSignature: a device that returns a wrong signature never produces a response.
func TestSignCorruptedSignature(t *testing.T) {
	f := newFixture(t)
	f.signers["alice-rsa"].flip = true
	resp, err := f.svc.Sign(context.Background(), alice, &SignRequest{Documents: []Document{doc("d")},
		Options: SignOptions{CredentialID: "alice-rsa", IncludeObjects: []IncludeObject{{WhichData: "d", CreateReference: true}}}})
	if err == nil || resp != nil {
		t.Fatal("a corrupted signature was returned")
	}
	if r := ResultOf(err, "p"); r.Major != MajorResponderError {
		t.Fatalf("result %+v, want ResponderError", r)
	}
}

// TestGuardIsVerifyingSigner: the signers every KeyManager hands out (hsm.Guard) tell
// dss/xades that they verify their signatures, so the self-check does not verify them again.
func TestGuardIsVerifyingSigner(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := hsm.Guard(k).(xades.VerifyingSigner); !ok {
		t.Fatal("hsm.Guard's signer is not a xades.VerifyingSigner")
	}
}
