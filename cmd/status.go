package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

// status is three files: this one wires the command and runs it, status_gather.go reads the store, the lock and TF
// and builds the report (a pure function of what was read), status_render.go writes it as text or JSON.

// StatusOptions are status's flags.
type StatusOptions struct {
	Runs   int
	Check  bool
	MaxAge time.Duration
}

// timeWithZone is how every time shown to a person is written: with its zone, since logs, mail and the server's
// clock may each use another.
const timeWithZone = "2006-01-02 15:04:05 MST"

// defaultMaxAge is how old the last successful pass may be before status --check alarms: three 15-minute ticks,
// the longest interval docs/schedulers.md suggests, so one missed or failed tick is not an alarm.
const defaultMaxAge = 45 * time.Minute

// NewCmdStatus wires `tfsync status`.
func NewCmdStatus(f *Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show whether the scheduled passes work: a headline, the last passes, each mailbox, what is held back",
		Long: `status answers "is it working?": a headline (OK, FAILING, STALE, HELD, HUNG), the run lock, the last passes
with repeated failures collapsed, each mailbox with its TF resource, and the deletes held back.

With --check it prints only the headline and exits 0 when all is well, and otherwise with the exit code of the
problem: the last pass's when it failed, 5 when deletes are held back, 6 when a pass hangs, 1 when no pass has
succeeded within --max-age. Monitoring systems (Nagios, Zabbix, PRTG) and a second scheduled task run it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Runs < 1 {
				return &usageError{"--runs must be at least 1"}
			}
			if opts.MaxAge <= 0 {
				return &usageError{"--max-age must be a positive duration, e.g. 45m"}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStatus(cmd.Context(), f, opts)
		},
	}
	c.Flags().IntVar(&opts.Runs, "runs", 10, "how many recent passes to show")
	c.Flags().BoolVar(&opts.Check, "check", false, "print one line and exit non-zero when the passes are not healthy (for monitoring)")
	c.Flags().DurationVar(&opts.MaxAge, "max-age", defaultMaxAge, "how old the last successful pass may be before --check alarms")
	return c
}

func runStatus(ctx context.Context, f *Factory, opts *StatusOptions) error {
	ctx, _ = f.startRun(ctx)
	cfg, err := f.Config(ctx)
	if err != nil {
		return err
	}
	// Read-only: status run as another account must not create or migrate the store the scheduler writes.
	st, err := f.OpenStoreReadOnly(ctx, cfg)
	if errors.Is(err, calsync.ErrStoreMissing) {
		return printStatusWithoutStore(f, cfg)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	in, err := gatherStatus(ctx, f, cfg, st, opts)
	if err != nil {
		return err
	}
	rep := buildStatus(in)
	for _, w := range rep.Warnings {
		zerolog.Ctx(ctx).Warn().Msg(w)
	}
	if err := renderStatus(f.printer(), opts, rep, in.zone, credentialWarnings(cfg, in.now)); err != nil {
		return err
	}
	if opts.Check && rep.Health.ExitCode != exitcode.OK {
		return &checkFailed{code: rep.Health.ExitCode}
	}
	return nil
}

// checkFailed ends status --check with the exit code of what it found; the headline is already printed.
type checkFailed struct{ code int }

func (e *checkFailed) Error() string { return fmt.Sprintf("status --check: exit %d", e.code) }
