package interop

import (
	"context"
	"testing"
)

func TestCaseNames(t *testing.T) {
	for _, cases := range [][]Case{
		{{Name: "a", File: "x"}, {Name: "a", File: "y"}},
		{{Name: "", File: "x"}},
		{{Name: "a\tb", File: "x"}},
	} {
		if _, err := VerifyAll(context.Background(), cases); err == nil {
			t.Errorf("%q: accepted", cases[0].Name)
		}
	}
}

func TestIsPSS(t *testing.T) {
	for alg, want := range map[string]bool{
		"http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1": true,
		"http://www.w3.org/2007/05/xmldsig-more#rsa-pss":         true,
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":      false,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256":    false,
	} {
		if isPSS(alg) != want {
			t.Errorf("%s: %v", alg, !want)
		}
	}
	v := Xmlsec1(context.Background(), Case{Alg: "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"})
	if !v.Skipped || v.OK {
		t.Errorf("xmlsec1 on PSS: %+v", v)
	}
}
