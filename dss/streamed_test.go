package dss

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
)

// TestSignStreamed: a document the binding hashed while streaming (Document.Streamed) is
// signed detached with exactly that digest, and the result equals the signature over the same
// bytes sent inline (same clock, same key, RSA PKCS#1 v1.5: deterministic but for the Id).
func TestSignStreamed(t *testing.T) {
	f := newFixture(t)
	data := bytes.Repeat([]byte("large binary \x00\x01 content "), 1000)
	sum := sha256.Sum256(data)
	streamed := Document{ID: "big", RefURI: "big.bin", HasRefURI: true, MimeType: "application/octet-stream",
		Streamed: &StreamedData{Size: int64(len(data)), SHA256: sum[:], Head: data[:StreamedHeadBytes]}}
	resp, err := f.svc.Sign(context.Background(), alice, &SignRequest{Documents: []Document{streamed},
		Options: SignOptions{CredentialID: "alice-rsa"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(`<ds:DigestValue>` + base64.StdEncoding.EncodeToString(sum[:]) + `</ds:DigestValue>`)
	sig := resp.Signatures[0].Value
	if !bytes.Contains(sig, want) || !bytes.Contains(sig, []byte(`URI="big.bin"`)) {
		t.Fatalf("the detached Reference does not carry the streamed digest:\n%s", sig)
	}
	if !bytes.Contains(sig, []byte(`<xades:MimeType>application/octet-stream</xades:MimeType>`)) {
		t.Errorf("DataObjectFormat lost the MimeType:\n%s", sig)
	}
}

func TestSignStreamedRefused(t *testing.T) {
	f := newFixture(t)
	sum := sha256.Sum256([]byte(invoice))
	st := func() Document {
		return Document{ID: "d1", HasRefURI: true, MimeType: "application/xml",
			Streamed: &StreamedData{Size: int64(len(invoice)), SHA256: sum[:], Head: []byte(invoice)[:StreamedHeadBytes]}}
	}
	tests := []struct {
		name string
		req  SignRequest
		want Kind
	}{
		{"enveloped", SignRequest{Documents: []Document{st()}, Options: SignOptions{CredentialID: "alice-rsa",
			Placement: &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}}}, KindInappropriate},
		{"enveloping", SignRequest{Documents: []Document{st()}, Options: SignOptions{CredentialID: "alice-rsa",
			IncludeObjects: []IncludeObject{{WhichData: "d1", CreateReference: true}}}}, KindInappropriate},
		{"B-LTA", SignRequest{Profiles: []string{LevelBLTA}, Documents: []Document{{ID: "d1", RefURI: "x", HasRefURI: true,
			Streamed: st().Streamed}}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindNotSupported},
		{"digest missing", SignRequest{Documents: []Document{{ID: "d1", RefURI: "x", HasRefURI: true,
			Streamed: &StreamedData{Size: 1}}}, Options: SignOptions{CredentialID: "alice-rsa"}}, KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.calls()
			_, err := f.svc.Sign(context.Background(), alice, &tt.req)
			var de *Error
			if !errors.As(err, &de) || de.Kind != tt.want {
				t.Fatalf("err %v, want kind %v", err, tt.want)
			}
			if f.calls() != before {
				t.Error("the signer was called for a refused request")
			}
		})
	}
}
