package sad

import (
	"crypto/hmac"
	"crypto/sha256"
)

// jobLabel separates job MACs from SAD MACs made with the same key: a SAD's signing input
// starts with its base64url header, never with this label.
const jobLabel = "dssd asynchronous job v1\x00"

// JobMAC authenticates an asynchronous job whose signature activation was checked and
// consumed at submission (dss async.go): an HMAC-SHA256, under the key every node shares,
// over the job's id, owner and stored request. A job without a valid MAC is never run as
// activated, so write access to the store does not stand in for a SAD.
func (a *Authority) JobMAC(id, owner string, payload []byte) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(jobLabel))
	for _, f := range [][]byte{[]byte(id), []byte(owner), payload} {
		var n [8]byte
		for i, l := 0, uint64(len(f)); i < 8; i++ {
			n[7-i] = byte(l >> (8 * i))
		}
		m.Write(n[:])
		m.Write(f)
	}
	return m.Sum(nil)
}

// CheckJobMAC reports whether mac is JobMAC(id, owner, payload), in constant time.
func (a *Authority) CheckJobMAC(id, owner string, payload, mac []byte) bool {
	return hmac.Equal(a.JobMAC(id, owner, payload), mac)
}
