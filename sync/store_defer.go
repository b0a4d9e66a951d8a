package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"tfsync/exchange"
)

// Deferral is a calendar change a pass read but could not act on yet (its booking's TF row was bad). It is kept so
// that the mailbox's cursor can move on without losing the change.
type Deferral struct {
	BookingID string
	Mailbox   string
	EventID   string
	Gone      bool           // the event was deleted
	Event     exchange.Event // the event as read, unless Gone
	Reason    string
	CreatedAt time.Time
}

// BadRow is a TF row that could not be read, as last reported.
type BadRow struct {
	BookingID string
	Problem   string
	FirstSeen time.Time
}

// Deferred is everything earlier passes left for later: read together at the start of a pass.
type Deferred struct {
	Deferrals []Deferral
	Terminal  map[string]TerminalFailure // by booking id
	BadRows   map[string]BadRow          // by booking id
	Orphans   []Orphan
	// OwnWrites are events written after the read of each mailbox's saved cursor: mailbox -> event id -> run.
	OwnWrites map[string]map[string]string
}

// Deferred reads what earlier passes left for later.
func (s *Store) Deferred(ctx context.Context) (*Deferred, error) {
	d := &Deferred{Terminal: map[string]TerminalFailure{}, BadRows: map[string]BadRow{},
		OwnWrites: map[string]map[string]string{}}
	err := s.query(ctx, "read deferred changes from", `SELECT booking_id, mailbox, event_id, gone, event, reason,
		created_at FROM deferred ORDER BY booking_id, mailbox, event_id`, func(scan func(...any) error) error {
		var df Deferral
		var ev string
		if err := scan(&df.BookingID, &df.Mailbox, &df.EventID, &df.Gone, &ev, &df.Reason, storeTimeDest{&df.CreatedAt}); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(ev), &df.Event); err != nil {
			return fmt.Errorf("deferred event of %s: %w", df.BookingID, err)
		}
		d.Deferrals = append(d.Deferrals, df)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, "read terminal failures from", `SELECT booking_id, mailbox, action, hash, reason, at
		FROM terminal_failures`, func(scan func(...any) error) error {
		var t TerminalFailure
		if err := scan(&t.BookingID, &t.Mailbox, &t.Action, &t.Hash, &t.Reason, storeTimeDest{&t.At}); err != nil {
			return err
		}
		d.Terminal[t.BookingID] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, "read bad rows from", `SELECT booking_id, problem, first_seen FROM bad_rows`,
		func(scan func(...any) error) error {
			var b BadRow
			if err := scan(&b.BookingID, &b.Problem, storeTimeDest{&b.FirstSeen}); err != nil {
				return err
			}
			d.BadRows[b.BookingID] = b
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, "read orphans from", `SELECT booking_id, mailbox, event_id, reason, since FROM orphans
		ORDER BY mailbox, event_id`, func(scan func(...any) error) error {
		var o Orphan
		if err := scan(&o.BookingID, &o.Mailbox, &o.EventID, &o.Reason, storeTimeDest{&o.Since}); err != nil {
			return err
		}
		d.Orphans = append(d.Orphans, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, "read own writes from", `SELECT mailbox, event_id, run_id FROM own_writes`,
		func(scan func(...any) error) error {
			var mb, id, run string
			if err := scan(&mb, &id, &run); err != nil {
				return err
			}
			if d.OwnWrites[mb] == nil {
				d.OwnWrites[mb] = map[string]string{}
			}
			d.OwnWrites[mb][id] = run
			return nil
		})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// query runs a read and hands each row's Scan to fn.
func (s *Store) query(ctx context.Context, doing, q string, fn func(scan func(...any) error) error) error {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return s.wrapErr(doing, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return s.wrapErr(doing, err)
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrapErr(doing, err)
	}
	return nil
}

// PutDeferral keeps a calendar change for later.
func (tx *StoreTx) PutDeferral(d Deferral) error {
	ev, err := json.Marshal(d.Event)
	if err != nil {
		return fmt.Errorf("put deferral %s: %w", d.BookingID, err)
	}
	_, err = tx.exec("put deferral "+d.BookingID+" in", `INSERT INTO deferred (booking_id, mailbox, event_id, gone,
		event, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (booking_id, mailbox, event_id) DO UPDATE
		SET gone = excluded.gone, event = excluded.event, reason = excluded.reason`,
		d.BookingID, d.Mailbox, d.EventID, d.Gone, string(ev), d.Reason, storeTime(tx.now))
	return err
}

// DeleteDeferral forgets a deferred change once it was acted on.
func (tx *StoreTx) DeleteDeferral(bookingID, mailbox, eventID string) error {
	_, err := tx.exec("delete deferral "+bookingID+" from", `DELETE FROM deferred WHERE booking_id = ? AND
		mailbox = ? AND event_id = ?`, bookingID, mailbox, eventID)
	return err
}

// PutTerminal records an action refused for good.
func (tx *StoreTx) PutTerminal(t TerminalFailure) error {
	_, err := tx.exec("put terminal failure "+t.BookingID+" in", `INSERT INTO terminal_failures (booking_id,
		mailbox, action, hash, reason, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (booking_id) DO UPDATE SET
		mailbox = excluded.mailbox, action = excluded.action, hash = excluded.hash, reason = excluded.reason,
		at = excluded.at`, t.BookingID, t.Mailbox, string(t.Action), t.Hash, t.Reason, storeTime(tx.now))
	return err
}

// DeleteTerminal forgets a booking's terminal failure (it has since synced).
func (tx *StoreTx) DeleteTerminal(bookingID string) error {
	_, err := tx.exec("delete terminal failure "+bookingID+" from", `DELETE FROM terminal_failures WHERE
		booking_id = ?`, bookingID)
	return err
}

// ReplaceBadRows records this pass's bad TF rows, keeping when each was first seen.
func (tx *StoreTx) ReplaceBadRows(rows []BadRow) error {
	if _, err := tx.exec("clear bad rows in", `DELETE FROM bad_rows`); err != nil {
		return err
	}
	for _, b := range rows {
		first := b.FirstSeen
		if first.IsZero() {
			first = tx.now
		}
		if _, err := tx.exec("put bad row "+b.BookingID+" in", `INSERT OR REPLACE INTO bad_rows (booking_id, problem,
			first_seen) VALUES (?, ?, ?)`, b.BookingID, b.Problem, storeTime(first)); err != nil {
			return err
		}
	}
	return nil
}

// PutOrphan records an event to delete once its calendar can be read.
func (tx *StoreTx) PutOrphan(o Orphan) error {
	_, err := tx.exec("put orphan "+o.BookingID+" in", `INSERT INTO orphans (mailbox, event_id, booking_id, reason,
		since) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox, event_id) DO UPDATE SET booking_id = excluded.booking_id,
		reason = excluded.reason`, o.Mailbox, o.EventID, o.BookingID, o.Reason, storeTime(tx.now))
	return err
}

// DeleteOrphan forgets an orphan (its event is gone).
func (tx *StoreTx) DeleteOrphan(mailbox, eventID string) error {
	_, err := tx.exec("delete orphan from", `DELETE FROM orphans WHERE mailbox = ? AND event_id = ?`, mailbox, eventID)
	return err
}

// PutOwnWrite records that run created an event after its mailbox's cursor was read.
func (tx *StoreTx) PutOwnWrite(mailbox, eventID, run string) error {
	_, err := tx.exec("put own write in", `INSERT OR REPLACE INTO own_writes (mailbox, event_id, run_id)
		VALUES (?, ?, ?)`, mailbox, eventID, run)
	return err
}

// ClearOwnWrites forgets a mailbox's own writes made before run: the cursor saved now was read after them.
func (tx *StoreTx) ClearOwnWrites(mailbox, run string) error {
	_, err := tx.exec("clear own writes in", `DELETE FROM own_writes WHERE mailbox = ? AND run_id <> ?`, mailbox, run)
	return err
}

// BookingProblem is a booking tfsync leaves alone until someone acts: a bad TF row, an action refused for good, or
// an old event still to be deleted in a calendar that cannot be read. `status` and `list-resources` list them.
type BookingProblem struct {
	Kind      string    `json:"kind"` // "bad-row", "refused", "orphan"
	BookingID string    `json:"booking_id"`
	Mailbox   string    `json:"mailbox,omitempty"`
	Reason    string    `json:"reason"`
	Fix       string    `json:"fix"`
	Since     time.Time `json:"since"`
}

// BookingProblems lists the bookings left alone until someone acts, by booking id.
func (s *Store) BookingProblems(ctx context.Context) ([]BookingProblem, error) {
	d, err := s.Deferred(ctx)
	if err != nil {
		return nil, err
	}
	var out []BookingProblem
	for _, b := range d.BadRows {
		out = append(out, BookingProblem{Kind: "bad-row", BookingID: b.BookingID, Reason: b.Problem, Since: b.FirstSeen,
			Fix: "correct the booking in TF; a move made in the calendar meanwhile is kept and written to TF then"})
	}
	for _, t := range d.Terminal {
		out = append(out, BookingProblem{Kind: "refused", BookingID: t.BookingID, Mailbox: t.Mailbox, Since: t.At,
			Reason: fmt.Sprintf("%s refused for good: %s", t.Action, t.Reason),
			Fix:    "correct the booking in TF (or the settings that shape its event); the next pass tries again"})
	}
	for _, o := range d.Orphans {
		out = append(out, BookingProblem{Kind: "orphan", BookingID: o.BookingID, Mailbox: o.Mailbox, Since: o.Since,
			Reason: "old event not deleted yet: " + o.Reason,
			Fix:    "nothing: it is deleted once the calendar can be read; restore access to the mailbox to hurry it"})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].BookingID != out[j].BookingID {
			return out[i].BookingID < out[j].BookingID
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}
