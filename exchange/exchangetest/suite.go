package exchangetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tfsync/exchange"
)

// Run runs every conformance subtest. newHarness is called once per subtest, so subtests never see each other's
// events; a backend against a real tenant may share mailboxes, since every subtest uses fresh booking ids.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"RoundTrip", testRoundTrip},
		{"IdempotentCreate", testIdempotentCreate},
		{"Update", testUpdate},
		{"DeleteTwice", testDeleteTwice},
		{"ReadFullThenIncremental", testReadIncremental},
		{"ReadUserEvent", testReadUserEvent},
		{"ReadExpiredCursor", testReadExpiredCursor},
		{"ReadOtherWindow", testReadOtherWindow},
		{"AllDayOnDSTDays", testAllDayDST},
		{"AllDayNotMidnight", testAllDayNotMidnight},
		{"TimedAcrossDST", testTimedAcrossDST},
		{"ManyCreates", testManyCreates},
		{"InstallationID", testInstallationID},
		{"CheckAccess", testCheckAccess},
		{"DeniedMailbox", testDenied},
		{"MissingMailbox", testMissing},
		{"OneMailboxFails", testOneMailboxFails},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if len(h.Mailboxes) < 2 {
				t.Fatalf("harness has %d mailboxes; the suite needs at least 2", len(h.Mailboxes))
			}
			if h.Zone == nil {
				h.Zone = stockholm(t)
			}
			if h.Real && realSkips[tt.name] {
				t.Skip("needs the emulator's control; skipped against a real server")
			}
			s := &suite{Harness: h, ctx: context.Background()}
			if h.Real {
				t.Cleanup(func() { s.cleanUp(t) })
			}
			tt.run(t, s)
		})
	}
}

// suite is one subtest's harness plus helpers.
type suite struct {
	Harness
	ctx context.Context
	// created are the events the subtest created, deleted at its end against a real server.
	created []exchange.Op
}

func stockholm(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatalf("load Europe/Stockholm: %v", err)
	}
	return loc
}

// bookingID returns a booking id no other subtest or run uses.
func bookingID(t *testing.T) string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random booking id: %v", err)
	}
	return "SUITE-" + strings.ToUpper(hex.EncodeToString(b))
}

// window is the read window of most subtests: it holds both of 2026's DST changes.
func (s *suite) window() exchange.Window {
	return exchange.Window{
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, s.Zone),
		End:   time.Date(2026, 12, 1, 0, 0, 0, 0, s.Zone),
	}
}

// at is a wall time in the harness zone.
func (s *suite) at(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, s.Zone)
}

// event is a complete booking event with every field tfsync writes.
func (s *suite) event(bookingID string, start time.Time, length time.Duration) exchange.Event {
	return exchange.Event{
		BookingID:      bookingID,
		InstallationID: suiteInstallation,
		Subject:        "Besiktning: Hiss A & B <plan 2> – " + bookingID,
		Body: "<p><b>Besiktning</b> av hiss &amp; trapphus: 3 &lt; 4 &gt; 2</p>" +
			"<p>Nyckel hos fastighetsskötaren på Ågatan, våning två (åäö ÅÄÖ).</p>",
		Location:        "Storgatan 1, Göteborg",
		Start:           start,
		End:             start.Add(length),
		TimeZone:        s.Zone.String(),
		ShowAs:          exchange.ShowBusy,
		ReminderMinutes: 15,
	}
}

// suiteInstallation is the installation id the suite's events carry; otherInstallation is a second installation on
// the same mailboxes (a trial beside production).
const (
	suiteInstallation = "7d1e2c40-5b3a-4f9e-8c11-2a6b9d0e4f01"
	otherInstallation = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
)

func createOp(mailbox string, ev exchange.Event) exchange.Op {
	return exchange.Op{Kind: exchange.OpCreate, Mailbox: mailbox, Event: ev, TransactionID: "tx-" + ev.BookingID}
}

// write runs ops and returns their results in the order of ops, failing the test unless every op got exactly one
// result and done was never called concurrently.
func (s *suite) write(t *testing.T, ops ...exchange.Op) []exchange.OpResult {
	t.Helper()
	var inDone atomic.Bool
	var concurrent atomic.Bool
	var got []exchange.OpResult
	s.Calendar.Write(s.ctx, ops, func(rs []exchange.OpResult) {
		if !inDone.CompareAndSwap(false, true) {
			concurrent.Store(true)
		}
		got = append(got, rs...)
		inDone.Store(false)
	})
	if concurrent.Load() {
		t.Errorf("Write called done concurrently")
	}
	out := make([]exchange.OpResult, len(ops))
	seen := make([]int, len(ops))
	for _, r := range got {
		i := slices.IndexFunc(ops, func(op exchange.Op) bool { return sameOp(op, r.Op) })
		if i < 0 {
			t.Fatalf("Write reported a result for an op it was not given: %+v", r.Op)
		}
		seen[i]++
		out[i] = r
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("op %d (%s %s) got %d results, want exactly 1", i, ops[i].Kind, ops[i].Event.BookingID, n)
		}
	}
	for i, r := range out {
		if ops[i].Kind == exchange.OpCreate && r.Err == nil && r.Event.ID != "" {
			s.created = append(s.created, exchange.Op{Kind: exchange.OpDelete, Mailbox: ops[i].Mailbox,
				Event: exchange.Event{ID: r.Event.ID}})
		}
	}
	return out
}

