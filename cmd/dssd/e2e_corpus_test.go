//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"golang.org/x/text/encoding/charmap"

	"dssd/dss/xades/interop"
)

// corpusDir returns a directory of the real-world corpus: $DSSD_CORPUS, or ../shared/corpus
// beside the repository root. Without it the test is skipped with one line.
func corpusDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("DSSD_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	dir = filepath.Join(dir, sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s (set DSSD_CORPUS); skipping", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// corpusMode is one way of signing a corpus document.
type corpusMode struct {
	name, cred, sigType, placement string
}

var corpusModes = []corpusMode{
	{"xades-enveloped-rsa", "alice-rsa", "http://uri.etsi.org/01903/v1.3.2#", "enveloped"},
	{"xades-enveloped-ec", "alice-ec", "http://uri.etsi.org/01903/v1.3.2#", "enveloped"},
	{"xmldsig-enveloping", "alice-rsa", "urn:ietf:rfc:3275", "enveloping"},
	{"xmldsig-detached", "alice-ec", "urn:ietf:rfc:3275", "detached"},
}

// corpusSignRequest is a SignRequest for doc in mode m (detached: referenced as refURI).
func corpusSignRequest(m corpusMode, doc []byte, refURI string) string {
	d := `<dss2:Document ID="doc-1"`
	opt := `<dss2:SignatureType>` + m.sigType + `</dss2:SignatureType><dss2:KeySelector><dss2:KeyName>` + m.cred + `</dss2:KeyName></dss2:KeySelector>`
	switch m.placement {
	case "enveloped":
		d += ` RefURI=""`
		opt += `<dss2:SignaturePlacement WhichData="doc-1"><dss2:XPathFirstChildOf>/*</dss2:XPathFirstChildOf></dss2:SignaturePlacement>`
	case "enveloping":
		opt += `<dss2:IncludeObject WhichData="doc-1"/>`
	case "detached":
		d += ` RefURI="` + refURI + `"`
	}
	return `<dss2:SignRequest xmlns:dss2="` + nsDSS2 + `" xmlns:dsb="` + nsDSB + `" RequestID="corpus"><dss2:InputDocuments>` +
		d + `><dss2:Base64Data MimeType="application/xml"><dsb:Value>` + b64(doc) + `</dsb:Value></dss2:Base64Data></dss2:Document>` +
		`</dss2:InputDocuments><dss2:OptionalInputs>` + opt + `</dss2:OptionalInputs></dss2:SignRequest>`
}

// corpusCase is one signed corpus document.
type corpusCase struct {
	interop.Case
	input    string // the document signed
	envelope bool   // enveloped: compare with the input outside the signature
}

// TestCorpusDocuments signs every document of corpus/docs (Peppol, XRechnung, EN 16931, HL7
// CDA, SAML metadata, SOAP, SEPA, SUNAT in ISO-8859-1 and windows-1250, the EU LOTL) except the
// one with a DOCTYPE, which is refused by policy, in four modes: XAdES enveloped with RSA and
// with EC, XMLDSig enveloping and XMLDSig detached. Every signature is accepted by dssd's
// own POST /verify, by xmlsec1, by Apache Santuario and by the JDK (one JVM for all of them); every
// enveloped output equals its input outside the signature (exclusive c14n with comments,
// computed by lxml) and keeps the input's encoding and XML declaration byte for byte.
func TestCorpusDocuments(t *testing.T) {
	dir := corpusDir(t, "docs")
	interop.Require(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import lxml").Run(); err != nil {
		t.Fatalf("python3-lxml is needed (bash .ci/deps.sh test): %v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) < 40 {
		t.Fatalf("corpus/docs holds %d documents (%v)", len(files), err)
	}
	s := start(t)
	tok := s.token("alice")
	status := map[string][][]byte{"alice-rsa": devStatus(t, s, "alice-rsa"), "alice-ec": devStatus(t, s, "alice-ec")}
	certs := map[string]string{"alice-rsa": s.certFile(t, "alice-rsa"), "alice-ec": s.certFile(t, "alice-ec")}
	work := t.TempDir()
	started := time.Now()

	var mu sync.Mutex
	var cases []corpusCase
	doctypes := 0
	t.Run("sign", func(t *testing.T) {
		for _, f := range files {
			name := filepath.Base(f)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				doc, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(doc, []byte("<!DOCTYPE")) {
					_, raw := s.send(t, viaPOST, tok, corpusSignRequest(corpusModes[0], doc, ""))
					_, r := parseResponse(t, raw)
					if r.ok() || !strings.Contains(r.message, "policy") {
						t.Errorf("a DOCTYPE must be refused by policy: %+v", r)
					}
					mu.Lock()
					doctypes++
					mu.Unlock()
					return
				}
				for _, m := range corpusModes {
					out := corpusSign(t, s, tok, m, doc, name)
					path := filepath.Join(work, m.name+"-"+name)
					if err := os.WriteFile(path, out, 0o600); err != nil {
						t.Fatal(err)
					}
					c := corpusCase{input: f, envelope: m.placement == "enveloped", Case: interop.Case{
						Name: m.name + "/" + name, File: path, Cert: certs[m.cred], XAdES: strings.Contains(m.sigType, "etsi"),
					}}
					req := verifyReq{ocsp: status[m.cred]}
					switch m.placement {
					case "enveloped":
						req.docs = []string{docElem("doc-1", "", out)}
					case "enveloping":
						req.signature = out
					case "detached":
						req.signature = out
						req.docs = []string{docElem("data", name, doc)}
						c.Detached = map[string]string{name: f}
					}
					_, raw := s.post(t, "/verify", "application/xml", tok, []byte(req.xml()))
					if _, r := parseResponse(t, raw); r.major != majorSuccessURI || r.minor != minorValidAll {
						t.Errorf("%s: dssd: %s / %s: %s", c.Name, r.major, r.minor, r.message)
					}
					mu.Lock()
					cases = append(cases, c)
					mu.Unlock()
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	if doctypes != 1 || len(cases) != 4*(len(files)-1) {
		t.Fatalf("%d documents with a DOCTYPE, %d signatures for %d documents", doctypes, len(cases), len(files))
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	signedIn := time.Since(started)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// xmlsec1, two at a time, while Santuario and the JDK check them all in one JVM.
	xs := make([]interop.Verdict, len(cases))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				xs[i] = interop.Xmlsec1(ctx, cases[i].Case)
			}
		}()
	}
	ic := make([]interop.Case, len(cases))
	for i := range cases {
		ic[i] = cases[i].Case
	}
	var san map[string][]interop.Verdict
	var sanErr error
	done := make(chan struct{})
	go func() { san, sanErr = interop.SantuarioAndJDK(ctx, ic); close(done) }()
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	<-done
	if sanErr != nil {
		t.Fatal(sanErr)
	}
	for i, c := range cases {
		if !xs[i].OK {
			t.Errorf("%s: %v", c.Name, xs[i])
		}
		for _, v := range san[c.Name] {
			if !v.OK {
				t.Errorf("%s: %v", c.Name, v)
			}
		}
	}
	compareOutsideSignature(t, work, cases)
	t.Logf("%d documents, %d signatures: signed and verified by dssd in %v, all checks in %v",
		len(files), len(cases), signedIn.Round(time.Second), time.Since(started).Round(time.Second))
}

// corpusSign signs doc on the server in mode m and returns the signed output.
func corpusSign(t *testing.T, s *server, tok string, m corpusMode, doc []byte, name string) []byte {
	t.Helper()
	status, raw := s.send(t, viaPOST, tok, corpusSignRequest(m, doc, name))
	root, r := parseResponse(t, raw)
	if status != 200 || !r.ok() {
		t.Fatalf("%s: sign: HTTP %d %s / %s: %s", m.name, status, r.major, r.minor, r.message)
	}
	v := find(root, nsDSB, "Value")
	if v == nil {
		t.Fatalf("%s: no signed output", m.name)
	}
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v.Text()), ""))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// c14nCompare is run by /usr/bin/python3 with lxml on a manifest of input, output pairs: the
// output, with the one ds:Signature the input did not have taken out (its tail text kept),
// must have the exclusive canonical form with comments of the input, the same declared
// encoding, and the same byte order mark and XML declaration bytes.
const c14nCompare = `
import sys
from lxml import etree
DS = "http://www.w3.org/2000/09/xmldsig#"
def head(b):
    bom = b""
    for m in (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe"):
        if b.startswith(m):
            bom = m
    rest = b[len(bom):]
    end = rest.find(b"?>") if rest.startswith(b"<?xml") else -1
    return bom, rest[:end + 2] if end >= 0 else b""
def sigs(doc):
    return doc.getroot().xpath("//ds:Signature", namespaces={"ds": DS})
for line in open(sys.argv[1], encoding="utf-8"):
    name, inp, out = line.rstrip("\n").split("\t")
    try:
        p = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        a, b = etree.parse(inp, p), etree.parse(out, p)
        old = {id(x) for x in sigs(a)}
        new = [x for x in sigs(b) if x.get("Id", "").startswith("sig-")]
        if len(new) != 1:
            raise Exception("%d new signatures" % len(new))
        s = new[0]
        parent, prev, tail = s.getparent(), s.getprevious(), s.tail or ""
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
        parent.remove(s)
        ca = etree.tostring(a, method="c14n", exclusive=True, with_comments=True)
        cb = etree.tostring(b, method="c14n", exclusive=True, with_comments=True)
        if ca != cb:
            raise Exception("the document differs outside the signature")
        if (a.docinfo.encoding or "").lower() != (b.docinfo.encoding or "").lower():
            raise Exception("encoding %s became %s" % (a.docinfo.encoding, b.docinfo.encoding))
        ra, rb = open(inp, "rb").read(), open(out, "rb").read()
        ha, hb = head(ra), head(rb)
        if ha[0] not in (b"", b"\xef\xbb\xbf") and ha[0] != hb[0] or ha[1] != hb[1]:
            raise Exception("declaration %r became %r" % (ha, hb))
        print("OK\t%s\t%s" % (name, a.docinfo.encoding))
    except Exception as e:
        print("FAIL\t%s\t%s" % (name, e))
`

func compareOutsideSignature(t *testing.T, work string, cases []corpusCase) {
	t.Helper()
	var man strings.Builder
	n := 0
	for _, c := range cases {
		if c.envelope {
			fmt.Fprintf(&man, "%s\t%s\t%s\n", c.Name, c.input, c.File)
			n++
		}
	}
	manifest := filepath.Join(work, "c14n-manifest.tsv")
	script := filepath.Join(work, "c14n-compare.py")
	if err := os.WriteFile(manifest, []byte(man.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(c14nCompare), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", script, manifest).CombinedOutput()
	if err != nil {
		t.Fatalf("c14n comparison: %v\n%s", err, out)
	}
	ok, encodings := 0, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		switch {
		case len(f) == 3 && f[0] == "OK":
			ok++
			encodings[strings.ToLower(f[2])]++
		default:
			t.Errorf("c14n comparison: %s", line)
		}
	}
	if ok != n {
		t.Errorf("%d of %d enveloped outputs equal their input outside the signature", ok, n)
	}
	if encodings["iso-8859-1"] == 0 || encodings["windows-1250"] == 0 {
		t.Errorf("the corpus should hold ISO-8859-1 and windows-1250 documents: %v", encodings)
	}
	t.Logf("enveloped outputs equal to their inputs outside the signature: %d (encodings %v)", ok, encodings)
}

// TestCorpusSUNATPlacement signs the SUNAT invoice and debit note of the corpus through the CLI
// with a prefixed placement XPath (--ns): the signature lands in the second
// ext:UBLExtension/ext:ExtensionContent, as the UBL profiles of SUNAT, DIAN and ZATCA require,
// and xmlsec1 accepts it. The debit note is ISO-8859-1 and comes back in ISO-8859-1.
func TestCorpusSUNATPlacement(t *testing.T) {
	dir := corpusDir(t, "docs")
	interop.Require(t)
	s := start(t)
	const nsExt = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
	for _, tc := range []struct{ file, root, ns, decl string }{
		{"sunat-invoice-anticipos-extcontent.xml", "Invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", `<?xml version="1.0" encoding="utf-8"?>`},
		{"sunat-debitnote-iso-8859-1.xml", "DebitNote", "urn:oasis:names:specification:ubl:schema:xsd:DebitNote-2", `<?xml version="1.0" encoding="ISO-8859-1" standalone="no"?>`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sunat.signed.xml")
			cmd := exec.Command(s.cli, "sign", "--dev", "--dev-dir", s.devDir, "--credential", "alice-rsa",
				"--xpath", "/d:"+tc.root+"/ext:UBLExtensions/ext:UBLExtension[2]/ext:ExtensionContent",
				"--ns", "d="+tc.ns, "--ns", "ext="+nsExt, "--out", out, filepath.Join(dir, tc.file))
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("dss sign: %v\n%s", err, b)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte(tc.decl)) {
				t.Errorf("the output starts with %q, want the input's declaration %s", raw[:min(len(raw), 60)], tc.decl)
			}
			signed := etree.NewDocument()
			signed.ReadSettings.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
				if !strings.EqualFold(label, "ISO-8859-1") {
					return nil, fmt.Errorf("unexpected encoding %s", label)
				}
				return charmap.ISO8859_1.NewDecoder().Reader(r), nil
			}
			if err := signed.ReadFromBytes(raw); err != nil {
				t.Fatal(err)
			}
			exts := signed.Root().FindElements("./ext:UBLExtensions/ext:UBLExtension")
			if len(exts) != 2 {
				t.Fatalf("%d UBLExtension elements", len(exts))
			}
			content := exts[1].SelectElement("ext:ExtensionContent")
			if content == nil || len(content.ChildElements()) == 0 {
				t.Fatal("no ExtensionContent in the second UBLExtension")
			}
			sig := content.ChildElements()[0]
			if sig.Tag != "Signature" || sig.NamespaceURI() != "http://www.w3.org/2000/09/xmldsig#" {
				t.Fatalf("the first child of the second ExtensionContent is %s:%s", sig.Space, sig.Tag)
			}
			n := 0
			for _, e := range signed.FindElements("//Signature") { // cac:Signature is UBL's, not a signature
				if e.NamespaceURI() == "http://www.w3.org/2000/09/xmldsig#" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d ds:Signature elements in the output", n)
			}
			v := interop.Xmlsec1(context.Background(), interop.Case{Name: "sunat", File: out, Cert: s.certFile(t, "alice-rsa"), XAdES: true})
			if !v.OK {
				t.Errorf("xmlsec1: %v", v)
			}
		})
	}
}
