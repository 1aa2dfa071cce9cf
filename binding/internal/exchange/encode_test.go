package exchange

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"dssd/binding/internal/xmlwire"
)

// TestEncodeIsMarshal: Encode writes prefix, exactly xml.Marshal's bytes and suffix, also when
// its pooled buffers are reused for messages of other sizes, and a failed encoding reports
// the error.
func TestEncodeIsMarshal(t *testing.T) {
	for i, v := range []any{
		&xmlwire.SignResponse{ResponseBase: xmlwire.ResponseBase{RequestID: "r-1"}},
		&xmlwire.SignResponse{ResponseBase: xmlwire.ResponseBase{RequestID: strings.Repeat("<&\"'>", 5000)}},
		&xmlwire.VerifyResponse{ResponseBase: xmlwire.ResponseBase{RequestID: "r-3"}},
	} {
		want, err := xml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			e, err := Encode("<p>", v, "</p>")
			if err != nil {
				t.Fatal(err)
			}
			got := e.Bytes()
			if !bytes.HasPrefix(got, []byte("<p>")) || !bytes.HasSuffix(got, []byte("</p>")) ||
				!bytes.Equal(got[3:len(got)-4], want) {
				t.Fatalf("message %d: got %.200q, want %.200q", i, got, want)
			}
			e.Release()
		}
	}
	if _, err := Encode("", make(chan int), ""); err == nil {
		t.Fatal("a value encoding/xml cannot encode was encoded")
	}
}
