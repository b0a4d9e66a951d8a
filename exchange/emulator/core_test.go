package emulator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator/emutest/testclock"
	"tfsync/exchange/exchangetest"
)

var _ exchangetest.Control = (*Emulator)(nil)

// newClock is the clock of the core's tests, moved by hand.
func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 5, 4, 6, 0, 0, 0, time.UTC))
}

const (
	alice   = "alice@example.com"
	bob     = "bob@example.com"
	denied  = "denied@example.com"
	nolic   = "unlicensed@example.com"
	missing = "nobody@example.com"
)

// newTestEmulator has two usable mailboxes, a blocked one and an unlicensed one.
func newTestEmulator(t *testing.T) (*Emulator, *testclock.Clock) {
	t.Helper()
	c := newClock()
	e := New(Options{Now: c.Now})
	e.AddMailbox(alice, MailboxOptions{})
	e.AddMailbox(bob, MailboxOptions{})
	e.AddMailbox(denied, MailboxOptions{Blocked: true})
	e.AddMailbox(nolic, MailboxOptions{Unlicensed: true})
	return e, c
}

func TestConformance(t *testing.T) {
	exchangetest.Run(t, func(t *testing.T) exchangetest.Harness {
		e, _ := newTestEmulator(t)
		return exchangetest.Harness{
			Calendar:  e,
			Control:   e,
			Mailboxes: []string{alice, bob},
			Denied:    denied,
			Missing:   missing,
		}
	})
}

func TestConformanceUnlicensedAsMissing(t *testing.T) {
	// An unlicensed user must look like a missing mailbox to the engine.
	exchangetest.Run(t, func(t *testing.T) exchangetest.Harness {
		e, _ := newTestEmulator(t)
		return exchangetest.Harness{Calendar: e, Control: e, Mailboxes: []string{alice, bob}, Missing: nolic,
			Zone: time.UTC}
	})
}

