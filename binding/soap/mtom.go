package soap

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"dssd/binding/internal/exchange"
	"dssd/binding/internal/reqlog"
	"dssd/binding/internal/xmlwire"
	"dssd/dss"
)

// MTOM/XOP (SOAP 1.2 and 1.1): a multipart/related message with type="application/xop+xml"
// whose first part is the SOAP envelope (the root part) and whose other parts are attachments
// named by the xop:Include elements inside dsb:Value. The root part is read (bounded by the XML
// body limit, or the unauthenticated limit), gated and parsed before any attachment byte is
// read; the attachments are then read in one pass, in the order they arrive: the data of a
// document signed detached goes into SHA-256 and is dropped (dss.StreamedData), every other
// value is kept in memory, bounded by the document size limit each and, together with the
// root part, by the XML body limit.

// Default MTOM limits (docs/config.md).
const (
	DefaultMaxAttachmentBytes = 4 << 30
	DefaultMaxAttachments     = 16
)

// respOptimizeMin is the size from which a binary value of a response to an MTOM request is
// sent as an attachment.
const respOptimizeMin = 1024

// isMTOM reports whether a Content-Type is an MTOM message (multipart/related), and its
// parameters.
func isMTOM(ct string) (bool, map[string]string) {
	// mime.ParseMediaType lower-cases and trims the type before ";": a type that does not
	// even fold to multipart/related is not one, and is not parsed (every SOAP request).
	base, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(base), "multipart/related") {
		return false, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/related" {
		return false, nil
	}
	return true, params
}

// IsMTOM reports whether r is an MTOM request (used by the server to give it the upload
// deadlines).
func IsMTOM(r *http.Request) bool {
	ok, _ := isMTOM(r.Header.Get("Content-Type"))
	return ok && r.Method == http.MethodPost
}

// mtomVersion checks the parameters of an MTOM Content-Type and returns the SOAP version its
// start-info announces (only a fallback for faults: the envelope's namespace decides).
func mtomVersion(params map[string]string) (version, string) {
	if !strings.EqualFold(params["type"], "application/xop+xml") {
		return version{}, `multipart/related is accepted as MTOM only, with type="application/xop+xml"`
	}
	if params["boundary"] == "" {
		return version{}, "multipart/related without a boundary"
	}
	if mt, _, _ := mime.ParseMediaType(params["start-info"]); mt == "text/xml" {
		return v11, ""
	}
	return v12, ""
}

// mtomErr is a refusal of an MTOM message after authentication: a DSS error (RequesterError)
// answered as a DSS response, or an overload.
func mtomErr(kind dss.Kind, format string, a ...any) error { return dss.Errorf(kind, format, a...) }

// readRoot reads the root part of an MTOM message: the first part, whose Content-ID must be
// the start parameter when there is one. limit bounds it.
func readRoot(mr *multipart.Reader, start string, limit int64) ([]byte, error) {
	p, err := mr.NextRawPart()
	if err != nil {
		return nil, fmt.Errorf("%w: no root part: %v", errTruncated, err)
	}
	if start != "" && contentID(p.Header) != strings.Trim(start, "<>") {
		return nil, errRootFirst
	}
	mt, params, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
	if err != nil {
		return nil, errRootType
	}
	switch mt {
	case "application/xop+xml", "application/soap+xml", "text/xml":
		// node-soap labels the root part of a SOAP 1.2 message text/xml: the envelope's
		// namespace decides the version.
	default:
		return nil, errRootType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, errRootType
	}
	r, err := partReader(p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, exchange.ErrTooLarge
	}
	return buf.Bytes(), nil
}

var (
	errTruncated = errors.New("the multipart message is truncated or malformed")
	errRootFirst = errors.New("the root part (the start parameter) must be the first part")
	errRootType  = errors.New(`the root part must be application/xop+xml (or application/soap+xml, text/xml) in utf-8`)
)

// contentID is the Content-ID of a part without its angle brackets.
func contentID(h textproto.MIMEHeader) string {
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h.Get("Content-Id")), "<"), ">"))
}

// partReader decodes a part's Content-Transfer-Encoding: binary, 8bit, 7bit or none as they
// are, base64 decoded; others are refused.
func partReader(p *multipart.Part) (io.Reader, error) {
	switch cte := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))); cte {
	case "", "binary", "8bit", "7bit":
		return p, nil
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, p), nil
	default:
		return nil, mtomErr(dss.KindMalformed, "part %q: Content-Transfer-Encoding %q is not supported (binary, 8bit, 7bit, base64)", contentID(p.Header), cte)
	}
}

// attachmentLimits bound the attachments of one MTOM message.
type attachmentLimits struct {
	maxBytes int64 // one streamed attachment
	maxCount int   // attachments in the message
	maxDoc   int64 // one attachment kept in memory
	maxHeld  int64 // the root part and every attachment kept in memory together
}

// hashSink is where a streamed attachment goes: SHA-256, the size and the first bytes.
type hashSink struct {
	h    interface{ Write([]byte) (int, error) }
	sum  func() []byte
	n    int64
	head []byte
}

func (s *hashSink) Write(p []byte) (int, error) {
	if room := dss.StreamedHeadBytes - len(s.head); room > 0 {
		s.head = append(s.head, p[:min(room, len(p))]...)
	}
	s.n += int64(len(p))
	return s.h.Write(p)
}

