package xmlsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"dssd/dss/internal/etreecmp"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// rawTokens returns the tokens a lenient RawToken pass reads from b (up to the first error),
// copied so they outlive the decoder: a source of odd tokens for the differential tests.
func rawTokens(b []byte) []xml.Token {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	dec.CharsetReader = passCharset
	var toks []xml.Token
	for len(toks) < 10000 {
		tok, err := dec.RawToken()
		if err != nil {
			break
		}
		toks = append(toks, xml.CopyToken(tok))
	}
	return toks
}

// trickyTokens are tokens built by hand around what the encoder rewrites: prefixes that are
// not namespace names, generated-prefix collisions, the xml and xmlns prefixes, empty and
// colon-carrying names, declarations and instructions the encoder refuses.
func trickyTokens() []xml.Token {
	n := func(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }
	a := func(space, local, v string) xml.Attr { return xml.Attr{Name: n(space, local), Value: v} }
	return []xml.Token{
		xml.StartElement{Name: n("", "r")},
		xml.StartElement{Name: n("x", "r"), Attr: []xml.Attr{a("xmlns", "x", "urn:x")}},
		xml.StartElement{Name: n("", "Root"), Attr: []xml.Attr{a("x", "", "v")}},
		xml.StartElement{Name: n("", "x:"), Attr: nil},
		xml.StartElement{Name: n("", ":a")},
		xml.StartElement{Name: n("", "")},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("", "x:", "v")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("a", "x", "1"), a("b/a", "y", "2"), a("a_1", "z", "3")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("a", "x", "1"), a("a", "y", "2"), a("b", "x", "3")}},
		xml.StartElement{Name: n("p", "r"), Attr: []xml.Attr{a("", "xmlns", "urn:d"), a("xmlns", "p", "urn:p"), a("p", "a", "1")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("xml", "lang", "en"), a("xmlns", "xml", nsXML)}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("xmlns", "", "urn:x")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("xmlns", "p", "")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("", "xmlns", "")}},
		xml.StartElement{Name: n("xmlns", "r")},
		xml.StartElement{Name: n("xml", "r")},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("", "a", "\t\n\r <&>\"'")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("_", "a", "1"), a("", "_", "2")}},
		xml.StartElement{Name: n("urn:x:y", "r"), Attr: []xml.Attr{a("http://e/p/", "a", "1"), a("http://f/p", "b", "2")}},
		xml.StartElement{Name: n("", "r"), Attr: []xml.Attr{a("XmLfoo", "a", "1"), a("_XmLfoo", "b", "2")}},
		xml.StartElement{Name: n("", "1r")},
		xml.EndElement{Name: n("", "r")},
		xml.EndElement{Name: n("x", "r")},
		xml.EndElement{Name: n("", "")},
		xml.EndElement{Name: n("", "x:")},
		xml.ProcInst{Target: "xml", Inst: []byte(`version="1.0" encoding="UTF-8"`)},
		xml.ProcInst{Target: "xml", Inst: []byte(`version="1.1"`)},
		xml.ProcInst{Target: "xml", Inst: []byte(`version="1.0" encoding="latin1"`)},
		xml.ProcInst{Target: "xml-stylesheet", Inst: []byte(`href="a.xsl"`)},
		xml.ProcInst{Target: "p", Inst: []byte(`a?>b`)},
		xml.ProcInst{Target: "p", Inst: nil},
		xml.ProcInst{Target: "", Inst: []byte("x")},
		xml.ProcInst{Target: "a:b", Inst: []byte(" x")},
		xml.CharData("a\rb<&>]]>"),
		xml.CharData(""),
		xml.Comment(" c "),
		xml.Comment("a--b"),
		xml.Comment("a-"),
		xml.Directive("DOCTYPE r"),
	}
}