// sameOp matches a result to its op: a create by its transaction id, an update or delete by its event id (the
// engine never sends two ops for the same event in one call).
func sameOp(a, b exchange.Op) bool {
	if a.Kind != b.Kind || a.Mailbox != b.Mailbox {
		return false
	}
	if a.Kind == exchange.OpCreate {
		return a.TransactionID == b.TransactionID
	}
	return a.Event.ID == b.Event.ID
}

// create writes one event and returns it as stored.
func (s *suite) create(t *testing.T, mailbox string, ev exchange.Event) exchange.Event {
	t.Helper()
	r := s.write(t, createOp(mailbox, ev))[0]
	if r.Err != nil {
		t.Fatalf("create %s in %s: %v", ev.BookingID, mailbox, r.Err)
	}
	if r.Event.ID == "" || r.Event.ChangeKey == "" {
		t.Fatalf("create %s returned id %q, change key %q; want both", ev.BookingID, r.Event.ID, r.Event.ChangeKey)
	}
	return r.Event
}

func (s *suite) read(t *testing.T, req exchange.ReadRequest) exchange.ReadResult {
	t.Helper()
	res := s.Calendar.Read(s.ctx, []exchange.ReadRequest{req})
	if len(res) != 1 {
		t.Fatalf("Read returned %d results for 1 request", len(res))
	}
	if res[0].Err != nil {
		t.Fatalf("read %s: %v", req.Mailbox, res[0].Err)
	}
	if res[0].Mailbox != req.Mailbox {
		t.Errorf("ReadResult.Mailbox = %q, want %q", res[0].Mailbox, req.Mailbox)
	}
	if res[0].Cursor == "" {
		t.Errorf("read %s returned no cursor", req.Mailbox)
	}
	return res[0]
}

func (s *suite) get(t *testing.T, mailbox, id string) exchange.Event {
	t.Helper()
	ev, err := s.Calendar.Get(s.ctx, mailbox, id)
	if err != nil {
		t.Fatalf("get %s in %s: %v", id, mailbox, err)
	}
	return ev
}

