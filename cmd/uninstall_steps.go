package cmd

// The steps of tfsync uninstall: find this installation's events, show the plan and ask, remove each event after
// checking it is this installation's, and move the state store aside.

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

	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

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

// removeUninstallEvents removes the events of each mailbox in names, recording what was removed and what was not in
// res. A mailbox outside allowed_domains is never contacted, not even to clean up.
func removeUninstallEvents(ctx context.Context, cal exchange.Calendar, st *calsync.Store, settings calsync.Settings,
	installation string, names []string, byMailbox map[string][]uninstallTarget, res *uninstallResult) {
	removed := map[string]int{}
	for _, mb := range names {
		if err := ctx.Err(); err != nil {
			break
		}
		if !settings.DomainAllowed(mb) {
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
}

// sortUninstallTargets orders the mailboxes and each mailbox's events, lists them in res and counts the events.
func sortUninstallTargets(byMailbox map[string][]uninstallTarget, res *uninstallResult) (names []string, total int) {
	names = make([]string, 0, len(byMailbox))
	for mb := range byMailbox {
		names = append(names, mb)
		sort.Slice(byMailbox[mb], func(i, j int) bool { return byMailbox[mb][i].BookingID < byMailbox[mb][j].BookingID })
	}
	sort.Strings(names)
	for _, mb := range names {
		res.Mailboxes = append(res.Mailboxes, uninstallMailbox{Mailbox: mb, Events: len(byMailbox[mb])})
		total += len(byMailbox[mb])
	}
	return names, total
}

// dropUninstallTables drops tfsync's own tables in TF's database and lists them in res.
func dropUninstallTables(ctx context.Context, w io.Writer, database string, res *uninstallResult) error {
	dropped, err := tf.DropOwnTables(ctx, database)
	if err != nil {
		return err
	}
	res.TFTables = append(res.TFTables, dropped...)
	if len(dropped) > 0 {
		fmt.Fprintf(w, "Dropped tfsync's tables in TF's database: %s.\n", strings.Join(dropped, ", "))
	}
	return nil
}
