// Package exchangetest is the conformance suite every exchange.Calendar backend passes: the emulator's core
// directly, and the Graph and EWS backends over HTTPS against the emulator's fronts. A backend's test is one call:
//
//	func TestConformance(t *testing.T) {
//		exchangetest.Run(t, func(t *testing.T) exchangetest.Harness { ... })
//	}
//
// The suite reaches the backend only through exchange.Calendar and the server only through Control, so it says
// nothing about wire formats: those belong to each backend's own tests.
package exchangetest

import (
	"time"

	"tfsync/exchange"
)

// Control is what the suite needs from the server side: acting as a technician in Outlook, and looking at the
// server's truth. *emulator.Emulator implements it.
type Control interface {
	// MoveEvent moves an event to new times, keeping its time zone.
	MoveEvent(mailbox, id string, start, end time.Time) error
	// EditSubject changes an event's subject.
	EditSubject(mailbox, id, subject string) error
	// DeleteEvent deletes an event.
	DeleteEvent(mailbox, id string) error
	// AddUserEvent creates the user's own event (without a booking id) and returns it with its server id.
	AddUserEvent(mailbox string, ev exchange.Event) (exchange.Event, error)
	// ExpireCursors makes every change cursor issued for the mailbox so far invalid.
	ExpireCursors(mailbox string) error
	// Events returns every event in the mailbox as the server holds it.
	Events(mailbox string) []exchange.Event
}

// Harness is one fresh backend and server for one subtest.
type Harness struct {
	Calendar exchange.Calendar // the backend under test
	Control  Control           // the server behind it
	// Mailboxes are at least two usable mailboxes with empty calendars.
	Mailboxes []string
	// Denied is a mailbox the backend's credentials may not touch (an access policy, missing rights); "" skips
	// the subtests that need one.
	Denied string
	// Missing is an address without a mailbox; "" skips the subtests that need one.
	Missing string
	// Zone is the time zone events are written in; nil means Europe/Stockholm.
	Zone *time.Location
	// Real says the server is a real tenant or Exchange server (see RealHarness): the subtests that need the
	// emulator's control (expiring cursors, the user's own events, many creates) skip, and every event a subtest
	// creates is deleted when it ends.
	Real bool
}
