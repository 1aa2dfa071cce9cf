// Command dss is the command-line client of dssd: it signs and verifies files through the
// DSS-X 2.0 HTTP POST binding and shows the credentials of a development environment.
//
//	dss sign --dev --credential alice-rsa invoice.xml
//	dss info --dev
//	dss version
//
// Run "dss help" for every flag.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"dssd/cmd/dssd/devenv/devjson"
	"dssd/cmd/internal/algnames"
)

const usage = `dss: sign and verify files with a dssd server (DSS-X 2.0 HTTP POST binding)

usage:
  dss sign [flags] FILE      sign FILE and write the result beside it
  dss info [flags]           show the user's credentials and whether the server is ready
  dss verify [flags] FILE    verify the XML signatures in FILE and print the verdict
  dss version                print the version
  dss help                   this text

examples:
  dss sign --dev --credential alice-rsa invoice.xml
      XAdES B-B, enveloped (FILE is XML), written to invoice.xml.signed.xml
  dss sign --dev --credential alice-ec --placement detached --algorithm ecdsa-sha384 report.pdf
      detached XAdES signature in report.pdf.sig.xml
  dss sign --dev --user bob --format xmldsig contract.xml
  dss sign --dev --credential alice-qes --level B-T invoice.xml
      scal 2: dss asks the server for signature activation data with the PIN and TOTP from dev.json
  DSSD_TOKEN=... dss sign --url https://sign.example.org --ca ca.pem --credential c1 doc.xml
  dss info --dev
  dss verify --dev invoice.xml.signed.xml
      every signature in the file: VALID, INVALID or INDETERMINATE, signer, time, what was signed
  dss verify --dev --data report.pdf report.pdf.sig.xml
      a detached signature with its data (matched by file name, as dss sign wrote it)

connection flags (sign, verify, info):
  --dev               use the development environment of "dssd serve --dev": server URL, CA,
                      user token and credentials come from DEV-DIR/dev.json
  --dev-dir DIR       development directory (default var/dev, or $DSSD_DEV_DIR)
  --user NAME         development user (default: the first user in dev.json)
  --url URL           server base URL (default from dev.json, or $DSSD_URL)
  --token TOKEN       bearer token (default from dev.json, or $DSSD_TOKEN)
  --ca FILE           PEM CA certificates to trust for TLS (default from dev.json; else the system roots)
  --timeout DURATION  time limit of the whole operation (default 2m)

sign flags:
  --credential ID     credential to sign with (default: the user's only credential)
  --format F          xades (default) or xmldsig
  --placement P       enveloped (default for XML files), enveloping (default otherwise) or detached;
                      dss never changes it: a document the server cannot sign enveloped fails with
                      the server's message
  --xpath XPATH       enveloped: the signature becomes the first child of this element (default /*)
  --ns PREFIX=URI     binds a prefix used in --xpath (repeatable; sent as NsPrefixMapping), e.g.
                      --ns ext=urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2
  --algorithm A       signature algorithm: an XMLDSig URI or rsa-sha256|384|512, rsa-pss-sha256|384|512,
                      ecdsa-sha256|384|512 (default: the server's choice for the key)
  --level L           XAdES level B-B (default), B-T, B-LT or B-LTA
  --out PATH          output file (default FILE.signed.xml for enveloped, FILE.sig.xml otherwise)
  --pin PIN, --otp OTP  activation data for a scal 2 credential (with --dev they come from dev.json)
  --async             ask for asynchronous processing: the server answers Pending and dss polls
                      POST /retrievePending until the result is there (within --timeout)

verify flags:
  --data FILE         detached data signed by FILE's signature (repeatable)
  --cert FILE, --ocsp FILE, --crl FILE
                      extra certificates, OCSP responses and CRLs (DER or PEM; repeatable), sent as
                      AdditionalKeyInfo: path and revocation material, never trusted as anchors

exit status: 0 done (verify: every signature is valid) (info: the server is ready), 1 the server or the operation failed, 2 usage error
`

