package xmlwire

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"dssd/dss"
)

// Attachment is a dsb:Value of a decoded request whose content is an xop:Include (MTOM).
type Attachment struct {
	CID   string  // the Content-ID it names: the href after "cid:", URL-unescaped (RFC 2392)
	Path  string  // where it is, for messages ("SignRequest/InputDocuments/Document[big]")
	Value *Base64 // to be resolved: Bytes, or Streamed when Digest
	// Digest: the value is the data of a Document that the request signs detached (not named
	// by SignaturePlacement or IncludeObject), so the binding may keep only its digest.
	Digest bool
}

// Attachments returns the xop:Include references of a decoded wire request (*SignRequest,
// *VerifyRequest, *PendingRequest), in document order. An xop:Include anywhere but in a
// dsb:Value (dsb:DigestValue, ds-rw:Base64Content), or with an href that is not a cid: URL,
// is a MalformedRequest error.
func Attachments(req any) ([]Attachment, error) {
	detached := map[*Base64]bool{}
	if sr, ok := req.(*SignRequest); ok && sr.InputDocuments != nil {
		placed := map[string]bool{}
		if o := sr.OptionalInputs; o != nil {
			if o.SignaturePlacement != nil {
				placed[o.SignaturePlacement.WhichData] = true
			}
			for _, io := range o.IncludeObject {
				placed[io.WhichData] = true
			}
		}
		for i := range sr.InputDocuments.Document {
			d := &sr.InputDocuments.Document[i]
			if v := d.Base64Data.Value; v != nil && (d.ID == "" || !placed[d.ID]) {
				detached[v] = true
			}
		}
	}
	var out []Attachment
	w := wireWalker{
		item: func(path string, i int) string { return fmt.Sprintf("%s[%d]/", strings.TrimSuffix(path, "/"), i+1) },
		ptr: func(v reflect.Value, path string, inValue bool) (bool, error) {
			b, ok := v.Interface().(*Base64)
			if !ok {
				return false, nil
			}
			if b.Include == "" {
				return true, nil
			}
			if !inValue {
				return true, dss.Errorf(dss.KindMalformed, "%s holds an xop:Include; MTOM attachments are accepted only in dsb:Value", strings.TrimSuffix(path, "/"))
			}
			cid, err := CID(b.Include)
			if err != nil {
				return true, err
			}
			out = append(out, Attachment{CID: cid, Path: strings.TrimSuffix(path, "/Value/"), Value: b, Digest: detached[b]})
			return true, nil
		},
	}
	root := reflect.ValueOf(req)
	if root.Kind() == reflect.Pointer && !root.IsNil() {
		if err := w.walk(root.Elem(), reflect.Indirect(root).Type().Name()+"/", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CID returns the Content-ID named by an xop:Include href: "cid:" followed by the URL-escaped
// addr-spec (RFC 2392), without angle brackets.
func CID(href string) (string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(href), "cid:")
	if !ok || rest == "" {
		if len(href) > 80 {
			href = href[:80] + "..."
		}
		return "", dss.Errorf(dss.KindMalformed, "xop:Include href %q is not a cid: URL", href)
	}
	cid, err := url.PathUnescape(rest)
	if err != nil || cid == "" {
		return "", dss.Errorf(dss.KindMalformed, "xop:Include href %q is not a valid cid: URL", href)
	}
	return cid, nil
}

// Optimize turns the large binary values of a response (dsb:Value of Base64Signature and of
// DocumentWithSignature documents, at least min bytes) into xop:Include references and returns
// the attachments to send, in order; newCID names each one.
func Optimize(resp any, min int, newCID func() string) []Attachment {
	var out []Attachment
	w := wireWalker{noPaths: true, ptr: func(v reflect.Value, _ string, inValue bool) (bool, error) {
		b, ok := v.Interface().(*Base64)
		if !ok {
			return false, nil
		}
		if inValue && b.Include == "" && len(b.Bytes) >= min {
			cid := newCID()
			b.Include = "cid:" + url.PathEscape(cid)
			out = append(out, Attachment{CID: cid, Value: b})
		}
		return true, nil
	}}
	_ = w.walk(reflect.ValueOf(resp), "", false) // its hook never fails
	return out
}
