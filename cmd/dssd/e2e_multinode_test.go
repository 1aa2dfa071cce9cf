//go:build e2e && postgres

package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"dssd/dss"
)

// TestSCAL2ReplayAcrossNodes: two dssd nodes share one PostgreSQL store and nothing else.
// One fresh SAD is sent 100 times concurrently, spread over both nodes: exactly one request
// is signed, the 99 others are refused as replays, and each of the 100 has its audit record.
// The SAD is then also refused after both nodes restart.
func TestSCAL2ReplayAcrossNodes(t *testing.T) {
	s := start(t)
	dsn, _ := freshPGSchema(t)
	const dsnEnv = "DSSD_SCAL2_TEST_DSN"
	t.Setenv(dsnEnv, dsn) // for the nodes (inherited) and for reading the store here
	cfgPath := nodeConfig(t, s, func(c map[string]any) {
		c["store"] = map[string]any{"type": "postgres", "dsn_env": dsnEnv}
	})

	var nodes []*node
	var addrs []string
	for range 2 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, addr)
		nodes = append(nodes, startNode(t, s.bin, s.devDir, addr, nil, "serve", "--config", cfgPath, "--addr", addr))
	}
	alice := s.token("alice")
	q := s.qes(t, "alice-qes")
	doc := inDoc{id: "doc-1", refURI: "urn:multinode", data: []byte("one SAD, two nodes, one signature")}
	tg0 := target{url: nodes[0].url, client: nodes[0].client, cfg: cfgPath}
	tok := tg0.mustAuthorize(t, alice, q, sum(doc.data))

	run := time.Now().UnixNano()
	const n = 100
	type outcome struct {
		id, major, minor string
		status           int
		signed           bool
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := nodes[i%2]
			id := fmt.Sprintf("multinode-%d-%03d", run, i)
			body := scal2Request(id, q.id, "alice", tok, doc)
			<-startGate
			req, _ := http.NewRequest(http.MethodPost, nd.url+"/sign", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Authorization", "Bearer "+alice)
			resp, err := nd.client.Do(req)
			if err != nil {
				out[i] = outcome{id: id, major: "transport: " + err.Error()}
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			o := outcome{id: id, status: resp.StatusCode}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
				o.major = "not XML"
				out[i] = o
				return
			}
			root := doc.Root()
			o.signed = find(root, nsDSS2, "SignatureObject") != nil
			if e := find(root, nsDSB, "ResultMajor"); e != nil {
				o.major = e.Text()
			}
			if e := find(root, nsDSB, "ResultMinor"); e != nil {
				o.minor = e.Text()
			}
			out[i] = o
		}()
	}
	close(startGate)
	wg.Wait()

	var ok, replayed int
	for _, o := range out {
		switch {
		case o.status == http.StatusOK && strings.HasSuffix(o.major, ":Success") && o.signed:
			ok++
		case o.status == http.StatusOK && o.major == majorRequester && o.minor == minorSADInvalid && !o.signed:
			replayed++
		default:
			t.Errorf("%s: HTTP %d %s %s signed=%v", o.id, o.status, o.major, o.minor, o.signed)
		}
	}
	if ok != 1 || replayed != n-1 {
		t.Fatalf("%d successes and %d replays refused over two nodes; want 1 and %d", ok, replayed, n-1)
	}

	// The SAD stays used after both nodes restart.
	for i, nd := range nodes {
		nd.stop(t)
		nodes[i] = startNode(t, s.bin, s.devDir, addrs[i], nil, "serve", "--config", cfgPath, "--addr", addrs[i])
	}
	tg1 := target{url: nodes[1].url, client: nodes[1].client, cfg: cfgPath}
	afterID := fmt.Sprintf("multinode-%d-after-restart", run)
	_, raw := tg1.signPOST(t, alice, scal2Request(afterID, q.id, "alice", tok, doc))
	if _, r := parseResponse(t, raw); r.minor != minorSADInvalid {
		t.Errorf("the used SAD after a restart: %s %s", r.major, r.minor)
	}

	recs := auditRecords(t, cfgPath)
	var recOK, recRefused int
	for _, o := range out {
		got := byRequestID(recs, o.id)
		if len(got) != 1 {
			t.Errorf("%s: %d audit records, want 1", o.id, len(got))
			continue
		}
		switch got[0].Major {
		case dss.MajorSuccess:
			recOK++
		case majorRequester:
			recRefused++
		}
	}
	if recOK != 1 || recRefused != n-1 {
		t.Errorf("audit: %d success and %d refusal records, want 1 and %d", recOK, recRefused, n-1)
	}
	t.Logf("100 concurrent uses of one SAD over 2 nodes: %d signed, %d refused as replays; %d audit records", ok, replayed, len(recs))
}
