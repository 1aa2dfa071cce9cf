package xmlsafe

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"io"

	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// roundTripper decides what xrv.CheckToken decides (xml-roundtrip-validator v0.1.0) for one
// token at a time, without its per-token allocations: xrv.CheckToken allocates a bytes.Buffer,
// an xml.Encoder with a fresh 4 KiB bufio.Writer and a bytes.Reader for every token, which
// made the encoder alone about a quarter of the check's CPU time and most of the gate's
// garbage (about 80 KB per 2 KB document).
//
// The encoding and decoding are still done by encoding/xml exactly as xrv.CheckToken does
// them; only the buffers are kept:
//
//   - xml.NewEncoder wraps its writer in bufio.NewWriter, which returns a *bufio.Writer that is
//     already at least 4096 bytes large instead of allocating one. Each check therefore gets a
//     new Encoder (a small struct, with the zero state xrv.CheckToken's fresh encoder has:
//     no open elements, no prefixes, prefix sequence 0) writing through the kept bufio.Writer
//     into the kept buffer. A single Encoder reused across tokens would not be equivalent:
//     its generated-prefix counter (the _1, _2 suffixes) never resets.
//   - The decoder is new for each check too (a strict one with a pass-through CharsetReader,
//     as in xrv.CheckToken), reading from the kept bytes.Reader.
//
// equalAfterRoundTrip is the comparison xrv.CheckToken makes. TestRoundTripperMatchesXRV and
// FuzzRoundTripper compare check with xrv.CheckToken token by token.
type roundTripper struct {
	buf bytes.Buffer
	w   *bufio.Writer
	r   bytes.Reader
}

// encoderBufSize is the size bufio.NewWriter (and so xml.NewEncoder) asks for.
const encoderBufSize = 4096

func passCharset(_ string, r io.Reader) (io.Reader, error) { return r, nil }

// check returns nil if before survives an encoding/xml encode and decode, and an error
// otherwise: a xrv.XMLRoundtripError if the decoded token differs, or the encoder's or
// decoder's error.
func (rt *roundTripper) check(before xml.Token) error {
	if rt.w == nil {
		rt.w = bufio.NewWriterSize(&rt.buf, encoderBufSize)
	}
	rt.buf.Reset()
	rt.w.Reset(&rt.buf) // drops anything a failed check left buffered
	enc := xml.NewEncoder(rt.w)
	end, isEnd := before.(xml.EndElement)
	if isEnd {
		// The encoder refuses an end tag without its start tag.
		if err := enc.EncodeToken(xml.StartElement{Name: end.Name}); err != nil {
			return err
		}
	}
	if err := enc.EncodeToken(before); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	encoded := rt.buf.Bytes()
	rt.r.Reset(encoded)
	dec := xml.NewDecoder(&rt.r)
	dec.CharsetReader = passCharset
	if isEnd {
		if _, err := dec.RawToken(); err != nil {
			return err
		}
	}
	after, err := dec.RawToken()
	if err != nil {
		return err
	}
	if !equalAfterRoundTrip(before, after) {
		return xrv.XMLRoundtripError{Expected: before, Observed: after}
	}
	if n := dec.InputOffset(); n != int64(len(encoded)) {
		return xrv.XMLRoundtripError{Expected: before, Observed: after, Overflow: bytes.Clone(encoded[n:])}
	}
	return nil
}

// equalAfterRoundTrip reports whether after (decoded by RawToken) is before once the changes
// the encoder always makes are undone. The encoder treats a name's Space as a namespace name,
// not as the prefix RawToken put there: an element's Space becomes a default namespace
// declaration (xmlns="space") written as the first attribute, and an attribute's Space
// becomes a generated prefix declared (xmlns:p="space") just before the first attribute that
// uses it. An end tag comes back with the local name alone.
func equalAfterRoundTrip(before, after xml.Token) bool {
	switch b := before.(type) {
	case xml.StartElement:
		a, ok := after.(xml.StartElement)
		return ok && equalStart(b, a)
	case xml.EndElement:
		a, ok := after.(xml.EndElement)
		return ok && a.Name.Space == "" && a.Name.Local == b.Name.Local
	case xml.ProcInst:
		a, ok := after.(xml.ProcInst)
		return ok && a.Target == b.Target && bytes.Equal(a.Inst, b.Inst)
	case xml.CharData:
		a, ok := after.(xml.CharData)
		return ok && bytes.Equal(a, b)
	case xml.Comment:
		a, ok := after.(xml.Comment)
		return ok && bytes.Equal(a, b)
	case xml.Directive:
		a, ok := after.(xml.Directive)
		return ok && bytes.Equal(a, b)
	}
	return false
}

func equalStart(b, a xml.StartElement) bool {
	name := a.Name
	attrs := a.Attr // a is the decoder's own copy: edited in place
	if len(attrs) > len(b.Attr) {
		// The element's own namespace, declared first.
		if b.Name.Space != "" && name.Space == "" && attrs[0].Name == (xml.Name{Local: "xmlns"}) {
			name.Space = attrs[0].Value
			attrs = attrs[1:]
		}
		// Generated attribute prefixes, while there are more attributes than before: take the
		// first declaration immediately followed by an attribute in its prefix, drop it and
		// give every attribute in that prefix the declared namespace back as its Space.
		for len(attrs) > len(b.Attr) && len(attrs) > 1 {
			decl := -1
			for i := 1; i < len(attrs); i++ {
				if attrs[i-1].Name.Space == "xmlns" && attrs[i-1].Name.Local == attrs[i].Name.Space {
					decl = i - 1
					break
				}
			}
			if decl < 0 {
				break
			}
			prefix, space := attrs[decl].Name.Local, attrs[decl].Value
			attrs = append(attrs[:decl], attrs[decl+1:]...)
			for j := range attrs {
				if attrs[j].Name.Space == prefix {
					attrs[j].Name.Space = space
				}
			}
		}
	}
	if name != b.Name || len(attrs) != len(b.Attr) {
		return false
	}
	for i := range attrs {
		if attrs[i] != b.Attr[i] {
			return false
		}
	}
	return true
}
