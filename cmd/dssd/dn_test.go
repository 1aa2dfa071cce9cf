package main

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestParseDN(t *testing.T) {
	for in, want := range map[string]string{
		"CN=Alice Example,O=Example Ltd,C=DE":                                  "CN=Alice Example,O=Example Ltd,C=DE",
		" CN = Alice , O=Acme\\, Inc.,C=FR":                                    "CN=Alice,O=Acme\\, Inc.,C=FR",
		"CN=Bob+SERIALNUMBER=PNODE-1234,organizationIdentifier=VATDE-123,C=DE": "CN=Bob+SERIALNUMBER=PNODE-1234,2.5.4.97=#130956415444452d313233,C=DE",
		"CN=J\\C3\\BCrgen":                                                     "CN=Jürgen",
	} {
		der, err := parseDN(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 {
			t.Errorf("%q: DER does not parse back: %v", in, err)
			continue
		}
		if got := seq.String(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "Alice", "CN=", "XX=1", "C=Germany", "CN=a,", "CN=a\\"} {
		if _, err := parseDN(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
