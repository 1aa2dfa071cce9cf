//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestOAuth2Browser drives the whole OAuth2 flow of the CSC API in Debian's headless
// Chromium over the DevTools protocol: the signer types into dssd's own page, the browser
// follows the redirect to the client's loopback callback, the client redeems the code and
// signs with the access token; signatures are verified with the credential's certificate and
// the credential token is refused the second time. Flows: scope service (no PAR), scope
// credential with PAR and authorization_details (SCAL2: PIN and OTP), scope credential with
// query parameters (SCAL1). DSSD_UPDATE_SCREENSHOTS=1 writes the page screenshots to docs/.
func TestOAuth2Browser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run .ci/deps.sh test (Debian package chromium)")
	}
	s := start(t)

	// The client's redirect target: a loopback server of the test.
	codes := make(chan url.Values, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // the browser's favicon request
			return
		}
		codes <- r.URL.Query()
		fmt.Fprint(w, "<!DOCTYPE html><title>client</title><p>back at the client</p>")
	}))
	defer cb.Close()
	redirect := cb.URL + "/callback"
	secret := "browser-client-secret-" + fmt.Sprint(time.Now().UnixNano())
	sum := sha256.Sum256([]byte(secret))
	dbPath := filepath.Join(t.TempDir(), "browser.db")
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "sqlite", "path": dbPath}
		c["oauth2"] = map[string]any{"clients": []any{map[string]any{
			"client_id": "browser-client", "client_secret_sha256": []string{hex.EncodeToString(sum[:])}, "redirect_uris": []string{redirect},
		}}}
	})
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
	tg := target{url: n.url, client: n.client, cfg: cfgPath}
	e := newOAuthEnv(t, s.devDir, tg)
	e.clientID, e.secret, e.redirect = "browser-client", secret, redirect
	q := s.qes(t, "alice-qes")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		// dssd's dev TLS certificate chains to the dev root CA, which this fresh profile
		// does not trust.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(640, 820),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	awaitCode := func(state string) string {
		t.Helper()
		select {
		case got := <-codes:
			if got.Get("state") != state || got.Get("code") == "" {
				t.Fatalf("callback %v, want a code and state %q", got, state)
			}
			return got.Get("code")
		case <-time.After(30 * time.Second):
			t.Fatal("the browser never reached the client's redirect URI")
		}
		return ""
	}
	screenshot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatalf("screenshot %s is not a PNG: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 300 {
			t.Fatalf("screenshot %s is %v", name, b)
		}
		if os.Getenv("DSSD_UPDATE_SCREENSHOTS") == "1" {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", name), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	mainText := func() string {
		t.Helper()
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		return text
	}

	// 1. scope service, no PAR: sign in, typed with the keyboard (Enter submits).
	verifier, challenge := pkcePair()
	p := e.authParams("service", challenge, "browser-service")
	do(chromedp.Navigate(tg.url+"/csc/v2/oauth2/authorize?"+p.Encode()), chromedp.WaitVisible(chromedp.CSS("#username")))
	text := mainText()
	screenshot("oauth2-signin.png")
	do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), e.passwords["alice"]+kb.Enter))
	for _, want := range []string{"Sign in", "User name", "Password", "browser-client"} {
		if !strings.Contains(text, want) {
			t.Errorf("sign-in page lacks %q:\n%s", want, text)
		}
	}
	code := awaitCode("browser-service")
	st, out := e.token(t, code, verifier, false)
	svcTok, _ := out["access_token"].(string)
	if st != http.StatusOK || svcTok == "" {
		t.Fatalf("token: %d %v", st, out)
	}
	if a := cscAt(t, tg, "/csc/v2/", "credentials/info", svcTok, map[string]any{"credentialID": "alice-rsa"}); a.status != 200 {
		t.Errorf("credentials/info with the service token: %d %s", a.status, a.raw)
	}

	// 2. scope credential with PAR and authorization_details: the activation page shows the
	// credential, the labels, the hashes and their count; PIN and OTP typed in.
	h1, h2 := sumOf("contract.pdf bytes"), sumOf("annex.pdf bytes")
	verifier, challenge = pkcePair()
	ad := fmt.Sprintf(`[{"type":"credential","credentialID":%q,"documentDigests":[{"hash":%q,"label":"contract.pdf"},{"hash":%q,"label":"annex.pdf"}],"hashAlgorithmOID":%q}]`,
		q.id, b64(h1), b64(h2), sha256OID)
	par := url.Values{"response_type": {"code"}, "client_id": {e.clientID}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"browser-par"}, "authorization_details": {ad}}
	req, _ := http.NewRequest(http.MethodPost, tg.url+"/csc/v2/oauth2/pushed_authorize", strings.NewReader(par.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.clientID, secret)
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var parOut map[string]any
	decodeJSON(t, resp, &parOut)
	requestURI, _ := parOut["request_uri"].(string)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("pushed_authorize: %d %v", resp.StatusCode, parOut)
	}
	authURL := tg.url + "/csc/v2/oauth2/authorize?" + url.Values{"client_id": {e.clientID}, "request_uri": {requestURI}}.Encode()
	do(chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#pin")))
	text = mainText()
	screenshot("oauth2-activation.png")
	do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), e.passwords["alice"]),
		chromedp.SendKeys(chromedp.CSS("#pin"), q.pin),
		chromedp.SendKeys(chromedp.CSS("#otp"), freshOTP(t, cfgPath, q)),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	for _, want := range []string{"Authorize signing", q.id, "contract.pdf", "annex.pdf", b64(h1), b64(h2), "PIN", "One-time password", "2"} {
		if !strings.Contains(text, want) {
			t.Errorf("activation page lacks %q:\n%s", want, text)
		}
	}
	code = awaitCode("browser-par")
	st, out = e.token(t, code, verifier, false)
	tok, _ := out["access_token"].(string)
	if st != http.StatusOK || tok == "" || out["credentialID"] != q.id {
		t.Fatalf("token: %d %v", st, out)
	}
	a := cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h2, h1}, oidRSA))
	if a.status != 200 {
		t.Fatalf("signHash with the credential token: %d %s", a.status, a.raw)
	}
	verifyRaw(t, s.credChain(t, q.id)[0], crypto.SHA256, [][]byte{h2, h1}, strs(a.json["signatures"]))
	cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h2, h1}, oidRSA)).refused(t, "the same credential token again")

	// 3. scope credential with query parameters, no PAR, SCAL1 credential (sign-in only).
	verifier, challenge = pkcePair()
	h3 := sumOf("scal1 through the page")
	p = credentialParams(e.authParams("credential", challenge, "browser-scal1"), "alice-ec", [][]byte{h3})
	do(chromedp.Navigate(tg.url+"/csc/v2/oauth2/authorize?"+p.Encode()), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), e.passwords["alice"]),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	code = awaitCode("browser-scal1")
	st, out = e.token(t, code, verifier, true)
	tok, _ = out["access_token"].(string)
	if st != http.StatusOK || tok == "" {
		t.Fatalf("token: %d %v", st, out)
	}
	a = cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody("alice-ec", [][]byte{h3}, "1.2.840.10045.4.3.2"))
	if a.status != 200 {
		t.Fatalf("signHash SCAL1 with the credential token: %d %s", a.status, a.raw)
	}
	verifyRaw(t, s.credChain(t, "alice-ec")[0], crypto.SHA256, [][]byte{h3}, strs(a.json["signatures"]))
	cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody("alice-ec", [][]byte{h3}, "1.2.840.10045.4.3.2")).refused(t, "the SCAL1 credential token again")
}

func sumOf(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("HTTP %d: not JSON: %v", resp.StatusCode, err)
	}
}
