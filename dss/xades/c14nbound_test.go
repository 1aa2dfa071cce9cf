package xades

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"dssd/dss/xmldsig"
)

// c14nBomb is a document of about 6 KB per 1 000 elements whose exclusive canonical form
// repeats an 8 KiB namespace declaration on every element: n elements canonicalize to about
// n × 8 KiB.
func c14nBomb(n int) []byte {
	return []byte(`<r xmlns:a="urn:` + strings.Repeat("x", 8<<10) + `">` + strings.Repeat(`<a:x/>`, n) + `</r>`)
}

// TestC14NOutputBounded: the signer bounds the canonical forms of the client's document as the
// verifier does (Params.MaxC14NBytes, decisions §44): a 44 KB document whose exclusive c14n is
// 48 MB is refused with ErrLimit naming the bound, enveloped and enveloping, after allocating
// little (before the bound: the whole canonical form, 100 MB and more); one within the bound
// is signed. Without MaxC14NBytes the bound is the verifier's default for the document size
// limit.
func TestC14NOutputBounded(t *testing.T) {
	ks := loadKeys(t)
	params := func(pk Packaging) Params {
		return Params{Type: TypeXAdES, Packaging: pk, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(),
			SigningTime: fixedTime(), SignatureID: "s", MaxC14NBytes: 1 << 20}
	}
	bomb := c14nBomb(6000)
	for _, pk := range []Packaging{Enveloped, Enveloping} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Sign(Object{Data: bomb, XML: true}, params(pk))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "longer than 1048576 bytes") {
			t.Errorf("%v: %d bytes canonicalizing to 48 MB: %v, want ErrLimit naming the bound", pk, len(bomb), err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%v: %v, %d MB allocated", pk, err, alloc>>20)
		if alloc > 16<<20 {
			t.Errorf("%v: signing allocated %d MB for canonical forms bounded at 1 MB", pk, alloc>>20)
		}
	}
	// 100 elements: 820 KB canonical, within the bound.
	for _, pk := range []Packaging{Enveloped, Enveloping} {
		if _, err := Sign(Object{Data: c14nBomb(100), XML: true}, params(pk)); err != nil {
			t.Errorf("%v: 820 KB canonical form, bound 1 MiB: %v", pk, err)
		}
	}
	for _, maxDoc := range []int64{0, 1 << 20, 64 << 20, 100 << 20} {
		if got, want := newC14NBound(0, maxDoc).max, xmldsig.MaxC14NBytesFor(maxDoc); got != want {
			t.Errorf("default bound for %d-byte documents: %d, want the verifier's %d", maxDoc, got, want)
		}
	}
	if got := xmldsig.MaxC14NBytesFor(0); got != 256<<20 {
		t.Errorf("bound for the default document size limit: %d, want 256 MiB", got)
	}
}

// TestArchiveInputBounded: the input of an archive timestamp is charged to the same bound, its
// references twice as the verifier charges them (once checked, once archived): a document
// canonicalizing to 60% of the bound is signed, but archiving it would cost 120%.
func TestArchiveInputBounded(t *testing.T) {
	ks := loadKeys(t)
	p := Params{Type: TypeXAdES, Packaging: Enveloped, SignatureMethod: RSASHA256, Signer: ks.rsa.signer, Chain: ks.rsa.chain(),
		SigningTime: fixedTime(), SignatureID: "s", MaxC14NBytes: 1 << 20}
	for _, c := range []struct {
		n  int
		ok bool
	}{{75, false}, {50, true}} { // 615 KB and 410 KB canonical
		tr, err := Build(Object{Data: c14nBomb(c.n), XML: true}, p)
		if err != nil {
			t.Fatalf("%d elements: %v", c.n, err)
		}
		_, err = tr.ArchiveTimestampInput(nil)
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrLimit) {
			t.Errorf("%d elements: archive timestamp input: %v", c.n, err)
		}
	}
}