// corpusTokens are the tokens of the hostile corpus, the fuzz seeds and the benchmark document.
func corpusTokens(t *testing.T) []xml.Token {
	t.Helper()
	var toks []xml.Token
	for _, c := range readManifest(t) {
		b, err := os.ReadFile(filepath.Join(hostileDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, rawTokens(b)...)
	}
	toks = append(toks, rawTokens(benchDoc(2<<10))...)
	return toks
}

func agree(t *testing.T, rt *roundTripper, tok xml.Token) {
	t.Helper()
	want := xrv.CheckToken(tok)
	got := rt.check(tok)
	if (want == nil) != (got == nil) {
		t.Fatalf("token %#v: xrv.CheckToken says %v, roundTripper says %v", tok, want, got)
	}
	var we, ge xrv.XMLRoundtripError
	if errors.As(want, &we) != errors.As(got, &ge) {
		t.Fatalf("token %#v: xrv.CheckToken says %v, roundTripper says %v (different kinds)", tok, want, got)
	}
}

// TestRoundTripperMatchesXRV shows that the gate's round-trip check decides what
// xrv.CheckToken decides, token by token, with one roundTripper reused across all tokens in
// two orders (so no state carries over from one token to the next, failed ones included).
func TestRoundTripperMatchesXRV(t *testing.T) {
	t.Parallel()
	toks := append(trickyTokens(), corpusTokens(t)...)
	var failures int
	for _, tok := range toks {
		if xrv.CheckToken(tok) != nil {
			failures++
		}
	}
	if failures < 8 {
		t.Fatalf("only %d of %d tokens fail xrv.CheckToken: the comparison would prove little", failures, len(toks))
	}
	t.Logf("%d tokens, %d refused by xrv.CheckToken", len(toks), failures)
	var rt roundTripper
	for _, tok := range toks {
		agree(t, &rt, tok)
	}
	slices.Reverse(toks)
	for _, tok := range toks {
		agree(t, &rt, tok)
	}
}

// TestRoundTripperAllocations pins the point of roundTripper: no 4 KiB encoder buffer per
// token, unlike xrv.CheckToken. Not parallel: it reads the process's allocation counter.
func TestRoundTripperAllocations(t *testing.T) {
	tok := xml.StartElement{Name: xml.Name{Space: "inv", Local: "Line"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "n"}, Value: "1"}, {Name: xml.Name{Space: "xml", Local: "lang"}, Value: "en"}}}
	var rt roundTripper
	perCheck := func(check func(xml.Token) error) uint64 {
		const n = 200
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			if err := check(tok); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	rt.check(tok) // the kept buffers are allocated once
	ours, theirs := perCheck(rt.check), perCheck(xrv.CheckToken)
	if ours >= encoderBufSize || theirs < encoderBufSize {
		t.Errorf("bytes per check: roundTripper %d, xrv.CheckToken %d; want under and over %d", ours, theirs, encoderBufSize)
	}
	t.Logf("bytes per check: roundTripper %d, xrv.CheckToken %d", ours, theirs)
}

// FuzzRoundTripper compares roundTripper with xrv.CheckToken on the tokens of arbitrary input
// read leniently (so tokens the gate would refuse are compared too).
func FuzzRoundTripper(f *testing.F) {
	for _, c := range readManifest(f) {
		b, err := os.ReadFile(filepath.Join(hostileDir, c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<a:r xmlns:a="urn:a" a:x="1" b/a:y="2" a_1:z="3" x:="v"><?p a?><b:c/></a:r>`))
	var rt roundTripper
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tok := range rawTokens(b) {
			agree(t, &rt, tok)
		}
	})
}

// acceptedInputs are inputs the gate accepts: the "ok" cases of the hostile corpus, the
// project's sample documents and generated ones.
func acceptedInputs(t *testing.T) map[string][]byte {
	t.Helper()
	in := map[string][]byte{}
	for _, c := range readManifest(t) {
		if c.want != "ok" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(hostileDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		in[c.file] = b
	}
	docs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "documents", "*.xml"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no sample documents under testdata/documents (%v)", err)
	}
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		in[p] = b
	}
	in["bench-2KB"] = benchDoc(2 << 10)
	in["bench-64KB"] = benchDoc(64 << 10)
	in["nested"] = nested(200)
	in["siblings"] = siblings(500)
	in["prolog-epilog"] = []byte("\uFEFF<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\n<?xml-stylesheet href=\"a\"?><!-- c -->\n<r xmlns=\"urn:d\" xmlns:p=\"urn:p\" p:a=\"&#x9;&lt;\"><p:s xmlns=\"\"><![CDATA[<x>]]>&amp;<t/></p:s></r>\n<!-- e -->\n")
	return in
}

// TestGateImpliesEtreeValidation is the evidence for leaving etree's ValidateInput off in
// Parse (readSettings): on every input the gate accepts, the etree parse with ValidateInput
// on succeeds too and builds the same tree.
func TestGateImpliesEtreeValidation(t *testing.T) {
	t.Parallel()
	for name, b := range acceptedInputs(t) {
		lim := DocumentLimits()
		doc, err := Parse(b, lim)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := etreeValidatedSame(b, lim, doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// etreeValidatedSame parses the bytes up to the end of the root element with etree's own
// parser, ValidateInput on, and compares that tree with the one Parse built from the gate's
// tokens: node by node (etreecmp.Equal: names, attributes, text with etree's whitespace and CDATA
// flags, parents and indexes) and by their serializations.
func etreeValidatedSame(b []byte, lim Limits, doc *etree.Document) error {
	body, _, err := check(b, lim.normalize(), nil)
	if err != nil {
		return err
	}
	v := etree.NewDocument()
	v.ReadSettings = readSettings(lim.normalize())
	v.ReadSettings.ValidateInput = true
	if err := v.ReadFromBytes(body); err != nil {
		return errors.New("etree with ValidateInput refuses what the gate accepted: " + err.Error())
	}
	if err := etreecmp.Equal(&v.Element, &doc.Element); err != nil {
		return err
	}
	ws := etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}
	v.WriteSettings, doc.WriteSettings = ws, ws
	x, err1 := v.WriteToBytes()
	y, err2 := doc.WriteToBytes()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if !bytes.Equal(x, y) {
		return errors.New("the trees differ:\n" + string(x) + "\n" + string(y))
	}
	return nil
}
