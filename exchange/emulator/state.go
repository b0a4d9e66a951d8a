package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tfsync/exchange"
)

// This file holds the emulator's server-side state and the internal API the fronts (graph*.go, ews*.go) and the
// core's Calendar (core.go) build on. Every method here takes e.mu itself, returns copies (never pointers into the
// state) and speaks in server terms (EventData), not in any wire format. A front's request handler typically does:
//
//	if err := e.authorize("create", mailbox, ViaGraph); err != nil { ...map to 403/404... }
//	ev, created, err := e.createEvent(mailbox, data)
//
// Errors wrap the package sentinels below (which themselves wrap exchange's sentinels), so a front can pick its wire
// error with errors.Is and the core's Calendar can hand them on unchanged.

// Sentinels returned by the state API. Each wraps the exchange sentinel the core's Calendar reports, so
// errors.Is(err, ErrBlocked) and errors.Is(err, exchange.ErrAccessDenied) both hold.
var (
	// ErrUnknownMailbox: no user with this address (Graph 404 ErrorInvalidUser, EWS ErrorNonExistentMailbox).
	ErrUnknownMailbox = fmt.Errorf("no such user: %w", exchange.ErrMailboxNotFound)
	// ErrUnlicensed: the user exists but has no Exchange mailbox (Graph 404 MailboxNotEnabledForRESTAPI).
	ErrUnlicensed = fmt.Errorf("user has no Exchange mailbox: %w", exchange.ErrMailboxNotFound)
	// ErrBlocked: an application access policy keeps the app out of this mailbox (Graph 403 ErrorAccessDenied
	// "Access to OData is disabled.", EWS ErrorAccessDenied).
	ErrBlocked = fmt.Errorf("blocked by an application access policy: %w", exchange.ErrAccessDenied)
	// ErrImpersonationDenied: the EWS service account may not impersonate this mailbox (ErrorImpersonateUserDenied).
	ErrImpersonationDenied = fmt.Errorf("impersonation denied: %w", exchange.ErrAccessDenied)
	// ErrNoDelegateRights: the EWS service account has no Editor rights on this calendar (ErrorAccessDenied, or
	// ErrorFolderNotFound when it cannot even see the folder).
	ErrNoDelegateRights = fmt.Errorf("no delegate rights on the calendar: %w", exchange.ErrAccessDenied)
	// ErrEventNotFound: no live event with this id (Graph 404 ErrorItemNotFound, EWS ErrorItemNotFound).
	ErrEventNotFound = fmt.Errorf("no such event: %w", exchange.ErrNotFound)
	// ErrStaleChangeKey: an update named a change key that is no longer current (Graph 412 on If-Match,
	// EWS ErrorIrresolvableConflict).
	ErrStaleChangeKey = fmt.Errorf("stale change key: %w", exchange.ErrConflict)
	// ErrCursorExpired: a change-feed cursor is older than the mailbox's last ExpireCursors, or was never issued
	// by this mailbox (Graph 410 Gone / syncStateNotFound, EWS ErrorInvalidSyncStateData). The caller starts over
	// with since = 0. It wraps no exchange sentinel: backends turn it into a full read, never into an error.
	ErrCursorExpired = errors.New("sync state expired or invalid")
)

