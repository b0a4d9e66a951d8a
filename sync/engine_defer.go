package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/tf"
)

// ErrInterrupted: the pass was stopped (SIGTERM, Ctrl-C) at a safe point. What the servers confirmed is recorded;
// the next pass resumes from the cursors saved before it.
var ErrInterrupted = errors.New("the pass was interrupted")

// passExtra is what the engine carries from observing to applying besides the planner's input.
type passExtra struct {
	deferred *Deferred
	bad      []tf.RowError
	// pass tags this pass's own writes (see own_writes in the store).
	pass string
}

// isTerminal reports whether a failed action can never succeed as it stands: the server refused the event or the
// item, or TF refused the booking's own data. Throttling, timeouts, 5xx and version conflicts are retryable, and a
// mailbox that cannot be reached is a failure of the mailbox, not of the booking.
func isTerminal(err error) bool {
	return errors.Is(err, exchange.ErrInvalidEvent) || errors.Is(err, tf.ErrInvalidMove)
}

// terminalHash identifies what a create, update or move-tf asked for, so that a refused one is not asked again
// until the booking, the calendar's time or the settings change.
func terminalHash(a Action) string { return Hash(a.Event) }

// settleDeferred puts what earlier passes deferred into this pass's observations and defers what this pass cannot
// act on: a calendar change to a booking whose TF row is bad is kept in the store, so that the mailbox's cursor can
// move on without losing it, and is put to the planner again once the row reads.
func (e *Engine) settleDeferred(in *PlanInput, d *Deferred) {
	in.Orphans, in.Terminal = d.Orphans, d.Terminal
	in.extra = &passExtra{deferred: d, bad: in.Bookings.Bad, pass: uuid.NewString()}
	bad := map[string]string{}
	for _, rb := range in.Bookings.Bad {
		bad[rb.BookingID] = rb.Error()
	}
	ids := slices.Sorted(maps.Keys(bad))
	for _, id := range ids {
		l, ok := in.Links[id]
		if !ok || l.Detached {
			continue
		}
		o := in.Observations[l.Mailbox]
		if o == nil || o.Err != nil {
			continue
		}
		df := Deferral{BookingID: id, Mailbox: l.Mailbox, EventID: l.EventID, Reason: "bad row in TF: " + bad[id]}
		if ev, seen := o.Events[l.EventID]; seen && ev.ChangeKey != l.ChangeKey {
			df.Event = ev
			o.Defer = append(o.Defer, df)
		} else if o.Gone[l.EventID] {
			df.Gone = true
			o.Defer = append(o.Defer, df)
		}
	}
	for _, df := range d.Deferrals {
		if bad[df.BookingID] != "" {
			continue
		}
		o := in.Observations[df.Mailbox]
		if o == nil || o.Err != nil {
			continue
		}
		o.Consumed = append(o.Consumed, df)
		l, ok := in.Links[df.BookingID]
		if !ok || l.Mailbox != df.Mailbox || l.EventID != df.EventID {
			continue
		}
		if _, seen := o.Events[df.EventID]; seen || o.Gone[df.EventID] {
			continue // the calendar changed it again since: the later state wins
		}
		if df.Gone {
			o.Gone[df.EventID] = true
			continue
		}
		ev := df.Event
		ev.BookingID = df.BookingID
		o.Events[df.EventID] = ev
	}
}

// settleMailbox records, with a mailbox's new cursor, what its read left for later and what it settled.
func (e *Engine) settleMailbox(tx *StoreTx, in *PlanInput, o *Observation) error {
	for _, df := range o.Defer {
		if err := tx.PutDeferral(df); err != nil {
			return err
		}
	}
	for _, df := range o.Consumed {
		if err := tx.DeleteDeferral(df.BookingID, df.Mailbox, df.EventID); err != nil {
			return err
		}
	}
	if in.extra == nil {
		return nil
	}
	return tx.ClearOwnWrites(o.Mailbox, in.extra.pass)
}

// ownWritesPass is the tag of this pass's own writes.
func ownWritesPass(in *PlanInput) string {
	if in.extra == nil {
		return ""
	}
	return in.extra.pass
}

// recordProblems keeps this pass's terminal failures and bad TF rows in the store and reports the ones met for the
// first time, which make the pass exit 4 once; later passes list them in `status` without failing again.
func (e *Engine) recordProblems(ctx context.Context, in *PlanInput, r *Report, terminal []TerminalFailure, cleared []string) error {
	if in.extra == nil {
		return nil
	}
	known := in.extra.deferred.BadRows
	var rows []BadRow
	for _, rb := range in.extra.bad {
		b := BadRow{BookingID: rb.BookingID, Problem: rb.Error()}
		if k, ok := known[rb.BookingID]; ok && k.Problem == b.Problem {
			b.FirstSeen = k.FirstSeen
		} else {
			r.NewBadRows++
			r.Problems = append(r.Problems, Skip{BookingID: rb.BookingID, Reason: "bad row in TF, not synced until " +
				"corrected: " + b.Problem})
		}
		rows = append(rows, b)
	}
	for _, t := range terminal {
		r.Problems = append(r.Problems, Skip{BookingID: t.BookingID, Mailbox: t.Mailbox, Reason: fmt.Sprintf(
			"%s refused for good, not tried again until the booking or the settings change: %s", t.Action, t.Reason)})
	}
	if len(terminal) == 0 && len(cleared) == 0 && r.NewBadRows == 0 && len(rows) == len(known) {
		return nil // nothing changed: an idle pass writes nothing
	}
	return e.Store.Update(ctx, func(tx *StoreTx) error {
		for _, id := range cleared {
			if err := tx.DeleteTerminal(id); err != nil {
				return err
			}
		}
		for _, t := range terminal {
			if err := tx.PutTerminal(t); err != nil {
				return err
			}
		}
		return tx.ReplaceBadRows(rows)
	})
}

// ready drops the actions that wait for an earlier action on their booking that did not happen.
func (e *Engine) ready(ctx context.Context, actions []Action, done map[ActionKind]map[string]bool) []Action {
	out := actions[:0:0]
	for _, a := range actions {
		if a.After != "" && !done[a.After][a.BookingID] {
			zerolog.Ctx(ctx).Info().Str("booking", a.BookingID).Str("mailbox", a.Mailbox).
				Msgf("%s skipped: it waits for a %s that did not happen", a.Kind, a.After)
			continue
		}
		out = append(out, a)
	}
	return out
}