func findEvent(evs []exchange.Event, id string) (exchange.Event, bool) {
	i := slices.IndexFunc(evs, func(ev exchange.Event) bool { return ev.ID == id })
	if i < 0 {
		return exchange.Event{}, false
	}
	return evs[i], true
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// textOf reduces an HTML body to its text, since servers wrap what they are given in their own <html><body>.
func textOf(body string) string {
	// Drop a head (style, meta) a server may add, then tags, then decode entities.
	if i := strings.Index(strings.ToLower(body), "</head>"); i >= 0 {
		body = body[i+len("</head>"):]
	}
	text := html.UnescapeString(tagRE.ReplaceAllString(body, " "))
	text = strings.ReplaceAll(text, "\u00a0", " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(text, " "))
}

// diffEvent lists the fields where got differs from want, comparing what tfsync writes.
func diffEvent(want, got exchange.Event) []string {
	var d []string
	add := func(field string, w, g any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.BookingID != want.BookingID {
		add("BookingID", got.BookingID, want.BookingID)
	}
	if got.InstallationID != want.InstallationID {
		add("InstallationID", got.InstallationID, want.InstallationID)
	}
	if got.Subject != want.Subject {
		add("Subject", fmt.Sprintf("%q", got.Subject), fmt.Sprintf("%q", want.Subject))
	}
	if textOf(got.Body) != textOf(want.Body) {
		add("Body text", fmt.Sprintf("%q", textOf(got.Body)), fmt.Sprintf("%q", textOf(want.Body)))
	}
	if got.Location != want.Location {
		add("Location", fmt.Sprintf("%q", got.Location), fmt.Sprintf("%q", want.Location))
	}
	if !got.Start.Equal(want.Start) {
		add("Start", got.Start, want.Start)
	}
	if !got.End.Equal(want.End) {
		add("End", got.End, want.End)
	}
	if got.AllDay != want.AllDay {
		add("AllDay", got.AllDay, want.AllDay)
	}
	if got.TimeZone != want.TimeZone {
		add("TimeZone", got.TimeZone, want.TimeZone)
	}
	if got.ShowAs != want.ShowAs {
		add("ShowAs", got.ShowAs, want.ShowAs)
	}
	if got.ReminderMinutes != want.ReminderMinutes {
		add("ReminderMinutes", got.ReminderMinutes, want.ReminderMinutes)
	}
	return d
}

func checkEvent(t *testing.T, what string, want, got exchange.Event) {
	t.Helper()
	for _, d := range diffEvent(want, got) {
		t.Errorf("%s: %s", what, d)
	}
}

func testRoundTrip(t *testing.T, s *suite) {
	mb := s.Mailboxes[0]
	tests := []struct {
		name   string
		modify func(*exchange.Event)
	}{
		{"busy with reminder", func(*exchange.Event) {}},
		{"tentative without reminder or location", func(ev *exchange.Event) {
			ev.ShowAs, ev.ReminderMinutes, ev.Location = exchange.ShowTentative, exchange.NoReminder, ""
		}},
		{"free with reminder at start", func(ev *exchange.Event) {
			ev.ShowAs, ev.ReminderMinutes = exchange.ShowFree, 0
		}},
		{"out of office", func(ev *exchange.Event) { ev.ShowAs = exchange.ShowOOF }},
		{"working elsewhere", func(ev *exchange.Event) {
			ev.ShowAs, ev.ReminderMinutes = exchange.ShowWorkingElsewhere, 24*60
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := s.event(bookingID(t), s.at(5, 4+i, 9, 30), 90*time.Minute)
			tt.modify(&want)
			created := s.create(t, mb, want)
			checkEvent(t, "created", want, created)

			got := s.get(t, mb, created.ID)
			checkEvent(t, "get", want, got)
			if got.ID != created.ID || got.ChangeKey != created.ChangeKey {
				t.Errorf("get: id/change key %q/%q, want %q/%q", got.ID, got.ChangeKey, created.ID, created.ChangeKey)
			}
			if got.LastModified.IsZero() {
				t.Errorf("get: LastModified is zero")
			}

			found, err := s.Calendar.FindByBooking(s.ctx, mb, want.BookingID)
			if err != nil {
				t.Fatalf("find by booking: %v", err)
			}
			if len(found) != 1 || found[0].ID != created.ID {
				t.Fatalf("find by booking %s: %d events %v, want exactly %s", want.BookingID, len(found), ids(found),
					created.ID)
			}
			checkEvent(t, "found", want, found[0])
		})
	}
	t.Run("find unknown booking", func(t *testing.T) {
		found, err := s.Calendar.FindByBooking(s.ctx, mb, bookingID(t))
		if err != nil || len(found) != 0 {
			t.Errorf("find unknown booking: %v, %v; want no events and no error", ids(found), err)
		}
	})
}

func ids(evs []exchange.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func testIdempotentCreate(t *testing.T, s *suite) {
	mb := s.Mailboxes[0]
	ev := s.event(bookingID(t), s.at(5, 12, 13, 0), time.Hour)
	first := s.create(t, mb, ev)
	// A retry after a lost response repeats the same create with the same transaction id.
	second := s.create(t, mb, ev)
	if second.ID != first.ID {
		t.Errorf("repeated create returned id %q, want the first event's %q", second.ID, first.ID)
	}
	found, err := s.Calendar.FindByBooking(s.ctx, mb, ev.BookingID)
	if err != nil {
		t.Fatalf("find by booking: %v", err)
	}
	if len(found) != 1 {
		t.Errorf("after two creates with one transaction id: %d events %v, want 1", len(found), ids(found))
	}
	if n := countBooking(s.Control.Events(mb), ev.BookingID); n != 1 {
		t.Errorf("server holds %d events for the booking, want 1", n)
	}
}

func countBooking(evs []exchange.Event, bookingID string) int {
	n := 0
	for _, ev := range evs {
		if ev.BookingID == bookingID {
			n++
		}
	}
	return n
}

func testUpdate(t *testing.T, s *suite) {
	mb := s.Mailboxes[0]
	created := s.create(t, mb, s.event(bookingID(t), s.at(6, 2, 8, 0), time.Hour))

	want := created
	want.Subject = "Kontroll: Ventilation – ändrad"
	want.Body = "<p>Ny tid: efter lunch. Ta med stege &amp; ficklampa.</p>"
	want.Location = "Östra vägen 12, Malmö"
	want.Start = s.at(6, 3, 13, 15)
	want.End = s.at(6, 3, 14, 45)
	want.ShowAs = exchange.ShowTentative
	want.ReminderMinutes = exchange.NoReminder
	r := s.write(t, exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: want})[0]
	if r.Err != nil {
		t.Fatalf("update: %v", r.Err)
	}
	if r.Event.ID != created.ID {
		t.Errorf("update returned id %q, want %q", r.Event.ID, created.ID)
	}
	if r.Event.ChangeKey == "" || r.Event.ChangeKey == created.ChangeKey {
		t.Errorf("update returned change key %q, want a new one (was %q)", r.Event.ChangeKey, created.ChangeKey)
	}
	if !r.Event.Start.Equal(want.Start) || !r.Event.End.Equal(want.End) {
		t.Errorf("update returned %v–%v, want %v–%v", r.Event.Start, r.Event.End, want.Start, want.End)
	}
	checkEvent(t, "get after update", want, s.get(t, mb, created.ID))

	// An update back to a reminder turns it on again.
	want.ReminderMinutes = 30
	if r := s.write(t, exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: want})[0]; r.Err != nil {
		t.Fatalf("second update: %v", r.Err)
	}
	checkEvent(t, "get after second update", want, s.get(t, mb, created.ID))
}

func testDeleteTwice(t *testing.T, s *suite) {
	mb := s.Mailboxes[0]
	created := s.create(t, mb, s.event(bookingID(t), s.at(6, 10, 10, 0), time.Hour))
	del := exchange.Op{Kind: exchange.OpDelete, Mailbox: mb, Event: exchange.Event{ID: created.ID}}
	for _, name := range []string{"delete", "delete again"} {
		if r := s.write(t, del)[0]; r.Err != nil {
			t.Fatalf("%s: %v", name, r.Err)
		}
	}
	if _, ok := findEvent(s.Control.Events(mb), created.ID); ok {
		t.Errorf("the server still holds the deleted event")
	}
	if _, err := s.Calendar.Get(s.ctx, mb, created.ID); !errors.Is(err, exchange.ErrNotFound) {
		t.Errorf("get of deleted event: %v, want ErrNotFound", err)
	}
	upd := created
	upd.Subject = "Ändrad efter borttagning"
	r := s.write(t, exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: upd})[0]
	if !errors.Is(r.Err, exchange.ErrNotFound) {
		t.Errorf("update of deleted event: %v, want ErrNotFound", r.Err)
	}
	found, err := s.Calendar.FindByBooking(s.ctx, mb, created.BookingID)
	if err != nil || len(found) != 0 {
		t.Errorf("find by booking after delete: %v, %v; want nothing", ids(found), err)
	}
	if n := countBooking(s.Control.Events(mb), created.BookingID); n != 0 {
		t.Errorf("the failed update left %d events for the booking on the server, want 0", n)
	}
}

// readSetup creates one booking event, reads the mailbox in full and returns the event and the cursor.
func (s *suite) readSetup(t *testing.T) (string, exchange.Event, string) {
	t.Helper()
	mb := s.Mailboxes[0]
	created := s.create(t, mb, s.event(bookingID(t), s.at(9, 14, 7, 0), 2*time.Hour))
	full := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window()})
	if !full.Full {
		t.Errorf("first read without cursor: Full = false, want true")
	}
	got, ok := findEvent(full.Events, created.ID)
	if !ok {
		t.Fatalf("full read: events %v lack the created %s", ids(full.Events), created.ID)
	}
	checkEvent(t, "full read", created, got)
	return mb, created, full.Cursor
}

