package sync

import (
	"errors"
	"fmt"

	"tfsync/exchange"
	"tfsync/tf"
)

var (
	// ErrPartial: some mailboxes or bookings failed; the rest synced.
	ErrPartial = errors.New("some mailboxes or bookings failed")
	// ErrDeletesHeld: deletes above max_delete_percent were held back; run with --force to apply them.
	ErrDeletesHeld = errors.New("deletes held back")
	// ErrTFRead: TF could not be read; nothing was changed anywhere.
	ErrTFRead = errors.New("cannot read TF")
	// ErrAllMailboxesFailed: not a single calendar could be read, usually credentials or connectivity.
	ErrAllMailboxesFailed = errors.New("no calendar could be read")
)

// ItemError is the failure of one action. Retryable says whether the next pass can be expected to fix it without
// anyone acting.
type ItemError struct {
	Action    ActionKind
	BookingID string
	Mailbox   string
	Err       error
}

func (e *ItemError) Error() string {
	return fmt.Sprintf("%s %s in %s: %v", e.Action, e.BookingID, e.Mailbox, e.Err)
}

func (e *ItemError) Unwrap() error { return e.Err }

// Retryable reports whether the next pass may succeed on its own.
func (e *ItemError) Retryable() bool {
	return exchange.Retryable(e.Err) || errors.Is(e.Err, tf.ErrVersionConflict) || errors.Is(e.Err, exchange.ErrNotFound)
}