// invalidEvent builds an error wrapping exchange.ErrInvalidEvent (Graph 400 ErrorInvalidRequest / EWS
// ErrorCalendarInvalidDayForTimeChangePattern and friends).
func invalidEvent(format string, args ...any) error {
	return fmt.Errorf("%w: %s", exchange.ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// Via says which way an application reaches a mailbox; it decides which MailboxOptions flags apply.
type Via int

const (
	// ViaGraph is app-only Microsoft Graph (and the core's Calendar): Blocked applies.
	ViaGraph Via = iota
	// ViaEWSImpersonation is EWS with an ExchangeImpersonation header: Blocked and NoImpersonation apply.
	ViaEWSImpersonation
	// ViaEWSDelegate is EWS naming the mailbox in the folder id (Editor rights): Blocked and NoDelegate apply.
	ViaEWSDelegate
)

// MailboxOptions are a mailbox's flags. The zero value is a licensed mailbox every app may read and write.
type MailboxOptions struct {
	// Unlicensed: the user exists but has no Exchange mailbox (no licence, inactive, or on-premises).
	Unlicensed bool
	// Blocked: an ApplicationAccessPolicy (or RBAC for applications) excludes the mailbox from the app.
	Blocked bool
	// NoImpersonation: the EWS service account's ApplicationImpersonation role does not cover this mailbox.
	NoImpersonation bool
	// NoDelegate: the EWS service account has no Editor rights on this mailbox's calendar.
	NoDelegate bool
}

// PropKey names an extended property: the property set GUID, lower-cased and without braces, and the property name
// (case-sensitive, as Graph's filters are).
type PropKey struct {
	SetID string
	Name  string
}

// MakePropKey normalises a property set GUID (any case, with or without braces) and a name into a PropKey.
func MakePropKey(setID, name string) PropKey {
	return PropKey{SetID: strings.ToLower(strings.Trim(setID, "{}")), Name: name}
}

// BookingKey is the extended property that carries tfsync's booking id.
var BookingKey = MakePropKey(exchange.BookingPropertySetID, exchange.BookingPropertyName)

// InstallationKey is the extended property that names the tfsync installation that wrote an event.
var InstallationKey = MakePropKey(exchange.BookingPropertySetID, exchange.InstallationPropertyName)

// EventData is one event as the server stores it: the union of what Graph and EWS can express about the fields
// tfsync touches. Start and End are instants; TimeZone (and EndTimeZone) record the zone the client wrote them in,
// so a front can echo originalStartTimeZone or StartTimeZone and render wall times.
//
// The state API fills ID, ChangeKey, Created, LastModified and Seq itself: a caller's values for them are ignored
// on create and restored after an update's patch.
type EventData struct {
	ID           string    // opaque, URL-safe base64, unique within the emulator and never reused
	ChangeKey    string    // new on every edit (standard base64, like Exchange's)
	Created      time.Time // UTC, from Options.Now
	LastModified time.Time // UTC, from Options.Now

	Subject  string
	Body     string
	BodyType string // "html" or "text"; empty defaults to "text"
	Location string

	Start       time.Time
	End         time.Time
	TimeZone    string // the zone Start was written in: an IANA or Windows name; empty means UTC
	EndTimeZone string // the zone End was written in, when it differs from TimeZone; empty means TimeZone
	IsAllDay    bool

	ShowAs          exchange.ShowAs // the five exchange values or "unknown"; empty defaults to busy
	ReminderOn      bool
	ReminderMinutes int
	Sensitivity     string // normal | personal | private | confidential; empty defaults to normal
	Categories      []string

	ExtProps map[PropKey]string // extended properties (string-valued)
	// ForeignZone is a zone id another client wrote that maps to no IANA zone (see SetForeignZone); the fronts
	// report it instead of TimeZone's id.
	ForeignZone   string
	TransactionID string // Graph's client-set transactionId, immutable once set

	Seq uint64 // the mailbox's modification sequence at this event's last change
}

// BookingID returns the event's booking id extended property, or "".
func (d EventData) BookingID() string { return d.ExtProps[BookingKey] }

// InstallationID returns the event's tfsync installation id, or "".
func (d EventData) InstallationID() string { return d.ExtProps[InstallationKey] }

// Clone returns a deep copy, so a caller can keep or modify it without touching the state.
func (d EventData) Clone() EventData {
	d.Categories = slices.Clone(d.Categories)
	if d.ExtProps != nil {
		m := make(map[PropKey]string, len(d.ExtProps))
		for k, v := range d.ExtProps {
			m[k] = v
		}
		d.ExtProps = m
	}
	return d
}

// Change is one event in a change feed.
type Change struct {
	Event EventData
	// New is true when the event was not in the window at the cursor (created, or moved into the window): EWS
	// reports it as a Create, Graph makes no difference.
	New bool
}

// ChangeSet is the answer of changes.
type ChangeSet struct {
	Changed []Change // events now in the window that changed since the cursor, in Seq order
	Removed []string // ids that were in the window at the cursor and are not now: deleted or moved out of it
	Seq     uint64   // the cursor to resume from
	More    bool     // the limit cut the set short: call again with Seq for the rest
}

// Tombstone records a deleted event, so change feeds can report it.
type Tombstone struct {
	ID  string
	Seq uint64
}

// version is one point in an event's history: the event as it was after the change numbered seq. The EventData
// it points to is never modified (updates store a new one), so versions can share it with mailbox.events.
type version struct {
	seq uint64
	ev  *EventData // nil: deleted at seq
}

// at returns the event as it was after the change numbered seq: nil when it did not exist yet or was deleted.
func at(hist []version, seq uint64) *EventData {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].seq <= seq {
			return hist[i].ev
		}
	}
	return nil
}

