package sync

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"tfsync/exchange"
	"tfsync/tf"
)

var stockholm = mustZone("Europe/Stockholm")

func mustZone(name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return z
}

func testSettings() Settings {
	return Settings{
		Zone:             stockholm,
		Kinds:            tf.Kinds,
		DefaultLength:    time.Hour,
		ShowAs:           exchange.ShowBusy,
		ReminderMinutes:  15,
		IncludeLocation:  true,
		AllowedDomains:   []string{"example.com"},
		PastDays:         7,
		FutureDays:       90,
		Conflict:         ConflictTF,
		OnCalendarDelete: DeleteRecreate,
		MaxDeletePercent: 50,
		MaxDeleteFloor:   5,
	}
}

// planNow is a Friday in March, nine days before the spring DST change.
var planNow = time.Date(2026, 3, 20, 10, 0, 0, 0, stockholm)

const (
	anna = "anna@example.com"
	bo   = "bo@example.com"
)

var testResources = []tf.Resource{
	{ID: "R1", Name: "Anna", Email: anna, SyncEnabled: true},
	{ID: "R2", Name: "Bo", Email: "Bo@Example.com", SyncEnabled: true},
	{ID: "R3", Name: "Cecilia", Email: "cecilia@example.com", SyncEnabled: false},
	{ID: "R4", Name: "David", Email: "", SyncEnabled: true},
	{ID: "R5", Name: "Extern", Email: "e@example.org", SyncEnabled: true},
}

func at(day, hour, min int) time.Time { return time.Date(2026, 3, day, hour, min, 0, 0, stockholm) }

func booking(id string, kind tf.Kind, res string, start time.Time, length time.Duration) tf.Booking {
	b := tf.Booking{ID: id, Kind: kind, ResourceID: res, Title: "Titel " + id, Location: "Storgatan 4",
		Start: start, End: start.Add(length), Status: tf.StatusPlanned, URL: "https://tf.example.com/" + id,
		Version: 1, UpdatedAt: planNow.Add(-24 * time.Hour)}
	if kind == tf.KindRondering {
		y, m, d := start.Date()
		b.Start = time.Date(y, m, d, 0, 0, 0, 0, stockholm)
		b.End = time.Date(y, m, d+1, 0, 0, 0, 0, stockholm)
		b.AllDay = true
	}
	return b
}

// synced returns the link and the calendar event for a booking synced unchanged to mailbox.
func synced(b tf.Booking, mailbox, eventID string) (Link, exchange.Event) {
	ev := Render(b, testSettings())
	ev.ID, ev.ChangeKey = eventID, "ck-"+eventID
	ev.LastModified = planNow.Add(-24 * time.Hour)
	return Link{BookingID: b.ID, Mailbox: mailbox, EventID: eventID, ChangeKey: ev.ChangeKey, Hash: Hash(Render(b, testSettings())),
		TFVersion: b.Version, EvStart: ev.Start, EvEnd: ev.End, AllDay: ev.AllDay}, ev
}

// scenario builds a PlanInput step by step.
type scenario struct {
	in *PlanInput
}

func newScenario() *scenario {
	in := &PlanInput{Now: planNow, Settings: testSettings(), Resources: testResources, Links: map[string]Link{},
		Observations: map[string]*Observation{}}
	for _, mb := range []string{anna, bo} {
		in.Observations[mb] = &Observation{Mailbox: mb, Events: map[string]exchange.Event{}, Gone: map[string]bool{}}
	}
	return &scenario{in: in}
}

func (s *scenario) tf(bs ...tf.Booking) *scenario {
	s.in.Bookings.Bookings = append(s.in.Bookings.Bookings, bs...)
	return s
}

func (s *scenario) link(l Link) *scenario { s.in.Links[l.BookingID] = l; return s }

// seen puts an event in a mailbox's read result, as a changed event.
func (s *scenario) seen(mb string, ev exchange.Event) *scenario {
	s.in.Observations[mb].Events[ev.ID] = ev
	return s
}

func (s *scenario) gone(mb, id string) *scenario { s.in.Observations[mb].Gone[id] = true; return s }

