package xmlsafe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// hostileDir is the shared corpus (hardening.md §6.1), relative to this package.
const hostileDir = "../../testdata/hostile"

type hostileCase struct {
	file    string
	want    string // "ok" or a Reason name
	profile string // "document" or "envelope"
}

// readManifest parses testdata/hostile/manifest.txt.
func readManifest(tb testing.TB) []hostileCase {
	tb.Helper()
	f, err := os.Open(filepath.Join(hostileDir, "manifest.txt"))
	if err != nil {
		tb.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	var cases []hostileCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			tb.Fatalf("manifest line %d: want file, result, profile; got %q", n, line)
		}
		cases = append(cases, hostileCase{file: fields[0], want: fields[1], profile: fields[2]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read manifest: %v", err)
	}
	if len(cases) == 0 {
		tb.Fatal("manifest lists no cases")
	}
	return cases
}

func profileLimits(tb testing.TB, p string) Limits {
	tb.Helper()
	switch p {
	case "document":
		return DocumentLimits()
	case "envelope":
		return EnvelopeLimits()
	}
	tb.Fatalf("unknown limits profile %q", p)
	return Limits{}
}

func reasonByName(tb testing.TB, name string) Reason {
	tb.Helper()
	for r := Reason(0); r < reasonCount; r++ {
		if r.String() == name {
			return r
		}
	}
	tb.Fatalf("unknown reason %q in manifest", name)
	return 0
}

// assertResult checks that err is nil for "ok" and an *Error with the wanted reason otherwise.
func assertResult(t *testing.T, what string, input []byte, err error, want string) {
	t.Helper()
	if want == "ok" {
		if err != nil {
			t.Fatalf("%s: want accepted, got %v", what, err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: want *Error with reason %s, got %v", what, want, err)
	}
	if got := e.Reason.String(); got != want {
		t.Fatalf("%s: reason %s, want %s (%v)", what, got, want, err)
	}
	if e.Offset < 0 || e.Offset > int64(len(input)) {
		t.Errorf("%s: offset %d outside the input (%d bytes)", what, e.Offset, len(input))
	}
	if e.Detail == "" || strings.ContainsAny(e.Error(), "\n\r") {
		t.Errorf("%s: message %q is empty or spans lines", what, e.Error())
	}
}

func TestHostileCorpus(t *testing.T) {
	t.Parallel()
	cases := readManifest(t)
	listed := map[string]bool{"manifest.txt": true}
	for _, c := range cases {
		if listed[c.file] {
			t.Errorf("manifest lists %s twice", c.file)
		}
		listed[c.file] = true
	}
	entries, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("%s is not listed in the manifest", e.Name())
		}
	}

	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join(hostileDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			lim := profileLimits(t, c.profile)
			if c.want != "ok" {
				reasonByName(t, c.want)
			}
			assertResult(t, "Check", b, Check(b, lim), c.want)
			doc, err := Parse(b, lim)
			assertResult(t, "Parse", b, err, c.want)
			if c.want == "ok" && doc.Root() == nil {
				t.Fatal("Parse accepted the input but returned no root")
			}
			if c.want != "ok" && doc != nil {
				t.Fatal("Parse returned a tree with an error")
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	t.Parallel()
	seen := map[string]Reason{}
	for r := Reason(0); r < reasonCount; r++ {
		name := r.String()
		if strings.HasPrefix(name, "reason(") {
			t.Errorf("reason %d has no name", int(r))
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("reasons %d and %d share the name %q", prev, r, name)
		}
		seen[name] = r
	}
	if got := Reason(99).String(); got != "reason(99)" {
		t.Errorf("unknown reason prints %q", got)
	}
}

func nested(n int) []byte {
	return []byte(strings.Repeat("<a>", n) + strings.Repeat("</a>", n))
}

func siblings(n int) []byte {
	return []byte("<r>" + strings.Repeat("<a/>", n) + "</r>")
}

// TestGeneratedLimits covers inputs too large to store in testdata/hostile.
func TestGeneratedLimits(t *testing.T) {
	t.Parallel()
	small := Limits{MaxBytes: 1 << 20, MaxTextBytes: 1024}
	tests := []struct {
		name  string
		input []byte
		lim   Limits
		want  string
	}{
		{"size at limit", []byte("<r>" + strings.Repeat("x", 93) + "</r>"), Limits{MaxBytes: 100}, "ok"},
		{"size over limit", []byte("<r>" + strings.Repeat("x", 94) + "</r>"), Limits{MaxBytes: 100}, "limit"},
		{"15 MiB attribute, 10 MiB limit", []byte(`<r a="` + strings.Repeat("A", 15<<20) + `"/>`), DocumentLimitsFor(10 << 20), "limit"},
		{"deep 1M, envelope limits", nested(1000000), EnvelopeLimits(), "limit"},
		{"deep 10k, document limits", nested(10000), DocumentLimits(), "limit"},
		{"zero limits mean document limits", nested(257), Limits{}, "limit"},
		{"elements at limit", siblings(99999), DocumentLimitsFor(1 << 20), "ok"},
		{"elements over limit", siblings(100000), DocumentLimitsFor(1 << 20), "limit"},
		{"200 000 siblings", siblings(200000), EnvelopeLimits(), "limit"},
		{"100 000 attributes", []byte("<r" + attrs(100000) + "/>"), EnvelopeLimits(), "limit"},
		{"text at limit", []byte("<r>" + strings.Repeat("x", 1024) + "</r>"), small, "ok"},
		{"text over limit", []byte("<r>" + strings.Repeat("x", 1025) + "</r>"), small, "limit"},
		{"text split by cdata", []byte("<r>" + strings.Repeat("x", 600) + "<![CDATA[" + strings.Repeat("y", 600) + "]]></r>"), small, "limit"},
		{"text split by comment", []byte("<r>" + strings.Repeat("x", 600) + "<!---->" + strings.Repeat("y", 600) + "</r>"), small, "limit"},
		{"texts in separate elements", []byte("<r><a>" + strings.Repeat("x", 1000) + "</a><a>" + strings.Repeat("y", 1000) + "</a></r>"), small, "ok"},
		{"attribute at limit", []byte(`<r a="` + strings.Repeat("x", 1024) + `"/>`), small, "ok"},
		{"attribute over limit", []byte(`<r a="` + strings.Repeat("x", 1025) + `"/>`), small, "limit"},
		{"text limit defaults to size", []byte("<r>" + strings.Repeat("x", 5000) + "</r>"), Limits{MaxBytes: 6000}, "ok"},
		{"custom depth", nested(4), Limits{MaxDepth: 3}, "limit"},
		{"custom attrs", []byte(`<r a="1" b="2" c="3"/>`), Limits{MaxAttrs: 2}, "limit"},
		{"custom ns per element", []byte(`<r xmlns="urn:a" xmlns:b="urn:b"/>`), Limits{MaxNSPerElement: 1}, "limit"},
		{"custom ns in scope", []byte(`<r xmlns="urn:a"><b xmlns="urn:b"/></r>`), Limits{MaxNSInScope: 1}, "limit"},
		{"ns of siblings are not in scope together", []byte(`<r><b xmlns="urn:b"/><b xmlns="urn:c"/></r>`), Limits{MaxNSInScope: 1}, "ok"},
		{"10 000 entities declaring their namespaces", entities(10000), DocumentLimits(), "ok"},
		{"custom elements", []byte(`<r><a/><b/></r>`), Limits{MaxElements: 2}, "limit"},
		{"namespace-quadratic shape, 50 per level", nsLevels(500, 50), DocumentLimits(), "limit"},
		{"namespace-quadratic shape, 16 per level", nsLevels(200, 16), DocumentLimits(), "limit"},
		{"base64 padded with whitespace", []byte("<v>" + strings.Repeat("QUJD\n", 200000) + "</v>"), EnvelopeLimits(), "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertResult(t, "Check", tt.input, Check(tt.input, tt.lim), tt.want)
		})
	}
}

// entities is an aggregate of n children that each declare 8 namespaces.
func entities(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`<md:A xmlns:md="urn:md">`)
	for range n {
		sb.WriteString(`<md:E`)
		for k := range 8 {
			fmt.Fprintf(&sb, ` xmlns:n%d="urn:n%d"`, k, k)
		}
		sb.WriteString(`/>`)
	}
	sb.WriteString(`</md:A>`)
	return []byte(sb.String())
}

// nsLevels nests depth elements, each declaring per unused namespaces (hardening.md §2.6).
func nsLevels(depth, per int) []byte {
	var sb strings.Builder
	for d := range depth {
		sb.WriteString("<e")
		for k := range per {
			fmt.Fprintf(&sb, ` xmlns:n%d="urn:unused:%d:%d"`, k, d, k)
		}
		sb.WriteString(">")
	}
	sb.WriteString(strings.Repeat("</e>", depth))
	return []byte(sb.String())
}

func attrs(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, " a%d=\"1\"", i)
	}
	return sb.String()
}