// mailbox is one user's calendar. Its fields are guarded by Emulator.mu.
type mailbox struct {
	addr string
	opts MailboxOptions
	// seq numbers every change in the mailbox; it starts at 1 so that 0 always means "no cursor".
	seq uint64
	// floor is the seq of the last ExpireCursors: a cursor below it is expired.
	floor  uint64
	events map[string]*EventData
	// history holds each event's versions (live and deleted ones) back to the floor; the last version of a
	// deleted event is its tombstone.
	history map[string][]version
	// txids maps a transactionId to the live event created with it.
	txids map[string]string
}

// normAddr is the key mailboxes and counters are stored under.
func normAddr(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// lookup finds a mailbox with data (it exists and is licensed). Call with e.mu held.
func (e *Emulator) lookup(addr string) (*mailbox, error) {
	mb := e.mailboxes[normAddr(addr)]
	if mb == nil {
		return nil, ErrUnknownMailbox
	}
	if mb.opts.Unlicensed {
		return nil, ErrUnlicensed
	}
	return mb, nil
}

// authorize counts one request for the mailbox under op (Requests, RequestsByOp) and checks that the app may use
// the mailbox the way via says. Fronts call it once per request (or per $batch item) that names a mailbox, before
// touching its data, and map the error to their wire error; it returns ErrUnknownMailbox, ErrUnlicensed,
// ErrBlocked, ErrImpersonationDenied or ErrNoDelegateRights. Requests to unknown addresses are counted too.
func (e *Emulator) authorize(op, addr string, via Via) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recordLocked(op, addr)
	return e.checkLocked(addr, via)
}

func (e *Emulator) recordLocked(op, addr string) {
	key := normAddr(addr)
	m := e.requests[key]
	if m == nil {
		m = map[string]int{}
		e.requests[key] = m
	}
	m[op]++
}

func (e *Emulator) checkLocked(addr string, via Via) error {
	mb, err := e.lookup(addr)
	if err != nil {
		return err
	}
	switch {
	case mb.opts.Blocked:
		return ErrBlocked
	case via == ViaEWSImpersonation && mb.opts.NoImpersonation:
		return ErrImpersonationDenied
	case via == ViaEWSDelegate && mb.opts.NoDelegate:
		return ErrNoDelegateRights
	}
	return nil
}

// mailboxOptions reports a mailbox's flags and whether it exists (Control's view; counts no request).
func (e *Emulator) mailboxOptions(addr string) (MailboxOptions, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb := e.mailboxes[normAddr(addr)]
	if mb == nil {
		return MailboxOptions{}, false
	}
	return mb.opts, true
}

// mailboxOfEvent reports which mailbox holds, or held, the event with the id (EWS reads an item's mailbox from
// its id). Ids are never reused, so at most one mailbox knows an id; a deleted event is known until its tombstone
// is expired. It counts no request.
func (e *Emulator) mailboxOfEvent(id string) (addr string, ok bool) {
	id = canonicalID(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	for a, mb := range e.mailboxes {
		if _, ok := mb.events[id]; ok {
			return a, true
		}
		if _, ok := mb.history[id]; ok {
			return a, true
		}
	}
	return "", false
}

// createEvent stores a new event built from d and returns it as stored. A non-empty d.TransactionID that a live
// event in the mailbox already carries returns that event with created == false and changes nothing (Graph's
// transactionId; a deleted event's transactionId is free again, so a re-create after a user's delete works).
// It fails with ErrUnknownMailbox/ErrUnlicensed, or an error wrapping exchange.ErrInvalidEvent (see validate).
func (e *Emulator) createEvent(addr string, d EventData) (EventData, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return EventData{}, false, err
	}
	if d.TransactionID != "" {
		if id, ok := mb.txids[d.TransactionID]; ok {
			return mb.events[id].Clone(), false, nil
		}
	}
	d = d.Clone()
	if err := normalise(&d); err != nil {
		return EventData{}, false, err
	}
	e.serial++
	d.ID = e.newID(mb.addr)
	d.ChangeKey = e.newChangeKey()
	now := e.now().UTC()
	d.Created, d.LastModified = now, now
	mb.seq++
	d.Seq = mb.seq
	mb.events[d.ID] = &d
	mb.history[d.ID] = append(mb.history[d.ID], version{seq: d.Seq, ev: &d})
	if d.TransactionID != "" {
		mb.txids[d.TransactionID] = d.ID
	}
	return d.Clone(), true, nil
}

