package ews

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"sync"
	"time"

	"tfsync/exchange"
)

// Request sizes. EWS has no batch endpoint; one request carries many items instead.
const (
	getBatch     = 50   // item ids per GetItem
	writeBatch   = 20   // items per CreateItem or UpdateItem (done is called after each)
	deleteBatch  = 50   // item ids per DeleteItem
	findPage     = 200  // items per FindItem page
	viewMax      = 1000 // items per CalendarView: Exchange's default FindItem limit (EWSFindCountLimit)
	syncMax      = 512  // MaxChangesReturned: the schema's maximum
	maxSyncPages = 2000 // a guard against a server that never says IncludesLastItemInRange
	maxFindPages = 100  // a guard on FindItem paging (20,000 items carrying a booking id)
)

// Write settings, chosen for a calendar tfsync shares with a technician:
//   - Updates overwrite (AlwaysOverwrite): the engine has already weighed the technician's changes against TF's
//     before it writes, and SetItemField touches only tfsync's fields, so the technician's own edits to other
//     fields survive. AutoResolve would not refuse a stale ChangeKey either (MS-OXWSCORE 3.1.4.9.4.1: it "resolves
//     any conflict" itself; only NeverOverwrite answers ErrorIrresolvableConflict), but it may keep the server's
//     value of a field tfsync sets (its example: a Sensitivity another user raised), so tfsync's fields would not
//     be guaranteed to win. A conflict the store still reports (ErrorIrresolvableConflict, ErrorStaleObject) is
//     answered by reading the current ChangeKey and updating once more (updateChunk).
//   - Deletes move the event to Deleted Items (MoveToDeletedItems), so a technician who misses it can restore it.
//     The moved item gets a new id, so the old id reads as gone, as the Calendar contract wants.
const (
	conflictResolution = "AlwaysOverwrite"
	deleteType         = "MoveToDeletedItems"
	sendToNone         = "SendToNone"
)

// ---- request builders ----

// folder names the mailbox's calendar. With impersonation the header names the mailbox and the folder is the
// impersonated user's own; a delegate names the mailbox in the folder id.
func (c *Client) folder(mailbox string) folderID {
	f := folderID{Distinguished: distinguishedFolderID{ID: "calendar"}}
	if !c.impersonate && mailbox != "" {
		f.Distinguished.Mailbox = &mailboxAddr{EmailAddress: mailbox}
	}
	return f
}

func formatTime(t time.Time) string { return t.UTC().Format(wireTime) }

// detailShape is what GetItem asks for: every field tfsync reads, bodies as HTML.
func detailShape() itemShape {
	return itemShape{BaseShape: "IdOnly", BodyType: "HTML", AdditionalProperties: &additionalProperties{
		Fields: []fieldURI{
			{FieldURI: "item:Subject"}, {FieldURI: "item:Body"}, {FieldURI: "item:ReminderIsSet"},
			{FieldURI: "item:ReminderMinutesBeforeStart"}, {FieldURI: "item:LastModifiedTime"},
			{FieldURI: "calendar:Start"}, {FieldURI: "calendar:End"}, {FieldURI: "calendar:IsAllDayEvent"},
			{FieldURI: "calendar:LegacyFreeBusyStatus"}, {FieldURI: "calendar:Location"},
			{FieldURI: "calendar:StartTimeZone"},
		},
		Extended: tfsyncFields(),
	}}
}

// changeShape is what SyncFolderItems asks for: enough to tell whether a change is in the window (the details
// come from GetItem, since SyncFolderItems cannot return bodies).
func changeShape() itemShape {
	return itemShape{BaseShape: "IdOnly", AdditionalProperties: &additionalProperties{
		Fields:   []fieldURI{{FieldURI: "calendar:Start"}, {FieldURI: "calendar:End"}},
		Extended: tfsyncFields(),
	}}
}

// ---- reads ----

