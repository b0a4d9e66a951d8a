package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"tfsync/exchange"
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
		defer func() { _ = p.Result(res) }()
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
	if c, ok := cal.(interface{ Close() error }); ok {
		defer c.Close()
	}

	byMailbox := uninstallTargets(ctx, cal, settings, f.Now(), links, resources, installation, &res)
	names := make([]string, 0, len(byMailbox))
	for mb := range byMailbox {
		names = append(names, mb)
		sort.Slice(byMailbox[mb], func(i, j int) bool { return byMailbox[mb][i].BookingID < byMailbox[mb][j].BookingID })
	}
	sort.Strings(names)
	total := 0
	for _, mb := range names {
		res.Mailboxes = append(res.Mailboxes, uninstallMailbox{Mailbox: mb, Events: len(byMailbox[mb])})
		total += len(byMailbox[mb])
	}
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

	removed := map[string]int{}
	for _, mb := range names {
		if err := ctx.Err(); err != nil {
			break
		}
		if !settings.DomainAllowed(mb) {
			// A mailbox outside allowed_domains is never contacted, not even to clean up.
			for _, l := range byMailbox[mb] {
				res.NotRemoved = append(res.NotRemoved, uninstallFailure{mb, l.BookingID, l.EventID,
					"the mailbox is outside [sync] allowed_domains, so tfsync does not contact it: add its domain to remove it, or delete the event by hand"})
			}
			continue
		}
		n, failures := uninstallMailboxEvents(ctx, cal, st, mb, installation, byMailbox[mb])
		removed[mb] = n
		res.Removed += n
		res.NotRemoved = append(res.NotRemoved, failures...)
	}
	for i := range res.Mailboxes {
		res.Mailboxes[i].Removed = removed[res.Mailboxes[i].Mailbox]
	}
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
		dropped, err := tf.DropOwnTables(ctx, cfg.TF.Database)
		if err != nil {
			return err
		}
		res.TFTables = append(res.TFTables, dropped...)
		if len(dropped) > 0 {
			fmt.Fprintf(w, "Dropped tfsync's tables in TF's database: %s.\n", strings.Join(dropped, ", "))
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

// uninstallTargets lists what to remove: every linked event, and (once events carry this installation's id) every
// event stamped with it in the mailboxes tfsync may contact, linked or not. A calendar that cannot be read to look
// for those goes into res as not removed.
func uninstallTargets(ctx context.Context, cal exchange.Calendar, settings calsync.Settings, now time.Time,
	links map[string]calsync.Link, resources []tf.Resource, installation string, res *uninstallResult) map[string][]uninstallTarget {
	byMailbox := map[string][]uninstallTarget{}
	for _, l := range links {
		byMailbox[l.Mailbox] = append(byMailbox[l.Mailbox], uninstallTarget{BookingID: l.BookingID, EventID: l.EventID, Linked: true})
	}
	if installation != "" {
		swept := map[string]bool{}
		for mb := range byMailbox {
			swept[mb] = true
		}
		for _, r := range resources {
			if mb, skip := settings.Mailbox(r); skip == "" {
				swept[mb] = true
			}
		}
		var reqs []exchange.ReadRequest
		w := settings.Window(now)
		// History stays in calendars after its link is retired: look back two years.
		w.Start = w.Start.AddDate(-2, 0, 0)
		for mb := range swept {
			if settings.DomainAllowed(mb) {
				reqs = append(reqs, exchange.ReadRequest{Mailbox: mb, Window: w})
			}
		}
		sort.Slice(reqs, func(i, j int) bool { return reqs[i].Mailbox < reqs[j].Mailbox })
		type eventKey struct{ mailbox, eventID string }
		linkedIDs := map[eventKey]bool{}
		for _, l := range links {
			linkedIDs[eventKey{l.Mailbox, l.EventID}] = true
		}
		for _, rr := range cal.Read(ctx, reqs) {
			if rr.Err != nil {
				res.NotRemoved = append(res.NotRemoved, uninstallFailure{Mailbox: rr.Mailbox,
					Reason: "the calendar could not be read to look for unlinked events of this installation: " + rr.Err.Error()})
				continue
			}
			for _, ev := range rr.Events {
				if ev.BookingID != "" && ev.InstallationID == installation && !linkedIDs[eventKey{rr.Mailbox, ev.ID}] {
					byMailbox[rr.Mailbox] = append(byMailbox[rr.Mailbox], uninstallTarget{BookingID: ev.BookingID, EventID: ev.ID})
				}
			}
		}
	}
	return byMailbox
}

// printUninstallPlan shows what uninstall will remove, and what it leaves, before it asks.
func printUninstallPlan(w io.Writer, res *uninstallResult, total int, installation, storePath, startedAt string, resuming bool) {
	if resuming {
		fmt.Fprintf(w, "Resuming an uninstall started %s.\n", startedAt)
	}
	fmt.Fprintf(w, "tfsync uninstall removes %d events this installation wrote, from %d mailboxes:\n", total, len(res.Mailboxes))
	t := newTable(w, "MAILBOX", "EVENTS")
	for _, m := range res.Mailboxes {
		t.Row(m.Mailbox, m.Events)
	}
	t.Flush()
	if installation != "" {
		fmt.Fprintf(w, "Each event is checked first: only one carrying its booking id and this installation's id (%s), or no installation id (written before ids), is removed.\n", installation)
	} else {
		fmt.Fprintf(w, "Each event is checked first: only one carrying the booking id this installation linked it to is removed.\n")
	}
	fmt.Fprintf(w, "Left untouched: %s.\n", res.LeftUntouched)
	fmt.Fprintf(w, "Then the state store %s is moved aside.\n", storePath)
}

// confirmUninstall asks on a terminal, unless --yes: first to remove the events, then whether to drop tfsync's own
// tables in TF (ownTables) too. It returns whether to drop them.
func confirmUninstall(f *Factory, w io.Writer, opts *UninstallOptions, ownTables []string) (bool, error) {
	dropTables := opts.DropTFTables
	if opts.Yes {
		return dropTables, nil
	}
	if !f.IO.InTTY {
		return false, &usageError{"uninstall changes every technician's calendar: run it on a terminal to confirm, or give --yes"}
	}
	in := bufio.NewReader(f.IO.In)
	if !uninstallAsk(w, in, "Type yes to remove these events: ", "yes") {
		return false, &usageError{"uninstall not confirmed: nothing was changed"}
	}
	if len(ownTables) > 0 && !dropTables {
		dropTables = uninstallAsk(w, in, fmt.Sprintf("Also drop tfsync's own tables in TF's database (%s)? TF's own tables are kept. [y/N] ",
			strings.Join(ownTables, ", ")), "y", "yes")
	}
	return dropTables, nil
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

func uninstallAsk(w io.Writer, in *bufio.Reader, prompt string, yes ...string) bool {
	fmt.Fprint(w, prompt)
	line, _ := in.ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	for _, y := range yes {
		if answer == y {
			return true
		}
	}
	return false
}

// uninstallMailboxEvents removes one mailbox's linked events. Each is fetched first and removed only if it still
// carries the booking id it was linked to, so nothing but this installation's own events is ever deleted. Each
// confirmed removal drops its link at once: an interrupted uninstall resumes with what is left.
func uninstallMailboxEvents(ctx context.Context, cal exchange.Calendar, st *calsync.Store, mb, installation string, links []uninstallTarget) (int, []uninstallFailure) {
	var failures []uninstallFailure
	var ops []exchange.Op
	linkOf := map[string]uninstallTarget{}
	var gone, notOurs []uninstallTarget // events already gone; events that are not (any more) this installation's
	for _, l := range links {
		if ctx.Err() != nil {
			break
		}
		ev, err := cal.Get(ctx, mb, l.EventID)
		switch {
		case errors.Is(err, exchange.ErrNotFound):
			gone = append(gone, l)
		case err != nil:
			failures = append(failures, uninstallFailure{mb, l.BookingID, l.EventID, err.Error()})
		case !ownEvent(ev, l.BookingID, installation):
			failures = append(failures, uninstallFailure{mb, l.BookingID, l.EventID,
				"the event no longer carries this booking id and installation, so it is left alone; its link is dropped"})
			notOurs = append(notOurs, l)
		default:
			linkOf[l.EventID] = l
			ops = append(ops, exchange.Op{Kind: exchange.OpDelete, Mailbox: mb, Event: exchange.Event{ID: l.EventID}})
		}
	}
	removed := 0
	// Only a linked target's link is dropped: an unlinked duplicate shares its booking id with a link that may
	// point at another event, which must stay on record until that one is gone too.
	dropLinks := func(targets []uninstallTarget) {
		var ids []string
		for _, t := range targets {
			if t.Linked {
				ids = append(ids, t.BookingID)
			}
		}
		if len(ids) == 0 {
			return
		}
		err := st.Update(context.WithoutCancel(ctx), func(tx *calsync.StoreTx) error {
			for _, id := range ids {
				if err := tx.DeleteLink(id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("record removed events in the state store")
		}
	}
	dropLinks(append(gone, notOurs...))
	removed += len(gone)
	if len(ops) > 0 {
		cal.Write(ctx, ops, func(results []exchange.OpResult) {
			var done []uninstallTarget
			for _, r := range results {
				l := linkOf[r.Op.Event.ID]
				if r.Err != nil && !errors.Is(r.Err, exchange.ErrNotFound) {
					failures = append(failures, uninstallFailure{mb, l.BookingID, l.EventID, r.Err.Error()})
					continue
				}
				done = append(done, l)
				removed++
			}
			dropLinks(done)
		})
	}
	return removed, failures
}

// uninstallTarget is one event to remove: linked in the store, or found stamped with this installation's id.
type uninstallTarget struct {
	BookingID string
	EventID   string
	Linked    bool
}

// ownEvent reports whether an event is this installation's: it carries the expected booking id, and this
// installation's id or none (an event written before installations had ids, which only a link can vouch for).
func ownEvent(ev exchange.Event, bookingID, installation string) bool {
	return ev.BookingID != "" && ev.BookingID == bookingID && (ev.InstallationID == "" || ev.InstallationID == installation)
}

// moveStoreAside renames the state store (and its -wal and -shm files) to PATH.uninstalled-YYYYMMDDTHHMMSS.
func moveStoreAside(path string, now time.Time) (string, error) {
	base := path + ".uninstalled-" + now.Format("20060102T150405")
	target := base
	for i := 2; storeExists(target) || storeExists(target+"-wal"); i++ {
		target = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(path, target); err != nil {
		return "", fmt.Errorf("move the state store %s aside: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, target+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return target, fmt.Errorf("moved the state store to %s, but not its %s file: delete %s by hand: %w", target, suffix, path+suffix, err)
		}
	}
	return target, nil
}

func storeExists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// refuseWhileUninstalling stops a pass while an uninstall is unfinished.
func refuseWhileUninstalling(ctx context.Context, st *calsync.Store) error {
	_, since, ok, err := uninstallState(st)
	if err != nil || !ok {
		return nil
	}
	return fmt.Errorf("%w (started %s): a pass would put back the events it removed: finish it with 'tfsync uninstall --yes'", ErrUninstalling, since)
}
