package main

// Large documents (issue 11): time and peak memory of signing (XAdES B-B enveloped, with the
// self-check dssd runs on every signature) and verifying documents of several sizes, each in
// its own child process so that its peak resident set (VmHWM) is its own, and the peak memory
// per MiB of document, the slope between the smallest and the largest invoice. The SAML
// aggregate of 10 000 entities is built from the corpus metadata when the corpus is there.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dssd/dss/verify"
	"dssd/dss/xades"
	"dssd/dss/xmlsafe"
)

// BigDoc is one large-document point.
type BigDoc struct {
	Name          string  `json:"name"`
	Bytes         int64   `json:"bytes"`
	Elements      int     `json:"elements"`
	SignSeconds   float64 `json:"sign_seconds"`   // xades.Sign: gate, tree, c14n, serialization
	CheckSeconds  float64 `json:"check_seconds"`  // xades.Check: the self-check of every signature
	VerifySeconds float64 `json:"verify_seconds"` // verify.Verify of the signed document
	Indication    string  `json:"indication"`
	CPUSeconds    float64 `json:"cpu_seconds"`  // user and system CPU of the child (the machine is shared)
	PeakRSSMiB    float64 `json:"peak_rss_mib"` // VmHWM of the child process
	Error         string  `json:"error,omitempty"`
}

// BigDocs are the large-document points and the slope of peak memory.
type BigDocs struct {
	Points        []BigDoc `json:"points"`
	PeakMiBPerMiB float64  `json:"peak_rss_mib_per_document_mib"` // between the smallest and largest invoice
}

// bigDocKinds are the documents measured: synthetic invoices of 1, 16 and 64 MiB (64 MiB is
// the default limits.max_document_bytes) and the SAML aggregate.
var bigDocKinds = []string{"invoice:1", "invoice:16", "invoice:64", "saml:10000"}

func bigDocBench(ctx context.Context, o options, logf func(string, ...any)) (*BigDocs, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out := &BigDocs{}
	for _, kind := range bigDocKinds {
		logf("large document %s (child process)", kind)
		cmd := exec.CommandContext(ctx, self, "-bigdoc-child", kind, "-repo", o.repo)
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		var p BigDoc
		if jerr := json.Unmarshal(bytes.TrimSpace(b), &p); jerr != nil {
			p = BigDoc{Name: kind, Error: fmt.Sprintf("child: %v %v", err, jerr)}
		}
		out.Points = append(out.Points, p)
	}
	first, last := out.Points[0], out.Points[2]
	if first.Error == "" && last.Error == "" && last.Bytes > first.Bytes {
		out.PeakMiBPerMiB = (last.PeakRSSMiB - first.PeakRSSMiB) / (float64(last.Bytes-first.Bytes) / (1 << 20))
	}
	return out, nil
}

// bigDocChild runs one point in this process and prints it as JSON.
func bigDocChild(kind, repo string) error {
	name, arg, _ := strings.Cut(kind, ":")
	n, err := strconv.Atoi(arg)
	if err != nil {
		return err
	}
	var doc []byte
	switch name {
	case "invoice":
		doc = bigInvoice(int64(n) << 20)
	case "saml":
		if doc, err = samlAggregate(repo, n); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown document kind %q", kind)
	}
	p := BigDoc{Name: kind, Bytes: int64(len(doc)), Elements: bytes.Count(doc, []byte("<")) - bytes.Count(doc, []byte("</"))}
	// The size limit is the document's size rounded up to 64 MiB steps: the SAML aggregate of
	// 10 000 entities is above the default limit, which is configurable.
	maxBytes := max(int64(xmlsafe.DefaultMaxDocumentBytes), (p.Bytes+(64<<20)-1)/(64<<20)*(64<<20))
	if err := signAndVerify(doc, maxBytes, &p); err != nil {
		p.Error = err.Error()
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		p.CPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	p.PeakRSSMiB = vmHWM()
	return json.NewEncoder(os.Stdout).Encode(p)
}

func signAndVerify(doc []byte, maxBytes int64, p *BigDoc) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dssbench large documents"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	obj := xades.Object{Data: doc, XML: true}
	params := xades.Params{Type: xades.TypeXAdES, Packaging: xades.Enveloped, SignatureMethod: xades.RSASHA256,
		Signer: key, Chain: []*x509.Certificate{cert}, SigningTime: time.Now(), SignatureID: "sig-big", MaxDocumentBytes: maxBytes}
	t0 := time.Now()
	signed, err := xades.Sign(obj, params)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	p.SignSeconds = time.Since(t0).Seconds()
	t0 = time.Now()
	if err := xades.Check(signed, obj, cert); err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	p.CheckSeconds = time.Since(t0).Seconds()
	v, err := verify.New(verify.Config{Anchors: []*x509.Certificate{cert},
		// A deployment that verifies documents of this size raises verify.max_nodes and
		// verify.max_c14n_nodes, whose defaults hold a VerifyRequest under 1 s of CPU.
		Limits: verify.Limits{Document: verify.DocumentLimitsFor(maxBytes), MaxC14NBytes: 4 * maxBytes,
			MaxNodes: maxBytes, MaxC14NNodes: 4 * maxBytes}})
	if err != nil {
		return err
	}
	t0 = time.Now()
	rep, err := v.Verify(context.Background(), verify.Input{Signature: signed.Document})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	p.VerifySeconds = time.Since(t0).Seconds()
	if len(rep.Signatures) != 1 {
		return fmt.Errorf("verify: %d signatures", len(rep.Signatures))
	}
	r := rep.Signatures[0]
	p.Indication = string(r.Indication)
	if r.SubIndication != "" {
		p.Indication += "/" + string(r.SubIndication)
	}
	// The anchor is the signer itself and no revocation source is given: what is measured is
	// the document work (gate, tree, references, canonicalization); the signature and its
	// references must be intact.
	if r.Indication != verify.TotalPassed && r.SubIndication != "TRY_LATER" && r.SubIndication != "REVOCATION_OUT_OF_BOUNDS_NO_POE" {
		return fmt.Errorf("verify: %s/%s: %s", r.Indication, r.SubIndication, r.Detail)
	}
	return nil
}