// getItems fetches events by id, ~50 per request. Ids the server no longer has come back in missing.
func (c *Client) getItems(ctx context.Context, mailbox string, ids []string) (evs []exchange.Event,
	missing []string, err error) {
	for start := 0; start < len(ids); start += getBatch {
		chunk := ids[start:min(start+getBatch, len(ids))]
		_, err := c.perItem(ctx, itemBatch{name: "GetItem", mailbox: mailbox, items: indices(len(chunk)),
			send: func(items []int) ([]responseMessage, error) {
				req := &getItemRequest{ItemShape: detailShape()}
				for _, k := range items {
					req.ItemIDs = append(req.ItemIDs, itemID{ID: chunk[k]})
				}
				return c.do(ctx, call{name: "GetItem", mailbox: mailbox, op: req, idempotent: true})
			},
			settle: func(k int, m responseMessage) (itemVerdict, error) {
				switch {
				case m.ok() && len(m.Items.List) > 0:
					evs = append(evs, c.toEvent(&m.Items.List[0]))
				case m.ok():
					return 0, c.badResponse("GetItem", errors.New("a successful answer without an item"))
				case m.code() == codeItemNotFound || m.code() == "ErrorInvalidIdMalformed":
					missing = append(missing, chunk[k])
				case transientCodes[m.code()]:
					return itemTransient, nil
				default:
					return 0, fmt.Errorf("GetItem: %w", c.codeError(m.code(), m.MessageText, mailbox, false))
				}
				return itemSettled, nil
			},
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return evs, missing, nil
}

// indices returns 0, 1, ..., n-1.
func indices(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// findView lists the ids of the items in [start, end) with a CalendarView (recurring events expanded). more is true
// when the view held more than max items.
func (c *Client) findView(ctx context.Context, mailbox string, start, end time.Time, max int) (ids []string,
	more bool, err error) {
	msgs, err := c.do(ctx, call{name: "FindItem", mailbox: mailbox, idempotent: true, op: &findItemRequest{
		Traversal:       "Shallow",
		ItemShape:       itemShape{BaseShape: "IdOnly"},
		CalendarView:    &calendarView{MaxEntriesReturned: max, StartDate: formatTime(start), EndDate: formatTime(end)},
		ParentFolderIDs: c.folder(mailbox),
	}})
	if err != nil {
		return nil, false, err
	}
	m := msgs[0]
	if !m.ok() {
		return nil, false, fmt.Errorf("FindItem: %w", c.codeError(m.code(), m.MessageText, mailbox, false))
	}
	if m.RootFolder == nil {
		return nil, false, c.badResponse("FindItem", errors.New("no RootFolder"))
	}
	for _, it := range m.RootFolder.Items.List {
		ids = append(ids, it.ItemID.ID)
	}
	last, ok := parseBool(m.RootFolder.IncludesLastItemInRange)
	if !ok {
		last = len(ids) < max
	}
	return ids, !last, nil
}

// calendarIDs lists every item id in the window. A view that hits FindItem's limits (1000 items, two years) is
// split in halves; an event across a split shows in both halves and is listed once.
func (c *Client) calendarIDs(ctx context.Context, mailbox string, w exchange.Window) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var walk func(start, end time.Time, depth int) error
	walk = func(start, end time.Time, depth int) error {
		if end.Sub(start) > 366*24*time.Hour {
			mid := start.Add(end.Sub(start) / 2)
			if err := walk(start, mid, depth+1); err != nil {
				return err
			}
			return walk(mid, end, depth+1)
		}
		ids, more, err := c.findView(ctx, mailbox, start, end, viewMax)
		if err != nil {
			return err
		}
		if more {
			if depth > 16 || end.Sub(start) < time.Hour {
				return fmt.Errorf("FindItem: more than %d events between %s and %s: %w", viewMax,
					formatTime(start), formatTime(end), exchange.ErrUnavailable)
			}
			mid := start.Add(end.Sub(start) / 2)
			if err := walk(start, mid, depth+1); err != nil {
				return err
			}
			return walk(mid, end, depth+1)
		}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return nil
	}
	return out, walk(w.Start, w.End, 0)
}

// findBookings looks up items carrying any of the booking ids anywhere in the calendar folder, and returns their ids
// by booking id. Several ids go into one Or restriction; a server that refuses Or (ErrorInvalidRestriction) is
// asked one id at a time from then on.
func (c *Client) findBookings(ctx context.Context, mailbox string, bookingIDs []string) (map[string][]string, error) {
	isEqual := func(b string) isEqualTo {
		return isEqualTo{Field: bookingField(), Constant: constantValue{Value: b}}
	}
	if len(bookingIDs) > 1 && !c.noOr.Load() {
		or := orExpr{}
		for _, b := range bookingIDs {
			or.Exprs = append(or.Exprs, isEqual(b))
		}
		found, err := c.findRestricted(ctx, mailbox, or)
		var e *Error
		if !errors.As(err, &e) || e.Code != codeInvalidRestriction {
			return found, err
		}
		c.noOr.Store(true)
		c.log(ctx).Info().Msg("ews server refuses Or restrictions; searching for booking ids one at a time")
	}
	found := map[string][]string{}
	for _, b := range bookingIDs {
		one, err := c.findRestricted(ctx, mailbox, isEqual(b))
		if err != nil {
			return nil, err
		}
		found[b] = append(found[b], one[b]...)
	}
	return found, nil
}

// findRestricted pages through a FindItem restricted by expr, returning item ids by booking id.
func (c *Client) findRestricted(ctx context.Context, mailbox string, expr any) (map[string][]string, error) {
	found := map[string][]string{}
	offset := 0
	for page := 0; ; page++ {
		if page >= maxFindPages {
			return nil, c.badResponse("FindItem", errors.New("paging never reached the last item"))
		}
		msgs, err := c.do(ctx, call{name: "FindItem", mailbox: mailbox, idempotent: true, op: &findItemRequest{
			Traversal: "Shallow",
			ItemShape: itemShape{BaseShape: "IdOnly", AdditionalProperties: &additionalProperties{
				Extended: tfsyncFields(),
			}},
			IndexedView:     &indexedPageView{MaxEntriesReturned: findPage, Offset: offset, BasePoint: "Beginning"},
			Restriction:     &restriction{Expr: expr},
			ParentFolderIDs: c.folder(mailbox),
		}})
		if err != nil {
			return nil, err
		}
		m := msgs[0]
		if !m.ok() {
			return nil, fmt.Errorf("FindItem: %w", c.codeError(m.code(), m.MessageText, mailbox, false))
		}
		if m.RootFolder == nil {
			return nil, c.badResponse("FindItem", errors.New("no RootFolder"))
		}
		items := m.RootFolder.Items.List
		for i := range items {
			if b := items[i].bookingID(); b != "" {
				found[b] = append(found[b], items[i].ItemID.ID)
			}
		}
		last, ok := parseBool(m.RootFolder.IncludesLastItemInRange)
		if !ok {
			last = len(items) < findPage
		}
		if last || len(items) == 0 {
			return found, nil
		}
		if next := m.RootFolder.IndexedPagingOffset; next > offset {
			offset = next
		} else {
			offset += len(items)
		}
	}
}

// errInvalidSyncState reports a SyncState the server no longer accepts: the caller starts over with a full read.
var errInvalidSyncState = errors.New("sync state no longer valid")

// syncFolder runs SyncFolderItems from state until the server has nothing more, and returns the changes in order
// and the new state.
func (c *Client) syncFolder(ctx context.Context, mailbox, state string, shape itemShape) (string, []syncChange,
	error) {
	var changes []syncChange
	for page := 0; ; page++ {
		if page >= maxSyncPages {
			return "", nil, c.badResponse("SyncFolderItems", errors.New("the change feed never reached its end"))
		}
		msgs, err := c.do(ctx, call{name: "SyncFolderItems", mailbox: mailbox, idempotent: true,
			op: &syncFolderItemsRequest{
				ItemShape: shape, SyncFolderID: c.folder(mailbox), SyncState: state,
				MaxChangesReturned: syncMax, SyncScope: "NormalItems",
			}})
		var e *Error
		if errors.As(err, &e) && e.Code == codeInvalidSyncState {
			return "", nil, errInvalidSyncState
		}
		if err != nil {
			return "", nil, err
		}
		m := msgs[0]
		if m.code() == codeInvalidSyncState {
			return "", nil, errInvalidSyncState
		}
		if !m.ok() {
			return "", nil, fmt.Errorf("SyncFolderItems: %w", c.codeError(m.code(), m.MessageText, mailbox, false))
		}
		if strings.TrimSpace(m.SyncState) == "" {
			return "", nil, c.badResponse("SyncFolderItems", errors.New("no SyncState"))
		}
		state = strings.TrimSpace(m.SyncState)
		changes = append(changes, m.Changes.List...)
		last, ok := parseBool(m.IncludesLastItemInRange)
		if !ok || last {
			return state, changes, nil
		}
	}
}

// cursor is what a ReadResult's cursor holds: the SyncState and the window it was made for.
type cursor struct {
	V     int       `json:"v"`
	Start time.Time `json:"s"`
	End   time.Time `json:"e"`
	State string    `json:"st"`
}

const cursorPrefix = "ews1."

func encodeCursor(w exchange.Window, state string) string {
	b, _ := json.Marshal(cursor{V: 1, Start: w.Start.UTC(), End: w.End.UTC(), State: state}) // cannot fail
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the SyncState of a cursor made for window w, or false for anything else.
func decodeCursor(s string, w exchange.Window) (string, bool) {
	raw, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return "", false
	}
	var cur cursor
	if json.Unmarshal(b, &cur) != nil || cur.V != 1 || cur.State == "" {
		return "", false
	}
	if !cur.Start.Equal(w.Start) || !cur.End.Equal(w.End) {
		return "", false
	}
	return cur.State, true
}

// Read implements exchange.Calendar. Mailboxes are read concurrently; each one's requests run one at a time.
func (c *Client) Read(ctx context.Context, reqs []exchange.ReadRequest) []exchange.ReadResult {
	out := make([]exchange.ReadResult, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			var res exchange.ReadResult
			err := c.withMailbox(ctx, req.Mailbox, func() error {
				var err error
				res, err = c.readOne(ctx, req)
				return err
			})
			if err != nil {
				res = exchange.ReadResult{Err: fmt.Errorf("read %s: %w", req.Mailbox, err)}
			}
			res.Mailbox = req.Mailbox
			out[i] = res
			exchange.NoteReadDone(ctx, req.Mailbox)
		})
	}
	wg.Wait()
	return out
}

func (c *Client) readOne(ctx context.Context, req exchange.ReadRequest) (exchange.ReadResult, error) {
	if !req.Window.End.After(req.Window.Start) {
		return exchange.ReadResult{}, fmt.Errorf("window %v to %v is empty", req.Window.Start, req.Window.End)
	}
	if state, ok := decodeCursor(req.Cursor, req.Window); ok {
		res, err := c.readChanges(ctx, req, state)
		if !errors.Is(err, errInvalidSyncState) {
			return res, err
		}
		c.log(ctx).Info().Str("mailbox", req.Mailbox).Msg("ews sync state expired; reading the window in full")
	} else if req.Cursor != "" {
		c.log(ctx).Info().Str("mailbox", req.Mailbox).
			Msg("ews cursor is for another window or not an ews cursor; reading the window in full")
	}
	return c.readFull(ctx, req)
}

// readFull reads the window through a CalendarView. It first runs the change feed to its end, so that a change
// made during the read shows again in the next incremental read instead of being lost.
func (c *Client) readFull(ctx context.Context, req exchange.ReadRequest) (exchange.ReadResult, error) {
	state, _, err := c.syncFolder(ctx, req.Mailbox, "", itemShape{BaseShape: "IdOnly"})
	if errors.Is(err, errInvalidSyncState) {
		err = c.badResponse("SyncFolderItems", errors.New("a first sync was refused as an invalid sync state"))
	}
	if err != nil {
		return exchange.ReadResult{}, err
	}
	ids, err := c.calendarIDs(ctx, req.Mailbox, req.Window)
	if err != nil {
		return exchange.ReadResult{}, err
	}
	evs, _, err := c.getItems(ctx, req.Mailbox, ids)
	if err != nil {
		return exchange.ReadResult{}, err
	}
	events := make([]exchange.Event, 0, len(evs))
	for _, ev := range evs {
		if req.Window.Overlaps(ev.Start, ev.End) {
			events = append(events, ev)
		}
	}
	return exchange.ReadResult{Full: true, Events: events, Cursor: encodeCursor(req.Window, state)}, nil
}

// readChanges reads the changes since state. SyncFolderItems knows no window, so changes are filtered here: a
// changed event now outside the window is reported as removed, and the engine looks it up before concluding.
func (c *Client) readChanges(ctx context.Context, req exchange.ReadRequest, state string) (exchange.ReadResult,
	error) {
	newState, changes, err := c.syncFolder(ctx, req.Mailbox, state, changeShape())
	if err != nil {
		return exchange.ReadResult{}, err
	}
	// The last change of an item wins: a create then a delete in one feed is a delete.
	type outcome struct {
		removed bool
		item    *itemXML
	}
	last := map[string]outcome{}
	var order []string
	for i := range changes {
		ch := &changes[i]
		var id string
		var o outcome
		switch ch.XMLName.Local {
		case "Create", "Update":
			if len(ch.Items) == 0 {
				continue
			}
			o.item = &ch.Items[0]
			id = o.item.ItemID.ID
		case "Delete":
			if ch.ItemID == nil {
				continue
			}
			id, o.removed = ch.ItemID.ID, true
		default: // ReadFlagChange: nothing tfsync reads
			continue
		}
		if id == "" {
			continue
		}
		if _, ok := last[id]; !ok {
			order = append(order, id)
		}
		last[id] = o
	}
	var removed, fetch []string
	for _, id := range order {
		o := last[id]
		if o.removed {
			removed = append(removed, id)
			continue
		}
		if s, e, ok := o.item.times(); ok && !req.Window.Overlaps(s, e) {
			removed = append(removed, id)
			continue
		}
		fetch = append(fetch, id)
	}
	evs, missing, err := c.getItems(ctx, req.Mailbox, fetch)
	if err != nil {
		return exchange.ReadResult{}, err
	}
	removed = append(removed, missing...)
	var events []exchange.Event
	for _, ev := range evs {
		if req.Window.Overlaps(ev.Start, ev.End) {
			events = append(events, ev)
		} else {
			removed = append(removed, ev.ID)
		}
	}
	return exchange.ReadResult{Events: events, Removed: removed, Cursor: encodeCursor(req.Window, newState)}, nil
}

// ---- conversions ----

var showAsToWire = map[exchange.ShowAs]string{
	exchange.ShowFree:             "Free",
	exchange.ShowTentative:        "Tentative",
	exchange.ShowBusy:             "Busy",
	exchange.ShowOOF:              "OOF",
	exchange.ShowWorkingElsewhere: "WorkingElsewhere",
}

func showAsFromWire(s string) exchange.ShowAs {
	for k, v := range showAsToWire {
		if strings.EqualFold(v, strings.TrimSpace(s)) {
			return k
		}
	}
	// NoData or an empty answer: Exchange shows such an appointment as busy.
	return exchange.ShowBusy
}

// toEvent converts an item as GetItem returns it.
func (c *Client) toEvent(it *itemXML) exchange.Event {
	ev := exchange.Event{
		ID:              it.ItemID.ID,
		ChangeKey:       it.ItemID.ChangeKey,
		BookingID:       it.bookingID(),
		InstallationID:  it.installationID(),
		Subject:         it.Subject,
		Body:            it.Body.Text,
		Location:        it.Location,
		ShowAs:          showAsFromWire(it.LegacyFreeBusyStatus),
		ReminderMinutes: exchange.NoReminder,
	}
	if strings.EqualFold(it.Body.BodyType, "Text") && ev.Body != "" {
		ev.Body = "<p>" + strings.ReplaceAll(html.EscapeString(ev.Body), "\n", "<br>") + "</p>"
	}
	if s, e, ok := it.times(); ok {
		ev.Start, ev.End = s, e
	}
	ev.AllDay, _ = parseBool(it.IsAllDayEvent)
	zoneID := it.StartTimeZoneID
	if it.StartTimeZone != nil && it.StartTimeZone.ID != "" {
		zoneID = it.StartTimeZone.ID
	}
	ev.TimeZone = ianaZone(zoneID, c.zone)
	if ev.TimeZone == "" && it.StartTimeZone != nil {
		// Another client's zone whose id maps to no IANA zone ("Customized Time Zone" from an imported
		// iCalendar): its definition says which offsets it follows.
		ev.TimeZone = zoneFromDefinition(it.StartTimeZone, c.zone, ev.Start)
	}
	if ev.TimeZone == "" {
		ev.TimeZone = c.zone.String()
	}
	if on, _ := parseBool(it.ReminderIsSet); on {
		ev.ReminderMinutes = 15 // Outlook's default, for a server that leaves the minutes out
		if n, err := strconv.Atoi(strings.TrimSpace(it.ReminderMinutesBeforeStart)); err == nil && n >= 0 {
			ev.ReminderMinutes = n
		}
	}
	if t, err := parseTime(it.LastModifiedTime); err == nil {
		ev.LastModified = t.UTC()
	}
	return ev
}

// wireEvent is an event checked and rendered for the wire.
type wireEvent struct {
	item calendarItem // every field, for CreateItem
	zone string       // the Windows zone id
}

const maxReminder = 2629800 // the schema's ReminderMinutesBeforeStartType maximum (five years)

// toWire checks an event and renders it. Its errors wrap exchange.ErrInvalidEvent.
func (c *Client) toWire(ev exchange.Event) (wireEvent, error) {
	invalid := func(format string, args ...any) (wireEvent, error) {
		return wireEvent{}, fmt.Errorf(format+": %w", append(args, exchange.ErrInvalidEvent)...)
	}
	zoneName := ev.TimeZone
	if zoneName == "" {
		zoneName = c.zone.String()
	}
	windowsID, err := WindowsZone(zoneName)
	if err != nil {
		return invalid("%v", err)
	}
	loc, err := loadZone(zoneName)
	if err != nil {
		return invalid("%v", err)
	}
	if ev.Start.IsZero() || !ev.End.After(ev.Start) {
		return invalid("event %s ends (%v) before it starts (%v)", ev.BookingID, ev.End, ev.Start)
	}
	if ev.AllDay {
		s, e := ev.Start.In(loc), ev.End.In(loc)
		if !midnight(s) || !midnight(e) {
			return invalid("all-day event %s must run from midnight to midnight in %s, not %s to %s", ev.BookingID,
				zoneName, s.Format(time.DateTime), e.Format(time.DateTime))
		}
	}
	showAs := ev.ShowAs
	if showAs == "" {
		showAs = exchange.ShowBusy
	}
	wireShow, ok := showAsToWire[showAs]
	if !ok {
		return invalid("show-as %q is not one of free, tentative, busy, oof, workingElsewhere", ev.ShowAs)
	}
	if ev.ReminderMinutes < exchange.NoReminder || ev.ReminderMinutes > maxReminder {
		return invalid("reminder of %d minutes is out of range", ev.ReminderMinutes)
	}
	subject := ev.Subject
	reminderOn := ev.ReminderMinutes != exchange.NoReminder
	allDay := ev.AllDay
	item := calendarItem{
		Subject:              &subject,
		Body:                 &bodyContent{BodyType: "HTML", Text: ev.Body},
		ReminderIsSet:        &reminderOn,
		Start:                formatTime(ev.Start),
		End:                  formatTime(ev.End),
		IsAllDayEvent:        &allDay,
		LegacyFreeBusyStatus: wireShow,
		StartTimeZone:        &timeZoneRef{ID: windowsID},
		EndTimeZone:          &timeZoneRef{ID: windowsID},
	}
	if reminderOn {
		minutes := ev.ReminderMinutes
		item.ReminderMinutesBeforeStart = &minutes
	}
	if ev.BookingID != "" {
		item.ExtendedProperty = []extendedProperty{{Field: bookingField(), Value: ev.BookingID}}
	}
	if ev.InstallationID != "" {
		item.ExtendedProperty = append(item.ExtendedProperty,
			extendedProperty{Field: installationField(), Value: ev.InstallationID})
	}
	if ev.Location != "" {
		location := ev.Location
		item.Location = &location
	}
	return wireEvent{item: item, zone: windowsID}, nil
}

func midnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// updates lists the SetItemField/DeleteItemField changes that make an item match w: every field tfsync owns. The
// time zones and the all-day flag come before Start and End, which are set together last, so whatever the server
// does to the times when the zone or the flag changes, the explicit UTC times win.
func updates(w wireEvent) []any {
	it := w.item
	set := func(uri string, ci calendarItem) setItemField {
		return setItemField{FieldURI: &fieldURI{FieldURI: uri}, CalendarItem: ci}
	}
	u := []any{
		set("item:Subject", calendarItem{Subject: it.Subject}),
		set("item:Body", calendarItem{Body: it.Body}),
		set("item:ReminderIsSet", calendarItem{ReminderIsSet: it.ReminderIsSet}),
	}
	if it.ReminderMinutesBeforeStart != nil {
		u = append(u, set("item:ReminderMinutesBeforeStart",
			calendarItem{ReminderMinutesBeforeStart: it.ReminderMinutesBeforeStart}))
	}
	// One SetItemField per extended property: the schema allows one property per field update.
	for _, p := range it.ExtendedProperty {
		f := p.Field
		u = append(u, setItemField{ExtendedFieldURI: &f,
			CalendarItem: calendarItem{ExtendedProperty: []extendedProperty{p}}})
	}
	u = append(u, set("calendar:LegacyFreeBusyStatus", calendarItem{LegacyFreeBusyStatus: it.LegacyFreeBusyStatus}))
	if it.Location != nil {
		u = append(u, set("calendar:Location", calendarItem{Location: it.Location}))
	} else {
		u = append(u, deleteItemField{FieldURI: fieldURI{FieldURI: "calendar:Location"}})
	}
	return append(u,
		set("calendar:StartTimeZone", calendarItem{StartTimeZone: it.StartTimeZone}),
		set("calendar:EndTimeZone", calendarItem{EndTimeZone: it.EndTimeZone}),
		set("calendar:IsAllDayEvent", calendarItem{IsAllDayEvent: it.IsAllDayEvent}),
		set("calendar:Start", calendarItem{Start: it.Start}),
		set("calendar:End", calendarItem{End: it.End}),
	)
}
