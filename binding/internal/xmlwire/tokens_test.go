package xmlwire

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dssd/dss"
	"dssd/dss/xmlsafe"
	"dssd/internal/testkit/xmlnstest"
)

// TestPlans: every struct a request can hold has a plan, so that Tokens never refuses a
// request encoding/xml would read.
func TestPlans(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type)
	visit = func(t0 reflect.Type) {
		for t0.Kind() == reflect.Pointer || t0.Kind() == reflect.Slice {
			t0 = t0.Elem()
		}
		if t0.Kind() != reflect.Struct || seen[t0] || t0 == base64Type || t0 == nameType || t0 == attrType {
			return
		}
		seen[t0] = true
		if _, err := planOf(t0); err != nil {
			t.Errorf("%s: %v", t0, err)
			return
		}
		for i := range t0.NumField() {
			visit(t0.Field(i).Type)
		}
	}
	for _, op := range []Op{OpSign, OpVerify, OpPending} {
		visit(reflect.TypeOf(NewRequest(op)))
	}
	if len(seen) < 25 {
		t.Errorf("only %d wire types visited", len(seen))
	}
	// A field kind encoding/xml reads otherwise is refused, not read differently.
	type bad struct {
		N int `xml:"n"`
	}
	if _, err := planOf(reflect.TypeFor[bad]()); err == nil {
		t.Error("an int field was accepted")
	}
}

// tokenList hands out tokens, then io.EOF.
type tokenList struct{ toks []xml.Token }

func (r *tokenList) Token() (xml.Token, error) {
	if len(r.toks) == 0 {
		return nil, io.EOF
	}
	t := r.toks[0]
	r.toks = r.toks[1:]
	return t, nil
}

// oldReader is the reader Tokens replaced, kept as the reference: an encoding/xml Decoder
// over the gate's tokens (which translates attribute names in place: it gets copies), lenient,
// and the Decoder that unmarshals. The gate's tokens are the reference input rather than the
// bytes: the gate normalizes attribute values (XML 1.0 §3.3.3), encoding/xml does not.
func oldReader(toks []xml.Token) *xml.Decoder {
	return xml.NewTokenDecoder(&lenient{d: xml.NewTokenDecoder(copyTokens(toks))})
}

// copyTokens returns a reader of copies of toks.
func copyTokens(toks []xml.Token) xml.TokenReader {
	c := make([]xml.Token, len(toks))
	for i, t := range toks {
		c[i] = xml.CopyToken(t)
	}
	return &tokenList{toks: c}
}

// onceReader is oldReader's token stream with each name translated once: lenient over one
// Decoder (without the Decoder that unmarshals, which translates again).
func onceReader(toks []xml.Token) *lenient {
	return &lenient{d: xml.NewTokenDecoder(copyTokens(toks))}
}

// decodeBoth reads b's gate tokens toks with Tokens and with the reader it replaced: every
// token, then the first element decoded as each request type. Where the reader it replaced
// translates a name twice (xmlnstest.TranslatedTwice: its Decoder that unmarshals resolves a
// namespace URI that is itself a prefix in scope again), Tokens translates once, as
// Namespaces in XML says: the tokens are compared with one translation (onceReader), and the
// decoded requests are not compared (encoding/xml unmarshals only from its own translation;
// TestNamespaceTranslatedOnce checks what Tokens decodes there).
func decodeBoth(t *testing.T, b []byte, toks []xml.Token) {
	t.Helper()
	twice := xmlnstest.TranslatedTwice(func() xml.TokenReader { return copyTokens(toks) })
	fromBytes := func() TokenReader { return oldReader(toks) }
	fromToks := func() TokenReader { return NewTokens(toks) }
	// every token up to the end of the root element (the gate records no epilog)
	all := func(d xml.TokenReader) string {
		var s bytes.Buffer
		depth := 0
		for {
			tok, err := d.Token()
			if err != nil {
				fmt.Fprintf(&s, "err %v", err)
				return s.String()
			}
			fmt.Fprintf(&s, "%T %+v\n", tok, tok)
			switch tok.(type) {
			case xml.StartElement:
				depth++
			case xml.EndElement:
				if depth--; depth == 0 {
					return s.String()
				}
			}
		}
	}
	ref := xml.TokenReader(fromBytes())
	if twice {
		ref = onceReader(toks)
	}
	if a, want := all(fromToks()), all(ref); a != want || !strings.HasSuffix(a, "}\n") {
		t.Fatalf("%q: tokens\n%s\nwant\n%s", b, a, want)
	}
	if twice {
		return
	}
	for _, op := range []Op{OpSign, OpVerify, OpPending} {
		decode := func(d TokenReader) (any, string, string) {
			var start xml.StartElement
			for {
				tok, err := d.Token()
				if err != nil {
					return nil, "no start: " + err.Error(), ""
				}
				if s, ok := tok.(xml.StartElement); ok {
					start = s
					break
				}
			}
			req := NewRequest(op)
			errText := ""
			if err := d.DecodeElement(req, &start); err != nil {
				errText = err.Error()
			}
			rest := ""
			if tok, err := d.Token(); err == nil {
				rest = fmt.Sprintf("%T %+v", tok, tok)
			}
			return req, errText, rest
		}
		got, gotErr, gotRest := decode(fromToks())
		want, wantErr, wantRest := decode(fromBytes())
		if gotErr != wantErr || !reflect.DeepEqual(got, want) || gotRest != wantRest {
			t.Fatalf("%q as %v:\nTokens   %+v (err %q, then %s)\nencoding %+v (err %q, then %s)", b, op, got, gotErr, gotRest,
				want, wantErr, wantRest)
		}
	}
}

