// Package dss is the binding-neutral signing service of dssd: the ETSI TS 119 432 / OASIS
// DSS-X 2.0 operations (sign, verify, retrieve a pending result, authorize a SCAL2 signature)
// on plain Go types, with no XML or JSON tags, no net/http, no PKCS#11 and no Prometheus
// (dss/deps_test.go enforces it).
//
// # Model and service
//
// model.go holds the requests and answers (SignRequest, VerifyRequest, PendingRequest,
// AuthorizeRequest, SignResponse, VerifyResponse, Result, Credential, Caller). The bindings
// (binding/soap, binding/httpxml, binding/csc) translate their wire format into these types,
// authenticate the caller into a Caller value and call Service; they serialise what comes
// back and never choose a result themselves. Service is built by New from a Config whose
// collaborators are interfaces this package declares and other packages implement:
//
//   - hsm.KeyManager: the signing keys (hsm/pkcs11 with a real token, hsm/soft in tests);
//     a crypto.Signer per credential, which never lets the key out.
//   - Directory: the credentials and their owners (cmd/dssd, from the configuration file
//     and the store).
//   - AuditSink: durable audit records; a failed Append fails the request (dss/store).
//   - Timestamper and RevocationSource: RFC 3161 tokens and OCSP/CRL data for the levels
//     above B-B (dss/tsp, dss/revocation); nil refuses those levels.
//   - ReplayStore and LockoutStore: single use of signature activation data and counts of
//     failed PINs and OTPs, shared by every node (dss/store).
//   - JobStore: asynchronous requests (EnforceAsynchronousProcessing, Pending; dss/store).
//   - Meter: measurements (dss/metrics; NoopMeter when nil).
//
// # A SignRequest
//
// Sign first records who asks for what: an AuditEvent with the caller, the credential and
// the SHA-256 of every input. It refuses, each with its Kind, unsupported optional inputs,
// an empty or oversized request, a ClaimedIdentity that is not the caller, and a credential
// the caller does not own (KindKeyLookup: unknown and foreign credentials get one answer).
// It plans the job (signature type, level, algorithm, placement of every document or hash:
// policy.go), checks that the level's authorities are configured and that the signer's own
// certificate is not revoked, and for a SCAL2 credential consumes the signature activation
// data bound to exactly these hashes (activation.go, dss/sad). Only then does it ask the key
// manager for the signer. dss/xades builds each XAdES B-B or XMLDSig signature; levels.go
// raises it to B-T, B-LT or B-LTA with tokens and revocation data; the produced bytes are
// checked by verification before they leave (a failure is KindInternal and an alert metric).
// The audit record is written with the outcome, and the answer is released only when that
// write succeeded. With EnforceAsynchronousProcessing the request is stored as a job instead
// and answered Pending; RunJobs executes it on some node and Pending returns its response.
//
// # A VerifyRequest
//
// Verify refuses what it does not implement, then gives the signature document and the
// detached data to dss/verify, which parses them once behind the ingress gate (dss/xmlsafe),
// resolves every Reference itself (XSW-safe), checks the signer's certificate path with
// the configured anchors and revocation data (only adding evidence, never overriding it),
// and returns EN 319 102-1 indications. VerdictResult turns the worst verdict into the
// Result (a processed request is Success whatever the verdict; a missing piece of
// information is InsufficientInformation), with ProcessingDetails, signing and verification
// times when asked. ReturnAugmentedSignature raises a valid signature to a higher level with
// the same levels.go code as signing. A request with neither signature nor documents asks
// for the certificate of the caller's credential (TS 119 432 clause 8.3.1).
//
// # Errors
//
// Every error Service returns is an *Error whose Kind selects, in the one table of result.go,
// the ResultMajor, the ResultMinor and whether its client-safe Detail may reach
// ResultMessage; its internal cause (Err) only reaches logs. A plain error or a forgotten
// Kind is KindInternal: ResponderError/GeneralError with a fixed text. ResultOf makes the
// Result for any error, so failures found by a binding before Service is called get theirs
// from the same table; the golden Result of every Kind is in
// binding/internal/xmlwire/testdata/results, and docs/errors.md states the policy.
package dss
