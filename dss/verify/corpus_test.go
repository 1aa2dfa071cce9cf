package verify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// corpusDir returns the real-world corpus (../shared/corpus from the repository root, or
// $DSSD_CORPUS), or skips the test with one line when it is absent.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DSSD_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "signed")); err != nil {
		t.Skipf("real-world corpus not found at %s (set DSSD_CORPUS); corpus test skipped", dir)
	}
	return dir
}

type corpusRow struct {
	file      string
	sig       int // 0: the file as a whole
	integrity string
	dssd      string
	reason    string
}

func readCorpusTable(t *testing.T) []corpusRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "corpus-signed.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []corpusRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 5 {
			t.Fatalf("corpus-signed.tsv: bad line %q", line)
		}
		r := corpusRow{file: p[0], integrity: p[2], dssd: p[3], reason: p[4]}
		if p[1] != "-" {
			if r.sig, err = strconv.Atoi(p[1]); err != nil {
				t.Fatalf("corpus-signed.tsv: bad signature index in %q", line)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// corpusDetached hands every file of signed/data/ as a detached data object named by its base
// name (the detached corpus signatures reference them so).
func corpusDetached(t *testing.T, dir string) []Document {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "signed", "data", "*"))
	var out []Document
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Document{ID: filepath.Base(p), URI: filepath.Base(p), HasURI: true, Data: b})
	}
	return out
}

// TestCorpusSigned verifies every file of the corpus's signed/ directory and checks each
// verdict against the integrity xmlsec1 and Santuario establish (testdata/corpus-signed.tsv):
// no intact signature is TOTAL-FAILED, no changed one TOTAL-PASSED, a changed digest is
// HASH_FAILURE under the default policy (SHA-1 refused), and the ETSI plugtest files reach
// their digests.
func TestCorpusSigned(t *testing.T) {
	dir := corpusDir(t)
	rows := readCorpusTable(t)
	files, _ := filepath.Glob(filepath.Join(dir, "signed", "*.xml"))
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not in testdata/corpus-signed.tsv: establish its integrity with xmlsec1 and Santuario and add it", filepath.Base(f))
		}
	}
	detached := corpusDetached(t, dir)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	def, err := New(Config{Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	legacy := DefaultPolicy()
	legacy.Digests = append(legacy.Digests, DigestSHA1)
	legacy.SignatureMethods = append(legacy.SignatureMethods, RSASHA1)
	leg, err := New(Config{Clock: func() time.Time { return at }, Policy: legacy})
	if err != nil {
		t.Fatal(err)
	}
	reports := map[string]*Report{}
	errs := map[string]error{}
	for _, r := range rows {
		if _, ok := reports[r.file]; ok || errs[r.file] != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "signed", r.file))
		if err != nil {
			t.Errorf("%s: %v", r.file, err)
			continue
		}
		rep, err := def.Verify(context.Background(), Input{Signature: b, Detached: detached})
		reports[r.file], errs[r.file] = rep, err
	}
	for _, r := range rows {
		name := r.file
		if r.sig > 0 {
			name += "#" + strconv.Itoa(r.sig)
		}
		rep, err := reports[r.file], errs[r.file]
		if strings.HasPrefix(r.dssd, "ingress-refused") {
			if err == nil || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrLimit)) {
				t.Errorf("%s: want the document refused (%s), got err=%v", name, r.dssd, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.sig < 1 || r.sig > len(rep.Signatures) {
			t.Errorf("%s: %d signatures reported", name, len(rep.Signatures))
			continue
		}
		res := rep.Signatures[r.sig-1]
		got := string(res.Indication) + "/" + string(res.SubIndication) + ": " + res.Detail
		switch r.integrity {
		case "intact":
			if res.Indication == TotalFailed {
				t.Errorf("%s is intact (%s) but dssd says %s", name, r.reason, got)
			}
		case "changed-digest":
			if res.Indication != TotalFailed || res.SubIndication != HashFailure {
				t.Errorf("%s has a changed digest (%s) but dssd says %s", name, r.reason, got)
			}
		case "changed-value", "broken":
			if res.Indication == TotalPassed {
				t.Errorf("%s is %s (%s) but dssd says %s", name, r.integrity, r.reason, got)
			}
		default:
			t.Errorf("%s: unknown integrity %q", name, r.integrity)
		}
		if r.dssd == "digests-reached" {
			// With SHA-1 accepted, every digest is compared and only trust, validity or
			// timestamp trust may remain.
			b, _ := os.ReadFile(filepath.Join(dir, "signed", r.file))
			lrep, err := leg.Verify(context.Background(), Input{Signature: b, Detached: detached})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			l := lrep.Signatures[r.sig-1]
			switch l.Reason {
			case ReasonChain, ReasonValidity, ReasonRevocation, ReasonTimestamp:
			default:
				t.Errorf("%s does not reach past its digests: %s/%s (%s): %s", name, l.Indication, l.SubIndication, l.Reason, l.Detail)
			}
			t.Logf("%s: %s/%s: %s", name, l.Indication, l.SubIndication, l.Detail)
		}
	}
}

