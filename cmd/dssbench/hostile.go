package main

// The hostile-input table (issue 10): the CPU one verification request costs for each attack
// of the issue and for documents at the ingress limits, measured in this process through
// dss/verify (the gate, the tree, the references, the containers, the certificates and the
// revocation data: what dssd's VerifyRequest runs after the SOAP layer), and how long a request
// keeps working after its deadline.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"dssd/dss/verify"
	"dssd/dss/xades"
)

// HostileRow is one attack of the table.
type HostileRow struct {
	Name         string  `json:"name"`
	InputBytes   int     `json:"input_bytes"`
	CPUms        float64 `json:"cpu_ms_per_request"` // median of the runs, user+system, this process
	WallMs       float64 `json:"wall_ms_per_request"`
	Outcome      string  `json:"outcome"`
	DeadlineMs   float64 `json:"deadline_ms"`           // the deadline of the timeout run
	OverrunMs    float64 `json:"after_deadline_ms"`     // how long the timeout run went on after its deadline
	DeadlineSeen string  `json:"outcome_with_deadline"` // what the timeout run answered
}

const hostileDeadline = 20 * time.Millisecond

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type hostileCase struct {
	name string
	in   verify.Input
}

// hostileBench builds every attack and measures runs requests of each.
func hostileBench(ctx context.Context, runs int, only string, logf func(string, ...any)) ([]HostileRow, error) {
	pki, err := newBenchPKI()
	if err != nil {
		return nil, err
	}
	cases, err := hostileCases(pki)
	if err != nil {
		return nil, err
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return nil, fmt.Errorf("-hostile-only: %w", err)
		}
		cases = slices.DeleteFunc(cases, func(c hostileCase) bool { return !re.MatchString(c.name) })
	}
	v, err := verify.New(verify.Config{Anchors: []*x509.Certificate{pki.ca}})
	if err != nil {
		return nil, err
	}
	var rows []HostileRow
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		row := HostileRow{Name: c.name, InputBytes: len(c.in.Signature), DeadlineMs: float64(hostileDeadline) / 1e6}
		var cpus, walls []float64
		for i := 0; i < runs; i++ {
			runtime.GC()
			c0, w0 := cpuNow(), time.Now()
			rep, err := v.Verify(ctx, c.in)
			cpus = append(cpus, float64(cpuNow()-c0)/1e6)
			walls = append(walls, float64(time.Since(w0))/1e6)
			row.Outcome = outcome(rep, err)
			if cpus[0] > 3000 {
				break // far over the target already: one run says enough, and keeps make bench short
			}
		}
		row.CPUms, row.WallMs = median(cpus), median(walls)
		// The same request with a deadline: how long does the work go on after it?
		runtime.GC()
		dctx, cancel := context.WithTimeout(ctx, hostileDeadline)
		start := time.Now()
		rep, err := v.Verify(dctx, c.in)
		cancel()
		row.OverrunMs = max(0, float64(time.Since(start)-hostileDeadline)/1e6)
		row.DeadlineSeen = outcome(rep, err)
		logf("  %-58s %8.1f ms CPU  (%s)", c.name, row.CPUms, row.Outcome)
		rows = append(rows, row)
	}
	return rows, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func outcome(rep *verify.Report, err error) string {
	if err != nil {
		msg := err.Error()
		if len(msg) > 90 {
			msg = msg[:90] + "..."
		}
		return "refused: " + msg
	}
	r := rep.Signatures[0]
	s := string(r.Indication)
	if r.SubIndication != "" {
		s += "/" + string(r.SubIndication)
	}
	if len(rep.Signatures) > 1 {
		s = fmt.Sprintf("%d signatures, first %s", len(rep.Signatures), s)
	}
	if len(r.UnsignedContent) > 0 {
		s += " + unsigned content reported"
	}
	return s
}

// benchPKI is a CA and a signer (ECDSA P-256, document signing) made for the run.
type benchPKI struct {
	ca, leaf *x509.Certificate
	caKey    *ecdsa.PrivateKey
	key      *ecdsa.PrivateKey
}

