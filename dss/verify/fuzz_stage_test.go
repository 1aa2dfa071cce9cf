package verify

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"dssd/dss/xades"
	"dssd/dss/xmlsafe"
)

// The stage fuzz targets run one stage of the validation of the first signature of the input
// (no certificate, no signature value, no revocation: no public-key operation), so that each
// reaches thousands of executions per second; FuzzVerify keeps the whole pipeline.

// stageVerifier is a Verifier for the stage targets (no anchors: nothing beyond the stages runs).
func stageVerifier(t testing.TB) *Verifier {
	v, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// stageCtx parses b and returns the context of its first signature, or nil when b is not a
// document the verifier would look at (a documented error).
func stageCtx(t *testing.T, v *Verifier, b []byte) *sigCtx {
	doc, err := xmlsafe.Parse(b, v.lim.Document)
	if err != nil || doc.Root() == nil {
		return nil
	}
	sigs := findSignatures(doc.Root(), nil)
	if len(sigs) == 0 {
		return nil
	}
	var work int64
	c := &sigCtx{v: v, ctx: context.Background(), doc: doc, ids: buildIDIndex(doc.Root()), sig: sigs[0], in: &Input{}, work: &work}
	c.res.ID = sigs[0].SelectAttrValue("Id", "")
	return c
}

// runStages runs the stages up to and including last ("digests" or "containers"), recovering
// nothing: a panic fails the target.
func runStages(c *sigCtx, last string) *verdict {
	for _, st := range []func() *verdict{c.structure, c.xadesLayout, c.resolve, c.digests} {
		if v := st(); v != nil {
			return v
		}
	}
	if last == "containers" {
		return c.containers()
	}
	return nil
}

func checkVerdict(t *testing.T, v *verdict) {
	if v != nil && (v.sub == "" || v.reason == "" || v.detail == "" || v.ind == TotalPassed) {
		t.Fatalf("incomplete verdict: %+v", v)
	}
}

func stageSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, p := range seedFiles(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	env := readSeed(f, "xades-enveloped-rsa.xml")
	// Transform shapes the stages accept, so that mutations start from them.
	out = append(out,
		bytes.Replace(env, []byte(`<ds:Transform Algorithm="`+xades.TransformEnveloped+`"/>`),
			[]byte(`<ds:Transform Algorithm="`+TransformXPath2+`"><xf:XPath xmlns:xf="`+TransformXPath2+`" Filter="subtract">here()/ancestor::ds:Signature[1]</xf:XPath></ds:Transform>`), 1),
		bytes.Replace(env, []byte(`<ds:Transform Algorithm="`+xades.TransformEnveloped+`"/>`),
			[]byte(`<ds:Transform Algorithm="`+TransformXPath+`"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>`), 1),
		bytes.Replace(env, []byte(`<ds:Transform Algorithm="`+xades.TransformEnveloped+`"/>`),
			[]byte(`<ds:Transform Algorithm="`+TransformXPath2+`"><xf:XPath xmlns:xf="`+TransformXPath2+`" Filter="intersect">id('d1')/node()</xf:XPath></ds:Transform>`), 1),
		bytes.Replace(env, []byte(`Algorithm="`+xades.ExcC14N+`"/></ds:Transforms>`),
			[]byte(`Algorithm="`+ExcC14NComments+`"><ec:InclusiveNamespaces xmlns:ec="`+xades.ExcC14N+`" PrefixList="ds #default a a b"/></ds:Transform></ds:Transforms>`), 1),
	)
	return out
}

func readSeed(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "verify", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReferences fuzzes reference resolution, transforms, canonicalization and digests.
// Oracles: no panic and complete verdicts on arbitrary documents; and on the valid seed
// signature with its signed text replaced by the fuzzed text, the digests match exactly when
// the text is unchanged: a change inside the data a Reference covers is always HASH_FAILURE.
func FuzzReferences(f *testing.F) {
	for i, s := range stageSeeds(f) {
		f.Add(s, []string{"signed content", "signed c0ntent", "", "a&b<c"}[i%4])
	}
	v := stageVerifier(f)
	env := readSeed(f, "xades-enveloped-rsa.xml")
	const orig = "signed content"
	if !bytes.Contains(env, []byte(">"+orig+"<")) {
		f.Fatal("the seed signature does not hold the expected text")
	}
	f.Fuzz(func(t *testing.T, doc []byte, text string) {
		if c := stageCtx(t, v, doc); c != nil {
			checkVerdict(t, runStages(c, "digests"))
		}
		var esc bytes.Buffer
		if err := xml.EscapeText(&esc, []byte(text)); err != nil {
			return
		}
		b := bytes.Replace(env, []byte(">"+orig+"<"), []byte(">"+esc.String()+"<"), 1)
		c := stageCtx(t, v, b)
		if c == nil {
			return // the gate refused the text (a character outside XML, say)
		}
		got := runStages(c, "digests")
		// The canonical text: XML normalizes CR LF and lone CR to LF when parsing.
		norm := strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
		switch {
		case norm == orig && got != nil:
			t.Fatalf("unchanged signed text, but %v", got)
		case norm != orig && (got == nil || got.sub != HashFailure):
			t.Fatalf("signed text changed to %q, but the digests say %v", text, got)
		}
	})
}

// containerOf names the container el sits directly in, or "" when it is none of those the
// container check guards.
func containerOf(el *etree.Element) string {
	p := el.Parent()
	if p == nil {
		return ""
	}
	switch {
	case is(p, xades.NSXMLDSig, "KeyInfo"), is(p, xades.NSXMLDSig, "X509Data"),
		is(p, xades.NSXAdES, "UnsignedProperties"), is(p, xades.NSXAdES, "UnsignedSignatureProperties"),
		is(p, xades.NSXAdES, "SignedProperties"), is(p, xades.NSXAdES, "SignedSignatureProperties"):
		return p.Tag
	case is(p, xades.NSXMLDSig, "Object"):
		for _, k := range p.ChildElements() {
			if is(k, xades.NSXAdES, "QualifyingProperties") {
				return "Object"
			}
		}
	}
	return ""
}

// FuzzContainers fuzzes the container checks. Oracle: an element named amount (in no
// namespace) directly inside KeyInfo, X509Data, the Object holding QualifyingProperties,
// (Un)SignedProperties or (Un)SignedSignatureProperties of a signature that passes the stages
// is always reported, naming its container.
func FuzzContainers(f *testing.F) {
	env := readSeed(f, "xades-enveloped-rsa.xml")
	for _, s := range stageSeeds(f) {
		f.Add(s)
	}
	for _, pat := range []string{"<ds:KeyInfo>", "<ds:X509Data>", "<ds:Object>", "</xades:SignedProperties>"} {
		if i := bytes.Index(env, []byte(pat)); i >= 0 {
			j := i + len(pat)
			if strings.HasPrefix(pat, "</") {
				j = i
			}
			f.Add(append(append(append([]byte{}, env[:j]...), "<amount>1</amount>"...), env[j:]...))
		}
	}
	v := stageVerifier(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		c := stageCtx(t, v, doc)
		if c == nil {
			return
		}
		got := runStages(c, "containers")
		checkVerdict(t, got)
		if got != nil {
			return
		}
		var walk func(el *etree.Element)
		walk = func(el *etree.Element) {
			for _, k := range el.ChildElements() {
				if k.Tag == "amount" && k.Space == "" && k.NamespaceURI() == "" {
					if where := containerOf(k); where != "" {
						found := false
						for _, u := range append(c.res.UnsignedContent, c.res.UncoveredObjects...) {
							found = found || strings.Contains(u, where)
						}
						if !found && len(c.res.UnsignedContent) < maxContainerFindings {
							t.Fatalf("amount in %s not reported: %v", where, c.res.UnsignedContent)
						}
					}
				}
				walk(k)
			}
		}
		walk(c.sig)
	})
}
