package dss

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"dssd/dss/xades"
)

// Hash signing (TS 119 432 signHash, interface.md §4): InputDocuments/DocumentHash.

// digestMethod resolves a DigestInfo's method, given as a URI, an OID or a name. weak is set
// for SHA-1 and MD5, which are recognised and refused.
func digestMethod(m string) (h crypto.Hash, weak bool) {
	switch strings.ToLower(strings.TrimSpace(m)) {
	case xades.DigestSHA256, "2.16.840.1.101.3.4.2.1", "sha-256", "sha256":
		return crypto.SHA256, false
	case xades.DigestSHA384, "2.16.840.1.101.3.4.2.2", "sha-384", "sha384":
		return crypto.SHA384, false
	case xades.DigestSHA512, "2.16.840.1.101.3.4.2.3", "sha-512", "sha512":
		return crypto.SHA512, false
	case "http://www.w3.org/2000/09/xmldsig#sha1", "1.3.14.3.2.26", "sha-1", "sha1",
		"http://www.w3.org/2001/04/xmldsig-more#md5", "1.2.840.113549.2.5", "md5":
		return 0, true
	}
	return 0, false
}

// chooseDigest picks the first acceptable DigestInfo of dh: a SHA-256/384/512 method and,
// when want is set, that hash. A digest whose length contradicts its declared method fails
// the request, whether or not a later one would fit.
func chooseDigest(dh *DocumentHash, want crypto.Hash) (crypto.Hash, []byte, error) {
	weak := false
	for _, d := range dh.Digests {
		h, w := digestMethod(d.Method)
		weak = weak || w
		if h == 0 {
			continue
		}
		if len(d.Value) != h.Size() {
			return 0, nil, Errorf(KindHashAlgorithm, "DocumentHash %q: the %s digest has %d bytes, not %d", dh.ID, h, len(d.Value), h.Size())
		}
		if want != 0 && h != want {
			continue
		}
		return h, d.Value, nil
	}
	msg := fmt.Sprintf("DocumentHash %q has no acceptable digest: SHA-256, SHA-384 or SHA-512", dh.ID)
	if want != 0 {
		msg += " matching the signature algorithm's " + want.String()
	}
	if weak {
		msg += " (SHA-1 and MD5 are refused)"
	}
	return 0, nil, &Error{Kind: KindHashAlgorithm, Detail: msg}
}

// rawAlg is a signature scheme for raw signature values.
type rawAlg struct {
	hash     crypto.Hash // 0: the digest's hash
	family   keyFamily
	pss      bool
	rawECDSA bool // ECDSA value as r‖s (an XMLDSig URI named the algorithm) instead of DER
}

// sigOIDs are the SignatureAlgorithm OIDs accepted, with the XMLDSig URI of those that name
// a hash. rsaEncryption, RSASSA-PSS and id-ecPublicKey leave the hash to the digest.
var sigOIDs = map[string]struct {
	alg rawAlg
	uri string
}{
	"1.2.840.113549.1.1.1":  {rawAlg{family: familyRSA}, ""},
	"1.2.840.113549.1.1.11": {rawAlg{hash: crypto.SHA256, family: familyRSA}, xades.RSASHA256},
	"1.2.840.113549.1.1.12": {rawAlg{hash: crypto.SHA384, family: familyRSA}, xades.RSASHA384},
	"1.2.840.113549.1.1.13": {rawAlg{hash: crypto.SHA512, family: familyRSA}, xades.RSASHA512},
	"1.2.840.113549.1.1.10": {rawAlg{family: familyRSA, pss: true}, ""},
	"1.2.840.10045.2.1":     {rawAlg{family: familyEC}, ""},
	"1.2.840.10045.4.3.2":   {rawAlg{hash: crypto.SHA256, family: familyEC}, xades.ECDSASHA256},
	"1.2.840.10045.4.3.3":   {rawAlg{hash: crypto.SHA384, family: familyEC}, xades.ECDSASHA384},
	"1.2.840.10045.4.3.4":   {rawAlg{hash: crypto.SHA512, family: familyEC}, xades.ECDSASHA512},
}

// rawAlgorithm resolves SignatureAlgorithm (empty, an OID or an XMLDSig URI) for raw
// signature values with a key of keyType.
func rawAlgorithm(requested, keyType string) (rawAlg, error) {
	fam := familyOf(keyType)
	if fam == 0 {
		return rawAlg{}, Errorf(KindInternal, "credential has unknown key type %q", keyType)
	}
	requested = strings.TrimSpace(requested)
	var a rawAlg
	if requested == "" {
		return rawAlg{family: fam}, nil
	} else if o, ok := sigOIDs[requested]; ok {
		a = o.alg
	} else if u, ok := allowedSigAlgs[requested]; ok {
		a = rawAlg{hash: u.hash, family: u.family, pss: u.pss, rawECDSA: u.family == familyEC}
	} else {
		return rawAlg{}, Errorf(KindNotSupported, "SignatureAlgorithm %q is not supported", requested)
	}
	if a.family != fam {
		return rawAlg{}, Errorf(KindInappropriate, "SignatureAlgorithm %q does not fit the credential's %s key", requested, keyType)
	}
	return a, nil
}

// xmlAlgorithm resolves SignatureAlgorithm for an XML signature: an XMLDSig URI, or an OID
// that names a hash (mapped to its URI).
func xmlAlgorithm(requested, keyType string) (string, error) {
	r := strings.TrimSpace(requested)
	if o, ok := sigOIDs[r]; ok {
		if o.uri == "" {
			return "", Errorf(KindNotSupported, "SignatureAlgorithm %s names no hash; an XML signature needs one (give an XMLDSig URI)", r)
		}
		r = o.uri
	}
	return signatureAlgorithm(r, keyType)
}

