package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StoreTx is one write transaction of Store.Update. It is valid only inside the function passed to Update and is
// not safe for concurrent use.
type StoreTx struct {
	ctx   context.Context
	tx    *sql.Tx
	now   time.Time // the store clock's time when Update began, in UTC
	stmts map[string]*sql.Stmt
	store *Store
}

// exec runs a statement, preparing it once per transaction so that thousands of PutLink calls in one Update cost
// one parse.
func (tx *StoreTx) exec(doing, query string, args ...any) (sql.Result, error) {
	stmt, ok := tx.stmts[query]
	if !ok {
		var err error
		stmt, err = tx.tx.PrepareContext(tx.ctx, query)
		if err != nil {
			return nil, tx.store.wrapErr(doing, err)
		}
		// Statements prepared on a transaction close with it.
		tx.stmts[query] = stmt
	}
	res, err := stmt.ExecContext(tx.ctx, args...)
	if err != nil {
		return nil, tx.store.wrapErr(doing, err)
	}
	return res, nil
}

const storePutLinkSQL = `INSERT INTO links (booking_id, mailbox, event_id, change_key, hash, tf_version, ev_start,
	ev_end, all_day, detached, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (booking_id) DO UPDATE SET mailbox = excluded.mailbox, event_id = excluded.event_id,
	change_key = excluded.change_key, hash = excluded.hash, tf_version = excluded.tf_version,
	ev_start = excluded.ev_start, ev_end = excluded.ev_end, all_day = excluded.all_day,
	detached = excluded.detached, updated_at = excluded.updated_at`

// PutLink inserts or replaces the link of l.BookingID. UpdatedAt is set to the transaction's time.
func (tx *StoreTx) PutLink(l Link) error {
	if l.BookingID == "" || l.Mailbox == "" {
		return fmt.Errorf("put link %q: booking id and mailbox are required", l.BookingID)
	}
	_, err := tx.exec("put link "+l.BookingID+" in", storePutLinkSQL, l.BookingID, l.Mailbox, l.EventID, l.ChangeKey,
		l.Hash, l.TFVersion, storeTime(l.EvStart), storeTime(l.EvEnd), l.AllDay, l.Detached, storeTime(tx.now))
	return err
}

// DeleteLink removes the link of bookingID; a missing link is not an error.
func (tx *StoreTx) DeleteLink(bookingID string) error {
	_, err := tx.exec("delete link "+bookingID+" from", "DELETE FROM links WHERE booking_id = ?", bookingID)
	return err
}

// PutPending journals a create before it is sent. A zero CreatedAt is the transaction's time.
func (tx *StoreTx) PutPending(p Pending) error {
	if p.BookingID == "" || p.Mailbox == "" || p.TransactionID == "" {
		return fmt.Errorf("put pending create %q: booking id, mailbox and transaction id are required", p.BookingID)
	}
	created := p.CreatedAt
	if created.IsZero() {
		created = tx.now
	}
	_, err := tx.exec("put pending create "+p.BookingID+" in", `INSERT INTO pending (booking_id, mailbox,
		transaction_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (booking_id, mailbox) DO UPDATE SET
		transaction_id = excluded.transaction_id, created_at = excluded.created_at`,
		p.BookingID, p.Mailbox, p.TransactionID, storeTime(created))
	return err
}

// DeletePending removes a journalled create once it is confirmed (or found); a missing entry is not an error.
func (tx *StoreTx) DeletePending(bookingID, mailbox string) error {
	_, err := tx.exec("delete pending create "+bookingID+" from",
		"DELETE FROM pending WHERE booking_id = ? AND mailbox = ?", bookingID, mailbox)
	return err
}

// PutCursor inserts or replaces a mailbox's cursor. UpdatedAt is set to the transaction's time.
func (tx *StoreTx) PutCursor(c Cursor) error {
	if c.Mailbox == "" {
		return errors.New("put cursor: mailbox is required")
	}
	_, err := tx.exec("put cursor of "+c.Mailbox+" in", `INSERT INTO cursors (mailbox, cursor, window_start,
		window_end, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET cursor = excluded.cursor,
		window_start = excluded.window_start, window_end = excluded.window_end, updated_at = excluded.updated_at`,
		c.Mailbox, c.Cursor, storeTime(c.WindowStart), storeTime(c.WindowEnd), storeTime(tx.now))
	return err
}