func summary(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		line := fmt.Sprintf("%s %s %s", a.Kind, a.BookingID, a.Mailbox)
		if a.Held {
			line += " held"
		}
		if a.Conflict != "" {
			line += " conflict"
		}
		if a.After != "" {
			line += " after-" + string(a.After)
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

func TestPlan(t *testing.T) {
	besiktning := booking("BES-1", tf.KindBesiktning, "R1", at(23, 9, 0), 2*time.Hour)
	link1, ev1 := synced(besiktning, anna, "ev1")

	moved := ev1
	moved.Start, moved.End = at(24, 13, 0), at(24, 15, 0)
	moved.ChangeKey = "ck-moved"
	moved.LastModified = planNow.Add(-time.Hour)

	movedFar := ev1
	movedFar.Start, movedFar.End = time.Date(2026, 9, 1, 8, 0, 0, 0, stockholm), time.Date(2026, 9, 1, 10, 0, 0, 0, stockholm)
	movedFar.ChangeKey = "ck-far"

	edited := ev1
	edited.Subject, edited.ChangeKey = "Mitt eget ämne", "ck-edited"

	touched := ev1
	touched.ChangeKey = "ck-touched"
	// Exchange wraps the HTML it stores; that is not an edit.
	touched.Body = "<html><head><meta charset=\"utf-8\"></head><body>" + ev1.Body + "</body></html>"

	retitled := besiktning
	retitled.Title, retitled.Version = "Ny titel", 2
	retitled.UpdatedAt = planNow.Add(-30 * time.Minute)

	movedInTF := besiktning
	movedInTF.Start, movedInTF.End, movedInTF.Version = at(24, 13, 0), at(24, 15, 0), 2

	cancelled := besiktning
	cancelled.Status = tf.StatusCancelled
	done := besiktning
	done.Status = tf.StatusDone
	reassigned := besiktning
	reassigned.ResourceID = "R2"
	toDisabled := besiktning
	toDisabled.ResourceID = "R3"
	toNoEmail := besiktning
	toNoEmail.ResourceID = "R4"
	history := booking("BES-1", tf.KindBesiktning, "R1", at(5, 9, 0), time.Hour)
	linkHist, _ := synced(history, anna, "ev1")
	future := booking("BES-1", tf.KindBesiktning, "R1", time.Date(2026, 8, 1, 9, 0, 0, 0, stockholm), time.Hour)
	linkFuture, _ := synced(future, anna, "ev1")

	round := booking("RON-1", tf.KindRondering, "R1", at(29, 0, 0), 0) // the spring DST day: 23 hours long
	dstMorning := booking("ARE-1", tf.KindArende, "R1", at(29, 9, 0), time.Hour)

	outsideLink := link1
	outsideLink.Mailbox = "e@example.org"

	// retimed is changed in TF in its time and its title: with a calendar move, a real conflict.
	retimed := besiktning
	retimed.Title, retimed.Version = "Ny titel", 2
	retimed.Start, retimed.End = at(25, 9, 0), at(25, 11, 0)
	retimed.UpdatedAt = planNow.Add(-30 * time.Minute)

	roundLink, roundEv := synced(round, anna, "ev9")
	roundTimed := roundEv
	roundTimed.AllDay, roundTimed.ChangeKey = false, "ck-timed"
	roundTimed.Start, roundTimed.End = time.Date(2026, 4, 1, 10, 0, 0, 0, stockholm), time.Date(2026, 4, 1, 11, 0, 0, 0, stockholm)
	roundStretched := roundEv
	roundStretched.ChangeKey = "ck-stretched"
	roundStretched.End = time.Date(2026, 3, 31, 0, 0, 0, 0, stockholm)
	roundSameDay := roundTimed
	roundSameDay.Start, roundSameDay.End = at(29, 10, 0), at(29, 11, 0)
	toAllDay := ev1
	toAllDay.AllDay, toAllDay.ChangeKey = true, "ck-allday"
	toAllDay.Start, toAllDay.End = time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)
	zeroLength := ev1
	zeroLength.End, zeroLength.ChangeKey = zeroLength.Start, "ck-zero"

	farFuture := besiktning
	farFuture.Start, farFuture.End, farFuture.Version = time.Date(2026, 7, 20, 9, 0, 0, 0, stockholm), time.Date(2026, 7, 20, 11, 0, 0, 0, stockholm), 2
	intoPast := besiktning
	intoPast.Start, intoPast.End, intoPast.Version = at(2, 9, 0), at(2, 11, 0), 2

	// The repeated autumn hour: TF's wall time 02:30 reads as summer time; the event was moved to winter time.
	autumn := booking("ARE-9", tf.KindArende, "R1", time.Date(2026, 10, 25, 2, 30, 0, 0, stockholm), 0)
	autumn.Start = time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC).In(stockholm) // 02:30 CEST, as TF reads it
	autumn.End = time.Date(2026, 10, 25, 3, 30, 0, 0, stockholm)
	autumnEvent := autumn
	autumnEvent.Start = time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC).In(stockholm) // 02:30 CET
	autumnLink, _ := synced(autumnEvent, anna, "ev10")

	noEmailRes := append([]tf.Resource{}, testResources...)
	noEmailRes[0].Email = ""

	cases := []struct {
		name     string
		build    func(*scenario)
		settings func(*Settings)
		force    bool
		want     []string
		check    func(t *testing.T, p *Plan)
	}{
		{name: "new booking is created", build: func(s *scenario) { s.tf(besiktning) },
			want: []string{"create BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				ev := p.Actions[0].Event
				if ev.Subject != "Besiktning: Titel BES-1" || !ev.Start.Equal(at(23, 9, 0)) || !ev.End.Equal(at(23, 11, 0)) || ev.AllDay {
					t.Errorf("event = %+v", ev)
				}
				if ev.BookingID != "BES-1" || ev.ShowAs != exchange.ShowBusy || ev.ReminderMinutes != 15 || ev.Location != "Storgatan 4" {
					t.Errorf("event = %+v", ev)
				}
			}},
		{name: "unchanged on both sides does nothing", build: func(s *scenario) { s.tf(besiktning).link(link1) }},
		{name: "unchanged, event reported again with the same change key", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, ev1) }},
		{name: "changed in TF is updated", build: func(s *scenario) { s.tf(retitled).link(link1) },
			want: []string{"update BES-1 anna@example.com"}},
		{name: "moved in TF is updated", build: func(s *scenario) { s.tf(movedInTF).link(link1) },
			want: []string{"update BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if !p.Actions[0].Event.Start.Equal(at(24, 13, 0)) || p.Actions[0].Event.ID != "ev1" {
					t.Errorf("update event = %+v", p.Actions[0].Event)
				}
			}},
		{name: "cancelled in TF is deleted", build: func(s *scenario) { s.tf(cancelled).link(link1) },
			want: []string{"delete BES-1 anna@example.com"}},
		{name: "cancelled and already deleted in the calendar is forgotten", build: func(s *scenario) { s.tf(cancelled).link(link1).gone(anna, "ev1") },
			want: []string{"retire BES-1 anna@example.com"}},
		{name: "cancelled and never synced does nothing", build: func(s *scenario) { s.tf(cancelled) }},
		{name: "done in TF keeps the event and retires the link", build: func(s *scenario) { s.tf(done).link(link1) },
			want: []string{"retire BES-1 anna@example.com"}},
		{name: "done in TF and moved in the calendar still only retires", build: func(s *scenario) { s.tf(done).link(link1).seen(anna, moved) },
			want: []string{"retire BES-1 anna@example.com"}},
		{name: "reassigned deletes in the old mailbox and creates in the new", build: func(s *scenario) { s.tf(reassigned).link(link1) },
			want: []string{"create BES-1 bo@example.com after-delete", "delete BES-1 anna@example.com"}},
		{name: "passed into history retires", build: func(s *scenario) { s.tf(history).link(linkHist) },
			want: []string{"retire BES-1 anna@example.com"}},
		{name: "beyond the window keeps the link", build: func(s *scenario) { s.tf(future).link(linkFuture) }},
		{name: "kind disabled deletes", build: func(s *scenario) { s.tf(besiktning).link(link1) },
			settings: func(st *Settings) { st.Kinds = []tf.Kind{tf.KindArende} },
			want:     []string{"delete BES-1 anna@example.com"}},
		{name: "resource disabled deletes", build: func(s *scenario) { s.tf(toDisabled).link(link1) },
			want: []string{"delete BES-1 anna@example.com"}},
		{name: "reassigned to a resource without e-mail deletes in the old mailbox", build: func(s *scenario) { s.tf(toNoEmail).link(link1) },
			want: []string{"delete BES-1 anna@example.com"}},
		{name: "resource lost its e-mail retires and touches nothing", build: func(s *scenario) {
			s.in.Resources = noEmailRes
			s.tf(besiktning).link(link1)
		}, want: []string{"retire BES-1 anna@example.com"}},
		{name: "reassigned and moved in the old calendar: the move goes to TF, the new event at the moved time",
			build: func(s *scenario) { s.tf(reassigned).link(link1).seen(anna, moved) },
			want:  []string{"create BES-1 bo@example.com after-delete", "delete BES-1 anna@example.com after-move-tf", "move-tf BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				for _, a := range p.Actions {
					if a.Kind == ActCreate && !a.Event.Start.Equal(at(24, 13, 0)) {
						t.Errorf("created at %v, want the moved time", a.Event.Start)
					}
				}
			}},
		{name: "reassigned while the old calendar cannot be read: orphan recorded, created at once", build: func(s *scenario) {
			s.tf(reassigned).link(link1)
			s.in.Observations[anna].Err = errors.New("mailbox not found")
		}, want: []string{"create BES-1 bo@example.com", "orphan BES-1 anna@example.com"}},
		{name: "reassigned and moved while the new calendar cannot be read: the old calendar's change is read again", build: func(s *scenario) {
			s.tf(reassigned).link(link1).seen(anna, moved)
			s.in.Observations[bo].Err = errors.New("unavailable")
		}, check: func(t *testing.T, p *Plan) {
			if !p.KeepCursor[anna] {
				t.Error("the old calendar's cursor would be saved and its move lost")
			}
		}},
		{name: "an orphan is deleted once its calendar can be read", build: func(s *scenario) {
			l := link1
			l.Mailbox, l.EventID = bo, "ev-bo"
			s.tf(reassigned).link(l)
			s.in.Orphans = []Orphan{{BookingID: "BES-1", Mailbox: anna, EventID: "ev1"}}
		}, want: []string{"delete BES-1 anna@example.com"}},
		{name: "an orphan in a calendar that cannot be read waits and is reported", build: func(s *scenario) {
			l := link1
			l.Mailbox, l.EventID = bo, "ev-bo"
			s.tf(reassigned).link(l)
			s.in.Orphans = []Orphan{{BookingID: "BES-1", Mailbox: anna, EventID: "ev1"}}
			s.in.Observations[anna].Err = errors.New("mailbox not found")
		}, check: func(t *testing.T, p *Plan) {
			if !strings.Contains(fmt.Sprint(p.Skipped), "old event waits to be deleted") {
				t.Errorf("skipped = %+v", p.Skipped)
			}
		}},
		{name: "rescheduled in TF beyond the window: the event follows", build: func(s *scenario) { s.tf(farFuture).link(link1) },
			want: []string{"update BES-1 anna@example.com"}},
		{name: "rescheduled in TF into the past: the event follows", build: func(s *scenario) { s.tf(intoPast).link(link1) },
			want: []string{"update BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if !p.Actions[0].Event.Start.Equal(at(2, 9, 0)) {
					t.Errorf("update to %v", p.Actions[0].Event.Start)
				}
			}},
		{name: "renamed in TF and moved in the calendar keeps both", build: func(s *scenario) { s.tf(retitled).link(link1).seen(anna, moved) },
			want: []string{"move-tf BES-1 anna@example.com", "update BES-1 anna@example.com after-move-tf"},
			check: func(t *testing.T, p *Plan) {
				for _, a := range p.Actions {
					if a.Kind == ActMoveTF && (a.Move.Version != 2 || !a.Move.Start.Equal(at(24, 13, 0)) || a.Hash != "") {
						t.Errorf("move = %+v (hash %q)", a.Move, a.Hash)
					}
					if a.Kind == ActUpdate && (a.Event.Subject != "Besiktning: Ny titel" || !a.Event.Start.Equal(at(24, 13, 0))) {
						t.Errorf("update event = %+v", a.Event)
					}
				}
			}},
		{name: "round dragged to a timed slot moves its date and is all-day again", build: func(s *scenario) { s.tf(round).link(roundLink).seen(anna, roundTimed) },
			want: []string{"move-tf RON-1 anna@example.com", "update RON-1 anna@example.com after-move-tf"},
			check: func(t *testing.T, p *Plan) {
				for _, a := range p.Actions {
					if a.Kind == ActMoveTF && (!a.Move.AllDay || !a.Move.Start.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, stockholm))) {
						t.Errorf("move = %+v", a.Move)
					}
					if a.Kind == ActUpdate && (!a.Event.AllDay || !a.Event.Start.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, stockholm))) {
						t.Errorf("update event = %+v", a.Event)
					}
				}
			}},
		{name: "round dragged to a timed slot on its own day is only restored", build: func(s *scenario) { s.tf(round).link(roundLink).seen(anna, roundSameDay) },
			want: []string{"update RON-1 anna@example.com"}},
		{name: "timed booking dragged to the all-day row keeps TF's time of day and length", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, toAllDay) },
			want: []string{"move-tf BES-1 anna@example.com", "update BES-1 anna@example.com after-move-tf"},
			check: func(t *testing.T, p *Plan) {
				for _, a := range p.Actions {
					if a.Kind == ActMoveTF && (!a.Move.Start.Equal(at(26, 9, 0)) || !a.Move.End.Equal(at(26, 11, 0))) {
						t.Errorf("move = %+v", a.Move)
					}
					if a.Kind == ActUpdate && a.Event.AllDay {
						t.Errorf("update event = %+v", a.Event)
					}
				}
			}},
		{name: "round stretched over two days is restored without touching TF", build: func(s *scenario) { s.tf(round).link(roundLink).seen(anna, roundStretched) },
			want: []string{"update RON-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if !strings.Contains(p.Actions[0].Reason, "stretched over 2 days") {
					t.Errorf("reason = %q", p.Actions[0].Reason)
				}
			}},
		{name: "zero-length event is restored without touching TF", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, zeroLength) },
			want: []string{"update BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if !strings.Contains(p.Actions[0].Reason, "end is not after its start") || !p.Actions[0].Event.End.Equal(at(23, 11, 0)) {
					t.Errorf("action = %+v", p.Actions[0])
				}
			}},
		{name: "a move into the repeated autumn hour keeps its instant", build: func(s *scenario) { s.tf(autumn).link(autumnLink) },
			settings: func(st *Settings) { st.FutureDays = 250 }},
		{name: "a terminal failure is not retried while the booking is unchanged", build: func(s *scenario) {
			s.tf(retitled).link(link1)
			s.in.Terminal = map[string]TerminalFailure{"BES-1": {BookingID: "BES-1", Mailbox: anna, Action: ActUpdate,
				Hash: Hash(Render(retitled, testSettings())), Reason: "invalid event"}}
		}, check: func(t *testing.T, p *Plan) {
			if !strings.Contains(fmt.Sprint(p.Skipped), "refused for good") {
				t.Errorf("skipped = %+v", p.Skipped)
			}
		}},
		{name: "a move TF refused for good is not planned again, nor its follow-up", build: func(s *scenario) {
			m := besiktning
			m.Start, m.End = at(24, 13, 0), at(24, 15, 0)
			s.tf(retitled).link(link1).seen(anna, moved)
			mr := retitled
			mr.Start, mr.End = m.Start, m.End
			s.in.Terminal = map[string]TerminalFailure{"BES-1": {BookingID: "BES-1", Mailbox: anna, Action: ActMoveTF,
				Hash: Hash(Render(mr, testSettings())), Reason: "refused"}}
		}},
		{name: "reassigned after a move TF refused for good: deleted and created at TF's time", build: func(s *scenario) {
			mr := reassigned
			mr.Start, mr.End = at(24, 13, 0), at(24, 15, 0)
			s.tf(reassigned).link(link1).seen(anna, moved)
			s.in.Terminal = map[string]TerminalFailure{"BES-1": {BookingID: "BES-1", Mailbox: anna, Action: ActMoveTF,
				Hash: Hash(Render(mr, testSettings())), Reason: "refused"}}
		}, want: []string{"create BES-1 bo@example.com after-delete", "delete BES-1 anna@example.com"}},
		{name: "a terminal failure is retried once the booking changes", build: func(s *scenario) {
			s.tf(retimed).link(link1)
			s.in.Terminal = map[string]TerminalFailure{"BES-1": {BookingID: "BES-1", Mailbox: anna, Action: ActUpdate,
				Hash: Hash(Render(retitled, testSettings())), Reason: "invalid event"}}
		}, want: []string{"update BES-1 anna@example.com"}},
		{name: "booking gone from TF deletes", build: func(s *scenario) { s.tf(dstMorning).link(link1) },
			want: []string{"create ARE-1 anna@example.com", "delete BES-1 anna@example.com"}},
		{name: "moved in the calendar moves the booking in TF", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, moved) },
			want: []string{"move-tf BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				m := p.Actions[0].Move
				if m == nil || !m.Start.Equal(at(24, 13, 0)) || !m.End.Equal(at(24, 15, 0)) || m.Version != 1 {
					t.Errorf("move = %+v", m)
				}
			}},
		{name: "moved outside the window is a move, not a deletion", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, movedFar) },
			want: []string{"move-tf BES-1 anna@example.com"}},
		{name: "other fields edited in the calendar are restored", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, edited) },
			want: []string{"update BES-1 anna@example.com"}},
		{name: "moved and edited: time to TF, content restored after", build: func(s *scenario) {
			m := moved
			m.Subject = "eget"
			s.tf(besiktning).link(link1).seen(anna, m)
		}, want: []string{"move-tf BES-1 anna@example.com", "update BES-1 anna@example.com after-move-tf"}},
		{name: "change key changed without effect is recorded", build: func(s *scenario) { s.tf(besiktning).link(link1).seen(anna, touched) },
			want: []string{"record BES-1 anna@example.com"}},
		{name: "deleted in the calendar is recreated", build: func(s *scenario) { s.tf(besiktning).link(link1).gone(anna, "ev1") },
			want: []string{"create BES-1 anna@example.com"}},
		{name: "deleted in the calendar with detach", build: func(s *scenario) { s.tf(besiktning).link(link1).gone(anna, "ev1") },
			settings: func(st *Settings) { st.OnCalendarDelete = DeleteDetach },
			want:     []string{"detach BES-1 anna@example.com"}},
		{name: "detached link stays quiet", build: func(s *scenario) {
			l := link1
			l.Detached = true
			s.tf(retitled).link(l)
		}},
		{name: "conflict, policy tf: TF's time wins", build: func(s *scenario) { s.tf(retimed).link(link1).seen(anna, moved) },
			want: []string{"update BES-1 anna@example.com conflict"},
			check: func(t *testing.T, p *Plan) {
				if !p.Actions[0].Event.Start.Equal(at(25, 9, 0)) {
					t.Errorf("TF's new time should win, got %v", p.Actions[0].Event.Start)
				}
			}},
		{name: "conflict, policy calendar: the move goes to TF, TF's title to the event", build: func(s *scenario) { s.tf(retimed).link(link1).seen(anna, moved) },
			settings: func(st *Settings) { st.Conflict = ConflictCalendar },
			want:     []string{"move-tf BES-1 anna@example.com conflict", "update BES-1 anna@example.com after-move-tf"},
			check: func(t *testing.T, p *Plan) {
				for _, a := range p.Actions {
					if a.Kind == ActUpdate && (a.Event.Subject != "Besiktning: Ny titel" || !a.Event.Start.Equal(at(24, 13, 0))) {
						t.Errorf("update event = %+v", a.Event)
					}
				}
			}},
		{name: "conflict, policy newest: the calendar moved later", build: func(s *scenario) {
			b := retimed
			b.UpdatedAt = planNow.Add(-3 * time.Hour) // the move was an hour ago
			s.tf(b).link(link1).seen(anna, moved)
		}, settings: func(st *Settings) { st.Conflict = ConflictNewest },
			want: []string{"move-tf BES-1 anna@example.com conflict", "update BES-1 anna@example.com after-move-tf"}},
		{name: "conflict, policy newest: TF changed later", build: func(s *scenario) { s.tf(retimed).link(link1).seen(anna, moved) },
			settings: func(st *Settings) { st.Conflict = ConflictNewest },
			want:     []string{"update BES-1 anna@example.com conflict"}},
		{name: "both sides moved to the same time agree", build: func(s *scenario) { s.tf(movedInTF).link(link1).seen(anna, moved) },
			want: []string{"record BES-1 anna@example.com"}},
		{name: "round is an all-day event on the DST day", build: func(s *scenario) { s.tf(round) },
			want: []string{"create RON-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				ev := p.Actions[0].Event
				if !ev.AllDay || !ev.Start.Equal(time.Date(2026, 3, 29, 0, 0, 0, 0, stockholm)) || !ev.End.Equal(time.Date(2026, 3, 30, 0, 0, 0, 0, stockholm)) {
					t.Errorf("round event = %+v", ev)
				}
				if got := ev.End.Sub(ev.Start); got != 23*time.Hour {
					t.Errorf("the spring DST day lasts %v, want 23h", got)
				}
			}},
		{name: "timed booking on the DST day keeps its wall time", build: func(s *scenario) { s.tf(dstMorning) },
			want: []string{"create ARE-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if got := p.Actions[0].Event.Start.UTC(); !got.Equal(time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)) {
					t.Errorf("09:00 CEST is 07:00 UTC, got %v", got)
				}
			}},
		{name: "round moved to another day in the calendar moves its date in TF", build: func(s *scenario) {
			l, ev := synced(round, anna, "ev9")
			ev.Start, ev.End, ev.ChangeKey = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), "ck-r"
			s.tf(round).link(l).seen(anna, ev)
		}, want: []string{"move-tf RON-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				m := p.Actions[0].Move
				if !m.AllDay || !m.Start.Equal(time.Date(2026, 3, 31, 0, 0, 0, 0, stockholm)) {
					t.Errorf("move = %+v", m)
				}
			}},
		{name: "lost store: the event is found by booking id and relinked, not created", build: func(s *scenario) {
			s.tf(besiktning).seen(anna, ev1)
		}, want: []string{"relink BES-1 anna@example.com"}},
		{name: "relinked event that differs gets TF's content", build: func(s *scenario) { s.tf(retitled).seen(anna, ev1) },
			want: []string{"relink BES-1 anna@example.com", "update BES-1 anna@example.com after-relink"},
			check: func(t *testing.T, p *Plan) {
				if p.Actions[0].Hash != "" {
					t.Error("a relink followed by an update must not record TF's hash before the update is confirmed")
				}
			}},
		{name: "a second copy, untouched, is deleted", build: func(s *scenario) {
			dup := ev1
			dup.ID = "ev2"
			s.tf(besiktning).link(link1).seen(anna, ev1).seen(anna, dup)
		}, want: []string{"delete BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if p.Actions[0].EventID != "ev2" || !p.Actions[0].Duplicate {
					t.Errorf("deleted %+v", p.Actions[0])
				}
			}},
		{name: "two unlinked copies: one relinked, one deleted", build: func(s *scenario) {
			dup := ev1
			dup.ID = "ev2"
			s.tf(besiktning).seen(anna, ev1).seen(anna, dup)
		}, want: []string{"delete BES-1 anna@example.com", "relink BES-1 anna@example.com"}},
		{name: "a failed read plans nothing in that mailbox", build: func(s *scenario) {
			s.tf(cancelled).link(link1)
			s.in.Observations[anna].Err = errors.New("boom")
		}, check: func(t *testing.T, p *Plan) {
			if len(p.Skipped) == 0 || !strings.Contains(p.Skipped[len(p.Skipped)-1].Reason, "boom") {
				t.Errorf("skipped = %+v", p.Skipped)
			}
		}},
		{name: "a mailbox outside allowed_domains is never contacted", build: func(s *scenario) { s.tf(cancelled).link(outsideLink) },
			want: []string{"retire BES-1 e@example.org"}},
		{name: "a bad row is left alone", build: func(s *scenario) {
			s.link(link1)
			s.in.Bookings.Bad = []tf.RowError{{BookingID: "BES-1", Column: "start", Problem: "unparseable"}}
		}},
		{name: "an emptied TF holds the mailbox's deletes", build: func(s *scenario) {
			for i := 0; i < 10; i++ {
				b := booking(fmt.Sprintf("BES-%d", 10+i), tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
				l, _ := synced(b, anna, fmt.Sprintf("e%d", i))
				s.link(l)
			}
		}, want: holdAll(10, true)},
		{name: "--force applies them", force: true, build: func(s *scenario) {
			for i := 0; i < 10; i++ {
				b := booking(fmt.Sprintf("BES-%d", 10+i), tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
				l, _ := synced(b, anna, fmt.Sprintf("e%d", i))
				s.link(l)
			}
		}, want: holdAll(10, false)},
		{name: "a few deletes below the floor are never held", build: func(s *scenario) {
			for i := 0; i < 3; i++ {
				b := booking(fmt.Sprintf("BES-%d", 10+i), tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
				b.Status = tf.StatusCancelled
				l, _ := synced(b, anna, fmt.Sprintf("e%d", i))
				s.tf(b).link(l)
			}
		}, want: []string{"delete BES-10 anna@example.com", "delete BES-11 anna@example.com", "delete BES-12 anna@example.com"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario()
			tc.build(s)
			if tc.settings != nil {
				tc.settings(&s.in.Settings)
			}
			s.in.Force = tc.force
			p := MakePlan(s.in)
			got := summary(p)
			want := tc.want
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if tc.check != nil {
				tc.check(t, p)
			}
			// The planner is a pure function: the same input gives the same plan.
			if again := summary(MakePlan(s.in)); strings.Join(again, "\n") != strings.Join(got, "\n") {
				t.Errorf("second plan differs:\n%v\n%v", got, again)
			}
		})
	}
}

func holdAll(n int, held bool) []string {
	var out []string
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("delete BES-%d anna@example.com", 10+i)
		if held {
			line += " held"
		}
		out = append(out, line)
	}
	return out
}

