package sync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tfsync/exchange"
	"tfsync/tf"
)

// ActionKind is what one planned action does.
type ActionKind string

const (
	ActCreate ActionKind = "create"  // create the event in the mailbox
	ActUpdate ActionKind = "update"  // write TF's content to the event (a TF change, or restoring a calendar edit)
	ActDelete ActionKind = "delete"  // delete the event
	ActMoveTF ActionKind = "move-tf" // write the event's new time back to the TF booking
	ActRelink ActionKind = "relink"  // adopt an existing tfsync event found through its booking id (store only)
	ActRetire ActionKind = "retire"  // forget the link; the event stays in the calendar as history
	ActDetach ActionKind = "detach"  // the technician deleted the event and on_calendar_delete = detach
	ActRecord ActionKind = "record"  // the event changed in ways that need no write; remember its new state
)

// Action is one step of a plan.
type Action struct {
	Kind      ActionKind     `json:"action"`
	BookingID string         `json:"booking_id"`
	Mailbox   string         `json:"mailbox"`
	EventID   string         `json:"event_id,omitempty"`
	Reason    string         `json:"reason"`
	Conflict  string         `json:"conflict,omitempty"` // set when both sides moved the time: what lost
	Held      bool           `json:"held,omitempty"`     // a delete held back by the max_delete_percent guard
	Event     exchange.Event `json:"-"`                  // the desired event (create, update)
	Observed  exchange.Event `json:"-"`                  // the event as read (relink, record, move-tf)
	Hash      string         `json:"-"`                  // hash of Event, stored with the link
	TFVersion int64          `json:"-"`                  // the booking version the action was planned from
	Move      *tf.Move       `json:"-"`                  // move-tf
	After     ActionKind     `json:"-"`                  // this action waits for an earlier action on the booking
	Start     time.Time      `json:"start,omitzero"`     // the booking's (new) time, for people reading the plan
	End       time.Time      `json:"end,omitzero"`
	Duplicate bool           `json:"duplicate,omitempty"` // a delete of a second event for the same booking
	Orphan    bool           `json:"orphan,omitempty"`    // an event left behind by a reassignment (delete, orphan)
	Seq       int            `json:"-"`                   // position in the plan; results are reported in this order
}

// Skip is something the pass left alone, with the reason an admin needs.
type Skip struct {
	Resource  string `json:"resource,omitempty"`
	Name      string `json:"name,omitempty"`
	BookingID string `json:"booking_id,omitempty"`
	Mailbox   string `json:"mailbox,omitempty"`
	Reason    string `json:"reason"`
}

// Observation is what one mailbox's read found, after the engine looked up every linked event the read reported
// as removed (or, on a full read, did not return).
type Observation struct {
	Mailbox string
	Err     error // the read failed or was partial: nothing is planned for this mailbox
	Full    bool
	// Events by id: changed events (or all, on a full read), events found by Get after a removal (moved outside
	// the window), and events found through pending creates. The user's own events are not included.
	Events map[string]exchange.Event
	// Gone are linked event ids confirmed deleted.
	Gone map[string]bool
	// Cursor is the read's new cursor, saved once this mailbox's actions have been applied.
	Cursor string
	// NotCreated are bookings with a journalled create that the calendar does not hold: the create never
	// reached the server, so the journal entry can go unless this pass sends the create again.
	NotCreated []string
	// OrphanOnly: the mailbox is read only to delete events left behind there; its failure fails nothing else.
	OrphanOnly bool
	// Defer are changes read now that wait in the store (their booking's TF row is bad); Consumed are earlier
	// deferrals put into Events and Gone this pass. Both are recorded with the mailbox's new cursor.
	Defer    []Deferral
	Consumed []Deferral
}

// PlanInput is everything the planner looks at. Plan is a pure function of it.
type PlanInput struct {
	Now          time.Time
	Settings     Settings
	Force        bool
	Resources    []tf.Resource
	Bookings     tf.BookingSet
	Links        map[string]Link
	Observations map[string]*Observation // by mailbox; a mailbox missing here was not read
	// Orphans are events left behind by reassignments while their calendars could not be read.
	Orphans []Orphan
	// Terminal are actions refused for good, by booking id: not tried again while their hash stays the same.
	Terminal map[string]TerminalFailure

	extra *passExtra // the engine's own, from observing to applying; the planner never reads it
	// Copies are the technicians' copies already reported (copyKey): never planned on again.
	Copies map[mailboxEvent]bool
}