// getEvent returns a live event by id, wherever it is in time; ErrEventNotFound when it does not exist.
func (e *Emulator) getEvent(addr, id string) (EventData, error) {
	id = canonicalID(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return EventData{}, err
	}
	ev := mb.events[id]
	if ev == nil {
		return EventData{}, ErrEventNotFound
	}
	return ev.Clone(), nil
}

// updateEvent applies patch to a copy of the event and stores the result with a new change key, LastModified and
// Seq. patch may change any field; ID, ChangeKey, Created, LastModified, Seq and TransactionID are restored after
// it, and an error from patch aborts the update unchanged. ifChangeKey, when not empty, must be the current change
// key (else ErrStaleChangeKey). It fails with ErrEventNotFound for a missing event and with an error wrapping
// exchange.ErrInvalidEvent when the result is invalid (the stored event is then untouched). Every successful call
// counts as a change, even one that sets the same values (Exchange does the same).
func (e *Emulator) updateEvent(addr, id, ifChangeKey string, patch func(*EventData) error) (EventData, error) {
	id = canonicalID(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return EventData{}, err
	}
	cur := mb.events[id]
	if cur == nil {
		return EventData{}, ErrEventNotFound
	}
	if ifChangeKey != "" && ifChangeKey != cur.ChangeKey {
		return EventData{}, ErrStaleChangeKey
	}
	d := cur.Clone()
	if patch != nil {
		if err := patch(&d); err != nil {
			return EventData{}, err
		}
	}
	d.ID, d.ChangeKey, d.Created, d.LastModified = cur.ID, cur.ChangeKey, cur.Created, cur.LastModified
	d.Seq, d.TransactionID = cur.Seq, cur.TransactionID
	if err := normalise(&d); err != nil {
		return EventData{}, err
	}
	e.serial++
	d.ChangeKey = e.newChangeKey()
	d.LastModified = e.now().UTC()
	mb.seq++
	d.Seq = mb.seq
	mb.events[id] = &d
	mb.history[id] = append(mb.history[id], version{seq: d.Seq, ev: &d})
	return d.Clone(), nil
}

// deleteEvent removes a live event and leaves a tombstone; ErrEventNotFound when there is none (a front answers
// 404 / ErrorItemNotFound, the core's Calendar treats it as success).
func (e *Emulator) deleteEvent(addr, id string) error {
	id = canonicalID(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return err
	}
	ev := mb.events[id]
	if ev == nil {
		return ErrEventNotFound
	}
	delete(mb.events, id)
	if ev.TransactionID != "" && mb.txids[ev.TransactionID] == id {
		delete(mb.txids, ev.TransactionID)
	}
	mb.seq++
	mb.history[id] = append(mb.history[id], version{seq: mb.seq})
	return nil
}

// listEvents returns the live events overlapping w (Graph calendarView, EWS FindItem CalendarView), sorted by start
// then id. A zero w.Start or w.End leaves that side open; the zero Window lists everything.
func (e *Emulator) listEvents(addr string, w exchange.Window) ([]EventData, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return nil, err
	}
	var out []EventData
	for _, ev := range mb.events {
		if inWindow(w, ev.Start, ev.End) {
			out = append(out, ev.Clone())
		}
	}
	sortEvents(out)
	return out, nil
}

// findByProp returns the live events whose extended property key has exactly value, in any time range, sorted by
// start then id (Graph $filter=singleValueExtendedProperties/Any(...), EWS FindItem with an IsEqualTo restriction).
func (e *Emulator) findByProp(addr string, key PropKey, value string) ([]EventData, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return nil, err
	}
	var out []EventData
	for _, ev := range mb.events {
		if v, ok := ev.ExtProps[key]; ok && v == value {
			out = append(out, ev.Clone())
		}
	}
	sortEvents(out)
	return out, nil
}

