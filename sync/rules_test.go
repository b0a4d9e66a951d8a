package sync_test

// Planning rules (issue 11): the eleven sequences of an ordinary week that lost a technician's move, left a wrong
// time standing or let one bad item block a mailbox. Each runs as several passes of the real engine against the
// emulator, on both backends, asserting after every pass the technician's time in TF, the event's time and content,
// zero duplicates and the exit code.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/ews"
	"tfsync/exchange/graph"
	calsync "tfsync/sync"
	"tfsync/tf"
)

const (
	anna    = "anna@example.com"
	bo      = "bo@example.com"
	cecilia = "cecilia@example.com"
)

var rulesBackends = []string{"graph", "ews"}

// rulesRig is a rig whose passes use one backend, with the exit code a scheduler would see.
type rulesRig struct {
	*rig
	backend string
	full    bool // the next pass ignores cursors
}

func newRulesRig(t *testing.T, backend string) *rulesRig {
	t.Helper()
	r := &rulesRig{rig: newRig(t), backend: backend}
	r.seedResources()
	return r
}

func (r *rulesRig) calendar() exchange.Calendar {
	r.t.Helper()
	var cal exchange.Calendar
	var err error
	switch r.backend {
	case "graph":
		cal, err = graph.New(r.graphOptions())
	case "ews":
		cal, err = ews.New(ews.Options{URL: r.emu.EWSURL(), Username: emutest.ServiceUser,
			Password: emutest.ServicePassword, HTTPClient: r.emu.HTTPClient(), Zone: relZone, Now: r.clock.Now,
			Sleep: r.sleep})
	}
	if err != nil {
		r.t.Fatalf("%s client: %v", r.backend, err)
	}
	return cal
}

// passCtx runs one pass with ctx and returns its report and exit code.
func (r *rulesRig) passCtx(ctx context.Context) (*calsync.Report, int) {
	r.t.Helper()
	r.passes++
	r.clock.Advance(5 * time.Minute)
	store, err := calsync.OpenStore(ctx, r.statePath, r.clock.Now)
	if err != nil {
		r.t.Fatal(err)
	}
	defer store.Close()
	src, err := tf.OpenSQLite(r.tfPath, tf.SQLiteOptions{Zone: relZone, Now: r.clock.Now})
	if err != nil {
		r.t.Fatal(err)
	}
	defer src.Close()
	cal := r.calendar()
	defer cal.Close()
	eng := &calsync.Engine{Source: src, Calendar: cal, Store: store, Settings: r.settings, Now: r.clock.Now,
		RunID: fmt.Sprintf("pass-%d", r.passes), Full: r.full}
	r.full = false
	logger := zerolog.New(r.log).Level(zerolog.InfoLevel).With().Str("run_id", eng.RunID).Logger()
	rep, err := eng.Sync(logger.WithContext(ctx))
	if err == nil {
		err = rep.Err()
	}
	return rep, cmd.ExitCode(err)
}

// pass runs one pass and checks its exit code and that no booking has two events anywhere.
func (r *rulesRig) pass(wantCode int) *calsync.Report {
	r.t.Helper()
	rep, code := r.passCtx(context.Background())
	if code != wantCode {
		msg := ""
		if rep != nil {
			msg = failures(rep) + fmt.Sprint(rep.Problems)
		}
		r.t.Fatalf("pass %d exited %d, want %d\n%s", r.passes, code, wantCode, msg)
	}
	r.checkInvariants(fmt.Sprintf("pass %d", r.passes))
	return rep
}

// tf returns a booking's start, end, title and version as TF stores them.
func (r *rulesRig) tf(id string) (start, end, title string, version int) {
	r.t.Helper()
	var e sql.NullString
	if err := r.db.QueryRow(`SELECT start, "end", title, version FROM bookings WHERE id = ?`, id).
		Scan(&start, &e, &title, &version); err != nil {
		r.t.Fatal(err)
	}
	return start, e.String, title, version
}

func (r *rulesRig) wantTF(id, start, end string) int {
	r.t.Helper()
	s, e, _, v := r.tf(id)
	if s != start || e != end {
		r.t.Fatalf("pass %d: TF has %s at %s - %s, want %s - %s", r.passes, id, s, e, start, end)
	}
	return v
}

