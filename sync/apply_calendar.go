package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"tfsync/exchange"
)

// deleteEvents is phase 2: deletes go before creates, since a reassigned booking's new event waits until its old
// one is gone. Each group the server confirms is recorded in one store transaction.
func (ap *applier) deleteEvents() {
	e := ap.e
	deletes := e.ready(ap.ctx, ap.deletes, ap.done)
	e.write(ap.ctx, deletes, func(group []actionResult) {
		var ok []Action
		for _, ar := range group {
			if ar.res.Err != nil {
				ap.record(ar.a, ar.res.Err)
				continue
			}
			ok = append(ok, ar.a)
		}
		if len(ok) == 0 {
			return
		}
		err := e.Store.Update(ap.sctx, func(tx *StoreTx) error {
			for _, a := range ok {
				if err := ap.forgetDeleted(tx, a); err != nil {
					return err
				}
			}
			return nil
		})
		for _, a := range ok {
			ap.storeErr(a, err)
			ap.record(a, nil)
		}
	})
}

// forgetDeleted drops what the store knows of a's event, now confirmed deleted. A confirmed delete also settles an
// unconfirmed create of the booking in that mailbox (its event was found and removed), unless the pass creates it
// there again.
func (ap *applier) forgetDeleted(tx *StoreTx, a Action) error {
	if l, found := ap.links[a.BookingID]; found && l.EventID == a.EventID && l.Mailbox == a.Mailbox {
		if err := tx.DeleteLink(a.BookingID); err != nil {
			return err
		}
	}
	if !ap.creating[bookingMailbox{a.BookingID, a.Mailbox}] {
		if err := tx.DeletePending(a.BookingID, a.Mailbox); err != nil {
			return err
		}
	}
	return tx.DeleteOrphan(a.Mailbox, a.EventID)
}

// writeEvents is phase 4: creates and updates. Creates are journalled with their transaction id first. Each group
// the server confirms is recorded in one store transaction: one per result would cost a commit per event, which at
// 10,000 creates is most of a first pass's CPU time.
func (ap *applier) writeEvents() {
	ready := ap.e.ready(ap.ctx, ap.writes, ap.done)
	if ap.ctx.Err() != nil {
		for _, a := range ready {
			ap.record(a, ap.ctx.Err())
		}
		ready = nil
	}
	pendingTx, ready := ap.journalCreates(ready)
	ap.e.writeWithTx(ap.ctx, ready, pendingTx, ap.recordWrites)
}

