package soap

import (
	"bytes"
	"errors"
	"maps"
	"mime"
	"mime/multipart"
	"testing"

	"dssd/binding/internal/exchange"
	"dssd/binding/internal/reqlog"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
)

// FuzzMTOM: any multipart body either yields a request whose every xop:Include is resolved,
// or a DSS error (a refusal with a Kind the table maps), or a root-part error; never a panic,
// and never more kept in memory than the limits allow.
func FuzzMTOM(f *testing.F) {
	const boundary = "b0und4ry"
	msg := func(env string, parts ...string) []byte {
		var b bytes.Buffer
		b.WriteString("--" + boundary + "\r\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\r\nContent-ID: <root>\r\n\r\n" + env)
		for i := 0; i+1 < len(parts); i += 2 {
			b.WriteString("\r\n--" + boundary + "\r\nContent-ID: <" + parts[i] + ">\r\nContent-Transfer-Encoding: binary\r\n\r\n" + parts[i+1])
		}
		b.WriteString("\r\n--" + boundary + "--\r\n")
		return b.Bytes()
	}
	env := func(docs, opts string) string {
		return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><c:SignRequest xmlns:c="http://docs.oasis-open.org/dss-x/ns/core" xmlns:b="http://docs.oasis-open.org/dss-x/ns/base" xmlns:x="http://www.w3.org/2004/08/xop/include" RequestID="r"><c:InputDocuments>` +
			docs + `</c:InputDocuments><c:OptionalInputs>` + opts + `</c:OptionalInputs></c:SignRequest></s:Body></s:Envelope>`
	}
	doc := func(id, cid string) string {
		return `<c:Document ID="` + id + `" RefURI="` + id + `"><c:Base64Data><b:Value><x:Include href="cid:` + cid + `"/></b:Value></c:Base64Data></c:Document>`
	}
	f.Add(msg(env(doc("a", "1"), ""), "1", "data"))
	f.Add(msg(env(doc("a", "1")+doc("b", "2"), `<c:SignaturePlacement WhichData="b"><c:XPathFirstChildOf>/*</c:XPathFirstChildOf></c:SignaturePlacement>`), "1", "data", "2", "<x/>"))
	f.Add(msg(env(doc("a", "1"), ""), "1", "data", "1", "again"))
	f.Add(msg(env(doc("a", "%31"), ""), "1", "data", "9", "extra"))
	f.Fuzz(func(t *testing.T, body []byte) {
		mr := multipart.NewReader(bytes.NewReader(body), boundary)
		root, err := readRoot(mr, "<root>", 1<<16)
		if err != nil {
			return
		}
		toks, err := exchange.GateTokens(root, 1<<16, 0)
		if err != nil {
			return
		}
		p, _, fl := parseEnvelope(toks, false, v12)
		if fl != nil {
			return
		}
		atts, err := xmlwire.Attachments(p.req)
		if err == nil {
			lim := attachmentLimits{maxBytes: 1 << 12, maxCount: 4, maxDoc: 1 << 10, maxHeld: 1 << 11}
			err = readAttachments(mr, atts, lim, 0, &reqlog.Event{})
			if err == nil {
				held := 0
				for _, a := range atts {
					if a.Value.Include != "" {
						t.Fatalf("unresolved include %s", a.CID)
					}
					if a.Value.Streamed == nil {
						held += len(a.Value.Bytes)
					} else if !a.Digest {
						t.Fatalf("a kept value was streamed")
					}
				}
				if held > 1<<11*len(atts)+1 {
					t.Fatalf("%d bytes kept", held)
				}
			}
		}
		var de *dss.Error
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("not a DSS error: %v", err)
		}
	})
}

// TestIsMTOMAsParseMediaType: the quick refusal in isMTOM never refuses a type that
// mime.ParseMediaType reads as multipart/related.
func TestIsMTOMAsParseMediaType(t *testing.T) {
	for _, ct := range []string{
		"application/soap+xml; charset=utf-8", "text/xml", "", ";", "multipart/related",
		` Multipart/Related ; type="application/xop+xml"; boundary=b`, "MULTIPART/RELATED\t;boundary=x",
		"multipart/related-x; boundary=b", "multipart/relate", "multipart/related;;", "multipart/\u212Aelated",
		"\u00a0multipart/related\u0085; boundary=b",
	} {
		mt, params, err := mime.ParseMediaType(ct)
		want := err == nil && mt == "multipart/related"
		got, gotParams := isMTOM(ct)
		if got != want || (want && !maps.Equal(params, gotParams)) {
			t.Errorf("isMTOM(%q) = %v %v, ParseMediaType %q %v %v", ct, got, gotParams, mt, params, err)
		}
	}
}
