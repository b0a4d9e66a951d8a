package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"tfsync/cmd/config"
	"tfsync/exchange"
)

// roundTripPrefix marks the booking id of test-connection's own event. TF's booking ids never take this form, so
// the event cannot be mistaken for a booking, and the clean-up can find it (and only it) by its booking id.
const roundTripPrefix = "TFSYNC-ROUND-TRIP-"

// roundTrip proves the whole path on one mailbox with an event of its own: create, read it back through the change
// feed, move it, read the move, delete it. Each step is one check with its time. Whatever fails, the event is
// deleted again (found by its unique booking id when a create's outcome is unknown); no other event is touched.
type roundTrip struct {
	cal     exchange.Calendar
	mailbox string
	zone    *time.Location
	now     func() time.Time
	list    *checkList

	bookingID string
	window    exchange.Window
	cursor    string
	event     exchange.Event // as the server last returned it; ID empty until created
}

func runRoundTrip(ctx context.Context, f *Factory, cfg *config.Config, cal exchange.Calendar, mailbox string, list *checkList) {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	rt := &roundTrip{cal: cal, mailbox: mailbox, zone: cfg.TF.TimeZone, now: f.Now, list: list,
		bookingID: roundTripPrefix + hex.EncodeToString(b)}
	if rt.zone == nil {
		rt.zone = time.UTC
	}
	defer rt.cleanUp(ctx)
	for _, s := range []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"create", rt.create},
		{"read back", rt.readBack},
		{"move", rt.move},
		{"read the move", rt.readMove},
		{"delete", rt.delete},
	} {
		start := time.Now()
		msg, err := s.run(ctx)
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			err = fmt.Errorf("round trip in %s, %s (after %s): %w", mailbox, s.name, took, err)
		}
		if !list.add("round trip: "+s.name, err, fmt.Sprintf("%s (%s)", msg, took)) {
			return
		}
	}
}

// create writes the test event tomorrow at noon (local time), fifteen minutes long, after a first read that gives
// the change feed's cursor.
func (rt *roundTrip) create(ctx context.Context) (string, error) {
	day := rt.now().In(rt.zone).AddDate(0, 0, 1)
	start := time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, rt.zone)
	rt.window = exchange.Window{Start: start.AddDate(0, 0, -1), End: start.AddDate(0, 0, 2)}
	res, err := rt.read(ctx, "")
	if err != nil {
		return "", fmt.Errorf("read the calendar before the test: %w", err)
	}
	rt.cursor = res.Cursor
	ev := exchange.Event{
		BookingID: rt.bookingID,
		Subject:   "tfsync test-connection round trip (deleted again at once)",
		Body:      "<p>tfsync test-connection --round-trip made this event and deletes it again.</p>",
		Start:     start, End: start.Add(15 * time.Minute), TimeZone: rt.zone.String(),
		ShowAs: exchange.ShowFree, ReminderMinutes: exchange.NoReminder,
	}
	r, err := rt.write(ctx, exchange.Op{Kind: exchange.OpCreate, Mailbox: rt.mailbox, Event: ev,
		TransactionID: rt.bookingID})
	if err != nil {
		return "", err
	}
	rt.event = r
	return fmt.Sprintf("created %q at %s", ev.Subject, start.Format("2006-01-02 15:04 MST")), nil
}

func (rt *roundTrip) readBack(ctx context.Context) (string, error) {
	ev, err := rt.readChange(ctx)
	if err != nil {
		return "", err
	}
	if !ev.Start.Equal(rt.event.Start) {
		return "", fmt.Errorf("%w: the change feed shows the event at %s, it was written at %s; check [tf] time_zone "+
			"against the mailbox's time zone", exchange.ErrBadResponse, ev.Start, rt.event.Start)
	}
	return "the change feed reports the new event", nil
}

func (rt *roundTrip) move(ctx context.Context) (string, error) {
	want := rt.event
	want.Start, want.End = want.Start.Add(time.Hour), want.End.Add(time.Hour)
	r, err := rt.write(ctx, exchange.Op{Kind: exchange.OpUpdate, Mailbox: rt.mailbox, Event: want})
	if err != nil {
		return "", err
	}
	if r.ID != "" {
		want.ID, want.ChangeKey = r.ID, r.ChangeKey
	}
	rt.event = want
	return "moved one hour later, to " + want.Start.In(rt.zone).Format("15:04"), nil
}

