// Package mtomclient is the client side of MTOM for the commands (dss, dssbench): a SOAP 1.2
// request as a multipart/related message (XOP 1.0, MTOM) whose one attachment is streamed
// from a reader through an io.Pipe and a mime/multipart writer, never held in memory.
package mtomclient

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
)

// Body is the body of an MTOM request: read it (as an http.Request body) to its end or close
// it. ContentType is the value of the request's Content-Type header.
type Body struct {
	*io.PipeReader
	ContentType string
}

// NewBody streams root, the SOAP 1.2 envelope (whose xop:Include names cid), as the root part
// under the Content-ID rootID, then att as the attachment cid (application/octet-stream,
// binary). A failure to read att ends the body with that error.
func NewBody(root []byte, rootID, cid string, att io.Reader) *Body {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", `application/xop+xml; charset=UTF-8; type="application/soap+xml"`)
			h.Set("Content-Transfer-Encoding", "8bit")
			h.Set("Content-ID", "<"+rootID+">")
			w, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			if _, err := w.Write(root); err != nil {
				return err
			}
			h = textproto.MIMEHeader{}
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Transfer-Encoding", "binary")
			h.Set("Content-ID", "<"+cid+">")
			if w, err = mw.CreatePart(h); err != nil {
				return err
			}
			if _, err := io.Copy(w, att); err != nil {
				return fmt.Errorf("reading the file: %w", err)
			}
			return mw.Close()
		}()
		_ = pw.CloseWithError(err)
	}()
	ct := `multipart/related; type="application/xop+xml"; boundary="` + mw.Boundary() + `"; start="<` + rootID +
		`>"; start-info="application/soap+xml"`
	return &Body{PipeReader: pr, ContentType: ct}
}
