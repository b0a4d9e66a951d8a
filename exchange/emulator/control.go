package emulator

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"tfsync/exchange"
)

// This file is the control API: how tests and the demo set up mailboxes and act as a technician in Outlook. Control
// calls are not requests from the app: they are not counted, the fault hook does not see them, and access flags do
// not stop them (only an unknown or unlicensed mailbox does, since it has no calendar).

// AddMailbox creates a mailbox with an empty calendar, or sets the flags of an existing one (keeping its events).
func (e *Emulator) AddMailbox(addr string, opts MailboxOptions) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := normAddr(addr)
	if mb := e.mailboxes[key]; mb != nil {
		mb.opts = opts
		return
	}
	e.mailboxes[key] = &mailbox{
		addr:    key,
		opts:    opts,
		seq:     1,
		events:  map[string]*EventData{},
		history: map[string][]version{},
		txids:   map[string]string{},
	}
}

// SetMailbox changes an existing mailbox's flags (licence, access policy, EWS rights). It fails with
// ErrUnknownMailbox when AddMailbox never created it.
func (e *Emulator) SetMailbox(addr string, opts MailboxOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb := e.mailboxes[normAddr(addr)]
	if mb == nil {
		return fmt.Errorf("set mailbox %s: %w", addr, ErrUnknownMailbox)
	}
	mb.opts = opts
	return nil
}

// Mailbox reports a mailbox's flags and whether it exists.
func (e *Emulator) Mailbox(addr string) (MailboxOptions, bool) { return e.mailboxOptions(addr) }

// RemoveMailbox deletes a mailbox and its calendar, as when a user leaves: afterwards the address is unknown.
func (e *Emulator) RemoveMailbox(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mailboxes, normAddr(addr))
}

// SetFault installs a hook the core's Calendar consults before each operation (OpRead, OpCreate, OpUpdate,
// OpDelete, OpGet, OpFind, OpCheck with the mailbox; OpCredentials with ""). A non-nil error fails that operation
// (for Read, that mailbox's ReadResult.Err) with the error wrapped; return one wrapping an exchange sentinel
// (ErrUnavailable, ErrThrottled, ...) to drive the engine's error paths. nil removes the hook. The hook runs
// without the emulator's lock held, so it may call the control API, but it may be called concurrently.
func (e *Emulator) SetFault(f func(op, mailbox string) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fault = f
}

// MoveEvent moves an event to new times, as a technician dragging it in Outlook does; the time zone stays. An
// all-day event must still span midnights (else an error wrapping exchange.ErrInvalidEvent).
func (e *Emulator) MoveEvent(addr, id string, start, end time.Time) error {
	_, err := e.updateEvent(addr, id, "", func(d *EventData) error {
		d.Start, d.End = start, end
		return nil
	})
	if err != nil {
		return fmt.Errorf("move event %s in %s: %w", id, addr, err)
	}
	return nil
}

// EditEvent changes any fields of an event, as a user editing it in Outlook would (or a misbehaving client). The
// usual server rules apply: the change key and seq move on, and an invalid result is refused.
func (e *Emulator) EditEvent(addr, id string, edit func(*EventData)) error {
	_, err := e.updateEvent(addr, id, "", func(d *EventData) error {
		edit(d)
		return nil
	})
	if err != nil {
		return fmt.Errorf("edit event %s in %s: %w", id, addr, err)
	}
	return nil
}

// EditSubject changes an event's subject (exchangetest.Control's way to edit a field tfsync owns).
func (e *Emulator) EditSubject(addr, id, subject string) error {
	return e.EditEvent(addr, id, func(d *EventData) { d.Subject = subject })
}

// DeleteEvent deletes an event as a user would; ErrEventNotFound when it is already gone.
func (e *Emulator) DeleteEvent(addr, id string) error {
	if err := e.deleteEvent(addr, id); err != nil {
		return fmt.Errorf("delete event %s in %s: %w", id, addr, err)
	}
	return nil
}

// AddUserEvent creates the user's own event (ev.BookingID is ignored: the event carries no booking id) and returns
// it as stored.
func (e *Emulator) AddUserEvent(addr string, ev exchange.Event) (exchange.Event, error) {
	ev.BookingID = ""
	d := fromEvent(ev)
	stored, _, err := e.createEvent(addr, d)
	if err != nil {
		return exchange.Event{}, fmt.Errorf("add user event in %s: %w", addr, err)
	}
	return toEvent(stored), nil
}

// ExpireCursors makes every change cursor issued for the mailbox so far invalid: the core's Calendar then does a
// full read, the Graph front answers 410 Gone and the EWS front ErrorInvalidSyncStateData.
func (e *Emulator) ExpireCursors(addr string) error {
	if err := e.expireCursors(addr); err != nil {
		return fmt.Errorf("expire cursors of %s: %w", addr, err)
	}
	return nil
}

// Events returns the server's truth for a mailbox in tfsync's terms, sorted by start then id; nil for a mailbox
// without a calendar.
func (e *Emulator) Events(addr string) []exchange.Event {
	all, err := e.listEvents(addr, exchange.Window{})
	if err != nil {
		return nil
	}
	out := make([]exchange.Event, len(all))
	for i, d := range all {
		out[i] = toEvent(d)
	}
	return out
}

// RawEvents returns the mailbox's events as stored (every field), sorted by start then id; nil for a mailbox
// without a calendar.
func (e *Emulator) RawEvents(addr string) []EventData {
	all, err := e.listEvents(addr, exchange.Window{})
	if err != nil {
		return nil
	}
	return all
}

// Tombstones lists the mailbox's deleted events that change feeds can still report, in Seq order.
func (e *Emulator) Tombstones(addr string) []Tombstone {
	ts, err := e.tombstones(addr)
	if err != nil {
		return nil
	}
	return ts
}

// Seq returns the mailbox's modification sequence (0 for a mailbox without a calendar).
func (e *Emulator) Seq(addr string) uint64 {
	seq, err := e.currentSeq(addr)
	if errors.Is(err, exchange.ErrMailboxNotFound) {
		return 0
	}
	return seq
}

// Requests returns how many requests (operations of the core's Calendar, or requests the fronts counted) named
// the address, whether or not the mailbox exists. A test proves a mailbox was never contacted with Requests == 0.
func (e *Emulator) Requests(addr string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.requests[normAddr(addr)] {
		n += c
	}
	return n
}

// RequestsByOp returns Requests split by operation name (OpRead, OpCreate, ... or a front's own names).
func (e *Emulator) RequestsByOp(addr string) map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.requests[normAddr(addr)])
}

// RequestedMailboxes lists every address a request named, sorted.
func (e *Emulator) RequestedMailboxes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.requests))
}

// ResetRequests zeroes all request counters.
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = map[string]map[string]int{}
}
