// Package exchange is the contract between tfsync's engine and a calendar service.
//
// The engine speaks only in these types; the Graph and EWS backends and the emulator translate them to their wire
// formats. Every event tfsync writes carries its booking id in an extended property. Events without one are the
// user's own: backends may return them from Read (with an empty BookingID), the engine never plans on them.
package exchange

import (
	"context"
	"time"
)

// The extended property that carries the booking id on every event tfsync writes: a string named "BookingId" in
// tfsync's own private property set, so it cannot clash with another application's PublicStrings properties.
const (
	BookingPropertySetID = "6f3c1a52-8d4e-4b7a-9c2f-5e0d7b1a4c93"
	BookingPropertyName  = "BookingId"
	// GraphBookingPropertyID is the same property in Graph's singleValueExtendedProperties id syntax.
	GraphBookingPropertyID = "String {" + BookingPropertySetID + "} Name " + BookingPropertyName

	// InstallationPropertyName names the second property in the same set: the id of the tfsync installation (one
	// TF database) that wrote the event. Two installations on the same mailboxes (a trial beside production) tell
	// their events apart by it; an event with a booking id and no installation id was written by an earlier
	// version.
	InstallationPropertyName = "InstallationId"
	// GraphInstallationPropertyID is the installation property in Graph's id syntax.
	GraphInstallationPropertyID = "String {" + BookingPropertySetID + "} Name " + InstallationPropertyName
)

// ShowAs is how an event shows in the calendar's free/busy view (Outlook's "Visa som").
type ShowAs string

const (
	ShowFree             ShowAs = "free"
	ShowTentative        ShowAs = "tentative"
	ShowBusy             ShowAs = "busy"
	ShowOOF              ShowAs = "oof"
	ShowWorkingElsewhere ShowAs = "workingElsewhere"
)

// Valid reports whether s is one of the five values Outlook offers.
func (s ShowAs) Valid() bool {
	switch s {
	case ShowFree, ShowTentative, ShowBusy, ShowOOF, ShowWorkingElsewhere:
		return true
	}
	return false
}

// NoReminder is the ReminderMinutes value for an event without a reminder.
const NoReminder = -1

// Event is one calendar item in tfsync's own terms.
//
// Start and End are instants. For an all-day event they are midnights in TimeZone and End is the midnight after the
// last day (an event on 2026-03-29 runs from 2026-03-29T00:00 to 2026-03-30T00:00 local time).
type Event struct {
	ID        string // the server's id; empty before creation
	ChangeKey string // changes on every edit on the server; empty before creation
	BookingID string // the TF booking id from the extended property; empty for the user's own events
	// InstallationID is the installation that wrote the event, from the second extended property; empty for the
	// user's own events and for events written by a version before installation ids. Backends write it whenever
	// it is set and read it wherever they read the booking id.
	InstallationID string

	Subject  string
	Body     string // HTML
	Location string

	Start    time.Time
	End      time.Time
	AllDay   bool
	TimeZone string // IANA zone name the times are written in, e.g. "Europe/Stockholm"

	ShowAs          ShowAs
	ReminderMinutes int // NoReminder (-1) for none

	LastModified time.Time // server's last-modified time (UTC); zero before creation
}

// Window is a half-open time range [Start, End).
type Window struct {
	Start time.Time
	End   time.Time
}

// Overlaps reports whether the window overlaps the range [start, end).
func (w Window) Overlaps(start, end time.Time) bool {
	return start.Before(w.End) && end.After(w.Start)
}

// ReadRequest asks for one mailbox's calendar changes.
type ReadRequest struct {
	Mailbox string // primary SMTP address
	Window  Window // the window to read; a backend whose cursor was made for another window starts over
	Cursor  string // opaque cursor from a previous ReadResult; empty means a full read of the window

	// Known reports whether an event id is already linked by the engine. A backend that cannot see the booking id
	// in its change feed (Graph delta) looks up the booking id only for events that are not known. May be nil.
	Known func(eventID string) bool
}

// ReadResult is what a backend observed in one mailbox.
type ReadResult struct {
	Mailbox string
	// Full is true when Events is the complete content of the window (first read, expired cursor, new window):
	// an event absent from a full result is not in the window. When false, Events and Removed are only the changes
	// since the cursor.
	Full bool
	// Events are the events created or changed (or all events, when Full). The user's own events may appear with
	// an empty BookingID.
	Events []Event
	// Removed are ids the server reported as gone from the window: deleted, or moved outside the window. The engine
	// looks each linked one up with Get before it concludes the event was deleted.
	Removed []string
	// Cursor resumes reading after these changes. Save it only once the changes have been acted on.
	Cursor string
	// Err is set when the mailbox could not be read completely; the rest of the result is then unusable.
	Err error
}

// OpKind is the kind of a write.
type OpKind string

const (
	OpCreate OpKind = "create"
	OpUpdate OpKind = "update"
	OpDelete OpKind = "delete"
)

// Op is one write to one mailbox.
type Op struct {
	Kind    OpKind
	Mailbox string
	// Event is the full desired event for create and update (update needs Event.ID; Event.ChangeKey is advisory);
	// for delete only Event.ID is read.
	Event Event
	// TransactionID makes a create idempotent: a backend that supports it (Graph's transactionId) turns a repeated
	// create with the same id into no second event. Required for creates.
	TransactionID string
}

// OpResult is the outcome of one Op.
type OpResult struct {
	Op    Op
	Event Event // the event as stored after a create or update (at least ID, ChangeKey, Start, End)
	Err   error // nil on success; wraps a sentinel below
}

// Calendar is the contract every backend (Graph, EWS, the emulator's core) implements and exchangetest checks.
//
// Methods are safe for concurrent use. Backends own retries and throttling: an error they return has already been
// retried as far as sensible. Errors wrap the sentinels in errors.go.
type Calendar interface {
	// Read reads several mailboxes, each independently: one mailbox's failure is in its ReadResult.Err and does not
	// affect the others. Results come back in the order of reqs. An expired or foreign cursor is not an error: the
	// backend does a full read and sets Full.
	Read(ctx context.Context, reqs []ReadRequest) []ReadResult

	// Write applies ops, batched and concurrently as the backend sees fit (ops for one mailbox may run in any order;
	// the engine never sends two ops for the same event in one call). done is called with each group of results as
	// soon as the server has confirmed them, from any goroutine but never concurrently, so the caller can record
	// them before the next group. Every op gets exactly one result. Deleting an event that is already gone
	// succeeds. Updating an event that is gone fails with ErrNotFound.
	Write(ctx context.Context, ops []Op, done func([]OpResult))

	// Get returns one event by id, wherever it is in time. ErrNotFound when it no longer exists.
	Get(ctx context.Context, mailbox, eventID string) (Event, error)

	// FindByBooking returns the mailbox's events carrying bookingID, in any time range (recovery after a crash or
	// a lost store).
	FindByBooking(ctx context.Context, mailbox, bookingID string) ([]Event, error)

	// CheckAccess verifies that tfsync can read and write the mailbox's calendar. The error explains what to fix.
	CheckAccess(ctx context.Context, mailbox string) error

	// Close releases what the backend holds open between requests (idle connections), so that a process running
	// several passes (the demo, the benchmarks, the tests) does not keep one pass's connections after it. The
	// backend stays usable.
	Close() error
}

// Checker is implemented by backends that can check their credentials without naming a mailbox
// (test-connection's first step).
type Checker interface {
	CheckCredentials(ctx context.Context) error
}