func (r *rulesRig) audits(id string) int {
	r.t.Helper()
	var n int
	if err := r.db.QueryRow(`SELECT count(*) FROM tfsync_audit WHERE booking_id = ?`, id).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// events returns a booking's tfsync events in a mailbox.
func (r *rulesRig) events(mb, id string) []exchange.Event {
	var out []exchange.Event
	for _, ev := range r.em.Events(mb) {
		if ev.BookingID == id {
			out = append(out, ev)
		}
	}
	return out
}

// wantEvent checks that a mailbox holds the booking's one event at start-end (all-day: its dates), with subject.
func (r *rulesRig) wantEvent(mb, id string, start, end time.Time, allDay bool, subject string) exchange.Event {
	r.t.Helper()
	evs := r.events(mb, id)
	if len(evs) != 1 {
		r.t.Fatalf("pass %d: %s has %d events of %s, want 1", r.passes, mb, len(evs), id)
	}
	ev := evs[0]
	ok := ev.AllDay == allDay
	if allDay {
		ok = ok && sameDay(ev.Start, start) && sameDay(ev.End, end)
	} else {
		ok = ok && ev.Start.Equal(start) && ev.End.Equal(end)
	}
	if !ok || (subject != "" && ev.Subject != subject) {
		r.t.Fatalf("pass %d: %s's event of %s is %q %s - %s (all-day %t), want %q %s - %s (all-day %t)", r.passes,
			mb, id, ev.Subject, ev.Start.In(relZone), ev.End.In(relZone), ev.AllDay, subject, start, end, allDay)
	}
	return ev
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.In(relZone).Date()
	by, bm, bd := b.In(relZone).Date()
	return ay == by && am == bm && ad == bd
}

func (r *rulesRig) wantNoEvent(mb, id string) {
	r.t.Helper()
	if n := len(r.events(mb, id)); n != 0 {
		r.t.Fatalf("pass %d: %s still has %d events of %s", r.passes, mb, n, id)
	}
}

func (r *rulesRig) edit(mb, id string, fn func(*emulator.EventData)) {
	r.t.Helper()
	evs := r.events(mb, id)
	if len(evs) != 1 {
		r.t.Fatalf("%s has %d events of %s", mb, len(evs), id)
	}
	if err := r.em.EditEvent(mb, evs[0].ID, fn); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rulesRig) move(mb, id string, start, end time.Time) {
	r.t.Helper()
	r.edit(mb, id, func(d *emulator.EventData) { d.Start, d.End = start, end })
}

// quiet runs a pass that must change nothing anywhere.
func (r *rulesRig) quiet() {
	r.t.Helper()
	before := r.writes()
	tfBefore := r.snapshot().TF
	rep := r.pass(exitcode.OK)
	if n := r.writes() - before; n != 0 {
		r.t.Fatalf("pass %d wrote %d times to the calendars; it should have found nothing to do:\n%v", r.passes, n, rep.Results)
	}
	for id, v := range r.snapshot().TF {
		if tfBefore[id] != v {
			r.t.Fatalf("pass %d changed TF's %s: %s -> %s", r.passes, id, tfBefore[id], v)
		}
	}
}

func local(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, relZone)
}

func forBackends(t *testing.T, fn func(t *testing.T, r *rulesRig)) {
	for _, b := range rulesBackends {
		t.Run(b, func(t *testing.T) { fn(t, newRulesRig(t, b)) })
	}
}

