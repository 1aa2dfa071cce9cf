package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"dssd/dss"
	"dssd/dss/store"
	"dssd/dss/verify"
	"dssd/hsm"
)

const credentialUsage = `usage (each command also takes --config dssd.yaml, or --dev [--dev-dir var/dev]):
  dssd credential create --id ID --owner USER --key-type TYPE --subject DN --csr-out FILE
                         [--scal 1|2 --pin-file FILE --totp-secret-file FILE]
  dssd credential import --id ID CHAIN.pem
  dssd credential list
  dssd credential disable --id ID
  dssd credential enable --id ID
  dssd credential unlock --id ID
  dssd credential rotate --id ID --csr-out FILE [--subject DN]

create generates the key inside the HSM (sensitive, not extractable; TYPE is one of RSA-2048,
RSA-3072, RSA-4096, EC-P256, EC-P384) and writes a PKCS#10 request signed there; DN is written
as in RFC 4514, e.g. "CN=Alice Example,O=Example Ltd,C=DE". import checks that the signer
certificate (first in CHAIN.pem) holds the credential's key, or the key of a pending
rotation, and a signing purpose, then activates it. rotate makes a new key and request; the
old key signs until the new certificate is imported. unlock clears a scal 2 credential's
count of wrong PIN/OTP attempts. Every change is audited and reaches every node within
store.poll_interval. Credentials of the configuration file are read-only here.

Exit status: 0 done, 1 refused (the message says why), 2 usage or configuration error.
`

const userUsage = `usage (each command also takes --config dssd.yaml, or --dev [--dev-dir var/dev]):
  dssd user add --name NAME
  dssd user token --name NAME [--replace]
  dssd user disable --name NAME
  dssd user enable --name NAME

token prints a new random bearer token for the user, once; only its SHA-256 is stored.
--replace revokes the user's other tokens. Every change is audited and reaches every node
within store.poll_interval. Users of the configuration file are read-only here.

Exit status: 0 done, 1 refused (the message says why), 2 usage or configuration error.
`

// exitError carries the process exit status of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// refused is an operation the command understood and declined (exit status 1).
func refused(format string, a ...any) error {
	return &exitError{code: 1, err: fmt.Errorf(format, a...)}
}

// admin is what every credential and user command works with.
type admin struct {
	cfg      *Config
	st       store.Store
	reg      store.Registry
	operator string
	stderr   io.Writer
}

// adminFlags are the flags every admin command takes.
type adminFlags struct {
	fs     *flag.FlagSet
	cfg    *string
	dev    *bool
	devDir *string
}

func newAdminFlags(name string, stderr io.Writer) adminFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return adminFlags{
		fs:     fs,
		cfg:    fs.String("config", "", "configuration file"),
		dev:    fs.Bool("dev", false, "use the development environment"),
		devDir: fs.String("dev-dir", "var/dev", "directory of the development environment"),
	}
}

// open parses args, loads the configuration and opens the store.
func (f adminFlags) open(ctx context.Context, args []string, stderr io.Writer) (*admin, error) {
	if err := f.fs.Parse(args); err != nil {
		return nil, err
	}
	if *f.dev == (*f.cfg != "") {
		return nil, fmt.Errorf("%s needs exactly one of --config and --dev", f.fs.Name())
	}
	path := *f.cfg
	if *f.dev {
		path = filepath.Join(*f.devDir, "dssd.yaml")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no development environment in %s (run `dssd serve --dev` first): %w", *f.devDir, err)
		}
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	st, err := openStoreBackend(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	reg, ok := st.(store.Registry)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("store %s keeps no credentials and users", cfg.Store.Type)
	}
	return &admin{cfg: cfg, st: st, reg: reg, operator: operatorName(), stderr: stderr}, nil
}

// operatorName is who runs the command, for the audit record.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return "os:" + u
	}
	return "os:unknown"
}