func TestPlanSkipsResources(t *testing.T) {
	p := MakePlan(newScenario().in)
	reasons := map[string]string{}
	for _, s := range p.Skipped {
		reasons[s.Resource] = s.Reason
	}
	if !strings.Contains(reasons["R4"], "no e-mail") || !strings.Contains(reasons["R4"], "Inställningar -> Grunddata -> Resurser") {
		t.Errorf("R4: %q", reasons["R4"])
	}
	if !strings.Contains(reasons["R5"], "outside allowed_domains") {
		t.Errorf("R5: %q", reasons["R5"])
	}
	if _, ok := reasons["R3"]; ok {
		t.Error("a resource with sync switched off is not a skip worth reporting")
	}
}

func TestRenderEscapesHostileText(t *testing.T) {
	b := booking("ARE-1", tf.KindArende, "R1", at(23, 9, 0), time.Hour)
	b.Title = "<script>alert(1)</script> & \x00\x1b[31m" + string([]byte{0xff, 0xfe}) + strings.Repeat("x", 10000)
	b.Description = "rad 1\n<img src=x onerror=alert(1)>\r\nrad 2"
	b.URL = "javascript:alert(1)"
	b.Location = "Gatan 1\n\t<b>"
	ev := Render(b, testSettings())
	if n := len([]rune(ev.Subject)); n > maxSubject {
		t.Errorf("subject has %d runes", n)
	}
	for _, bad := range []string{"<script", "<img", "javascript:", "\x00", "\x1b"} {
		if strings.Contains(ev.Body, bad) || strings.Contains(ev.Subject, "\x00") || strings.Contains(ev.Subject, "\x1b") {
			t.Errorf("%q survived: subject %q body %q", bad, ev.Subject[:40], ev.Body)
		}
	}
	if !strings.Contains(ev.Body, "&lt;img src=x onerror=alert(1)&gt;") || !strings.Contains(ev.Body, "rad 1<br>") {
		t.Errorf("body = %q", ev.Body)
	}
	if ev.Location != "Gatan 1 <b>" {
		t.Errorf("location = %q", ev.Location)
	}
	if !strings.HasPrefix(ev.Subject, "Ärende: <script>alert(1)</script> & ") {
		t.Errorf("subject = %q", ev.Subject[:60])
	}
}

