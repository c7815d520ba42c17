// Command fieldsync is the offline-sync API server for field staff, with its
// operator subcommands.
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

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `fieldsync — offline-first sync API for field staff

Usage:
  fieldsync [serve]                 run the API server (default)
  fieldsync seed demo               create the demo tenant, sites, users and a week of activity (idempotent)
  fieldsync user add [flags]        create a user (see fieldsync user add --help)
  fieldsync keys rotate             add a token signing key to FIELDSYNC_JWT_KEY_DIR (signs 2 minutes later)
  fieldsync sim [flags]             simulate guards, technicians and cs agents against a server (see fieldsync sim --help)
  fieldsync devstack [--env-file F] host only the embedded stores and print the FIELDSYNC_* variables for an API process
  fieldsync import units --tenant T --file F
                                    import units and households from CSV (all or nothing; bad lines named)
  fieldsync audit verify --tenant T [--collection C [--id ID]]
                                    verify the audit trail's hash chains; exit 1 naming the first broken link of each record
  fieldsync cursors reset           after restoring the database from a backup: expire every phone's pull cursor
                                    (each bootstraps again); run with every API instance stopped
  fieldsync version                 print the version
  fieldsync --help                  this text

Configuration comes from FIELDSYNC_* environment variables; see README.md.
With FIELDSYNC_MONGO_URI and FIELDSYNC_S3_ENDPOINT unset, fieldsync runs its
embedded database and object store under FIELDSYNC_DATA_DIR.
`

// defaultGCPercent is the garbage collector's target when GOGC is not set.
// The server's live heap is small (tens of MiB) and nearly all its garbage
// lives for one request, so collecting at 4× the live heap instead of Go's
// 2× takes about a quarter off the API's CPU per pushed record for a peak
// RSS still well under 120 MiB (docs/BENCHMARKS.md).
const defaultGCPercent = 300

// tuneGC applies defaultGCPercent unless GOGC says otherwise.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fieldsync:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "fieldsync", version)
		return nil
	case "sim":
		// A client of a running server: it needs none of the server's configuration.
		return runSim(ctx, args, getenv, stdout, stderr)
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return runServe(ctx, cfg, stderr)
	case "seed":
		if len(args) != 1 || args[0] != "demo" {
			return errors.New("usage: fieldsync seed demo")
		}
		return runSeedDemo(ctx, cfg, stdout, stderr)
	case "user":
		if len(args) < 1 || args[0] != "add" {
			return errors.New("usage: fieldsync user add --tenant T --username U --password P --name N --role R [--department D] [--sites A,B]")
		}
		return runUserAdd(ctx, cfg, args[1:], stdout, stderr)
	case "keys":
		if len(args) != 1 || args[0] != "rotate" {
			return errors.New("usage: fieldsync keys rotate")
		}
		return runKeysRotate(cfg, stdout)
	case "devstack":
		return runDevstack(ctx, cfg, args, stdout, stderr)
	case "audit":
		return runAudit(ctx, cfg, args, stdout, stderr)
	case "cursors":
		return runCursors(ctx, cfg, args, stdout, stderr)
	case "import":
		return runImport(ctx, cfg, args, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
