package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// maxResponseBytes bounds what dss reads from the server: a signed document of the server's
// default 64 MiB limit, base64-encoded, with room to spare.
const maxResponseBytes = 256 << 20

// client talks to one dssd server.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(base, token, caFile string) (*client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("--ca: %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil // a signing client does not go through ambient proxies
	return &client{base: base, token: token, http: &http.Client{Transport: tr}}, nil
}

func (c *client) do(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > maxResponseBytes {
		return nil, nil, fmt.Errorf("%s %s: the answer is larger than %d bytes", method, path, maxResponseBytes)
	}
	return resp, data, nil
}

// sign posts a SignRequest to /sign and returns the successful response.
func (c *client) sign(ctx context.Context, body []byte, reqID string) (*signResponse, error) {
	resp, data, err := c.do(ctx, http.MethodPost, "/sign", "application/xml", body)
	if err != nil {
		return nil, err
	}
	r, perr := parseSignResponse(data, reqID)
	var de *dssError
	switch {
	case perr == nil && resp.StatusCode == http.StatusOK:
		return r, nil
	case errors.As(perr, &de):
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("authentication failed (HTTP 401)\n%w", perr)
		}
		return nil, perr
	case perr == nil:
		return nil, fmt.Errorf("POST /sign: HTTP %d with a Success result", resp.StatusCode)
	default:
		return nil, fmt.Errorf("POST /sign: HTTP %d: %v%s", resp.StatusCode, perr, snippet(data))
	}
}

// pendingPoll is the interval between two PendingRequests of dss sign --async.
var pendingPoll = 500 * time.Millisecond

// signAsync posts an asynchronous SignRequest to /sign, then polls /retrievePending with
// the ResponseID of the Pending answer until the result is no longer Pending (or ctx ends).
// progress, when not nil, gets one line when the server accepted the job.
func (c *client) signAsync(ctx context.Context, body []byte, reqID string, progress io.Writer) (*signResponse, error) {
	resp, data, err := c.do(ctx, http.MethodPost, "/sign", "application/xml", body)
	if err != nil {
		return nil, err
	}
	return c.awaitPending(ctx, resp.StatusCode, data, reqID, progress)
}

// awaitPending continues an asynchronous request from the answer to its submission (status,
// data: the SignResponse element): it polls until the result is no longer Pending.
func (c *client) awaitPending(ctx context.Context, status int, data []byte, reqID string, progress io.Writer) (*signResponse, error) {
	r, perr := parseSignResponse(data, reqID)
	switch {
	case errors.Is(perr, errPending) && status == http.StatusOK:
	case perr == nil:
		return r, nil // answered at once
	default:
		return c.signAnswer(status, data, nil, perr)
	}
	id := r.ResponseID
	if id == "" || len(id) > 256 || strings.ContainsAny(id, "<>&\"'") {
		return nil, fmt.Errorf("the Pending answer has no usable ResponseID (%q)", id)
	}
	if progress != nil {
		fmt.Fprintf(progress, "accepted as asynchronous request %s; waiting for the result\n", id)
	}
	poll := []byte(`<dss2:PendingRequest xmlns:dss2="` + nsCore + `" RequestID="` + id + `"/>`)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("asynchronous request %s not finished: %w", id, ctx.Err())
		case <-t.C:
		}
		resp, data, err := c.do(ctx, http.MethodPost, "/retrievePending", "application/xml", poll)
		if err != nil {
			return nil, err
		}
		r, perr := parseSignResponse(data, id)
		if errors.Is(perr, errPending) && resp.StatusCode == http.StatusOK {
			t.Reset(pendingPoll)
			continue
		}
		return c.signAnswer(resp.StatusCode, data, r, perr)
	}
}

// signAnswer turns the outcome of parseSignResponse into the result of a signing call.
func (c *client) signAnswer(status int, data []byte, r *signResponse, perr error) (*signResponse, error) {
	var de *dssError
	switch {
	case perr == nil && status == http.StatusOK:
		return r, nil
	case errors.As(perr, &de):
		if status == http.StatusUnauthorized {
			return nil, fmt.Errorf("authentication failed (HTTP 401)\n%w", perr)
		}
		return nil, perr
	case perr == nil:
		return nil, fmt.Errorf("HTTP %d with a Success result", status)
	default:
		return nil, fmt.Errorf("HTTP %d: %v%s", status, perr, snippet(data))
	}
}

// authorize asks the CSC endpoint for signature activation data (interface.md §5).
func (c *client) authorize(ctx context.Context, credentialID string, hashes [][]byte, pin, otp string) (string, error) {
	req := struct {
		CredentialID     string   `json:"credentialID"`
		NumSignatures    int      `json:"numSignatures"`
		Hashes           []string `json:"hashes"`
		HashAlgorithmOID string   `json:"hashAlgorithmOID"`
		PIN              string   `json:"PIN,omitempty"`
		OTP              string   `json:"OTP,omitempty"`
	}{CredentialID: credentialID, NumSignatures: len(hashes), HashAlgorithmOID: "2.16.840.1.101.3.4.2.1", PIN: pin, OTP: otp}
	for _, h := range hashes {
		req.Hashes = append(req.Hashes, base64.StdEncoding.EncodeToString(h))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	const path = "/csc/v2/credentials/authorize"
	resp, data, err := c.do(ctx, http.MethodPost, path, "application/json", body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return "", fmt.Errorf("signature activation refused (HTTP %d): %s %s", resp.StatusCode, e.Error, e.Description)
		}
		return "", fmt.Errorf("signature activation refused (HTTP %d)%s", resp.StatusCode, snippet(data))
	}
	var ok struct {
		SAD       string `json:"SAD"`
		ExpiresIn int    `json:"expiresIn"`
	}
	if err := json.Unmarshal(data, &ok); err != nil || ok.SAD == "" {
		return "", fmt.Errorf("POST %s: the answer carries no SAD", path)
	}
	return ok.SAD, nil
}

// ready asks /readyz and describes the answer.
func (c *client) ready(ctx context.Context) (bool, string) {
	resp, data, err := c.do(ctx, http.MethodGet, "/readyz", "", nil)
	if err != nil {
		return false, "unreachable: " + err.Error()
	}
	if resp.StatusCode == http.StatusOK {
		return true, "ready"
	}
	return false, fmt.Sprintf("not ready (HTTP %d)%s", resp.StatusCode, snippet(data))
}

// snippet is a short, single-line excerpt of a body for error messages.
func snippet(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return ": " + s
}
