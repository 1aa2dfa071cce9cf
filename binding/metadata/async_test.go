package metadata

import (
	"strings"
	"testing"

	"dssd/dss"
)

// TestAsyncProfileListed: with asynchronous processing enabled the metadata lists the DSS-X
// asynchronous processing profile and the EnforceAsynchronousProcessing option, and still
// validates; without it, neither appears and retrievePending is described as refused.
func TestAsyncProfileListed(t *testing.T) {
	on := fullOpts
	on.Async = true
	_, b := get(t, newServer(t, on), Path)
	validateXMLWithLocalSchemas(t, b)
	for _, want := range []string{dss.ProfileAsync, "EnforceAsynchronousProcessing", dss.MinorResponseIDUnknown} {
		if !strings.Contains(string(b), want) {
			t.Errorf("async metadata lacks %s", want)
		}
	}
	_, b = get(t, newServer(t, fullOpts), Path)
	if s := string(b); strings.Contains(s, dss.ProfileAsync) || strings.Contains(s, "EnforceAsynchronousProcessing") ||
		!strings.Contains(s, "not enabled") {
		t.Errorf("metadata without async lists it:\n%s", s)
	}
}