// hashPlan is one DocumentHash with its chosen digest.
type hashPlan struct {
	dh     *DocumentHash
	hash   crypto.Hash
	digest []byte
}

// planHashes validates the DocumentHash inputs and picks each one's digest. want is the
// hash a raw signature algorithm fixes (0: any).
func planHashes(hs []DocumentHash, want crypto.Hash, xml bool) ([]hashPlan, error) {
	ids := map[string]bool{}
	omitted := 0
	plans := make([]hashPlan, len(hs))
	for i := range hs {
		dh := &hs[i]
		if dh.ID != "" {
			if ids[dh.ID] {
				return nil, Errorf(KindMalformed, "two inputs have the ID %q", dh.ID)
			}
			ids[dh.ID] = true
		}
		if len(dh.Digests) == 0 {
			return nil, Errorf(KindMalformed, "DocumentHash %q has no DigestInfos", dh.ID)
		}
		h, d, err := chooseDigest(dh, want)
		if err != nil {
			return nil, err
		}
		plans[i] = hashPlan{dh: dh, hash: h, digest: d}
		if !xml {
			if len(dh.Transforms) > 0 {
				return nil, Errorf(KindNotSupported, "DocumentHash %q: Transforms apply to XML signatures; name a SignatureType", dh.ID)
			}
			continue
		}
		for _, t := range dh.Transforms {
			switch t {
			case xades.ExcC14N, xades.C14N11, xades.TransformEnveloped, xades.TransformBase64:
			default:
				return nil, Errorf(KindNotSupported, "DocumentHash %q: transform %q is not supported", dh.ID, t)
			}
		}
		switch {
		case !dh.HasRefURI:
			omitted++
		case dh.RefURI == "":
			return nil, Errorf(KindInvalidRefURI, "a detached signature cannot reference the empty URI")
		case strings.HasPrefix(dh.RefURI, "#"):
			return nil, Errorf(KindInvalidRefURI, "a detached reference cannot point into the signature document: %q", dh.RefURI)
		}
	}
	if omitted > 1 {
		return nil, Errorf(KindRefURIOmitted, "%d inputs omit RefURI; at most one may", omitted)
	}
	return plans, nil
}

// signRaw produces one raw signature value over p's digest, verified with the certificate's
// key before it is returned: by the signer itself when it is a VerifyingSigner with that key,
// else here.
func (s *Service) signRaw(cred *Credential, signer crypto.Signer, alg rawAlg, p *hashPlan) ([]byte, error) {
	h := p.hash
	if h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 || len(p.digest) != h.Size() {
		// Never reached after planHashes; the device must not see a bad digest (hardening.md §2.8).
		return nil, Errorf(KindHashAlgorithm, "digest does not match its hash algorithm")
	}
	var opts crypto.SignerOpts = h
	if alg.pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	start := time.Now()
	sig, err := signer.Sign(s.rand, p.digest, opts)
	s.meter.HSM(cred.Key, time.Since(start), errClass(err))
	if err != nil {
		s.meter.Signature(cred.Key, "raw", "error")
		return nil, hsmError(err)
	}
	// A VerifyingSigner (hsm.Guard) has verified sig over this digest with its key; when that
	// key is the certificate's, the verification is not made a second time.
	verified := verifiedBySigner(signer, cred.Chain[0].PublicKey)
	var verr error
	switch pub := cred.Chain[0].PublicKey.(type) {
	case *rsa.PublicKey:
		switch {
		case verified:
		case alg.pss:
			verr = rsa.VerifyPSS(pub, h, p.digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		default:
			verr = rsa.VerifyPKCS1v15(pub, h, p.digest, sig)
		}
	case *ecdsa.PublicKey:
		if !verified && !ecdsa.VerifyASN1(pub, p.digest, sig) {
			verr = errors.New("ecdsa signature does not verify")
		} else if alg.rawECDSA {
			sig, verr = xades.RawECDSA(sig, pub)
		}
	default:
		verr = fmt.Errorf("unsupported public key %T", pub)
	}
	if verr != nil {
		s.meter.SelfCheckFailed()
		s.meter.Signature(cred.Key, "raw", "selfcheck")
		s.log.Error("produced signature failed its self-check", "credential", cred.ID, "err", verr)
		return nil, Wrap(KindInternal, verr, "")
	}
	s.meter.Signature(cred.Key, "raw", "ok")
	return sig, nil
}

// verifiedBySigner reports whether signer verifies every signature it returns
// (xades.VerifyingSigner, as hsm.Guard does) with the public key pub.
func verifiedBySigner(signer crypto.Signer, pub crypto.PublicKey) bool {
	if _, ok := signer.(xades.VerifyingSigner); !ok {
		return false
	}
	k, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

// signHashesRaw answers a hash-signing request without SignatureType: one raw signature
// value per digest, in request order.
func (s *Service) signHashesRaw(ctx context.Context, cred *Credential, signer crypto.Signer, alg rawAlg, plans []hashPlan, resp *SignResponse) error {
	for i := range plans {
		if err := ctx.Err(); err != nil {
			return Wrap(KindHSMUnavailable, err, "request deadline exceeded")
		}
		sig, err := s.signRaw(cred, signer, alg, &plans[i])
		if err != nil {
			return err
		}
		resp.Signatures = append(resp.Signatures, SignatureObject{
			WhichDoc: plans[i].dh.ID, MimeType: "application/octet-stream", Value: sig,
		})
	}
	return nil
}