// decodeSeeds are requests of testdata/requests and inputs that reach the corners of the
// translation: prefixed and xml: attributes, a namespace named like a prefix, a Result in the
// core namespace, repeated elements, elements inside text fields, comments and CDATA.
func decodeSeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "requests", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	const core, base = `xmlns="` + NSCore + `" xmlns:dsb="` + NSBase + `"`, NSBase
	for _, s := range []string{
		`<SignRequest ` + core + ` RequestID="a" p:RequestID="b" xmlns:p="urn:p"><dsb:Profile>x<!--c-->y<q/>z</dsb:Profile><dsb:Profile/></SignRequest>`,
		`<SignRequest ` + core + `><OptionalInputs><SignatureType>a</SignatureType><SignatureType><![CDATA[b]]></SignatureType></OptionalInputs><OptionalInputs><Nonce>n</Nonce></OptionalInputs></SignRequest>`,
		`<SignRequest ` + core + `><Result><ResultMajor>m</ResultMajor></Result><x:Other xmlns:x="` + base + `" xml:lang="en" a="1"><x:Value>AAAA</x:Value></x:Other></SignRequest>`,
		`<a:SignRequest xmlns:a="b" xmlns:b="` + NSCore + `"><a:InputDocuments/></a:SignRequest>`,
		`<VerifyRequest ` + core + ` xmlns:ID="urn:id"><InputDocuments><Document ID="d" RefURI=""><Base64Data><dsb:Value> AA AA
 </dsb:Value></Base64Data></Document></InputDocuments><SignatureObject><Base64Signature><dsb:Value><xop:Include xmlns:xop="` + NSXOP + `" href="cid:x"><e/></xop:Include></dsb:Value></Base64Signature></SignatureObject></VerifyRequest>`,
		"<SignRequest " + core + " RequestID=\"a\tb\nc\rd&#10;e\"><InputDocuments ID=\" \n\"/></SignRequest>",
		`<PendingRequest ` + core + ` RequestID="r"><ClaimedIdentity><Name Format="f">alice<b/>!</Name></ClaimedIdentity><Any xmlns="urn:any" k="v">t<c xmlns="">u</c></Any></PendingRequest>`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

func TestTokensDecodeAsBefore(t *testing.T) {
	for _, b := range decodeSeeds(t) {
		toks, err := xmlsafe.Tokens(b, xmlsafe.EnvelopeLimits())
		if err != nil {
			continue // the bad- requests the gate refuses
		}
		decodeBoth(t, b, toks)
	}
}

// FuzzDecodeRequest: on every input the gate lets through, Tokens reads the tokens and the
// requests that the reader it replaced reads (oldReader), errors included.
func FuzzDecodeRequest(f *testing.F) {
	for _, b := range decodeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		toks, err := xmlsafe.Tokens(b, xmlsafe.EnvelopeLimits())
		if err != nil {
			return
		}
		decodeBoth(t, b, toks)
	})
}

// TestNamespaceTranslatedOnce: Tokens resolves each prefix to the namespace URI declared for
// it, and never looks that URI up again as a prefix (Namespaces in XML 1.0 §6), which the
// layered encoding/xml readers do: with xmlns:a="b" and xmlns:b="(core)", a:SignRequest is
// {b}SignRequest, an a:InputDocuments child {b}InputDocuments (refused as in the wrong
// namespace), and with xmlns:p="xml", p:lang is {xml}lang, not xml:lang.
func TestNamespaceTranslatedOnce(t *testing.T) {
	first := func(doc string) (*Tokens, xml.StartElement) {
		t.Helper()
		toks, err := xmlsafe.Tokens([]byte(doc), xmlsafe.EnvelopeLimits())
		if err != nil {
			t.Fatal(err)
		}
		d := NewTokens(toks)
		start, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		return d, start.(xml.StartElement)
	}
	_, root := first(`<a:SignRequest xmlns:a="b" xmlns:b="` + NSCore + `"/>`)
	if want := (xml.Name{Space: "b", Local: "SignRequest"}); root.Name != want {
		t.Errorf("root element %v, want %v", root.Name, want)
	}
	if _, ok := OpOf(root.Name); ok {
		t.Error("{b}SignRequest is read as a DSS request")
	}
	_, root = first(`<SignRequest xmlns="` + NSCore + `" xmlns:p="xml" p:lang="en"/>`)
	if want := (xml.Name{Space: "xml", Local: "lang"}); len(root.Attr) != 3 || root.Attr[2].Name != want {
		t.Errorf("attributes %v, want the last named %v", root.Attr, want)
	}

	d, start := first(`<SignRequest xmlns="` + NSCore + `" xmlns:a="b" xmlns:b="` + NSCore + `"><a:InputDocuments/></SignRequest>`)
	var w SignRequest
	if err := d.DecodeElement(&w, &start); err != nil {
		t.Fatal(err)
	}
	if w.InputDocuments != nil || len(w.Unknown) != 1 || w.Unknown[0].XMLName != (xml.Name{Space: "b", Local: "InputDocuments"}) {
		t.Fatalf("InputDocuments %v, unknown children %+v", w.InputDocuments, w.Unknown)
	}
	_, err := SignRequestFromWire(&w)
	if dss.KindOf(err) != dss.KindMalformed || !strings.Contains(fmt.Sprint(err), "{b}InputDocuments: the schema expects dss2:InputDocuments there (wrong namespace)") {
		t.Errorf("converted with error %v", err)
	}
}
