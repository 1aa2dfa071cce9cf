package dss

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"dssd/internal/testkit/xadestest"
)

// signed returns alice-rsa's enveloped XAdES signature over the invoice and the service.
func signedInvoice(t *testing.T) (*fixture, []byte) {
	t.Helper()
	f := newFixture(t)
	resp, err := f.svc.Sign(context.Background(), alice, &SignRequest{
		Documents: []Document{{ID: "d", RefURI: "", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}},
		Options:   SignOptions{CredentialID: "alice-rsa", Placement: &Placement{WhichData: "d", XPath: "/*", CreateEnveloped: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	anchors := []*x509.Certificate{f.svc.dir.Credential("alice-rsa").Chain[0]}
	if err := f.svc.ConfigureVerify(VerifyConfig{Anchors: anchors}); err != nil {
		t.Fatal(err)
	}
	return f, resp.DocumentsWithSignature[0].Data
}

func TestVerifyService(t *testing.T) {
	f, signed := signedInvoice(t)
	now := time.Now()
	all := VerifyOptions{VerificationTime: now, ReturnProcessingDetails: true, ReturnSignerIdentity: true,
		ReturnSigningTimeInfo: true, ReturnVerificationTimeInfo: true}
	resp, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{RequestID: "r1",
		Documents: []Document{{ID: "d", Data: signed}}, Options: all})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result.Major != MajorSuccess || resp.Result.Minor != MinorValidOnAllDocuments || resp.RequestID != "r1" {
		t.Fatalf("result %+v", resp.Result)
	}
	if resp.SignerIdentity == nil || resp.SignerIdentity.Value != "CN=alice-rsa" {
		t.Errorf("signer identity %+v", resp.SignerIdentity)
	}
	if resp.SigningTime == nil || !resp.SigningTime.Time.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("signing time %+v", resp.SigningTime)
	}
	if resp.VerificationTime == nil || !resp.VerificationTime.Time.Equal(now.UTC().Truncate(time.Second)) || len(resp.VerificationTime.Additional) != 1 {
		t.Errorf("verification time %+v", resp.VerificationTime)
	}
	pd := resp.ProcessingDetails
	if pd == nil || len(pd.Valid) != 3 || pd.Valid[0].Type != DetailIndicationPrefix+"TOTAL-PASSED" ||
		pd.Valid[1].Type != DetailScopePrefix+"document" || !strings.Contains(pd.Valid[1].Message, "except this signature") {
		t.Errorf("processing details %+v", pd)
	}

	// The same signature given as Base64Signature... is the whole document: also fine.
	resp, err = f.svc.Verify(context.Background(), alice, &VerifyRequest{
		Signature: &SignatureObject{MimeType: "text/xml", Value: signed}, Options: VerifyOptions{VerificationTime: now}})
	if err != nil || resp.Result.Minor != MinorValidOnAllDocuments {
		t.Fatalf("%+v %v", resp, err)
	}

	// Tampered.
	bad := []byte(strings.Replace(string(signed), "10.00", "99.00", 1))
	resp, err = f.svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: bad}},
		Options: VerifyOptions{VerificationTime: now, ReturnProcessingDetails: true}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result.Major != MajorSuccess || resp.Result.Minor != MinorIncorrectSignature ||
		len(resp.ProcessingDetails.Invalid) == 0 || resp.ProcessingDetails.Invalid[0].Code != DetailSubIndicationPrefix+"HASH_FAILURE" {
		t.Fatalf("tampered: %+v %+v", resp.Result, resp.ProcessingDetails)
	}

	// Untrusted (no anchors): InsufficientInformation.
	if err := f.svc.ConfigureVerify(VerifyConfig{}); err != nil {
		t.Fatal(err)
	}
	resp, err = f.svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: signed}}, Options: VerifyOptions{VerificationTime: now}})
	if err != nil || resp.Result.Major != MajorInsufficient || resp.Result.Minor != MinorChainNotComplete {
		t.Fatalf("untrusted: %+v %v", resp, err)
	}
}

