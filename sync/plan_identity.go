package sync

import (
	"fmt"
	"time"

	"tfsync/exchange"
)

// Ownership: which events this installation plans on.
//
// Every event tfsync writes names the installation (one TF database) that wrote it. An event of another
// installation (a trial beside production on the same mailboxes) is never planned on, changed, deleted or
// written back to TF; it is only counted, per mailbox, for list-resources --check. An event with a booking id and
// no installation id was written by a version before installation ids: it is adopted when this installation has
// it (or its booking) linked, or TF has its booking, and stamped by the next write; otherwise it is left alone,
// since it may be another installation's.

// Copy is a second event of one booking in one mailbox that a technician changed: theirs now, left alone.
type Copy struct {
	BookingID string    `json:"booking_id"`
	Mailbox   string    `json:"mailbox"`
	EventID   string    `json:"event_id"`
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
}

// foreign reports whether another installation wrote ev.
func (p *planner) foreign(ev exchange.Event) bool {
	return ev.InstallationID != "" && ev.InstallationID != p.s.InstallationID
}

// admit decides whether an event read in mb takes part in planning, and counts the other installations' events.
func (p *planner) admit(mb string, ev exchange.Event) bool {
	if p.foreign(ev) {
		if p.plan.Foreign == nil {
			p.plan.Foreign = map[string]map[string]int{}
		}
		if p.plan.Foreign[mb] == nil {
			p.plan.Foreign[mb] = map[string]int{}
		}
		p.plan.Foreign[mb][ev.InstallationID]++
		return false
	}
	if p.in.Copies[copyKey(mb, ev.ID)] {
		return false // a technician's copy, reported on an earlier pass
	}
	if ev.InstallationID != "" {
		return true
	}
	// Written before installation ids: adopted only when this installation knows it or TF has its booking.
	if _, linked := p.linkedEvent[mailboxEvent{mb, ev.ID}]; linked {
		return true
	}
	if _, ok := p.in.Links[ev.BookingID]; ok {
		return true
	}
	_, inTF := p.bookings[ev.BookingID]
	return inTF
}

// foreignLink retires a link whose event now names another installation: it is not this installation's to touch.
func (p *planner) foreignLink(l Link) bool {
	o, ok := p.in.Observations[l.Mailbox]
	if !ok || o.Err != nil {
		return false
	}
	ev, seen := o.Events[l.EventID]
	if !seen || !p.foreign(ev) {
		return false
	}
	p.add(Action{Kind: ActRetire, BookingID: l.BookingID, Mailbox: l.Mailbox, EventID: l.EventID,
		Reason: fmt.Sprintf("the event names tfsync installation %s, not this one; it is left alone", ev.InstallationID)})
	return true
}

// untouchedCopy reports whether a second event of booking id in mb is exactly what tfsync wrote: the fields tfsync
// writes equal TF's content now (at TF's time or the linked event's last known time), or equal the linked event as
// read this pass. Anything else a technician changed.
func (p *planner) untouchedCopy(id, mb string, ev exchange.Event, l Link, hasL bool) bool {
	if b, ok := p.bookings[id]; ok {
		want := Render(b, p.s)
		if sameContent(ev, want) && (sameTimes(ev, want.Start, want.End, want.AllDay, p.s.Zone) ||
			hasL && sameTimes(ev, l.EvStart, l.EvEnd, l.AllDay, p.s.Zone)) {
			return true
		}
	}
	if !hasL {
		return false
	}
	if o, ok := p.in.Observations[mb]; ok {
		if kept, seen := o.Events[l.EventID]; seen && sameContent(ev, kept) &&
			sameTimes(ev, kept.Start, kept.End, kept.AllDay, p.s.Zone) {
			return true
		}
	}
	return false
}

// changedReason is the reason for updating a linked event whose rendering changed: an event an earlier version wrote
// differs only by the installation id it lacks.
func (p *planner) changedReason(want exchange.Event, l Link) string {
	if want.InstallationID != "" {
		legacy := want
		legacy.InstallationID = ""
		if Hash(legacy) == l.Hash {
			return "written by an earlier tfsync; stamped with this installation's id"
		}
	}
	return "changed in TF"
}

// keepOf picks the event to relink among a booking's unlinked events in one mailbox: one exactly as TF would write
// it, so that a copy a technician moved is not the one kept (and moved back), else the first.
func (p *planner) keepOf(unlinked []exchange.Event, want exchange.Event) exchange.Event {
	for _, ev := range unlinked {
		if sameContent(ev, want) && sameTimes(ev, want.Start, want.End, want.AllDay, p.s.Zone) {
			return ev
		}
	}
	return unlinked[0]
}

// leaveCopy records a technician's copy: left alone from now on, and reported by this pass.
func (p *planner) leaveCopy(id, mb string, ev exchange.Event) {
	p.plan.Copies = append(p.plan.Copies, Copy{BookingID: id, Mailbox: mb, EventID: ev.ID, Start: ev.Start, End: ev.End})
	p.plan.Skipped = append(p.plan.Skipped, Skip{BookingID: id, Mailbox: mb,
		Reason: "a second event for this booking that a technician changed (moved or edited); it is theirs now: " +
			"tfsync leaves it alone and keeps syncing the first"})
}

// guardPass holds deletes across the whole pass. When TF yields no bookings or no resources while the store links
// events, TF was emptied, replaced or half restored: every delete in every mailbox is held, whatever its size.
// Otherwise, deletes above max_delete_percent of all linked events (and above max_delete_floor) are held, so that
// many small mailboxes cannot lose their events one guard-sized bite at a time.
func (p *planner) guardPass() {
	if p.in.Force {
		return
	}
	linked := p.links - p.detached
	if linked == 0 {
		return
	}
	bookings := len(p.in.Bookings.Bookings) + len(p.in.Bookings.Bad)
	if bookings == 0 || len(p.in.Resources) == 0 {
		db := p.s.TFDatabase
		if db == "" {
			db = "(the configured [tf] database)"
		}
		p.plan.TFEmpty = fmt.Sprintf("TF database %s returned %d bookings and %d resources "+
			"while the state store links %d events: every delete is held. If [tf] database points at the wrong file, or a restore left "+
			"TF empty, correct that first; only if TF really holds no bookings, apply the deletes with "+
			"`tfsync sync --force`", db, bookings, len(p.in.Resources), linked)
		p.holdDeletes(nil)
		return
	}
	deletes := 0
	for _, a := range p.plan.Actions {
		if a.Kind == ActDelete {
			deletes++
		}
	}
	if deletes > p.s.MaxDeleteFloor && deletes*100 > p.s.MaxDeletePercent*linked {
		p.holdDeletes(nil)
	}
}

// holdDeletes holds the deletes in the mailboxes hold accepts (every mailbox when hold is nil), and every create
// that waits for one of them.
func (p *planner) holdDeletes(hold func(mailbox string) bool) {
	heldBooking := map[string]bool{}
	for i := range p.plan.Actions {
		a := &p.plan.Actions[i]
		if a.Kind != ActDelete || (hold != nil && !hold(a.Mailbox)) {
			continue
		}
		if !a.Held {
			a.Held = true
			p.plan.Held[a.Mailbox]++
		}
		heldBooking[a.BookingID] = true
	}
	for i := range p.plan.Actions {
		a := &p.plan.Actions[i]
		if a.After == ActDelete && heldBooking[a.BookingID] {
			a.Held = true
		}
	}
}
