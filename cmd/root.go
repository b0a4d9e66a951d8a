// Package cmd is tfsync's command line: one file per command, and the only place that knows which backend, which
// TF source and which store a pass uses (factory.go).
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

// GCPercent is the garbage collector's target for a pass. A first pass over a thousand mailboxes holds about
// 45 MB live per 500 mailboxes; Go's default (100) lets the heap grow to twice that before collecting, 50 keeps
// the peak near one and a half times at the same CPU time (measured in sync/bench_test.go). GOGC overrides it.
const GCPercent = 50

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	return run(context.Background(), NewFactory(SystemIO()), args)
}

func run(ctx context.Context, f *Factory, args []string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var err error
	var ran *cobra.Command
	// Cobra reports an unknown command as an untyped error; a typo in a scheduled task must be a usage error.
	if _, _, ferr := root.Find(args); ferr != nil {
		err = &usageError{strings.TrimSpace(ferr.Error())}
	} else {
		ran, err = root.ExecuteContextC(ctx)
	}
	var ue *usageError
	if err != nil && ctx.Err() != nil && !errors.Is(err, calsync.ErrInterrupted) && !errors.As(err, &ue) {
		// A signal that arrives before the engine runs (while the store or TF is opened) surfaces as whatever that
		// step returned; it is still an interruption, not a failure, for the scheduler.
		err = fmt.Errorf("%w (SIGTERM or Ctrl-C) before the pass finished: what the servers confirmed is recorded; the next pass resumes (%v)", calsync.ErrInterrupted, err)
	}
	code := ExitCode(err)
	helpOnly := err == nil && (ran == nil || ran == root || ran.Name() == "help")
	if !helpOnly && (f.printer().JSON() || (err != nil && jsonRequested(args))) {
		// Scripts get one JSON object on every exit code (docs/json.md), errors included.
		name := "tfsync"
		if ran != nil && ran != root {
			name = ran.Name()
		}
		writeJSONResult(f, name, err)
	}
	if err != nil {
		printError(f, err)
	}
	f.closeLog()
	return code
}

// printError is the one place a command's error reaches the person or scheduler that ran it.
func printError(f *Factory, err error) {
	log := f.Logger("")
	var ue *usageError
	var cf *checkFailed
	switch {
	case errors.As(err, &cf):
		// status --check has printed its one line; the exit code says the rest.
	case errors.Is(err, calsync.ErrLockHeld) && !errors.Is(err, calsync.ErrLockStale):
		log.Info().Msg(err.Error())
	case errors.As(err, &ue):
		fmt.Fprintf(f.IO.ErrOut, "Error: %s\nRun 'tfsync --help' for usage.\n", err)
	default:
		code := ExitCode(err)
		log.Error().Int("exit_code", code).Str("exit_name", exitcode.Name(code)).Msg(err.Error())
	}
}

// NewCmdRoot builds the command tree. Cobra's own error printing is off: printError does it.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "tfsync",
		Short: "Sync TF bookings with technicians' Exchange calendars",
		Long: `tfsync keeps TF's bookings (ärenden, besiktningar, kontroller, driftåtgärder, ronderingar) and each
technician's Exchange calendar in step: bookings appear in Outlook with a link back to TF, and a booking moved in
the calendar is moved in TF. A scheduler runs 'tfsync sync' every 2-15 minutes.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("config") {
				if env := os.Getenv(config.PathEnv); env != "" {
					f.ConfigPath = env
				}
			}
			switch f.Output {
			case "text", "json":
			default:
				return &usageError{fmt.Sprintf("--output %q is not valid: use text or json", f.Output)}
			}
			switch f.LogFormat {
			case "", "console", "json":
			default:
				return &usageError{fmt.Sprintf("--log-format %q is not valid: use console or json", f.LogFormat)}
			}
			if _, err := parseLevel(f.LogLevel); err != nil {
				return &usageError{err.Error()}
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(flagUsageError)
	pf := root.PersistentFlags()
	pf.StringVar(&f.ConfigPath, "config", "tfsync.toml", "configuration file")
	pf.StringVarP(&f.Output, "output", "o", "text", "result format: text or json")
	pf.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&f.LogFile, "log-file", "", "also write the log to this file, as JSON lines (default: [log] file)")
	pf.StringVar(&f.LogFormat, "log-format", "", "log format: console or json (default: console on a terminal, json otherwise)")

	root.AddCommand(
		NewCmdSync(f, nil),
		NewCmdDryRun(f, nil),
		NewCmdListResources(f, nil),
		NewCmdTestConnection(f, nil),
		NewCmdDemo(f, nil),
		NewCmdInit(f, nil),
		NewCmdEmulator(f, nil),
		NewCmdStatus(f, nil),
		NewCmdShow(f, nil),
		NewCmdUninstall(f, nil),
		NewCmdVersion(f, nil),
	)
	typeArgErrors(root)
	return root
}

// flagUsageError makes a flag cobra cannot parse a usage error (exit 2).
func flagUsageError(_ *cobra.Command, err error) error { return &usageError{err.Error()} }

// typeArgErrors makes every command's argument check a usage error (exit 2), which cobra's own checks are not.
func typeArgErrors(c *cobra.Command) {
	if check := c.Args; check != nil && c.HasParent() {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &usageError{fmt.Sprintf("'%s' does not take the argument(s) %q", cmd.CommandPath(), strings.Join(args, " "))}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		typeArgErrors(sub)
	}
}