var (
	stockholm = mustZone("Europe/Stockholm")
	day       = time.Date(2026, 5, 4, 0, 0, 0, 0, stockholm)
	window    = exchange.Window{Start: day, End: day.AddDate(0, 0, 7)}
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// data is a timed event hours after day's midnight, in Stockholm.
func data(subject string, hours int) EventData {
	start := day.Add(time.Duration(hours) * time.Hour)
	return EventData{Subject: subject, Start: start, End: start.Add(time.Hour), TimeZone: "Europe/Stockholm"}
}

func mustCreate(t *testing.T, e *Emulator, addr string, d EventData) EventData {
	t.Helper()
	got, created, err := e.createEvent(addr, d)
	if err != nil || !created {
		t.Fatalf("create %q: created %v, %v", d.Subject, created, err)
	}
	return got
}

func TestCreateFillsServerFields(t *testing.T) {
	e, c := newTestEmulator(t)
	seq0 := e.Seq(alice)
	got := mustCreate(t, e, alice, data("Besiktning", 8))
	if got.ID == "" || got.ChangeKey == "" {
		t.Fatalf("id %q, change key %q; want both", got.ID, got.ChangeKey)
	}
	if strings.ContainsAny(got.ID, "/+") {
		t.Errorf("id %q is not URL-safe", got.ID)
	}
	if !got.Created.Equal(c.Now()) || !got.LastModified.Equal(c.Now()) {
		t.Errorf("created/last modified %v/%v, want the clock's %v", got.Created, got.LastModified, c.Now())
	}
	if got.Seq != seq0+1 || e.Seq(alice) != seq0+1 {
		t.Errorf("seq %d, mailbox seq %d; want both %d", got.Seq, e.Seq(alice), seq0+1)
	}
	if got.BodyType != "text" || got.ShowAs != exchange.ShowBusy || got.Sensitivity != "normal" {
		t.Errorf("defaults: body type %q, showAs %q, sensitivity %q; want text, busy, normal", got.BodyType,
			got.ShowAs, got.Sensitivity)
	}
	if got.Start.Location() != time.UTC {
		t.Errorf("stored start in %v, want UTC", got.Start.Location())
	}
}

func TestIDsNeverReused(t *testing.T) {
	e, _ := newTestEmulator(t)
	seen := map[string]bool{}
	for i := range 50 {
		addr := []string{alice, bob}[i%2]
		d := mustCreate(t, e, addr, data("x", i%24))
		if seen[d.ID] {
			t.Fatalf("id %s issued twice", d.ID)
		}
		seen[d.ID] = true
		if i%3 == 0 {
			if err := e.deleteEvent(addr, d.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestUpdateEvent(t *testing.T) {
	e, c := newTestEmulator(t)
	orig := mustCreate(t, e, alice, EventData{Subject: "Kontroll", Start: day.Add(8 * time.Hour),
		End: day.Add(9 * time.Hour), TimeZone: "Europe/Stockholm", TransactionID: "tx-1",
		Categories: []string{"TF"}, ExtProps: map[PropKey]string{BookingKey: "B-1"}})
	c.Advance(time.Minute)

	tests := []struct {
		name        string
		ifChangeKey func(cur EventData) string
		patch       func(*EventData) error
		wantErr     error
		check       func(t *testing.T, before, after EventData)
	}{
		{
			name: "partial update keeps other fields and bumps change key and seq",
			patch: func(d *EventData) error {
				d.Location = "Ågatan 3"
				return nil
			},
			check: func(t *testing.T, before, after EventData) {
				if after.Location != "Ågatan 3" || after.Subject != before.Subject || after.BookingID() != "B-1" ||
					!slices.Equal(after.Categories, []string{"TF"}) {
					t.Errorf("after update: %+v", after)
				}
				if after.ChangeKey == before.ChangeKey || after.Seq <= before.Seq {
					t.Errorf("change key %q -> %q, seq %d -> %d; want both to move on", before.ChangeKey,
						after.ChangeKey, before.Seq, after.Seq)
				}
				if !after.LastModified.Equal(c.Now()) || !after.Created.Equal(before.Created) {
					t.Errorf("created %v, last modified %v", after.Created, after.LastModified)
				}
			},
		},
		{
			name: "identity fields cannot be patched",
			patch: func(d *EventData) error {
				d.ID, d.ChangeKey, d.Seq, d.TransactionID = "other", "ck", 999, "tx-2"
				d.Created = time.Time{}
				return nil
			},
			check: func(t *testing.T, before, after EventData) {
				if after.ID != before.ID || after.TransactionID != "tx-1" || after.Seq == 999 ||
					after.ChangeKey == "ck" || !after.Created.Equal(before.Created) {
					t.Errorf("identity changed: %+v", after)
				}
			},
		},
		{
			name:        "matching change key",
			ifChangeKey: func(cur EventData) string { return cur.ChangeKey },
			patch:       func(d *EventData) error { d.Subject = "Ny"; return nil },
			check: func(t *testing.T, _, after EventData) {
				if after.Subject != "Ny" {
					t.Errorf("subject %q, want Ny", after.Subject)
				}
			},
		},
		{
			name:        "stale change key",
			ifChangeKey: func(EventData) string { return "stale" },
			patch:       func(d *EventData) error { d.Subject = "Nej"; return nil },
			wantErr:     ErrStaleChangeKey,
		},
		{
			name:    "patch error aborts",
			patch:   func(d *EventData) error { d.Subject = "Nej"; return errors.New("bad request") },
			wantErr: errors.New("bad request"),
		},
		{
			name: "invalid result is refused",
			patch: func(d *EventData) error {
				d.End = d.Start.Add(-time.Hour)
				return nil
			},
			wantErr: exchange.ErrInvalidEvent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := e.getEvent(alice, orig.ID)
			if err != nil {
				t.Fatal(err)
			}
			ck := ""
			if tt.ifChangeKey != nil {
				ck = tt.ifChangeKey(before)
			}
			after, err := e.updateEvent(alice, orig.ID, ck, tt.patch)
			if tt.wantErr != nil {
				if err == nil || (!errors.Is(err, tt.wantErr) && err.Error() != tt.wantErr.Error()) {
					t.Fatalf("update: %v, want %v", err, tt.wantErr)
				}
				now, _ := e.getEvent(alice, orig.ID)
				if now.ChangeKey != before.ChangeKey || now.Subject != before.Subject || !now.End.Equal(before.End) {
					t.Errorf("a failed update changed the event: %+v", now)
				}
				return
			}
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			tt.check(t, before, after)
		})
	}
	t.Run("missing event", func(t *testing.T) {
		_, err := e.updateEvent(alice, "nope", "", nil)
		if !errors.Is(err, ErrEventNotFound) || !errors.Is(err, exchange.ErrNotFound) {
			t.Errorf("update of missing event: %v, want ErrEventNotFound", err)
		}
	})
}

func TestTransactionIDDedup(t *testing.T) {
	e, _ := newTestEmulator(t)
	d := data("Ärende", 9)
	d.TransactionID = "tx-A"
	first := mustCreate(t, e, alice, d)
	seq := e.Seq(alice)

	d.Subject = "a retry carrying other content still returns the first event"
	again, created, err := e.createEvent(alice, d)
	if err != nil || created || again.ID != first.ID || again.Subject != first.Subject {
		t.Fatalf("repeated create: %+v, created %v, %v; want the first event", again, created, err)
	}
	if e.Seq(alice) != seq {
		t.Errorf("a deduplicated create moved the seq from %d to %d", seq, e.Seq(alice))
	}
	if _, created, _ := e.createEvent(bob, d); !created {
		t.Errorf("the same transaction id in another mailbox created nothing")
	}
	if err := e.deleteEvent(alice, first.ID); err != nil {
		t.Fatal(err)
	}
	third, created, err := e.createEvent(alice, d)
	if err != nil || !created || third.ID == first.ID {
		t.Errorf("create after the first event was deleted: %s, created %v, %v; want a new event", third.ID,
			created, err)
	}
}

func TestValidation(t *testing.T) {
	midnight := func(y int, m time.Month, d int, loc *time.Location) time.Time {
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	tests := []struct {
		name    string
		d       EventData
		wantErr bool
	}{
		{"spring DST day", EventData{IsAllDay: true, TimeZone: "Europe/Stockholm",
			Start: midnight(2026, 3, 29, stockholm), End: midnight(2026, 3, 30, stockholm)}, false},
		{"autumn DST day", EventData{IsAllDay: true, TimeZone: "Europe/Stockholm",
			Start: midnight(2026, 10, 25, stockholm), End: midnight(2026, 10, 26, stockholm)}, false},
		{"several days", EventData{IsAllDay: true, TimeZone: "Europe/Stockholm",
			Start: midnight(2026, 3, 28, stockholm), End: midnight(2026, 3, 31, stockholm)}, false},
		{"windows zone id", EventData{IsAllDay: true, TimeZone: "W. Europe Standard Time",
			Start: midnight(2026, 3, 29, stockholm), End: midnight(2026, 3, 30, stockholm)}, false},
		{"UTC midnights in a UTC event", EventData{IsAllDay: true,
			Start: midnight(2026, 3, 29, time.UTC), End: midnight(2026, 3, 30, time.UTC)}, false},
		{"UTC midnights in a Stockholm event", EventData{IsAllDay: true, TimeZone: "Europe/Stockholm",
			Start: midnight(2026, 3, 29, time.UTC), End: midnight(2026, 3, 30, time.UTC)}, true},
		{"zero length all-day", EventData{IsAllDay: true, TimeZone: "Europe/Stockholm",
			Start: midnight(2026, 3, 29, stockholm), End: midnight(2026, 3, 29, stockholm)}, true},
		{"all-day in two zones", EventData{IsAllDay: true, TimeZone: "Europe/Stockholm", EndTimeZone: "UTC",
			Start: midnight(2026, 3, 29, stockholm), End: midnight(2026, 3, 30, time.UTC)}, true},
		{"end before start", EventData{TimeZone: "Europe/Stockholm",
			Start: day.Add(time.Hour), End: day}, true},
		{"zero length timed", EventData{TimeZone: "Europe/Stockholm", Start: day, End: day}, false},
		{"unknown zone", EventData{TimeZone: "Mars/Olympus", Start: day, End: day.Add(time.Hour)}, true},
		{"unknown showAs", EventData{ShowAs: "away", Start: day, End: day.Add(time.Hour)}, true},
		{"unknown sensitivity", EventData{Sensitivity: "secret", Start: day, End: day.Add(time.Hour)}, true},
		{"negative reminder", EventData{ReminderOn: true, ReminderMinutes: -5, Start: day,
			End: day.Add(time.Hour)}, true},
		{"no times", EventData{Subject: "x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestEmulator(t)
			_, _, err := e.createEvent(alice, tt.d)
			if tt.wantErr != errors.Is(err, exchange.ErrInvalidEvent) || (!tt.wantErr && err != nil) {
				t.Errorf("create: %v, want invalid = %v", err, tt.wantErr)
			}
			if n := len(e.RawEvents(alice)); tt.wantErr && n != 0 {
				t.Errorf("a refused create stored %d events", n)
			}
		})
	}
}

// changeIDs summarises a ChangeSet as "changed" ids (new ones marked with +) and removed ids.
func changeIDs(cs ChangeSet, names map[string]string) (changed, removed []string) {
	for _, c := range cs.Changed {
		n := names[c.Event.ID]
		if c.New {
			n = "+" + n
		}
		changed = append(changed, n)
	}
	for _, id := range cs.Removed {
		removed = append(removed, names[id])
	}
	slices.Sort(changed)
	slices.Sort(removed)
	return changed, removed
}

func TestChanges(t *testing.T) {
	in := day.Add(10 * time.Hour)
	out := window.End.Add(48 * time.Hour)
	tests := []struct {
		name        string
		act         func(t *testing.T, e *Emulator, ids map[string]string) // after the cursor is taken
		wantChanged []string
		wantRemoved []string
	}{
		{"nothing", func(*testing.T, *Emulator, map[string]string) {}, nil, nil},
		{"created in window", func(t *testing.T, e *Emulator, ids map[string]string) {
			ids[mustCreate(t, e, alice, data("new", 30)).ID] = "new"
		}, []string{"+new"}, nil},
		{"created outside window", func(t *testing.T, e *Emulator, ids map[string]string) {
			d := data("far", 0)
			d.Start, d.End = out, out.Add(time.Hour)
			ids[mustCreate(t, e, alice, d).ID] = "far"
		}, nil, nil},
		{"created then deleted", func(t *testing.T, e *Emulator, ids map[string]string) {
			id := mustCreate(t, e, alice, data("brief", 30)).ID
			ids[id] = "brief"
			mustOK(t, e.DeleteEvent(alice, id))
		}, nil, nil},
		{"moved within window", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.MoveEvent(alice, key(ids, "inside"), in.Add(time.Hour), in.Add(2*time.Hour)))
		}, []string{"inside"}, nil},
		{"moved out", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.MoveEvent(alice, key(ids, "inside"), out, out.Add(time.Hour)))
		}, nil, []string{"inside"}},
		{"moved out and back", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.MoveEvent(alice, key(ids, "inside"), out, out.Add(time.Hour)))
			mustOK(t, e.MoveEvent(alice, key(ids, "inside"), in, in.Add(time.Hour)))
		}, []string{"inside"}, nil},
		{"moved in", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.MoveEvent(alice, key(ids, "outside"), in, in.Add(time.Hour)))
		}, []string{"+outside"}, nil},
		{"outside moved elsewhere outside", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.MoveEvent(alice, key(ids, "outside"), out.Add(time.Hour), out.Add(2*time.Hour)))
		}, nil, nil},
		{"deleted in window", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.DeleteEvent(alice, key(ids, "inside")))
		}, nil, []string{"inside"}},
		{"deleted outside window", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustOK(t, e.DeleteEvent(alice, key(ids, "outside")))
		}, nil, nil},
		{"other mailbox changes", func(t *testing.T, e *Emulator, ids map[string]string) {
			mustCreate(t, e, bob, data("bob's", 10))
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestEmulator(t)
			ids := map[string]string{}
			inside := mustCreate(t, e, alice, EventData{Subject: "inside", Start: in, End: in.Add(time.Hour)})
			ids[inside.ID] = "inside"
			outside := mustCreate(t, e, alice, EventData{Subject: "outside", Start: out, End: out.Add(time.Hour)})
			ids[outside.ID] = "outside"

			initial, err := e.changes(alice, window, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if changed, removed := changeIDs(initial, ids); !slices.Equal(changed, []string{"+inside"}) ||
				removed != nil {
				t.Fatalf("initial sync: changed %v, removed %v; want [+inside], []", changed, removed)
			}
			tt.act(t, e, ids)
			cs, err := e.changes(alice, window, initial.Seq, 0)
			if err != nil {
				t.Fatal(err)
			}
			changed, removed := changeIDs(cs, ids)
			if !slices.Equal(changed, tt.wantChanged) || !slices.Equal(removed, tt.wantRemoved) {
				t.Errorf("changed %v, removed %v; want %v, %v", changed, removed, tt.wantChanged, tt.wantRemoved)
			}
			if cs.Seq != e.Seq(alice) || cs.More {
				t.Errorf("seq %d (more %v), want the mailbox's %d", cs.Seq, cs.More, e.Seq(alice))
			}
		})
	}
}

