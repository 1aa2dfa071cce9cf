package oauth2

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"dssd/dss"
)

// authRequest is one checked authorization request (RFC 6749 §4.1.1 with PKCE, CSC v2 §8.3.2):
// what the page transaction and a pushed request carry, sealed.
type authRequest struct {
	ClientID     string   `json:"cid"`
	RedirectURI  string   `json:"ruri"`
	State        string   `json:"state,omitempty"`
	Challenge    string   `json:"pkce"`
	Scope        string   `json:"scope"`
	CredentialID string   `json:"cred,omitempty"`
	Hashes       []string `json:"hashes,omitempty"` // standard base64
	Labels       []string `json:"labels,omitempty"`
	HashOID      string   `json:"halg,omitempty"`
}

// paramError is a refused authorization request: code is the OAuth2 error code, desc the
// text for the client. redirect says whether it may be sent to the redirect URI (false for an
// unknown client or an unregistered redirect URI: RFC 6749 §4.1.2.1).
type paramError struct {
	code, desc string
	redirect   bool
}

func (e *paramError) Error() string { return e.code + ": " + e.desc }

func invalid(format string, args ...any) *paramError {
	return &paramError{code: "invalid_request", desc: fmt.Sprintf(format, args...), redirect: true}
}

// Limits of a request's parameters.
const (
	maxParam      = 8 << 10
	maxLabel      = 200
	maxStateBytes = 1024
)

// detail is one authorization_details entry of type credential (CSC v2 §8.3.2, RFC 9396).
type detail struct {
	Type            string `json:"type"`
	CredentialID    string `json:"credentialID"`
	DocumentDigests []struct {
		Hash  string `json:"hash"`
		Label string `json:"label"`
	} `json:"documentDigests"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	Locations        []string `json:"locations"`
}

// parseClient finds the client and the redirect URI (matched exactly); failures must not
// redirect.
func (h *handler) parseClient(q url.Values) (*Client, string, *paramError) {
	cid := q.Get("client_id")
	c := h.client(cid)
	if c == nil {
		return nil, "", &paramError{code: "invalid_client", desc: "unknown client_id"}
	}
	ruri := q.Get("redirect_uri")
	if ruri == "" {
		if len(c.RedirectURIs) != 1 {
			return nil, "", &paramError{code: "invalid_request", desc: "redirect_uri is required: the client has several"}
		}
		return c, c.RedirectURIs[0], nil
	}
	for _, r := range c.RedirectURIs {
		if r == ruri {
			return c, ruri, nil
		}
	}
	return nil, "", &paramError{code: "invalid_request", desc: "redirect_uri is not registered for this client"}
}

// parseAuthRequest checks the parameters of an authorization request (query or pushed form).
func (h *handler) parseAuthRequest(q url.Values) (*authRequest, *paramError) {
	for k, v := range q {
		if len(v) > 1 {
			return nil, &paramError{code: "invalid_request", desc: fmt.Sprintf("parameter %s is given more than once", clip(k))}
		}
		if len(v[0]) > maxParam || !utf8.ValidString(v[0]) {
			return nil, &paramError{code: "invalid_request", desc: fmt.Sprintf("parameter %s is too long or not UTF-8", clip(k))}
		}
	}
	c, ruri, perr := h.parseClient(q)
	if perr != nil {
		return nil, perr
	}
	ar := &authRequest{ClientID: c.ID, RedirectURI: ruri, State: q.Get("state")}
	if len(ar.State) > maxStateBytes {
		ar.State = ""
		return ar, invalid("state is longer than %d bytes", maxStateBytes)
	}
	if rt := q.Get("response_type"); rt != "code" {
		return ar, &paramError{code: "unsupported_response_type", desc: "response_type must be code", redirect: true}
	}
	if q.Has("request") {
		return ar, &paramError{code: "request_not_supported", desc: "request objects are not supported; use pushed_authorize", redirect: true}
	}
	ar.Challenge = q.Get("code_challenge")
	if ar.Challenge == "" {
		return ar, invalid("code_challenge is required (PKCE, S256)")
	}
	if len(ar.Challenge) != 43 {
		return ar, invalid("code_challenge must be the base64url SHA-256 of the code_verifier")
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		return ar, invalid("code_challenge_method must be S256")
	}
	ad := q.Get("authorization_details")
	scope := strings.TrimSpace(q.Get("scope"))
	if scope == "" && ad != "" {
		scope = dss.ScopeCredential
	}
	switch scope {
	case dss.ScopeService:
		if ad != "" || q.Has("credentialID") || q.Has("hashes") {
			return ar, invalid("scope service takes no credential parameters")
		}
		ar.Scope = scope
		return ar, nil
	case dss.ScopeCredential:
		ar.Scope = scope
	default:
		return ar, &paramError{code: "invalid_scope", desc: "scope must be service or credential", redirect: true}
	}
	var hashes []string
	if ad != "" {
		if q.Has("credentialID") || q.Has("hashes") {
			return ar, invalid("give the credential either in authorization_details or in query parameters")
		}
		var ds []detail
		dec := json.NewDecoder(bytes.NewReader([]byte(ad)))
		if err := dec.Decode(&ds); err != nil || len(ds) != 1 || ds[0].Type != "credential" {
			return ar, &paramError{code: "invalid_authorization_details", desc: "authorization_details must be one entry of type credential", redirect: true}
		}
		d := ds[0]
		ar.CredentialID, ar.HashOID = d.CredentialID, d.HashAlgorithmOID
		for _, dd := range d.DocumentDigests {
			hashes = append(hashes, dd.Hash)
			l := dd.Label
			if len(l) > maxLabel {
				l = l[:maxLabel] + "..."
			}
			ar.Labels = append(ar.Labels, l)
		}
	} else {
		ar.CredentialID, ar.HashOID = q.Get("credentialID"), q.Get("hashAlgorithmOID")
		if hs := q.Get("hashes"); hs != "" {
			hashes = strings.Split(hs, ",")
		}
		if n := q.Get("numSignatures"); n != "" {
			k, err := strconv.Atoi(n)
			if err != nil || k != len(hashes) {
				return ar, invalid("numSignatures must be the number of hashes")
			}
		}
	}
	if ar.CredentialID == "" {
		return ar, invalid("credentialID is required for scope credential")
	}
	if len(hashes) == 0 {
		return ar, invalid("the hashes to sign are required for scope credential")
	}
	if len(hashes) > h.opts.MaxHashes {
		return ar, invalid("at most %d hashes per authorization", h.opts.MaxHashes)
	}
	if ar.HashOID == "" {
		return ar, invalid("hashAlgorithmOID is required for scope credential")
	}
	for i, s := range hashes {
		b, err := decodeB64(strings.TrimSpace(s))
		if err != nil || len(b) < 20 || len(b) > 64 {
			return ar, invalid("hash %d is not base64 or base64url of a digest", i+1)
		}
		ar.Hashes = append(ar.Hashes, base64.StdEncoding.EncodeToString(b))
	}
	return ar, nil
}

// decodeB64 accepts standard and URL-safe base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