// Plan is the outcome of planning: what sync applies and dry-run prints.
type Plan struct {
	Window  exchange.Window `json:"window"`
	Actions []Action        `json:"actions"`
	Skipped []Skip          `json:"skipped"`
	// Held counts the deletes held back per mailbox.
	Held map[string]int `json:"held,omitempty"`
	// KeepCursor marks mailboxes that reported a change this plan cannot act on yet (it needs another mailbox
	// that could not be read): their cursors are not saved, so the change is read again next pass.
	KeepCursor map[string]bool `json:"-"`
	// Foreign counts, per mailbox, the events read there that another installation wrote, by installation id.
	Foreign map[string]map[string]int `json:"foreign,omitempty"`
	// Copies are technicians' copies of a booking's event found this pass: left alone and reported once.
	Copies []Copy `json:"copies,omitempty"`
	// TFEmpty explains why every delete is held: TF returned no bookings or no resources while events are linked.
	TFEmpty string `json:"tf_empty,omitempty"`
}

// Counts returns how many actions of each kind the plan holds (held deletes separately as "held").
func (p *Plan) Counts() map[string]int {
	c := map[string]int{}
	for _, a := range p.Actions {
		if a.Held {
			c["held"]++
			continue
		}
		c[string(a.Kind)]++
	}
	return c
}

// scope says where a booking belongs in this pass.
type scope int

const (
	scopeIn      scope = iota // it should be in mailbox
	scopeDelete               // its event should go (cancelled, gone from TF, kind or resource no longer synced)
	scopeRetire               // its event stays as history (done, passed out of the window)
	scopeFuture               // beyond the window's end: leave everything as it is
	scopeNoTouch              // its mailbox may not be contacted: forget the link, touch nothing
)

type planner struct {
	in        *PlanInput
	s         Settings
	window    exchange.Window
	resources map[string]tf.Resource
	mailboxOf map[string]string // resource id -> mailbox ("" when skipped)
	bookings  map[string]tf.Booking
	bad       map[string]bool
	// observed tfsync events by booking id and mailbox, from successful reads.
	observed map[string]map[string][]exchange.Event
	// linkedEvent marks (mailbox, event id) pairs some link points at.
	linkedEvent map[mailboxEvent]string
	// ownedMailbox marks the mailboxes of synced resources.
	ownedMailbox map[string]bool
	plan         *Plan
	// links and detached count the store's links (for the guards).
	links, detached int
}

// MakePlan computes what to do. It does no I/O.
func MakePlan(in *PlanInput) *Plan {
	p := &planner{
		in:          in,
		s:           in.Settings,
		window:      in.Settings.Window(in.Now),
		resources:   map[string]tf.Resource{},
		mailboxOf:   map[string]string{},
		bookings:    map[string]tf.Booking{},
		bad:         map[string]bool{},
		observed:    map[string]map[string][]exchange.Event{},
		linkedEvent: map[mailboxEvent]string{},
		plan:        &Plan{Held: map[string]int{}, KeepCursor: map[string]bool{}},

		ownedMailbox: map[string]bool{},
	}
	p.plan.Window = p.window
	p.index()
	p.collectObserved()
	for _, id := range p.bookingIDs() {
		if p.bad[id] {
			continue
		}
		p.planBooking(id)
	}
	p.planOrphans()
	p.guardDeletes()
	p.guardPass()
	for i := range p.plan.Actions {
		p.plan.Actions[i].Seq = i
	}
	return p.plan
}

func (p *planner) add(a Action) {
	if p.terminalSkip(a) {
		return
	}
	p.plan.Actions = append(p.plan.Actions, a)
}

// readable reports whether a mailbox was read successfully this pass; nothing is planned in one that was not.
func (p *planner) readable(mb string) bool {
	o, ok := p.in.Observations[mb]
	return ok && o.Err == nil
}

// scopeOf decides where a booking belongs. The reason is for people reading the plan.
func (p *planner) scopeOf(id string) (scope, string, string) {
	b, ok := p.bookings[id]
	if !ok {
		return scopeDelete, "", "booking no longer in TF"
	}
	switch b.Status {
	case tf.StatusCancelled:
		return scopeDelete, "", "cancelled in TF"
	case tf.StatusDone:
		return scopeRetire, "", "done in TF; the event stays as history"
	}
	if !p.s.kindEnabled(b.Kind) {
		return scopeDelete, "", fmt.Sprintf("kind %s is no longer synced ([sync] kinds)", b.Kind)
	}
	r, ok := p.resources[b.ResourceID]
	if !ok || !r.SyncEnabled {
		return scopeDelete, "", fmt.Sprintf("resource %s is no longer synced (Inställningar -> Grunddata -> Resurser)", b.ResourceID)
	}
	mb := p.mailboxOf[b.ResourceID]
	if mb == "" {
		return scopeNoTouch, "", fmt.Sprintf("resource %s has no usable e-mail", b.ResourceID)
	}
	if !b.End.After(p.window.Start) {
		return scopeRetire, mb, "passed out of the sync window; the event stays as history"
	}
	if !b.Start.Before(p.window.End) {
		return scopeFuture, mb, "beyond the sync window"
	}
	return scopeIn, mb, ""
}