// currentSeq returns the mailbox's modification sequence: a cursor that sees every change so far.
func (e *Emulator) currentSeq(addr string) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return 0, err
	}
	return mb.seq, nil
}

// changes is the change feed behind Graph's calendarView delta and EWS's SyncFolderItems (which passes the zero
// Window: the whole folder). since is a Seq from an earlier ChangeSet; 0 asks for an initial sync, which reports
// every event in the window as New. It compares the mailbox at since with the mailbox now and returns the events
// now in w that changed in between, and the ids that were in w at since but are not now (deleted, or moved out of
// the window, like Graph's @removed). An event created and deleted in between is not reported at all.
//
// limit > 0 caps len(Changed)+len(Removed) (EWS MaxChangesReturned, Graph odata.maxpagesize): the page is then the
// exact difference between since and an earlier point, the returned Seq, with the events as they were at that
// point, and More says to call again with Seq. Applying the pages in turn gives the same calendar as one unlimited
// call; an event changed again after the page's Seq simply comes again on a later page. A page may be empty while
// More is true (its changes cancelled out), as Graph's pages may.
//
// A since below the last ExpireCursors or above the mailbox's seq fails with ErrCursorExpired.
func (e *Emulator) changes(addr string, w exchange.Window, since uint64, limit int) (ChangeSet, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return ChangeSet{}, err
	}
	if since != 0 && (since < mb.floor || since > mb.seq) {
		return ChangeSet{}, ErrCursorExpired
	}
	cs := ChangeSet{Seq: mb.seq}
	if limit > 0 {
		cs.Seq, cs.More = mb.pageEnd(since, limit)
	}
	type item struct {
		seq     uint64
		id      string
		ev      *EventData
		removed bool
		isNew   bool
	}
	var items []item
	for id, hist := range mb.history {
		var last version // the last version up to cs.Seq
		for _, v := range hist {
			if v.seq <= cs.Seq {
				last = v
			}
		}
		if last.seq <= since {
			continue
		}
		before := at(hist, since)
		wasIn := before != nil && inWindow(w, before.Start, before.End)
		isIn := last.ev != nil && inWindow(w, last.ev.Start, last.ev.End)
		switch {
		case isIn:
			items = append(items, item{seq: last.seq, id: id, ev: last.ev, isNew: !wasIn})
		case wasIn:
			items = append(items, item{seq: last.seq, id: id, removed: true})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmpUint(a.seq, b.seq) })
	for _, it := range items {
		if it.removed {
			cs.Removed = append(cs.Removed, it.id)
			continue
		}
		cs.Changed = append(cs.Changed, Change{Event: it.ev.Clone(), New: it.isNew})
	}
	return cs, nil
}

// pageEnd finds where a page of at most limit events starting after since ends: the last seq before the change
// that would bring the (limit+1)th distinct event in. more is false when the page reaches the mailbox's seq.
func (mb *mailbox) pageEnd(since uint64, limit int) (end uint64, more bool) {
	type touch struct {
		seq uint64
		id  string
	}
	var touches []touch
	for id, hist := range mb.history {
		for _, v := range hist {
			if v.seq > since {
				touches = append(touches, touch{v.seq, id})
			}
		}
	}
	slices.SortFunc(touches, func(a, b touch) int { return cmpUint(a.seq, b.seq) })
	seen := map[string]bool{}
	for i, tc := range touches {
		if !seen[tc.id] && len(seen) == limit {
			return touches[i-1].seq, true
		}
		seen[tc.id] = true
	}
	return mb.seq, false
}

// expireCursors makes every cursor issued so far for the mailbox fail with ErrCursorExpired and compacts the
// history the old cursors needed.
func (e *Emulator) expireCursors(addr string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return err
	}
	mb.seq++
	mb.floor = mb.seq
	var live []version
	for id, hist := range mb.history {
		last := hist[len(hist)-1]
		if last.ev == nil {
			delete(mb.history, id)
			continue
		}
		live = append(live, last)
	}
	// A new initial round pages through the surviving events by their seqs, and its page tokens must not look
	// expired: the survivors are renumbered above the floor, in their old order.
	slices.SortFunc(live, func(a, b version) int { return cmpUint(a.seq, b.seq) })
	for _, v := range live {
		mb.seq++
		ev := v.ev.Clone()
		ev.Seq = mb.seq
		mb.events[ev.ID] = &ev
		mb.history[ev.ID] = []version{{seq: mb.seq, ev: &ev}}
	}
	return nil
}

