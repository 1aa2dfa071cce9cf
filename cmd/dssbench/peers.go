package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// santuarioJars are Debian's libxml-security-java and what it needs at run time.
var santuarioJars = []string{
	"/usr/share/java/xmlsec.jar", "/usr/share/java/commons-codec.jar",
	"/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar",
}

// peerBench signs testdata/documents/invoice.xml with the peers, each in its own process with
// a software RSA-2048 key generated now, and checks one output of each with xmlsec1.
func peerBench(ctx context.Context, dir string, o options, logf func(string, ...any)) ([]PeerResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyFile, certFile, err := writeSoftKey(dir)
	if err != nil {
		return nil, err
	}
	doc := filepath.Join(o.repo, "testdata", "documents", "invoice.xml")
	var out []PeerResult

	// xadesjs, in one node process.
	script := filepath.Join(o.repo, "testdata", "verifiers", "xadesjs", "bench-sign.mjs")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "xadesjs")); err != nil {
		return nil, errors.New("xadesjs is not installed: run `bash .ci/deps.sh test` (npm ci in testdata/verifiers/xadesjs)")
	}
	xjOut := filepath.Join(dir, "xadesjs.xml")
	lines, err := runJSONLines(ctx, exec.CommandContext(ctx, "node", script, keyFile, certFile, doc,
		strconv.Itoa(o.peerN), strconv.Itoa(o.peerN/2), xjOut))
	if err != nil {
		return nil, fmt.Errorf("xadesjs: %w", err)
	}
	for _, l := range lines {
		p := PeerResult{Name: "xadesjs", What: "XAdES-BES enveloped (xadesjs 2.6.8, node, WebCrypto RSA), in process",
			N: l.N, Seconds: round(l.Seconds, 3), Rate: round(l.Rate, 1), Threads: 1}
		p.Verified, p.VerifierOutput, err = xmlsecVerify(ctx, xjOut, certFile, true)
		if err != nil {
			return nil, err
		}
		if !p.Verified {
			p.Note = "xmlsec1 rejects the SignedProperties digest: xadesjs omits the inherited xml:lang under inclusive C14N (toolchain.md §3); the work measured is the same"
		}
		out = append(out, p)
		logf("  xadesjs             %8.1f sig/s (verified by xmlsec1: %v)", p.Rate, p.Verified)
	}

	// Santuario, in one JVM, after a JIT warm-up of as many signatures as measured.
	for _, j := range santuarioJars {
		if _, err := os.Stat(j); err != nil {
			return nil, fmt.Errorf("%s is missing: apt-get install libxml-security-java libslf4j-java", j)
		}
	}
	src := filepath.Join(o.repo, "testdata", "bench", "santuario", "SignBench.java")
	lines, err = runJSONLines(ctx, exec.CommandContext(ctx, "java", "-cp", strings.Join(santuarioJars, ":"), src,
		keyFile, certFile, doc, strconv.Itoa(o.peerN), strconv.Itoa(o.peerN), dir))
	if err != nil {
		return nil, fmt.Errorf("santuario: %w", err)
	}
	for _, l := range lines {
		mode := strings.TrimPrefix(l.Peer, "santuario-")
		what := "XMLDSig enveloped, exclusive C14N (Santuario 2.1.7, JDK 17), in process after JIT warm-up"
		if mode == "xades" {
			what = "XMLDSig enveloped + hand-built XAdES SignedProperties (SigningTime, SigningCertificateV2) (Santuario 2.1.7), in process after JIT warm-up"
		}
		p := PeerResult{Name: l.Peer, What: what, N: l.N, Seconds: round(l.Seconds, 3), Rate: round(l.Rate, 1), Threads: 1}
		p.Verified, p.VerifierOutput, err = xmlsecVerify(ctx, filepath.Join(dir, "santuario-"+mode+".xml"), certFile, mode == "xades")
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		logf("  %-19s %8.1f sig/s (verified by xmlsec1: %v)", l.Peer, p.Rate, p.Verified)
	}

	// xmlsec1, one process per signature, on a template.
	tmpl, err := xmlsecTemplate(o.repo, dir)
	if err != nil {
		return nil, err
	}
	signedFile := filepath.Join(dir, "xmlsec1.xml")
	t0 := time.Now()
	for i := 0; i < o.xmlsecN; i++ {
		cmd := exec.CommandContext(ctx, "xmlsec1", "--sign", "--privkey-pem", keyFile+","+certFile, "--output", signedFile, tmpl)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("xmlsec1 --sign: %w: %s", err, lastLines(string(b), 3))
		}
	}
	secs := time.Since(t0).Seconds()
	p := PeerResult{Name: "xmlsec1", What: "XMLDSig enveloped on a template, one xmlsec1 1.2.37 process per signature",
		N: o.xmlsecN, Seconds: round(secs, 3), Rate: round(float64(o.xmlsecN)/secs, 1), Threads: 1}
	p.Verified, p.VerifierOutput, err = xmlsecVerify(ctx, signedFile, certFile, false)
	if err != nil {
		return nil, err
	}
	out = append(out, p)
	logf("  xmlsec1 (process)   %8.1f sig/s (verified by xmlsec1: %v)", p.Rate, p.Verified)
	return out, nil
}

type peerLine struct {
	Peer    string  `json:"peer"`
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
}

// runJSONLines runs a peer and decodes the JSON lines it prints on stdout.
func runJSONLines(ctx context.Context, cmd *exec.Cmd) ([]peerLine, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", cmd.Args[0], err, lastLines(stderr.String(), 5))
	}
	var out []peerLine
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var l peerLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			return nil, fmt.Errorf("%s printed %q: %w", cmd.Args[0], line, err)
		}
		if l.N <= 0 || l.Seconds <= 0 {
			return nil, fmt.Errorf("%s printed an empty measurement %q", cmd.Args[0], line)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s printed nothing: %s", cmd.Args[0], lastLines(stderr.String(), 5))
	}
	return out, ctx.Err()
}

// writeSoftKey writes a fresh RSA-2048 key (PKCS#8 PEM) and a self-signed certificate.
func writeSoftKey(dir string) (keyFile, certFile string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "dssbench peer signer"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	keyFile, certFile = filepath.Join(dir, "peer-key.pem"), filepath.Join(dir, "peer-cert.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	return keyFile, certFile, nil
}

// xmlsecTemplate inserts testdata/bench/xmlsec1/signature-template.xml as the first child of
// the invoice's document element (where dssd puts its signature) and returns the file.
func xmlsecTemplate(repo, dir string) (string, error) {
	doc, err := os.ReadFile(filepath.Join(repo, "testdata", "documents", "invoice.xml"))
	if err != nil {
		return "", err
	}
	sig, err := os.ReadFile(filepath.Join(repo, "testdata", "bench", "xmlsec1", "signature-template.xml"))
	if err != nil {
		return "", err
	}
	i := bytes.Index(doc, []byte("<inv:Invoice"))
	if i < 0 {
		return "", errors.New("invoice.xml has no <inv:Invoice element")
	}
	j := bytes.IndexByte(doc[i:], '>')
	if j < 0 {
		return "", errors.New("invoice.xml: unterminated document element")
	}
	at := i + j + 1
	out := append(append(append([]byte(nil), doc[:at]...), bytes.TrimSpace(sig)...), doc[at:]...)
	file := filepath.Join(dir, "xmlsec1-template.xml")
	return file, os.WriteFile(file, out, 0o600)
}