func (p *planner) planBooking(id string) {
	b := p.bookings[id]
	l, hasL := p.in.Links[id]
	sc, mb, why := p.scopeOf(id)
	if hasL && mb != "" && (sc == scopeFuture || sc == scopeRetire) && p.rescheduled(b, l) {
		// TF moved the booking out of the window: its event follows it, wherever the new time lies.
		sc = scopeIn
	}

	if hasL && p.foreignLink(l) {
		hasL = false
	}
	// A linked mailbox outside allowed_domains is never contacted again, whatever else is true.
	if hasL && !p.s.DomainAllowed(l.Mailbox) {
		p.add(Action{Kind: ActRetire, BookingID: id, Mailbox: l.Mailbox, EventID: l.EventID,
			Reason: "mailbox is outside allowed_domains; it is not contacted and its event is left alone"})
		hasL = false
	}

	switch sc {
	case scopeIn:
		p.planInScope(b, l, hasL, mb)
	case scopeDelete:
		if hasL && !l.Detached {
			p.deleteLinked(l, why)
		} else if hasL {
			p.add(Action{Kind: ActRetire, BookingID: id, Mailbox: l.Mailbox, EventID: l.EventID, Reason: why + "; the link was detached"})
		}
		p.deleteOrphans(id, "", l, hasL, why)
	case scopeRetire:
		if hasL {
			p.add(Action{Kind: ActRetire, BookingID: id, Mailbox: l.Mailbox, EventID: l.EventID, Reason: why})
		}
	case scopeNoTouch:
		if hasL && !l.Detached && p.leftForUnsyncable(l) {
			p.deleteLinked(l, "reassigned in TF to a resource that cannot be synced ("+why+")")
		} else if hasL {
			p.add(Action{Kind: ActRetire, BookingID: id, Mailbox: l.Mailbox, EventID: l.EventID,
				Reason: why + "; its event is left alone"})
		}
	case scopeFuture:
		// The link stays: when the window reaches the booking, the existing event is updated, never duplicated.
	}
}

func (p *planner) deleteLinked(l Link, why string) {
	if !p.readable(l.Mailbox) {
		return
	}
	if p.in.Observations[l.Mailbox].Gone[l.EventID] {
		p.add(Action{Kind: ActRetire, BookingID: l.BookingID, Mailbox: l.Mailbox, EventID: l.EventID,
			Reason: why + "; the event was already deleted in the calendar"})
		return
	}
	p.add(Action{Kind: ActDelete, BookingID: l.BookingID, Mailbox: l.Mailbox, EventID: l.EventID, Reason: why,
		Start: l.EvStart, End: l.EvEnd})
}

// deleteOrphans removes tfsync events for a booking that no link points at: a second copy in the target mailbox
// (keep is the one kept), or a leftover in another mailbox.
func (p *planner) deleteOrphans(id, keepMailbox string, l Link, hasL bool, why string) {
	byMailbox := p.observed[id]
	mbs := slices.Sorted(maps.Keys(byMailbox))
	for _, mb := range mbs {
		for _, ev := range byMailbox[mb] {
			if hasL && l.Mailbox == mb && l.EventID == ev.ID {
				continue
			}
			if _, linked := p.linkedEvent[mailboxEvent{mb, ev.ID}]; linked {
				continue // a linked event is never an orphan: its own booking decides its fate
			}
			reason := why
			dup := false
			// A second event beside the linked one: the technician's if they changed it, else tfsync's own copy.
			if mb == keepMailbox || keepMailbox == "" && hasL && mb == l.Mailbox {
				if !p.untouchedCopy(id, mb, ev, l, hasL) {
					p.leaveCopy(id, mb, ev)
					continue
				}
				dup = true
				if mb == keepMailbox {
					reason = "a second event for the same booking, exactly as tfsync wrote it"
				}
			}
			if reason == "" {
				reason = "a leftover event in a mailbox the booking no longer belongs to"
			}
			p.add(Action{Kind: ActDelete, BookingID: id, Mailbox: mb, EventID: ev.ID, Reason: reason,
				Duplicate: dup, Start: ev.Start, End: ev.End})
		}
	}
}