func testReadIncremental(t *testing.T, s *suite) {
	t.Run("nothing changed", func(t *testing.T) {
		mb, _, cursor := s.readSetup(t)
		inc := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
		if inc.Full || len(inc.Events) != 0 || len(inc.Removed) != 0 {
			t.Errorf("incremental read without changes: Full %v, events %v, removed %v; want nothing",
				inc.Full, ids(inc.Events), inc.Removed)
		}
	})
	t.Run("technician moves the event", func(t *testing.T) {
		mb, created, cursor := s.readSetup(t)
		start, end := s.at(9, 15, 12, 30), s.at(9, 15, 13, 0)
		if err := s.Control.MoveEvent(mb, created.ID, start, end); err != nil {
			t.Fatalf("move: %v", err)
		}
		inc := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
		if inc.Full {
			t.Errorf("incremental read: Full = true, want false")
		}
		got, ok := findEvent(inc.Events, created.ID)
		if !ok {
			t.Fatalf("incremental read after move: events %v lack %s", ids(inc.Events), created.ID)
		}
		if !got.Start.Equal(start) || !got.End.Equal(end) {
			t.Errorf("moved event reads %v–%v, want %v–%v", got.Start, got.End, start, end)
		}
		if got.BookingID != created.BookingID {
			t.Errorf("moved event BookingID = %q, want %q", got.BookingID, created.BookingID)
		}
		if slices.Contains(inc.Removed, created.ID) {
			t.Errorf("moved event is also in Removed")
		}
		again := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: inc.Cursor})
		if again.Full || len(again.Events) != 0 || len(again.Removed) != 0 {
			t.Errorf("read after the move was seen: Full %v, events %v, removed %v; want nothing",
				again.Full, ids(again.Events), again.Removed)
		}
	})
	t.Run("technician edits the subject", func(t *testing.T) {
		mb, created, cursor := s.readSetup(t)
		if err := s.Control.EditSubject(mb, created.ID, "Min egen rubrik"); err != nil {
			t.Fatalf("edit: %v", err)
		}
		inc := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
		got, ok := findEvent(inc.Events, created.ID)
		if !ok {
			t.Fatalf("incremental read after edit: events %v lack %s", ids(inc.Events), created.ID)
		}
		if got.Subject != "Min egen rubrik" {
			t.Errorf("edited event subject %q, want %q", got.Subject, "Min egen rubrik")
		}
		if got.ChangeKey == created.ChangeKey {
			t.Errorf("edited event kept its change key %q", got.ChangeKey)
		}
	})
	t.Run("technician deletes the event", func(t *testing.T) {
		mb, created, cursor := s.readSetup(t)
		if err := s.Control.DeleteEvent(mb, created.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		inc := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
		if !slices.Contains(inc.Removed, created.ID) {
			t.Errorf("incremental read after delete: removed %v lack %s", inc.Removed, created.ID)
		}
		if _, ok := findEvent(inc.Events, created.ID); ok {
			t.Errorf("deleted event is still in Events")
		}
		if _, err := s.Calendar.Get(s.ctx, mb, created.ID); !errors.Is(err, exchange.ErrNotFound) {
			t.Errorf("get of deleted event: %v, want ErrNotFound", err)
		}
	})
	t.Run("technician moves the event out of the window", func(t *testing.T) {
		mb, created, cursor := s.readSetup(t)
		start, end := s.at(12, 14, 7, 0), s.at(12, 14, 9, 0)
		if err := s.Control.MoveEvent(mb, created.ID, start, end); err != nil {
			t.Fatalf("move: %v", err)
		}
		inc := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
		if !slices.Contains(inc.Removed, created.ID) {
			t.Errorf("incremental read after a move out of the window: removed %v lack %s", inc.Removed, created.ID)
		}
		if _, ok := findEvent(inc.Events, created.ID); ok {
			t.Errorf("event moved out of the window is still in Events")
		}
		got := s.get(t, mb, created.ID)
		if !got.Start.Equal(start) || !got.End.Equal(end) {
			t.Errorf("get of the moved event: %v–%v, want %v–%v", got.Start, got.End, start, end)
		}
		if got.BookingID != created.BookingID {
			t.Errorf("get of the moved event: BookingID %q, want %q", got.BookingID, created.BookingID)
		}
	})
}

