package tsp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"
)

// DevPolicy is the TSA policy of the development authority: an OID under the ITU-T/ISO
// "example" arc (2.999), which no production policy uses.
var DevPolicy = asn1.ObjectIdentifier{2, 999, 3161, 1}

// maxRequestBytes bounds a timestamp request body: a TimeStampReq is a few hundred bytes.
const maxRequestBytes = 16 << 10

// Server is a minimal RFC 3161 timestamp authority over HTTP POST, for development mode
// (/dev/tsa) and tests. It stamps whatever digest it is sent with its clock's time.
type Server struct {
	cert   *x509.Certificate
	chain  []*x509.Certificate
	signer crypto.Signer
	clock  func() time.Time
	// Policy is the policy written into tokens (DevPolicy by default).
	Policy asn1.ObjectIdentifier
}

// NewServer returns a timestamp authority that signs with signer under cert (which needs a
// critical timeStamping extended key usage); chain holds cert's issuers, nearest first, and is
// included in tokens when the request asks for certificates. A nil clock means time.Now.
func NewServer(cert *x509.Certificate, chain []*x509.Certificate, signer crypto.Signer, clock func() time.Time) *Server {
	if clock == nil {
		clock = time.Now
	}
	return &Server{cert: cert, chain: chain, signer: signer, clock: clock, Policy: DevPolicy}
}

// ServeHTTP answers one application/timestamp-query POST.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an application/timestamp-query", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		http.Error(w, "cannot read the request", http.StatusBadRequest)
		return
	}
	if len(body) > maxRequestBytes {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	resp, err := s.Respond(body)
	if err != nil {
		http.Error(w, "timestamp authority failure", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

// Respond returns the DER TimeStampResp for a DER TimeStampReq: a token, or a rejection with
// a failure reason for a malformed request or an unsupported hash algorithm.
func (s *Server) Respond(reqDER []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(reqDER)
	if err != nil {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadDataFormat)
	}
	switch req.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadAlgorithm)
	}
	if len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadDataFormat)
	}
	if req.TSAPolicyOID != nil && !req.TSAPolicyOID.Equal(s.Policy) {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.UnacceptedPolicy)
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              s.clock().UTC().Truncate(time.Second),
		Accuracy:          time.Second,
		Policy:            s.Policy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.Certificates,
	}
	if req.Certificates {
		ts.Certificates = s.chain
	}
	return ts.CreateResponseWithOpts(s.cert, s.signer, signatureHash(s.signer.Public()))
}

// signatureHash picks the CMS digest algorithm for the TSA key: SHA-384 for P-384, SHA-512
// for P-521, SHA-256 otherwise.
func signatureHash(pub crypto.PublicKey) crypto.Hash {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch k.Curve.Params().BitSize {
		case 384:
			return crypto.SHA384
		case 521:
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}
