package store

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CheckpointFormat is the "format" of a checkpoint file.
const CheckpointFormat = "dssd-audit-checkpoint-v1"

// MaxCheckpointBytes bounds a checkpoint file read by ParseCheckpoint.
const MaxCheckpointBytes = 16 << 10

// Checkpoint is a signed statement that the audit log held Seq records, the last with hash
// HeadHash, at Time. It is written by `dssd audit checkpoint` with a key in the HSM and kept
// outside the database, so that deleting or rewinding records up to Seq, or rolling the whole
// database back to before it, shows when the log is verified against it.
type Checkpoint struct {
	Format    string    `json:"format"`
	Seq       int64     `json:"seq"`
	HeadHash  string    `json:"head_hash"` // hex
	Time      time.Time `json:"time"`      // UTC, whole nanoseconds are signed
	Key       string    `json:"key"`       // the signing key's RFC 7512 URI (informative; verification uses the configured key)
	Algorithm string    `json:"algorithm"` // "ecdsa-sha256" (ASN.1 DER) or "rsa-pkcs1-sha256"
	Signature string    `json:"signature"` // base64
}

// checkpointDigest is SHA-256 over the length-prefixed encoding of what a checkpoint signs:
// the label, Seq, the head hash and Time in Unix nanoseconds.
func checkpointDigest(seq int64, hash []byte, t time.Time) []byte {
	var e tbsEncoder
	e.str(checkpointTBS)
	e.u64(uint64(seq))
	e.str(string(hash))
	e.u64(uint64(t.UnixNano()))
	return e.sum()
}

// NewCheckpoint signs head (Seq > 0) at time t with signer (an ECDSA or RSA key; RSA signs
// PKCS #1 v1.5 with SHA-256). keyURI names the key in the file.
func NewCheckpoint(head Head, t time.Time, signer crypto.Signer, keyURI string) (*Checkpoint, error) {
	if head.Seq < 1 || len(head.Hash) != HashSize {
		return nil, errors.New("audit checkpoint: the log is empty")
	}
	t = t.UTC()
	var alg string
	switch signer.Public().(type) {
	case *ecdsa.PublicKey:
		alg = "ecdsa-sha256"
	case *rsa.PublicKey:
		alg = "rsa-pkcs1-sha256"
	default:
		return nil, fmt.Errorf("audit checkpoint: key type %T is not supported", signer.Public())
	}
	sig, err := signer.Sign(rand.Reader, checkpointDigest(head.Seq, head.Hash, t), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: sign: %w", err)
	}
	return &Checkpoint{
		Format: CheckpointFormat, Seq: head.Seq, HeadHash: hex.EncodeToString(head.Hash), Time: t,
		Key: keyURI, Algorithm: alg, Signature: base64.StdEncoding.EncodeToString(sig),
	}, nil
}

// Marshal is the file form of the checkpoint: indented JSON and a newline.
func (c *Checkpoint) Marshal() []byte {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil { // cannot happen for this struct
		panic(err)
	}
	return append(b, '\n')
}

// ParseCheckpoint reads a checkpoint file's content (not its signature: see Verify).
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	if len(data) > MaxCheckpointBytes {
		return nil, fmt.Errorf("audit checkpoint: larger than %d bytes", MaxCheckpointBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Checkpoint
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	if c.Format != CheckpointFormat {
		return nil, fmt.Errorf("audit checkpoint: format %q, want %q", c.Format, CheckpointFormat)
	}
	if c.Seq < 1 {
		return nil, fmt.Errorf("audit checkpoint: seq %d", c.Seq)
	}
	if h, err := hex.DecodeString(c.HeadHash); err != nil || len(h) != HashSize {
		return nil, errors.New("audit checkpoint: head_hash is not a hex SHA-256 hash")
	}
	if _, err := base64.StdEncoding.DecodeString(c.Signature); err != nil {
		return nil, errors.New("audit checkpoint: signature is not base64")
	}
	return &c, nil
}

// Verify checks the checkpoint's signature with pub (the configured checkpoint key's public
// key, never one named by the file) and returns the position it vouches for.
func (c *Checkpoint) Verify(pub crypto.PublicKey) (Anchor, error) {
	hash, err := hex.DecodeString(c.HeadHash)
	if err != nil || len(hash) != HashSize {
		return Anchor{}, errors.New("audit checkpoint: head_hash is not a hex SHA-256 hash")
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return Anchor{}, errors.New("audit checkpoint: signature is not base64")
	}
	d := checkpointDigest(c.Seq, hash, c.Time)
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = c.Algorithm == "ecdsa-sha256" && ecdsa.VerifyASN1(k, d, sig)
	case *rsa.PublicKey:
		ok = c.Algorithm == "rsa-pkcs1-sha256" && rsa.VerifyPKCS1v15(k, crypto.SHA256, d, sig) == nil
	default:
		return Anchor{}, fmt.Errorf("audit checkpoint: key type %T is not supported", pub)
	}
	if !ok {
		return Anchor{}, errors.New("audit checkpoint: the signature does not verify with the configured checkpoint key (file altered, or signed by another key)")
	}
	return Anchor{Seq: c.Seq, Hash: hash, Time: c.Time}, nil
}