// exitUsage and exitFail are the exit statuses besides 0.
const (
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// usageError marks errors that exit with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run executes one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "sign":
		err = cmdSign(ctx, args[1:], stdout, stderr, getenv)
	case "info":
		err = cmdInfo(ctx, args[1:], stdout, stderr, getenv)
	case "verify":
		err = cmdVerify(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, "dss", versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "dss: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	var ue *usageError
	var de *dssError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "dss: %v\nRun \"dss help\" for usage.\n", ue)
		return exitUsage
	case errors.As(err, &de):
		fmt.Fprintf(stderr, "dss: the server refused the request\n%v\n", err)
		return exitFail
	default:
		fmt.Fprintf(stderr, "dss: %v\n", err)
		return exitFail
	}
}

// connFlags are the flags shared by sign and info.
type connFlags struct {
	dev     bool
	devDir  string
	user    string
	url     string
	token   string
	ca      string
	timeout time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	devDir := getenv("DSSD_DEV_DIR")
	if devDir == "" {
		devDir = filepath.Join("var", "dev")
	}
	fs.BoolVar(&c.dev, "dev", false, "")
	fs.StringVar(&c.devDir, "dev-dir", devDir, "")
	fs.StringVar(&c.user, "user", "", "")
	fs.StringVar(&c.url, "url", "", "")
	fs.StringVar(&c.token, "token", "", "")
	fs.StringVar(&c.ca, "ca", "", "")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "")
}

// parseOneFile parses args with parseInterspersed and returns the one FILE that cmd needs.
func parseOneFile(fs *flag.FlagSet, args []string, cmd string) (string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("%s needs exactly one FILE", cmd)
	}
	return pos[0], nil
}

// parseInterspersed parses flags that may come before or after the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// target is where and as whom to connect.
type target struct {
	url   string
	token string
	ca    string
	dev   *devjson.File
	user  *devjson.User // nil without --dev
}

func (c *connFlags) resolve(getenv func(string) string) (*target, error) {
	t := &target{url: c.url, token: c.token, ca: c.ca}
	if c.dev {
		f, err := devjson.Read(filepath.Join(c.devDir, "dev.json"))
		if err != nil {
			return nil, fmt.Errorf("%w (start the server with \"dssd serve --dev\" first, or give --dev-dir)", err)
		}
		u, err := f.User(c.user)
		if err != nil {
			return nil, err
		}
		t.dev, t.user = f, u
		if t.url == "" {
			t.url = f.URL
		}
		if t.ca == "" {
			t.ca = f.CA
		}
		if t.token == "" {
			t.token = u.Token
		}
	} else {
		if t.url == "" {
			t.url = getenv("DSSD_URL")
		}
		if t.token == "" {
			t.token = getenv("DSSD_TOKEN")
		}
	}
	if t.url == "" {
		return nil, usagef("no server: give --url (or DSSD_URL), or --dev")
	}
	if !strings.HasPrefix(t.url, "https://") {
		return nil, usagef("--url must be an https:// URL (dssd has no plaintext listener)")
	}
	t.url = strings.TrimRight(t.url, "/")
	return t, nil
}

// signFlags are the flags of dss sign.
type signFlags struct {
	conn       connFlags
	credential string
	format     string
	placement  string
	xpath      string
	ns         nsFlags
	algorithm  string
	level      string
	out        string
	pin        string
	otp        string
	async      bool
}

