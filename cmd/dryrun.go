package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// DryRunOptions are dry-run's flags.
type DryRunOptions struct {
	Resources []string
	Full      bool
	Force     bool
}

// NewCmdDryRun wires `tfsync dry-run`: the plan sync would apply, applied nowhere.
func NewCmdDryRun(f *Factory, runF func(context.Context, *DryRunOptions) error) *cobra.Command {
	opts := &DryRunOptions{}
	c := &cobra.Command{
		Use:   "dry-run",
		Short: "Show what a sync pass would do, changing nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDryRun(cmd.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.Full, "full", false, "plan as if every calendar were read in full")
	c.Flags().BoolVar(&opts.Force, "force", false, "plan as if --force were given to sync")
	c.Flags().StringArrayVar(&opts.Resources, "resource", nil, "only this TF resource's mailbox (id or e-mail; repeatable)")
	return c
}

func runDryRun(ctx context.Context, f *Factory, opts *DryRunOptions) error {
	ctx, runID := f.startRun(ctx)
	p, err := f.openPass(ctx, runID, passOptions{Resources: opts.Resources, Full: opts.Full, Force: opts.Force, ReadOnly: true})
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, waits := f.watchPass(ctx)
	report, err := p.engine.DryRun(ctx)
	f.endWatch(ctx, waits)
	if report == nil {
		return err
	}
	var notes []string
	if p.noStore {
		notes = append(notes, fmt.Sprintf("No state store yet at %s: this is the plan of a first pass, as if the store were empty.", p.cfg.State.Path))
	}
	if n := otherStoreNotice(ctx, p.cfg, p.src); n != "" {
		notes = append(notes, "A sync from this configuration would be refused (exit 2): "+n)
	}
	if perr := printDryRun(f, report, p.cfg.TF.TimeZone, notes, opts.Resources); perr != nil {
		return perr
	}
	return err
}
