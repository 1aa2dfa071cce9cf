package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"dssd/cmd/internal/mtomclient"
)

// A detached signature of a file streams it to the server as an MTOM attachment over SOAP
// 1.2 (POST /soap): the file is copied from disk into the request through an io.Pipe and a
// mime/multipart writer, never read into memory, and the server hashes it as it arrives.

const (
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsXOP    = "http://www.w3.org/2004/08/xop/include"
)

// signMTOM posts signReq (a SignRequest whose document is an xop:Include of cid) with the
// file f (size bytes) as its attachment, and returns the HTTP status and the SignResponse
// element of the answer (MTOM or plain SOAP; a SOAP fault is an error). prog, when not nil,
// follows the upload.
func (c *client) signMTOM(ctx context.Context, signReq []byte, f io.Reader, cid string, prog *progress) (int, []byte, error) {
	signReq = bytes.TrimPrefix(signReq, []byte(xml.Header))
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return 0, nil, err
	}
	rootID := "root." + hex.EncodeToString(rnd[:]) + "@dss"
	var src io.Reader = f
	if prog != nil {
		src = prog.reader(f)
	}
	root := append([]byte(xml.Header+`<soap:Envelope xmlns:soap="`+nsSOAP12+`"><soap:Body>`), signReq...)
	body := mtomclient.NewBody(append(root, `</soap:Body></soap:Envelope>`...), rootID, cid, src)
	pr, ct := body.PipeReader, body.ContentType
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/soap", pr)
	if err != nil {
		_ = pr.Close()
		return 0, nil, err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if prog != nil {
		prog.done()
	}
	_ = pr.Close()
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("POST /soap: reading the answer: %w", err)
	}
	if len(data) > maxResponseBytes {
		return 0, nil, fmt.Errorf("POST /soap: the answer is larger than %d bytes", maxResponseBytes)
	}
	env, err := xopDecode(resp.Header.Get("Content-Type"), data)
	if err != nil {
		return 0, nil, fmt.Errorf("POST /soap: HTTP %d: %v%s", resp.StatusCode, err, snippet(data))
	}
	child, err := soapBodyChild(env)
	if err != nil {
		return 0, nil, fmt.Errorf("POST /soap: HTTP %d: %v%s", resp.StatusCode, err, snippet(env))
	}
	return resp.StatusCode, child, nil
}

// xopDecode returns the SOAP envelope of an answer: the body itself, or for an MTOM answer
// its root part with every xop:Include replaced by the base64 of the attachment it names
// (XOP 1.0 §3.2, the reconstructed message).
func xopDecode(contentType string, data []byte) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/related" {
		return data, nil
	}
	mr := multipart.NewReader(bytes.NewReader(data), params["boundary"])
	var root []byte
	atts := map[string][]byte{}
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the MTOM answer is malformed: %w", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("the MTOM answer is malformed: %w", err)
		}
		if i == 0 {
			root = b
			continue
		}
		atts[strings.Trim(strings.TrimSpace(p.Header.Get("Content-Id")), "<>")] = b
	}
	if root == nil {
		return nil, errors.New("the MTOM answer has no root part")
	}
	// Rebuild the envelope token by token: every xop:Include becomes the base64 text of its
	// attachment; everything else is copied.
	var out bytes.Buffer
	dec := xml.NewDecoder(bytes.NewReader(root))
	last := int64(0)
	for {
		t, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the MTOM root part is not XML: %w", err)
		}
		se, ok := t.(xml.StartElement)
		if !ok || se.Name.Local != "Include" {
			continue
		}
		end := dec.InputOffset()
		// The Include tag is self-closing in every client and server we know; find its start.
		open := bytes.LastIndex(root[:end], []byte("<"))
		href := ""
		for _, a := range se.Attr {
			if a.Name.Local == "href" {
				href = a.Value
			}
		}
		cid, ok := strings.CutPrefix(href, "cid:")
		b, found := atts[cid]
		if !ok || !found {
			return nil, fmt.Errorf("xop:Include names %q, which the answer does not carry", href)
		}
		if !bytes.HasSuffix(root[:end], []byte("/>")) {
			// <xop:Include ...></xop:Include>: skip to its end tag.
			if err := dec.Skip(); err != nil {
				return nil, err
			}
			end = dec.InputOffset()
		}
		out.Write(root[last:open])
		out.WriteString(base64.StdEncoding.EncodeToString(b))
		last = end
	}
	out.Write(root[last:])
	return out.Bytes(), nil
}

// soapBodyChild returns the bytes of the one element inside soap:Body; a SOAP fault is
// returned as an error with its reason.
func soapBodyChild(env []byte) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(env))
	depth := 0
	for {
		before := dec.InputOffset()
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("the answer is not a SOAP envelope")
		}
		switch e := t.(type) {
		case xml.StartElement:
			depth++
			if depth == 3 {
				if e.Name.Local == "Fault" {
					var f struct {
						Reason string `xml:"Reason>Text"`
						String string `xml:"faultstring"`
					}
					_ = dec.DecodeElement(&f, &e)
					return nil, fmt.Errorf("SOAP fault: %s%s", f.Reason, f.String)
				}
				if err := dec.Skip(); err != nil {
					return nil, errors.New("the answer is not a SOAP envelope")
				}
				// Re-declare the namespaces in scope on the extracted element: the envelope
				// declares none that the DSS element uses (dssd writes them on it).
				return env[before:dec.InputOffset()], nil
			}
		case xml.EndElement:
			depth--
		}
	}
}

// progress draws a progress bar of an upload on a terminal: bytes sent of the total, and the
// rate, redrawn at most five times a second.
type progress struct {
	w     io.Writer
	total int64
	name  string

	mu    sync.Mutex
	n     int64
	start time.Time
	last  time.Time
	ended bool
}

func newProgress(w io.Writer, name string, total int64) *progress {
	now := time.Now()
	return &progress{w: w, total: total, name: name, start: now}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (p *progress) reader(r io.Reader) io.Reader { return &progressReader{r: r, p: p} }

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond || p.n == p.total {
		p.last = now
		p.drawLocked(now)
	}
}

func (p *progress) drawLocked(now time.Time) {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.n) / float64(p.total)
	}
	filled := int(frac * width)
	rate := float64(p.n) / max(now.Sub(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r%s [%s%s] %s / %s %3.0f%% %s/s ", p.name, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		humanBytes(float64(p.n)), humanBytes(float64(p.total)), frac*100, humanBytes(rate))
}

// done ends the bar with a newline (once).
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	p.drawLocked(time.Now())
	fmt.Fprintln(p.w)
}

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