func testReadUserEvent(t *testing.T, s *suite) {
	mb, created, cursor := s.readSetup(t)
	own, err := s.Control.AddUserEvent(mb, exchange.Event{
		Subject: "Tandläkare", Body: "<p>Privat</p>", Start: s.at(9, 16, 8, 0), End: s.at(9, 16, 9, 0),
		TimeZone: s.Zone.String(), ShowAs: exchange.ShowOOF, ReminderMinutes: 15,
	})
	if err != nil {
		t.Fatalf("add user event: %v", err)
	}
	inc := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
	got, ok := findEvent(inc.Events, own.ID)
	if !ok {
		t.Fatalf("incremental read: events %v lack the user's event %s", ids(inc.Events), own.ID)
	}
	if got.BookingID != "" {
		t.Errorf("user's event BookingID = %q, want empty", got.BookingID)
	}
	if _, ok := findEvent(inc.Events, created.ID); ok {
		t.Errorf("incremental read reports the unchanged booking event")
	}
	full := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window()})
	for _, ev := range full.Events {
		want := ""
		if ev.ID == created.ID {
			want = created.BookingID
		}
		if ev.BookingID != want {
			t.Errorf("full read: event %s BookingID %q, want %q", ev.ID, ev.BookingID, want)
		}
	}
	if len(full.Events) != 2 {
		t.Errorf("full read: %d events, want 2", len(full.Events))
	}
}

func testReadExpiredCursor(t *testing.T, s *suite) {
	mb, created, cursor := s.readSetup(t)
	if err := s.Control.ExpireCursors(mb); err != nil {
		t.Fatalf("expire cursors: %v", err)
	}
	res := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: cursor})
	if !res.Full {
		t.Errorf("read with an expired cursor: Full = false, want true")
	}
	if _, ok := findEvent(res.Events, created.ID); !ok {
		t.Errorf("full read after expiry: events %v lack %s", ids(res.Events), created.ID)
	}
	next := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: res.Cursor})
	if next.Full || len(next.Events) != 0 {
		t.Errorf("read with the fresh cursor: Full %v, events %v; want an empty incremental read",
			next.Full, ids(next.Events))
	}
}

