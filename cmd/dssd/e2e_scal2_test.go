//go:build e2e

// End-to-end tests of signature activation (interface.md §5, hardening.md §6.6): SCAL2 signing
// through DSS-X with the SAD in ClaimedIdentity/SupportingInfo, the abuse cases of issue 4
// (each refused, audited and without a signature), PIN lockout, and hash signing.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
	"gopkg.in/yaml.v3"

	"dssd/dss"
	"dssd/dss/sad"
	"dssd/dss/store"
	"dssd/dss/xades/interop"
)

const (
	minorSADInvalid = "urn:dssd:resultminor:SADInvalid"
	minorKeyLookup  = "urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed"
	majorRequester  = "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError"
	sha256OID       = "2.16.840.1.101.3.4.2.1"
)

// target is one dssd reached over HTTPS, with the configuration it runs (for its store).
type target struct {
	url    string
	client *http.Client
	cfg    string // path of the node's dssd.yaml
}

func (s *server) target() target {
	return target{url: s.dev.URL, client: s.client, cfg: filepath.Join(s.devDir, "dssd.yaml")}
}

// qes is a scal 2 credential with its activation factors, read from dev.json.
type qes struct {
	id, pin, secret string
}

func (s *server) qes(t *testing.T, id string) qes {
	t.Helper()
	var dev struct {
		Users []struct {
			Credentials []struct {
				ID         string `json:"id"`
				PIN        string `json:"pin"`
				TOTPSecret string `json:"totp_secret"`
			} `json:"credentials"`
		} `json:"users"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(s.devDir, "dev.json")), &dev); err != nil {
		t.Fatal(err)
	}
	for _, u := range dev.Users {
		for _, c := range u.Credentials {
			if c.ID == id && c.PIN != "" && c.TOTPSecret != "" {
				return qes{id: id, pin: c.PIN, secret: c.TOTPSecret}
			}
		}
	}
	t.Fatalf("dev.json has no scal 2 credential %q with pin and totp_secret", id)
	return qes{}
}

// OTP bookkeeping: the server accepts each time step's code once per store (RFC 6238 §5.2),
// and one step of drift either way. Tests take steps nobody in this process used yet,
// preferring the previous and the next step (the CLI uses the current one).
var (
	otpMu   sync.Mutex
	otpUsed = map[string]bool{}
)

func freshOTP(t *testing.T, storeKey string, q qes) string {
	t.Helper()
	for {
		now := time.Now()
		if into := now.Unix() % 30; into < 2 || into > 27 {
			time.Sleep(3 * time.Second) // keep clear of a step boundary
			continue
		}
		otpMu.Lock()
		for _, off := range []int{-1, 1, 0} {
			at := now.Add(time.Duration(off) * 30 * time.Second)
			key := fmt.Sprintf("%s|%s|%d", storeKey, q.id, at.Unix()/30)
			if otpUsed[key] {
				continue
			}
			otpUsed[key] = true
			otpMu.Unlock()
			code, err := pqtotp.GenerateCodeCustom(q.secret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			return code
		}
		otpMu.Unlock()
		time.Sleep(time.Duration(30-now.Unix()%30+3) * time.Second)
	}
}

// authorize calls POST /csc/v2/credentials/authorize and returns the HTTP status and the
// JSON answer.
func (tg target) authorize(t *testing.T, token, cred string, hashes [][]byte, pin, code string) (int, map[string]any) {
	t.Helper()
	req := map[string]any{"credentialID": cred, "numSignatures": len(hashes), "hashAlgorithmOID": sha256OID, "PIN": pin, "OTP": code}
	var hs []string
	for _, h := range hashes {
		hs = append(hs, base64.StdEncoding.EncodeToString(h))
	}
	req["hashes"] = hs
	body, _ := json.Marshal(req)
	r, err := http.NewRequest(http.MethodPost, tg.url+"/csc/v2/credentials/authorize", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := tg.client.Do(r)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("authorize: HTTP %d, not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// mustAuthorize returns a SAD for hashes.
func (tg target) mustAuthorize(t *testing.T, token string, q qes, hashes ...[]byte) string {
	t.Helper()
	status, out := tg.authorize(t, token, q.id, hashes, q.pin, freshOTP(t, tg.cfg, q))
	tok, _ := out["SAD"].(string)
	exp, _ := out["expiresIn"].(float64)
	if status != http.StatusOK || tok == "" || exp < 1 || exp > 300 {
		t.Fatalf("authorize: HTTP %d %v", status, out)
	}
	return tok
}

// signPOST posts a bare DSS-X SignRequest to /sign.
func (tg target) signPOST(t *testing.T, token, body string) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, tg.url+"/sign", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/xml")
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := tg.client.Do(r)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// inDoc is one InputDocuments/Document.
type inDoc struct {
	id, refURI string
	data       []byte
}

// scal2Request is a SignRequest for detached XAdES signatures of docs with cred, carrying
// the SAD (when not empty) in ClaimedIdentity/SupportingInfo with Name user.
func scal2Request(id, cred, user, sadTok string, docs ...inDoc) string {
	var in strings.Builder
	for _, d := range docs {
		in.WriteString(`<dss2:Document ID="` + d.id + `" RefURI="` + d.refURI + `"><dss2:Base64Data MimeType="application/octet-stream"><dsb:Value>` +
			b64(d.data) + `</dsb:Value></dss2:Base64Data></dss2:Document>`)
	}
	ci := ""
	if sadTok != "" {
		ci = `<dss2:ClaimedIdentity><dss2:Name>` + user + `</dss2:Name><dss2:SupportingInfo MimeType="application/jwt"><dsb:Value>` +
			b64([]byte(sadTok)) + `</dsb:Value></dss2:SupportingInfo></dss2:ClaimedIdentity>`
	}
	return `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="` + id + `">` +
		`<dss2:InputDocuments>` + in.String() + `</dss2:InputDocuments>` +
		`<dss2:OptionalInputs><dss2:SignatureType>` + xadesURI + `</dss2:SignatureType>` + ci +
		`<dss2:KeySelector><dss2:KeyName>` + cred + `</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs></dss2:SignRequest>`
}

// hashRequest is a SignRequest for DocumentHash inputs (SHA-256 digests): raw signature
// values without sigType, detached XML signatures with it.
func hashRequest(id, cred, sigType, user, sadTok string, refURIs []string, digests ...[]byte) string {
	var in strings.Builder
	for i, d := range digests {
		ref := ""
		if i < len(refURIs) {
			ref = ` RefURI="` + refURIs[i] + `"`
		}
		fmt.Fprintf(&in, `<dss2:DocumentHash ID="h-%d"%s><dss2:DigestInfos><dsb:DigestMethod>%s</dsb:DigestMethod><dsb:DigestValue>%s</dsb:DigestValue></dss2:DigestInfos></dss2:DocumentHash>`,
			i+1, ref, "http://www.w3.org/2001/04/xmlenc#sha256", b64(d))
	}
	opts := ""
	if sigType != "" {
		opts = `<dss2:SignatureType>` + sigType + `</dss2:SignatureType>`
	}
	if sadTok != "" {
		opts += `<dss2:ClaimedIdentity><dss2:Name>` + user + `</dss2:Name><dss2:SupportingInfo MimeType="application/jwt"><dsb:Value>` +
			b64([]byte(sadTok)) + `</dsb:Value></dss2:SupportingInfo></dss2:ClaimedIdentity>`
	}
	return `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="` + id + `">` +
		`<dss2:InputDocuments>` + in.String() + `</dss2:InputDocuments>` +
		`<dss2:OptionalInputs>` + opts + `<dss2:KeySelector><dss2:KeyName>` + cred + `</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs></dss2:SignRequest>`
}

func sum(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

// auditRecords reads every audit record of the store a configuration names.
func auditRecords(t *testing.T, cfgPath string) []store.Record {
	t.Helper()
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStoreBackend(context.Background(), cfg, true)
	if err != nil {
		t.Fatalf("open the audit store: %v", err)
	}
	defer st.Close()
	var all []store.Record
	var after int64
	for {
		page, err := st.Records(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

// byRequestID returns the records whose RequestID is id.
func byRequestID(recs []store.Record, id string) []store.Record {
	var out []store.Record
	for _, r := range recs {
		if r.RequestID == id {
			out = append(out, r)
		}
	}
	return out
}

// noSecrets fails when a secret appears in text. Digit-only secrets (PINs, OTPs) count only
// as whole numbers, so that they are not found inside unrelated longer numbers.
func noSecrets(t *testing.T, where, text string, secrets map[string]string) {
	t.Helper()
	for name, s := range secrets {
		if s == "" {
			continue
		}
		found := strings.Contains(text, s)
		if regexp.MustCompile(`^[0-9]+$`).MatchString(s) {
			found = regexp.MustCompile(`(^|[^0-9])` + s + `([^0-9]|$)`).MatchString(text)
		}
		if found {
			t.Errorf("the %s appears in %s", name, where)
		}
	}
}

func recordsText(recs []store.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%+v\n", r.Event())
	}
	return b.String()
}

// TestSCAL2AbuseCases: SCAL2 signing through DSS-X works and verifies; each abuse case of
// issue 4 is refused with RequesterError, produces no signature and has its audit record.
func TestSCAL2AbuseCases(t *testing.T) {
	s := start(t)
	interop.Require(t)
	tg := s.target()
	alice, bob := s.token("alice"), s.token("bob")
	q := s.qes(t, "alice-qes")
	run := time.Now().UnixNano()

	docURI := "https://documents.example.org/contract-7"
	doc := inDoc{id: "doc-1", refURI: docURI, data: append([]byte("%PDF-1.7 contract "), bytes.Repeat([]byte{0, 0xfe, 'a'}, 64)...)}
	other := inDoc{id: "doc-2", refURI: "urn:other", data: []byte("a document the signer never saw")}
	tok := tg.mustAuthorize(t, alice, q, sum(doc.data))

	// An expired SAD, signed with the deployment's key (as a stolen, old SAD would be).
	key, err := os.ReadFile(filepath.Join(s.devDir, "secrets", "sad.key"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := sad.New(sad.Config{Key: bytes.TrimSpace(key), TTL: 5 * time.Minute, Clock: func() time.Time { return time.Now().Add(-6 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := old.Issue(sad.Grant{User: "alice", Credential: q.id, Hash: crypto.SHA256, Hashes: [][]byte{sum(doc.data)}})
	if err != nil {
		t.Fatal(err)
	}
	const garbage = "CANARY-GARBAGE-SAD.eyJub3QiOiJhIHNhZCJ9.c2lnbmF0dXJl"

	cases := []struct {
		name, user, token, sad string
		cred                   string
		docs                   []inDoc
		minor, action          string
	}{
		{"another user's credential", "bob", bob, tok, q.id, []inDoc{doc}, minorKeyLookup, dss.AuditKeyLookup},
		{"without SAD", "alice", alice, "", q.id, []inDoc{doc}, minorSADInvalid, dss.AuditSign},
		{"expired SAD", "alice", alice, expired, q.id, []inDoc{doc}, minorSADInvalid, dss.AuditSign},
		{"garbage SAD", "alice", alice, garbage, q.id, []inDoc{doc}, minorSADInvalid, dss.AuditSign},
		{"SAD for other hashes", "alice", alice, tok, q.id, []inDoc{other}, minorSADInvalid, dss.AuditSign},
		{"more signatures than authorised", "alice", alice, tok, q.id, []inDoc{doc, other}, minorSADInvalid, dss.AuditSign},
	}
	refused := map[string]string{} // request id → expected minor
	actions := map[string]string{}
	for i, c := range cases {
		id := fmt.Sprintf("scal2-%d-abuse-%d", run, i)
		var status int
		var raw []byte
		if i%2 == 0 {
			status, raw = s.send(t, viaSOAP12, c.token, scal2Request(id, c.cred, c.user, c.sad, c.docs...))
		} else {
			status, raw = tg.signPOST(t, c.token, scal2Request(id, c.cred, c.user, c.sad, c.docs...))
		}
		root, r := parseResponse(t, raw)
		if status != http.StatusOK || r.major != majorRequester || r.minor != c.minor {
			t.Errorf("%s: HTTP %d, %s %s (%s); want RequesterError %s", c.name, status, r.major, r.minor, r.message, c.minor)
		}
		if find(root, nsDSS2, "SignatureObject") != nil || find(root, nsDSS2, "Base64Signature") != nil {
			t.Errorf("%s: the refusal carries a signature", c.name)
		}
		refused[id], actions[id] = c.minor, c.action
	}

	// The legitimate request: signed, verifiable by the independent verifiers.
	okID := fmt.Sprintf("scal2-%d-ok", run)
	status, raw := s.send(t, viaSOAP12, alice, scal2Request(okID, q.id, "alice", tok, doc))
	root, r := parseResponse(t, raw)
	if status != http.StatusOK || !r.ok() {
		t.Fatalf("SCAL2 signing: HTTP %d, %s %s: %s", status, r.major, r.minor, r.message)
	}
	dir := t.TempDir()
	validateResponses(t, dir, []string{writeOut(t, filepath.Join(dir, "scal2.response.xml"), raw)})
	so := find(root, nsDSS2, "Base64Signature")
	if so == nil {
		t.Fatalf("no Base64Signature:\n%s", raw)
	}
	c := interop.Case{Name: "scal2-xades-detached", File: writeOut(t, filepath.Join(dir, "scal2.xml"), decodeValue(t, so)),
		Cert: s.certFile(t, q.id), XAdES: true, Alg: rsaSHA256,
		Detached: map[string]string{docURI: writeOut(t, filepath.Join(dir, "scal2.content"), doc.data)}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, []interop.Case{c})
	if err != nil {
		t.Fatalf("running the verifiers: %v", err)
	}
	judge(t, c, verdicts[c.Name], true)

	// Replayed SAD: the same request again.
	replayID := fmt.Sprintf("scal2-%d-replay", run)
	status, raw = tg.signPOST(t, alice, scal2Request(replayID, q.id, "alice", tok, doc))
	root, r = parseResponse(t, raw)
	if status != http.StatusOK || r.major != majorRequester || r.minor != minorSADInvalid || find(root, nsDSS2, "SignatureObject") != nil {
		t.Errorf("replayed SAD: HTTP %d, %s %s (%s)", status, r.major, r.minor, r.message)
	}
	refused[replayID], actions[replayID] = minorSADInvalid, dss.AuditSign

	// Authorizing another user's credential is refused and audited too.
	bobCode := freshOTP(t, tg.cfg, q)
	if st, out := tg.authorize(t, bob, q.id, [][]byte{sum(doc.data)}, q.pin, bobCode); st < 400 || st >= 500 || out["SAD"] != nil {
		t.Errorf("bob authorizing alice-qes: HTTP %d %v", st, out)
	}

	// Every request has exactly one audit record, with the right outcome.
	recs := auditRecords(t, tg.cfg)
	for id, minor := range refused {
		got := byRequestID(recs, id)
		if len(got) != 1 {
			t.Errorf("%s: %d audit records, want 1", id, len(got))
			continue
		}
		if g := got[0]; g.Major != majorRequester || g.Minor != minor || g.Action != actions[id] || g.Credential != q.id || len(g.Digests) == 0 {
			t.Errorf("%s: audit record %+v", id, g.Event())
		}
	}
	if got := byRequestID(recs, okID); len(got) != 1 || got[0].Major != dss.MajorSuccess || got[0].User != "alice" ||
		len(got[0].Digests) != 1 || got[0].Digests[0] != "sha256:"+fmt.Sprintf("%x", sum(doc.data)) {
		t.Errorf("the successful SCAL2 signature's audit records: %+v", got)
	}
	var bobAuth bool
	for _, rec := range recs {
		if rec.Action == dss.AuditKeyLookup && rec.User == "bob" && rec.Credential == q.id && rec.RequestID == "" {
			bobAuth = true
		}
	}
	if !bobAuth {
		t.Error("bob's authorization of alice-qes has no key-lookup audit record")
	}

	// No secret reached the log or the audit records (hardening.md R11).
	secrets := map[string]string{
		"PIN": q.pin, "TOTP secret": q.secret, "SAD": tok, "SAD payload": strings.Split(tok, ".")[1],
		"SAD signature": strings.Split(tok, ".")[2], "expired SAD": expired, "garbage SAD": garbage,
		"alice's token": alice, "bob's token": bob, "OTP": bobCode,
	}
	logText := string(readFile(t, filepath.Join(filepath.Dir(s.devDir), "dssd.log")))
	if !strings.Contains(logText, okID) {
		t.Fatal("the server log does not mention the request: the secret check would prove nothing")
	}
	noSecrets(t, "the server log", logText, secrets)
	noSecrets(t, "the audit records", recordsText(recs), secrets)
}

// TestSCAL2HashSigning: DocumentHash inputs give raw signature values (verified here with
// the certificate) and detached XML signatures over the given digest (verified by the
// independent verifiers against the content); a SCAL2 credential needs a SAD for them too.
func TestSCAL2HashSigning(t *testing.T) {
	s := start(t)
	interop.Require(t)
	tg := s.target()
	alice := s.token("alice")
	q := s.qes(t, "alice-qes")
	run := time.Now().UnixNano()
	content := []byte("content hashed by the client, never sent")
	h := sum(content)

	// Raw, SCAL2, with a SAD for the digest.
	tok := tg.mustAuthorize(t, alice, q, h)
	status, raw := tg.signPOST(t, alice, hashRequest(fmt.Sprintf("hash-%d-raw", run), q.id, "", "alice", tok, nil, h))
	root, r := parseResponse(t, raw)
	if status != http.StatusOK || !r.ok() {
		t.Fatalf("raw hash signing: HTTP %d %s %s: %s", status, r.major, r.minor, r.message)
	}
	so := find(root, nsDSS2, "Base64Signature")
	if so == nil || so.SelectAttrValue("MimeType", "") != "application/octet-stream" {
		t.Fatalf("raw signature value missing or with the wrong MimeType:\n%s", raw)
	}
	blk, _ := pem.Decode(readFile(t, s.certFile(t, q.id)))
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, h, decodeValue(t, so)); err != nil {
		t.Errorf("the raw signature value does not verify: %v", err)
	}
	// The same digest again without a SAD: refused.
	status, raw = tg.signPOST(t, alice, hashRequest(fmt.Sprintf("hash-%d-nosad", run), q.id, "", "", "", nil, h))
	if _, r := parseResponse(t, raw); status != http.StatusOK || r.minor != minorSADInvalid {
		t.Errorf("hash signing without SAD: HTTP %d %s", status, r.minor)
	}

	// Detached XMLDSig and XAdES over the digest (SCAL1 credentials), judged by the verifiers.
	dir := t.TempDir()
	contentFile := writeOut(t, filepath.Join(dir, "content.bin"), content)
	const uri = "https://documents.example.org/hashed"
	var cases []interop.Case
	var responses []string
	for _, v := range []struct{ cred, typ, alg string }{{"alice-rsa", dsigURI, rsaSHA256}, {"alice-ec", xadesURI, ecdsaSHA256}} {
		name := "hash-" + v.cred + "-" + map[string]string{dsigURI: "xmldsig", xadesURI: "xades"}[v.typ]
		status, raw := s.send(t, viaSOAP12, alice, hashRequest(fmt.Sprintf("%s-%d", name, run), v.cred, v.typ, "", "", []string{uri}, h))
		root, r := parseResponse(t, raw)
		if status != http.StatusOK || !r.ok() {
			t.Fatalf("%s: HTTP %d %s %s: %s", name, status, r.major, r.minor, r.message)
		}
		responses = append(responses, writeOut(t, filepath.Join(dir, name+".response.xml"), raw))
		so := find(root, nsDSS2, "Base64Signature")
		if so == nil {
			t.Fatalf("%s: no signature", name)
		}
		good := interop.Case{Name: name, File: writeOut(t, filepath.Join(dir, name+".xml"), decodeValue(t, so)),
			Cert: s.certFile(t, v.cred), XAdES: v.typ == xadesURI, Alg: v.alg, Detached: map[string]string{uri: contentFile}}
		bad := good
		bad.Name = "tampered-" + name
		bad.Detached = map[string]string{uri: writeOut(t, filepath.Join(dir, name+".other"), []byte("other content"))}
		cases = append(cases, good, bad)
	}
	validateResponses(t, dir, responses)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	verdicts, err := interop.VerifyAll(ctx, cases)
	if err != nil {
		t.Fatalf("running the verifiers: %v", err)
	}
	for _, c := range cases {
		judge(t, c, verdicts[c.Name], !strings.HasPrefix(c.Name, "tampered-"))
	}
}

// nodeConfig writes a copy of the development configuration with edit applied and returns
// its path. The copy shares the token, PKI and SAD key of the shared server.
func nodeConfig(t *testing.T, s *server, edit func(map[string]any)) string {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(readFile(t, filepath.Join(s.devDir, "dssd.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeOut(t, filepath.Join(t.TempDir(), "dssd.yaml"), b)
}

// TestSCAL2Lockout: wrong PINs until the credential locks; then even the right PIN and OTP
// are refused, also after a restart (the count lives in the store). A node of its own, with
// its own store, so that the shared server's alice-qes stays usable.
func TestSCAL2Lockout(t *testing.T) {
	s := start(t)
	q := s.qes(t, "alice-qes")
	alice := s.token("alice")
	dbPath := filepath.Join(t.TempDir(), "lockout.db")
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "sqlite", "path": dbPath}
	})
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
	tg := target{url: n.url, client: n.client, cfg: cfgPath}
	h := sum([]byte("lockout"))

	const limit = 5 // the default sad.max_failures
	code := freshOTP(t, tg.cfg, q)
	var wrongPINs []string
	for i := 1; i <= limit; i++ {
		wrong := fmt.Sprintf("CANARY-WRONG-PIN-%d", i)
		wrongPINs = append(wrongPINs, wrong)
		status, out := tg.authorize(t, alice, q.id, [][]byte{h}, wrong, code)
		if status != http.StatusBadRequest || out["SAD"] != nil {
			t.Fatalf("wrong PIN %d: HTTP %d %v", i, status, out)
		}
	}
	locked := func(when string) {
		status, out := tg.authorize(t, alice, q.id, [][]byte{h}, q.pin, freshOTP(t, tg.cfg, q))
		desc, _ := out["error_description"].(string)
		if status != http.StatusBadRequest || out["SAD"] != nil || !strings.Contains(desc, "locked") {
			t.Fatalf("right PIN on a locked credential %s: HTTP %d %v", when, status, out)
		}
	}
	locked("before a restart")
	n.stop(t)
	logs := n.logText()
	n = startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
	tg.client = n.client
	locked("after a restart")
	n.stop(t)
	logs += n.logText()

	recs := auditRecords(t, cfgPath)
	var wrong, lockedRecs int
	for _, r := range recs {
		if r.Action != dss.AuditAuthorize || r.Credential != q.id {
			continue
		}
		if r.Major != majorRequester || r.Minor != minorSADInvalid || r.User != "alice" {
			t.Errorf("authorize record %+v", r.Event())
		}
		switch {
		case strings.Contains(r.Detail, "wrong PIN"):
			wrong++
		case strings.Contains(r.Detail, "locked"):
			lockedRecs++
		}
	}
	if wrong != limit || lockedRecs != 2 {
		t.Errorf("audit: %d wrong-PIN and %d locked records, want %d and 2", wrong, lockedRecs, limit)
	}
	secrets := map[string]string{"PIN": q.pin, "OTP": code, "TOTP secret": q.secret, "alice's token": alice}
	for i, w := range wrongPINs {
		secrets[fmt.Sprintf("wrong PIN %d", i+1)] = w
	}
	noSecrets(t, "the audit records", recordsText(recs), secrets)
	noSecrets(t, "the node logs", logs, secrets)
}