// 1. A move made while the booking's TF row is unreadable is deferred, and reaches TF when the row is corrected,
// also when TF renamed the booking in the same interval.
func TestRuleMoveWhileRowIsBad(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Pump", start: local(2026, 3, 23, 9, 0),
			end: local(2026, 3, 23, 10, 0)})
		r.pass(exitcode.OK)
		r.exec(`UPDATE bookings SET "end" = '2026-03-23T10:00:00Z', version = version + 1 WHERE id = 'B-1'`)
		r.move(anna, "B-1", local(2026, 3, 24, 13, 0), local(2026, 3, 24, 14, 0))
		rep := r.pass(exitcode.Partial) // the bad row is new: reported once
		if !strings.Contains(fmt.Sprint(rep.Problems), "B-1") {
			t.Fatalf("problems = %v", rep.Problems)
		}
		r.wantTF("B-1", "2026-03-23T09:00:00", "2026-03-23T10:00:00Z")
		r.wantEvent(anna, "B-1", local(2026, 3, 24, 13, 0), local(2026, 3, 24, 14, 0), false, "")
		r.pass(exitcode.OK) // still bad, already reported
		r.exec(`UPDATE bookings SET "end" = '2026-03-23T10:00:00', title = 'Pump (ny)', version = version + 1 WHERE id = 'B-1'`)
		r.pass(exitcode.OK)
		r.wantTF("B-1", "2026-03-24T13:00:00", "2026-03-24T14:00:00")
		r.wantEvent(anna, "B-1", local(2026, 3, 24, 13, 0), local(2026, 3, 24, 14, 0), false, "Ärende: Pump (ny)")
		if n := r.audits("B-1"); n != 1 {
			t.Fatalf("%d audit rows, want 1", n)
		}
		r.quiet()
	})
}

// 2. Dragging between the all-day row and a time keeps the new date.
func TestRuleAllDayAndTimed(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "RON-1", kind: tf.KindRondering, res: "R1", title: "Runda", start: local(2026, 3, 25, 0, 0)})
		r.insert(relBooking{id: "ARE-1", kind: tf.KindArende, res: "R1", title: "Läcka", start: local(2026, 3, 23, 9, 0),
			end: local(2026, 3, 23, 11, 0)})
		r.pass(exitcode.OK)
		r.edit(anna, "RON-1", func(d *emulator.EventData) {
			d.IsAllDay, d.Start, d.End = false, local(2026, 3, 28, 10, 0), local(2026, 3, 28, 11, 0)
		})
		r.edit(anna, "ARE-1", func(d *emulator.EventData) {
			d.IsAllDay, d.Start, d.End = true, local(2026, 3, 26, 0, 0), local(2026, 3, 27, 0, 0)
		})
		r.pass(exitcode.OK)
		r.wantTF("RON-1", "2026-03-28", "")
		r.wantTF("ARE-1", "2026-03-26T09:00:00", "2026-03-26T11:00:00")
		r.wantEvent(anna, "RON-1", local(2026, 3, 28, 0, 0), local(2026, 3, 29, 0, 0), true, "Rondering: Runda")
		r.wantEvent(anna, "ARE-1", local(2026, 3, 26, 9, 0), local(2026, 3, 26, 11, 0), false, "Ärende: Läcka")
		if r.audits("RON-1") != 1 || r.audits("ARE-1") != 1 {
			t.Fatalf("audit rows: %d, %d", r.audits("RON-1"), r.audits("ARE-1"))
		}
		r.quiet()
	})
}

// 3. A TF rename or reassignment in the same interval as a calendar move is not a conflict: both are kept.
func TestRuleRenameOrReassignWithMove(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindBesiktning, res: "R1", title: "Hiss", start: local(2026, 3, 23, 9, 0),
			end: local(2026, 3, 23, 10, 0)})
		r.insert(relBooking{id: "B-2", kind: tf.KindKontroll, res: "R1", title: "Tak", start: local(2026, 3, 24, 9, 0),
			end: local(2026, 3, 24, 10, 0)})
		r.pass(exitcode.OK)
		r.exec(`UPDATE bookings SET title = 'Hiss 2', version = version + 1 WHERE id = 'B-1'`)
		r.exec(`UPDATE bookings SET resource_id = 'R2', version = version + 1 WHERE id = 'B-2'`)
		r.move(anna, "B-1", local(2026, 3, 25, 13, 0), local(2026, 3, 25, 14, 0))
		r.move(anna, "B-2", local(2026, 3, 26, 8, 0), local(2026, 3, 26, 9, 30))
		r.pass(exitcode.OK)
		r.wantTF("B-1", "2026-03-25T13:00:00", "2026-03-25T14:00:00")
		r.wantEvent(anna, "B-1", local(2026, 3, 25, 13, 0), local(2026, 3, 25, 14, 0), false, "Besiktning: Hiss 2")
		r.wantTF("B-2", "2026-03-26T08:00:00", "2026-03-26T09:30:00")
		r.wantNoEvent(anna, "B-2")
		r.wantEvent(bo, "B-2", local(2026, 3, 26, 8, 0), local(2026, 3, 26, 9, 30), false, "Kontroll: Tak")
		r.quiet()
	})
}

