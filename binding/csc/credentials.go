package csc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"dssd/binding/internal/reqlog"
	"dssd/binding/metadata"
	"dssd/dss"
)

// conformanceLevel maps dssd level profiles to CSC conformance_level values.
var conformanceLevel = map[string]string{
	dss.LevelBB:   "Ades-B-B",
	dss.LevelBT:   "Ades-B-T",
	dss.LevelBLT:  "Ades-B-LT",
	dss.LevelBLTA: "Ades-B-LTA",
}

func (h *handler) info(_ context.Context, _ *reqlog.Event, _ dss.Caller, body []byte, r *http.Request) (any, error) {
	var req infoRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decode(body, &req); err != nil {
			return nil, err
		}
	}
	// Only one language is offered; CSC answers in the default language then.
	p := h.opts.Provider
	if strings.HasPrefix(p.Logo, "/") {
		p.Logo = "https://" + metadata.SafeHost(r.Host) + p.Logo
	}
	levels := []string{}
	for _, l := range h.opts.Levels {
		if c, ok := conformanceLevel[l]; ok {
			levels = append(levels, c)
		}
	}
	authTypes := append([]string(nil), h.opts.AuthTypes...)
	var oauth2 string
	methods := Methods(h.opts.Async)
	if h.opts.OAuth2 {
		authTypes = append(authTypes, "oauth2code")
		oauth2 = "https://" + metadata.SafeHost(r.Host) + strings.TrimSuffix(Prefix, "/")
		methods = append(methods, "oauth2/authorize", "oauth2/pushed_authorize", "oauth2/token", "oauth2/revoke")
	}
	about := infoAbout{Specs: Specs, Name: p.Name, Logo: p.Logo, Region: p.Region, Lang: p.Lang, Description: p.Description, AuthType: authTypes}
	if isV1(r) {
		about.Specs = SpecsV1
		return infoV1Response{
			infoAbout: about, OAuth2: oauth2,
			Methods: []string{MethodInfo, MethodCredentialsList, MethodCredentialsInfo, MethodAuthorize, MethodSignHash},
		}, nil
	}
	return infoResponse{
		infoAbout:          about,
		Methods:            methods,
		OAuth2:             oauth2,
		OAuth2Issuer:       oauth2,
		SupportedHashTypes: []string{OIDSHA256, OIDSHA384, OIDSHA512},
		SignAlgorithms:     signAlgorithms{Algos: append([]string(nil), hashSignAlgos...)},
		SignatureFormats: signatureFormats{
			Formats:            []string{"X"},
			EnvelopeProperties: [][]string{{"Enveloped", "Enveloping", "Detached"}},
		},
		ConformanceLevels:         levels,
		AsynchronousOperationMode: h.opts.Async,
	}, nil
}

func (h *handler) credentialsList(_ context.Context, ev *reqlog.Event, c dss.Caller, body []byte, _ *http.Request) (any, error) {
	var req listRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	ev.RequestID = req.ClientData
	if req.UserID != nil && *req.UserID != c.User {
		return nil, requestError("userID must be absent: the access token identifies the user")
	}
	if err := checkCertificatesParam(req.Certificates); err != nil {
		return nil, err
	}
	now := h.opts.Now()
	resp := listResponse{CredentialIDs: []string{}, OnlyValid: req.OnlyValid}
	for _, cred := range h.svc.Credentials(c) {
		if req.OnlyValid && certStatus(cred, now) != "valid" {
			continue
		}
		resp.CredentialIDs = append(resp.CredentialIDs, cred.ID)
		if req.CredentialInfo {
			ci, err := h.credentialInfo(cred, req.Certificates, req.CertInfo, req.AuthInfo, now)
			if err != nil {
				return nil, err
			}
			ci.CredentialID = cred.ID
			resp.CredentialInfos = append(resp.CredentialInfos, ci)
		}
	}
	return resp, nil
}

func (h *handler) credentialsInfo(_ context.Context, ev *reqlog.Event, c dss.Caller, body []byte, r *http.Request) (any, error) {
	var req infoCredRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	ev.RequestID, ev.Credential = req.ClientData, req.CredentialID
	if req.CredentialID == "" {
		return nil, requestError("missing (or invalid type) string parameter credentialID")
	}
	if err := checkCertificatesParam(req.Certificates); err != nil {
		return nil, err
	}
	cred, err := h.svc.Credential(c, req.CredentialID)
	if err != nil {
		return nil, err
	}
	ci, err := h.credentialInfo(cred, req.Certificates, req.CertInfo, true, h.opts.Now())
	if err != nil {
		return nil, err
	}
	if isV1(r) {
		return v1Info(cred, ci), nil
	}
	if !req.AuthInfo {
		ci.Auth = nil
	}
	return ci, nil
}