func key(ids map[string]string, name string) string {
	for id, n := range ids {
		if n == name {
			return id
		}
	}
	panic("no event named " + name)
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestChangesPaging checks that reading the feed in pages gives the same answer as one read, over random edits.
func TestChangesPaging(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			e, _ := newTestEmulator(t)
			var live []string
			randomEdits := func(n int) {
				for range n {
					hours := r.IntN(24*10) - 24 // some before, most in, some after the window
					switch op := r.IntN(4); {
					case op == 0 || len(live) == 0:
						live = append(live, mustCreate(t, e, alice, data("x", hours)).ID)
					case op == 1:
						i := r.IntN(len(live))
						mustOK(t, e.DeleteEvent(alice, live[i]))
						live = slices.Delete(live, i, i+1)
					default:
						start := day.Add(time.Duration(hours) * time.Hour)
						mustOK(t, e.MoveEvent(alice, live[r.IntN(len(live))], start, start.Add(time.Hour)))
					}
				}
			}
			randomEdits(30)
			base, err := e.changes(alice, window, 0, 0)
			mustOK(t, err)
			randomEdits(40)

			whole, err := e.changes(alice, window, base.Seq, 0)
			mustOK(t, err)
			var pages []ChangeSet
			for since := base.Seq; ; {
				page, err := e.changes(alice, window, since, 3)
				mustOK(t, err)
				if len(page.Changed)+len(page.Removed) > 3 {
					t.Fatalf("page of %d items, limit 3", len(page.Changed)+len(page.Removed))
				}
				if page.Seq <= since && page.More {
					t.Fatalf("page from %d ends at %d: no progress", since, page.Seq)
				}
				pages = append(pages, page)
				since = page.Seq
				if !page.More {
					break
				}
			}
			if len(pages) < 2 {
				t.Fatalf("%d pages; the test needs several", len(pages))
			}
			if last := pages[len(pages)-1].Seq; last != whole.Seq {
				t.Errorf("last page ends at seq %d, want %d", last, whole.Seq)
			}
			var paged ChangeSet
			for _, p := range pages {
				paged.Changed = append(paged.Changed, p.Changed...)
				paged.Removed = append(paged.Removed, p.Removed...)
			}
			for _, id := range whole.Removed {
				if !slices.Contains(paged.Removed, id) {
					t.Errorf("paged feed lacks removed %s", id)
				}
			}
			if err := replay(base, pages, e); err != nil {
				t.Errorf("paged feed: %v", err)
			}
			if err := replay(base, []ChangeSet{whole}, e); err != nil {
				t.Errorf("whole feed: %v", err)
			}
		})
	}
}