// journalCreates gives every create in ready a transaction id, reusing the one an earlier pass journalled, and
// journals the new ones. It returns the ids and the actions that may be sent: none when the journal could not be
// read or written, since a create sent without its journalled id could be made twice.
func (ap *applier) journalCreates(ready []Action) (map[bookingMailbox]string, []Action) {
	e := ap.e
	pendingTx := map[bookingMailbox]string{}
	prev, err := e.Store.PendingCreates(ap.sctx)
	if err != nil {
		// Without the journal a create that an earlier pass sent unconfirmed would get a new id, and the server
		// could not recognise it as the same create. Nothing is sent: as after a crash here, the next pass resumes.
		for _, a := range ready {
			ap.record(a, fmt.Errorf("read the journal of unconfirmed creates from the state store: %w", err))
		}
		ready = nil
	}
	for _, pc := range prev {
		pendingTx[bookingMailbox{pc.BookingID, pc.Mailbox}] = pc.TransactionID
	}
	err = e.Store.Update(ap.sctx, func(tx *StoreTx) error {
		// A journalled create the calendar provably does not hold, for a booking this pass does not create
		// again (cancelled meanwhile, say), would otherwise be looked for on every pass.
		for mb, o := range ap.in.Observations {
			for _, id := range o.NotCreated {
				if !ap.creating[bookingMailbox{id, mb}] {
					if err := tx.DeletePending(id, mb); err != nil {
						return err
					}
				}
			}
		}
		for i := range ready {
			a := &ready[i]
			if a.Kind != ActCreate {
				continue
			}
			key := bookingMailbox{a.BookingID, a.Mailbox}
			if pendingTx[key] == "" {
				pendingTx[key] = e.newTransactionID()
				if err := tx.PutPending(Pending{BookingID: a.BookingID, Mailbox: a.Mailbox, TransactionID: pendingTx[key], CreatedAt: e.Now()}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, a := range ready {
			ap.record(a, fmt.Errorf("journal the create in the state store: %w", err))
		}
		ready = nil
	}
	return pendingTx, ready
}

// vanished is an update whose event was deleted between the read and the write: it is treated as deleted by the
// technician.
func vanished(ar actionResult) bool {
	return ar.a.Kind == ActUpdate && errors.Is(ar.res.Err, exchange.ErrNotFound)
}

// recordWrites records one group of creates and updates the server answered, in one store transaction.
func (ap *applier) recordWrites(group []actionResult) {
	err := ap.e.Store.Update(ap.sctx, func(tx *StoreTx) error {
		for _, ar := range group {
			if err := ap.putWrite(tx, ar); err != nil {
				return err
			}
		}
		return nil
	})
	for _, ar := range group {
		a := ar.a
		if ar.res.Err != nil {
			if vanished(ar) {
				ap.storeErr(a, err)
			}
			ap.record(a, ar.res.Err)
			continue
		}
		ap.storeErr(a, err)
		a.EventID = confirmedEvent(ar).ID
		ap.record(a, nil)
	}
}

// putWrite records in tx what one answered create or update changed.
func (ap *applier) putWrite(tx *StoreTx, ar actionResult) error {
	e, a, res := ap.e, ar.a, ar.res
	if res.Err != nil {
		if !vanished(ar) {
			return nil
		}
		if e.Settings.OnCalendarDelete == DeleteDetach {
			l := ap.links[a.BookingID]
			l.Detached = true
			l.UpdatedAt = e.Now()
			return tx.PutLink(l)
		}
		return tx.DeleteLink(a.BookingID)
	}
	ev := confirmedEvent(ar)
	if a.Kind == ActCreate {
		if err := tx.DeletePending(a.BookingID, a.Mailbox); err != nil {
			return err
		}
		// An update needs no record: its event existed when this pass's cursor was read.
		if err := tx.PutOwnWrite(a.Mailbox, ev.ID, ownWritesPass(ap.in)); err != nil {
			return err
		}
	}
	return tx.PutLink(Link{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: ev.ID,
		ChangeKey: ev.ChangeKey, Hash: a.Hash, TFVersion: a.TFVersion, EvStart: a.Event.Start,
		EvEnd: a.Event.End, AllDay: a.Event.AllDay, UpdatedAt: e.Now()})
}

// actionResult is a planned action with the backend's result of its write.
type actionResult struct {
	a   Action
	res exchange.OpResult
}

// confirmedEvent is the event a successful create or update left on the server; it keeps the planned id when the
// backend's answer named none.
func confirmedEvent(ar actionResult) exchange.Event {
	ev := ar.res.Event
	if ev.ID == "" {
		ev.ID = ar.a.EventID
	}
	return ev
}

func (e *Engine) write(ctx context.Context, actions []Action, done func([]actionResult)) {
	e.writeWithTx(ctx, actions, nil, done)
}

// writeWithTx sends the actions' writes and hands done each group of results the backend confirms together.
func (e *Engine) writeWithTx(ctx context.Context, actions []Action, txIDs map[bookingMailbox]string, done func([]actionResult)) {
	if len(actions) == 0 {
		return
	}
	confirmed := 0
	ops := make([]exchange.Op, len(actions))
	// Actions are found by index, not copied into the map: at 10,000 creates the copies are megabytes.
	byOp := make(map[opKey]int, len(actions))
	for i, a := range actions {
		op := exchange.Op{Kind: exchange.OpKind(a.Kind), Mailbox: a.Mailbox, Event: a.Event}
		if a.Kind == ActDelete {
			op.Event = exchange.Event{ID: a.EventID, BookingID: a.BookingID}
		}
		if a.Kind == ActUpdate {
			op.Event.ID = a.EventID
		}
		if a.Kind == ActCreate {
			op.TransactionID = txIDs[bookingMailbox{a.BookingID, a.Mailbox}]
		}
		if a.Kind != ActDelete && e.Settings.InstallationID != "" {
			// Every event this installation writes names it, whatever the action was planned from.
			op.Event.InstallationID = e.Settings.InstallationID
		}
		ops[i] = op
		byOp[keyOf(op)] = i
	}
	e.Calendar.Write(ctx, ops, func(results []exchange.OpResult) {
		group := make([]actionResult, 0, len(results))
		for _, res := range results {
			if i, ok := byOp[keyOf(res.Op)]; ok {
				group = append(group, actionResult{a: actions[i], res: res})
			}
		}
		if len(group) > 0 {
			done(group)
		}
		confirmed += len(results)
		if e.Progress != nil {
			e.Progress(confirmed, len(ops))
		}
	})
}

// opKey finds a backend's result among the actions it was sent for.
type opKey struct{ kind, mailbox, booking, event string }

func keyOf(op exchange.Op) opKey {
	return opKey{string(op.Kind), op.Mailbox, op.Event.BookingID, op.Event.ID}
}

func (e *Engine) newTransactionID() string {
	if e.NewTransactionID != nil {
		return e.NewTransactionID()
	}
	return uuid.NewString()
}