// TestSHA1ChangedIsHashFailure: a one-byte change inside a SHA-1 signed corpus document is
// HASH_FAILURE with SHA-1 disabled (integrity before policy); the intact original stays
// INDETERMINATE on the policy; a changed comment (not signed under URI="") changes nothing.
func TestSHA1ChangedIsHashFailure(t *testing.T) {
	dir := corpusDir(t)
	orig, err := os.ReadFile(filepath.Join(dir, "signed", "xmlsec-phaos-rsa-enveloped.xml"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, b []byte, ind Indication, sub SubIndication) {
		t.Helper()
		rep, err := v.Verify(context.Background(), Input{Signature: b})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r := rep.Signatures[0]; r.Indication != ind || r.SubIndication != sub {
			t.Errorf("%s: got %s/%s %s, want %s/%s", what, r.Indication, r.SubIndication, r.Detail, ind, sub)
		}
	}
	changed := bytes.Replace(orig, []byte("Alfonso"), []byte("Alfonzo"), 1)
	comment := bytes.Replace(orig, []byte("Here's a comment"), []byte("Here is a comment"), 1)
	if bytes.Equal(changed, orig) || bytes.Equal(comment, orig) {
		t.Fatal("the corpus file is not the expected one")
	}
	check("intact", orig, Indeterminate, CryptoConstraintsFailure)
	check("one byte changed", changed, TotalFailed, HashFailure)
	check("comment changed", comment, Indeterminate, CryptoConstraintsFailure)
}

// TestCorpusTransformsCatchChanges: the ETSI plugtest files that now reach their digests
// through XPath Filter 2.0, c14n with comments and c14n 1.1 are HASH_FAILURE after a change
// inside the data their References cover (the transforms select the signed data, they do not
// wave changes through).
func TestCorpusTransformsCatchChanges(t *testing.T) {
	dir := corpusDir(t)
	legacy := DefaultPolicy()
	legacy.Digests = append(legacy.Digests, DigestSHA1)
	legacy.SignatureMethods = append(legacy.SignatureMethods, RSASHA1)
	v, err := New(Config{Policy: legacy})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, old, new string }{
		{"dss-Signature-X-AT-1.xml", `<dsig:Object Id="signed-data-0"><html xmlns="http://www.w3.org/1999/xhtml">`, `<dsig:Object Id="signed-data-0"><html xmlns="http://www.w3.org/1999/xhtml">X`}, // XPath Filter 2.0 id()/node()
		{"dss-Signature-X-BE_ECON-3.xml", "Hello World", "Hello W0rld"},                                    // XPath Filter 2.0 subtract
		{"dss-Signature-X-CZ_ICZ-1.xml", "<AIPType>TS</AIPType>", "<AIPType>TX</AIPType>"},                 // c14n with comments
		{"dss-Signature-X-CZ_SEF-4.xml", "v1.0.1</oba:SignatureVersion>", "v1.0.2</oba:SignatureVersion>"}, // c14n 1.1
	} {
		b, err := os.ReadFile(filepath.Join(dir, "signed", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1)
		if bytes.Equal(changed, b) {
			t.Fatalf("%s: %q not found", tc.file, tc.old)
		}
		rep, err := v.Verify(context.Background(), Input{Signature: changed})
		if err != nil {
			t.Fatal(err)
		}
		if r := rep.Signatures[0]; r.Indication != TotalFailed || r.SubIndication != HashFailure {
			t.Errorf("%s changed: %s/%s %s, want HASH_FAILURE", tc.file, r.Indication, r.SubIndication, r.Detail)
		}
	}
}