func testReadOtherWindow(t *testing.T, s *suite) {
	mb, created, cursor := s.readSetup(t)
	w := s.window()
	w.Start = w.Start.AddDate(0, 0, 1)
	res := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: w, Cursor: cursor})
	if !res.Full {
		t.Errorf("read with another window's cursor: Full = false, want true")
	}
	if _, ok := findEvent(res.Events, created.ID); !ok {
		t.Errorf("full read of the new window: events %v lack %s", ids(res.Events), created.ID)
	}
	t.Run("garbage cursor", func(t *testing.T) {
		res := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window(), Cursor: "not-a-cursor"})
		if !res.Full {
			t.Errorf("read with a garbage cursor: Full = false, want true")
		}
		if _, ok := findEvent(res.Events, created.ID); !ok {
			t.Errorf("full read: events %v lack %s", ids(res.Events), created.ID)
		}
	})
}

func testAllDayDST(t *testing.T, s *suite) {
	zone := stockholm(t)
	mb := s.Mailboxes[0]
	for _, day := range []time.Time{
		time.Date(2026, 3, 29, 0, 0, 0, 0, zone),  // 23 hours: clocks go forward
		time.Date(2026, 10, 25, 0, 0, 0, 0, zone), // 25 hours: clocks go back
	} {
		t.Run(day.Format("2006-01-02"), func(t *testing.T) {
			want := s.event(bookingID(t), day, 0)
			want.End = day.AddDate(0, 0, 1)
			want.AllDay, want.TimeZone, want.ShowAs = true, zone.String(), exchange.ShowFree
			created := s.create(t, mb, want)
			checkEvent(t, "created", want, created)
			got := s.get(t, mb, created.ID)
			checkEvent(t, "get", want, got)
			if start, end := got.Start.In(zone), got.End.In(zone); !isMidnight(start) || !isMidnight(end) ||
				start.Day() != day.Day() || end.Sub(start) != want.End.Sub(want.Start) {
				t.Errorf("all-day event reads %v–%v, want midnight %s to the next midnight", start, end,
					day.Format("2006-01-02"))
			}
			res := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: exchange.Window{
				Start: day.AddDate(0, 0, -3), End: day.AddDate(0, 0, 3)}})
			read, ok := findEvent(res.Events, created.ID)
			if !ok {
				t.Fatalf("read around %s: events %v lack %s", day.Format("2006-01-02"), ids(res.Events), created.ID)
			}
			checkEvent(t, "read", want, read)
		})
	}
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

func testAllDayNotMidnight(t *testing.T, s *suite) {
	zone := stockholm(t)
	mb := s.Mailboxes[0]
	tests := []struct {
		name       string
		start, end time.Time
	}{
		{"starts at one in the morning", time.Date(2026, 3, 29, 1, 0, 0, 0, zone),
			time.Date(2026, 3, 30, 0, 0, 0, 0, zone)},
		{"midnight in UTC, not in the zone", time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC)},
		{"ends at noon", time.Date(2026, 6, 1, 0, 0, 0, 0, zone), time.Date(2026, 6, 1, 12, 0, 0, 0, zone)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := s.event(bookingID(t), tt.start, 0)
			ev.End, ev.AllDay, ev.TimeZone = tt.end, true, zone.String()
			r := s.write(t, createOp(mb, ev))[0]
			if !errors.Is(r.Err, exchange.ErrInvalidEvent) {
				t.Errorf("create all-day %v–%v: %v, want ErrInvalidEvent", tt.start, tt.end, r.Err)
			}
			if n := countBooking(s.Control.Events(mb), ev.BookingID); n != 0 {
				t.Errorf("the refused create left %d events", n)
			}
		})
	}
}

func testTimedAcrossDST(t *testing.T, s *suite) {
	zone := stockholm(t)
	mb := s.Mailboxes[0]
	local := func(month time.Month, day, hour, minute int) time.Time {
		return time.Date(2026, month, day, hour, minute, 0, 0, zone)
	}
	tests := []struct {
		name       string
		start, end time.Time
	}{
		{"before spring change", local(3, 27, 8, 0), local(3, 27, 9, 30)},
		{"after spring change", local(3, 30, 8, 0), local(3, 30, 9, 30)},
		{"over the spring change", local(3, 28, 22, 0), local(3, 29, 4, 0)},
		{"before autumn change", local(10, 23, 8, 0), local(10, 23, 9, 30)},
		{"after autumn change", local(10, 26, 8, 0), local(10, 26, 9, 30)},
		{"over the autumn change", local(10, 24, 22, 0), local(10, 25, 4, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := s.event(bookingID(t), tt.start, 0)
			want.End, want.TimeZone = tt.end, zone.String()
			created := s.create(t, mb, want)
			got := s.get(t, mb, created.ID)
			checkEvent(t, "get", want, got)
			if w, g := tt.start.Format("15:04"), got.Start.In(zone).Format("15:04"); w != g {
				t.Errorf("start reads %s local, want %s", g, w)
			}
			if w, g := tt.end.Format("15:04"), got.End.In(zone).Format("15:04"); w != g {
				t.Errorf("end reads %s local, want %s", g, w)
			}
		})
	}
	t.Run("moved across the change keeps its wall time", func(t *testing.T) {
		created := s.create(t, mb, s.event(bookingID(t), local(10, 23, 8, 0), 90*time.Minute))
		want := created
		want.Start, want.End = local(10, 26, 8, 0), local(10, 26, 9, 30)
		if r := s.write(t, exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: want})[0]; r.Err != nil {
			t.Fatalf("update: %v", r.Err)
		}
		got := s.get(t, mb, created.ID)
		if g := got.Start.In(zone).Format("2006-01-02 15:04"); g != "2026-10-26 08:00" {
			t.Errorf("moved event starts %s local, want 2026-10-26 08:00", g)
		}
		if got.End.Sub(got.Start) != 90*time.Minute {
			t.Errorf("moved event lasts %v, want 1h30m", got.End.Sub(got.Start))
		}
	})
}