// readAttachments reads the rest of the MTOM message and resolves the attachments of atts.
// held is what the root part already holds. It returns a DSS error (naming the problem) for
// a refusal, exchange.ErrBusy or a read error otherwise.
func readAttachments(mr *multipart.Reader, atts []xmlwire.Attachment, lim attachmentLimits, held int64, ev *reqlog.Event) error {
	want := map[string][]*xmlwire.Attachment{}
	for i := range atts {
		a := &atts[i]
		want[a.CID] = append(want[a.CID], a)
	}
	seen := map[string]bool{}
	count := 0
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readErr(err, "between parts")
		}
		count++
		ev.Attachments = count
		if count > lim.maxCount {
			return mtomErr(dss.KindLimit, "the message has more than %d attachments (limits.max_attachments)", lim.maxCount)
		}
		cid := contentID(p.Header)
		if cid == "" {
			return mtomErr(dss.KindMalformed, "attachment %d has no Content-ID", count)
		}
		if seen[cid] {
			return mtomErr(dss.KindMalformed, "two attachments have the Content-ID <%s>", cid)
		}
		seen[cid] = true
		refs := want[cid]
		if len(refs) == 0 {
			return mtomErr(dss.KindMalformed, "attachment <%s> is not referenced by any xop:Include", cid)
		}
		r, err := partReader(p)
		if err != nil {
			return err
		}
		digest := true
		for _, a := range refs {
			digest = digest && a.Digest
		}
		if digest {
			h := sha256.New()
			s := &hashSink{h: h, sum: func() []byte { return h.Sum(nil) }}
			n, err := io.Copy(s, io.LimitReader(r, lim.maxBytes+1))
			ev.AttachmentBytes += n
			if err != nil {
				return readErr(err, "attachment <"+cid+">")
			}
			if n > lim.maxBytes {
				return mtomErr(dss.KindLimit, "attachment <%s> is larger than %d bytes (limits.max_attachment_bytes)", cid, lim.maxBytes)
			}
			st := &dss.StreamedData{Size: n, SHA256: s.sum(), Head: s.head}
			for _, a := range refs {
				a.Value.Streamed, a.Value.Include = st, ""
			}
			continue
		}
		max := min(lim.maxDoc, lim.maxHeld-held)
		var buf bytes.Buffer
		n, err := buf.ReadFrom(io.LimitReader(r, max+1))
		ev.AttachmentBytes += n
		if err != nil {
			return readErr(err, "attachment <"+cid+">")
		}
		if n > max {
			if max < lim.maxDoc {
				return mtomErr(dss.KindLimit, "attachment <%s> (%s) would make the message hold more than %d bytes in memory (limits.max_body_bytes); only data signed detached is streamed", cid, refs[0].Path, lim.maxHeld)
			}
			return mtomErr(dss.KindLimit, "attachment <%s> (%s) is larger than %d bytes (limits.max_document_bytes); only data signed detached is streamed", cid, refs[0].Path, lim.maxDoc)
		}
		held += n
		for _, a := range refs {
			a.Value.Bytes, a.Value.Include = buf.Bytes(), ""
			if a.Value.Bytes == nil {
				a.Value.Bytes = []byte{}
			}
		}
	}
	for _, a := range atts {
		if a.Value.Include != "" {
			return mtomErr(dss.KindMalformed, "%s names the attachment <%s>, which the message does not carry", a.Path, a.CID)
		}
	}
	return nil
}

// readErr classifies an error while reading the multipart body.
func readErr(err error, where string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, exchange.ErrBusy):
		return err
	case errors.As(err, &mbe):
		return mtomErr(dss.KindLimit, "the MTOM message is larger than %d bytes (limits.max_mtom_bytes)", mbe.Limit)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return mtomErr(dss.KindMalformed, "the multipart message is truncated (%s)", where)
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return mtomErr(dss.KindMalformed, "%s: the base64 Content-Transfer-Encoding is not valid", where)
	}
	return mtomErr(dss.KindMalformed, "the multipart message is malformed (%s): %s", where, exchange.ClientText(err.Error()))
}

// newBoundary returns a random MIME boundary (and Content-ID base).
func newBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mtomResponse renders an encoded envelope as an MTOM message if resp (already encoded into
// msg with its xop:Include references) has attachments. It returns the body and its
// Content-Type.
func mtomResponse(v version, msg []byte, atts []xmlwire.Attachment, boundary string) ([]byte, string) {
	startInfo := "application/soap+xml"
	if v.ns == NS11 {
		startInfo = "text/xml"
	}
	root := "root." + boundary + "@dssd"
	var b bytes.Buffer
	size := len(msg) + 512
	for _, a := range atts {
		size += len(a.Value.Bytes) + 256
	}
	b.Grow(size)
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary(boundary)
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", `application/xop+xml; charset=utf-8; type="`+startInfo+`"`)
	h.Set("Content-Transfer-Encoding", "binary")
	h.Set("Content-ID", "<"+root+">")
	pw, _ := mw.CreatePart(h)
	_, _ = pw.Write(msg)
	for _, a := range atts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("Content-ID", "<"+a.CID+">")
		pw, _ := mw.CreatePart(h)
		_, _ = pw.Write(a.Value.Bytes)
	}
	_ = mw.Close()
	ct := `multipart/related; type="application/xop+xml"; boundary="` + boundary + `"; start="<` + root + `>"; start-info="` + startInfo + `"`
	return b.Bytes(), ct
}

// cidGen returns a generator of Content-IDs for the attachments of one response.
func cidGen(boundary string) func() string {
	n := 0
	return func() string {
		n++
		return strconv.Itoa(n) + "." + boundary + "@dssd"
	}
}
