// Package softhsm creates private SoftHSM2 tokens for tests and development mode.
//
// Init writes a softhsm2.conf whose token directory lies below the given directory, so tests
// and `dssd serve --dev` never touch the system-wide /etc/softhsm2.conf or
// /var/lib/softhsm/tokens, and initialises a token with softhsm2-util (Debian package
// softhsm2). Tokens are found by label: SoftHSM2 gives an initialised token a random slot id.
//
// SoftHSM2 reads the SOFTHSM2_CONF environment variable when the module is initialised
// (C_Initialize, which crypto11 calls inside hsm/pkcs11.Open), not when this package runs.
// Init therefore changes no process state; the caller must make the variable visible before
// opening the module:
//
//   - in a test: t.Setenv("SOFTHSM2_CONF", tok.Conf) before pkcs11.Open (and Close the
//     KeyManager before another test points the variable elsewhere: the module is initialised
//     once per process until its last context closes);
//   - in development mode: os.Setenv("SOFTHSM2_CONF", tok.Conf) before pkcs11.Open is
//     acceptable, as the dev server uses one token;
//   - for a child process (pkcs11-tool, softhsm2-util): append tok.Env() to its environment.
//
// The PINs are passed to softhsm2-util as arguments, which is unavoidable with that tool and
// acceptable for development tokens only. They never appear in errors returned here.
package softhsm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Token is a SoftHSM2 token with its private configuration.
type Token struct {
	Conf   string // absolute path of softhsm2.conf
	Module string // path of libsofthsm2.so
	Label  string // token label
}

// Env returns the environment entries a process needs to see this token
// (SOFTHSM2_CONF=...), for exec.Cmd.Env or documentation.
func (t *Token) Env() []string { return []string{"SOFTHSM2_CONF=" + t.Conf} }

// ModuleCandidates are the usual locations of the SoftHSM2 PKCS#11 module on Debian and
// Ubuntu, in the order ModulePath tries them.
func ModuleCandidates() []string {
	return []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
	}
}

const installHint = "install SoftHSM2 (Debian/Ubuntu: apt-get install softhsm2)"

// ModulePath returns the first existing SoftHSM2 module of ModuleCandidates.
func ModulePath() (string, error) {
	for _, p := range ModuleCandidates() {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("softhsm: libsofthsm2.so not found in %s: %s", strings.Join(ModuleCandidates(), ", "), installHint)
}

// utilTimeout bounds one softhsm2-util run.
const utilTimeout = 30 * time.Second

// Init makes dir hold a SoftHSM2 configuration (dir/softhsm2.conf, tokens in dir/tokens,
// file object store, log level ERROR) and a token labelled label, initialised with the given
// security officer and user PINs. When the token directory already holds a token with that
// label it is reused (the PINs are then not checked here), so Init is idempotent.
func Init(dir, label, soPIN, userPIN string) (*Token, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	for _, pin := range []string{soPIN, userPIN} {
		if len(pin) < 4 || len(pin) > 255 {
			return nil, errors.New("softhsm: PINs must have 4 to 255 characters")
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return nil, fmt.Errorf("softhsm: softhsm2-util not found on PATH: %s", installHint)
	}
	module, err := ModulePath()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	tokens := filepath.Join(abs, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	tok := &Token{Conf: filepath.Join(abs, "softhsm2.conf"), Module: module, Label: label}
	if err := writeConf(tok.Conf, tokens); err != nil {
		return nil, err
	}

	labels, err := tok.labels(util)
	if err != nil {
		return nil, err
	}
	for _, l := range labels {
		if l == label {
			return tok, nil
		}
	}
	if _, err := tok.run(util, []string{soPIN, userPIN},
		"--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", userPIN); err != nil {
		return nil, fmt.Errorf("softhsm: init token %q: %w", label, err)
	}
	return tok, nil
}

// Labels returns the labels of the initialised tokens in the token directory.
func (t *Token) Labels() ([]string, error) {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return nil, fmt.Errorf("softhsm: softhsm2-util not found on PATH: %s", installHint)
	}
	return t.labels(util)
}

func (t *Token) labels(util string) ([]string, error) {
	out, err := t.run(util, nil, "--show-slots")
	if err != nil {
		return nil, fmt.Errorf("softhsm: list tokens: %w", err)
	}
	return parseLabels(out), nil
}

// parseLabels extracts the token labels of initialised tokens from `softhsm2-util --show-slots`.
func parseLabels(out []byte) []string {
	var labels []string
	initialized := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Slot "):
			initialized = false
		case strings.HasPrefix(line, "Initialized:"):
			initialized = strings.TrimSpace(strings.TrimPrefix(line, "Initialized:")) == "yes"
		case strings.HasPrefix(line, "Label:"):
			if l := strings.TrimSpace(strings.TrimPrefix(line, "Label:")); initialized && l != "" {
				labels = append(labels, l)
			}
		}
	}
	return labels
}

// run runs softhsm2-util with this token's configuration and returns its combined output.
// Secrets are masked in the error text.
func (t *Token) run(util string, secrets []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), utilTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, util, args...)
	cmd.Env = append(os.Environ(), t.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		for _, s := range secrets {
			msg = strings.ReplaceAll(msg, s, "***")
		}
		return nil, fmt.Errorf("softhsm2-util %s: %w: %s", args[0], err, msg)
	}
	return out, nil
}

// Conf returns the text of a private softhsm2.conf that keeps its tokens in tokenDir.
func Conf(tokenDir string) string {
	return "# private SoftHSM2 configuration written by dssd (hsm/softhsm)\n" +
		"directories.tokendir = " + tokenDir + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
}

func writeConf(path, tokenDir string) error {
	want := []byte(Conf(tokenDir))
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	if err := os.WriteFile(path, want, 0o600); err != nil {
		return fmt.Errorf("softhsm: %w", err)
	}
	return nil
}

func checkLabel(label string) error {
	switch {
	case label == "":
		return errors.New("softhsm: empty token label")
	case len(label) > 32:
		return errors.New("softhsm: token label longer than 32 bytes")
	case strings.TrimSpace(label) != label || strings.ContainsAny(label, "\n\r\t"):
		return errors.New("softhsm: token label has surrounding or control white space")
	}
	return nil
}
