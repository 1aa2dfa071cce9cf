package xmldsig

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// belowUnwritten is a document the verifier's gate admits (depth 200, 200 attributes and up
// to 16 namespace declarations per element, 144 in scope, 42 000 nodes): leaves under 200
// wrappers that declare 144 namespaces and carry 200 attributes each.
func belowUnwritten(t *testing.T, leaves int) *etree.Document {
	var b strings.Builder
	for d := 0; d < 200; d++ {
		b.WriteString("<w")
		for j := 0; j < 16 && d*16+j < 144; j++ {
			n := strconv.Itoa(d*16 + j)
			b.WriteString(` xmlns:p` + n + `="urn:` + n + `"`)
		}
		for j := 0; j < 200; j++ {
			b.WriteString(` a` + strconv.Itoa(j) + `=""`)
		}
		b.WriteString(">")
	}
	b.WriteString(strings.Repeat("<l/>", leaves) + strings.Repeat("</w>", 200))
	doc := etree.NewDocument()
	if err := doc.ReadFromString(b.String()); err != nil {
		t.Fatal(err)
	}
	return doc
}

// onlyLeaves selects the l elements, as an XPath filter selecting //l does: their parents are
// not written.
func onlyLeaves(tok etree.Token) bool {
	e, ok := tok.(*etree.Element)
	return ok && e.Tag == "l"
}

// TestInclusiveBudgetCharges: under inclusive c14n an element of the node-set whose parent is
// not written renders every namespace in scope and looks up the xml:* attributes it inherits
// on every ancestor, work the budget now charges (decisions §44): 2 000 such leaves, 0.5 s of
// canonicalization charged 42 000 nodes before, are stopped by the verifier's default budget
// of 2 000 000. The charge changes no output.
func TestInclusiveBudgetCharges(t *testing.T) {
	for _, alg := range []string{C14N11, C14N10} {
		doc := belowUnwritten(t, 2000)
		b := NewBudget(2_000_000)
		if _, err := Canonicalize(doc.Root(), alg, Options{Include: onlyLeaves, Budget: b}); !errors.Is(err, ErrBudget) {
			t.Errorf("%s: 2 000 leaves below 200 unwritten ancestors: %v (%d of the budget left), want ErrBudget", alg, err, b.left)
		}
		small := belowUnwritten(t, 20)
		want, err := Canonicalize(small.Root(), alg, Options{Include: onlyLeaves})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonicalize(small.Root(), alg, Options{Include: onlyLeaves, Budget: NewBudget(1 << 40)})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: with a budget: %v, output changed: %t", alg, err, !bytes.Equal(got, want))
		}
	}
	// Elements whose parent is written are charged one per node and attribute, as before.
	doc := etree.NewDocument()
	if err := doc.ReadFromString(`<r xmlns:a="urn:a" xml:lang="en"><x a:b="1"/><y/></r>`); err != nil {
		t.Fatal(err)
	}
	b := NewBudget(100)
	if _, err := Canonicalize(doc.Root(), C14N11, Options{Budget: b}); err != nil || b.left != 100-5-2 {
		t.Errorf("%v, %d charged, want 7: r with its 2 attributes, x with its attribute, y, and the 1 namespace in scope at the apex", err, 100-b.left)
	}
}

// inScope is a document the verifier's gate admits (32 namespace declarations per element,
// 144 in scope): leaves under wrappers that declare 64 prefixes (p0 to p63 after long x's
// of them) again and again, and the PrefixList naming all 64.
func inScope(t *testing.T, leaves, long int) (*etree.Document, string) {
	name := func(i int) string { return "p" + strings.Repeat("x", long) + strconv.Itoa(i) }
	var b strings.Builder
	for k := 0; k < 144; {
		b.WriteString("<w")
		for j := 0; j < 32 && k < 144; j, k = j+1, k+1 {
			b.WriteString(` xmlns:` + name(k%64) + `="urn:` + strconv.Itoa(k) + `"`)
		}
		b.WriteString(">")
	}
	b.WriteString(strings.Repeat("<l/>", leaves) + strings.Repeat("</w>", 5))
	doc := etree.NewDocument()
	if err := doc.ReadFromString(b.String()); err != nil {
		t.Fatal(err)
	}
	list := make([]string, 64)
	for i := range list {
		list[i] = name(i)
	}
	return doc, strings.Join(list, " ")
}

