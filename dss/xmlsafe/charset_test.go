package xmlsafe

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// TestDecodeEncode: a document in each supported encoding decodes to the same UTF-8 document
// (declaration naming UTF-8), and Encode of that document, with a character the encoding
// cannot hold added, gives back the original bytes plus a character reference.
func TestDecodeEncode(t *testing.T) {
	t.Parallel()
	const text = "Caf\u00e9 \u00fc" // in every Latin charset below
	mk := func(label string) string {
		return `<?xml version="1.0" encoding="` + label + `"?>` + "\n<r a=\"" + text + "\">" + text + "</r>"
	}
	cases := []struct {
		label string
		enc   func(string) (string, error)
	}{
		{"ISO-8859-1", charmap.ISO8859_1.NewEncoder().String},
		{"iso-8859-15", charmap.ISO8859_15.NewEncoder().String},
		{"windows-1250", charmap.Windows1250.NewEncoder().String},
		{"windows-1252", charmap.Windows1252.NewEncoder().String},
		{"latin1", charmap.ISO8859_1.NewEncoder().String},
	}
	for _, c := range cases {
		orig, err := c.enc(mk(c.label))
		if err != nil {
			t.Fatal(err)
		}
		got, cs, err := Decode([]byte(orig))
		if err != nil {
			t.Fatalf("%s: %v", c.label, err)
		}
		if want := mk("UTF-8"); string(got) != want {
			t.Fatalf("%s: decoded %q, want %q", c.label, got, want)
		}
		if cs.String() != c.label || cs.IsUTF8() {
			t.Errorf("%s: charset %q", c.label, cs)
		}
		if _, err := Parse([]byte(orig), DocumentLimits()); err != nil {
			t.Fatalf("%s: Parse: %v", c.label, err)
		}
		back, err := cs.Encode(append(bytes.Clone(got), "<!---->"...))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, append([]byte(orig), "<!---->"...)) {
			t.Errorf("%s: encoded back to %q", c.label, back)
		}
		euro, err := cs.Encode([]byte(strings.Replace(string(got), "</r>", "\u4e2d</r>", 1)))
		if err != nil || !bytes.Contains(euro, []byte("&#20013;</r>")) {
			t.Errorf("%s: unrepresentable character: %q %v", c.label, euro, err)
		}
	}
	for _, end := range []unicode.Endianness{unicode.BigEndian, unicode.LittleEndian} {
		doc := `<?xml version="1.0" encoding="UTF-16"?><r>` + text + "\U0001F600</r>"
		orig, err := unicode.UTF16(end, unicode.UseBOM).NewEncoder().String(doc)
		if err != nil {
			t.Fatal(err)
		}
		got, cs, err := Decode([]byte(orig))
		if err != nil || string(got) != strings.Replace(doc, "UTF-16", "UTF-8", 1) {
			t.Fatalf("utf-16: %q %v", got, err)
		}
		back, err := cs.Encode(got)
		if err != nil || back == nil || string(back) != orig {
			t.Errorf("utf-16 %v: encoded back to %q (%v)", end, back, err)
		}
	}
	// US-ASCII: every other character becomes a reference.
	got, cs, err := Decode([]byte(`<?xml version="1.0" encoding="US-ASCII"?><r/>`))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := cs.Encode([]byte(strings.Replace(string(got), "<r/>", "<r>\u00e9</r>", 1)))
	if string(back) != `<?xml version="1.0" encoding="US-ASCII"?><r>&#233;</r>` {
		t.Errorf("us-ascii: %q", back)
	}
	// UTF-8 is used as it is.
	u := []byte(`<r>` + text + `</r>`)
	if got, cs, err := Decode(u); err != nil || &got[0] != &u[0] || !cs.IsUTF8() {
		t.Error("utf-8 input was copied or refused")
	}
}

// TestDecodeRefusals: every refusal names the encoding in question.
func TestDecodeRefusals(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`<?xml version="1.0" encoding="EUC-JP"?><r/>`:                  `"EUC-JP" is not supported`,
		`<?xml version="1.0" encoding="x-unknown"?><r/>`:               `"x-unknown" is not supported`,
		"<?xml version=\"1.0\" encoding=\"US-ASCII\"?><r>\xe9</r>":     `not "US-ASCII"`,
		"<?xml version=\"1.0\" encoding=\"windows-1253\"?><r>\xaa</r>": `not a character in "windows-1253"`,
		`<?xml version="1.0" encoding="UTF-16"?><r/>`:                  `without a utf-16 byte order mark`,
	} {
		_, _, err := Decode([]byte(in))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonEncoding || !strings.Contains(e.Error(), want) {
			t.Errorf("%q: %v, want an encoding error saying %s", in, err, want)
		}
		if err := Check([]byte(in), DocumentLimits()); err == nil {
			t.Errorf("%q: Check accepts it", in)
		}
	}
}

// TestAttributeNormalization: literal tab, LF, CR and CR LF in attribute values become one
// space each (XML 1.0 §3.3.3); character references keep their characters.
func TestAttributeNormalization(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte("<r xmlns:p=\"urn:\np\" a=\"x\r\n  y\r z\" p:b=\"&#xA;\n&#9;\t&amp;\"><s c='\t'/></r>"), DocumentLimits())
	if err != nil {
		t.Fatal(err)
	}
	r := doc.Root()
	for key, want := range map[string]string{"xmlns:p": "urn: p", "a": "x   y  z", "p:b": "\n \t &"} {
		if got := r.SelectAttrValue(key, "?"); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if got := r.SelectElement("s").SelectAttrValue("c", "?"); got != " " {
		t.Errorf("c = %q", got)
	}
	if r.SelectAttr("p:b").NamespaceURI() != "urn: p" {
		t.Error("the normalized declaration does not bind p")
	}
}

// TestManyAttributesLinear builds 5 000 elements of 255 attributes: the tree is built in
// linear time (it took 3 to 5 s when each attribute looked for its duplicates again). Not a
// timed assertion: the test fails only if it takes a minute, far beyond any noise.
func TestManyAttributesLinear(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("<r>")
	for i := range 5000 {
		sb.WriteString("<e")
		for k := range 255 {
			fmt.Fprintf(&sb, ` a%d="%d"`, k, i)
		}
		sb.WriteString("/>")
	}
	sb.WriteString("</r>")
	start := time.Now()
	doc, err := Parse([]byte(sb.String()), DocumentLimits())
	if err != nil {
		t.Fatal(err)
	}
	e := doc.Root().ChildElements()[4999]
	if len(e.Attr) != 255 || e.Attr[254].Key != "a254" || e.Attr[254].Element() != e {
		t.Fatalf("attributes of the last element: %d", len(e.Attr))
	}
	t.Logf("5 000 x 255 attributes: %v", time.Since(start))
}
