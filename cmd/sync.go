package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	calsync "tfsync/sync"
)

// SyncOptions are sync's flags.
type SyncOptions struct {
	Resources []string // --resource: scope the pass to these TF resources (ids or e-mails)
	Full      bool
	Force     bool
	Rebuild   bool
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
	return c
}

func runSync(ctx context.Context, f *Factory, opts *SyncOptions) error {
	ctx, runID := f.startRun(ctx)
	p, err := f.openPass(ctx, runID, passOptions{Resources: opts.Resources, Full: opts.Full || opts.Rebuild, Force: opts.Force,
		Rebuild: opts.Rebuild, Lock: true, CreateInstallation: true})
	if err != nil {
		// A pass that cannot even start (stale lock, TF unreadable, backend misconfigured) is mailed too.
		notifyAfterRun(ctx, f, nil, runID, nil, err)
		return err
	}
	defer p.Close()
	p.scope = opts.Resources
	logExpiryDaily(ctx, p.cfg, p.store, f.Now())
	report, err := p.engine.Sync(ctx)
	if err != nil {
		err = explainExpired(p.cfg, f.Now(), err)
		recordRun(ctx, f, p, runID, nil, err)
		return err
	}
	if err := printReport(f, report, p.cfg.TF.TimeZone, opts.Resources); err != nil {
		return err
	}
	err = explainExpired(p.cfg, f.Now(), report.Err())
	recordRun(ctx, f, p, runID, report, err)
	return err
}

// keepRuns is how many run records the store keeps.
const keepRuns = 1000

// recordRun keeps a history of passes for `tfsync status` and list-resources.
func recordRun(ctx context.Context, f *Factory, p *pass, runID string, r *calsync.Report, runErr error) {
	// A scoped pass is recorded with its scope, so status and show can tell it from a whole pass.
	summary, _ := json.Marshal(struct {
		Report *calsync.Report `json:"report,omitempty"`
		Error  string          `json:"error,omitempty"`
		Scope  []string        `json:"scope,omitempty"`
	}{r, errString(runErr), p.scope})
	started := f.Now()
	if r != nil {
		started = r.Started
	}
	err := p.store.Update(context.WithoutCancel(ctx), func(tx *calsync.StoreTx) error {
		if err := tx.PutRun(calsync.RunRecord{ID: runID, StartedAt: started, FinishedAt: f.Now(), ExitCode: ExitCode(runErr), Summary: summary}); err != nil {
			return err
		}
		// A pass every two minutes is a quarter of a million runs a year; status needs only the recent ones.
		_, err := tx.PruneRuns(keepRuns)
		return err
	})
	if err != nil {
		l := f.Logger(runID)
		l.Warn().Err(err).Msg("record the run in the state store")
	}
	notifyAfterRun(ctx, f, p, runID, r, runErr)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// printReport writes a pass's result to stdout. Times are local in zone; scope is the --resource list of a
// scoped pass.
func printReport(f *Factory, r *calsync.Report, zone *time.Location, scope []string) error {
	if f.Output == "json" {
		return f.setJSON(newReportJSON(r, zone, scope))
	}
	w := f.IO.Out
	if len(scope) > 0 {
		fmt.Fprintf(w, "Scoped pass: only the mailboxes of %s.\n", strings.Join(scope, ", "))
	}
	if r.DryRun {
		fmt.Fprintf(w, "Dry run: nothing was changed. Window %s to %s.\n\n", r.Plan.Window.Start.In(zone).Format("2006-01-02"), r.Plan.Window.End.In(zone).Format("2006-01-02"))
		printPlanTable(w, r, zone)
	} else {
		printSummaryTable(w, r)
	}
	printSkipped(w, r.Skipped)
	return nil
}
