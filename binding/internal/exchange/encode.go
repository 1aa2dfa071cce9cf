package exchange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"sync"

	"dssd/binding/internal/xmlwire"
)

// Encoded is a response marshalled between a fixed prefix and suffix, in a buffer taken from a
// pool. Bytes are valid until Release.
type Encoded struct {
	b []byte
}

var encodedPool = sync.Pool{New: func() any { return new(Encoded) }}

// maxPooled is the largest buffer put back into the pool: a response with a large document
// does not keep its memory after it is sent.
const maxPooled = 1 << 20

// Encode writes prefix, the XML encoding of v (exactly what xml.Marshal writes) and suffix into
// a pooled buffer: a signed response is written into one buffer that has already grown, rather
// than into a new one that grows and is copied several times per response. The response
// structs are written by xmlwire.AppendXML; what it leaves (xmlwire.ErrNotWritten) by
// encoding/xml.
func Encode(prefix string, v any, suffix string) (*Encoded, error) {
	e := encodedPool.Get().(*Encoded)
	e.b = append(e.b[:0], prefix...)
	b, err := xmlwire.AppendXML(e.b, v)
	if errors.Is(err, xmlwire.ErrNotWritten) {
		buf := bytes.NewBuffer(e.b[:len(prefix)])
		err = xml.NewEncoder(buf).Encode(v)
		b = buf.Bytes()
	}
	e.b = b
	if err != nil {
		e.Release()
		return nil, err
	}
	e.b = append(e.b, suffix...)
	return e, nil
}

// Bytes returns the encoded message.
func (e *Encoded) Bytes() []byte { return e.b }

// Release returns the buffer to the pool; Bytes must not be used afterwards.
func (e *Encoded) Release() {
	if cap(e.b) > maxPooled {
		return
	}
	encodedPool.Put(e)
}