func (p *planner) planInScope(b tf.Booking, l Link, hasL bool, mb string) {
	b = p.keepInstant(b, l, hasL)
	want := Render(b, p.s)
	hash := Hash(want)

	if hasL && l.Mailbox != mb {
		p.planReassigned(b, l, want, hash, mb)
		return
	}
	if !p.readable(mb) {
		return
	}
	if !hasL {
		p.createOrAdopt(b, want, hash, mb, "", "new booking")
		return
	}
	if l.Detached {
		return
	}
	o := p.in.Observations[mb]
	p.deleteOrphans(b.ID, mb, l, true, "")
	if o.Gone[l.EventID] {
		if p.s.OnCalendarDelete == DeleteDetach {
			p.add(Action{Kind: ActDetach, BookingID: b.ID, Mailbox: mb, EventID: l.EventID,
				Reason: "deleted in the calendar; on_calendar_delete = detach, so the booking is no longer synced there"})
			return
		}
		p.add(Action{Kind: ActCreate, BookingID: b.ID, Mailbox: mb, Event: want, Hash: hash, TFVersion: b.Version,
			Reason: "deleted in the calendar; recreated (on_calendar_delete = recreate)", Start: b.Start, End: b.End})
		return
	}

	tfChanged := hash != l.Hash
	ev, seen := o.Events[l.EventID]
	calChanged := seen && ev.ChangeKey != l.ChangeKey
	if !calChanged {
		if tfChanged {
			p.update(b, want, hash, mb, l.EventID, p.changedReason(want, l), "")
		}
		return
	}

	p.planCalendarChange(b, l, ev, want, hash, mb, tfChanged)
}

// allDayBounds turns an all-day event's span into local midnights of its dates in the TF zone.
func allDayBounds(start, end time.Time, zone *time.Location) (time.Time, time.Time) {
	sy, sm, sd := start.In(zone).Date()
	ey, em, ed := end.In(zone).Date()
	s := time.Date(sy, sm, sd, 0, 0, 0, 0, zone)
	e := time.Date(ey, em, ed, 0, 0, 0, 0, zone)
	if !e.After(s) {
		e = time.Date(sy, sm, sd+1, 0, 0, 0, 0, zone)
	}
	return s, e
}

func (p *planner) updateAction(b tf.Booking, want exchange.Event, hash, mb, eventID, reason, conflict string) Action {
	want.ID = eventID
	return Action{Kind: ActUpdate, BookingID: b.ID, Mailbox: mb, EventID: eventID, Event: want, Hash: hash,
		TFVersion: b.Version, Reason: reason, Conflict: conflict, Start: b.Start, End: b.End}
}

func (p *planner) update(b tf.Booking, want exchange.Event, hash, mb, eventID, reason, conflict string) {
	p.add(p.updateAction(b, want, hash, mb, eventID, reason, conflict))
}

// createOrAdopt creates the booking's event in mb, unless the calendar already holds tfsync events for it (a lost
// store, a crash after a create): then the first is adopted and any others are deleted, so there is never a
// second copy.
func (p *planner) createOrAdopt(b tf.Booking, want exchange.Event, hash, mb string, after ActionKind, reason string) {
	found := p.observed[b.ID][mb]
	var unlinked []exchange.Event
	for _, ev := range found {
		if _, linked := p.linkedEvent[mailboxEvent{mb, ev.ID}]; !linked {
			unlinked = append(unlinked, ev)
		}
	}
	if len(unlinked) == 0 {
		p.add(Action{Kind: ActCreate, BookingID: b.ID, Mailbox: mb, Event: want, Hash: hash, TFVersion: b.Version,
			Reason: reason, After: after, Start: b.Start, End: b.End})
		p.deleteOrphans(b.ID, mb, Link{}, false, "")
		return
	}
	keep := p.keepOf(unlinked, want)
	differs := !sameContent(keep, want) || !sameTimes(keep, want.Start, want.End, want.AllDay, p.s.Zone) ||
		keep.InstallationID != want.InstallationID // written by an earlier version: stamped by the update
	relinkHash := hash
	if differs {
		// Until the update below is confirmed, the event does not hold TF's content: an empty hash makes the
		// next pass write it again if the update fails.
		relinkHash = ""
	}
	p.add(Action{Kind: ActRelink, BookingID: b.ID, Mailbox: mb, EventID: keep.ID, Observed: keep, Hash: relinkHash,
		TFVersion: b.Version, Reason: "found in the calendar through its booking id; linked again", Start: b.Start, End: b.End})
	if differs {
		a := p.updateAction(b, want, hash, mb, keep.ID, "relinked event differs from TF; TF's content written", "")
		a.After = ActRelink
		p.add(a)
	}
	p.deleteOrphans(b.ID, mb, Link{BookingID: b.ID, Mailbox: mb, EventID: keep.ID}, true, "")
}