func TestVerifyRefused(t *testing.T) {
	f, signed := signedInvoice(t)
	d := Document{ID: "d", Data: signed}
	tests := []struct {
		name string
		req  VerifyRequest
		kind Kind
	}{
		{"unsupported", VerifyRequest{Documents: []Document{d}, Unsupported: []string{"VerifyManifests"}}, KindNotSupported},
		{"profile", VerifyRequest{Documents: []Document{d}, Profiles: []string{"urn:x"}}, KindNotSupported},
		{"two documents without SignatureObject", VerifyRequest{Documents: []Document{d, d}}, KindMalformed},
		{"nothing", VerifyRequest{}, KindMalformed},
		{"not XML", VerifyRequest{Documents: []Document{{ID: "d", Data: []byte("%PDF-1.7")}}}, KindNotSupported},
		{"CMS signature", VerifyRequest{Signature: &SignatureObject{MimeType: "application/pkcs7-signature", Value: []byte{0x30}}}, KindNotSupported},
		{"DOCTYPE", VerifyRequest{Documents: []Document{{ID: "d", Data: []byte(`<!DOCTYPE a><a/>`)}}}, KindMalformed},
		{"no signature", VerifyRequest{Documents: []Document{{ID: "d", Data: []byte(invoice)}}}, KindInappropriate},
		{"pointer to nothing", VerifyRequest{Signature: &SignatureObject{Ptr: &SignaturePtr{WhichData: "x"}}, Documents: []Document{d}}, KindDocumentNotFound},
		{"pointer with XPath", VerifyRequest{Signature: &SignatureObject{Ptr: &SignaturePtr{WhichData: "d", XPath: "/a"}}, Documents: []Document{d}}, KindNotSupported},
		{"two detached without RefURI", VerifyRequest{Signature: &SignatureObject{Value: signed}, Documents: []Document{{ID: "a"}, {ID: "b"}}}, KindRefURIOmitted},
		{"other claimed identity", VerifyRequest{Documents: []Document{d}, Options: VerifyOptions{ClaimedIdentity: &ClaimedIdentity{Name: "bob"}}}, KindNotAuthenticated},
		{"bad additional certificate", VerifyRequest{Documents: []Document{d}, Options: VerifyOptions{Certificates: [][]byte{{1}}}}, KindMalformed},
		{"KeyName with a signature", VerifyRequest{Documents: []Document{d}, Options: VerifyOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"too many additional certificates", VerifyRequest{Documents: []Document{d}, Options: VerifyOptions{Certificates: make([][]byte, maxAdditionalCertificates+1)}}, KindLimit},
		{"oversized additional certificate", VerifyRequest{Documents: []Document{d}, Options: VerifyOptions{Certificates: [][]byte{make([]byte, maxAdditionalCertificateBytes+1)}}}, KindLimit},
		{"too many documents", VerifyRequest{Signature: &SignatureObject{Value: signed}, Documents: []Document{{ID: "a", HasRefURI: true, RefURI: "a"}, {ID: "b", HasRefURI: true, RefURI: "b"}, {ID: "c", HasRefURI: true, RefURI: "c"}, {ID: "e", HasRefURI: true, RefURI: "e"}}}, KindLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Verify(context.Background(), alice, &tt.req)
			if KindOf(err) != tt.kind || err == nil {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
		})
	}
}

// TestSignerCertificate is TS 119 432 V1.3.1 clause 8.3.1: the certificate of the caller's
// own credential, never another user's.
func TestSignerCertificate(t *testing.T) {
	f := newFixture(t)
	resp, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{RequestID: "c1",
		Options: VerifyOptions{ReturnSignerIdentity: true, CredentialID: "alice-ec", ClaimedIdentity: &ClaimedIdentity{Name: "alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	cert := f.svc.dir.Credential("alice-ec").Chain[0]
	if resp.Result.Major != MajorSuccess || resp.SignerIdentity.Value != cert.Subject.String() ||
		len(resp.Other) != 1 || resp.Other[0].MimeType != "application/pkix-cert" || string(resp.Other[0].Data) != string(cert.Raw) {
		t.Fatalf("%+v", resp)
	}
	for _, id := range []string{"bob-rsa", "nope"} {
		_, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{Options: VerifyOptions{ReturnSignerIdentity: true, CredentialID: id}})
		if KindOf(err) != KindKeyLookup {
			t.Errorf("%s: %v, want KeyLookup", id, err)
		}
	}
	if _, err := f.svc.Verify(context.Background(), alice, &VerifyRequest{Options: VerifyOptions{CredentialID: "alice-ec"}}); KindOf(err) != KindMalformed {
		t.Errorf("without ReturnSignerIdentity: %v", err)
	}
}

func TestVerdictResult(t *testing.T) {
	for _, tt := range []struct {
		ind, sub, reason string
		all              bool
		major, minor     string
	}{
		{"TOTAL-PASSED", "", "", true, MajorSuccess, MinorValidOnAllDocuments},
		{"TOTAL-PASSED", "", "", false, MajorSuccess, MinorValidNotAllDocuments},
		{"TOTAL-FAILED", "HASH_FAILURE", "digest", true, MajorSuccess, MinorIncorrectSignature},
		{"INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND", "chain", true, MajorInsufficient, MinorChainNotComplete},
		{"INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND", "key-info", true, MajorInsufficient, MinorKeyInfoNotProvided},
		{"INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND", "signing-certificate", true, MajorInsufficient, MinorIndeterminatePrefix + "NO_SIGNING_CERTIFICATE_FOUND"},
		{"INDETERMINATE", "SIGNED_DATA_NOT_FOUND", "reference", true, MajorInsufficient, MinorReferencedDocNotFound},
		{"INDETERMINATE", "TRY_LATER", "revocation", true, MajorInsufficient, MinorOCSPNotAvailable},
		{"INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", "timestamp", true, MajorInsufficient, MinorInvalidSignatureTimestamp},
		{"INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", "archive-timestamp", true, MajorInsufficient, MinorInvalidArchiveTimestamp},
		{"INDETERMINATE", "OUT_OF_BOUNDS_NO_POE", "validity", true, MajorInsufficient, MinorIndeterminatePrefix + "OUT_OF_BOUNDS_NO_POE"},
	} {
		r := VerdictResult(tt.ind, tt.sub, tt.reason, tt.all, "m")
		if r.Major != tt.major || r.Minor != tt.minor || r.Message != "m" || r.Lang != "en" {
			t.Errorf("%s/%s: %+v", tt.ind, tt.sub, r)
		}
	}
}

// TestVerifyAugment: ReturnAugmentedSignature raises a valid B-B signature to B-T with the
// service's timestamp authority; the result verifies at B-T.
func TestVerifyAugment(t *testing.T) {
	xadestest.Require(t)
	tsa := xadestest.NewTSA(t, "augment TSA", true)
	f := newFixture(t)
	svc, err := New(Config{Keys: f.svc.keys, Directory: f.svc.dir, Timestamps: tsa})
	if err != nil {
		t.Fatal(err)
	}
	cred := svc.dir.Credential("alice-ec")
	// The TSA certificate is itself an anchor: the fixture has no revocation source, and a
	// TSA certificate under an anchor needs a revocation status like a signer's.
	if err := svc.ConfigureVerify(VerifyConfig{Anchors: []*x509.Certificate{cred.Chain[0], tsa.Cert}}); err != nil {
		t.Fatal(err)
	}
	sresp, err := svc.Sign(context.Background(), alice, &SignRequest{
		Documents: []Document{{ID: "d", RefURI: "", HasRefURI: true, MimeType: "application/xml", Data: []byte(invoice)}},
		Options:   SignOptions{CredentialID: "alice-ec", Placement: &Placement{WhichData: "d", XPath: "/*", CreateEnveloped: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	signed := sresp.DocumentsWithSignature[0].Data
	resp, err := svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: signed}},
		Options: VerifyOptions{ReturnAugmentedSignature: LevelBT, ReturnSigningTimeInfo: true}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result.Minor != MinorValidOnAllDocuments || len(resp.Augmented) != 1 || resp.Augmented[0].Document == nil ||
		resp.Augmented[0].Type != LevelBT || len(resp.AppliedProfiles) != 1 {
		t.Fatalf("%+v", resp)
	}
	out := resp.Augmented[0].Document.Data
	again, err := svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: out}},
		Options: VerifyOptions{ReturnProcessingDetails: true, ReturnSigningTimeInfo: true}})
	if err != nil || again.Result.Minor != MinorValidOnAllDocuments || !strings.Contains(again.Result.Message, "XAdES B-T") ||
		again.SigningTime == nil || again.SigningTime.Upper == nil {
		t.Fatalf("augmented: %+v %v", again, err)
	}
	// Already B-T, and B-LT without revocation sources: refused.
	if _, err := svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: out}},
		Options: VerifyOptions{ReturnAugmentedSignature: LevelBLT}}); KindOf(err) != KindNotSupported {
		t.Errorf("B-T to B-LT: %v", err)
	}
	if _, err := svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: signed}},
		Options: VerifyOptions{ReturnAugmentedSignature: LevelBLT}}); KindOf(err) != KindNotSupported {
		t.Errorf("B-LT without revocation: %v", err)
	}
	if _, err := svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: signed}},
		Options: VerifyOptions{ReturnAugmentedSignature: "urn:x"}}); KindOf(err) != KindNotSupported {
		t.Errorf("unknown level: %v", err)
	}
	// A tampered signature is not augmented.
	bad := []byte(strings.Replace(string(signed), "10.00", "11.00", 1))
	resp, err = svc.Verify(context.Background(), alice, &VerifyRequest{Documents: []Document{{ID: "d", Data: bad}},
		Options: VerifyOptions{ReturnAugmentedSignature: LevelBT}})
	if err != nil || resp.Result.Minor != MinorIncorrectSignature || len(resp.Augmented) != 0 {
		t.Errorf("tampered: %+v %v", resp, err)
	}
}