// tombstones lists the mailbox's deleted events still remembered (since the last ExpireCursors), in Seq order.
func (e *Emulator) tombstones(addr string) ([]Tombstone, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return nil, err
	}
	var out []Tombstone
	for id, hist := range mb.history {
		if last := hist[len(hist)-1]; last.ev == nil {
			out = append(out, Tombstone{ID: id, Seq: last.seq})
		}
	}
	slices.SortFunc(out, func(a, b Tombstone) int { return cmpUint(a.Seq, b.Seq) })
	return out, nil
}

// normalise fills defaults and enforces what Exchange enforces. It returns errors wrapping exchange.ErrInvalidEvent:
// an unknown time zone, an end before the start, an unknown showAs or sensitivity, and an all-day event that does
// not start and end at midnight in one time zone (DST days included).
func normalise(d *EventData) error {
	if d.BodyType == "" {
		d.BodyType = "text"
	}
	if d.BodyType != "html" && d.BodyType != "text" {
		return invalidEvent("body content type %q is neither html nor text", d.BodyType)
	}
	if d.ShowAs == "" {
		d.ShowAs = exchange.ShowBusy
	}
	if !d.ShowAs.Valid() && d.ShowAs != "unknown" {
		return invalidEvent("showAs %q is not one of free, tentative, busy, oof, workingElsewhere, unknown", d.ShowAs)
	}
	if d.Sensitivity == "" {
		d.Sensitivity = "normal"
	}
	switch d.Sensitivity {
	case "normal", "personal", "private", "confidential":
	default:
		return invalidEvent("sensitivity %q is not one of normal, personal, private, confidential", d.Sensitivity)
	}
	if d.ReminderMinutes < 0 {
		return invalidEvent("reminder of %d minutes before the start", d.ReminderMinutes)
	}
	if d.Start.IsZero() || d.End.IsZero() {
		return invalidEvent("start and end are required")
	}
	if d.End.Before(d.Start) {
		return invalidEvent("end %s is before start %s", d.End.Format(time.RFC3339), d.Start.Format(time.RFC3339))
	}
	if d.EndTimeZone == d.TimeZone {
		d.EndTimeZone = ""
	}
	startZone, err := LoadZone(d.TimeZone)
	if err != nil {
		return invalidEvent("start time zone: %v", err)
	}
	endZone := startZone
	if d.EndTimeZone != "" {
		if endZone, err = LoadZone(d.EndTimeZone); err != nil {
			return invalidEvent("end time zone: %v", err)
		}
	}
	if d.IsAllDay {
		if d.EndTimeZone != "" && endZone.String() != startZone.String() {
			return invalidEvent("an all-day event must start and end in the same time zone, not %s and %s",
				d.TimeZone, d.EndTimeZone)
		}
		if !isMidnight(d.Start.In(startZone)) || !isMidnight(d.End.In(endZone)) || !d.End.After(d.Start) {
			return invalidEvent("an all-day event must start and end at midnight in %s, not %s to %s",
				startZone, d.Start.In(startZone).Format("2006-01-02T15:04"), d.End.In(endZone).Format("2006-01-02T15:04"))
		}
	}
	d.Start, d.End = d.Start.UTC(), d.End.UTC()
	return nil
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// inWindow reports whether [start, end) overlaps w; zero bounds of w are open. A zero-length event counts when its
// instant lies in [w.Start, w.End).
func inWindow(w exchange.Window, start, end time.Time) bool {
	if !w.End.IsZero() && !start.Before(w.End) {
		return false
	}
	if w.Start.IsZero() {
		return true
	}
	return end.After(w.Start) || (end.Equal(start) && !start.Before(w.Start))
}

func sortEvents(evs []EventData) {
	slices.SortFunc(evs, func(a, b EventData) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newChangeKey makes a change key shaped like Exchange's (standard base64). Call with e.mu held, after bumping
// e.serial.
func (e *Emulator) newChangeKey() string {
	b := make([]byte, 0, 16)
	b = append(b, 0x09, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00) // "CQAAABYAAAA" as in EWS change keys
	b = binary.BigEndian.AppendUint64(b, e.serial)
	return base64.StdEncoding.EncodeToString(b)
}
