package dss

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"dssd/dss/verify"
	"dssd/dss/xades"
)

// tsHash is the digest algorithm of every timestamp request (signature and archive timestamps).
const tsHash = crypto.SHA256

// maxCause caps the length of an authority's error text in a client message.
const maxCause = 300

// levelRank orders the level profiles: B-B 0, B-T 1, B-LT 2, B-LTA 3.
func levelRank(level string) (int, error) {
	switch level {
	case LevelBB:
		return 0, nil
	case LevelBT:
		return 1, nil
	case LevelBLT:
		return 2, nil
	case LevelBLTA:
		return 3, nil
	}
	return 0, Errorf(KindNotSupported, "level %q is not supported", level)
}

// applyLevel raises the B-B signature signed, which exists only as bytes (augmentation), to
// the requested level: it opens the bytes once, raises the tree (raise) and serialises it
// once. It returns the new Signed; on any failure it returns an error and nothing
// half-signed. A signature the service makes is raised on its Tree (applyLevelTree).
func (s *Service) applyLevel(ctx context.Context, level string, signed *xades.Signed, obj xades.Object, cred *Credential) (*xades.Signed, error) {
	rank, err := s.levelPreconditions(ctx, level, signed != nil, cred)
	if err != nil {
		return nil, err
	}
	if rank == 0 {
		return signed, nil
	}
	t, err := xades.Open(signed, s.maxBytes)
	if err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	if err := s.raise(ctx, rank, t, obj, cred); err != nil {
		return nil, err
	}
	out, err := t.Bytes()
	if err != nil {
		return nil, Wrap(KindInternal, err, "")
	}
	return out, nil
}

// applyLevelTree raises the B-B signature t, as xades.Build made it, to the requested level in
// place. On failure t is to be dropped: it may hold some of the unsigned properties.
func (s *Service) applyLevelTree(ctx context.Context, level string, t *xades.Tree, obj xades.Object, cred *Credential) error {
	rank, err := s.levelPreconditions(ctx, level, t != nil, cred)
	if err != nil || rank == 0 {
		return err
	}
	return s.raise(ctx, rank, t, obj, cred)
}

// levelPreconditions returns the rank of level (B-B 0 … B-LTA 3) once the service can reach
// it: a timestamp authority from B-T, revocation sources from B-LT, and, below B-LT (where
// raise fetches the revocation data anyway), a signer chain that is not revoked.
//
// Whenever a revocation source is configured, the signer's chain is checked at every level:
// a revoked certificate is refused with KindCertificateRevoked (RequesterError: the request
// names a credential that can no longer sign; retrying will not help), and a status that
// cannot be established with KindAuthorityUnavailable (fail closed).
func (s *Service) levelPreconditions(ctx context.Context, level string, haveSignature bool, cred *Credential) (int, error) {
	rank, err := levelRank(level)
	if err != nil {
		return 0, err
	}
	if rank >= 1 && s.tsa == nil {
		return 0, Errorf(KindNotSupported, "level %s needs a timestamp authority; none is configured", level)
	}
	if rank >= 2 && s.rev == nil {
		return 0, Errorf(KindNotSupported, "level %s needs revocation sources; none is configured", level)
	}
	if !haveSignature || cred == nil || len(cred.Chain) == 0 {
		return 0, Wrap(KindInternal, errors.New("applyLevel without a signature or a signer chain"), "")
	}
	if rank < 2 && s.rev != nil {
		if _, _, err := s.rev.Validation(ctx, cred.Chain, nil); err != nil {
			return 0, signerRevocationError(cred, err)
		}
	}
	return rank, nil
}

