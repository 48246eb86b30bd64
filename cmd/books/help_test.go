package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain lets a test run this test binary as `books` (see runBooks).
func TestMain(m *testing.M) {
	if os.Getenv("BOOKS_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"books"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runBooks runs main with args in a child process, for what only a process shows: the exit
// status and what reaches stdout and stderr.
func runBooks(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BOOKS_TEST_RUN_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}

func TestHelp(t *testing.T) {
	t.Parallel()
	help := [][]string{
		{"-h"}, {"--help"}, {"help"}, {"help", "serve"},
		{"serve", "-h"}, {"migrate", "-h"}, {"worker", "-h"}, {"token", "-help"}, {"qbo-sandbox", "--help"},
		{"ledger", "-h"}, {"ledger", "verify", "-h"},
		{"bench", "-h"}, {"bench", "je", "-h"}, {"bench", "invoices", "-h"}, {"bench", "jobs", "-h"},
	}
	for _, args := range help {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			require.NoError(t, run(context.Background(), args), "asking for help is no error")
		})
	}
	// Help must not swallow mistakes.
	misuse := []struct {
		args []string
		want string
	}{
		{nil, "usage: books <command>"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"help", "nope"}, `unknown command "nope"`},
		{[]string{"serve", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"bench"}, "usage: books bench"},
	}
	for _, tt := range misuse {
		t.Run(strings.Join(tt.args, " ")+" fails", func(t *testing.T) {
			t.Parallel()
			require.ErrorContains(t, run(context.Background(), tt.args), tt.want)
		})
	}
}

// The process view of the same: usage printed, exit status 0, no "books: …" error line.
func TestHelpExitsCleanly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // in stdout or stderr
	}{
		{[]string{"-h"}, "usage: books <command>"},
		{[]string{"serve", "-h"}, "-addr"},
		{[]string{"help", "migrate"}, "-data-dir"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runBooks(t, tt.args...)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout+stderr, tt.want)
			require.NotContains(t, stderr, "books:")
			require.NotContains(t, stderr, "help requested")
		})
	}
	// A misuse is no crash: the message and the flags in plain text, exit status 2, and no
	// JSON error line (those are for failures of a command that started).
	_, stderr, code := runBooks(t, "serve", "--nope")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "flag provided but not defined: -nope")
	require.NotContains(t, stderr, `"level":"ERROR"`)
}
