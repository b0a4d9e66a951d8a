package sync

import (
	"fmt"
	"time"

	"tfsync/exchange"
	"tfsync/tf"
)

// The field-level merge of a linked booking. Time is the only field that flows from the calendar; title,
// description, location, kind and resource flow from TF. A conflict exists only when both sides changed the time
// since the last pass, and only then does `conflict` decide.

// ActOrphan records an event left behind in a calendar that could not be read when its booking was reassigned:
// it is deleted there once that calendar can be read again (store only).
const ActOrphan ActionKind = "orphan"

// Orphan is an event tfsync still has to delete: its booking moved to another mailbox while this one could not be
// read.
type Orphan struct {
	BookingID string
	Mailbox   string
	EventID   string
	Reason    string
	Since     time.Time
}

// TerminalFailure is an action the server or TF refused for good. It is not tried again while the planned
// action's hash stays the same: a change to the booking or to the settings that shape its event makes a new one.
type TerminalFailure struct {
	BookingID string
	Mailbox   string
	Action    ActionKind
	Hash      string
	Reason    string
	At        time.Time
}

// keepInstant resolves the repeated autumn hour. TF stores wall times without an offset and reads a time in the
// repeated hour as its first instance (summer time); when the link's last known instants have the same wall times,
// those instants are the ones meant, so an event moved into the second 02:00-03:00 keeps its instant and length.
func (p *planner) keepInstant(b tf.Booking, l Link, hasL bool) tf.Booking {
	if !hasL || b.AllDay || l.AllDay || l.EvStart.IsZero() || l.EvEnd.IsZero() {
		return b
	}
	if b.Start.Equal(l.EvStart) && b.End.Equal(l.EvEnd) {
		return b
	}
	z := p.s.Zone
	if sameWallIn(b.Start, l.EvStart, z) && sameWallIn(b.End, l.EvEnd, z) {
		b.Start, b.End = l.EvStart.In(z), l.EvEnd.In(z)
	}
	return b
}

func sameWallIn(a, b time.Time, zone *time.Location) bool {
	a, b = a.In(zone), b.In(zone)
	return a.Year() == b.Year() && a.YearDay() == b.YearDay() && a.Hour() == b.Hour() && a.Minute() == b.Minute() &&
		a.Second() == b.Second()
}

// calendarTime is the booking time an event's new span asks for, or why TF cannot take it (the event is then
// restored from TF). A round dragged to a timed slot keeps its new date and is all-day again; a timed booking
// dragged to the all-day row moves to that date at TF's time of day and length.
func (p *planner) calendarTime(b tf.Booking, ev exchange.Event) (start, end time.Time, why string) {
	z := p.s.Zone
	if b.AllDay {
		if ev.AllDay {
			s, e := allDayBounds(ev.Start, ev.End, z)
			if days := daysBetween(s, e); days > 1 {
				return time.Time{}, time.Time{}, fmt.Sprintf("the round was stretched over %d days in the calendar; "+
					"a rondering lasts one day, so TF's day was restored", days)
			}
			return s, e, ""
		}
		y, m, d := ev.Start.In(z).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, z), time.Date(y, m, d+1, 0, 0, 0, 0, z), ""
	}
	if ev.AllDay {
		s0, _ := allDayBounds(ev.Start, ev.End, z)
		y, m, d := s0.Date()
		h, mi, sec := b.Start.In(z).Clock()
		s := time.Date(y, m, d, h, mi, sec, 0, z)
		return s, s.Add(b.End.Sub(b.Start)), ""
	}
	if !ev.End.After(ev.Start) {
		return time.Time{}, time.Time{}, "the event's end is not after its start in the calendar, which TF cannot " +
			"store; TF's time was restored"
	}
	return ev.Start.In(z), ev.End.In(z), ""
}

// daysBetween counts the calendar days from one local midnight to another.
func daysBetween(s, e time.Time) int {
	sy, sm, sd := s.Date()
	ey, em, ed := e.Date()
	a := time.Date(sy, sm, sd, 12, 0, 0, 0, time.UTC)
	b := time.Date(ey, em, ed, 12, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Round(24*time.Hour) / (24 * time.Hour))
}

// calendarWins applies `conflict` to a time changed on both sides.
func (p *planner) calendarWins(b tf.Booking, ev exchange.Event) (bool, string) {
	wins := false
	switch p.s.Conflict {
	case ConflictCalendar:
		wins = true
	case ConflictNewest:
		wins = ev.LastModified.After(b.UpdatedAt)
	}
	if wins {
		return true, fmt.Sprintf("time changed in TF and in the calendar; the calendar's time won (conflict = %s)", p.s.Conflict)
	}
	return false, fmt.Sprintf("time changed in TF and in the calendar; TF's time won and the move was undone (conflict = %s)", p.s.Conflict)
}

