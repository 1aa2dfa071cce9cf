package xmlsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type offsetToken struct {
	tok        xml.Token
	start, end int64
}

// tokenSource yields raw tokens and the offsets of their bytes: fastTokens, or encoding/xml.
type tokenSource interface {
	next() (t token, start, end int64, err error)
}

// readAll reads src to the end as encoding/xml tokens, copied; it stops at the first error,
// which it returns. A token's string, when it has one, must be its bytes.
func readAll(src tokenSource) ([]offsetToken, error) {
	var out []offsetToken
	var r tokenRecorder
	for {
		t, start, end, err := src.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if t.hasStr && t.str != string(t.data) {
			return out, fmt.Errorf("token at %d: string %q, bytes %q", start, t.str, t.data)
		}
		if t.kind == tokDirective { // the recorder never sees one: the gate refuses them
			out = append(out, offsetToken{xml.Directive(bytes.Clone(t.data)), start, end})
			continue
		}
		r.add(&t)
		out = append(out, offsetToken{xml.CopyToken(r.toks[len(r.toks)-1]), start, end})
	}
}

// readAllRaw reads b with encoding/xml's RawToken (the gate's settings) as readAll does.
func readAllRaw(b []byte) ([]offsetToken, error) {
	var out []offsetToken
	s := newStdTokens(b)
	for {
		start := s.dec.InputOffset()
		tok, err := s.raw()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, offsetToken{xml.CopyToken(tok), start, s.dec.InputOffset()})
	}
}

// sameAsRawToken checks the oracle of fastTokens on b (which passed checkChars), in each of
// its modes: every token it returns, with its offsets, is the one encoding/xml's RawToken
// returns at that point; when it reads to the end, RawToken reads the same tokens and ends
// there too. It also checks that stdTokens hands the gate RawToken's tokens.
func sameAsRawToken(b []byte) (fallback bool, err error) {
	std, serr := readAllRaw(b)
	viaStd, verr := readAll(newStdTokens(b))
	if !reflect.DeepEqual(std, viaStd) || (serr == nil) != (verr == nil) {
		return false, errors.New("stdTokens does not hand over RawToken's tokens")
	}
	for _, mode := range []tokenMode{modeCheck, modeStrings, modeKeep} {
		fast, ferr := readAll(newFastTokens(b, mode))
		if ferr != nil && !errors.Is(ferr, errFallback) {
			return false, errors.New("fastTokens failed with " + ferr.Error())
		}
		if len(std) < len(fast) {
			return false, errors.New("fastTokens read tokens RawToken did not read")
		}
		for i := range fast {
			if !reflect.DeepEqual(fast[i], std[i]) {
				return false, errors.New("token " + itoa(i) + " differs: " + fmtToken(fast[i]) + " / " + fmtToken(std[i]))
			}
		}
		if ferr == nil && (serr != nil || len(std) != len(fast)) {
			return false, errors.New("fastTokens read to the end, RawToken did not")
		}
		fallback = ferr != nil
	}
	return fallback, nil
}

func itoa(i int) string { return string(rune('0'+i%10)) + "…" }

func fmtToken(t offsetToken) string {
	b, _ := xml.Marshal(struct {
		T     string
		S, E  int64
		Value string
	}{reflect.TypeOf(t.tok).String(), t.start, t.end, func() string {
		switch v := t.tok.(type) {
		case xml.CharData:
			return string(v)
		case xml.Comment:
			return string(v)
		case xml.ProcInst:
			return v.Target + " " + string(v.Inst)
		case xml.StartElement:
			s := v.Name.Space + ":" + v.Name.Local
			for _, a := range v.Attr {
				s += " " + a.Name.Space + ":" + a.Name.Local + "=" + a.Value
			}
			return s
		case xml.EndElement:
			return v.Name.Space + ":" + v.Name.Local
		}
		return ""
	}()})
	return string(b)
}