// 4. A TF reschedule reaches the calendar wherever the new time lies.
func TestRuleRescheduleOutOfTheWindow(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Fram", start: local(2026, 3, 23, 9, 0),
			end: local(2026, 3, 23, 10, 0)})
		r.insert(relBooking{id: "B-2", kind: tf.KindArende, res: "R1", title: "Bak", start: local(2026, 3, 24, 9, 0),
			end: local(2026, 3, 24, 10, 0)})
		r.pass(exitcode.OK)
		r.exec(`UPDATE bookings SET start = '2026-07-20T09:00:00', "end" = '2026-07-20T10:00:00', version = version + 1 WHERE id = 'B-1'`)
		r.exec(`UPDATE bookings SET start = '2026-03-02T09:00:00', "end" = '2026-03-02T10:00:00', version = version + 1 WHERE id = 'B-2'`)
		r.pass(exitcode.OK)
		r.wantEvent(anna, "B-1", local(2026, 7, 20, 9, 0), local(2026, 7, 20, 10, 0), false, "")
		r.wantEvent(anna, "B-2", local(2026, 3, 2, 9, 0), local(2026, 3, 2, 10, 0), false, "")
		r.quiet()
		r.full = true
		r.quiet()
		r.wantEvent(anna, "B-1", local(2026, 7, 20, 9, 0), local(2026, 7, 20, 10, 0), false, "")
		r.wantEvent(anna, "B-2", local(2026, 3, 2, 9, 0), local(2026, 3, 2, 10, 0), false, "")
	})
}

// 5. A booking reassigned to a resource that cannot be synced leaves the old calendar.
func TestRuleReassignedToUnsyncable(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Ut", start: local(2026, 3, 23, 9, 0)})
		r.insert(relBooking{id: "B-2", kind: tf.KindArende, res: "R1", title: "Ext", start: local(2026, 3, 24, 9, 0)})
		r.pass(exitcode.OK)
		r.exec(`UPDATE bookings SET resource_id = 'R6', version = version + 1 WHERE id = 'B-1'`) // no e-mail
		r.exec(`UPDATE bookings SET resource_id = 'R5', version = version + 1 WHERE id = 'B-2'`) // outside allowed_domains
		r.pass(exitcode.OK)
		r.wantNoEvent(anna, "B-1")
		r.wantNoEvent(anna, "B-2")
		r.full = true
		r.quiet()
	})
}

// 6. A technician leaves: the colleague gets the reassigned bookings at once; the old events are deleted once the
// old calendar can be read again.
func TestRuleTechnicianLeaves(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Ett", start: local(2026, 3, 23, 9, 0)})
		r.insert(relBooking{id: "B-2", kind: tf.KindArende, res: "R1", title: "Två", start: local(2026, 3, 24, 9, 0)})
		r.pass(exitcode.OK)
		if err := r.em.SetMailbox(anna, emulator.MailboxOptions{Unlicensed: true}); err != nil {
			t.Fatal(err)
		}
		r.exec(`UPDATE bookings SET resource_id = 'R2', version = version + 1 WHERE resource_id = 'R1'`)
		r.pass(exitcode.Partial) // Anna's resource is still synced and her calendar cannot be read
		r.wantEvent(bo, "B-1", local(2026, 3, 23, 9, 0), local(2026, 3, 23, 10, 0), false, "Ärende: Ett")
		r.wantEvent(bo, "B-2", local(2026, 3, 24, 9, 0), local(2026, 3, 24, 10, 0), false, "Ärende: Två")
		r.exec(`UPDATE resources SET sync_enabled = 0 WHERE id = 'R1'`)
		rep := r.pass(exitcode.OK) // only the orphans are left there: reported, not failing
		if !strings.Contains(fmt.Sprint(rep.Skipped), "old event waits to be deleted") {
			t.Fatalf("skipped = %v", rep.Skipped)
		}
		if err := r.em.SetMailbox(anna, emulator.MailboxOptions{}); err != nil {
			t.Fatal(err)
		}
		r.pass(exitcode.OK)
		r.wantNoEvent(anna, "B-1")
		r.wantNoEvent(anna, "B-2")
		r.wantEvent(bo, "B-1", local(2026, 3, 23, 9, 0), local(2026, 3, 23, 10, 0), false, "Ärende: Ett")
		r.quiet()
	})
}

