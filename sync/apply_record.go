package sync

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
)

// applyStoreOnly is phase 3: the actions that change only the store, in one transaction.
func (ap *applier) applyStoreOnly() {
	if ap.ctx.Err() != nil {
		for _, a := range ap.local {
			ap.record(a, ap.ctx.Err())
		}
		return
	}
	if len(ap.local) == 0 {
		return
	}
	err := ap.e.Store.Update(ap.sctx, func(tx *StoreTx) error {
		for _, a := range ap.local {
			if err := ap.e.applyLocal(tx, ap.links, a); err != nil {
				return err
			}
		}
		return nil
	})
	for _, a := range ap.local {
		if err != nil {
			ap.record(a, fmt.Errorf("record in the state store: %w", err))
		} else {
			ap.record(a, nil)
		}
	}
}

// recordCopies remembers the technicians' copies the plan found.
func (ap *applier) recordCopies() { ap.e.recordCopies(ap.sctx, ap.plan) }

// recordMailboxes is phase 5: cursors and mailbox health; what was deferred or refused for good. A pass that was
// stopped saves no cursor and marks no mailbox failing: the next one reads from the old cursors.
func (ap *applier) recordMailboxes() {
	if ap.ctx.Err() != nil {
		ap.r.Interrupted = true
		return
	}
	ap.e.recordMailboxes(ap.sctx, ap.in, ap.failedMailbox, ap.plan.Held, ap.plan.KeepCursor)
	if err := ap.e.recordProblems(ap.sctx, ap.in, ap.r, ap.terminal, ap.cleared); err != nil {
		// Logged, not failed: the pass's changes are recorded already, and the next pass meets the same bad rows
		// and refusals again (a refusal is then tried once more) and records them then.
		ap.log.Error().Err(err).Msg("record bad rows and terminal failures in the state store")
	}
}

func (e *Engine) applyLocal(tx *StoreTx, links map[string]Link, a Action) error {
	now := e.Now()
	switch a.Kind {
	case ActRetire:
		return tx.DeleteLink(a.BookingID)
	case ActOrphan:
		return tx.PutOrphan(Orphan{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: a.EventID, Reason: a.Reason})
	case ActDetach:
		l := links[a.BookingID]
		l.Detached = true
		l.UpdatedAt = now
		return tx.PutLink(l)
	case ActRecord, ActRelink:
		ev := a.Observed
		if a.Kind == ActRelink {
			// An unconfirmed create whose event has been found is settled: a journal entry left behind would be
			// searched for on every pass, and its transaction id reused by a later create of the booking.
			if err := tx.DeletePending(a.BookingID, a.Mailbox); err != nil {
				return err
			}
			if err := tx.DeleteOrphan(a.Mailbox, ev.ID); err != nil {
				return err
			}
		}
		return tx.PutLink(Link{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: ev.ID, ChangeKey: ev.ChangeKey,
			Hash: a.Hash, TFVersion: a.TFVersion, EvStart: ev.Start, EvEnd: ev.End, AllDay: ev.AllDay, UpdatedAt: now})
	}
	return fmt.Errorf("unexpected store action %s", a.Kind)
}

// recordMailboxes saves each read mailbox's cursor (only when everything planned there succeeded, so no reported
// change is skipped) and its health for list-resources and status.
func (e *Engine) recordMailboxes(ctx context.Context, in *PlanInput, failed map[string]bool, held map[string]int, keep map[string]bool) {
	now := e.Now()
	prev, prevErr := e.Store.MailboxStates(ctx)
	if prevErr != nil {
		// Written without the previous states, every mailbox would lose its failure count and its last good sync:
		// the states are left as they are this pass, and the cursors are saved as always.
		zerolog.Ctx(ctx).Error().Err(prevErr).Msg("read mailbox states from the state store; their health is not updated this pass")
	}
	err := e.Store.Update(ctx, func(tx *StoreTx) error {
		for mb, o := range in.Observations {
			st := prev[mb]
			st.Mailbox = mb
			st.HeldDeletes = held[mb]
			switch {
			case o.Err != nil:
				st.LastError, st.LastErrorAt = o.Err.Error(), now
				st.ConsecutiveFailures++
			case failed[mb]:
				st.LastError, st.LastErrorAt = "some changes failed; see the run log", now
				st.ConsecutiveFailures++
			case keep[mb]:
				// A change it reported waits for another mailbox: healthy, but read again from the old cursor.
				st.LastSync, st.LastError, st.ConsecutiveFailures = now, "", 0
			default:
				st.LastSync, st.LastError, st.ConsecutiveFailures = now, "", 0
				if err := e.settleMailbox(tx, in, o); err != nil {
					return err
				}
				if o.Cursor != "" {
					w := in.Settings.Window(in.Now)
					if err := tx.PutCursor(Cursor{Mailbox: mb, Cursor: o.Cursor, WindowStart: w.Start, WindowEnd: w.End, UpdatedAt: now}); err != nil {
						return err
					}
				}
			}
			if prevErr != nil {
				continue
			}
			if err := tx.PutMailboxState(st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Logged, not failed: the pass's changes are recorded already, and a cursor not saved only makes the next
		// pass read the same changes again, as it would after a crash here.
		zerolog.Ctx(ctx).Error().Err(err).Msg("record mailbox state")
	}
}
