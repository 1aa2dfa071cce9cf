package verify

import (
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"dssd/dss/xades"
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
			c.res.Level = "B-LTA"
			c.res.Notes = append(c.res.Notes, fmt.Sprintf("archive timestamp of %s: token and TSA path verified; its message imprint is not checked", ts.Time.UTC().Format(time.RFC3339)))
			continue
		}
		input, err := canonicalize(c.sv, alg, "", nil)
		if err != nil {
			return nil, indeterminate(SigConstraintsFailure, ReasonTimestamp, "the timestamped SignatureValue cannot be canonicalized")
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
	p7, err := pkcs7.Parse(tok)
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
	ts, err := timestamp.Parse(tok)
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
	inter := x509.NewCertPool()
	for _, ic := range append(p7.Certificates, c.candidates()...) {
		if !sameCert(ic, signer) {
			inter.AddCert(ic)
		}
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: c.v.anchors, Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		var uae x509.UnknownAuthorityError
		if errors.As(err, &uae) {
			return bad("the TSA certificate %q does not chain to a trust anchor", signer.Subject.String())
		}
		return bad("the TSA certificate path is not acceptable")
	}
	return ts, nil
}
