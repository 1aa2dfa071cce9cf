package xmldsig

import (
	"errors"
	"testing"

	"github.com/beevik/etree"
)

func parse(t *testing.T, s string) *etree.Document {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(s); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestIDRule: one rule for signing and verifying. Id, ID and id count in any namespace, a
// namespace declaration never; an id seen twice is never resolved, on two elements or on one.
func TestIDRule(t *testing.T) {
	d := parse(t, `<r xmlns:wsu="urn:wsu" xmlns:id="urn:not-an-id">`+
		`<a Id="a"/><b ID="b"/><c id="c"/><d wsu:Id="d"/><e xml:id="e"/>`+
		`<f Id="twice"/><g wsu:Id="twice"/><h Id="same" ID="same"/></r>`)
	x := IndexIDs(d.Root())
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		el, err := x.Lookup(id)
		if err != nil || el.Tag != id {
			t.Errorf("%s: %v %v", id, el, err)
		}
	}
	for _, id := range []string{"twice", "same"} {
		if _, err := x.Lookup(id); !errors.Is(err, ErrDuplicateID) || !x.Has(id) {
			t.Errorf("%s: %v, want ErrDuplicateID", id, err)
		}
	}
	if _, err := x.Lookup("urn:not-an-id"); !errors.Is(err, ErrUnknownID) {
		t.Errorf("a namespace declaration counted as an id: %v", err)
	}
}

// TestInheritedXMLAttrs: the verifier takes the nearest declaration; the signer refuses
// nested different values of xml:lang or xml:space under c14n 1.1; xml:base is refused under
// c14n 1.1 and inherited under c14n 1.0, xml:id never.
func TestInheritedXMLAttrs(t *testing.T) {
	d := parse(t, `<r xml:lang="en" xml:space="preserve" xml:id="r" xml:foo="1"><s xml:lang="fr"><t/></s></r>`)
	el := d.FindElement("//t")
	got, err := InheritedXMLAttrs(el, false, false)
	if err != nil || len(got) != 2 || got[0].Key != "lang" || got[0].Value != "fr" || got[1].Key != "space" {
		t.Fatalf("c14n 1.1, verifier: %v %v", got, err)
	}
	if _, err := InheritedXMLAttrs(el, false, true); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("c14n 1.1, signer: %v, want the nested xml:lang refused", err)
	}
	got, err = InheritedXMLAttrs(el, true, true)
	if err != nil || len(got) != 3 {
		t.Fatalf("c14n 1.0: %v %v, want lang, space and foo (never id)", got, err)
	}
	b := parse(t, `<r xml:base="http://x/"><s/></r>`).FindElement("//s")
	if _, err := InheritedXMLAttrs(b, false, false); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("c14n 1.1 below xml:base: %v", err)
	}
	if got, err := InheritedXMLAttrs(b, true, false); err != nil || len(got) != 1 {
		t.Fatalf("c14n 1.0 below xml:base: %v %v", got, err)
	}
	// Inclusive canonicalization renders them on the apex; exclusive never does.
	out, err := Canonicalize(el, C14N11, Options{})
	if err != nil || string(out) != `<t xml:lang="fr" xml:space="preserve"></t>` {
		t.Fatalf("c14n 1.1: %s %v", out, err)
	}
	if out, err = Canonicalize(el, ExcC14N, Options{}); err != nil || string(out) != `<t></t>` {
		t.Fatalf("exclusive: %s %v", out, err)
	}
	if _, err := Canonicalize(el, C14N11, Options{SignerXMLAttrs: true}); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("c14n 1.1, signer: %v", err)
	}
}

// TestBudget: a walk charged to a used-up budget stops with ErrBudget, and so does every
// later one.
func TestBudget(t *testing.T) {
	d := parse(t, `<r><a x="1"/><b/><c/></r>`)
	b := NewBudget(3)
	if _, err := Canonicalize(d.Root(), ExcC14N, Options{Budget: b}); !errors.Is(err, ErrBudget) || !b.Over() {
		t.Fatalf("over the budget: %v", err)
	}
	if _, err := Canonicalize(d.FindElement("//c"), ExcC14N, Options{Budget: b}); !errors.Is(err, ErrBudget) {
		t.Fatalf("after the budget: %v", err)
	}
	if out, err := Canonicalize(d.Root(), ExcC14N, Options{Budget: NewBudget(100)}); err != nil || string(out) != `<r><a x="1"></a><b></b><c></c></r>` {
		t.Fatalf("within the budget: %s %v", out, err)
	}
}