// TestDeepNestingStopsEarly asserts that the gate stops at the depth limit instead of reading
// (and allocating for) the rest of a 1M-deep input.
func TestDeepNestingStopsEarly(t *testing.T) {
	in := nested(1000000)
	allocs := testing.AllocsPerRun(3, func() {
		if err := Check(in, EnvelopeLimits()); !IsLimit(err) {
			t.Fatalf("want a limit error, got %v", err)
		}
	})
	// Each token costs a few allocations; 65 start tags must not turn into a million.
	if allocs > 2000 {
		t.Fatalf("%v allocations for a rejection at depth 65", allocs)
	}
}

func TestIsLimit(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxDepth: 2}
	limitErr := Check(nested(3), lim)
	if !IsLimit(limitErr) {
		t.Fatalf("IsLimit(%v) = false", limitErr)
	}
	if !IsLimit(fmt.Errorf("decode document: %w", limitErr)) {
		t.Error("IsLimit does not see through wrapping")
	}
	if IsLimit(Check([]byte("<a/><b/>"), lim)) {
		t.Error("a malformed input counts as a limit")
	}
	if IsLimit(nil) || IsLimit(errors.New("limit")) {
		t.Error("IsLimit is true for a foreign error")
	}
}

func TestErrorIsClientSafe(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 5000)
	in := []byte("<" + long + ":a/>")
	err := Check(in, DocumentLimits())
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonUndeclaredPrefix {
		t.Fatalf("want undeclared prefix, got %v", err)
	}
	if len(e.Error()) > 200 {
		t.Errorf("message echoes %d bytes of input: %q", len(e.Error()), e.Error())
	}
	if e.Offset != 0 {
		t.Errorf("offset %d, want 0", e.Offset)
	}
	// Control characters in an echoed name are escaped.
	err = Check([]byte("<r>\x01</r>"), DocumentLimits())
	if strings.ContainsRune(err.Error(), 1) {
		t.Errorf("message contains a raw control character: %q", err.Error())
	}
}