func TestRenderHeadingsAndLocation(t *testing.T) {
	b := booking("BES-1", tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
	b.Description = "Kolla <allt>"
	s := testSettings()
	with := Render(b, s)
	if !strings.Contains(with.Body, "<b>Beskrivning:</b> Kolla &lt;allt&gt;") || !strings.Contains(with.Body, `<a href="https://tf.example.com/BES-1">`) {
		t.Errorf("body = %q", with.Body)
	}
	s.HideHeadings, s.IncludeLocation = true, false
	without := Render(b, s)
	if strings.Contains(without.Body, "<b>") || without.Location != "" || strings.Contains(without.Body, "Storgatan") {
		t.Errorf("hide_headings/include_location ignored: %+v", without)
	}
	if Hash(with) == Hash(without) {
		t.Error("settings that change the event must change its hash")
	}
}

func TestBodyTextIgnoresServerWrapping(t *testing.T) {
	b := booking("BES-1", tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
	ev := Render(b, testSettings())
	wrapped := "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n" + ev.Body + "\r\n</body>\r\n</html>\r\n"
	if BodyText(wrapped) != BodyText(ev.Body) {
		t.Errorf("%q != %q", BodyText(wrapped), BodyText(ev.Body))
	}
	if BodyText("<p>a</p><p>b</p>") == BodyText("<p>ab</p>") {
		t.Error("paragraphs must stay apart")
	}
}

func TestWindowIsStableWithinADay(t *testing.T) {
	s := testSettings()
	w1 := s.Window(time.Date(2026, 3, 20, 0, 1, 0, 0, stockholm))
	w2 := s.Window(time.Date(2026, 3, 20, 23, 59, 0, 0, stockholm))
	if w1 != w2 {
		t.Errorf("%v != %v", w1, w2)
	}
	if !w1.Start.Equal(time.Date(2026, 3, 13, 0, 0, 0, 0, stockholm)) || !w1.End.Equal(time.Date(2026, 6, 19, 0, 0, 0, 0, stockholm)) {
		t.Errorf("window = %v", w1)
	}
}

func TestCleanLineFastPathAgrees(t *testing.T) {
	for _, s := range []string{"", "Lekplats Hammarby 12:3", " lead", "trail ", "two  spaces", "tab\there", "nbsp\u00a0x",
		"ctl\x01", "bad\xffutf8", "ok åäö ÅÄÖ", "line\u2028sep", "replacement \uFFFD char", "a b c"} {
		slow := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))), " ")
		if got := cleanLine(s); got != slow {
			t.Errorf("cleanLine(%q) = %q, want %q", s, got, slow)
		}
	}
}

// TestHashIsStable pins the hash of one event: stored links carry it, so a change to how it is computed would
// make every event look changed in TF and rewrite every calendar.
func TestHashIsStable(t *testing.T) {
	b := booking("BES-1", tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
	if got := Hash(Render(b, testSettings())); got != "9706e0ec313808c9a9ae225ebb8c2239" {
		t.Errorf("Hash = %s", got)
	}
}
