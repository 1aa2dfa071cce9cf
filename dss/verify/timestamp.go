package verify

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/beevik/etree"
	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"dssd/dss/xades"
	"dssd/dss/xmldsig"
)

// timestamps verifies every xades:SignatureTimeStamp and returns their times, the proofs of
// existence of the signature. Any timestamp that fails makes the signature INDETERMINATE:
// DSS-X [DSS-6.1.3-1] requires the timestamps present to be verified.
func (c *sigCtx) timestamps() ([]time.Time, *verdict) {
	if c.usp == nil {
		return nil, nil
	}
	var poe []time.Time
	n := 0
	for _, p := range c.usp.ChildElements() {
		archive := is(p, xades.NSXAdES141, "ArchiveTimeStamp")
		if !is(p, xades.NSXAdES, "SignatureTimeStamp") && !archive {
			continue
		}
		if n++; n > c.v.lim.MaxTimestamps {
			return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "more than %d timestamps", c.v.lim.MaxTimestamps)
		}
		if !archive && c.res.Level == "B-B" {
			c.res.Level = "B-T"
		}
		alg := C14N10 // XAdES default when CanonicalizationMethod is absent
		var tok []byte
		for _, k := range p.ChildElements() {
			switch {
			case is(k, xades.NSXMLDSig, "CanonicalizationMethod"):
				alg = k.SelectAttrValue("Algorithm", "")
				if !c14nMethods[alg] || len(k.ChildElements()) != 0 {
					return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "timestamp canonicalization %s is not accepted", clip(alg))
				}
			case is(k, xades.NSXAdES, "EncapsulatedTimeStamp"):
				if tok != nil {
					return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "a timestamp property holds two tokens")
				}
				b, v := b64Value(k, "EncapsulatedTimeStamp")
				if v != nil {
					v.ind, v.sub, v.reason = Indeterminate, SigConstraintsFailure, ReasonTimestamp
					return nil, v
				}
				tok = b
			case is(k, xades.NSXAdES, "XMLTimeStamp"):
				return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "XML timestamps are not supported")
			}
		}
		if tok == nil {
			return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "a timestamp property without EncapsulatedTimeStamp")
		}
		ts, v := c.verifyToken(tok)
		if v != nil {
			return nil, v
		}
		if archive {
			// EN 319 132-1 §5.5.2: the imprint covers the references' data, SignedInfo,
			// SignatureValue, KeyInfo, the unsigned properties before this timestamp and the
			// other Objects; recomputed here with dss/xades's list of parts. A token copied
			// from another signature does not match.
			input, v := c.archiveInput(p, alg)
			if v != nil {
				return nil, v
			}
			w := ts.HashAlgorithm.New()
			w.Write(input)
			if subtle.ConstantTimeCompare(w.Sum(nil), ts.HashedMessage) != 1 {
				return nil, indeterminate(SigConstraintsFailure, ReasonArchiveTimestamp, "the archive timestamp of %s does not cover this signature: its message imprint does not match", ts.Time.UTC().Format(time.RFC3339))
			}
			c.res.Level = "B-LTA"
			continue
		}
		input, err := c.canon(nil, c.sv, alg, "", nil, nil)
		if v := c.stopped(err); v != nil {
			return nil, v
		}
		if err != nil {
			return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "the timestamped SignatureValue cannot be canonicalized")
		}
		if !c.charge(len(input)) {
			return nil, c.stopped(xmldsig.ErrOutputLimit)
		}
		w := ts.HashAlgorithm.New()
		w.Write(input)
		if subtle.ConstantTimeCompare(w.Sum(nil), ts.HashedMessage) != 1 {
			return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "the signature timestamp's message imprint does not match the signature value")
		}
		poe = append(poe, ts.Time)
		c.res.TimestampTimes = append(c.res.TimestampTimes, ts.Time.UTC())
	}
	return poe, nil
}

