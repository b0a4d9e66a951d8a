package sync

import (
	"context"
	"fmt"
	"slices"

	"tfsync/tf"
)

// moveTimesToTF is phase 1: times moved in calendars are written to TF first, since a restore of the event's other
// fields waits for them. They are written in groups, each group in one TF transaction when the source can, and
// recorded in one store transaction.
func (ap *applier) moveTimesToTF() {
	e := ap.e
	for group := range slices.Chunk(ap.moves, moveGroup) {
		results := e.moveInTF(ap.ctx, group)
		var ok []int
		for i, a := range group {
			if err := results[i].Err; err != nil {
				ap.record(a, fmt.Errorf("write the new time to TF: %w", err))
				continue
			}
			ok = append(ok, i)
		}
		if len(ok) == 0 {
			continue
		}
		err := e.Store.Update(ap.sctx, func(tx *StoreTx) error {
			for _, i := range ok {
				a, ev := group[i], group[i].Observed
				if err := tx.PutLink(Link{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: a.EventID,
					ChangeKey: ev.ChangeKey, Hash: a.Hash, TFVersion: results[i].Version, EvStart: ev.Start,
					EvEnd: ev.End, AllDay: ev.AllDay, UpdatedAt: e.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
		for _, i := range ok {
			ap.storeErr(group[i], err)
			ap.record(group[i], nil)
		}
	}
}

// moveGroup bounds the moves written to TF in one transaction, so that TF's own writers never wait long for it.
const moveGroup = 200

// batchMover is implemented by TF sources that can write several moves in one transaction (tf.SQLite).
type batchMover interface {
	MoveBookings(ctx context.Context, moves []tf.Move) []tf.MoveResult
}

// moveInTF writes the moves of actions to TF, together when the source can, and returns their results in order.
func (e *Engine) moveInTF(ctx context.Context, actions []Action) []tf.MoveResult {
	moves := make([]tf.Move, len(actions))
	for i, a := range actions {
		moves[i] = *a.Move
		moves[i].RunID = e.RunID
	}
	out := make([]tf.MoveResult, len(moves))
	if bm, ok := e.Source.(batchMover); ok {
		res := bm.MoveBookings(ctx, moves)
		if len(res) == len(moves) {
			return res
		}
		for i := range out {
			out[i].Err = fmt.Errorf("the TF source returned %d results for %d moves", len(res), len(moves))
		}
		return out
	}
	for i, m := range moves {
		out[i].Version, out[i].Err = e.Source.MoveBooking(ctx, m)
	}
	return out
}