func cmdSign(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var f signFlags
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.conn.register(fs, getenv)
	fs.StringVar(&f.credential, "credential", "", "")
	fs.StringVar(&f.format, "format", "xades", "")
	fs.StringVar(&f.placement, "placement", "", "")
	fs.StringVar(&f.xpath, "xpath", "", "")
	fs.Var(&f.ns, "ns", "")
	fs.StringVar(&f.algorithm, "algorithm", "", "")
	fs.StringVar(&f.level, "level", "", "")
	fs.StringVar(&f.out, "out", "", "")
	fs.StringVar(&f.pin, "pin", "", "")
	fs.StringVar(&f.otp, "otp", "", "")
	fs.BoolVar(&f.async, "async", false, "")
	file, err := parseOneFile(fs, args, "sign")
	if err != nil {
		return err
	}

	format := strings.ToLower(f.format)
	if format != "xades" && format != "xmldsig" {
		return usagef("--format must be xades or xmldsig")
	}
	level := ""
	if f.level != "" {
		if format != "xades" {
			return usagef("--level applies to --format xades only")
		}
		if level, err = parseLevel(f.level); err != nil {
			return err
		}
	} else if format == "xades" {
		level = "B-B"
	}
	alg, err := parseAlgorithm(f.algorithm)
	if err != nil {
		return err
	}
	head, size, err := fileHead(file)
	if err != nil {
		return err
	}
	// Whether the server can sign it enveloped (encoding, well-formedness, limits) is the
	// server's decision: the placement is the user's or follows the first bytes, never a
	// local parse.
	isXML := looksLikeXML(head)
	placement := strings.ToLower(f.placement)
	switch placement {
	case "":
		placement = "enveloping"
		if isXML {
			placement = "enveloped"
		}
	case "enveloped", "enveloping", "detached":
	default:
		return usagef("--placement must be enveloped, enveloping or detached")
	}
	if f.xpath != "" && placement != "enveloped" {
		return usagef("--xpath applies to --placement enveloped only")
	}
	if len(f.ns) > 0 && f.xpath == "" {
		return usagef("--ns binds prefixes of --xpath; give --xpath")
	}
	// A detached signature streams the file as an MTOM attachment (mtom.go): it is never read
	// into memory. The other placements send it inline, within the server's document limit.
	var doc []byte
	if placement != "detached" {
		if doc, err = os.ReadFile(file); err != nil {
			return err
		}
	}
	out := f.out
	if out == "" {
		out = file + ".sig.xml"
		if placement == "enveloped" {
			out = file + ".signed.xml"
		}
	}

	t, err := f.conn.resolve(getenv)
	if err != nil {
		return err
	}
	if t.token == "" {
		return usagef("no bearer token: give --token (or DSSD_TOKEN), or --dev")
	}
	credID, userName := f.credential, f.conn.user
	pin, otp := f.pin, f.otp
	if t.user != nil {
		userName = t.user.Name
		c, err := t.user.Credential(credID)
		if err != nil {
			return err
		}
		credID = c.ID
		if c.SCAL == 2 && pin == "" && otp == "" {
			pin = c.PIN
			if otp, err = devjson.TOTP(c.TOTPSecret, time.Now()); err != nil {
				return fmt.Errorf("credential %s: %w", c.ID, err)
			}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, f.conn.timeout)
	defer cancel()
	cl, err := newClient(t.url, t.token, t.ca)
	if err != nil {
		return err
	}

	var sad string
	if pin != "" || otp != "" {
		if credID == "" {
			return usagef("activation data (--pin, --otp) needs --credential")
		}
		if userName == "" {
			return usagef("activation data (--pin, --otp) needs --user (the name the server knows you by)")
		}
		sum, err := fileSHA256(file, doc, placement == "detached")
		if err != nil {
			return err
		}
		if sad, err = cl.authorize(ctx, credID, [][]byte{sum}, pin, otp); err != nil {
			return err
		}
	}

	reqID, err := newRequestID()
	if err != nil {
		return err
	}
	params := signParams{
		RequestID:  reqID,
		Doc:        doc,
		DocName:    refURIFor(file),
		MimeType:   mimeTypeFor(file, isXML),
		Format:     format,
		Placement:  placement,
		XPath:      f.xpath,
		Namespaces: f.ns,
		Algorithm:  alg,
		Level:      level,
		Credential: credID,
		User:       userName,
		SAD:        sad,
		Async:      f.async,
	}
	if placement == "detached" {
		params.AttachmentCID = "document." + reqID + "@dss"
	}
	body, err := buildSignRequest(params)
	if err != nil {
		return err
	}
	var resp *signResponse
	if placement == "detached" {
		resp, err = signStreamed(ctx, cl, body, file, size, params.AttachmentCID, reqID, f.async, stderr)
	} else if f.async {
		resp, err = cl.signAsync(ctx, body, reqID, stderr)
	} else {
		resp, err = cl.sign(ctx, body, reqID)
	}
	if err != nil {
		return err
	}
	result, err := resp.signedOutput(placement)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(out, result); err != nil {
		return err
	}
	applied := strings.Join(resp.AppliedProfile, " ")
	if applied == "" {
		applied = "-"
	}
	who := credID
	if who == "" {
		who = "the user's credential"
	}
	fmt.Fprintf(stdout, "signed %s with %s (%s, %s, applied profile %s) -> %s\n",
		file, who, formatName(format), placement, applied, out)
	return nil
}

// fileHead returns the first bytes of a file (enough for looksLikeXML) and its size.
func fileHead(file string) ([]byte, int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", file)
	}
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return head[:n], st.Size(), nil
}