// 7. One item that can never succeed does not block its mailbox: a zero-length event is restored from TF, and a
// write the server refuses for good is recorded, reported once and not retried until the booking changes.
func TestRuleTerminalFailures(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Noll", start: local(2026, 3, 23, 9, 0),
			end: local(2026, 3, 23, 10, 0)})
		r.pass(exitcode.OK)
		r.edit(anna, "B-1", func(d *emulator.EventData) { d.End = d.Start })
		r.pass(exitcode.OK)
		v := r.wantTF("B-1", "2026-03-23T09:00:00", "2026-03-23T10:00:00")
		r.wantEvent(anna, "B-1", local(2026, 3, 23, 9, 0), local(2026, 3, 23, 10, 0), false, "")
		if v != 1 || r.audits("B-1") != 0 {
			t.Fatalf("TF version %d, %d audit rows: nothing moved, nothing may be written", v, r.audits("B-1"))
		}
		r.quiet()

		// Cecilia's calendar refuses every create and update, as a server refuses an item for good.
		var mu gosync.Mutex
		refused := 0
		r.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
			write := op.Path == "CreateItem" || op.Path == "UpdateItem" ||
				(op.Front == "graph" && (op.Method == "POST" || op.Method == "PATCH") && strings.Contains(op.Path, "/events"))
			if op.Mailbox != cecilia || !write {
				return nil
			}
			mu.Lock()
			refused++
			mu.Unlock()
			return &emulator.FaultReply{Status: 400, Code: "ErrorCalendarInvalidAttributeValue", Message: "refused"}
		}})
		cursorSaved := func() time.Time {
			var at time.Time
			r.reopenStore(func(s *calsync.Store) {
				cs, err := s.Cursors(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				at = cs[cecilia].UpdatedAt
			})
			return at
		}
		before := cursorSaved()
		r.insert(relBooking{id: "C-1", kind: tf.KindArende, res: "R3", title: "Vägras", start: local(2026, 3, 25, 9, 0)})
		rep := r.pass(exitcode.Partial)
		if !strings.Contains(fmt.Sprint(rep.Problems), "refused for good") {
			t.Fatalf("problems = %v", rep.Problems)
		}
		n := refused
		// The refusal does not hold Cecilia's cursor.
		if after := cursorSaved(); !after.After(before) {
			t.Fatalf("%s's cursor was not saved by the pass that met the terminal failure (%v, %v)", cecilia, before, after)
		}
		r.insert(relBooking{id: "C-2", kind: tf.KindArende, res: "R1", title: "Annan", start: local(2026, 3, 25, 9, 0)})
		r.pass(exitcode.OK)
		r.wantEvent(anna, "C-2", local(2026, 3, 25, 9, 0), local(2026, 3, 25, 10, 0), false, "")
		if refused != n {
			t.Fatalf("the refused create was tried again (%d -> %d)", n, refused)
		}
		r.reopenStore(func(s *calsync.Store) {
			ps, err := s.BookingProblems(context.Background())
			if err != nil || len(ps) != 1 || ps[0].BookingID != "C-1" || ps[0].Fix == "" {
				t.Fatalf("booking problems = %+v, %v", ps, err)
			}
		})
		r.em.SetFaults(emulator.Faults{})
		r.exec(`UPDATE bookings SET title = 'Rättad', version = version + 1 WHERE id = 'C-1'`)
		r.pass(exitcode.OK)
		r.wantEvent(cecilia, "C-1", local(2026, 3, 25, 9, 0), local(2026, 3, 25, 10, 0), false, "Ärende: Rättad")
		r.reopenStore(func(s *calsync.Store) {
			if ps, _ := s.BookingProblems(context.Background()); len(ps) != 0 {
				t.Fatalf("booking problems after the fix = %+v", ps)
			}
		})
		r.quiet()
	})
}

func (r *rulesRig) reopenStore(fn func(*calsync.Store)) {
	r.t.Helper()
	s, err := calsync.OpenStore(context.Background(), r.statePath, r.clock.Now)
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Close()
	fn(s)
}

