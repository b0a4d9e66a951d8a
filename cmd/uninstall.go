package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	calsync "tfsync/sync"
	"tfsync/tf"
)

// uninstallNoticeKey marks an uninstall under way in the store's notices table: sync refuses to run until it is
// finished, since a pass would put back the events it removed.
const uninstallNoticeKey = "uninstall"

// ErrUninstalling is a sync or dry-run refused because an uninstall was started and not finished.
var ErrUninstalling = errors.New("an uninstall is under way")

// UninstallOptions are uninstall's flags.
type UninstallOptions struct {
	Yes          bool // confirm without asking (required off a terminal)
	DropTFTables bool // also drop tfsync's own tables (tfsync_*) in TF's database
}

// NewCmdUninstall wires `tfsync uninstall`.
func NewCmdUninstall(f *Factory, runF func(context.Context, *UninstallOptions) error) *cobra.Command {
	opts := &UninstallOptions{}
	c := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove every event this installation wrote from every calendar, then move the state store aside",
		Long: `uninstall removes the calendar events this tfsync installation wrote (those the state store links, and those
stamped with its installation id; each checked for its booking id and installation id before it is removed) from
every mailbox it may contact, and nothing else:
technicians' own events and other installations' events stay. It shows the plan and asks first (off a terminal
it needs --yes). TF's bookings are not touched; tfsync's own tables in TF (tfsync_audit) are dropped only when
confirmed or with --drop-tf-tables. When every event is gone the state store is moved aside. An interrupted or
partly failed uninstall is finished by running it again; until then 'tfsync sync' refuses to run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUninstall(cmd.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask for confirmation (needed when not on a terminal)")
	c.Flags().BoolVar(&opts.DropTFTables, "drop-tf-tables", false, "also drop tfsync's own tables (tfsync_audit) in TF's database")
	return c
}

// uninstallResult is uninstall's JSON result (docs/json.md).
type uninstallResult struct {
	Mailboxes     []uninstallMailbox `json:"mailboxes"`
	Removed       int                `json:"removed"`
	NotRemoved    []uninstallFailure `json:"not_removed"`
	TFTables      []string           `json:"tf_tables_dropped"`
	StoreMovedTo  string             `json:"state_store_moved_to"`
	Complete      bool               `json:"complete"`
	Confirmed     bool               `json:"confirmed"`
	LeftUntouched string             `json:"left_untouched"`
}

type uninstallMailbox struct {
	Mailbox string `json:"mailbox"`
	Events  int    `json:"events"`  // planned
	Removed int    `json:"removed"` // confirmed gone
}

type uninstallFailure struct {
	Mailbox   string `json:"mailbox"`
	BookingID string `json:"booking_id"`
	EventID   string `json:"event_id"`
	Reason    string `json:"reason"`
}

func runUninstall(ctx context.Context, f *Factory, opts *UninstallOptions) error {
	ctx, _ = f.startRun(ctx)
	log := zerolog.Ctx(ctx)
	cfg, err := f.Config(ctx)
	if err != nil {
		return err
	}
	res := uninstallResult{Mailboxes: []uninstallMailbox{}, NotRemoved: []uninstallFailure{}, TFTables: []string{},
		LeftUntouched: "TF's bookings and resources; technicians' own events; other installations' events"}
	// With --output json the plan, the prompts and the progress go to stderr, and stdout gets the result.
	p := f.printer()
	if p.JSON() {
		defer func() { _ = p.Result(res) }() // strings, counts and booleans: encoding cannot fail
	}
	w := p.Text()

	// The run lock keeps a scheduled pass from writing while events are removed.
	lock, err := calsync.AcquireRunLock(cfg.State.Path, f.Now(), lockStaleAfter)
	if err != nil {
		return fmt.Errorf("take the run lock (stop the scheduled task first, or wait for the pass to end): %w", err)
	}
	defer lock.Release()
	if _, err := os.Stat(cfg.State.Path); errors.Is(err, fs.ErrNotExist) {
		return &usageError{fmt.Sprintf("there is no state store at %s ([state] path): nothing to uninstall, or it was already moved aside", cfg.State.Path)}
	}
	st, err := f.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	storeOpen := true
	defer func() {
		if storeOpen {
			st.Close()
		}
	}()
	links, err := st.Links(ctx)
	if err != nil {
		return err
	}
	src, err := f.OpenSource(cfg)
	if err != nil {
		return err
	}
	installation, err := installationID(ctx, src, false)
	resources, rerr := src.Resources(ctx)
	src.Close()
	if err != nil {
		return fmt.Errorf("read the installation id from TF: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read resources from TF: %w", rerr)
	}
	settings := Settings(cfg)
	cal, err := f.NewCalendar(ctx, cfg)
	if err != nil {
		return err
	}
	defer cal.Close()

	byMailbox := uninstallTargets(ctx, cal, settings, f.Now(), links, resources, installation, &res)
	names, total := sortUninstallTargets(byMailbox, &res)
	// Only to offer dropping them: a TF database whose tables cannot be listed gets no such question, and
	// --drop-tf-tables reports the error itself.
	ownTables, _ := tf.OwnTables(ctx, cfg.TF.Database)

	// The plan, then the confirmation.
	// A notice that cannot be read counts as none: marking the uninstall below writes to the same store and says
	// what is wrong with it.
	_, state, resuming, _ := uninstallState(st)
	printUninstallPlan(w, &res, total, installation, cfg.State.Path, state, resuming)
	dropTables, err := confirmUninstall(f, w, opts, ownTables)
	if err != nil {
		return err
	}
	res.Confirmed = true

	// From here on a scheduled pass must not put the events back.
	if err := st.Update(ctx, func(tx *calsync.StoreTx) error {
		if resuming {
			return nil
		}
		return tx.PutNotice(uninstallNoticeKey, f.Now(), f.Now().In(cfg.TF.TimeZone).Format("2006-01-02 15:04"))
	}); err != nil {
		return fmt.Errorf("mark the uninstall in the state store: %w", err)
	}

	removeUninstallEvents(ctx, cal, st, settings, installation, names, byMailbox, &res)
	fmt.Fprintf(w, "\nRemoved %d of %d events.\n", res.Removed, total)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("uninstall interrupted after removing %d events: run 'tfsync uninstall --yes' again to finish: %w", res.Removed, err)
	}
	if len(res.NotRemoved) > 0 {
		fmt.Fprintln(w, "Not removed (run 'tfsync uninstall' again once the cause is fixed):")
		for _, fl := range res.NotRemoved {
			fmt.Fprintf(w, "  %s %s (event %s): %s\n", fl.Mailbox, fl.BookingID, fl.EventID, fl.Reason)
		}
		log.Warn().Int("not_removed", len(res.NotRemoved)).Msg("uninstall incomplete; the state store is kept so it can be finished")
		return fmt.Errorf("%w: %d events could not be removed; the state store is kept: run 'tfsync uninstall' again to finish",
			calsync.ErrPartial, len(res.NotRemoved))
	}

	if dropTables {
		if err := dropUninstallTables(ctx, w, cfg.TF.Database, &res); err != nil {
			return err
		}
	}
	st.Close()
	storeOpen = false
	moved, err := moveStoreAside(cfg.State.Path, f.Now())
	if err != nil {
		return err
	}
	res.StoreMovedTo, res.Complete = moved, true
	fmt.Fprintf(w, "Moved the state store to %s. tfsync is uninstalled: remove its scheduled task and files when you like.\n", moved)
	return nil
}

func uninstallState(st *calsync.Store) (time.Time, string, bool, error) {
	var (
		at    time.Time
		state string
		ok    bool
	)
	err := st.Update(context.Background(), func(tx *calsync.StoreTx) error {
		var err error
		at, state, ok, err = tx.GetNotice(uninstallNoticeKey)
		return err
	})
	return at, state, ok, err
}

// refuseWhileUninstalling stops a pass while an uninstall is unfinished.
func refuseWhileUninstalling(ctx context.Context, st *calsync.Store) error {
	_, since, ok, err := uninstallState(st)
	if err != nil || !ok {
		return nil
	}
	return fmt.Errorf("%w (started %s): a pass would put back the events it removed: finish it with 'tfsync uninstall --yes'", ErrUninstalling, since)
}