func (rt *roundTrip) readMove(ctx context.Context) (string, error) {
	ev, err := rt.readChange(ctx)
	if err != nil {
		return "", err
	}
	if !ev.Start.Equal(rt.event.Start) || !ev.End.Equal(rt.event.End) {
		return "", fmt.Errorf("%w: the change feed shows the event at %s, it was moved to %s; check [tf] time_zone "+
			"against the mailbox's time zone", exchange.ErrBadResponse, ev.Start, rt.event.Start)
	}
	return "the change feed reports the move", nil
}

func (rt *roundTrip) delete(ctx context.Context) (string, error) {
	if _, err := rt.write(ctx, exchange.Op{Kind: exchange.OpDelete, Mailbox: rt.mailbox, Event: rt.event}); err != nil {
		return "", err
	}
	rt.event = exchange.Event{}
	rt.bookingID = "" // nothing left to clean up
	return "deleted", nil
}

// cleanUp deletes the test event when a step failed after (or while) creating it. It reports a check only when it
// had something to do.
func (rt *roundTrip) cleanUp(ctx context.Context) {
	if rt.bookingID == "" {
		return
	}
	var ids []string
	if rt.event.ID != "" {
		ids = append(ids, rt.event.ID)
	}
	// A create or move whose answer was lost may have left the event under an id tfsync never saw.
	if found, err := rt.cal.FindByBooking(ctx, rt.mailbox, rt.bookingID); err == nil {
		for _, ev := range found {
			if ev.BookingID == rt.bookingID && !slices.Contains(ids, ev.ID) {
				ids = append(ids, ev.ID)
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	var errs []error
	for _, id := range ids {
		_, err := rt.write(ctx, exchange.Op{Kind: exchange.OpDelete, Mailbox: rt.mailbox, Event: exchange.Event{ID: id}})
		if err != nil && !errors.Is(err, exchange.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		err = fmt.Errorf("round trip in %s: could not delete the test event (booking id %s; delete it in Outlook): %w",
			rt.mailbox, rt.bookingID, err)
	}
	rt.list.add("round trip: clean up", err, fmt.Sprintf("deleted the test event after the failure (%d)", len(ids)))
}

func (rt *roundTrip) read(ctx context.Context, cursor string) (exchange.ReadResult, error) {
	res := rt.cal.Read(ctx, []exchange.ReadRequest{{Mailbox: rt.mailbox, Window: rt.window, Cursor: cursor}})
	if len(res) != 1 {
		return exchange.ReadResult{}, fmt.Errorf("%w: %d read results for one mailbox", exchange.ErrBadResponse, len(res))
	}
	return res[0], res[0].Err
}

// readChange reads the change feed from the last cursor and returns the test event in it.
func (rt *roundTrip) readChange(ctx context.Context) (exchange.Event, error) {
	res, err := rt.read(ctx, rt.cursor)
	if err != nil {
		return exchange.Event{}, err
	}
	rt.cursor = res.Cursor
	for _, ev := range res.Events {
		if ev.ID == rt.event.ID || ev.BookingID == rt.bookingID {
			return ev, nil
		}
	}
	return exchange.Event{}, fmt.Errorf("%w: the change feed (%d changes) does not report the test event; run the "+
		"round trip again, and if it fails again, run the conformance suite against this server (docs/conformance.md)",
		exchange.ErrBadResponse, len(res.Events))
}

// write runs one op and returns its result's event.
func (rt *roundTrip) write(ctx context.Context, op exchange.Op) (exchange.Event, error) {
	var got []exchange.OpResult
	rt.cal.Write(ctx, []exchange.Op{op}, func(rs []exchange.OpResult) { got = append(got, rs...) })
	if len(got) != 1 {
		return exchange.Event{}, fmt.Errorf("%w: %d results for one %s", exchange.ErrBadResponse, len(got), op.Kind)
	}
	return got[0].Event, got[0].Err
}
