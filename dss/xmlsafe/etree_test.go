package xmlsafe

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"dssd/dss/internal/etreecmp"

	"github.com/beevik/etree"
)

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
	body, _, err := check(nil, b, lim.normalize(), sink{})
	if err != nil {
		return err
	}
	v := etree.NewDocument()
	v.ReadSettings = readSettings(lim.normalize())
	v.ReadSettings.ValidateInput = true
	if err := v.ReadFromBytes(normalizeRawAttrs(body)); err != nil {
		return errors.New("etree with ValidateInput refuses what the gate accepted: " + err.Error())
	}
	// ValidateInput refuses an epilog, which Parse keeps: the tree is compared with etree's
	// parse of the whole input (decoded, without its byte order mark) and ValidateInput off.
	whole := b
	if lim.AnyEncoding {
		whole, _, _ = Decode(b)
	}
	whole, _, _ = stripBOM(whole)
	v = etree.NewDocument()
	v.ReadSettings = readSettings(lim.normalize())
	if err := v.ReadFromBytes(normalizeRawAttrs(whole)); err != nil {
		return errors.New("etree refuses what the gate accepted: " + err.Error())
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

// normalizeRawAttrs replaces every literal tab, LF, CR and CR LF inside the attribute values
// of start tags by one space (XML 1.0 §3.3.3), on the raw bytes: a second implementation of
// the gate's normalization, so that etree's own parse, which keeps them, builds the same tree.
func normalizeRawAttrs(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '<' {
			out = append(out, c)
			continue
		}
		var end []byte
		switch {
		case bytes.HasPrefix(b[i:], []byte("<!--")):
			end = []byte("-->")
		case bytes.HasPrefix(b[i:], []byte("<![CDATA[")):
			end = []byte("]]>")
		case bytes.HasPrefix(b[i:], []byte("<?")):
			end = []byte("?>")
		}
		if end != nil {
			j := bytes.Index(b[i:], end) + len(end)
			out = append(out, b[i:i+j]...)
			i += j - 1
			continue
		}
		var q byte
		for ; i < len(b); i++ {
			c := b[i]
			switch {
			case q == 0 && (c == '"' || c == '\''):
				q = c
			case q != 0 && c == q:
				q = 0
			case q != 0 && c == '\r':
				if i+1 < len(b) && b[i+1] == '\n' {
					i++
				}
				c = ' '
			case q != 0 && (c == '\n' || c == '\t'):
				c = ' '
			}
			out = append(out, c)
			if q == 0 && c == '>' {
				break
			}
		}
	}
	return out
}