// replay applies a feed, page by page, to the events of an initial sync and compares the result with the window's content,
// down to each event's version.
func replay(base ChangeSet, feed []ChangeSet, e *Emulator) error {
	state := map[string]uint64{}
	for _, c := range base.Changed {
		state[c.Event.ID] = c.Event.Seq
	}
	for _, page := range feed {
		for _, c := range page.Changed {
			state[c.Event.ID] = c.Event.Seq
		}
		for _, id := range page.Removed {
			delete(state, id)
		}
	}
	truth, err := e.listEvents(alice, window)
	if err != nil {
		return err
	}
	for _, d := range truth {
		if seq, ok := state[d.ID]; !ok || seq != d.Seq {
			return fmt.Errorf("event %s (seq %d) is in the window; the replayed feed has it %v at seq %d", d.ID,
				d.Seq, ok, seq)
		}
	}
	if len(truth) != len(state) {
		return fmt.Errorf("replayed feed holds %d events, window holds %d", len(state), len(truth))
	}
	return nil
}

func TestTombstonesAndExpiry(t *testing.T) {
	e, _ := newTestEmulator(t)
	a := mustCreate(t, e, alice, data("a", 8))
	b := mustCreate(t, e, alice, data("b", 9))
	cursor, err := e.changes(alice, window, 0, 0)
	mustOK(t, err)
	mustOK(t, e.DeleteEvent(alice, a.ID))

	ts := e.Tombstones(alice)
	if len(ts) != 1 || ts[0].ID != a.ID || ts[0].Seq != e.Seq(alice) {
		t.Fatalf("tombstones %+v, want one for %s at seq %d", ts, a.ID, e.Seq(alice))
	}
	if err := e.DeleteEvent(alice, a.ID); !errors.Is(err, ErrEventNotFound) {
		t.Errorf("second delete: %v, want ErrEventNotFound", err)
	}
	if _, err := e.getEvent(alice, a.ID); !errors.Is(err, ErrEventNotFound) {
		t.Errorf("get of deleted: %v, want ErrEventNotFound", err)
	}

	mustOK(t, e.ExpireCursors(alice))
	if ts := e.Tombstones(alice); len(ts) != 0 {
		t.Errorf("tombstones after expiry: %+v, want none", ts)
	}
	if _, err := e.changes(alice, window, cursor.Seq, 0); !errors.Is(err, ErrCursorExpired) {
		t.Errorf("changes with a cursor from before the expiry: %v, want ErrCursorExpired", err)
	}
	if _, err := e.changes(alice, window, e.Seq(alice)+5, 0); !errors.Is(err, ErrCursorExpired) {
		t.Errorf("changes with a cursor from the future: %v, want ErrCursorExpired", err)
	}
	fresh, err := e.changes(alice, window, 0, 0)
	mustOK(t, err)
	if len(fresh.Changed) != 1 || fresh.Changed[0].Event.ID != b.ID {
		t.Errorf("initial sync after expiry: %+v, want just %s", fresh.Changed, b.ID)
	}
	mustOK(t, e.MoveEvent(alice, b.ID, window.End, window.End.Add(time.Hour)))
	after, err := e.changes(alice, window, fresh.Seq, 0)
	mustOK(t, err)
	if !slices.Equal(after.Removed, []string{b.ID}) {
		t.Errorf("removed after the expiry %v, want [%s]", after.Removed, b.ID)
	}
}

