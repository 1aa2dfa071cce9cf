package verify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dssd/dss/xmlsafe"
)

// corpusDir returns the real-world corpus: $DSSD_CORPUS, or ../shared/corpus beside the
// repository root; the test is skipped (one line) without it.
func corpusSubdir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("DSSD_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	dir = filepath.Join(dir, sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s (set DSSD_CORPUS); skipping", dir)
	}
	return dir
}

// TestCorpusSignedPassesIngress: every signature file of corpus/signed (ISO-8859-1 XAdES,
// SAML metadata with a thousand namespace declarations, line-wrapped attributes, ...) passes
// the ingress gate with the verifier's limits and reaches the cryptographic checks: Verify
// returns a report for it, never ErrMalformed or ErrLimit. Two files are not acceptable XML and
// are refused at ingress: the one with a DOCTYPE (by policy) and dss-malformed-xades.xml, whose
// first bytes are garbage (SOURCES.md: "malformed bytes"). Whether each signature is valid is
// another test's business.
func TestCorpusSignedPassesIngress(t *testing.T) {
	dir := corpusSubdir(t, "signed")
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no signature files in %s", dir)
	}
	v, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, perr := xmlsafe.Parse(b, DefaultLimits().Document)
		rep, verr := v.Verify(context.Background(), Input{Signature: b})
		if name == "dss-dtd-injection.xml" {
			var xe *xmlsafe.Error
			if !errors.As(perr, &xe) || xe.Reason != xmlsafe.ReasonDTD || !strings.Contains(xe.Error(), "policy") {
				t.Errorf("%s: want a DOCTYPE refusal by policy, got %v", name, perr)
			}
			continue
		}
		if name == "dss-malformed-xades.xml" {
			var xe *xmlsafe.Error
			if !errors.As(perr, &xe) || !errors.Is(verr, ErrMalformed) {
				t.Errorf("%s: want an ingress refusal of its malformed bytes, got %v / %v", name, perr, verr)
			}
			continue
		}
		if perr != nil {
			t.Errorf("%s: refused at ingress: %v", name, perr)
			continue
		}
		switch {
		case errors.Is(verr, ErrMalformed), errors.Is(verr, ErrLimit), errors.Is(verr, ErrNoSignature):
			t.Errorf("%s: refused before the cryptographic checks: %v", name, verr)
		case verr != nil:
			t.Errorf("%s: %v", name, verr)
		case len(rep.Signatures) == 0:
			t.Errorf("%s: no signature reported", name)
		}
	}
}