// TestFastTokensReadRealInputs: the request messages and documents of testdata are read by
// fastTokens to the end (no fallback), exactly as RawToken reads them.
func TestFastTokensReadRealInputs(t *testing.T) {
	t.Parallel()
	var files []string
	for _, pattern := range []string{"../../testdata/requests/*.xml", "../../testdata/documents/*.xml", "../xades/testdata/docs/*.xml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	read := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, _, err := stripBOM(b)
		if err != nil || checkChars(body, 0) != nil {
			continue
		}
		fallback, err := sameAsRawToken(body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !fallback {
			read++
		}
	}
	if read < 20 {
		t.Fatalf("fastTokens read only %d of %d files to the end", read, len(files))
	}
	// The benchmark's document (with a CDATA section) and request take the fast path.
	for _, f := range []string{"../../testdata/documents/invoice.xml", "../../testdata/requests/soap12-sign-enveloped.xml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(newFastTokens(b, modeCheck)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// FuzzFastTokens: on anything checkChars accepts, fastTokens returns exactly RawToken's tokens
// and offsets, up to the end or up to where it gives up.
func FuzzFastTokens(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>` + "\n<a:r xmlns:a=\"urn:a\" x='1' y=\"&lt;&#x41;&#66;\">t&amp;\r\nu<b/><!-- c --><?pi d?></a:r>\n",
		`<r a="]]>">]]&gt;</r>`,
		"<r>\r\r\n&#13;\n</r>",
		`<r><![CDATA[x]]></r>`,
		"<r><![CDATA[a\r\nb\r]]]]><![CDATA[>&amp;]]></r>",
		`<!DOCTYPE r><r/>`,
		`<r:>x</r:>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkChars(b, 0) != nil {
			return
		}
		if _, err := sameAsRawToken(b); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
	})
}

// gateVerdict runs the gate's tokenizing pass over b (which passed checkChars and checkDecl)
// with the tokens of fastTokens (fast) or of encoding/xml alone, recording the tokens, and
// returns its end, error and tokens. With fast, errFallback is returned as it is (tokenize
// would then run the pass again with encoding/xml).
func gateVerdict(b []byte, lim Limits, fast bool) (int64, error, []xml.Token) {
	var g gate
	g.start(b, 0, lim)
	r := &tokenRecorder{}
	if fast {
		end, err := tokenizeFrom(nil, newFastTokens(b, modeKeep), nil, &g, sink{rec: r})
		return end, err, r.toks
	}
	end, err := tokenizeFrom(nil, nil, newStdTokens(b), &g, sink{rec: r})
	return end, err, r.toks
}

// FuzzGateFastSlow: where fastTokens reads an input to the end, the gate's verdict over its
// tokens is the verdict over encoding/xml's: the same error (reason, offset, detail) or the
// same accepted tokens. The checks the gate skips for a token fastTokens marks checked
// (gate.checkTag, the references of text) must have had nothing to refuse or normalize. Small
// limits, so that every limit (nodes among them) is reached, and the envelope limits.
func FuzzGateFastSlow(f *testing.F) {
	addHostileSeeds(f)
	for _, s := range []string{
		`<a:r xmlns:a="urn:a" x='1' y="&lt;&#x41;&#66;">t&amp;` + "\r\n" + `u<b/><!-- c --><?pi d?></a:r>`,
		"<r a=\"x\ty\" b='&#9;\r\n'>&#xD;&#xA;</r>",
		`<r a="1"b="2"/>`,
		`<r a="&#xD800;">&#xDFFF;</r>`,
		`<r xmlns:p="urn:p" p:a="1" xmlns:q="urn:p" q:a="2"/>`,
		`<r><s a="1" b="2" c="3"/><s/><s/>t</r>`,
		`<r xmlns="">` + strings.Repeat(`<e x="1"/>`, 20) + `</r>`,
		`<r/> x`,
	} {
		f.Add([]byte(s))
	}
	small := Limits{MaxBytes: 1 << 20, MaxDepth: 4, MaxElements: 16, MaxAttrs: 4, MaxNSPerElement: 2,
		MaxNSInScope: 3, MaxTextBytes: 64, MaxNodes: 24}.normalize()
	limits := []Limits{small, EnvelopeLimits().normalize()}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkChars(b, 0) != nil || checkDecl(b, 0) != nil {
			return
		}
		for _, lim := range limits {
			fend, ferr, ftoks := gateVerdict(b, lim, true)
			if errors.Is(ferr, errFallback) {
				continue
			}
			send, serr, stoks := gateVerdict(b, lim, false)
			if (ferr == nil) != (serr == nil) || ferr != nil && ferr.Error() != serr.Error() {
				t.Fatalf("%q: over fastTokens the gate says %v, over encoding/xml %v", b, ferr, serr)
			}
			if ferr == nil && (fend != send || !reflect.DeepEqual(ftoks, stoks)) {
				t.Fatalf("%q: the gate accepts other tokens over fastTokens (end %d) than over encoding/xml (end %d)", b, fend, send)
			}
		}
	})
}
