//go:build e2e && postgres

package main

import (
	"crypto"
	"testing"

	"dssd/dss"
)

// TestOAuth2TokenAcrossNodes: two dssd nodes share one PostgreSQL store. The credential
// access token obtained through node 0's page and token endpoint signs once through node 1;
// replayed through node 0 (and node 1) it is refused, and each refusal is audited. The code
// itself is single use across the nodes too.
func TestOAuth2TokenAcrossNodes(t *testing.T) {
	s := start(t)
	dsn, _ := freshPGSchema(t)
	const dsnEnv = "DSSD_OAUTH2_TEST_DSN"
	t.Setenv(dsnEnv, dsn)
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "postgres", "dsn_env": dsnEnv}
	})
	var tgs []target
	for range 2 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		n := startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr)
		tgs = append(tgs, target{url: n.url, client: n.client, cfg: cfgPath})
	}
	q := s.qes(t, "alice-qes")
	e0 := newOAuthEnv(t, s.devDir, tgs[0])
	e1 := newOAuthEnv(t, s.devDir, tgs[1])
	h := sum([]byte("one token, two nodes"))

	// A code redeemed on node 0 is refused on node 1.
	verifier, challenge := pkcePair()
	code := e0.code(t, e0.authParams("service", challenge, "pg"), verifier, urlValues("username", "alice", "password", e0.passwords["alice"]))
	if st, out := e0.token(t, code, verifier, false); st != 200 || out["access_token"] == nil {
		t.Fatalf("token on node 0: %d %v", st, out)
	}
	audited(t, cfgPath, "code reused on the other node", detailHas(dss.AuditOAuth2, "already used"), func() {
		if st, out := e1.token(t, code, verifier, false); st != 400 || out["error"] != "invalid_grant" {
			t.Errorf("code reused on node 1: %d %v", st, out)
		}
	})

	tok := e0.credentialToken(t, "alice", q.id, [][]byte{h}, q.pin, freshOTP(t, cfgPath, q))
	a := cscAt(t, tgs[1], "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h}, oidRSA))
	if a.status != 200 {
		t.Fatalf("signHash on node 1: %d %s", a.status, a.raw)
	}
	verifyRaw(t, s.credChain(t, q.id)[0], crypto.SHA256, [][]byte{h}, strs(a.json["signatures"]))
	for i, tg := range []target{tgs[0], tgs[1]} {
		audited(t, cfgPath, "replay", detailHas(dss.AuditSign, "already used"), func() {
			cscAt(t, tg, "/csc/v2/", "signatures/signHash", tok, signHashBody(q.id, [][]byte{h}, oidRSA)).refused(t, "replay on node "+string(rune('0'+i)))
		})
	}
}