// bigInvoice is a namespaced invoice of about size bytes (lines of about 150 bytes).
func bigInvoice(size int64) []byte {
	var b bytes.Buffer
	b.Grow(int(size) + 512)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<inv:Invoice xmlns:inv="urn:example:invoice" Id="invoice-1">` + "\n")
	for i := 0; int64(b.Len()) < size-200; i++ {
		fmt.Fprintf(&b, `  <inv:Line n="%d" sku="SKU-%07d"><inv:Desc xml:lang="en">Widget %d &amp; co</inv:Desc><inv:Price currency="EUR">12.50</inv:Price></inv:Line>`+"\n", i, i, i)
	}
	b.WriteString("</inv:Invoice>\n")
	return b.Bytes()
}

var entityStart = regexp.MustCompile(`<EntityDescriptor[\s>]`)

// samlAggregate builds a SAML metadata aggregate of n entities from the corpus aggregate
// (saml-aaitest-aggregate.xml, about 300 entities): its entities repeated in turn, each copy
// with its own entityID and ID values, inside the original EntitiesDescriptor.
func samlAggregate(repo string, n int) ([]byte, error) {
	dir := os.Getenv("DSSD_CORPUS")
	if dir == "" {
		dir = filepath.Join(repo, "..", "shared", "corpus")
	}
	src, err := os.ReadFile(filepath.Join(dir, "docs", "saml-aaitest-aggregate.xml"))
	if err != nil {
		return nil, fmt.Errorf("corpus not found (set DSSD_CORPUS): %w", err)
	}
	const end = "</EntityDescriptor>"
	locs := entityStart.FindAllIndex(src, -1)
	if len(locs) == 0 {
		return nil, errors.New("no EntityDescriptor in the corpus aggregate")
	}
	var entities [][]byte
	for _, l := range locs {
		e := bytes.Index(src[l[0]:], []byte(end))
		if e < 0 {
			return nil, errors.New("unterminated EntityDescriptor")
		}
		entities = append(entities, src[l[0]:l[0]+e+len(end)])
	}
	head := src[:locs[0][0]]
	lastEnd := locs[len(locs)-1][0] + len(entities[len(entities)-1])
	tail := src[lastEnd:]
	var b bytes.Buffer
	b.Write(head)
	for i := range n {
		e := entities[i%len(entities)]
		if i >= len(entities) {
			round := []byte("-" + strconv.Itoa(i/len(entities)))
			e = bytes.Replace(e, []byte(`entityID="`), []byte(`entityID="copy`+string(round)+`:`), 1)
			e = bytes.ReplaceAll(e, []byte(` ID="`), append([]byte(` ID="c`), append(round, '-')...))
		}
		b.Write(e)
		b.WriteString("\n")
	}
	b.Write(tail)
	return b.Bytes(), nil
}

func printBigDocs(w io.Writer, b *BigDocs) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\nlarge documents (XAdES B-B enveloped, RSA-2048 key in process; one child process each)\n")
	fmt.Fprintf(w, "%-12s %10s %10s %8s %8s %8s %8s %10s  %s\n", "document", "MiB", "elements", "sign s", "check s", "verify s", "cpu s", "peak MiB", "verdict")
	for _, p := range b.Points {
		verdict := p.Indication
		if p.Error != "" {
			verdict = "ERROR " + p.Error
		}
		fmt.Fprintf(w, "%-12s %10.1f %10d %8.2f %8.2f %8.2f %8.2f %10.0f  %s\n", p.Name, float64(p.Bytes)/(1<<20), p.Elements,
			p.SignSeconds, p.CheckSeconds, p.VerifySeconds, p.CPUSeconds, p.PeakRSSMiB, verdict)
	}
	fmt.Fprintf(w, "peak memory per MiB of document (1 to 64 MiB invoices): %.1f MiB\n", b.PeakMiBPerMiB)
}

// vmHWM is the peak resident set of this process in MiB.
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
