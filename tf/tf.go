// Package tf is TF's side of the sync: its model (resources, bookings, kinds) and the Source contract through which
// tfsync reads bookings and writes moved times back. The SQLite source implements TF's integration schema.
package tf

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is a TF booking kind, as stored in bookings.kind.
type Kind string

const (
	KindArende      Kind = "arende"      // ärende: work order
	KindBesiktning  Kind = "besiktning"  // besiktning: inspection
	KindKontroll    Kind = "kontroll"    // kontroll: check
	KindDriftatgard Kind = "driftatgard" // driftåtgärd: maintenance action
	KindRondering   Kind = "rondering"   // rondering: all-day round
)

// Kinds lists every kind in TF's order.
var Kinds = []Kind{KindArende, KindBesiktning, KindKontroll, KindDriftatgard, KindRondering}

// ParseKind accepts exactly the five stored values.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (want one of arende, besiktning, kontroll, driftatgard, rondering)", s)
}

// Label is the Swedish name TF shows, used in event subjects ("Besiktning: ...").
func (k Kind) Label() string {
	switch k {
	case KindArende:
		return "Ärende"
	case KindBesiktning:
		return "Besiktning"
	case KindKontroll:
		return "Kontroll"
	case KindDriftatgard:
		return "Driftåtgärd"
	case KindRondering:
		return "Rondering"
	}
	return string(k)
}

// AllDay reports whether bookings of this kind are all-day events: rounds are done some time during the day.
func (k Kind) AllDay() bool { return k == KindRondering }

// Status is a booking's state in TF.
type Status string

const (
	StatusPlanned   Status = "planned"
	StatusDone      Status = "done"
	StatusCancelled Status = "cancelled"
)

// Resource is a TF resource (a technician), from Inställningar -> Grunddata -> Resurser.
type Resource struct {
	ID          string
	Name        string
	Email       string // may be empty
	SyncEnabled bool
}

// Booking is one TF booking, with its times resolved.
type Booking struct {
	ID          string
	Kind        Kind
	ResourceID  string
	Title       string
	Description string
	Location    string
	// Start and End are instants in the TF time zone (their Location is that zone). For an all-day booking they
	// are the local midnights that bound its day. A NULL end has been resolved to Start + default length.
	Start  time.Time
	End    time.Time
	AllDay bool
	Status Status
	URL    string
	// Version is bumped on every change, by TF and by tfsync's write-back.
	Version   int64
	UpdatedAt time.Time
}

// Window is a half-open time range [Start, End).
type Window struct {
	Start time.Time
	End   time.Time
}

// Query selects the bookings of one pass.
type Query struct {
	// Window selects bookings whose [Start, End) overlaps it.
	Window Window
	// Kinds limits the window query to these kinds.
	Kinds []Kind
	// AlsoIDs are fetched whatever their window, kind or status: the engine's linked bookings, so it can tell a
	// booking that left the window, changed kind or was deleted from one it never saw.
	AlsoIDs []string
	// DefaultLength resolves a NULL end.
	DefaultLength time.Duration
}

// RowError is a booking row that could not be read. The pass reports it and goes on without that booking.
type RowError struct {
	BookingID string
	Column    string
	Problem   string
}

func (e *RowError) Error() string {
	return fmt.Sprintf("booking %s: %s: %s", e.BookingID, e.Column, e.Problem)
}

// BookingSet is the result of a Query.
type BookingSet struct {
	Bookings []Booking
	// Bad are rows that matched but could not be parsed. Their ids are never treated as deleted.
	Bad []RowError
}

// Move is a write-back of a booking's new time from a calendar.
type Move struct {
	BookingID string
	Version   int64 // the version the engine saw; the write fails with ErrVersionConflict if TF has moved on
	Start     time.Time
	End       time.Time // ignored for all-day bookings
	AllDay    bool
	Mailbox   string // for the audit row
	EventID   string // for the audit row
	RunID     string // for the audit row
}

// Source is TF's side. Implementations are safe for sequential use by one pass.
type Source interface {
	// Resources returns every resource, enabled or not.
	Resources(ctx context.Context) ([]Resource, error)
	// Bookings returns the bookings the query selects, in one consistent read.
	Bookings(ctx context.Context, q Query) (BookingSet, error)
	// MoveBooking writes a new start/end with an optimistic version check, bumps the version and records an audit
	// row, in one transaction. It returns the new version.
	MoveBooking(ctx context.Context, m Move) (newVersion int64, err error)
	Close() error
}

var (
	// ErrVersionConflict: TF changed the booking after tfsync read it; the move is not written.
	ErrVersionConflict = errors.New("booking changed in TF since it was read")
	// ErrBookingNotFound: the booking row is gone.
	ErrBookingNotFound = errors.New("booking not found in TF")
	// ErrInvalidMove: the new time is one TF cannot store for the booking (end not after start, a timed time for an
	// all-day booking); trying again cannot help.
	ErrInvalidMove = errors.New("TF cannot take this time")
	// ErrSchema: the database lacks the integration schema's tables or columns.
	ErrSchema = errors.New("TF database does not have the integration schema")
)