// audit records one admin action: done (err nil) or refused/failed (err). The change is
// already made when err is nil; a failed append is reported as a failure of the command.
func (a *admin) audit(ctx context.Context, action, credential, detail string, err error) error {
	ev := dss.AuditEvent{Time: time.Now(), User: a.operator, Via: "cli", Action: action, Credential: credential,
		Major: dss.MajorSuccess, Detail: detail}
	if err != nil {
		ev.Major, ev.Minor = dss.MajorRequesterError, ""
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 {
			ev.Major = dss.MajorResponderError
		}
		ev.Detail = detail + ": " + err.Error()
	}
	// The record is written even when the command's context was cancelled.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if aerr := a.st.Append(actx, ev); aerr != nil {
		if err != nil {
			return errors.Join(err, fmt.Errorf("audit record not written: %w", aerr))
		}
		return fmt.Errorf("done, but the audit record was not written: %w", aerr)
	}
	return err
}

func (a *admin) close() { a.st.Close() }

// yamlCredential and yamlUser report entries of the configuration file.
func (a *admin) yamlCredential(id string) bool {
	return slices.ContainsFunc(a.cfg.Credentials, func(c CredentialConfig) bool { return c.ID == id })
}

func (a *admin) yamlUser(name string) bool {
	return slices.ContainsFunc(a.cfg.Users, func(u UserConfig) bool { return u.Name == name })
}

func (a *admin) credential(ctx context.Context, id string) (store.CredentialRecord, error) {
	return storeRecord(ctx, a, "credential", "id", id, a.yamlCredential(id), a.reg.Credentials,
		func(r store.CredentialRecord) string { return r.ID })
}

func (a *admin) user(ctx context.Context, name string) (store.UserRecord, error) {
	return storeRecord(ctx, a, "user", "name", name, a.yamlUser(name), a.reg.Users,
		func(u store.UserRecord) string { return u.Name })
}

// storeRecord returns the record named key among those list returns, for a command that
// changes it: the flag --flag is required, an entry of the configuration file (inFile) is
// read-only here, and an unknown one is refused. what names the kind of record.
func storeRecord[R any](ctx context.Context, a *admin, what, flag, key string, inFile bool,
	list func(context.Context) ([]R, error), keyOf func(R) string) (R, error) {
	var zero R
	if key == "" {
		return zero, &exitError{code: 2, err: fmt.Errorf("--%s is required", flag)}
	}
	if inFile {
		return zero, refused("%s %s is defined in the configuration file %s: change it there (read-only here)", what, key, a.cfg.source.path)
	}
	recs, err := list(ctx)
	if err != nil {
		return zero, err
	}
	for _, r := range recs {
		if keyOf(r) == key {
			return r, nil
		}
	}
	return zero, refused("no %s %s", what, key)
}