// planCalendarChange plans a linked booking whose event changed in the calendar (its change key moved on).
func (p *planner) planCalendarChange(b tf.Booking, l Link, ev, want exchange.Event, hash, mb string, tfChanged bool) {
	z := p.s.Zone
	if sameTimes(ev, l.EvStart, l.EvEnd, l.AllDay, z) {
		// The time is as last synced: anything else edited in the calendar is restored from TF.
		switch {
		case tfChanged:
			p.update(b, want, hash, mb, l.EventID, "changed in TF", "")
		case !sameContent(ev, want) || !sameTimes(ev, want.Start, want.End, want.AllDay, z):
			p.update(b, want, hash, mb, l.EventID, "edited in the calendar; TF's content restored (only times flow back to TF)", "")
		default:
			p.add(Action{Kind: ActRecord, BookingID: b.ID, Mailbox: mb, EventID: l.EventID, Observed: ev, Hash: hash,
				TFVersion: b.Version, Reason: "changed in the calendar without effect on the booking"})
		}
		return
	}
	start, end, why := p.calendarTime(b, ev)
	if why != "" {
		p.update(b, want, hash, mb, l.EventID, why, "")
		return
	}
	if start.Equal(b.Start) && end.Equal(b.End) {
		// Nothing moved in TF's terms: both sides agree, or the event only changed shape on the same day.
		if sameContent(ev, want) && sameTimes(ev, want.Start, want.End, want.AllDay, z) {
			p.add(Action{Kind: ActRecord, BookingID: b.ID, Mailbox: mb, EventID: l.EventID, Observed: ev, Hash: hash,
				TFVersion: b.Version, Reason: "calendar and TF agree"})
			return
		}
		reason := "changed in TF"
		if !tfChanged {
			reason = "changed in the calendar without moving the booking; TF's event restored"
		}
		p.update(b, want, hash, mb, l.EventID, reason, "")
		return
	}
	conflict := ""
	if !sameTimes(want, l.EvStart, l.EvEnd, l.AllDay, z) {
		var wins bool
		if wins, conflict = p.calendarWins(b, ev); !wins {
			p.update(b, want, hash, mb, l.EventID, "changed in TF", conflict)
			return
		}
	}
	reason := "moved in the calendar"
	if tfChanged && conflict == "" {
		reason = "moved in the calendar; TF's other changes go to the event"
	}
	moved, want2, hash2, mi := p.moveToTF(b, l, ev, start, end, reason, conflict)
	if mi < 0 {
		return // refused for good before and unchanged since: left as it is
	}
	if !sameContent(ev, want2) || !sameTimes(ev, want2.Start, want2.End, want2.AllDay, z) {
		// Until the update is confirmed the event does not hold TF's content: an empty hash on the link makes the
		// next pass write it again if the update fails.
		p.plan.Actions[mi].Hash = ""
		a := p.updateAction(moved, want2, hash2, mb, l.EventID, "TF's content written at the moved time (only times flow back to TF)", "")
		a.After = ActMoveTF
		p.add(a)
	}
}

// moveToTF plans writing the calendar's time to TF and returns the booking as it will be, its event, the event's
// hash and the index of the move-tf action in the plan (-1 when a terminal failure keeps it out).
func (p *planner) moveToTF(b tf.Booking, l Link, ev exchange.Event, start, end time.Time, reason, conflict string) (tf.Booking, exchange.Event, string, int) {
	moved := b
	moved.Start, moved.End = start, end
	want := Render(moved, p.s)
	hash := Hash(want)
	n := len(p.plan.Actions)
	p.add(Action{Kind: ActMoveTF, BookingID: b.ID, Mailbox: l.Mailbox, EventID: l.EventID, Observed: ev, Event: want,
		Hash: hash, TFVersion: b.Version, Reason: reason, Conflict: conflict, Start: start, End: end,
		Move: &tf.Move{BookingID: b.ID, Version: b.Version, Start: start, End: end, AllDay: b.AllDay,
			Mailbox: l.Mailbox, EventID: l.EventID}})
	if len(p.plan.Actions) == n {
		return b, exchange.Event{}, "", -1
	}
	return moved, want, hash, n
}