func TestUnboundedWindow(t *testing.T) {
	// EWS's SyncFolderItems has no window: the zero Window covers every event.
	e, _ := newTestEmulator(t)
	far := data("far", 0)
	far.Start, far.End = day.AddDate(3, 0, 0), day.AddDate(3, 0, 0).Add(time.Hour)
	mustCreate(t, e, alice, far)
	zero := data("zero length", 5)
	zero.End = zero.Start
	mustCreate(t, e, alice, zero)
	cs, err := e.changes(alice, exchange.Window{}, 0, 0)
	mustOK(t, err)
	if len(cs.Changed) != 2 {
		t.Errorf("unbounded feed has %d events, want 2", len(cs.Changed))
	}
	list, err := e.listEvents(alice, window)
	mustOK(t, err)
	if len(list) != 1 || list[0].Subject != "zero length" {
		t.Errorf("window list %v, want the zero-length event only", list)
	}
}

func TestFindByProp(t *testing.T) {
	e, _ := newTestEmulator(t)
	other := MakePropKey("{AAAAAAAA-0000-0000-0000-000000000000}", "BookingId")
	mk := func(props map[PropKey]string) string {
		d := data("x", 8)
		d.ExtProps = props
		return mustCreate(t, e, alice, d).ID
	}
	want := mk(map[PropKey]string{BookingKey: "B-7"})
	mk(map[PropKey]string{other: "B-7"})
	mk(map[PropKey]string{BookingKey: "B-77"})
	mk(map[PropKey]string{MakePropKey(exchange.BookingPropertySetID, "bookingid"): "B-7"})
	got, err := e.findByProp(alice, MakePropKey(strings.ToUpper(exchange.BookingPropertySetID), "BookingId"), "B-7")
	mustOK(t, err)
	if len(got) != 1 || got[0].ID != want {
		t.Errorf("find: %d events, want just %s", len(got), want)
	}
}

