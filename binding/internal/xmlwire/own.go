package xmlwire

// Owned strings. The strings Tokens decodes from attributes and element names are substrings
// of the ingress gate's one copy of the whole request body (xmlsafe.Tokens; text is copied
// an element at a time). A converted request that kept one of them, its RequestID or a
// document's MimeType, would keep that whole copy alive as long as the request is kept (all
// through a long Sign, while the body and the gate's copy could otherwise be collected). So
// the converters move every string of the
// dss request into one allocation of its own (owner): one allocation per request, not one
// per string. The documents' bytes are not copied again: Base64 decodes them into buffers of
// their own.

import (
	"strings"

	"dssd/dss"
)

// owner moves the strings a walk of a request reaches into one allocation: the walk runs
// once for each pass (for o.more() { walk(r, &o) }), which sizes the allocation, then copies
// each string into it and points the string at its copy. A walk must reach the same strings
// in the same order each time (a second walk reaching more would only cost a second
// allocation: the Builder never moves bytes it has handed out).
type owner struct {
	pass int // 1 sizing, 2 copying
	n    int
	b    strings.Builder
}

// more starts the next pass; false when there is none left.
func (o *owner) more() bool {
	o.pass++
	switch o.pass {
	case 2:
		if o.n == 0 {
			return false
		}
		o.b.Grow(o.n)
	case 3:
		return false
	}
	return true
}

// str is the walk reaching the string at p.
func (o *owner) str(p *string) {
	switch o.pass {
	case 1:
		o.n += len(*p)
	case 2:
		start := o.b.Len()
		o.b.WriteString(*p)
		*p = o.b.String()[start:]
	}
}

// eachString reaches every string of list.
func eachString(list []string, o *owner) {
	for i := range list {
		o.str(&list[i])
	}
}

// signStrings reaches every string r holds but the keys and values of
// Options.Placement.Namespaces, which come from element text (copied by the decoders).
func signStrings(r *dss.SignRequest, o *owner) {
	o.str(&r.RequestID)
	eachString(r.Profiles, o)
	documentStrings(r.Documents, o)
	for i := range r.Hashes {
		h := &r.Hashes[i]
		o.str(&h.ID)
		o.str(&h.RefURI)
		o.str(&h.RefType)
		eachString(h.Transforms, o)
		for j := range h.Digests {
			o.str(&h.Digests[j].Method)
		}
	}
	opt := &r.Options
	o.str(&opt.Language)
	o.str(&opt.CredentialID)
	o.str(&opt.SignatureType)
	o.str(&opt.SignatureAlgorithm)
	eachString(opt.AddTimestamp, o)
	if p := opt.Placement; p != nil {
		o.str(&p.WhichData)
		o.str(&p.XPath)
	}
	for i := range opt.IncludeObjects {
		o.str(&opt.IncludeObjects[i].WhichData)
		o.str(&opt.IncludeObjects[i].ObjID)
	}
	claimedIdentityStrings(opt.ClaimedIdentity, o)
	eachString(opt.Unsupported, o)
	o.str(&r.Tag)
}

// verifyStrings reaches every string r holds.
func verifyStrings(r *dss.VerifyRequest, o *owner) {
	o.str(&r.RequestID)
	eachString(r.Profiles, o)
	documentStrings(r.Documents, o)
	if s := r.Signature; s != nil {
		o.str(&s.WhichDoc)
		o.str(&s.MimeType)
		if p := s.Ptr; p != nil {
			o.str(&p.WhichData)
			o.str(&p.XPath)
		}
	}
	opt := &r.Options
	o.str(&opt.Language)
	claimedIdentityStrings(opt.ClaimedIdentity, o)
	o.str(&opt.ReturnAugmentedSignature)
	o.str(&opt.CredentialID)
	eachString(r.Unsupported, o)
}

func documentStrings(docs []dss.Document, o *owner) {
	for i := range docs {
		d := &docs[i]
		o.str(&d.ID)
		o.str(&d.RefURI)
		o.str(&d.RefType)
		o.str(&d.MimeType)
	}
}

func claimedIdentityStrings(c *dss.ClaimedIdentity, o *owner) {
	if c != nil {
		o.str(&c.Name)
		o.str(&c.SupportingInfoMimeType)
	}
}
