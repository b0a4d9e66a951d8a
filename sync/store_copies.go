package sync

import (
	"context"
	"strings"
)

// Copies returns the technicians' copies already reported, keyed by copyKey.
func (s *Store) Copies(ctx context.Context) (map[mailboxEvent]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT mailbox, event_id FROM copies`)
	if err != nil {
		return nil, s.wrapErr("read technicians' copies from", err)
	}
	defer rows.Close()
	out := map[mailboxEvent]bool{}
	for rows.Next() {
		var mb, id string
		if err := rows.Scan(&mb, &id); err != nil {
			return nil, s.wrapErr("read technicians' copies from", err)
		}
		out[copyKey(mb, id)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapErr("read technicians' copies from", err)
	}
	return out, nil
}

// PutCopy remembers a technician's copy as reported.
func (tx *StoreTx) PutCopy(mailbox, eventID, bookingID string) error {
	_, err := tx.exec("record the technician's copy of "+bookingID+" in",
		`INSERT INTO copies (mailbox, event_id, booking_id, reported_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox, event_id) DO NOTHING`, strings.ToLower(mailbox), eventID, bookingID, storeTime(tx.now))
	return err
}

// copyKey keys a reported copy: the mailbox in lower case, as the store holds it, and the event id.
func copyKey(mailbox, eventID string) mailboxEvent {
	return mailboxEvent{Mailbox: strings.ToLower(mailbox), Event: eventID}
}