// DeleteCursor forgets a mailbox's cursor, so its next read is a full one; a missing cursor is not an error.
func (tx *StoreTx) DeleteCursor(mailbox string) error {
	_, err := tx.exec("delete cursor of "+mailbox+" from", "DELETE FROM cursors WHERE mailbox = ?", mailbox)
	return err
}

// PutMailboxState inserts or replaces a mailbox's state as given.
func (tx *StoreTx) PutMailboxState(m MailboxState) error {
	if m.Mailbox == "" {
		return errors.New("put mailbox state: mailbox is required")
	}
	_, err := tx.exec("put state of "+m.Mailbox+" in", `INSERT INTO mailboxes (mailbox, last_sync, last_error,
		last_error_at, held_deletes, consecutive_failures) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE
		SET last_sync = excluded.last_sync, last_error = excluded.last_error, last_error_at = excluded.last_error_at,
		held_deletes = excluded.held_deletes, consecutive_failures = excluded.consecutive_failures`,
		m.Mailbox, storeTime(m.LastSync), m.LastError, storeTime(m.LastErrorAt), m.HeldDeletes, m.ConsecutiveFailures)
	return err
}

// PutRun inserts or replaces a run record: a pass records itself when it starts and again when it finishes.
// Summary must be JSON or nil.
func (tx *StoreTx) PutRun(r RunRecord) error {
	if r.ID == "" || r.StartedAt.IsZero() {
		return fmt.Errorf("put run %q: id and start time are required", r.ID)
	}
	var summary any
	if r.Summary != nil {
		if !json.Valid(r.Summary) {
			return fmt.Errorf("put run %s: the summary is not valid JSON", r.ID)
		}
		summary = string(r.Summary)
	}
	outcome := r.Outcome
	if outcome == "" {
		outcome = RunPass
	}
	_, err := tx.exec("put run "+r.ID+" in", `INSERT INTO runs (id, started_at, finished_at, exit_code, summary,
		outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at,
		finished_at = excluded.finished_at, exit_code = excluded.exit_code, summary = excluded.summary,
		outcome = excluded.outcome, error = excluded.error`,
		r.ID, storeTime(r.StartedAt), storeTime(r.FinishedAt), r.ExitCode, summary, outcome, r.Error)
	return err
}

// PruneRuns deletes all but the newest keep runs and returns how many it deleted. A pass every two minutes adds
// about 260,000 runs a year, so cmd should prune after each run.
func (tx *StoreTx) PruneRuns(keep int) (int64, error) {
	if keep < 0 {
		keep = 0
	}
	res, err := tx.exec("prune runs in", `DELETE FROM runs WHERE id NOT IN
		(SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT ?)`, keep)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune runs: %w", err)
	}
	return n, nil
}

// GetNotice returns when the notice key was last sent and the state it was sent for; ok is false when it never was.
func (tx *StoreTx) GetNotice(key string) (lastSent time.Time, state string, ok bool, err error) {
	// Reads go through the transaction too, so a read-then-write decision is atomic.
	stmt, found := tx.stmts[storeGetNoticeSQL]
	if !found {
		stmt, err = tx.tx.PrepareContext(tx.ctx, storeGetNoticeSQL)
		if err != nil {
			return time.Time{}, "", false, tx.store.wrapErr("read notice "+key+" from", err)
		}
		tx.stmts[storeGetNoticeSQL] = stmt
	}
	err = stmt.QueryRowContext(tx.ctx, key).Scan(storeTimeDest{&lastSent}, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, tx.store.wrapErr("read notice "+key+" from", err)
	}
	return lastSent, state, true, nil
}

const storeGetNoticeSQL = "SELECT last_sent_at, state FROM notices WHERE key = ?"

// PutNotice records that the notice key was sent at at for state.
func (tx *StoreTx) PutNotice(key string, at time.Time, state string) error {
	if key == "" {
		return errors.New("put notice: key is required")
	}
	_, err := tx.exec("put notice "+key+" in", `INSERT INTO notices (key, last_sent_at, state) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET last_sent_at = excluded.last_sent_at, state = excluded.state`,
		key, storeTime(at), state)
	return err
}
