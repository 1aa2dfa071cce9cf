package xmlwire

import (
	"bytes"
	"fmt"
	"testing"
)

// optimizeResponse is a SignResponse with large and small binary values, inside and outside
// a dsb:Value: the values Optimize must and must not turn into attachments.
func optimizeResponse() (*SignResponse, []*Base64) {
	big := func(c byte) *Base64 { return NewBase64(bytes.Repeat([]byte{c}, 2048)) }
	sig1, sig2, doc1, doc2 := big('a'), NewBase64([]byte("small")), big('b'), big('c')
	resp := &SignResponse{
		SignatureObject: []SignatureObject{
			{WhichDoc: "d1", Base64Signature: &Base64Data{Value: sig1}},
			{WhichDoc: "d2", Base64Signature: &Base64Data{Value: sig2}},
			{Base64Signature: &Base64Data{Value: &Base64{Include: "cid:already"}}},
		},
		OptionalOutputs: &OptionalOutputsSign{DocumentWithSignature: []DocumentWithSignature{
			{WhichDoc: "d1", Document: Document{Base64Data: Base64Data{Value: doc1}}},
			{WhichDoc: "d3", Document: Document{Base64Data: Base64Data{Value: doc2}}},
		}},
	}
	return resp, []*Base64{doc1, doc2, sig1} // OptionalOutputs come before SignatureObject
}

// TestOptimize: the dsb:Values of at least min bytes become xop:Includes, in document order,
// named by newCID; smaller ones and those already included stay as they are.
func TestOptimize(t *testing.T) {
	resp, want := optimizeResponse()
	n := 0
	atts := Optimize(resp, 1024, func() string { n++; return fmt.Sprintf("part%d@x y", n) })
	if len(atts) != len(want) {
		t.Fatalf("%d attachments, want %d", len(atts), len(want))
	}
	for i, a := range atts {
		cid := fmt.Sprintf("part%d@x y", i+1)
		if a.Value != want[i] || a.CID != cid || a.Value.Include != "cid:part"+fmt.Sprint(i+1)+"@x%20y" {
			t.Errorf("attachment %d: %+v (Include %q), want the value %d named %q", i, a, a.Value.Include, i, cid)
		}
	}
	if v := resp.SignatureObject[1].Base64Signature.Value; v.Include != "" {
		t.Errorf("a value under min became %q", v.Include)
	}
	if v := resp.SignatureObject[2].Base64Signature.Value; v.Include != "cid:already" {
		t.Errorf("an included value became %q", v.Include)
	}
}

func BenchmarkOptimize(b *testing.B) {
	resp, vals := optimizeResponse()
	cid := func() string { return "part@x" }
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range vals {
			v.Include = ""
		}
		if len(Optimize(resp, 1024, cid)) != len(vals) {
			b.Fatal("not optimized")
		}
	}
}