func newBenchPKI() (*benchPKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dssbench hostile CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	lT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dssbench hostile signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
	lDER, err := x509.CreateCertificate(rand.Reader, lT, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(lDER)
	return &benchPKI{ca: ca, leaf: leaf, caKey: caKey, key: key}, nil
}

func (p *benchPKI) sign(obj xades.Object, pkg xades.Packaging, id string) ([]byte, error) {
	s, err := xades.Sign(obj, xades.Params{Type: xades.TypeXAdES, Packaging: pkg, SignatureMethod: xades.ECDSASHA256,
		Signer: crypto.Signer(p.key), Chain: []*x509.Certificate{p.leaf, p.ca}, SigningTime: time.Now().Add(-time.Minute), SignatureID: id})
	if err != nil {
		return nil, err
	}
	if s.Document != nil {
		return s.Document, nil
	}
	return s.Signature, nil
}

// junkCRL is a CRL of about size bytes from an unrelated issuer.
func junkCRL(size int) ([]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	issuer := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "unrelated CRL issuer"},
		KeyUsage: x509.KeyUsageCRLSign, SubjectKeyId: []byte{1, 2, 3, 4}}
	var entries []x509.RevocationListEntry
	for i := 0; i < size/26; i++ { // about 26 bytes per entry
		entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(int64(1e12 + i)), RevocationTime: time.Unix(1.7e9, 0)})
	}
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour),
		NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, issuer, k)
}

// bogusSignature is an enveloped ds:Signature over URI="" with the given transforms XML; its
// digest and value are junk (the digest is computed, then found changed).
func bogusSignature(transforms string) string {
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	return `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + xades.ExcC14N + `"/><ds:SignatureMethod Algorithm="` + xades.ECDSASHA256 + `"/>` +
		`<ds:Reference URI=""><ds:Transforms>` + transforms + `</ds:Transforms>` +
		`<ds:DigestMethod Algorithm="` + xades.DigestSHA256 + `"/><ds:DigestValue>` + zero + `</ds:DigestValue></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue>` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `</ds:SignatureValue></ds:Signature>`
}