// TestExclusivePrefixListBudgetCharges: exclusive c14n with an InclusiveNamespaces PrefixList
// looks every binding in scope up in it and compares each one found with the later ones, on
// every element of the node-set, work the budget now charges (decisions §44): 4 000 leaves
// with 144 bindings of the 64 listed prefixes in scope, 0.1 to 0.2 s charged 4 150 nodes
// before, are stopped by the verifier's default budget of 2 000 000. The charge changes no
// output, and a PrefixList that names no binding in scope adds little to the charge.
func TestExclusivePrefixListBudgetCharges(t *testing.T) {
	doc, list := inScope(t, 4000, 0)
	b := NewBudget(2_000_000)
	if _, err := Canonicalize(doc.Root(), ExcC14N, Options{PrefixList: list, Budget: b}); !errors.Is(err, ErrBudget) {
		t.Errorf("4 000 leaves, 144 bindings of the 64 listed prefixes in scope: %v (%d of the budget left), want ErrBudget", err, b.left)
	}
	small, _ := inScope(t, 20, 0)
	var unlisted int64 // charged without a PrefixList
	for _, pl := range []string{"", list, "p1 #default", "q"} {
		want, err := Canonicalize(small.Root(), ExcC14N, Options{PrefixList: pl})
		if err != nil {
			t.Fatal(err)
		}
		b := NewBudget(1 << 40)
		got, err := Canonicalize(small.Root(), ExcC14N, Options{PrefixList: pl, Budget: b})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("PrefixList %.20q: with a budget: %v, output changed: %t", pl, err, !bytes.Equal(got, want))
		}
		switch charged := 1<<40 - b.left; pl {
		case "":
			unlisted = charged
		case "q": // the lookups alone: at most 144 over 16 for each of the 25 elements
			if charged > unlisted+25*144/16 {
				t.Errorf("PrefixList naming no binding in scope: %d charged, %d without a PrefixList", charged, unlisted)
			}
		}
	}
}

// TestLongPrefixesBudgetCharges: comparing prefixes of 1 KiB costs about 15 times what
// comparing short ones does, which the charges of both canonicalizations now weigh
// (scopeWork): 300 leaves with 144 bindings of 1 KiB prefixes in scope, charged 198 000
// (exclusive, PrefixList) and 433 000 nodes (inclusive, parents not written) before, are
// stopped by the verifier's default budget.
func TestLongPrefixesBudgetCharges(t *testing.T) {
	doc, list := inScope(t, 300, 1024)
	for _, o := range []struct {
		alg string
		o   Options
	}{
		{ExcC14N, Options{PrefixList: list}},
		{C14N11, Options{Include: onlyLeaves}},
	} {
		b := NewBudget(2_000_000)
		o.o.Budget = b
		if _, err := Canonicalize(doc.Root(), o.alg, o.o); !errors.Is(err, ErrBudget) {
			t.Errorf("%s: 300 leaves, 144 bindings of 1 KiB prefixes in scope: %v (%d of the budget left), want ErrBudget", o.alg, err, b.left)
		}
	}
}

// TestLongURIsBudgetCharges: a binding rendered for an element below an unwritten parent is
// compared with the one its output ancestor rendered, URI and all, so long URIs declared
// again with the same content cost by their length, which the charge now weighs (scopeWork):
// 300 leaves below two unwritten elements re-declaring 64 bindings of 16 KiB URIs, charged
// 96 000 nodes before, are stopped by the verifier's default budget; with short URIs they are
// not.
func TestLongURIsBudgetCharges(t *testing.T) {
	build := func(long int) *etree.Document {
		decls := func() string {
			var b strings.Builder
			for i := range 64 {
				b.WriteString(` xmlns:p` + strconv.Itoa(i) + `="urn:` + strings.Repeat("x", long) + strconv.Itoa(i) + `"`)
			}
			return b.String()
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromString("<r" + decls() + "><r2><w" + decls() + "><w" + decls() + ">" +
			strings.Repeat("<l/>", 300) + "</w></w></r2></r>"); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	written := func(tok etree.Token) bool {
		e, ok := tok.(*etree.Element)
		return ok && (e.Tag == "r" || e.Tag == "r2" || e.Tag == "l")
	}
	for _, tc := range []struct {
		long int
		want error
	}{{16 << 10, ErrBudget}, {8, nil}} {
		b := NewBudget(2_000_000)
		_, err := Canonicalize(build(tc.long).Root(), C14N11, Options{Include: written, Budget: b})
		if !errors.Is(err, tc.want) {
			t.Errorf("URIs of %d bytes: %v (%d of the budget left), want %v", tc.long, err, b.left, tc.want)
		}
	}
}