func testManyCreates(t *testing.T, s *suite) {
	const n = 60
	var ops []exchange.Op
	for i := range n {
		mb := s.Mailboxes[i%2]
		ev := s.event(fmt.Sprintf("%s-%02d", bookingID(t), i), s.at(7, 1+i%28, 7+i%10, 0), 45*time.Minute)
		ops = append(ops, createOp(mb, ev))
	}
	results := s.write(t, ops...)
	seen := map[string]bool{}
	perMailbox := map[string]int{}
	for i, r := range results {
		if r.Err != nil {
			t.Errorf("create %d: %v", i, r.Err)
			continue
		}
		if r.Event.ID == "" || seen[r.Event.ID] {
			t.Errorf("create %d: id %q is empty or repeated", i, r.Event.ID)
		}
		seen[r.Event.ID] = true
		perMailbox[ops[i].Mailbox]++
	}
	for _, mb := range s.Mailboxes[:2] {
		if perMailbox[mb] != n/2 {
			t.Errorf("%s: %d confirmed creates, want %d", mb, perMailbox[mb], n/2)
		}
		res := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window()})
		if len(res.Events) != n/2 {
			t.Errorf("%s: full read has %d events, want %d", mb, len(res.Events), n/2)
		}
		for _, ev := range res.Events {
			if !seen[ev.ID] {
				t.Errorf("%s: event %s was never confirmed", mb, ev.ID)
			}
		}
	}
}

func testCheckAccess(t *testing.T, s *suite) {
	for _, mb := range s.Mailboxes {
		if err := s.Calendar.CheckAccess(s.ctx, mb); err != nil {
			t.Errorf("check access %s: %v", mb, err)
		}
	}
}

// testRefused checks that every operation on mailbox fails with want.
func testRefused(t *testing.T, s *suite, mailbox string, want error) {
	if mailbox == "" {
		t.Skip("the harness has no such mailbox")
	}
	res := s.Calendar.Read(s.ctx, []exchange.ReadRequest{{Mailbox: mailbox, Window: s.window()}})
	if len(res) != 1 || !errors.Is(res[0].Err, want) {
		t.Errorf("read %s: %+v, want an error wrapping %v", mailbox, res, want)
	}
	r := s.write(t, createOp(mailbox, s.event(bookingID(t), s.at(8, 3, 10, 0), time.Hour)))[0]
	if !errors.Is(r.Err, want) {
		t.Errorf("create in %s: %v, want %v", mailbox, r.Err, want)
	}
	if err := s.Calendar.CheckAccess(s.ctx, mailbox); !errors.Is(err, want) {
		t.Errorf("check access %s: %v, want %v", mailbox, err, want)
	}
	if _, err := s.Calendar.FindByBooking(s.ctx, mailbox, bookingID(t)); !errors.Is(err, want) {
		t.Errorf("find by booking in %s: %v, want %v", mailbox, err, want)
	}
}

func testDenied(t *testing.T, s *suite) { testRefused(t, s, s.Denied, exchange.ErrAccessDenied) }

func testMissing(t *testing.T, s *suite) { testRefused(t, s, s.Missing, exchange.ErrMailboxNotFound) }

func testOneMailboxFails(t *testing.T, s *suite) {
	mb := s.Mailboxes[0]
	created := s.create(t, mb, s.event(bookingID(t), s.at(8, 20, 9, 0), time.Hour))
	reqs := []exchange.ReadRequest{{Mailbox: mb, Window: s.window()}}
	if s.Denied != "" {
		reqs = append([]exchange.ReadRequest{{Mailbox: s.Denied, Window: s.window()}}, reqs...)
	}
	if s.Missing != "" {
		reqs = append(reqs, exchange.ReadRequest{Mailbox: s.Missing, Window: s.window()})
	}
	if len(reqs) == 1 {
		t.Skip("the harness has neither a denied nor a missing mailbox")
	}
	res := s.Calendar.Read(s.ctx, reqs)
	if len(res) != len(reqs) {
		t.Fatalf("Read returned %d results for %d requests", len(res), len(reqs))
	}
	for i, r := range res {
		if r.Mailbox != reqs[i].Mailbox {
			t.Errorf("result %d is for %q, want %q (results must keep the order of the requests)", i, r.Mailbox,
				reqs[i].Mailbox)
		}
		if reqs[i].Mailbox != mb {
			if r.Err == nil {
				t.Errorf("read %s: no error", reqs[i].Mailbox)
			}
			continue
		}
		if r.Err != nil {
			t.Fatalf("read %s beside failing mailboxes: %v", mb, r.Err)
		}
		if !r.Full || r.Cursor == "" {
			t.Errorf("read %s: Full %v, cursor %q; want a full read with a cursor", mb, r.Full, r.Cursor)
		}
		if _, ok := findEvent(r.Events, created.ID); !ok || len(r.Events) != 1 {
			t.Errorf("read %s: events %v, want just %s", mb, ids(r.Events), created.ID)
		}
	}
}

