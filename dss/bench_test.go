package dss

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dssd/dss/sad"
	"dssd/hsm"
)

// benchService is a Service over one software key behind hsm.Guard, as every KeyManager hands
// signers out: Guard verifies each signature before returning it.
func benchService(b *testing.B, k crypto.Signer, keyType string) *Service {
	b.Helper()
	cred := &Credential{ID: "c", Owner: "alice", Key: keyType, SCAL: 1, Ref: hsm.KeyRef{Label: "c"}, Chain: []*x509.Certificate{selfSigned(b, k, "bench")}}
	svc, err := New(Config{Keys: keyMap{"c": hsm.Guard(k)}, Directory: dirMap{"c": cred}, MaxDocuments: 3,
		Clock: func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// benchSign signs the invoice of the `make bench` e2e point (testdata/documents/invoice.xml,
// 2.4 KB) enveloped, XAdES B-B, through Service.Sign: that request's flow without the bindings.
func benchSign(b *testing.B, svc *Service) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "documents", "invoice.xml"))
	if err != nil {
		b.Fatal(err)
	}
	req := &SignRequest{Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: data}},
		Options: SignOptions{CredentialID: "c", Placement: &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Sign(context.Background(), alice, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceSignRSA(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, benchService(b, k, "RSA-2048"))
}

func BenchmarkServiceSignEC(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, benchService(b, k, "EC-P256"))
}

// BenchmarkServiceSignHashEC: one raw ECDSA P-256 signature value over a SHA-256 digest (the
// CSC signHash path) through Service.Sign.
func BenchmarkServiceSignHashEC(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	svc := benchService(b, k, "EC-P256")
	d := make([]byte, 32)
	req := &SignRequest{Hashes: []DocumentHash{{ID: "h", Digests: []Digest{{"SHA-256", d}}}}, Options: SignOptions{CredentialID: "c"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Sign(context.Background(), alice, req); err != nil {
			b.Fatal(err)
		}
	}
}

// discardJobs is a JobStore that keeps nothing, so that a benchmark's b.N submissions do not
// fill it.
type discardJobs struct{ memJobs }

func (*discardJobs) SubmitJob(context.Context, *Job) error                    { return nil }
func (*discardJobs) OpenJobs(context.Context, string, time.Time) (int, error) { return 0, nil }

// asyncBench is benchService over an EC key with asynchronous processing on jobs.
func asyncBench(b *testing.B, jobs JobStore) *Service {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	svc := benchService(b, k, "EC-P256")
	if svc.sad, err = sad.New(sad.Config{Key: bytes.Repeat([]byte{7}, 32)}); err != nil {
		b.Fatal(err)
	}
	if err := svc.EnableAsync(AsyncConfig{Jobs: jobs}); err != nil {
		b.Fatal(err)
	}
	return svc
}

// asyncBenchRequest asks for one enveloped signature of a document of size bytes, asynchronously.
func asyncBenchRequest(size int) *SignRequest {
	data := []byte("<doc>" + strings.Repeat("x", size-len("<doc></doc>")) + "</doc>")
	return &SignRequest{Profiles: []string{ProfileAsync}, Documents: []Document{{ID: "d1", HasRefURI: true, MimeType: "application/xml", Data: data}},
		Options: SignOptions{CredentialID: "c", Placement: &Placement{WhichData: "d1", XPath: "/*", CreateEnveloped: true}}}
}

// BenchmarkAsyncSubmit: an asynchronous SignRequest (one enveloped document of the given
// size, SCAL1) through Service.Sign up to the stored job: validation, the job's JSON and its
// MAC, without the store.
func BenchmarkAsyncSubmit(b *testing.B) {
	svc := asyncBench(b, &discardJobs{})
	for _, size := range []int{len(invoice), 1 << 20} {
		req := asyncBenchRequest(size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if resp, err := svc.Sign(context.Background(), alice, req); err != nil || resp.Result.Major != MajorPending {
					b.Fatal(resp, err)
				}
			}
		})
	}
}

// BenchmarkAsyncRun: a worker's run of the job BenchmarkAsyncSubmit stores: the stored
// payload checked and read, the document signed (without the store).
func BenchmarkAsyncRun(b *testing.B) {
	jobs := newMemJobs()
	svc := asyncBench(b, jobs)
	for _, size := range []int{len(invoice), 1 << 20} {
		resp, err := svc.Sign(context.Background(), alice, asyncBenchRequest(size))
		if err != nil {
			b.Fatal(err)
		}
		j := *jobs.jobs[resp.ResponseID]
		j.Attempts = 1
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if r := svc.execJob(context.Background(), &j); r.Result.Major != MajorSuccess {
					b.Fatal(r.Result)
				}
			}
		})
	}
}