// verifyToken checks an RFC 3161 TimeStampToken: one signer whose certificate the token
// carries, a CMS signature that verifies, the timeStamping usage, a path to an anchor at the
// token's time, and an imprint algorithm the policy accepts.
func (c *sigCtx) verifyToken(tok []byte) (*timestamp.Timestamp, *verdict) {
	bad := func(format string, a ...any) (*timestamp.Timestamp, *verdict) {
		return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "signature timestamp: "+format, a...)
	}
	p7, err := safeParse(pkcs7.Parse, tok)
	if err != nil {
		return bad("the token is not a CMS SignedData")
	}
	if len(p7.Signers) != 1 {
		return bad("the token has %d signers, want 1", len(p7.Signers))
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return bad("the token does not carry its TSA certificate")
	}
	// Parse verifies the CMS signature (message digest and signed attributes) with the
	// certificate the token carries; the path is checked below.
	ts, err := safeParse(timestamp.Parse, tok)
	if err != nil {
		return bad("the token does not verify")
	}
	if !c.v.policy.hashAllowed(ts.HashAlgorithm) {
		return bad("the imprint algorithm %v is not accepted by the validation policy", ts.HashAlgorithm)
	}
	if !slices.Contains(signer.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return bad("the TSA certificate lacks the timeStamping usage")
	}
	if ts.Time.After(c.at.Add(clockSkew)) {
		return bad("the token's time %s is after the validation time", ts.Time.UTC().Format(time.RFC3339))
	}
	chains, err := c.buildPath(signer, append(slices.Clone(p7.Certificates), c.candidates()...), ts.Time, x509.ExtKeyUsageTimeStamping)
	if err != nil {
		var uae x509.UnknownAuthorityError
		if errors.As(err, &uae) {
			return bad("the TSA certificate %q does not chain to a trust anchor", signer.Subject.String())
		}
		return bad("the TSA certificate path is not acceptable")
	}
	// The TSA's certificates are checked for revocation like a signer's; the token's time is
	// the proof of existence of what it stamps.
	if v := c.chainStatus(chains[0], []time.Time{ts.Time}, ReasonTimestamp); v != nil {
		v.detail = "signature timestamp: " + v.detail
		return nil, v
	}
	return ts, nil
}

// archiveInput recomputes the input of the archive timestamp ats, canonicalized with alg.
func (c *sigCtx) archiveInput(ats *etree.Element, alg string) ([]byte, *verdict) {
	bad := func(format string, a ...any) ([]byte, *verdict) {
		return nil, indeterminate(SigConstraintsFailure, ReasonArchiveTimestamp, "archive timestamp: "+format, a...)
	}
	refs, elems, err := xades.ArchiveTimestampParts(c.sig, c.qp, ats)
	if err != nil || len(refs) != len(c.refs) {
		return bad("its input cannot be built")
	}
	var buf bytes.Buffer
	// Each part is charged to Limits.MaxC14NBytes as it is written, so that the next walk is
	// bounded by what the input left (c14nLeft): charged once at the end, every part could
	// have its own whole bound, and the input the sum of them.
	add := func(b []byte) bool {
		buf.Write(b)
		return c.charge(len(b))
	}
	over := func() ([]byte, *verdict) {
		return bad("the archive timestamps of this document cover more than %d bytes together", c.v.lim.MaxC14NBytes)
	}
	for i, r := range c.refs {
		if r.el != refs[i] {
			return bad("its input cannot be built")
		}
		data, v := c.referenceData(r)
		if v != nil {
			if v.sub == TryLater || c.walk != nil && c.walk.Over() {
				return nil, v
			}
			return bad("reference %d cannot be dereferenced", r.pos)
		}
		if !add(data) {
			return over()
		}
	}
	for _, el := range elems {
		b, err := c.canon(nil, el, alg, "", nil, nil)
		if v := c.stopped(err); v != nil {
			return nil, v
		}
		if err != nil {
			return bad("%s cannot be canonicalized", el.Tag)
		}
		if !add(b) {
			return over()
		}
	}
	return buf.Bytes(), nil
}

// safeParse runs a third-party parser on attacker bytes; a panic in it (digitorus/pkcs7
// indexes past short BER input, found by FuzzTimestampToken) is a parse error.
func safeParse[T any](parse func([]byte) (T, error), b []byte) (out T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser panic: %v", r)
		}
	}()
	return parse(b)
}