// userExists reports whether name is a user of the file or of the store.
func (a *admin) userExists(ctx context.Context, name string) (bool, error) {
	if a.yamlUser(name) {
		return true, nil
	}
	us, err := a.reg.Users(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range us {
		if u.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// openKeys opens the HSM for a command. Opening a token at the moment another process opens
// it has failed once with CKR_GENERAL_ERROR (SoftHSM2, docs/decisions.md §41): a failure
// classified as unavailable is retried a few times with a short back-off.
func (a *admin) openKeys(ctx context.Context) (hsm.KeyManager, error) {
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	const attempts = 6
	wait := 100 * time.Millisecond
	for i := 1; ; i++ {
		km, err := openHSM(ctx, a.cfg, logger, nil)
		if err == nil {
			return km, nil
		}
		if !errors.Is(err, hsm.ErrUnavailable) || i == attempts {
			return nil, fmt.Errorf("opening the HSM: %w", err)
		}
		fmt.Fprintf(a.stderr, "dssd: opening the HSM failed (%v); retrying in %s\n", err, wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// adminVerb reads the VERB of `dssd GROUP VERB ...`. No verb, help or a verb not in verbs is
// answered here with usage (on stdout for help, else on stderr): done, and the command's
// error. Otherwise it returns the verb and its flags, whose usage is usage.
func adminVerb(group, usage string, verbs, args []string, stdout, stderr io.Writer) (verb string, f adminFlags, done bool, err error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return "", f, true, flag.ErrHelp
	}
	verb = args[0]
	switch {
	case verb == "help" || verb == "-h" || verb == "--help":
		fmt.Fprint(stdout, usage)
		return verb, f, true, nil
	case !slices.Contains(verbs, verb):
		fmt.Fprint(stderr, usage)
		return verb, f, true, fmt.Errorf("unknown %s command %q", group, verb)
	}
	f = newAdminFlags(group+" "+verb, stderr)
	f.fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return verb, f, false, nil
}

func runCredential(args []string, stdout, stderr io.Writer) error {
	verb, f, done, err := adminVerb("credential", credentialUsage,
		[]string{"create", "rotate", "import", "list", "disable", "enable", "unlock"}, args, stdout, stderr)
	if done {
		return err
	}
	fs := f.fs
	id := fs.String("id", "", "credential id")
	var owner, keyType, subject, csrOut, pinFile, totpFile *string
	var scal *int
	switch verb {
	case "create":
		owner = fs.String("owner", "", "the user the credential belongs to")
		keyType = fs.String("key-type", "", "RSA-2048, RSA-3072, RSA-4096, EC-P256 or EC-P384")
		subject = fs.String("subject", "", `subject of the certificate request (RFC 4514, e.g. "CN=Alice,O=Example,C=DE")`)
		csrOut = fs.String("csr-out", "", "file the PKCS#10 request is written to (PEM)")
		scal = fs.Int("scal", 1, "1: the bearer token is enough; 2: every signature needs PIN and OTP")
		pinFile = fs.String("pin-file", "", "scal 2: file holding the signing PIN (or its argon2id hash)")
		totpFile = fs.String("totp-secret-file", "", "scal 2: file holding the base32 TOTP secret")
	case "rotate":
		subject = fs.String("subject", "", "subject of the new request (default: the current certificate's)")
		csrOut = fs.String("csr-out", "", "file the PKCS#10 request is written to (PEM)")
	}
	return f.run(args[1:], stderr, func(ctx context.Context, a *admin) error {
		switch verb {
		case "create":
			return a.create(ctx, stdout, createArgs{id: *id, owner: *owner, keyType: *keyType, subject: *subject,
				csrOut: *csrOut, scal: *scal, pinFile: *pinFile, totpFile: *totpFile})
		case "import":
			if fs.NArg() != 1 {
				return &exitError{code: 2, err: errors.New("credential import needs --id ID and one chain file (PEM)")}
			}
			return a.importChain(ctx, stdout, *id, fs.Arg(0))
		case "list":
			return a.list(ctx, stdout)
		case "disable", "enable":
			return a.setState(ctx, stdout, *id, verb == "disable")
		case "unlock":
			return a.unlock(ctx, stdout, *id)
		case "rotate":
			return a.rotate(ctx, stdout, *id, *subject, *csrOut)
		}
		return nil
	})
}

// run parses args with the command's flags, opens the store (admin) and runs do under a
// context that SIGINT and SIGTERM cancel.
func (f adminFlags) run(args []string, stderr io.Writer, do func(context.Context, *admin) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := f.open(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	return do(ctx, a)
}

type createArgs struct {
	id, owner, keyType, subject, csrOut string
	scal                                int
	pinFile, totpFile                   string
}

func (a *admin) create(ctx context.Context, stdout io.Writer, c createArgs) error {
	usage := func(format string, args ...any) error { return &exitError{code: 2, err: fmt.Errorf(format, args...)} }
	switch {
	case c.id == "" || c.owner == "" || c.keyType == "" || c.subject == "" || c.csrOut == "":
		return usage("credential create needs --id, --owner, --key-type, --subject and --csr-out")
	case !nameRE.MatchString(c.id):
		return usage("--id %q: use letters, digits and . _ @ - (at most 128)", c.id)
	case !validKeyType(c.keyType):
		return usage("--key-type %q is not one of RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384", c.keyType)
	case c.scal != 1 && c.scal != 2:
		return usage("--scal must be 1 or 2")
	case c.scal == 1 && (c.pinFile != "" || c.totpFile != ""):
		return usage("--pin-file and --totp-secret-file belong to --scal 2")
	case c.scal == 2 && (c.pinFile == "" || c.totpFile == ""):
		return usage("--scal 2 needs --pin-file and --totp-secret-file")
	}
	name, err := parseDN(c.subject)
	if err != nil {
		return usage("--subject: %v", err)
	}
	detail := fmt.Sprintf("create %s key for %s, scal %d, subject %q", c.keyType, c.owner, c.scal, c.subject)
	err = func() error {
		if a.yamlCredential(c.id) {
			return refused("credential %s is defined in the configuration file", c.id)
		}
		if ok, err := a.userExists(ctx, c.owner); err != nil {
			return err
		} else if !ok {
			return refused("no user %s (add it with `dssd user add --name %s`)", c.owner, c.owner)
		}
		recs, err := a.reg.Credentials(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID == c.id {
				return refused("credential %s exists already", c.id)
			}
		}
		rec := store.CredentialRecord{ID: c.id, Owner: c.owner, KeyType: c.keyType, SCAL: c.scal, State: store.CredentialPending}
		if c.scal == 2 {
			if rec.PINHash, rec.TOTPSecret, err = readFactors(c.pinFile, c.totpFile); err != nil {
				return &exitError{code: 2, err: err}
			}
		}
		keys, err := a.openKeys(ctx)
		if err != nil {
			return err
		}
		defer keys.Close()
		ref, csr, err := a.newKey(ctx, keys, c.id, hsm.KeyAlgorithm(c.keyType), name)
		if err != nil {
			return err
		}
		rec.KeyRef = ref.String()
		if _, err := a.reg.CreateCredential(ctx, rec); err != nil {
			if errors.Is(err, store.ErrExists) {
				return refused("credential %s was created meanwhile by someone else; key %s stays unused in the token", c.id, ref)
			}
			return err
		}
		if err := writeCSR(c.csrOut, csr); err != nil {
			return fmt.Errorf("credential %s created, but the request could not be written (make a new one with `dssd credential rotate`): %w", c.id, err)
		}
		detail += ", key " + ref.String()
		fmt.Fprintf(stdout, "credential %s created: %s key %s in the HSM, state %s\ncertificate request written to %s; have it signed, then run `dssd credential import --id %s CHAIN.pem`\n",
			c.id, c.keyType, ref, store.CredentialPending, c.csrOut, c.id)
		return nil
	}()
	return a.audit(ctx, dss.AuditCredentialCreate, c.id, detail, err)
}

// readFactors reads a scal 2 credential's PIN (hashed here unless it is a hash already) and
// TOTP secret.
func readFactors(pinFile, totpFile string) (pinHash, totp string, err error) {
	raw, err := os.ReadFile(pinFile)
	if err != nil {
		return "", "", fmt.Errorf("--pin-file: %w", err)
	}
	defer clear(raw)
	pin := bytes.TrimRight(raw, "\r\n")
	if len(pin) == 0 {
		return "", "", errors.New("--pin-file is empty")
	}
	if dss.IsPINHash(string(pin)) {
		if _, err := dss.ParsePINHash(string(pin)); err != nil {
			return "", "", fmt.Errorf("--pin-file: %w", err)
		}
		pinHash = strings.TrimSpace(string(pin))
	} else {
		h, err := dss.NewPINHash(pin, nil)
		if err != nil {
			return "", "", fmt.Errorf("--pin-file: %w", err)
		}
		pinHash = h.String()
	}
	sec, err := os.ReadFile(totpFile)
	if err != nil {
		return "", "", fmt.Errorf("--totp-secret-file: %w", err)
	}
	if !isBase32Secret(sec) {
		return "", "", errors.New("--totp-secret-file must hold a base32 TOTP secret of at least 16 bytes")
	}
	return pinHash, strings.TrimSpace(string(sec)), nil
}

// newKey generates a key in the token for credential id and a PKCS#10 request signed by it.
// The key's CKA_ID is 16 random bytes, its label "dssd-ID-" and the first 4 bytes in hex.
func (a *admin) newKey(ctx context.Context, keys hsm.KeyManager, id string, alg hsm.KeyAlgorithm, rawSubject []byte) (hsm.KeyRef, []byte, error) {
	kc, ok := keys.(hsm.KeyCreator)
	if !ok {
		return hsm.KeyRef{}, nil, refused("the HSM backend %s cannot generate keys", a.cfg.HSM.Type)
	}
	kid := make([]byte, 16)
	if _, err := rand.Read(kid); err != nil {
		return hsm.KeyRef{}, nil, err
	}
	ref := hsm.KeyRef{Token: a.cfg.HSM.TokenLabel, Label: fmt.Sprintf("dssd-%s-%x", id, kid[:4]), ID: kid}
	signer, err := kc.CreateKey(ctx, ref, alg)
	if err != nil {
		return hsm.KeyRef{}, nil, fmt.Errorf("generating the key in the HSM: %w", err)
	}
	tmpl := &x509.CertificateRequest{RawSubject: rawSubject}
	// The request is signed in the HSM: the key never leaves it.
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return hsm.KeyRef{}, nil, fmt.Errorf("signing the certificate request in the HSM (key %s stays unused in the token): %w", ref, err)
	}
	return ref, csr, nil
}

func writeCSR(path string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644)
}

func (a *admin) importChain(ctx context.Context, stdout io.Writer, id, path string) error {
	detail := "import " + filepath.Base(path)
	err := func() error {
		rec, err := a.credential(ctx, id)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		chain, err := parseChainPEM(raw)
		if err != nil {
			return refused("%s: %v", path, err)
		}
		leaf := chain[0]
		detail += fmt.Sprintf(", subject %q, serial %s", leaf.Subject.String(), leaf.SerialNumber.Text(16))
		if err := checkChain(chain, time.Now()); err != nil {
			return refused("%s: %v", path, err)
		}
		if got := publicKeyType(leaf.PublicKey); got != rec.KeyType {
			return refused("the certificate holds a %s key; credential %s has a %s key", got, id, rec.KeyType)
		}
		// The verifier's rule for signers (keyUsage, extendedKeyUsage) applies to dssd's own.
		if err := verify.CheckSignerCertificate(leaf, a.cfg.Verify.SignerEKUs); err != nil {
			return refused("the certificate is not for signing: %v", err)
		}
		keys, err := a.openKeys(ctx)
		if err != nil {
			return err
		}
		defer keys.Close()
		holds := func(uri string) (bool, error) {
			if uri == "" {
				return false, nil
			}
			ref, err := hsm.ParseKeyRef(uri)
			if err != nil {
				return false, err
			}
			s, err := keys.Signer(ctx, ref)
			if err != nil {
				return false, fmt.Errorf("key %s: %w", ref, err)
			}
			return samePublicKey(s.Public(), leaf.PublicKey), nil
		}
		var what string
		if ok, err := holds(rec.PendingKeyRef); err != nil {
			return err
		} else if ok {
			what = "the rotated key " + rec.PendingKeyRef + " now signs (the previous key " + rec.KeyRef + " stays in the token, unused)"
			rec.KeyRef, rec.PendingKeyRef = rec.PendingKeyRef, ""
		} else if ok, err := holds(rec.KeyRef); err != nil {
			return err
		} else if ok {
			what = "certificate of key " + rec.KeyRef
		} else {
			return refused("the certificate does not hold the key of credential %s (nor the key of a pending rotation)", id)
		}
		if rec.State == store.CredentialPending {
			rec.State = store.CredentialEnabled
		}
		rec.Chain = reencodeChain(chain)
		if _, err := a.reg.UpdateCredential(ctx, rec); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return refused("credential %s changed meanwhile; run the command again", id)
			}
			return err
		}
		detail += "; " + what
		fmt.Fprintf(stdout, "credential %s: %s; state %s; not after %s\n", id, what, rec.State, leaf.NotAfter.UTC().Format(time.RFC3339))
		return nil
	}()
	return a.audit(ctx, dss.AuditCredentialImport, id, detail, err)
}

// reencodeChain keeps only the certificates (no comments or other text from the file).
func reencodeChain(chain []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// checkChain requires a current signer certificate and each certificate to be issued by the
// next one.
func checkChain(chain []*x509.Certificate, now time.Time) error {
	leaf := chain[0]
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("the signer certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("the signer certificate is valid only from %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("certificate %d is not issued by certificate %d (the chain goes signer first, then its issuers): %v", i+1, i+2, err)
		}
	}
	return nil
}

func (a *admin) list(ctx context.Context, stdout io.Writer) error {
	recs, err := a.reg.Credentials(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tKEY\tSCAL\tSTATE\tSOURCE\tSUBJECT\tNOT AFTER")
	for _, c := range a.cfg.Credentials {
		subject, notAfter := "-", "-"
		if chain, err := readCertificates(c.Certificate); err == nil {
			subject, notAfter = chain[0].Subject.String(), chain[0].NotAfter.UTC().Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", c.ID, c.Owner, c.KeyType, c.SCAL, store.CredentialEnabled, "config", subject, notAfter)
	}
	for _, r := range recs {
		subject, notAfter := "-", "-"
		if chain, err := parseChainPEM(r.Chain); err == nil {
			subject, notAfter = chain[0].Subject.String(), chain[0].NotAfter.UTC().Format("2006-01-02")
		}
		state := r.State
		if r.PendingKeyRef != "" {
			state += " (rotation pending)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Owner, r.KeyType, r.SCAL, state, "store", subject, notAfter)
	}
	return tw.Flush()
}

func (a *admin) setState(ctx context.Context, stdout io.Writer, id string, disable bool) error {
	action, want := dss.AuditCredentialEnable, store.CredentialEnabled
	if disable {
		action, want = dss.AuditCredentialDisable, store.CredentialDisabled
	}
	err := func() error {
		rec, err := a.credential(ctx, id)
		if err != nil {
			return err
		}
		if rec.State == store.CredentialPending {
			return refused("credential %s has no certificate yet: import it first", id)
		}
		return a.switchState(stdout, "credential "+id, want, rec.State == want, func() error {
			rec.State = want
			_, err := a.reg.UpdateCredential(ctx, rec)
			return err
		})
	}()
	return a.audit(ctx, action, id, want, err)
}

func (a *admin) unlock(ctx context.Context, stdout io.Writer, id string) error {
	err := func() error {
		if id == "" {
			return &exitError{code: 2, err: errors.New("--id is required")}
		}
		if !a.yamlCredential(id) {
			if _, err := a.credential(ctx, id); err != nil {
				return err
			}
		}
		n, err := a.st.Failures(ctx, id)
		if err != nil {
			return err
		}
		if err := a.st.Reset(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "credential %s unlocked (%d failed activation attempts cleared)\n", id, n)
		return nil
	}()
	return a.audit(ctx, dss.AuditCredentialUnlock, id, "unlock", err)
}

func (a *admin) rotate(ctx context.Context, stdout io.Writer, id, subject, csrOut string) error {
	detail := "rotate"
	err := func() error {
		if csrOut == "" {
			return &exitError{code: 2, err: errors.New("credential rotate needs --id and --csr-out")}
		}
		rec, err := a.credential(ctx, id)
		if err != nil {
			return err
		}
		if rec.State == store.CredentialPending {
			return refused("credential %s has no certificate yet: import one before rotating", id)
		}
		if rec.PendingKeyRef != "" {
			return refused("credential %s has a rotation pending (key %s): import its certificate first", id, rec.PendingKeyRef)
		}
		var raw []byte
		if subject != "" {
			if raw, err = parseDN(subject); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--subject: %w", err)}
			}
		} else {
			chain, err := parseChainPEM(rec.Chain)
			if err != nil {
				return err
			}
			raw = chain[0].RawSubject
		}
		keys, err := a.openKeys(ctx)
		if err != nil {
			return err
		}
		defer keys.Close()
		ref, csr, err := a.newKey(ctx, keys, id, hsm.KeyAlgorithm(rec.KeyType), raw)
		if err != nil {
			return err
		}
		rec.PendingKeyRef = ref.String()
		if _, err := a.reg.UpdateCredential(ctx, rec); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return refused("credential %s changed meanwhile (key %s stays unused in the token); run the command again", id, ref)
			}
			return err
		}
		if err := writeCSR(csrOut, csr); err != nil {
			return fmt.Errorf("rotation recorded, but the request could not be written: %w", err)
		}
		detail += ": new key " + ref.String()
		fmt.Fprintf(stdout, "credential %s: new %s key %s; the current key signs until the new certificate is imported\ncertificate request written to %s\n",
			id, rec.KeyType, ref, csrOut)
		return nil
	}()
	return a.audit(ctx, dss.AuditCredentialRotate, id, detail, err)
}

func runUser(args []string, stdout, stderr io.Writer) error {
	verb, f, done, err := adminVerb("user", userUsage, []string{"add", "token", "disable", "enable"}, args, stdout, stderr)
	if done {
		return err
	}
	name := f.fs.String("name", "", "user name")
	var replace *bool
	if verb == "token" {
		replace = f.fs.Bool("replace", false, "revoke the user's other tokens")
	}
	return f.run(args[1:], stderr, func(ctx context.Context, a *admin) error {
		switch verb {
		case "add":
			return a.userAdd(ctx, stdout, *name)
		case "token":
			return a.userToken(ctx, stdout, *name, *replace)
		default:
			return a.userSetDisabled(ctx, stdout, *name, verb == "disable")
		}
	})
}

func (a *admin) userAdd(ctx context.Context, stdout io.Writer, name string) error {
	err := func() error {
		if !nameRE.MatchString(name) {
			return &exitError{code: 2, err: fmt.Errorf("--name %q: use letters, digits and . _ @ - (at most 128)", name)}
		}
		if a.yamlUser(name) {
			return refused("user %s is defined in the configuration file", name)
		}
		if _, err := a.reg.CreateUser(ctx, store.UserRecord{Name: name}); err != nil {
			if errors.Is(err, store.ErrExists) {
				return refused("user %s exists already", name)
			}
			return err
		}
		fmt.Fprintf(stdout, "user %s added; give it a bearer token with `dssd user token --name %s`\n", name, name)
		return nil
	}()
	return a.audit(ctx, dss.AuditUserAdd, "", "add user "+name, err)
}

func (a *admin) userToken(ctx context.Context, stdout io.Writer, name string, replace bool) error {
	var tok string
	err := func() error {
		u, err := a.user(ctx, name)
		if err != nil {
			return err
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		tok = base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(tok))
		if replace {
			u.TokenSHA256 = nil
		}
		u.TokenSHA256 = append(u.TokenSHA256, sum)
		if _, err := a.reg.UpdateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return refused("user %s changed meanwhile; run the command again", name)
			}
			return err
		}
		return nil
	}()
	detail := "new bearer token for user " + name
	if replace {
		detail += " (other tokens revoked)"
	}
	if err := a.audit(ctx, dss.AuditUserToken, "", detail, err); err != nil {
		return err
	}
	// The token is printed once, only after the change and its audit record are stored.
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(a.stderr, "dssd: the bearer token of %s is printed above, once; only its SHA-256 is stored\n", name)
	return nil
}

func (a *admin) userSetDisabled(ctx context.Context, stdout io.Writer, name string, disable bool) error {
	action, word := dss.AuditUserEnable, "enabled"
	if disable {
		action, word = dss.AuditUserDisable, "disabled"
	}
	err := func() error {
		u, err := a.user(ctx, name)
		if err != nil {
			return err
		}
		return a.switchState(stdout, "user "+name, word, u.Disabled == disable, func() error {
			u.Disabled = disable
			_, err := a.reg.UpdateUser(ctx, u)
			return err
		})
	}()
	return a.audit(ctx, action, "", word+" user "+name, err)
}

// switchState enables or disables what (a credential or a user): nothing to do when it is
// in state already, else update writes the change, which every node applies at its next poll.
func (a *admin) switchState(stdout io.Writer, what, state string, already bool, update func() error) error {
	if already {
		fmt.Fprintf(stdout, "%s is %s already\n", what, state)
		return nil
	}
	if err := update(); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return refused("%s changed meanwhile; run the command again", what)
		}
		return err
	}
	fmt.Fprintf(stdout, "%s %s; every node applies it within %s\n", what, state, a.cfg.Store.PollInterval)
	return nil
}