// raise adds to the B-B signature t the unsigned properties of level rank (1 B-T … 3 B-LTA),
// using s.tsa and s.rev:
//
//   - B-T: a signature timestamp over the canonicalized ds:SignatureValue.
//   - B-LT: B-T, then the revocation data of the signer's chain and of the timestamp
//     authority's chain (the certificates the token carries, completed from the signer's
//     chain), embedded with both chains as CertificateValues and RevocationValues.
//   - B-LTA: B-LT, then an archive timestamp and, when its authority's certificates are not
//     already embedded, their validation data in TimeStampValidationData.
//
// Authority failures are KindAuthorityUnavailable (ResponderError) with a message naming the
// authority and the cause.
func (s *Service) raise(ctx context.Context, rank int, t *xades.Tree, obj xades.Object, cred *Credential) error {
	// B-T
	in, err := t.SignatureTimestampInput()
	if err != nil {
		return Wrap(KindInternal, err, "")
	}
	tsaCerts, genTime, err := s.timestamp(ctx, "signature", in, t.AddSignatureTimestamp)
	if err != nil {
		return err
	}
	if rank == 1 {
		return nil
	}

	// B-LT: revocation data the verifier will count as fresh with the signature timestamp as
	// the proof of existence (a cached answer issued before it is fetched again).
	var vd validationData
	fresh := s.freshAfter(genTime)
	ocsps, crls, err := s.rev.Validation(ctx, cred.Chain, fresh)
	if err != nil {
		return signerRevocationError(cred, err)
	}
	vd.add(cred.Chain, ocsps, crls)
	tsaChain := chainOf(tsaCerts, cred.Chain)
	if len(tsaChain) > 0 {
		ocsps, crls, err := s.rev.Validation(ctx, tsaChain, fresh)
		if err != nil {
			return authorityRevocationError("timestamp authority", err)
		}
		vd.add(tsaChain, ocsps, crls)
	}
	if err := t.AddValidationData(vd.certs, vd.ocsps, vd.crls); err != nil {
		return Wrap(KindInternal, err, "")
	}
	if rank == 2 {
		return nil
	}

	// B-LTA
	var detached map[string][]byte
	if obj.Data != nil {
		detached = map[string][]byte{obj.URI: obj.Data}
	}
	in, err = t.ArchiveTimestampInput(detached)
	if err != nil {
		if errors.Is(err, xades.ErrLimit) {
			return signError(err)
		}
		if obj.Data == nil {
			return Wrap(KindNotSupported, err, "level B-LTA needs the signed data; a signature over a hash cannot be archived")
		}
		return Wrap(KindInternal, err, "")
	}
	atsaCerts, archiveTime, err := s.timestamp(ctx, "archive", in, t.AddArchiveTimestamp)
	if err != nil {
		return err
	}
	atsaChain := chainOf(atsaCerts, append(slices.Clone(tsaChain), cred.Chain...))
	if vd.covers(atsaChain) {
		return nil
	}
	ocsps, crls, err = s.rev.Validation(ctx, atsaChain, s.freshAfter(archiveTime))
	if err != nil {
		return authorityRevocationError("archive timestamp authority", err)
	}
	raw := make([][]byte, len(atsaChain))
	for i, c := range atsaChain {
		raw[i] = c.Raw
	}
	if _, err := t.AddTimestampValidationData(raw, ocsps, crls); err != nil {
		return Wrap(KindInternal, err, "")
	}
	return nil
}

// freshAfter is the freshness B-LT and B-LTA demand of the revocation data they embed: the
// verifier's rule (verify.RevocationFresh) with the timestamp of genTime as the proof of
// existence, applied at genTime with the configured verify.revocation_freshness window.
// Without a window the data must be issued at or after the timestamp, which is what a
// verifier can rely on once the window has passed.
func (s *Service) freshAfter(genTime time.Time) func(thisUpdate, nextUpdate time.Time) bool {
	window := s.revocationFreshness()
	return func(thisUpdate, nextUpdate time.Time) bool {
		return verify.RevocationFresh(thisUpdate, nextUpdate, genTime, genTime, window)
	}
}

// timestamp asks the timestamp authority for a token over the digest of in, adds it to the
// signature with add and returns the certificates it carries and its genTime. The
// Timestamper verified the token; its imprint is checked here once more, because a token
// over anything else would make the signature unverifiable.
func (s *Service) timestamp(ctx context.Context, what string, in []byte, add func(token []byte) error) ([]*x509.Certificate, time.Time, error) {
	h := tsHash.New()
	h.Write(in)
	digest := h.Sum(nil)
	token, err := s.tsa.Timestamp(ctx, tsHash, digest)
	if err != nil {
		return nil, time.Time{}, &Error{Kind: KindAuthorityUnavailable, Detail: "timestamp authority unavailable: " + clip(err.Error()), Err: err}
	}
	info, err := parseToken(token)
	if err == nil && (info.hash != tsHash || !bytes.Equal(info.digest, digest)) {
		err = errors.New("the token's message imprint is not the requested one")
	}
	if err != nil {
		return nil, time.Time{}, &Error{Kind: KindAuthorityUnavailable, Detail: "timestamp authority returned an unusable " + what + " timestamp: " + clip(err.Error()), Err: err}
	}
	if err := add(token); err != nil {
		return nil, time.Time{}, Wrap(KindInternal, err, "")
	}
	return info.certs, info.genTime, nil
}

// signerRevocationError maps a revocation failure for the signer's chain.
func signerRevocationError(cred *Credential, err error) error {
	if errors.Is(err, verify.ErrRevoked) {
		return &Error{Kind: KindCertificateRevoked, Detail: fmt.Sprintf("the certificate chain of credential %s holds a revoked certificate; signing refused: %s", cred.ID, clip(err.Error())), Err: err}
	}
	return &Error{Kind: KindAuthorityUnavailable, Detail: "revocation status of the signer certificate unavailable: " + clip(err.Error()), Err: err}
}

