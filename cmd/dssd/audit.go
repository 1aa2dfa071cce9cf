package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

const auditUsage = `usage:
  dssd audit verify --config dssd.yaml
  dssd audit verify --dev [--dev-dir var/dev]

verify walks the audit chain of the configured store, prints a report and exits non-zero
when a record was edited, deleted, reordered or inserted (the report names the first one).
`

// errAuditBroken is returned by `dssd audit verify` when the chain is broken.
var errAuditBroken = errors.New("audit chain broken")

func runAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return fmt.Errorf("unknown audit command %q", args[0])
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file")
	dev := fs.Bool("dev", false, "verify the store of the development environment")
	devDir := fs.String("dev-dir", "var/dev", "directory of the development environment")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dev == (*cfgPath != "") {
		return errors.New("audit verify needs exactly one of --config and --dev")
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
	st, err := openStoreBackend(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.Verify(ctx)
	if err != nil {
		return err
	}
	where := cfg.Store.Path
	if cfg.Store.Type == "postgres" {
		where = "(DSN from store.dsn_env " + cfg.Store.DSNEnv + ")"
		if cfg.Store.DSNFile != "" {
			where = "(DSN from store.dsn_file " + cfg.Store.DSNFile + ")"
		}
	}
	fmt.Fprintf(stdout, "store: %s %s\n%s", cfg.Store.Type, where, rep.String())
	if !rep.OK() {
		return fmt.Errorf("%w at %s", errAuditBroken, rep.Break)
	}
	return nil
}