// 8. A delete, move or edit of an event created in the previous pass is seen by the next incremental pass.
func TestRuleChangeRightAfterCreate(t *testing.T) {
	for _, policy := range []calsync.DeletePolicy{calsync.DeleteRecreate, calsync.DeleteDetach} {
		t.Run(string(policy), func(t *testing.T) {
			forBackends(t, func(t *testing.T, r *rulesRig) {
				r.settings.OnCalendarDelete = policy
				r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Ny", start: local(2026, 3, 23, 9, 0)})
				r.insert(relBooking{id: "B-2", kind: tf.KindArende, res: "R1", title: "Flytt", start: local(2026, 3, 24, 9, 0)})
				r.insert(relBooking{id: "B-3", kind: tf.KindArende, res: "R1", title: "Ändras", start: local(2026, 3, 25, 9, 0)})
				r.pass(exitcode.OK)
				r.exec(`UPDATE bookings SET title = 'Ändrad', version = version + 1 WHERE id = 'B-3'`)
				old := r.events(anna, "B-1")[0].ID
				if err := r.em.DeleteEvent(anna, old); err != nil {
					t.Fatal(err)
				}
				// Moved out of the window right after its creation: the feed says nothing of it either.
				r.move(anna, "B-2", local(2026, 8, 3, 9, 0), local(2026, 8, 3, 10, 0))
				r.pass(exitcode.OK)
				r.wantTF("B-2", "2026-08-03T09:00:00", "2026-08-03T10:00:00")
				if policy == calsync.DeleteDetach {
					r.wantNoEvent(anna, "B-1")
				} else {
					ev := r.wantEvent(anna, "B-1", local(2026, 3, 23, 9, 0), local(2026, 3, 23, 10, 0), false, "Ärende: Ny")
					if ev.ID == old {
						t.Fatal("the deleted event is still there")
					}
				}
				// Deleted right after the pass that updated it.
				r.wantEvent(anna, "B-3", local(2026, 3, 25, 9, 0), local(2026, 3, 25, 10, 0), false, "Ärende: Ändrad")
				if err := r.em.DeleteEvent(anna, r.events(anna, "B-3")[0].ID); err != nil {
					t.Fatal(err)
				}
				r.pass(exitcode.OK)
				if policy == calsync.DeleteDetach {
					r.wantNoEvent(anna, "B-3")
				} else {
					r.wantEvent(anna, "B-3", local(2026, 3, 25, 9, 0), local(2026, 3, 25, 10, 0), false, "Ärende: Ändrad")
				}
				r.quiet()
				r.quiet()
			})
		})
	}
}

// 9. A round stretched over two days is restored from TF without a write to TF.
func TestRuleRoundStretched(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "RON-1", kind: tf.KindRondering, res: "R1", title: "Runda", start: local(2026, 3, 25, 0, 0)})
		r.pass(exitcode.OK)
		r.edit(anna, "RON-1", func(d *emulator.EventData) { d.End = local(2026, 3, 27, 0, 0) })
		r.pass(exitcode.OK)
		v := r.wantTF("RON-1", "2026-03-25", "")
		if v != 1 || r.audits("RON-1") != 0 {
			t.Fatalf("TF version %d, %d audit rows: a reverted stretch writes nothing to TF", v, r.audits("RON-1"))
		}
		r.wantEvent(anna, "RON-1", local(2026, 3, 25, 0, 0), local(2026, 3, 26, 0, 0), true, "")
		r.quiet()
	})
}

// 10. A move into the repeated autumn hour keeps its instant and its length on both backends.
func TestRuleRepeatedAutumnHour(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.settings.FutureDays = 250
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Natt", start: local(2026, 10, 24, 9, 0),
			end: local(2026, 10, 24, 10, 0)})
		r.pass(exitcode.OK)
		// 02:30 in winter time, the second 02:30 of 2026-10-25 (01:30 UTC), for an hour.
		start := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)
		r.move(anna, "B-1", start, start.Add(time.Hour))
		r.pass(exitcode.OK)
		r.wantTF("B-1", "2026-10-25T02:30:00", "2026-10-25T03:30:00")
		r.wantEvent(anna, "B-1", start, start.Add(time.Hour), false, "")
		r.quiet()
		r.wantEvent(anna, "B-1", start, start.Add(time.Hour), false, "")
	})
}

