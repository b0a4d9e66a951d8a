package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
)

// Environment variables that point the suite at a real server (docs/conformance.md).
const (
	// EnvConfig names a tfsync.toml whose [exchange] section reaches the server (Graph or EWS).
	EnvConfig = "TFSYNC_CONFORMANCE_CONFIG"
	// EnvMailbox names the test mailbox (or two, comma-separated) the suite may create events in and delete them
	// from. Never a technician's mailbox: the suite's events are its own, but it reads the whole calendar.
	EnvMailbox = "TFSYNC_CONFORMANCE_MAILBOX"
)

// realSkips are the subtests that need more than the Calendar contract and create, read, move and delete in a test
// mailbox: expiring a cursor and adding a user's own event take the emulator's control; ManyCreates writes more
// than a test mailbox should take on every run.
var realSkips = map[string]bool{
	"ReadUserEvent":     true,
	"ReadExpiredCursor": true,
	"ManyCreates":       true,
}

// RealHarness returns the harness for a real server when EnvConfig and EnvMailbox are set, built by newCalendar
// from the configuration file; otherwise it skips the test with one line saying how to enable it.
func RealHarness(t *testing.T, newCalendar func(ctx context.Context, configPath string) (exchange.Calendar, error)) func(t *testing.T) Harness {
	t.Helper()
	path, list := os.Getenv(EnvConfig), os.Getenv(EnvMailbox)
	if path == "" || list == "" {
		t.Skipf("conformance against a real server: set %s and %s to run it (docs/conformance.md)", EnvConfig, EnvMailbox)
	}
	var mailboxes []string
	for _, m := range strings.Split(list, ",") {
		if m = strings.TrimSpace(m); m != "" {
			mailboxes = append(mailboxes, m)
		}
	}
	if len(mailboxes) == 0 {
		t.Fatalf("%s names no mailbox", EnvMailbox)
	}
	cal, err := newCalendar(context.Background(), path)
	if err != nil {
		t.Fatalf("build the backend from %s: %v", path, err)
	}
	if len(mailboxes) == 1 {
		mailboxes = append(mailboxes, mailboxes[0])
	}
	return func(t *testing.T) Harness {
		return Harness{Calendar: cal, Control: CalendarControl{Calendar: cal}, Mailboxes: mailboxes, Real: true}
	}
}

// CalendarControl is Control for a real server, through the backend itself: a "technician's" move, subject edit
// or delete is an update or delete through the Calendar contract, and the server's truth is a full read of 2026
// (the suite's year). It cannot add a user's own event or expire cursors: the subtests that need those skip.
type CalendarControl struct {
	Calendar exchange.Calendar
}

var errNoControl = errors.New("not possible against a real server")

func (c CalendarControl) update(mailbox, id string, change func(*exchange.Event)) error {
	ctx := context.Background()
	ev, err := c.Calendar.Get(ctx, mailbox, id)
	if err != nil {
		return err
	}
	change(&ev)
	return c.write(exchange.Op{Kind: exchange.OpUpdate, Mailbox: mailbox, Event: ev})
}

func (c CalendarControl) write(op exchange.Op) error {
	var err error
	c.Calendar.Write(context.Background(), []exchange.Op{op}, func(rs []exchange.OpResult) {
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
	})
	return err
}

// MoveEvent implements Control.
func (c CalendarControl) MoveEvent(mailbox, id string, start, end time.Time) error {
	return c.update(mailbox, id, func(ev *exchange.Event) { ev.Start, ev.End = start, end })
}

// EditSubject implements Control.
func (c CalendarControl) EditSubject(mailbox, id, subject string) error {
	return c.update(mailbox, id, func(ev *exchange.Event) { ev.Subject = subject })
}

// DeleteEvent implements Control.
func (c CalendarControl) DeleteEvent(mailbox, id string) error {
	return c.write(exchange.Op{Kind: exchange.OpDelete, Mailbox: mailbox, Event: exchange.Event{ID: id}})
}

// AddUserEvent implements Control; a real server's user events are not the suite's to make.
func (c CalendarControl) AddUserEvent(string, exchange.Event) (exchange.Event, error) {
	return exchange.Event{}, errNoControl
}

// ExpireCursors implements Control; only the emulator can do it.
func (c CalendarControl) ExpireCursors(string) error { return errNoControl }

// Events implements Control with a full read of the suite's year.
func (c CalendarControl) Events(mailbox string) []exchange.Event {
	w := exchange.Window{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	res := c.Calendar.Read(context.Background(), []exchange.ReadRequest{{Mailbox: mailbox, Window: w}})
	if len(res) != 1 || res[0].Err != nil {
		return nil
	}
	return res[0].Events
}

// cleanUp deletes the events the subtest created (against a real server, so the test mailbox keeps nothing).
func (s *suite) cleanUp(t *testing.T) {
	if len(s.created) == 0 {
		return
	}
	var failed []string
	s.Calendar.Write(context.Background(), s.created, func(rs []exchange.OpResult) {
		for _, r := range rs {
			if r.Err != nil && !errors.Is(r.Err, exchange.ErrNotFound) {
				failed = append(failed, fmt.Sprintf("%s in %s: %v", r.Op.Event.ID, r.Op.Mailbox, r.Err))
			}
		}
	})
	if len(failed) > 0 {
		t.Errorf("clean up: could not delete %d events: %s", len(failed), strings.Join(failed, "; "))
	}
}
