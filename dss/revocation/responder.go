package revocation

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"

	"dssd/internal/positive"
)

// Revocation is one revoked certificate, as the development responders publish it.
type Revocation struct {
	Serial    *big.Int
	RevokedAt time.Time
	Reason    int // RFC 5280 CRLReason
}

// RevokedFunc lists the revoked certificates; the development responders call it on every
// request, so a test or a developer can revoke a certificate while the server runs.
type RevokedFunc func() ([]Revocation, error)

// OCSPKey is what answers for the certificates of one issuer: the issuer's own key
// (Responder == Issuer), or a delegated responder certificate with extended key usage
// OCSPSigning that the issuer signed.
type OCSPKey struct {
	Issuer    *x509.Certificate
	Responder *x509.Certificate
	Signer    crypto.Signer
}

// ResponderOptions configure the development responders.
type ResponderOptions struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Validity is nextUpdate - thisUpdate of the answers (10 minutes when 0).
	Validity time.Duration
}

func (o ResponderOptions) defaults() ResponderOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	positive.Or(&o.Validity, 10*time.Minute)
	return o
}

const maxOCSPRequestBytes = 16 << 10

type ocspResponder struct {
	keys    []OCSPKey
	revoked RevokedFunc
	o       ResponderOptions
}

// NewOCSPResponder returns a development OCSP responder (RFC 6960 over HTTP POST) for the
// issuers in keys. A certificate is good unless revoked lists its serial number; requests
// about other issuers get "unauthorized". It is meant for development mode and tests: it
// vouches for any serial number of a known issuer.
func NewOCSPResponder(keys []OCSPKey, revoked RevokedFunc, o ResponderOptions) http.Handler {
	return &ocspResponder{keys: keys, revoked: revoked, o: o.defaults()}
}

func (h *ocspResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an application/ocsp-request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOCSPRequestBytes+1))
	if err != nil || len(body) > maxOCSPRequestBytes {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	resp := h.respond(body)
	if resp == nil {
		http.Error(w, "OCSP responder failure", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

// respond returns the DER OCSPResponse for a DER OCSPRequest, or nil on an internal failure.
func (h *ocspResponder) respond(body []byte) []byte {
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse
	}
	var key *OCSPKey
	for i := range h.keys {
		if matchesIssuer(req, h.keys[i].Issuer) {
			key = &h.keys[i]
			break
		}
	}
	if key == nil {
		return ocsp.UnauthorizedErrorResponse
	}
	list, err := h.revoked()
	if err != nil {
		return ocsp.InternalErrorErrorResponse
	}
	now := h.o.Now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now,
		NextUpdate:   now.Add(h.o.Validity),
		IssuerHash:   req.HashAlgorithm,
	}
	for _, rv := range list {
		if rv.Serial != nil && rv.Serial.Cmp(req.SerialNumber) == 0 {
			tmpl.Status = ocsp.Revoked
			tmpl.RevokedAt = rv.RevokedAt.UTC().Truncate(time.Second)
			tmpl.RevocationReason = rv.Reason
		}
	}
	if !key.Responder.Equal(key.Issuer) {
		tmpl.Certificate = key.Responder
	}
	der, err := ocsp.CreateResponse(key.Issuer, key.Responder, tmpl, key.Signer)
	if err != nil {
		return nil
	}
	return der
}

// matchesIssuer reports whether the request's CertID names issuer.
func matchesIssuer(req *ocsp.Request, issuer *x509.Certificate) bool {
	if !req.HashAlgorithm.Available() {
		return false
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	hn := req.HashAlgorithm.New()
	hn.Write(issuer.RawSubject)
	hk := req.HashAlgorithm.New()
	hk.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(hn.Sum(nil), req.IssuerNameHash) && bytes.Equal(hk.Sum(nil), req.IssuerKeyHash)
}

type crlHandler struct {
	issuer  *x509.Certificate
	signer  crypto.Signer
	revoked RevokedFunc
	o       ResponderOptions
}

// NewCRLHandler returns a development CRL distribution point: every GET returns a fresh DER
// CRL of issuer listing what revoked returns.
func NewCRLHandler(issuer *x509.Certificate, signer crypto.Signer, revoked RevokedFunc, o ResponderOptions) http.Handler {
	return &crlHandler{issuer: issuer, signer: signer, revoked: revoked, o: o.defaults()}
}

func (h *crlHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET the CRL", http.StatusMethodNotAllowed)
		return
	}
	list, err := h.revoked()
	if err != nil {
		http.Error(w, "CRL failure", http.StatusInternalServerError)
		return
	}
	now := h.o.Now().UTC().Truncate(time.Second)
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(now.Unix()),
		ThisUpdate: now,
		NextUpdate: now.Add(h.o.Validity),
	}
	for _, rv := range list {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: rv.Serial, RevocationTime: rv.RevokedAt.UTC(), ReasonCode: rv.Reason,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, h.issuer, h.signer)
	if err != nil {
		http.Error(w, "CRL failure", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}