// 11. Messages: an interrupted pass is not a failure; bad rows exit 4 when they first appear.
func TestRuleInterruptedAndBadRows(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		for i := 0; i < 6; i++ {
			r.insert(relBooking{id: fmt.Sprintf("B-%d", i), kind: tf.KindArende, res: fmt.Sprintf("R%d", 1+i%3),
				title: "Jobb", start: local(2026, 3, 23+i, 9, 0)})
		}
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		// SIGTERM arrives as the first write is sent.
		r.em.SetFaults(emulator.Faults{Hook: hookOnce(func(op emulator.FaultOp) bool {
			return op.Path == "CreateItem" || (op.Front == "graph" && op.Method == "POST" && strings.Contains(op.Path, "/events"))
		}, func(emulator.FaultOp) { stop() })})
		rep, code := r.passCtx(ctx)
		if code != exitcode.Interrupted {
			t.Fatalf("interrupted pass exited %d, want %d: %v", code, exitcode.Interrupted, rep)
		}
		r.em.SetFaults(emulator.Faults{})
		r.reopenStore(func(s *calsync.Store) {
			states, err := s.MailboxStates(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for mb, st := range states {
				if st.ConsecutiveFailures != 0 || st.LastError != "" {
					t.Errorf("%s marked failing after an interruption: %+v", mb, st)
				}
			}
		})
		r.pass(exitcode.OK)
		for i := 0; i < 6; i++ {
			r.wantEvent(relMailboxes[i%3], fmt.Sprintf("B-%d", i), local(2026, 3, 23+i, 9, 0), local(2026, 3, 23+i, 10, 0), false, "")
		}
		r.exec(`UPDATE bookings SET start = 'igår', version = version + 1`)
		r.pass(exitcode.Partial)
		r.pass(exitcode.OK)
		r.reopenStore(func(s *calsync.Store) {
			if ps, _ := s.BookingProblems(context.Background()); len(ps) != 6 {
				t.Fatalf("status lists %d bad rows, want 6: %+v", len(ps), ps)
			}
		})
	})
}

// The run lock's path being a folder is named as such.
func TestRuleLockPathIsAFolder(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "state.db")
	if err := os.Mkdir(store+".lock", 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := calsync.AcquireRunLock(store, relNow, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "is a folder") || errors.Is(err, calsync.ErrLockHeld) {
		t.Fatalf("err = %v", err)
	}
}

// A move in the old calendar of a booking reassigned to a technician whose calendar cannot be read yet is read
// again once it can: the old calendar's cursor is not saved past it.
func TestRuleReassignedToUnreadableWithMove(t *testing.T) {
	forBackends(t, func(t *testing.T, r *rulesRig) {
		r.insert(relBooking{id: "B-1", kind: tf.KindArende, res: "R1", title: "Byte", start: local(2026, 3, 23, 9, 0),
			end: local(2026, 3, 23, 10, 0)})
		r.pass(exitcode.OK)
		r.exec(`UPDATE bookings SET resource_id = 'R2', version = version + 1 WHERE id = 'B-1'`)
		r.move(anna, "B-1", local(2026, 3, 24, 13, 0), local(2026, 3, 24, 14, 0))
		if err := r.em.SetMailbox(bo, emulator.MailboxOptions{Blocked: true, NoImpersonation: true}); err != nil {
			t.Fatal(err)
		}
		r.pass(exitcode.Partial)
		r.wantTF("B-1", "2026-03-23T09:00:00", "2026-03-23T10:00:00")
		r.wantEvent(anna, "B-1", local(2026, 3, 24, 13, 0), local(2026, 3, 24, 14, 0), false, "")
		if err := r.em.SetMailbox(bo, emulator.MailboxOptions{}); err != nil {
			t.Fatal(err)
		}
		r.pass(exitcode.OK)
		r.wantTF("B-1", "2026-03-24T13:00:00", "2026-03-24T14:00:00")
		r.wantNoEvent(anna, "B-1")
		r.wantEvent(bo, "B-1", local(2026, 3, 24, 13, 0), local(2026, 3, 24, 14, 0), false, "Ärende: Byte")
		r.quiet()
	})
}