// bogusSignatureRefs is a ds:Signature with refs References over URI="" through transforms,
// each with the given digest value, and a junk signature value.
func bogusSignatureRefs(id, transforms string, refs int, digest []byte) string {
	var b strings.Builder
	b.WriteString(`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="` + id + `"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + xades.ExcC14N + `"/><ds:SignatureMethod Algorithm="` + xades.ECDSASHA256 + `"/>`)
	for i := 0; i < refs; i++ {
		b.WriteString(`<ds:Reference URI=""><ds:Transforms>` + transforms + `</ds:Transforms>` +
			`<ds:DigestMethod Algorithm="` + xades.DigestSHA256 + `"/><ds:DigestValue>` + base64.StdEncoding.EncodeToString(digest) + `</ds:DigestValue></ds:Reference>`)
	}
	b.WriteString(`</ds:SignedInfo><ds:SignatureValue>` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `</ds:SignatureValue></ds:Signature>`)
	return b.String()
}

const envelopedExc = `<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="` + xades.ExcC14N + `"/>`

func hostileCases(p *benchPKI) ([]hostileCase, error) {
	lim := verify.DefaultLimits()
	maxBytes := int(lim.Document.MaxBytes)
	var cases []hostileCase
	add := func(name string, doc []byte) {
		cases = append(cases, hostileCase{name: name, in: verify.Input{Signature: doc}})
	}

	// PrefixList: a million names over 3 000 elements.
	{
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < 3000; i++ {
			b.WriteString(`<e>t</e>`)
		}
		var names strings.Builder
		for i := 0; i < 1000000; i++ {
			fmt.Fprintf(&names, "p%d ", i)
		}
		b.WriteString(bogusSignature(`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="` + xades.ExcC14N + `">` +
			`<ec:InclusiveNamespaces xmlns:ec="` + xades.ExcC14N + `" PrefixList="` + names.String() + `"/></ds:Transform>`))
		b.WriteString(`</r>`)
		add("PrefixList of 1 000 000 names over 3 000 elements", []byte(b.String()))
	}
	// The same with the names repeated (deduplicated to 64 distinct ones, under the cap).
	{
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < 3000; i++ {
			b.WriteString(`<e>t</e>`)
		}
		names := strings.Repeat("p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 p11 p12 p13 p14 p15 p16 ", 60000)
		b.WriteString(bogusSignature(`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="` + xades.ExcC14N + `">` +
			`<ec:InclusiveNamespaces xmlns:ec="` + xades.ExcC14N + `" PrefixList="` + names + `"/></ds:Transform>`))
		b.WriteString(`</r>`)
		add("PrefixList of 960 000 repeated names over 3 000 elements", []byte(b.String()))
	}
	// 32 signatures and a 2 MB junk CRL.
	{
		var b bytes.Buffer
		b.WriteString(`<batch>`)
		for i := 0; i < 32; i++ {
			s, err := p.sign(xades.Object{ID: fmt.Sprintf("doc-%d", i), Data: []byte("payload")}, xades.Enveloping, fmt.Sprintf("sig-%d", i))
			if err != nil {
				return nil, err
			}
			if j := bytes.Index(s, []byte("?>")); bytes.HasPrefix(s, []byte("<?xml")) && j > 0 {
				s = s[j+2:]
			}
			b.Write(s)
		}
		b.WriteString(`</batch>`)
		crl, err := junkCRL(2 << 20)
		if err != nil {
			return nil, err
		}
		cases = append(cases, hostileCase{name: fmt.Sprintf("32 signatures + %.1f MB junk CRL", float64(len(crl))/(1<<20)),
			in: verify.Input{Signature: b.Bytes(), CRLs: [][]byte{crl}}})
	}
	// 5 000 elements × 255 attributes.
	{
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < 5000; i++ {
			b.WriteString(`<e`)
			for j := 0; j < 255; j++ {
				fmt.Fprintf(&b, ` a%d="v"`, j)
			}
			b.WriteString(`/>`)
		}
		b.WriteString(bogusSignature(envelopedExc))
		b.WriteString(`</r>`)
		add("5 000 elements x 255 attributes", []byte(b.String()))
	}
	// Container injections into a valid enveloped signature.
	{
		doc, err := p.sign(xades.Object{Data: []byte(`<invoice xmlns="urn:x"><amount>10.00</amount></invoice>`), XML: true}, xades.Enveloped, "sig-1")
		if err != nil {
			return nil, err
		}
		for _, tag := range []string{"<ds:KeyInfo>", "<ds:X509Data>", "<ds:Object>"} {
			i := bytes.Index(doc, []byte(tag))
			if i < 0 {
				return nil, fmt.Errorf("no %s in the signed document", tag)
			}
			j := i + len(tag)
			inj := append(append(append([]byte{}, doc[:j]...), `<amount>1000000.00</amount>`...), doc[j:]...)
			add("<amount> injected into "+strings.Trim(tag, "<>"), inj)
		}
	}
	// Ingress limits at their maximum.
	{
		n := lim.Document.MaxElements - 40
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < n; i++ {
			b.WriteString(`<e/>`)
		}
		b.WriteString(bogusSignature(envelopedExc))
		b.WriteString(`</r>`)
		add(fmt.Sprintf("%d elements (ingress element limit of 64 MiB; over the node limit)", n), []byte(b.String()))
	}
	{
		// As many empty elements as the verification node limit allows.
		n := int(lim.MaxNodes) - 100
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		b.WriteString(strings.Repeat(`<e/>`, n))
		b.WriteString(bogusSignature(envelopedExc))
		b.WriteString(`</r>`)
		add(fmt.Sprintf("%d elements (node limit)", n), []byte(b.String()))
	}
	{
		// Elements with text, the costliest node per byte, at the node limit.
		n := (int(lim.MaxNodes) - 100) / 2
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		b.WriteString(strings.Repeat(`<e>x</e>`, n))
		b.WriteString(bogusSignature(envelopedExc))
		b.WriteString(`</r>`)
		add(fmt.Sprintf("%d elements with text (node limit)", n), []byte(b.String()))
	}
	{
		depth := lim.Document.MaxDepth - 10
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		b.WriteString(bogusSignature(envelopedExc))
		for i := 0; i < depth; i++ {
			b.WriteString(`<e>`)
		}
		for i := 0; i < depth; i++ {
			b.WriteString(`</e>`)
		}
		b.WriteString(`</r>`)
		add(fmt.Sprintf("nesting %d deep (depth limit)", depth), []byte(b.String()))
	}
	{
		// As many bytes as the limit allows, in one text node covered by the reference.
		pad := maxBytes - 4096
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x"><t>`)
		b.WriteString(strings.Repeat("A", pad))
		b.WriteString(`</t>`)
		b.WriteString(bogusSignature(envelopedExc))
		b.WriteString(`</r>`)
		add(fmt.Sprintf("%.1f MB of text (size limit)", float64(pad)/(1<<20)), []byte(b.String()))
	}
	{
		// Namespace declarations at the in-scope cap, each used, under exclusive c14n.
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < lim.Document.MaxNSInScope-20; i++ {
			fmt.Fprintf(&b, `<n%d:e xmlns:n%d="urn:n%d">`, i%16, i%16, i)
		}
		b.WriteString(strings.Repeat(`<e a="1"/>`, 20000))
		for i := lim.Document.MaxNSInScope - 21; i >= 0; i-- {
			fmt.Fprintf(&b, `</n%d:e>`, i%16)
		}
		b.WriteString(bogusSignature(envelopedExc))
		b.WriteString(`</r>`)
		add(fmt.Sprintf("%d namespace declarations nested, 20 000 elements below", lim.Document.MaxNSInScope-20), []byte(b.String()))
	}
	{
		// XPath Filter 2.0 at its limits: 4 operations (the most one Reference may hold) over a
		// deep, wide tree.
		depth := lim.Document.MaxDepth - 10
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < depth; i++ {
			b.WriteString(`<e>`)
		}
		b.WriteString(strings.Repeat(`<f>x</f>`, lim.Document.MaxElements-depth-100))
		for i := 0; i < depth; i++ {
			b.WriteString(`</e>`)
		}
		xf := `<ds:Transform Algorithm="` + verify.TransformXPath2 + `">` +
			`<xf:XPath xmlns:xf="` + verify.TransformXPath2 + `" Filter="union">/</xf:XPath>` +
			`<xf:XPath xmlns:xf="` + verify.TransformXPath2 + `" Filter="subtract">/descendant::ds:Signature</xf:XPath>` +
			`<xf:XPath xmlns:xf="` + verify.TransformXPath2 + `" Filter="intersect">/descendant::*[name()='f']</xf:XPath>` +
			`<xf:XPath xmlns:xf="` + verify.TransformXPath2 + `" Filter="union">here()/ancestor::ds:Signature[1]</xf:XPath></ds:Transform>`
		b.WriteString(bogusSignature(xf))
		b.WriteString(`</r>`)
		add("XPath Filter 2.0: 4 operations over a deep and wide tree (ingress limits; over the node limit)", []byte(b.String()))
		// The same at the node limit.
		b.Reset()
		b.WriteString(`<r xmlns="urn:x">`)
		for i := 0; i < depth; i++ {
			b.WriteString(`<e>`)
		}
		b.WriteString(strings.Repeat(`<f>x</f>`, (int(lim.MaxNodes)-depth-200)/2))
		for i := 0; i < depth; i++ {
			b.WriteString(`</e>`)
		}
		b.WriteString(bogusSignature(xf))
		b.WriteString(`</r>`)
		add("XPath Filter 2.0: 4 operations over a deep and wide tree (node limit)", []byte(b.String()))
	}
	{
		// 32 signatures of 8 References each over the whole document through an XPath
		// filter that selects nothing: no output, so only the walk budget stops the walks
		// (their digests match: the digest of nothing).
		nothing := `<ds:Transform Algorithm="` + verify.TransformXPath2 + `"><xf:XPath xmlns:xf="` + verify.TransformXPath2 +
			`" Filter="intersect">/descendant::*[name()='none']</xf:XPath></ds:Transform>`
		empty := sha256.Sum256(nil)
		n := int(lim.MaxNodes) - 20000
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:x">`)
		b.WriteString(strings.Repeat(`<e/>`, n))
		for i := 0; i < lim.MaxSignatures; i++ {
			b.WriteString(bogusSignatureRefs(fmt.Sprintf("s%d", i), nothing, lim.MaxReferences, empty[:]))
		}
		b.WriteString(`</r>`)
		add(fmt.Sprintf("%d signatures x %d References walking %d elements through an empty XPath filter", lim.MaxSignatures, lim.MaxReferences, n), []byte(b.String()))
	}
	{
		// Inclusive c14n of elements whose parent is not written (an XPath filter selecting
		// every l): each renders every namespace in scope and looks up its inherited xml:*
		// attributes on 200 ancestors of 200 attributes (decisions §44: charged to the
		// canonicalization budget since).
		var b strings.Builder
		for d := 0; d < 200; d++ {
			b.WriteString(`<w`)
			if d == 0 {
				b.WriteString(` xmlns="urn:x"`)
			}
			for j := 0; j < 16 && d*16+j < lim.Document.MaxNSInScope-20; j++ {
				fmt.Fprintf(&b, ` xmlns:p%d="urn:%d"`, d*16+j, d*16+j)
			}
			for j := 0; j < 200; j++ {
				fmt.Fprintf(&b, ` a%d=""`, j)
			}
			b.WriteString(`>`)
		}
		b.WriteString(strings.Repeat(`<l/>`, 100000))
		b.WriteString(bogusSignature(`<ds:Transform Algorithm="` + verify.TransformXPath2 + `"><xf:XPath xmlns:xf="` + verify.TransformXPath2 +
			`" Filter="intersect">/descendant::*[name()='l']</xf:XPath></ds:Transform><ds:Transform Algorithm="` + xades.C14N11 + `"/>`))
		b.WriteString(strings.Repeat(`</w>`, 200))
		add("c14n 1.1 of 100 000 elements below 200 unwritten ancestors of 200 attributes", []byte(b.String()))
	}
	{
		// Exclusive c14n with a PrefixList of 64 prefixes, each bound again and again in scope:
		// every element of the node-set compares each binding found in the list with the later
		// ones (decisions §44: charged to the canonicalization budget since).
		var b strings.Builder
		n := lim.Document.MaxNSInScope - 20
		for k := 0; k < n; {
			b.WriteString(`<w`)
			for j := 0; j < 32 && k < n; j, k = j+1, k+1 {
				fmt.Fprintf(&b, ` xmlns:p%d="urn:%d"`, k%64, k)
			}
			b.WriteString(`>`)
		}
		b.WriteString(strings.Repeat(`<l/>`, 100000))
		names := make([]string, 64)
		for i := range names {
			names[i] = fmt.Sprintf("p%d", i)
		}
		b.WriteString(bogusSignature(`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="` + xades.ExcC14N + `">` +
			`<ec:InclusiveNamespaces xmlns:ec="` + xades.ExcC14N + `" PrefixList="` + strings.Join(names, " ") + `"/></ds:Transform>`))
		b.WriteString(strings.Repeat(`</w>`, (n+31)/32))
		add(fmt.Sprintf("exclusive c14n of 100 000 elements with %d bindings of a 64-prefix PrefixList in scope", n), []byte(b.String()))
	}
	return cases, nil
}