func TestAuthorize(t *testing.T) {
	e, _ := newTestEmulator(t)
	e.AddMailbox("noimp@example.com", MailboxOptions{NoImpersonation: true})
	e.AddMailbox("nodel@example.com", MailboxOptions{NoDelegate: true})
	tests := []struct {
		addr string
		via  Via
		want error
	}{
		{alice, ViaGraph, nil},
		{"ALICE@Example.com ", ViaEWSDelegate, nil},
		{denied, ViaGraph, ErrBlocked},
		{denied, ViaEWSImpersonation, ErrBlocked},
		{nolic, ViaGraph, ErrUnlicensed},
		{missing, ViaEWSDelegate, ErrUnknownMailbox},
		{"noimp@example.com", ViaEWSImpersonation, ErrImpersonationDenied},
		{"noimp@example.com", ViaEWSDelegate, nil},
		{"noimp@example.com", ViaGraph, nil},
		{"nodel@example.com", ViaEWSDelegate, ErrNoDelegateRights},
		{"nodel@example.com", ViaEWSImpersonation, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.addr, tt.via), func(t *testing.T) {
			err := e.authorize("test", tt.addr, tt.via)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("authorize: %v, want %v", err, tt.want)
			}
		})
	}
	if n := e.Requests(missing); n != 1 {
		t.Errorf("requests to the unknown mailbox: %d, want 1", n)
	}
}

func TestAdminMessages(t *testing.T) {
	e, _ := newTestEmulator(t)
	ctx := context.Background()
	tests := []struct {
		addr     string
		sentinel error
		hint     string
	}{
		{missing, exchange.ErrMailboxNotFound, "Inställningar -> Grunddata -> Resurser"},
		{nolic, exchange.ErrMailboxNotFound, "licence"},
		{denied, exchange.ErrAccessDenied, "ApplicationAccessPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := e.CheckAccess(ctx, tt.addr)
			if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.hint) ||
				!strings.Contains(err.Error(), tt.addr) {
				t.Errorf("check access: %v; want %v naming the mailbox and %q", err, tt.sentinel, tt.hint)
			}
		})
	}
}

func TestFaultHook(t *testing.T) {
	e, _ := newTestEmulator(t)
	ctx := context.Background()
	var seen []string
	var mu sync.Mutex
	e.SetFault(func(op, mailbox string) error {
		mu.Lock()
		seen = append(seen, op+" "+mailbox)
		mu.Unlock()
		if mailbox == bob && (op == OpRead || op == OpCreate) {
			return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
		}
		return nil
	})
	ev := exchange.Event{Subject: "x", Start: day.Add(8 * time.Hour), End: day.Add(9 * time.Hour),
		TimeZone: "Europe/Stockholm", BookingID: "B-1"}
	var results []exchange.OpResult
	e.Write(ctx, []exchange.Op{
		{Kind: exchange.OpCreate, Mailbox: alice, Event: ev, TransactionID: "t1"},
		{Kind: exchange.OpCreate, Mailbox: bob, Event: ev, TransactionID: "t1"},
	}, func(rs []exchange.OpResult) { results = append(results, rs...) })
	if len(results) != 2 || results[0].Err != nil || !errors.Is(results[1].Err, exchange.ErrUnavailable) {
		t.Fatalf("write results %+v; want alice ok, bob ErrUnavailable", results)
	}
	if len(e.Events(bob)) != 0 {
		t.Errorf("a failed create stored an event")
	}
	res := e.Read(ctx, []exchange.ReadRequest{{Mailbox: alice, Window: window}, {Mailbox: bob, Window: window}})
	if res[0].Err != nil || len(res[0].Events) != 1 || !errors.Is(res[1].Err, exchange.ErrUnavailable) {
		t.Errorf("read results %+v; want alice's event and bob's ErrUnavailable", res)
	}
	if !slices.Contains(seen, "create "+alice) || !slices.Contains(seen, "read "+bob) {
		t.Errorf("hook saw %v", seen)
	}
	e.SetFault(nil)
	if res := e.Read(ctx, []exchange.ReadRequest{{Mailbox: bob, Window: window}}); res[0].Err != nil {
		t.Errorf("read after removing the hook: %v", res[0].Err)
	}
	e.SetFault(func(op, _ string) error {
		if op == OpCredentials {
			return exchange.ErrAuth
		}
		return nil
	})
	if err := e.CheckCredentials(ctx); !errors.Is(err, exchange.ErrAuth) {
		t.Errorf("check credentials: %v, want ErrAuth", err)
	}
}