// authorityRevocationError maps a revocation failure for a timestamp authority's chain: a
// revoked authority is the service's problem, not the requester's.
func authorityRevocationError(who string, err error) error {
	if errors.Is(err, verify.ErrRevoked) {
		return &Error{Kind: KindAuthorityUnavailable, Detail: "the " + who + " certificate is revoked: " + clip(err.Error()), Err: err}
	}
	return &Error{Kind: KindAuthorityUnavailable, Detail: "revocation status of the " + who + " unavailable: " + clip(err.Error()), Err: err}
}

func clip(s string) string {
	if len(s) <= maxCause {
		return s
	}
	return s[:maxCause] + "…"
}

// validationData collects the B-LT values, each once.
type validationData struct {
	certs, ocsps, crls [][]byte
	seen               map[string]bool
}

func (v *validationData) add(chain []*x509.Certificate, ocsps, crls [][]byte) {
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	put := func(dst *[][]byte, b []byte) {
		if len(b) == 0 || v.seen[string(b)] {
			return
		}
		v.seen[string(b)] = true
		*dst = append(*dst, b)
	}
	for _, c := range chain {
		put(&v.certs, c.Raw)
	}
	for _, o := range ocsps {
		put(&v.ocsps, o)
	}
	for _, c := range crls {
		put(&v.crls, c)
	}
}

// covers reports whether every certificate of chain is already embedded (its revocation data
// was fetched with it).
func (v *validationData) covers(chain []*x509.Certificate) bool {
	for _, c := range chain {
		if !v.seen[string(c.Raw)] {
			return false
		}
	}
	return true
}

// chainOf orders a timestamp authority's certificates into a chain, leaf first: the leaf is
// the certificate with the timeStamping extended key usage (else the first one), followed by
// its issuers found among certs and extra (e.g. the signer's chain when one CA issues both),
// up to a self-signed certificate or the last issuer known.
func chainOf(certs, extra []*x509.Certificate) []*x509.Certificate {
	if len(certs) == 0 {
		return nil
	}
	leaf := certs[0]
	for _, c := range certs {
		if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) && !c.IsCA {
			leaf = c
			break
		}
	}
	pool := append(slices.Clone(certs), extra...)
	chain := []*x509.Certificate{leaf}
	for cur := leaf; len(chain) <= len(pool); {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) && cur.CheckSignatureFrom(cur) == nil {
			break
		}
		var next *x509.Certificate
		for _, c := range pool {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && !slices.ContainsFunc(chain, c.Equal) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// tokenInfo is what applyLevel needs from a TimeStampToken.
type tokenInfo struct {
	hash    crypto.Hash
	digest  []byte
	genTime time.Time
	certs   []*x509.Certificate
}

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	tsHashOIDs    = map[string]crypto.Hash{
		"2.16.840.1.101.3.4.2.1": crypto.SHA256,
		"2.16.840.1.101.3.4.2.2": crypto.SHA384,
		"2.16.840.1.101.3.4.2.3": crypto.SHA512,
	}
)

// parseToken reads the message imprint and the certificates of a DER RFC 3161 TimeStampToken
// (a CMS SignedData over a TSTInfo). It does not verify the token: the Timestamper did.
func parseToken(der []byte) (*tokenInfo, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("token is not a DER ContentInfo: %v", err)
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("token content type %v is not SignedData", ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		EncapContentInfo struct {
			EContentType asn1.ObjectIdentifier
			EContent     []byte `asn1:"explicit,tag:0"`
		}
		Certificates asn1.RawValue `asn1:"optional,tag:0"`
		CRLs         asn1.RawValue `asn1:"optional,tag:1"`
		SignerInfos  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("token SignedData: %w", err)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidTSTInfo) {
		return nil, fmt.Errorf("token encapsulates %v, not a TSTInfo", sd.EncapContentInfo.EContentType)
	}
	var tst struct {
		Version        int
		Policy         asn1.ObjectIdentifier
		MessageImprint struct {
			HashAlgorithm struct {
				Algorithm  asn1.ObjectIdentifier
				Parameters asn1.RawValue `asn1:"optional"`
			}
			HashedMessage []byte
		}
		SerialNumber *big.Int
		GenTime      time.Time `asn1:"generalized"`
	}
	if _, err := asn1.Unmarshal(sd.EncapContentInfo.EContent, &tst); err != nil {
		return nil, fmt.Errorf("token TSTInfo: %w", err)
	}
	h, ok := tsHashOIDs[tst.MessageImprint.HashAlgorithm.Algorithm.String()]
	if !ok {
		return nil, fmt.Errorf("token imprint hash %v", tst.MessageImprint.HashAlgorithm.Algorithm)
	}
	info := &tokenInfo{hash: h, digest: tst.MessageImprint.HashedMessage, genTime: tst.GenTime}
	if len(sd.Certificates.Bytes) > 0 {
		certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
		if err != nil {
			return nil, fmt.Errorf("token certificates: %w", err)
		}
		info.certs = certs
	}
	return info, nil
}
