// Command minipush is the console and delivery engine for WeChat Mini
// Program subscription messages. One binary, several subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `minipush: console and delivery engine for WeChat Mini Program subscription messages.

Usage:
  minipush <command> [flags]

Commands:
  serve          run the web console, the scheduled jobs and the delivery engine's send workers
  demo           a living console with sample data and the sandbox as WeChat, nothing to set up
  migrate        apply database migrations and exit
  staff create   create a staff account (password read from stdin)
  apikey create  create a JSON API key for one account (printed once)
  sandbox        run a fake WeChat API for trials and tests (default 127.0.0.1:9099)
  bench          measure the delivery engine against a sandbox process (throwaway database)
  bench-campaign a campaign to N recipients through a real serve process on MySQL/MariaDB (throwaway database)
  drill          the fault drills on MySQL/MariaDB (serve killed mid-campaign, three instances, WeChat faults, a push storm), then everything counted
  version        print the version

Common settings (flag, or environment variable):
  --db      MINIPUSH_DB      database: sqlite:PATH (default sqlite:data/minipush.db)
                             or mysql:user:pass@tcp(host:3306)/dbname
  MINIPUSH_SECRET_KEY        base64 32-byte key encrypting app secrets at rest
                             (generated into the data folder on SQLite when unset;
                             required on MySQL: openssl rand -base64 32)

  --log-format MINIPUSH_LOG_FORMAT  log lines as text (default) or json; every request's
                             lines carry its request_id, every job run's its run_id

Run 'minipush <command> --help' for the flags of a command.
`

func main() {
	args, format, err := logFormatArg(os.Args[1:], os.Getenv("MINIPUSH_LOG_FORMAT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "minipush:", err)
		os.Exit(2)
	}
	log := newLogger(os.Stderr, format)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, args, os.Stdin, os.Stdout, os.Stderr, log)
	os.Exit(code)
}

// run dispatches to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "minipush", version)
		return 0
	case "serve":
		err = cmdServe(ctx, args[1:], stderr, log)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr, log)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr, log)
	case "staff":
		err = cmdStaff(ctx, args[1:], stdin, stdout, stderr, log)
	case "apikey":
		err = cmdAPIKey(ctx, args[1:], stdout, stderr, log)
	case "bench":
		err = cmdBench(ctx, args[1:], stdout, stderr, log)
	case "bench-campaign":
		err = cmdBenchCampaign(ctx, args[1:], stdout, stderr)
	case "sandbox":
		err = cmdSandbox(ctx, args[1:], stdout, stderr, log)
	case "drill":
		err = cmdDrill(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "minipush: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "minipush %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage means the flags were wrong; the flag package has said why.
var errUsage = errors.New("usage")

// envOr returns the environment variable name, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// parseFlags parses fs, mapping flag errors to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
