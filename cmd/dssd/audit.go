package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"dssd/cmd/dssd/devenv/devjson"
	"dssd/dss/store"
	"dssd/hsm"
)

const auditUsage = `usage:
  dssd audit verify     (--config dssd.yaml | --dev [--dev-dir var/dev]) [--checkpoint FILE]
  dssd audit checkpoint (--config dssd.yaml | --dev [--dev-dir var/dev]) [--out FILE]

verify walks the audit chain of the configured store, prints a report and exits non-zero
when a record was edited, deleted, reordered or inserted, or the chain head does not match
(the report names the first broken record). With --checkpoint it also requires the records
up to the checkpoint to be present and unchanged: deleting the newest records, rewinding the
head or rolling the database back to before the checkpoint is then detected too.

checkpoint verifies the chain and writes a checkpoint of its head (sequence, head hash, time)
signed with store.audit_checkpoint_key in the HSM, to FILE or standard output. Keep it outside
the database (another host, write-once storage).
`

// errAuditBroken is returned by `dssd audit verify` when the chain is broken.
var errAuditBroken = errors.New("audit chain broken")

func runAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "checkpoint") {
		fmt.Fprint(stderr, auditUsage)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return fmt.Errorf("unknown audit command %q", args[0])
	}
	verb := args[0]
	fs := flag.NewFlagSet("audit "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file")
	dev := fs.Bool("dev", false, "use the store of the development environment")
	devDir := fs.String("dev-dir", "var/dev", "directory of the development environment")
	var checkpointFile, outFile *string
	if verb == "verify" {
		checkpointFile = fs.String("checkpoint", "", "checkpoint file written by `dssd audit checkpoint`")
	} else {
		outFile = fs.String("out", "", "write the checkpoint to this file instead of standard output")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dev == (*cfgPath != "") {
		return fmt.Errorf("audit %s needs exactly one of --config and --dev", verb)
	}
	if *dev {
		// The configuration devenv writes; the environment is read, never created here.
		*cfgPath = filepath.Join(*devDir, "dssd.yaml")
		if _, err := os.Stat(*cfgPath); err != nil {
			return fmt.Errorf("no development environment in %s (run `dssd serve --dev` first): %w", *devDir, err)
		}
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if verb == "checkpoint" {
		return auditCheckpoint(ctx, cfg, *outFile, stdout, stderr)
	}
	var anchor *store.Anchor
	if *checkpointFile != "" {
		a, err := readCheckpoint(ctx, cfg, *checkpointFile, stderr)
		if err != nil {
			return err
		}
		anchor = &a
	}
	st, err := openStoreBackend(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	var rep store.VerifyReport
	if anchor != nil {
		rep, err = st.VerifyAgainst(ctx, *anchor)
	} else {
		rep, err = st.Verify(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "store: %s %s\n%s", cfg.Store.Type, storeWhere(cfg), rep.String())
	if !rep.OK() {
		return fmt.Errorf("%w at %s", errAuditBroken, rep.Break)
	}
	return nil
}

func storeWhere(cfg *Config) string {
	if cfg.Store.Type == "postgres" {
		if cfg.Store.DSNFile != "" {
			return "(DSN from store.dsn_file " + cfg.Store.DSNFile + ")"
		}
		return "(DSN from store.dsn_env " + cfg.Store.DSNEnv + ")"
	}
	return cfg.Store.Path
}

// checkpointKey opens the HSM and returns the configured checkpoint key. Close the
// KeyManager when done.
func checkpointKey(ctx context.Context, cfg *Config, stderr io.Writer) (hsm.KeyManager, crypto.Signer, error) {
	if cfg.Store.AuditCheckpointKey == "" {
		return nil, nil, errors.New("store.audit_checkpoint_key is not set: checkpoints are signed with a key in the HSM")
	}
	ref, err := hsm.ParseKeyRef(cfg.Store.AuditCheckpointKey)
	if err != nil {
		return nil, nil, fmt.Errorf("store.audit_checkpoint_key: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	keys, err := openHSM(ctx, cfg, logger, nil)
	if err != nil {
		return nil, nil, err
	}
	s, err := keys.Signer(ctx, ref)
	if err != nil {
		keys.Close()
		return nil, nil, fmt.Errorf("store.audit_checkpoint_key %s: %w", cfg.Store.AuditCheckpointKey, err)
	}
	return keys, s, nil
}

// readCheckpoint reads a checkpoint file and verifies its signature with the configured key.
func readCheckpoint(ctx context.Context, cfg *Config, path string, stderr io.Writer) (store.Anchor, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Anchor{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, store.MaxCheckpointBytes+1))
	f.Close()
	if err != nil {
		return store.Anchor{}, err
	}
	cp, err := store.ParseCheckpoint(data)
	if err != nil {
		return store.Anchor{}, fmt.Errorf("%s: %w", path, err)
	}
	keys, s, err := checkpointKey(ctx, cfg, stderr)
	if err != nil {
		return store.Anchor{}, err
	}
	defer keys.Close()
	a, err := cp.Verify(s.Public())
	if err != nil {
		return store.Anchor{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// auditCheckpoint verifies the chain and writes a signed checkpoint of its head.
func auditCheckpoint(ctx context.Context, cfg *Config, out string, stdout, stderr io.Writer) error {
	keys, s, err := checkpointKey(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer keys.Close()
	st, err := openStoreBackend(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.Verify(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("%w at %s: no checkpoint of a broken chain (run `dssd audit verify`)", errAuditBroken, rep.Break)
	}
	cp, err := store.NewCheckpoint(rep.Head, time.Now(), s, cfg.Store.AuditCheckpointKey)
	if err != nil {
		return err
	}
	if out == "" {
		_, err := stdout.Write(cp.Marshal())
		return err
	}
	if err := devjson.WriteFileAtomic(out, cp.Marshal(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checkpoint: seq %d head %s at %s written to %s\n", cp.Seq, cp.HeadHash, cp.Time.Format(time.RFC3339), out)
	return nil
}
