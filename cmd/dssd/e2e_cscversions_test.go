//go:build e2e

package main

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
)

// members checks the JSON members of an answer: each wanted member present with its JSON
// type ("string", "number", "bool", "array", "object"), each forbidden one absent.
func members(t *testing.T, what string, obj map[string]any, want map[string]string, forbidden ...string) {
	t.Helper()
	for name, typ := range want {
		v, ok := obj[name]
		if !ok {
			t.Errorf("%s: member %s missing", what, name)
			continue
		}
		got := "?"
		switch v.(type) {
		case string:
			got = "string"
		case float64:
			got = "number"
		case bool:
			got = "bool"
		case []any:
			got = "array"
		case map[string]any:
			got = "object"
		}
		if got != typ {
			t.Errorf("%s: member %s is a %s, want a %s", what, name, got, typ)
		}
	}
	for _, name := range forbidden {
		if _, ok := obj[name]; ok {
			t.Errorf("%s: member %s must not be sent", what, name)
		}
	}
}

// TestCSCv2Members checks each method's answer member by member against CSC v2.0.0.2 (with
// the EUDI rQES client library's expectations noted where they go further).
func TestCSCv2Members(t *testing.T) {
	s := start(t)
	tg := s.target()
	alice := s.token("alice")

	// info: CSC v2 §11.1; supportedHashTypes and oauth2Issuer are read by the EUDI library.
	a := cscAt(t, tg, "/csc/v2/", "info", "", map[string]any{})
	members(t, "info", a.json, map[string]string{"specs": "string", "name": "string", "logo": "string", "region": "string",
		"lang": "string", "description": "string", "authType": "array", "oauth2": "string", "oauth2Issuer": "string",
		"methods": "array", "asynchronousOperationMode": "bool", "validationInfo": "bool", "signAlgorithms": "object",
		"signature_formats": "object", "conformance_levels": "array", "supportedHashTypes": "array"})
	if a.json["specs"] != "2.0.0.2" || len(a.json["region"].(string)) != 2 {
		t.Errorf("info specs %v region %v", a.json["specs"], a.json["region"])
	}
	if a.json["oauth2"] != tg.url+"/csc/v2" {
		t.Errorf("info oauth2 = %v, want %s/csc/v2", a.json["oauth2"], tg.url)
	}
	joined := strings.Join(strs(a.json["methods"]), ",")
	for _, m := range []string{"oauth2/authorize", "oauth2/pushed_authorize", "oauth2/token", "oauth2/revoke", "signatures/signDoc"} {
		if !strings.Contains(joined, m) {
			t.Errorf("info methods lack %s", m)
		}
	}
	if types := strings.Join(strs(a.json["authType"]), ","); !strings.Contains(types, "oauth2code") {
		t.Errorf("authType = %s", types)
	}
	if h := strings.Join(strs(a.json["supportedHashTypes"]), ","); !strings.Contains(h, sha256OID) {
		t.Errorf("supportedHashTypes = %s", h)
	}
	// logo: JPEG or PNG, at most 256×256.
	resp, err := tg.client.Get(a.json["logo"].(string))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("logo: %v %q", err, resp.Header.Get("Content-Type"))
	}
	if b := img.Bounds(); b.Dx() > 256 || b.Dy() > 256 {
		t.Errorf("logo is %v", b)
	}

	// credentials/list: §11.4.
	a = cscAt(t, tg, "/csc/v2/", "credentials/list", alice, map[string]any{"credentialInfo": true, "authInfo": true})
	members(t, "credentials/list", a.json, map[string]string{"credentialIDs": "array", "credentialInfos": "array"})
	for _, ci := range a.json["credentialInfos"].([]any) {
		m := ci.(map[string]any)
		members(t, "credentialInfos[]", m, map[string]string{"credentialID": "string", "key": "object", "cert": "object",
			"auth": "object", "SCAL": "string", "multisign": "number"}, "authMode", "PIN", "OTP")
		auth := m["auth"].(map[string]any)
		if auth["mode"] != "explicit" {
			t.Errorf("%v: auth.mode %v (CSC v2: explicit or oauth2code)", m["credentialID"], auth["mode"])
		}
	}

	// credentials/info: §11.5.
	for _, id := range []string{"alice-rsa", "alice-qes"} {
		a = cscAt(t, tg, "/csc/v2/", "credentials/info", alice, map[string]any{"credentialID": id, "authInfo": true, "certInfo": true})
		members(t, "credentials/info "+id, a.json, map[string]string{"key": "object", "cert": "object", "auth": "object",
			"SCAL": "string", "multisign": "number"}, "authMode", "PIN", "OTP")
		members(t, "key", a.json["key"].(map[string]any), map[string]string{"status": "string", "algo": "array", "len": "number"})
		members(t, "cert", a.json["cert"].(map[string]any), map[string]string{"status": "string", "certificates": "array",
			"issuerDN": "string", "serialNumber": "string", "subjectDN": "string", "validFrom": "string", "validTo": "string"})
		auth := a.json["auth"].(map[string]any)
		if id == "alice-qes" {
			members(t, "auth", auth, map[string]string{"mode": "string", "expression": "string", "objects": "array"})
			for _, o := range auth["objects"].([]any) {
				members(t, "auth.objects[]", o.(map[string]any), map[string]string{"type": "string", "id": "string", "format": "string"})
			}
		} else {
			members(t, "auth", auth, map[string]string{"mode": "string"}, "objects")
		}
	}

	// credentials/authorize for a SCAL1 credential (explicit mode, no factor): §11.6.
	ds, hs := sha256s("scal1 explicit authorize")
	a = cscAt(t, tg, "/csc/v2/", "credentials/authorize", alice, map[string]any{"credentialID": "alice-rsa", "numSignatures": 1,
		"hashes": hs, "hashAlgorithmOID": sha256OID, "clientData": "members"})
	members(t, "credentials/authorize", a.json, map[string]string{"SAD": "string", "expiresIn": "number"})
	sadTok, _ := a.json["SAD"].(string)

	// signatures/signHash: §11.9; the SAD of a SCAL1 credential is checked and consumed.
	body := signHashBody("alice-rsa", ds, oidRSA)
	body["SAD"] = sadTok
	body["someFutureMember"] = map[string]any{"ignored": true}
	a = cscAt(t, tg, "/csc/v2/", "signatures/signHash", alice, body)
	members(t, "signatures/signHash", a.json, map[string]string{"signatures": "array"})
	if a.status == 200 {
		verifyRaw(t, s.credChain(t, "alice-rsa")[0], crypto.SHA256, ds, strs(a.json["signatures"]))
	}
	cscAt(t, tg, "/csc/v2/", "signatures/signHash", alice, body).refused(t, "the SCAL1 SAD again")

	// signatures/signDoc: §11.10.
	a = cscAt(t, tg, "/csc/v2/", "signatures/signDoc", alice, map[string]any{"credentialID": "alice-rsa",
		"documents": []map[string]any{{"document": base64.StdEncoding.EncodeToString([]byte("<doc>members</doc>")), "signature_format": "X", "conformance_level": "Ades-B-B", "signAlgo": "1.2.840.113549.1.1.11"}}})
	if a.status != 200 {
		t.Errorf("signDoc: %d %s", a.status, a.raw)
	}
	members(t, "signatures/signDoc", a.json, map[string]string{"DocumentWithSignature": "array"})

	// Refusals keep their shape: duplicates, bad UTF-8, deep nesting.
	for name, raw := range map[string]string{
		"duplicate": `{"credentialID":"alice-rsa","credentialID":"alice-ec"}`,
		"bad UTF-8": "{\"credentialID\":\"\xff\"}",
		"deep":      `{"credentialID":"alice-rsa","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, tg.url+"/csc/v2/credentials/info", strings.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := tg.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, resp.StatusCode)
		}
	}
}

// TestCSCv1Sequence: a CSC 1.0.4 client as pyHanko's CSC signer sends it, under /csc/v1/:
// credentials/info, credentials/authorize with "hash", signatures/signHash with "hash" and
// "hashAlgo" (signAlgo rsaEncryption); once for a SCAL1 and once for the SCAL2 credential.
func TestCSCv1Sequence(t *testing.T) {
	s := start(t)
	tg := s.target()
	alice := s.token("alice")
	q := s.qes(t, "alice-qes")

	a := cscAt(t, tg, "/csc/v1/", "info", "", map[string]any{})
	members(t, "v1 info", a.json, map[string]string{"specs": "string", "name": "string", "logo": "string", "region": "string",
		"lang": "string", "description": "string", "authType": "array", "methods": "array"}, "signAlgorithms", "supportedHashTypes")
	if a.json["specs"] != "1.0.4.0" || strings.Contains(strings.Join(strs(a.json["methods"]), ","), "signDoc") {
		t.Errorf("v1 info: %s", a.raw)
	}
	for _, c := range []struct {
		id, pin string
	}{{"alice-rsa", ""}, {q.id, q.pin}} {
		a = cscAt(t, tg, "/csc/v1/", "credentials/info", alice, map[string]any{"credentialID": c.id, "certificates": "chain", "certInfo": true})
		members(t, "v1 credentials/info "+c.id, a.json, map[string]string{"key": "object", "cert": "object", "authMode": "string",
			"SCAL": "string", "multisign": "number"}, "auth")
		if a.json["authMode"] != "explicit" {
			t.Errorf("%s: authMode %v", c.id, a.json["authMode"])
		}
		if c.pin != "" {
			members(t, "v1 PIN", a.json["PIN"].(map[string]any), map[string]string{"presence": "string", "format": "string"})
			members(t, "v1 OTP", a.json["OTP"].(map[string]any), map[string]string{"presence": "string", "type": "string", "ID": "string", "provider": "string", "format": "string"})
		}
		chain := a.json["cert"].(map[string]any)["certificates"].([]any)
		der, _ := base64.StdEncoding.DecodeString(chain[0].(string))
		if !bytes.Equal(der, s.credChain(t, c.id)[0].Raw) {
			t.Errorf("%s: v1 certificate differs", c.id)
		}
		ds, hs := sha256s("pyhanko-style "+c.id+" 1", "pyhanko-style "+c.id+" 2")
		auth := map[string]any{"credentialID": c.id, "numSignatures": 2, "hash": hs}
		if c.pin != "" {
			auth["PIN"], auth["OTP"] = c.pin, freshOTP(t, tg.cfg, q)
		}
		a = cscAt(t, tg, "/csc/v1/", "credentials/authorize", alice, auth)
		sadTok, _ := a.json["SAD"].(string)
		if a.status != 200 || sadTok == "" {
			t.Fatalf("v1 authorize %s: %d %s", c.id, a.status, a.raw)
		}
		a = cscAt(t, tg, "/csc/v1/", "signatures/signHash", alice, map[string]any{"credentialID": c.id, "SAD": sadTok,
			"hash": hs, "hashAlgo": sha256OID, "signAlgo": oidRSA})
		if a.status != 200 {
			t.Fatalf("v1 signHash %s: %d %s", c.id, a.status, a.raw)
		}
		verifyRaw(t, s.credChain(t, c.id)[0], crypto.SHA256, ds, strs(a.json["signatures"]))
	}
	if a := cscAt(t, tg, "/csc/v1/", "signatures/signDoc", alice, map[string]any{}); a.status != http.StatusNotFound {
		t.Errorf("signDoc under /csc/v1/: %d", a.status)
	}
}