// guardDeletes holds back a mailbox's deletes when they would remove more than max_delete_percent of its linked
// events (and more than max_delete_floor), unless forced: an empty or broken TF read must not empty calendars.
// Removing a second copy of an event counts like any other delete. A create that waits for a held delete is held
// too.
func (p *planner) guardDeletes() {
	if p.in.Force {
		return
	}
	linked := map[string]int{}
	for _, l := range p.in.Links {
		if !l.Detached {
			linked[l.Mailbox]++
		}
	}
	for _, o := range p.in.Orphans {
		linked[o.Mailbox]++
	}
	deletes := map[string]int{}
	for _, a := range p.plan.Actions {
		if a.Kind == ActDelete {
			deletes[a.Mailbox]++
		}
	}
	held := map[string]bool{}
	for mb, n := range deletes {
		if n > p.s.MaxDeleteFloor && n*100 > p.s.MaxDeletePercent*linked[mb] {
			held[mb] = true
		}
	}
	if len(held) > 0 {
		p.holdDeletes(func(mb string) bool { return held[mb] })
	}
}

// String renders an action in one line for logs.
func (a Action) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s in %s", a.Kind, a.BookingID, a.Mailbox)
	if a.Held {
		sb.WriteString(" (held)")
	}
	sb.WriteString(": " + a.Reason)
	return sb.String()
}

// index makes the planner's lookups of resources, mailboxes, bookings and links, and skips what cannot be synced.
func (p *planner) index() {
	in := p.in
	for _, r := range in.Resources {
		p.resources[r.ID] = r
		if !r.SyncEnabled {
			continue
		}
		mb, skip := p.s.Mailbox(r)
		p.mailboxOf[r.ID] = mb
		if mb != "" {
			p.ownedMailbox[mb] = true
		}
		if skip != "" {
			p.plan.Skipped = append(p.plan.Skipped, Skip{Resource: r.ID, Name: r.Name, Reason: skip})
		}
	}
	for _, b := range in.Bookings.Bookings {
		p.bookings[b.ID] = b
	}
	for _, e := range in.Bookings.Bad {
		p.bad[e.BookingID] = true
		p.plan.Skipped = append(p.plan.Skipped, Skip{BookingID: e.BookingID, Reason: "bad row in TF, not synced until corrected: " + e.Error()})
	}
	for _, l := range in.Links {
		p.links++
		if l.Detached {
			p.detached++
		}
	}
	for _, l := range in.Links {
		p.linkedEvent[mailboxEvent{l.Mailbox, l.EventID}] = l.BookingID
	}
}

// collectObserved gathers, by booking and mailbox, the events of every mailbox read that the planner may act on.
func (p *planner) collectObserved() {
	in := p.in
	mailboxes := slices.Sorted(maps.Keys(in.Observations))
	for _, mb := range mailboxes {
		o := in.Observations[mb]
		if o.Err != nil {
			p.plan.Skipped = append(p.plan.Skipped, Skip{Mailbox: mb, Reason: "calendar not read, nothing changed there this pass: " + o.Err.Error()})
			continue
		}
		ids := slices.Sorted(maps.Keys(o.Events))
		for _, id := range ids {
			ev := o.Events[id]
			if ev.BookingID == "" || !p.admit(mb, ev) {
				continue
			}
			if p.observed[ev.BookingID] == nil {
				p.observed[ev.BookingID] = map[string][]exchange.Event{}
			}
			p.observed[ev.BookingID][mb] = append(p.observed[ev.BookingID][mb], ev)
		}
	}

}

// bookingIDs lists, sorted, every booking TF, the links or the calendars name.
func (p *planner) bookingIDs() []string {
	in := p.in
	ids := map[string]bool{}
	for id := range p.bookings {
		ids[id] = true
	}
	for id := range in.Links {
		ids[id] = true
	}
	for id := range p.observed {
		ids[id] = true
	}
	sorted := slices.Sorted(maps.Keys(ids))
	return sorted
}
