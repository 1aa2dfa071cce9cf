package soap

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dssd/binding/internal/exchange"
	"dssd/binding/internal/xmlwire"
	"dssd/internal/testkit/xmlnstest"
)

// FuzzSOAPEnvelope: any input behind the gate either parses or yields a fault; no panic,
// no hang; and the gate's recorded tokens decode to exactly what a decoder of the bytes
// decodes (request, version, fault). Seeds are the SOAP requests of testdata/requests.
func FuzzSOAPEnvelope(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "requests", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if base := filepath.Base(p); strings.Contains(base, "soap") || strings.HasPrefix(base, "bad-") {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	// a namespace URI that is itself a prefix in scope: translated once, {b}SignRequest
	f.Add([]byte(`<s:Envelope xmlns:s="` + NS12 + `"><s:Body><a:SignRequest xmlns:a="b" xmlns:b="` + xmlwire.NSCore + `"/></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		toks, err := exchange.GateTokens(b, 1<<20, 0)
		if err != nil {
			return
		}
		for _, peek := range []bool{false, true} {
			p, v, fl := parseEnvelope(toks, peek, v12)
			if (p == nil) == (fl == nil) {
				t.Fatalf("parseEnvelope returned %v and %v", p, fl)
			}
			// The gate's tokens decode to what a decoder of the bytes reads, but for attribute
			// values with a tab or line break, which the gate normalizes (XML 1.0 §3.3.3) and
			// encoding/xml does not (FuzzDecodeRequest compares those with the reader Tokens
			// replaced, over the same tokens), and for names that the decoder of the bytes
			// translates twice where Tokens translates once, as Namespaces in XML says
			// (xmlnstest.TranslatedTwice; FuzzDecodeRequest compares their tokens).
			bp, bv, bfl := decodeEnvelope(xmlwire.NewDecoder(bytes.NewReader(exchange.StripBOM(b))), peek, v12)
			if !attrBreaks(b) && !translatedTwice(b) && (!reflect.DeepEqual(p, bp) || v != bv || !reflect.DeepEqual(fl, bfl)) {
				t.Fatalf("%q (peek %v): from tokens %+v %v %+v, from bytes %+v %v %+v", b, peek, p, v, fl, bp, bv, bfl)
			}
			if fl != nil {
				if _, status, _ := faultMessage(v12, fl); status != 400 && status != 500 {
					t.Fatalf("fault status %d", status)
				}
			}
		}
	})
}

// attrBreaks reports whether an attribute value of b holds a tab, line feed or carriage return
// (literal or as a character reference).
func attrBreaks(b []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(exchange.StripBOM(b)))
	for {
		t, err := d.RawToken()
		if err != nil {
			return false
		}
		if s, ok := t.(xml.StartElement); ok {
			for _, a := range s.Attr {
				if strings.ContainsAny(a.Value, "\t\n\r") {
					return true
				}
			}
		}
	}
}

// translatedTwice reports whether xmlwire.NewDecoder's layers translate a name of b twice.
func translatedTwice(b []byte) bool {
	return xmlnstest.TranslatedTwice(func() xml.TokenReader { return xml.NewDecoder(bytes.NewReader(exchange.StripBOM(b))) })
}
