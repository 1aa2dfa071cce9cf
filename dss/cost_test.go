//go:build e2e

package dss

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"dssd/dss/internal/xmlcount"
	"dssd/dss/xades"
	"dssd/hsm"
	"dssd/internal/testkit/xadestest"
)

// countXML counts the XML parses and serialisations of dss/xades while f runs. The test that
// calls it must not run in parallel with tests that sign.
func countXML(t *testing.T, f func()) map[xmlcount.Op]int {
	t.Helper()
	var mu sync.Mutex
	n := map[xmlcount.Op]int{}
	xmlcount.SetHook(func(op xmlcount.Op) {
		mu.Lock()
		n[op]++
		mu.Unlock()
	})
	defer xmlcount.SetHook(nil)
	f()
	return n
}

// TestSignatureXMLCost: one enveloped XAdES B-LTA signature through Service.Sign costs one
// parse of the input document, one serialisation of the signature's tree and one parse of
// those bytes (the self-check) — not a parse and a serialisation per level. Augmenting a
// signature that exists only as bytes (ReturnAugmentedSignature) costs one parse of those
// bytes and one serialisation.
func TestSignatureXMLCost(t *testing.T) {
	xadestest.Require(t)
	pki := newLevelPKI(t)
	tsa := xadestest.NewTSA(t, "cost TSA", true)
	atsa := xadestest.NewTSA(t, "cost archive TSA", false)
	cred := *pki.rsa
	cred.ID, cred.Key, cred.SCAL, cred.Ref = "alice-lta", "RSA-2048", 1, hsm.KeyRef{Label: "alice-lta"}
	svc, err := New(Config{Keys: keyMap{"alice-lta": hsm.Guard(pki.rsaK)}, Directory: dirMap{"alice-lta": &cred},
		Timestamps: &twoTSAs{a: tsa, b: atsa}, Revocation: &fakeRev{}})
	if err != nil {
		t.Fatal(err)
	}
	req := &SignRequest{Profiles: []string{LevelBLTA},
		Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: []byte(levelDoc)}},
		Options:   SignOptions{CredentialID: "alice-lta", Placement: &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}}}
	var resp *SignResponse
	n := countXML(t, func() {
		resp, err = svc.Sign(context.Background(), alice, req)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.DocumentsWithSignature) != 1 || len(resp.AppliedProfiles) != 1 || resp.AppliedProfiles[0] != LevelBLTA {
		t.Fatalf("not one enveloped B-LTA signature: %+v", resp)
	}
	t.Logf("one enveloped B-LTA signature: %v", n)
	want := map[xmlcount.Op]int{xmlcount.ParseInput: 1, xmlcount.ParseSigned: 1, xmlcount.Serialize: 1}
	if fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("one enveloped B-LTA signature: %v, want %v", n, want)
	}

	// Augmentation: the bytes of a B-B signature, raised to B-LTA.
	bb, obj := pki.bb(t, pki.rsa, xades.Enveloped)
	n = countXML(t, func() {
		_, err = svc.applyLevel(context.Background(), LevelBLTA, bb, obj, pki.rsa)
	})
	if err != nil {
		t.Fatal(err)
	}
	want = map[xmlcount.Op]int{xmlcount.ParseSigned: 1, xmlcount.Serialize: 1}
	if fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("augmenting a signature to B-LTA: %v, want %v", n, want)
	}
}

// TestSCAL2SignatureXMLCost: a SCAL2 credential's request is checked before its activation is
// spent (xades.Precheck parses the document then); the signature is built on that tree, so the
// document is still parsed once.
func TestSCAL2SignatureXMLCost(t *testing.T) {
	f := newSCAL2(t)
	d := Document{ID: "d", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}
	tok := f.authorize(t, "alice-qes", sum256(d.Data))
	req := &SignRequest{Documents: []Document{d}, Options: SignOptions{CredentialID: "alice-qes", ClaimedIdentity: withSAD("alice", tok),
		Placement: &Placement{WhichData: "d", XPath: "/*", CreateEnveloped: true}}}
	var err error
	n := countXML(t, func() {
		_, err = f.svc.Sign(context.Background(), alice, req)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[xmlcount.Op]int{xmlcount.ParseInput: 1, xmlcount.ParseSigned: 1, xmlcount.Serialize: 1}
	if fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("one enveloped SCAL2 signature: %v, want %v", n, want)
	}
}

// TestAsyncSignatureXMLCost: an asynchronous enveloped signature parses its document once in
// the worker's run (the tree Build signs). A SCAL2 request parses it once more at submission:
// its activation is spent there, so the document is checked first (decisions §23); a tree
// cannot be stored in the job. A SCAL1 request parses nothing at submission.
func TestAsyncSignatureXMLCost(t *testing.T) {
	for _, tc := range []struct {
		cred   string
		submit map[xmlcount.Op]int
	}{
		{"alice-rsa", map[xmlcount.Op]int{}},
		{"alice-qes", map[xmlcount.Op]int{xmlcount.ParseInput: 1}},
	} {
		f := newSCAL2(t)
		jobs := newMemJobs()
		if err := f.svc.EnableAsync(AsyncConfig{Jobs: jobs}); err != nil {
			t.Fatal(err)
		}
		d := Document{ID: "d", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}
		req := &SignRequest{Profiles: []string{ProfileAsync}, Documents: []Document{d}, Options: SignOptions{CredentialID: tc.cred,
			Placement: &Placement{WhichData: "d", XPath: "/*", CreateEnveloped: true}}}
		if tc.cred == "alice-qes" {
			req.Options.ClaimedIdentity = withSAD("alice", f.authorize(t, tc.cred, sum256(d.Data)))
		}
		var resp *SignResponse
		var err error
		n := countXML(t, func() { resp, err = f.svc.Sign(context.Background(), alice, req) })
		if err != nil || resp.Result.Major != MajorPending {
			t.Fatalf("%s: submission answered %+v, %v", tc.cred, resp, err)
		}
		if fmt.Sprint(n) != fmt.Sprint(tc.submit) {
			t.Errorf("%s: submission %v, want %v", tc.cred, n, tc.submit)
		}
		now := f.svc.clock()
		j, err := jobs.ClaimJob(context.Background(), "c", now, now.Add(time.Minute))
		if err != nil || j == nil {
			t.Fatalf("%s: no job: %v", tc.cred, err)
		}
		var done *SignResponse
		n = countXML(t, func() { done = f.svc.execJob(context.Background(), j) })
		if done.Result.Major != MajorSuccess {
			t.Fatalf("%s: the run answered %+v", tc.cred, done.Result)
		}
		want := map[xmlcount.Op]int{xmlcount.ParseInput: 1, xmlcount.ParseSigned: 1, xmlcount.Serialize: 1}
		if fmt.Sprint(n) != fmt.Sprint(want) {
			t.Errorf("%s: the run %v, want %v", tc.cred, n, want)
		}
	}
}
