package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	calsync "tfsync/sync"
)

// SyncOptions are sync's flags.
type SyncOptions struct {
	Resources []string // --resource: scope the pass to these TF resources (ids or e-mails)
	Full      bool
	Force     bool
	Rebuild   bool
	// TakeOver moves the TF database's claim to this state store when another one holds it.
	TakeOver bool
}

// NewCmdSync wires `tfsync sync`. runF replaces the run function in tests of the flag parsing.
func NewCmdSync(f *Factory, runF func(context.Context, *SyncOptions) error) *cobra.Command {
	opts := &SyncOptions{}
	c := &cobra.Command{
		Use:   "sync",
		Short: "Run one sync pass (what the scheduler runs every few minutes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Rebuild && len(opts.Resources) > 0 {
				return &usageError{"--rebuild relinks every mailbox: it cannot be combined with --resource"}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSync(cmd.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.Full, "full", false, "ignore change cursors and read each calendar's whole window")
	c.Flags().BoolVar(&opts.Force, "force", false, "apply deletes that max_delete_percent would hold back")
	c.Flags().StringArrayVar(&opts.Resources, "resource", nil, "only this TF resource's mailbox (id or e-mail; repeatable); --force then applies only its held deletes")
	c.Flags().BoolVar(&opts.Rebuild, "rebuild", false, "move a damaged state store aside and relink every event through its booking id")
	c.Flags().BoolVar(&opts.TakeOver, "take-over", false, "make this state store the one that serves the TF database, when another store (another path or machine) did")
	return c
}

func runSync(ctx context.Context, f *Factory, opts *SyncOptions) error {
	ctx, runID := f.startRun(ctx)
	started := f.Now()
	p, err := f.openPass(ctx, runID, passOptions{Resources: opts.Resources, Full: opts.Full || opts.Rebuild, Force: opts.Force,
		Rebuild: opts.Rebuild, Lock: true, CreateInstallation: true})
	if err != nil {
		recordUnstarted(ctx, f, runID, started, err)
		// A pass that cannot even start (stale lock, TF unreadable, backend misconfigured) is mailed too.
		notifyAfterRun(ctx, f, nil, runID, nil, err)
		return err
	}
	defer p.Close()
	p.scope = opts.Resources
	// Before any calendar is touched: a second state store on the same TF database would fight the first.
	if err := f.claimStore(ctx, p, runID, opts.TakeOver); err != nil {
		recordRun(ctx, f, p, runID, started, nil, err)
		return err
	}
	logExpiryDaily(ctx, p.cfg, p.store, f.Now())
	ctx, waits := f.watchPass(ctx)
	// Recorded as running first: a pass that hangs or is killed shows in status as one that never finished.
	putRun(ctx, f, p.store, calsync.RunRecord{ID: runID, StartedAt: started, Outcome: calsync.RunRunning})
	report, err := p.engine.Sync(ctx)
	f.endWatch(ctx, waits)
	if err != nil {
		err = explainExpired(p.cfg, f.Now(), err)
		recordRun(ctx, f, p, runID, started, nil, err)
		return err
	}
	if err := printReport(f, report, p.cfg.TF.TimeZone, opts.Resources); err != nil {
		return err
	}
	err = explainExpired(p.cfg, f.Now(), report.Err())
	recordRun(ctx, f, p, runID, started, report, err)
	return err
}

// keepRuns is how many run records the store keeps.
const keepRuns = 1000

// runSummary is a run record's summary: what recordRun and recordUnstarted write, and status and show read back.
// A scoped pass is recorded with its scope, so status and show can tell it from a whole pass.
type runSummary struct {
	Report *calsync.Report `json:"report,omitempty"`
	Error  string          `json:"error,omitempty"`
	Scope  []string        `json:"scope,omitempty"`
}

// readRunSummary reads a run record's summary; its report is nil when the run recorded none or it cannot be read.
func readRunSummary(r calsync.RunRecord) runSummary {
	var s runSummary
	if r.Summary == nil || json.Unmarshal(r.Summary, &s) != nil {
		return runSummary{}
	}
	return s
}

// recordRun keeps a history of passes for `tfsync status` and list-resources.
func recordRun(ctx context.Context, f *Factory, p *pass, runID string, started time.Time, r *calsync.Report, runErr error) {
	summary, _ := json.Marshal(runSummary{Report: r, Error: errString(runErr), Scope: p.scope})
	putRun(ctx, f, p.store, calsync.RunRecord{ID: runID, StartedAt: started, FinishedAt: f.Now(), ExitCode: ExitCode(runErr),
		Summary: summary, Outcome: calsync.RunPass, Error: errString(runErr)})
	logPassEnd(ctx, r, runErr)
	notifyAfterRun(ctx, f, p, runID, r, runErr)
}

// recordUnstarted records a pass that could not start: it found the run lock held (left at once, or exit 6 when
// held far too long), or TF, the store or the backend could not be opened. Without a configuration there is no
// store to record in.
func recordUnstarted(ctx context.Context, f *Factory, runID string, started time.Time, runErr error) {
	if errors.Is(runErr, calsync.ErrStoreNotWritable) {
		return // the store cannot take the record, as the error says; one message is enough
	}
	cfg, _, err := f.LoadConfig(f.ConfigPath)
	if err != nil {
		return
	}
	st, err := f.OpenStore(ctx, cfg)
	if err != nil {
		return // the store itself is the problem; the error says so
	}
	defer st.Close()
	outcome := calsync.RunPass
	switch {
	case errors.Is(runErr, calsync.ErrLockStale):
		outcome = calsync.RunLockStale
	case errors.Is(runErr, calsync.ErrLockHeld):
		outcome = calsync.RunLockHeld
	}
	summary, _ := json.Marshal(runSummary{Error: errString(runErr)})
	putRun(ctx, f, st, calsync.RunRecord{ID: runID, StartedAt: started, FinishedAt: f.Now(), ExitCode: ExitCode(runErr),
		Summary: summary, Outcome: outcome, Error: errString(runErr)})
	if outcome == calsync.RunPass {
		logPassEnd(ctx, nil, runErr)
	}
}

func putRun(ctx context.Context, f *Factory, st *calsync.Store, rec calsync.RunRecord) {
	err := st.Update(context.WithoutCancel(ctx), func(tx *calsync.StoreTx) error {
		if err := tx.PutRun(rec); err != nil {
			return err
		}
		// A pass every two minutes is a quarter of a million runs a year; status needs only the recent ones.
		_, err := tx.PruneRuns(keepRuns)
		return err
	})
	if err != nil {
		l := f.Logger(rec.ID)
		l.Warn().Err(err).Msg("record the run in the state store")
	}
}

// logPassEnd ends a pass's log with one line saying how it went, so the log file alone answers "what did the
// 10:05 pass do?" when the scheduler threw its report away.
func logPassEnd(ctx context.Context, r *calsync.Report, runErr error) {
	ev := zerolog.Ctx(ctx).Info()
	if runErr != nil {
		ev = zerolog.Ctx(ctx).Warn()
	}
	ev = ev.Int("exit_code", ExitCode(runErr))
	if r != nil {
		var t calsync.MailboxSummary
		for _, m := range r.Mailboxes {
			t.Created += m.Created
			t.Updated += m.Updated
			t.Deleted += m.Deleted
			t.MovedInTF += m.MovedInTF
			t.Errors += m.Errors
		}
		ev = ev.Int("mailboxes", len(r.Mailboxes)).Int("created", t.Created).Int("updated", t.Updated).
			Int("deleted", t.Deleted).Int("moved_in_tf", t.MovedInTF).Int("errors", t.Errors).Int("held", r.Held).
			Float64("seconds", r.Finished.Sub(r.Started).Round(time.Millisecond).Seconds())
	}
	ev.Msg("pass finished")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
