// Command books runs the Books service and its tools:
//
//	books serve [--demo] [--addr 127.0.0.1:8080] [--data-dir ./data]
//	books migrate [--diff]
//	books worker [--concurrency 20] [--metrics-addr 127.0.0.1:9091]
//	books token --role admin [--org org_…] [--customer cus_…]
//	books ledger verify [--entity le_…] [--seal]
//	books bench je|invoices|jobs …
//	books qbo-sandbox [--addr 127.0.0.1:9090] [--realms 1] [--webhook-url … --webhook-verifier …] [--no-limits]
//
// `books help`, `books -h` and `books <command> -h` print usage and exit 0.
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
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := report(os.Stderr, os.Args[1:], run(ctx, os.Args[1:]))
	stop()
	os.Exit(code)
}

// report writes how a command ended to stderr and returns the exit code. A usage mistake is
// for the person at the terminal and printed as text; any other failure (a database that
// does not open, an address in use) is one JSON log line like everything else the process
// logs, so a log collector keeps it.
func report(stderr io.Writer, args []string, err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // the flag set has printed the command's flags
	case isUsage(err):
		fmt.Fprintln(stderr, err)
		return 2
	}
	command := ""
	if len(args) > 0 {
		command = args[0]
	}
	slog.New(slog.NewJSONHandler(stderr, nil)).Error("books "+command+" failed", "command", command, "err", err.Error())
	return 1
}

// isUsage reports whether err is a usage text: commands return theirs as errors.
// isUsage reports whether err is a misuse of the command line: books' own usage errors, and
// the flag package's, which has already printed the message and the flags.
func isUsage(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"flag provided but not defined", "flag needs an argument", "bad flag syntax",
		"invalid value", "invalid boolean value", "invalid boolean flag"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return strings.HasPrefix(msg, "usage:") || strings.Contains(msg, "\nusage:")
}

const usage = `usage: books <command> [flags]

commands:
  serve     run the HTTP server (GraphQL at /graphql, JE API at /api/v1/journal-entries)
  migrate   apply database migrations (--diff prints what ent/schema would change)
  worker    work background jobs without the HTTP server (serve works them too)
  token     mint a bearer token for local use
  ledger    ledger verify: recompute every entity's hash chain and check the ledger's
            invariants; exits non-zero on any breach
  bench     run a benchmark (bench je: journal-entry API against raw SQL;
            bench invoices: the GraphQL invoice list over 100,000 invoices;
            bench jobs: job queue throughput and enqueue-to-start latency)
  qbo-sandbox  run the QuickBooks Online API + OAuth emulator standalone

Run 'books <command> -h' (or 'books help <command>') for the command's flags.`

func run(ctx context.Context, args []string) error {
	err := dispatch(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		// The flag set has printed the command's flags: help was asked for, so it is no error.
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:])
	case "migrate":
		return migrate(ctx, args[1:])
	case "worker":
		return worker(ctx, args[1:])
	case "token":
		return token(ctx, args[1:])
	case "bench":
		return bench(ctx, args[1:])
	case "qbo-sandbox":
		return qboSandbox(ctx, args[1:])
	case "ledger":
		return ledgerCmd(ctx, args[1:])
	case "help":
		if len(args) > 1 {
			// books help <command> is books <command> -h.
			return dispatch(ctx, []string{args[1], "-h"})
		}
		fmt.Println(usage)
		return nil
	case "-h", "-help", "--help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
