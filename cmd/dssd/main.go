// Command dssd is the dssd remote signing service.
//
//	dssd serve --config dssd.yaml      run the service
//	dssd serve --dev                   run with a private development environment under var/dev
//	dssd check-config --config FILE    validate a configuration and exit
//	dssd audit verify --config FILE    verify the audit chain; non-zero exit when it is broken
//	dssd credential create|import|list|disable|enable|unlock|rotate   manage signing credentials
//	dssd user add|token|disable|enable                                manage users
//	dssd version                       print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dssd:", err)
		}
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(2)
	}
}

const usage = `usage:
  dssd serve --config dssd.yaml [--addr HOST:PORT]
  dssd serve --dev [--dev-dir var/dev] [--addr 127.0.0.1:8443]
  dssd check-config --config dssd.yaml
  dssd audit verify --config dssd.yaml | --dev [--dev-dir var/dev]
  dssd credential create|import|list|disable|enable|unlock|rotate (--config dssd.yaml | --dev) ...
  dssd user add|token|disable|enable (--config dssd.yaml | --dev) --name NAME
  dssd hash-password < password.txt     (argon2id PHC string for users[].password_hash)
  dssd version

Environment: DSSD_ADDR overrides the listen address.
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfgPath := fs.String("config", "", "configuration file")
		dev := fs.Bool("dev", false, "development mode: create or reuse a private environment (SoftHSM token, PKI, users)")
		devDir := fs.String("dev-dir", "var/dev", "directory of the development environment")
		addr := fs.String("addr", os.Getenv("DSSD_ADDR"), "listen address (default from the configuration, 127.0.0.1:8443)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dev == (*cfgPath != "") {
			return errors.New("serve needs exactly one of --config and --dev")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, serveOptions{configPath: *cfgPath, dev: *dev, devDir: *devDir, addr: *addr}, stdout, stderr)
	case "check-config":
		fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfgPath := fs.String("config", "", "configuration file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *cfgPath == "" {
			return errors.New("check-config needs --config")
		}
		if _, err := LoadConfig(*cfgPath); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "configuration is valid")
		return nil
	case "audit":
		return runAudit(args[1:], stdout, stderr)
	case "credential":
		return runCredential(args[1:], stdout, stderr)
	case "user":
		return runUser(args[1:], stdout, stderr)
	case "hash-password":
		return hashPassword(os.Stdin, stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "dssd", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
		if bi.Main.Version != "" {
			return bi.Main.Version
		}
	}
	return "dev"
}
