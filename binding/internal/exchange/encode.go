package exchange

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"sync"
)

// Encoded is a response marshalled between a fixed prefix and suffix, in a buffer taken from a
// pool. Bytes are valid until Release.
type Encoded struct {
	buf bytes.Buffer
	w   *bufio.Writer
}

var encodedPool = sync.Pool{New: func() any { return new(Encoded) }}

// maxPooled is the largest buffer put back into the pool: a response with a large document
// does not keep its memory after it is sent.
const maxPooled = 1 << 20

// Encode writes prefix, the XML encoding of v (exactly what xml.Marshal writes) and suffix into
// a pooled buffer: a signed response is written into one buffer that has already grown, rather
// than into a new one that grows and is copied several times per response.
func Encode(prefix string, v any, suffix string) (*Encoded, error) {
	e := encodedPool.Get().(*Encoded)
	e.buf.Reset()
	e.buf.WriteString(prefix)
	if e.w == nil {
		e.w = bufio.NewWriterSize(&e.buf, 4096)
	} else {
		e.w.Reset(&e.buf)
	}
	// xml.NewEncoder keeps a *bufio.Writer of at least 4096 bytes as it is.
	enc := xml.NewEncoder(e.w)
	if err := enc.Encode(v); err != nil {
		e.Release()
		return nil, err
	}
	if err := enc.Close(); err != nil {
		e.Release()
		return nil, err
	}
	e.buf.WriteString(suffix)
	return e, nil
}

// Bytes returns the encoded message.
func (e *Encoded) Bytes() []byte { return e.buf.Bytes() }

// Release returns the buffer to the pool; Bytes must not be used afterwards.
func (e *Encoded) Release() {
	if e.buf.Cap() > maxPooled {
		return
	}
	encodedPool.Put(e)
}