func TestOffsets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{`<r><a b="1" b="2"/></r>`, 3},
		{"\uFEFF<r><a b=\"1\" b=\"2\"/></r>", 6},
		{"<r>\xff</r>", 3},
		{"<r/><?pi?>", 4},
	}
	for _, tt := range tests {
		var e *Error
		if err := Check([]byte(tt.in), DocumentLimits()); !errors.As(err, &e) {
			t.Fatalf("%q accepted", tt.in)
		}
		if e.Offset != tt.want {
			t.Errorf("%q: offset %d, want %d", tt.in, e.Offset, tt.want)
		}
	}
}

func TestParseTree(t *testing.T) {
	t.Parallel()
	in := []byte("\uFEFF<?xml version=\"1.0\"?>\n<x:r xmlns:x=\"urn:x\" x:a=\"1\" b=\"&#xA;\"><c>t&amp;t</c></x:r>")
	doc, err := Parse(in, DocumentLimits())
	if err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root == nil || root.Space != "x" || root.Tag != "r" || root.NamespaceURI() != "urn:x" {
		t.Fatalf("root %+v", root)
	}
	if got := root.SelectAttrValue("x:a", ""); got != "1" {
		t.Errorf("x:a = %q", got)
	}
	if got := root.SelectAttrValue("b", ""); got != "\n" {
		t.Errorf("b = %q", got)
	}
	if got := root.SelectElement("c").Text(); got != "t&t" {
		t.Errorf("text %q", got)
	}
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(out, []byte("\uFEFF")) {
		t.Error("the byte order mark became part of the tree")
	}
	// The depth limit given to etree matches the gate's: a document exactly at the limit parses.
	if _, err := Parse(nested(5), Limits{MaxDepth: 5}); err != nil {
		t.Errorf("depth 5 with MaxDepth 5: %v", err)
	}
}