// v1Info is the CSC 1.0.4 form of a credential's description: authMode, PIN and OTP.
func v1Info(cred *dss.Credential, ci *credentialInfo) *credentialInfoV1 {
	out := &credentialInfoV1{Description: ci.Description, Key: ci.Key, Cert: ci.Cert, AuthMode: "explicit",
		SCAL: ci.SCAL, Multisign: ci.Multisign, Lang: ci.Lang}
	if cred.SCAL >= 2 {
		out.PIN = &pinInfo{Presence: "true", Format: "A", Label: "PIN", Description: pinText}
		out.OTP = &otpInfo{Presence: "true", Type: "offline", Format: "N", Label: "OTP", Description: otpText,
			ID: "totp", Provider: "dssd"}
	}
	return out
}

const (
	pinText = "the signing PIN of the credential"
	otpText = "TOTP code (RFC 6238: SHA-1, 30 s, 6 digits)"
)

func checkCertificatesParam(s string) error {
	switch s {
	case "", "none", "single", "chain":
		return nil
	}
	return requestError(`invalid parameter certificates: use "none", "single" or "chain"`)
}

// certStatus is "valid" or "expired" by the signer certificate's validity period only:
// dssd does not claim a revocation status here.
func certStatus(cred *dss.Credential, now time.Time) string {
	if len(cred.Chain) == 0 {
		return ""
	}
	leaf := cred.Chain[0]
	switch {
	case now.After(leaf.NotAfter):
		return "expired"
	case now.Before(leaf.NotBefore):
		return "" // not yet valid: CSC has no value for it
	}
	return "valid"
}

// credentialInfo describes a credential as CSC credentials/info does.
func (h *handler) credentialInfo(cred *dss.Credential, certificates string, withCertInfo, withAuthInfo bool, now time.Time) (*credentialInfo, error) {
	if len(cred.Chain) == 0 {
		return nil, dss.Errorf(dss.KindInternal, "credential %s has no certificate", cred.ID)
	}
	leaf := cred.Chain[0]
	ci := &credentialInfo{
		Description: fmt.Sprintf("%s key, SCAL%d", cred.Key, cred.SCAL),
		Key:         keyInfo{Status: keyStatus(cred)},
		Cert:        certInfo{Status: certStatus(cred, now)},
		SCAL:        fmt.Sprint(cred.SCAL),
		Multisign:   h.opts.Multisign,
		Lang:        h.opts.Provider.Lang,
	}
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		ci.Key.Algo = []string{OIDRSA, OIDSHA256WithRSA, OIDSHA384WithRSA, OIDSHA512WithRSA, OIDRSAPSS}
		ci.Key.Len = pub.N.BitLen()
	case *ecdsa.PublicKey:
		ci.Key.Algo = []string{OIDECPublicKey, OIDECDSASHA256, OIDECDSASHA384, OIDECDSASHA512}
		ci.Key.Len = pub.Curve.Params().BitSize
		switch pub.Curve.Params().Name {
		case "P-256":
			ci.Key.Curve = OIDCurveP256
		case "P-384":
			ci.Key.Curve = OIDCurveP384
		case "P-521":
			ci.Key.Curve = OIDCurveP521
		}
	default:
		return nil, dss.Errorf(dss.KindInternal, "credential %s has an unsupported key type %T", cred.ID, leaf.PublicKey)
	}
	switch certificates {
	case "", "single":
		ci.Cert.Certificates = []string{base64.StdEncoding.EncodeToString(leaf.Raw)}
	case "chain":
		for _, c := range cred.Chain {
			ci.Cert.Certificates = append(ci.Cert.Certificates, base64.StdEncoding.EncodeToString(c.Raw))
		}
	}
	if withCertInfo {
		ci.Cert.IssuerDN = leaf.Issuer.String()
		ci.Cert.SubjectDN = leaf.Subject.String()
		ci.Cert.SerialNumber = strings.ToUpper(leaf.SerialNumber.Text(16))
		ci.Cert.ValidFrom = leaf.NotBefore.UTC().Format(generalizedTime)
		ci.Cert.ValidTo = leaf.NotAfter.UTC().Format(generalizedTime)
	}
	// CSC v2 defines the modes explicit and oauth2code; "explicit" is announced because
	// credentials/authorize works for every credential (the OAuth2 flow does too, see info):
	// a SCAL1 credential's authorization needs no factor (the access token is the
	// authentication), a SCAL2 one needs the PIN and the OTP.
	if withAuthInfo {
		ci.Auth = &authInfo{Mode: "explicit"}
		if cred.SCAL >= 2 {
			ci.Auth.Expression = "PIN AND OTP"
			ci.Auth.Objects = []authObject{
				{Type: "Password", ID: "PIN", Format: "A", Label: "PIN", Description: pinText},
				{Type: "Password", ID: "OTP", Format: "N", Label: "OTP", Description: otpText, Generator: "totp"},
			}
		}
	}
	return ci, nil
}

// generalizedTime is the CSC validFrom/validTo format (X.680 GeneralizedTime, UTC).
const generalizedTime = "20060102150405Z"

// keyStatus is credentials/info key/status: "disabled" for a credential an operator disabled.
func keyStatus(cred *dss.Credential) string {
	if cred.Disabled {
		return "disabled"
	}
	return "enabled"
}