func TestRequestCounter(t *testing.T) {
	e, _ := newTestEmulator(t)
	ctx := context.Background()
	e.Read(ctx, []exchange.ReadRequest{{Mailbox: alice, Window: window}, {Mailbox: missing, Window: window}})
	_, _ = e.Get(ctx, "Alice@Example.com", "nope")
	mustOK(t, e.CheckAccess(ctx, alice))
	// Control calls are not requests from the app.
	_, err := e.AddUserEvent(bob, exchange.Event{Start: day, End: day.Add(time.Hour)})
	mustOK(t, err)
	e.Events(bob)

	if got := e.RequestsByOp(alice); got[OpRead] != 1 || got[OpGet] != 1 || got[OpCheck] != 1 || len(got) != 3 {
		t.Errorf("alice's requests %v, want one read, get and check", got)
	}
	if n := e.Requests(missing); n != 1 {
		t.Errorf("requests naming the unknown mailbox: %d, want 1", n)
	}
	if n := e.Requests(bob); n != 0 {
		t.Errorf("requests to bob: %d, want 0", n)
	}
	if got := e.RequestedMailboxes(); !slices.Equal(got, []string{alice, missing}) {
		t.Errorf("requested mailboxes %v", got)
	}
	e.ResetRequests()
	if n := e.Requests(alice); n != 0 {
		t.Errorf("after reset: %d requests", n)
	}
}

func TestCursors(t *testing.T) {
	e, _ := newTestEmulator(t)
	ctx := context.Background()
	other := New(Options{})
	other.AddMailbox(alice, MailboxOptions{})
	mustCreate(t, e, alice, data("a", 8))
	mustCreate(t, e, bob, data("b", 8))
	aliceRead := e.Read(ctx, []exchange.ReadRequest{{Mailbox: alice, Window: window}})[0]
	bobRead := e.Read(ctx, []exchange.ReadRequest{{Mailbox: bob, Window: window}})[0]
	foreign := other.Read(ctx, []exchange.ReadRequest{{Mailbox: alice, Window: window}})[0]
	tests := []struct {
		name     string
		cursor   string
		wantFull bool
	}{
		{"own cursor", aliceRead.Cursor, false},
		{"empty", "", true},
		{"another mailbox's", bobRead.Cursor, true},
		{"another emulator's", foreign.Cursor, true},
		{"garbage", "emu1.!!!", true},
		{"bad json", "emu1.e30x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Read(ctx, []exchange.ReadRequest{{Mailbox: alice, Window: window, Cursor: tt.cursor}})[0]
			if res.Err != nil || res.Full != tt.wantFull {
				t.Fatalf("read: full %v, %v; want full %v", res.Full, res.Err, tt.wantFull)
			}
			if wantN := map[bool]int{true: 1, false: 0}[tt.wantFull]; len(res.Events) != wantN {
				t.Errorf("read: %d events, want %d", len(res.Events), wantN)
			}
		})
	}
}

func TestControl(t *testing.T) {
	e, _ := newTestEmulator(t)
	if err := e.SetMailbox(missing, MailboxOptions{}); !errors.Is(err, ErrUnknownMailbox) {
		t.Errorf("set unknown mailbox: %v", err)
	}
	mustOK(t, e.SetMailbox(denied, MailboxOptions{}))
	if err := e.CheckAccess(context.Background(), denied); err != nil {
		t.Errorf("after lifting the block: %v", err)
	}
	d := mustCreate(t, e, alice, data("a", 8))
	e.AddMailbox(alice, MailboxOptions{Blocked: true})
	if opts, ok := e.Mailbox(alice); !ok || !opts.Blocked || len(e.Events(alice)) != 1 {
		t.Errorf("re-adding a mailbox: %+v %v, %d events; want the flags set and the events kept", opts, ok,
			len(e.Events(alice)))
	}
	mustOK(t, e.EditEvent(alice, d.ID, func(d *EventData) { d.Categories = []string{"Privat"} }))
	if raw := e.RawEvents(alice); len(raw) != 1 || !slices.Equal(raw[0].Categories, []string{"Privat"}) {
		t.Errorf("raw events after edit: %+v", raw)
	}
	allDay := data("round", 0)
	allDay.IsAllDay, allDay.End = true, day.AddDate(0, 0, 1)
	ad := mustCreate(t, e, bob, allDay)
	if err := e.MoveEvent(bob, ad.ID, day.Add(time.Hour), day.AddDate(0, 0, 1)); !errors.Is(err,
		exchange.ErrInvalidEvent) {
		t.Errorf("moving an all-day event off midnight: %v, want ErrInvalidEvent", err)
	}
	e.RemoveMailbox(alice)
	if _, ok := e.Mailbox(alice); ok || e.Events(alice) != nil || e.Seq(alice) != 0 {
		t.Errorf("removed mailbox still exists")
	}
}