// testInstallationID checks the second extended property: written on create and update, read back by Get,
// FindByBooking and a full Read, stamped onto an event written before installation ids existed, and never a
// reason for a create to adopt another installation's event for the same booking id.
func testInstallationID(t *testing.T, s *suite) {
	mb := s.Mailboxes[0]

	t.Run("written and read back", func(t *testing.T) {
		created := s.create(t, mb, s.event(bookingID(t), s.at(7, 6, 9, 0), time.Hour))
		if created.InstallationID != suiteInstallation {
			t.Errorf("create returned installation %q, want %q", created.InstallationID, suiteInstallation)
		}
		if got := s.get(t, mb, created.ID); got.InstallationID != suiteInstallation {
			t.Errorf("get: installation %q, want %q", got.InstallationID, suiteInstallation)
		}
		found, err := s.Calendar.FindByBooking(s.ctx, mb, created.BookingID)
		if err != nil || len(found) != 1 || found[0].InstallationID != suiteInstallation {
			t.Errorf("find by booking: %v, %v; want one event of installation %s", found, err, suiteInstallation)
		}
		full := s.read(t, exchange.ReadRequest{Mailbox: mb, Window: s.window()})
		got, ok := findEvent(full.Events, created.ID)
		if !ok || got.InstallationID != suiteInstallation {
			t.Errorf("full read: event %s found %t with installation %q, want %q", created.ID, ok,
				got.InstallationID, suiteInstallation)
		}
		want := created
		want.Subject = "Kontroll: efter uppdatering"
		if r := s.write(t, exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: want})[0]; r.Err != nil {
			t.Fatalf("update: %v", r.Err)
		}
		checkEvent(t, "get after update", want, s.get(t, mb, created.ID))
	})

	t.Run("legacy event stamped by its next write", func(t *testing.T) {
		legacy := s.event(bookingID(t), s.at(7, 7, 9, 0), time.Hour)
		legacy.InstallationID = ""
		created := s.create(t, mb, legacy)
		if got := s.get(t, mb, created.ID); got.InstallationID != "" || got.BookingID != legacy.BookingID {
			t.Fatalf("legacy event read back with booking %q and installation %q, want %q and none",
				got.BookingID, got.InstallationID, legacy.BookingID)
		}
		stamped := created
		stamped.InstallationID = suiteInstallation
		if r := s.write(t, exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: stamped})[0]; r.Err != nil {
			t.Fatalf("update: %v", r.Err)
		}
		checkEvent(t, "get after the stamping update", stamped, s.get(t, mb, created.ID))
	})

	t.Run("another installation's event is not adopted by a create", func(t *testing.T) {
		theirs := s.event(bookingID(t), s.at(7, 8, 9, 0), time.Hour)
		theirs.InstallationID = otherInstallation
		other := s.create(t, mb, theirs)
		ours := theirs
		ours.InstallationID = suiteInstallation
		r := s.write(t, exchange.Op{Kind: exchange.OpCreate, Mailbox: mb, Event: ours, TransactionID: "tx-ours-" + ours.BookingID})[0]
		if r.Err != nil {
			t.Fatalf("create of our event beside theirs: %v", r.Err)
		}
		if r.Event.ID == other.ID {
			t.Fatalf("the create adopted the other installation's event %s", other.ID)
		}
		found, err := s.Calendar.FindByBooking(s.ctx, mb, ours.BookingID)
		if err != nil {
			t.Fatalf("find by booking: %v", err)
		}
		byInstallation := map[string]int{}
		for _, ev := range found {
			byInstallation[ev.InstallationID]++
		}
		if len(found) != 2 || byInstallation[suiteInstallation] != 1 || byInstallation[otherInstallation] != 1 {
			t.Errorf("find by booking: %d events by installation %v, want one of each", len(found), byInstallation)
		}
		if got := s.get(t, mb, other.ID); got.InstallationID != otherInstallation || got.Subject != theirs.Subject {
			t.Errorf("the other installation's event changed: installation %q subject %q", got.InstallationID, got.Subject)
		}
	})
}