// planReassigned plans a booking TF gave to another technician: its event leaves the old mailbox and is created in
// the new one. A move the old technician made meanwhile still reaches TF, and the new event gets the moved time. A
// create never waits for a mailbox that cannot be read: the old event is recorded as an orphan and deleted there
// once it can be.
func (p *planner) planReassigned(b tf.Booking, l Link, want exchange.Event, hash, mb string) {
	if !p.readable(mb) {
		if o := p.in.Observations[l.Mailbox]; p.readable(l.Mailbox) && (o.Gone[l.EventID] || o.Events[l.EventID].ChangeKey != "") {
			// The old calendar reported a change (a move, a delete) that waits for the new one: read it again.
			p.plan.KeepCursor[l.Mailbox] = true
		}
		return
	}
	if !p.readable(l.Mailbox) {
		p.add(Action{Kind: ActOrphan, BookingID: b.ID, Mailbox: l.Mailbox, EventID: l.EventID, Orphan: true,
			Reason: "reassigned in TF to " + mb + "; the old calendar cannot be read now, so its event is deleted there once it can"})
		p.createOrAdopt(b, want, hash, mb, "", "reassigned in TF from "+l.Mailbox)
		return
	}
	o := p.in.Observations[l.Mailbox]
	if o.Gone[l.EventID] {
		// Already gone (a pass that died after deleting it): the new event has nothing to wait for.
		p.add(Action{Kind: ActRetire, BookingID: b.ID, Mailbox: l.Mailbox, EventID: l.EventID,
			Reason: "reassigned in TF; the old event was already deleted"})
		p.createOrAdopt(b, want, hash, mb, "", "reassigned in TF from "+l.Mailbox)
		return
	}
	after := ActionKind("")
	conflict := ""
	if ev, seen := o.Events[l.EventID]; seen && ev.ChangeKey != l.ChangeKey && !sameTimes(ev, l.EvStart, l.EvEnd, l.AllDay, p.s.Zone) {
		start, end, why := p.calendarTime(b, ev)
		if why == "" && !(start.Equal(b.Start) && end.Equal(b.End)) {
			wins := true
			if !sameTimes(want, l.EvStart, l.EvEnd, l.AllDay, p.s.Zone) {
				wins, conflict = p.calendarWins(b, ev)
			}
			if wins {
				if mb2, want2, hash2, mi := p.moveToTF(b, l, ev, start, end, "moved in the calendar while TF reassigned the booking to "+mb, conflict); mi >= 0 {
					b, want, hash, after = mb2, want2, hash2, ActMoveTF
				}
			}
		}
	}
	p.add(Action{Kind: ActDelete, BookingID: b.ID, Mailbox: l.Mailbox, EventID: l.EventID,
		Reason: "reassigned in TF to " + mb, Start: l.EvStart, End: l.EvEnd, After: after, Conflict: conflict})
	p.createOrAdopt(b, want, hash, mb, ActDelete, "reassigned in TF from "+l.Mailbox)
}

// rescheduled reports whether TF moved a linked booking since its event was last written: such a booking's event
// follows it wherever the new time lies, outside the window too.
func (p *planner) rescheduled(b tf.Booking, l Link) bool {
	if l.Detached || l.EvStart.IsZero() {
		return false
	}
	b = p.keepInstant(b, l, true)
	ev := exchange.Event{Start: b.Start, End: b.End, AllDay: b.AllDay}
	return !sameTimes(ev, l.EvStart, l.EvEnd, l.AllDay, p.s.Zone)
}

// leftForUnsyncable reports whether a linked booking left its mailbox for a resource that cannot be synced: the
// old mailbox still belongs to a synced resource, so its technician must lose the event.
func (p *planner) leftForUnsyncable(l Link) bool {
	return p.ownedMailbox[l.Mailbox]
}

// planOrphans deletes events left behind by reassignments once their calendars can be read.
func (p *planner) planOrphans() {
	// An orphan already being deleted, or adopted again (its booking came back to that calendar), is left to
	// those actions.
	deleting := map[string]bool{}
	for _, a := range p.plan.Actions {
		if a.Kind == ActDelete || a.Kind == ActRelink {
			deleting[a.Mailbox+"\x00"+a.EventID] = true
		}
	}
	for _, o := range p.in.Orphans {
		if deleting[o.Mailbox+"\x00"+o.EventID] {
			continue
		}
		if !p.s.DomainAllowed(o.Mailbox) {
			continue
		}
		if !p.readable(o.Mailbox) {
			p.plan.Skipped = append(p.plan.Skipped, Skip{BookingID: o.BookingID, Mailbox: o.Mailbox,
				Reason: "an old event waits to be deleted here (" + o.Reason + "); the calendar cannot be read"})
			continue
		}
		if _, linked := p.linkedEvent[o.Mailbox+"\x00"+o.EventID]; linked {
			continue
		}
		p.add(Action{Kind: ActDelete, BookingID: o.BookingID, Mailbox: o.Mailbox, EventID: o.EventID, Orphan: true,
			Reason: "left behind when the booking was reassigned while this calendar could not be read"})
	}
}

// terminalSkip reports whether an action was refused for good before, unchanged since: it is not tried again.
func (p *planner) terminalSkip(a Action) bool {
	t, ok := p.in.Terminal[a.BookingID]
	if !ok || t.Action != a.Kind || t.Mailbox != a.Mailbox || t.Hash != terminalHash(a) {
		return false
	}
	p.plan.Skipped = append(p.plan.Skipped, Skip{BookingID: a.BookingID, Mailbox: a.Mailbox,
		Reason: fmt.Sprintf("%s refused for good on %s and not tried again until the booking or the settings change: %s",
			a.Kind, t.At.Format("2006-01-02 15:04"), t.Reason)})
	return true
}