func TestWriteRules(t *testing.T) {
	e, _ := newTestEmulator(t)
	ctx := context.Background()
	ev := exchange.Event{Subject: "x", Start: day.Add(8 * time.Hour), End: day.Add(9 * time.Hour),
		TimeZone: "Europe/Stockholm", BookingID: "B-1", ReminderMinutes: exchange.NoReminder}
	var results []exchange.OpResult
	done := func(rs []exchange.OpResult) { results = append(results, rs...) }
	e.Write(ctx, []exchange.Op{
		{Kind: exchange.OpCreate, Mailbox: alice, Event: ev},
		{Kind: "rename", Mailbox: alice, Event: ev},
		{Kind: exchange.OpDelete, Mailbox: alice, Event: exchange.Event{ID: "never-existed"}},
	}, done)
	if len(results) != 3 || !errors.Is(results[0].Err, exchange.ErrInvalidEvent) || results[1].Err == nil ||
		results[2].Err != nil {
		t.Errorf("results %+v; want create without transaction id refused, unknown kind refused, delete ok",
			results)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	results = nil
	e.Write(cctx, []exchange.Op{{Kind: exchange.OpCreate, Mailbox: alice, Event: ev, TransactionID: "t"}}, done)
	if len(results) != 1 || !errors.Is(results[0].Err, context.Canceled) || len(e.Events(alice)) != 0 {
		t.Errorf("write with a cancelled context: %+v", results)
	}
	// An update keeps what tfsync does not own: categories, sensitivity, other applications' properties.
	results = nil
	e.Write(ctx, []exchange.Op{{Kind: exchange.OpCreate, Mailbox: alice, Event: ev, TransactionID: "t"}}, done)
	id := results[0].Event.ID
	foreign := MakePropKey("11111111-2222-3333-4444-555555555555", "Other")
	mustOK(t, e.EditEvent(alice, id, func(d *EventData) {
		d.Categories, d.Sensitivity = []string{"Röd"}, "private"
		d.ExtProps[foreign] = "keep"
	}))
	upd := results[0].Event
	upd.Subject = "ny"
	e.Write(ctx, []exchange.Op{{Kind: exchange.OpUpdate, Mailbox: alice, Event: upd}}, done)
	raw := e.RawEvents(alice)[0]
	if raw.Subject != "ny" || raw.Sensitivity != "private" || raw.ExtProps[foreign] != "keep" ||
		raw.BookingID() != "B-1" || raw.ReminderOn {
		t.Errorf("after update: %+v", raw)
	}
}

// TestConcurrentUse runs the Calendar and the control API from many goroutines; run it with -race.
func TestConcurrentUse(t *testing.T) {
	e, _ := newTestEmulator(t)
	ctx := context.Background()
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			addr := []string{alice, bob}[w%2]
			cursor := ""
			for i := range perWorker {
				bid := fmt.Sprintf("B-%d-%d", w, i)
				start := day.Add(time.Duration(i%48) * time.Hour)
				ev := exchange.Event{Subject: bid, BookingID: bid, Start: start, End: start.Add(time.Hour),
					TimeZone: "Europe/Stockholm", ReminderMinutes: exchange.NoReminder}
				var created exchange.Event
				e.Write(ctx, []exchange.Op{{Kind: exchange.OpCreate, Mailbox: addr, Event: ev,
					TransactionID: bid}}, func(rs []exchange.OpResult) { created = rs[0].Event })
				if i%5 == 0 {
					_ = e.MoveEvent(addr, created.ID, start.Add(time.Hour), start.Add(2*time.Hour))
				}
				res := e.Read(ctx, []exchange.ReadRequest{{Mailbox: addr, Window: window, Cursor: cursor}})[0]
				if res.Err != nil {
					t.Errorf("read: %v", res.Err)
					return
				}
				cursor = res.Cursor
				if i%7 == 0 {
					_ = e.ExpireCursors(addr)
				}
				_, _ = e.FindByBooking(ctx, addr, bid)
			}
		})
	}
	wg.Wait()
	for _, addr := range []string{alice, bob} {
		if n := len(e.Events(addr)); n != workers/2*perWorker {
			t.Errorf("%s holds %d events, want %d", addr, n, workers/2*perWorker)
		}
	}
}

func TestLoadZone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "UTC"},
		{"Europe/Stockholm", "Europe/Stockholm"},
		{"W. Europe Standard Time", "Europe/Berlin"},
		{"UTC", "UTC"},
	}
	for _, tt := range tests {
		loc, err := LoadZone(tt.in)
		if err != nil || loc.String() != tt.want {
			t.Errorf("LoadZone(%q) = %v, %v; want %s", tt.in, loc, err, tt.want)
		}
	}
	if _, err := LoadZone("Nowhere/Special"); err == nil {
		t.Errorf("LoadZone of an unknown zone succeeded")
	}
	if id, ok := WindowsZone("Europe/Stockholm"); !ok || id != "W. Europe Standard Time" {
		t.Errorf("WindowsZone(Europe/Stockholm) = %q, %v", id, ok)
	}
}