// fileSHA256 is the SHA-256 of the document: of doc, or, streaming, of the file.
func fileSHA256(file string, doc []byte, streaming bool) ([]byte, error) {
	if !streaming {
		s := sha256.Sum256(doc)
		return s[:], nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// signStreamed sends a detached signing request with the file as its MTOM attachment (a
// progress bar on stderr when it is a terminal), then, with async, polls for the result.
func signStreamed(ctx context.Context, cl *client, body []byte, file string, size int64, cid, reqID string, async bool, stderr io.Writer) (*signResponse, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var prog *progress
	if isTerminal(stderr) {
		prog = newProgress(stderr, filepath.Base(file), size)
	}
	status, data, err := cl.signMTOM(ctx, body, f, cid, prog)
	if err != nil {
		return nil, err
	}
	if async {
		return cl.awaitPending(ctx, status, data, reqID, stderr)
	}
	r, perr := parseSignResponse(data, reqID)
	return cl.signAnswer(status, data, r, perr)
}

func formatName(f string) string {
	if f == "xmldsig" {
		return "XMLDSig"
	}
	return "XAdES"
}

func parseLevel(s string) (string, error) {
	l := strings.ToUpper(s)
	switch l {
	case "B-B", "B-T", "B-LT", "B-LTA":
		return l, nil
	}
	return "", usagef("--level must be B-B, B-T, B-LT or B-LTA")
}

func parseAlgorithm(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, "urn:") {
		return s, nil // a URI: the server decides whether it supports it
	}
	if u, ok := algnames.Signature()[strings.ToLower(s)]; ok {
		return u, nil
	}
	return "", usagef("--algorithm %q: give an XMLDSig URI or one of rsa-sha256, rsa-sha384, rsa-sha512, "+
		"rsa-pss-sha256, rsa-pss-sha384, rsa-pss-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512", s)
}

// looksLikeXML reports whether doc starts like an XML document: after a UTF-8 or UTF-16 byte
// order mark and white space, a '<' (in UTF-16 too). It decides the default placement and the
// media type sent; whether the document is acceptable XML (its encoding, well-formedness,
// limits) is the server's decision, reported in its message.
func looksLikeXML(doc []byte) bool {
	d := doc
	switch {
	case len(d) >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF:
		d = d[3:]
	case len(d) >= 2 && (d[0] == 0xFE && d[1] == 0xFF || d[0] == 0xFF && d[1] == 0xFE):
		// UTF-16: drop the zero bytes of the ASCII characters looked at.
		be := d[0] == 0xFE
		var a []byte
		for i := 2; i+1 < len(d) && len(a) < 512; i += 2 {
			hi, lo := d[i], d[i+1]
			if !be {
				hi, lo = lo, hi
			}
			if hi != 0 {
				break
			}
			a = append(a, lo)
		}
		d = a
	}
	trimmed := strings.TrimLeft(string(d[:min(len(d), 512)]), " \t\r\n")
	return strings.HasPrefix(trimmed, "<")
}

// mimeTypeFor names the document's media type in Base64Data/@MimeType.
func mimeTypeFor(file string, isXML bool) string {
	if isXML {
		return "application/xml"
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".pdf":
		return "application/pdf"
	case ".txt":
		return "text/plain"
	case ".json":
		return "application/json"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}

// refURIFor is the Reference URI of a detached signature: the file's base name, escaped as a
// relative URI reference.
func refURIFor(file string) string {
	var b strings.Builder
	for _, c := range []byte(filepath.Base(file)) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func newRequestID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "dss-" + hex.EncodeToString(b), nil
}

// writeFileAtomic writes data beside path and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// versionString reports the module version and VCS revision the binary was built from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev[:min(len(rev), 12)] + dirty
	}
	return v + " " + bi.GoVersion
}
