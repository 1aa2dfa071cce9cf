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

	"dssd/dss/xmlsafe"
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
	c := make([]xml.Token, len(toks))
	for i, t := range toks {
		c[i] = xml.CopyToken(t)
	}
	return xml.NewTokenDecoder(&lenient{d: xml.NewTokenDecoder(&tokenList{toks: c})})
}

// decodeBoth reads b's gate tokens toks with Tokens and with the reader it replaced: every
// token, then the first element decoded as each request type.
func decodeBoth(t *testing.T, b []byte, toks []xml.Token) {
	t.Helper()
	fromBytes := func() TokenReader { return oldReader(toks) }
	fromToks := func() TokenReader { return NewTokens(toks) }
	// every token up to the end of the root element (the gate records no epilog)
	all := func(d TokenReader) string {
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
	if a, want := all(fromToks()), all(fromBytes()); a != want || !strings.HasSuffix(a, "}\n") {
		t.Fatalf("%q: tokens\n%s\nwant\n%s", b, a, want)
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
