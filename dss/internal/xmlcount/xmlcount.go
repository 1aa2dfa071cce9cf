// Package xmlcount counts the XML parses and serialisations of dss/xades, for the tests that
// assert what one signature costs (issue 16: one enveloped B-LTA signature is one parse of the
// input, one of the output and one serialisation). Production code never sets a hook; being
// internal to dss, only dss and its tests can.
package xmlcount

import "sync/atomic"

// Op is what is counted.
type Op int

const (
	ParseInput  Op = iota // a document to be signed (dss/xades Build, Precheck)
	ParseSigned           // the bytes of a signature (the self-check, augmentation)
	Serialize             // a signature's tree (Tree.Bytes)
)

func (o Op) String() string {
	switch o {
	case ParseInput:
		return "parse input"
	case ParseSigned:
		return "parse signature"
	case Serialize:
		return "serialise"
	}
	return "?"
}

var hook atomic.Pointer[func(Op)]

// SetHook installs f to be called at every counted operation; nil removes it.
func SetHook(f func(Op)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}

// Count reports op to the hook, if any.
func Count(op Op) {
	if f := hook.Load(); f != nil {
		(*f)(op)
	}
}