// TestEtreeBehaviours pins the etree v1.8.1 behaviours of hardening.md §2.3 that the gate
// exists to close. If one of them fails after an upgrade, revisit the gate and the table.
func TestEtreeBehaviours(t *testing.T) {
	t.Parallel()
	read := func(s string) (*etree.Document, error) {
		doc := etree.NewDocument()
		doc.ReadSettings.ValidateInput = true
		return doc, doc.ReadFromString(s)
	}
	accepted := []struct{ in, why string }{
		{`<Ref URI="#a" URI="#b"/>`, "duplicate attribute"},
		{`<Root x:="v"/>`, "empty local name"},
		{`<ds:Signature/>`, "undeclared prefix"},
		{`<?xml version="1.0" encoding="UTF-16"?><r/>`, "utf-16 declared on utf-8 bytes"},
		{`<!DOCTYPE r [<!ENTITY x "y">]><r/>`, "doctype with internal subset"},
		{`<n>alice<?x y?>.evil.com</n>`, "pi splitting text"},
	}
	for _, c := range accepted {
		doc, err := read(c.in)
		if err != nil {
			t.Errorf("etree now rejects %s (%q): %v", c.why, c.in, err)
			continue
		}
		if err := Check([]byte(c.in), DocumentLimits()); err == nil {
			t.Errorf("the gate accepts %s (%q)", c.why, c.in)
		}
		switch c.why {
		case "duplicate attribute":
			if got := doc.Root().SelectAttrValue("URI", ""); got != "#b" {
				t.Errorf("etree keeps URI=%q, the table says #b", got)
			}
		case "pi splitting text":
			if got := doc.Root().Text(); got != "alice" {
				t.Errorf("etree Text() = %q, the table says alice", got)
			}
		case "doctype with internal subset":
			out, _ := doc.WriteToString()
			if !strings.Contains(out, "<!DOCTYPE") {
				t.Error("etree no longer re-emits the DOCTYPE")
			}
		}
	}
	for _, in := range []string{`<a/><b/>`, `<a/>garbage`, `<x::Root/>`, `<?xml version="1.1"?><r/>`} {
		if _, err := read(in); err == nil {
			t.Errorf("etree with ValidateInput now accepts %q", in)
		}
	}
	// Found while building the gate: ValidateInput also refuses a well-formed epilog, even a
	// final newline, so Parse hands etree the bytes up to the end of the root element only.
	if err := Check([]byte("<r><![CDATA[]]></r>"), DocumentLimits()); err != nil {
		t.Errorf("empty CDATA: %v", err)
	}
	for _, in := range []string{"<r/>\n", "<r/><!-- c -->"} {
		if _, err := read(in); err == nil {
			t.Errorf("etree with ValidateInput now accepts the epilog of %q; Parse may stop trimming it", in)
		}
		if _, err := Parse([]byte(in), DocumentLimits()); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}
