package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"tfsync/exchange"
)

// cursorV1 is this backend's cursor: the relative delta link and the window it was made for, since a delta token
// is bound to the window of its initial request.
type cursorV1 struct {
	V     int    `json:"v"`
	Start string `json:"start"`
	End   string `json:"end"`
	Link  string `json:"link"`
}

const cursorVersion = 1

// windowBounds are the window's startDateTime and endDateTime as sent to Graph: UTC, seconds, with Z.
func windowBounds(w exchange.Window) (string, string) {
	const layout = "2006-01-02T15:04:05Z"
	return w.Start.UTC().Format(layout), w.End.UTC().Format(layout)
}

// mailboxRead is the progress of one mailbox through a Read.
type mailboxRead struct {
	req       exchange.ReadRequest
	full      bool // reading the whole window (no usable cursor, or the cursor expired)
	restarted bool // the cursor expired or looped during this Read and a full read began
	pages     int
	seen      map[string]bool // page links followed, to spot a loop
	order     []string        // event ids in the order first seen
	entries   map[string]*readEntry
	deltaLink string
	lookups   int // booking-id lookups in flight
	err       error
	done      bool
}

type readEntry struct {
	ev        eventIn
	removed   bool
	dropped   bool // its lookup found it deleted
	bookingID string
}

// readTag marks a call of a Read: a delta page (lookup empty) or a booking-id lookup of one event.
type readTag struct {
	st     *mailboxRead
	lookup string
}

// Read reads each mailbox's changes since its cursor with calendarView delta, or the whole window when the cursor
// is empty, expired or made for another window. The first requests of up to 20 mailboxes share one $batch, and
// so do their following pages; the booking id of every event the engine does not know is then looked up, again
// 20 per batch.
func (c *Client) Read(ctx context.Context, reqs []exchange.ReadRequest) []exchange.ReadResult {
	states := make([]*mailboxRead, len(reqs))
	var calls []*call
	for i, r := range reqs {
		st := &mailboxRead{req: r}
		states[i] = st
		if r.Mailbox == "" || !r.Window.End.After(r.Window.Start) {
			st.fail(fmt.Errorf("read calendar of %q: no mailbox or an empty window %v - %v", r.Mailbox,
				r.Window.Start, r.Window.End))
			continue
		}
		link, ok := c.resume(r)
		if !ok {
			link = st.restart(false)
		} else {
			st.reset()
		}
		calls = append(calls, st.pageCall(c, link))
	}
	c.runBatches(ctx, calls, func(finished []*call) []*call {
		var next []*call
		for _, cl := range finished {
			t := cl.tag.(*readTag)
			if t.st.done {
				continue
			}
			if t.lookup == "" {
				next = append(next, t.st.onPage(ctx, c, cl)...)
			} else {
				t.st.onLookup(c, cl, t.lookup)
			}
			if t.st.done {
				exchange.NoteReadDone(ctx, t.st.req.Mailbox)
			}
		}
		return next
	})
	out := make([]exchange.ReadResult, len(reqs))
	for i, st := range states {
		out[i] = st.result(c)
	}
	return out
}

// resume returns the saved delta link when the cursor is this backend's and was made for the requested window.
func (c *Client) resume(r exchange.ReadRequest) (string, bool) {
	if r.Cursor == "" {
		return "", false
	}
	var cur cursorV1
	if json.Unmarshal([]byte(r.Cursor), &cur) != nil || cur.V != cursorVersion || cur.Link == "" {
		return "", false
	}
	start, end := windowBounds(r.Window)
	if cur.Start != start || cur.End != end || !strings.HasPrefix(cur.Link, "/") {
		return "", false
	}
	return cur.Link, true
}

func (st *mailboxRead) reset() {
	st.pages = 0
	st.seen = map[string]bool{}
	st.order = nil
	st.entries = map[string]*readEntry{}
	st.deltaLink = ""
}

// restart begins a full read of the window and returns its first link. again marks a restart during the Read
// (expired or looping cursor), which may happen only once.
func (st *mailboxRead) restart(again bool) string {
	st.reset()
	st.full = true
	st.restarted = st.restarted || again
	start, end := windowBounds(st.req.Window)
	return userPath(st.req.Mailbox) + "/calendarView/delta?startDateTime=" + qesc(start) + "&endDateTime=" + qesc(end)
}

func (st *mailboxRead) pageCall(c *Client, link string) *call {
	st.seen[link] = true
	return &call{
		mailbox: st.req.Mailbox,
		method:  http.MethodGet,
		url:     link,
		headers: c.preferHeaders(c.opts.PageSize),
		tag:     &readTag{st: st},
	}
}

func (st *mailboxRead) fail(err error) {
	if st.err == nil {
		st.err = err
	}
	st.done = true
}

// needsResync reports a delta token the server no longer honours: 410 Gone, or syncStateNotFound/resyncRequired.
func needsResync(o outcome) bool {
	if o.Err != nil {
		return false
	}
	if o.Status == http.StatusGone {
		return true
	}
	if o.Status >= 400 && o.Status < 500 {
		code, _ := parseGraphError(o.Body)
		return strings.EqualFold(code, "syncStateNotFound") || strings.EqualFold(code, "resyncRequired") ||
			strings.EqualFold(code, "syncStateInvalid")
	}
	return false
}

const readOp = "read calendar of"

// onPage takes in one delta page and returns the next call: the next page, or the booking-id lookups once the
// round is complete.
func (st *mailboxRead) onPage(ctx context.Context, c *Client, cl *call) []*call {
	mb := st.req.Mailbox
	if !cl.ok() {
		if needsResync(cl.out) && !st.restarted {
			c.log(ctx).Debug().Str("mailbox", mb).Int("status", cl.out.Status).
				Msg("delta token expired, reading the whole window")
			return []*call{st.pageCall(c, st.restart(true))}
		}
		st.fail(c.graphFailure(readOp, mb, kindMailbox, cl.out))
		return nil
	}
	var p eventPage
	if err := json.Unmarshal(cl.out.Body, &p); err != nil {
		st.fail(fmt.Errorf("%s %s: %w: delta page: %v", readOp, mb, exchange.ErrBadResponse, err))
		return nil
	}
	for _, ev := range p.Value {
		if ev.ID == "" {
			continue
		}
		e, seen := st.entries[ev.ID]
		if !seen {
			e = &readEntry{}
			st.entries[ev.ID] = e
			st.order = append(st.order, ev.ID)
		}
		// Delta may repeat an event within a round; the later report is the newer state.
		e.ev, e.removed = ev, ev.Removed != nil
	}
	switch {
	case p.NextLink != "":
		rel, err := c.relative(p.NextLink)
		if err != nil {
			st.fail(fmt.Errorf("%s %s: %w", readOp, mb, err))
			return nil
		}
		st.pages++
		if st.pages >= maxPages || st.seen[rel] {
			if !st.restarted && !st.full {
				// An incremental round that loops may come right from the start.
				return []*call{st.pageCall(c, st.restart(true))}
			}
			st.fail(fmt.Errorf("%s %s: %w: calendarView delta kept returning pages (%d, link repeated: %t); "+
				"the next pass tries again", readOp, mb, exchange.ErrBadResponse, st.pages, st.seen[rel]))
			return nil
		}
		return []*call{st.pageCall(c, rel)}
	case p.DeltaLink != "":
		rel, err := c.relative(p.DeltaLink)
		if err != nil {
			st.fail(fmt.Errorf("%s %s: %w", readOp, mb, err))
			return nil
		}
		st.deltaLink = rel
		return st.lookupCalls(c)
	}
	st.fail(fmt.Errorf("%s %s: %w: a delta page with neither nextLink nor deltaLink", readOp, mb,
		exchange.ErrBadResponse))
	return nil
}

// lookupCalls asks for the booking id of each event the engine does not know; delta never returns extended
// properties.
func (st *mailboxRead) lookupCalls(c *Client) []*call {
	var calls []*call
	for _, id := range st.order {
		e := st.entries[id]
		if e.removed || st.req.Known != nil && st.req.Known(id) {
			continue
		}
		calls = append(calls, &call{
			mailbox: st.req.Mailbox,
			method:  http.MethodGet,
			url:     eventPath(st.req.Mailbox, id) + "?" + expandBookingID,
			headers: c.preferHeaders(0),
			tag:     &readTag{st: st, lookup: id},
		})
	}
	st.lookups = len(calls)
	if st.lookups == 0 {
		st.done = true
	}
	return calls
}

func (st *mailboxRead) onLookup(c *Client, cl *call, id string) {
	st.lookups--
	e := st.entries[id]
	switch {
	case cl.ok():
		var ev eventIn
		if err := json.Unmarshal(cl.out.Body, &ev); err != nil || ev.ID == "" {
			st.fail(fmt.Errorf("%s %s: %w: event %s: %v", readOp, st.req.Mailbox, exchange.ErrBadResponse, id, err))
			return
		}
		// The event as it is now; it keeps the id delta reported (the lookup asked for the same immutable id).
		ev.ID = id
		e.ev = ev
		for _, p := range ev.SingleValueExtendedProperties {
			if strings.EqualFold(p.ID, exchange.GraphBookingPropertyID) {
				e.bookingID = p.Value
			}
		}
	case cl.out.Err == nil && cl.out.Status == http.StatusNotFound && !isMailboxMissing(cl.out):
		// Deleted since delta reported it: it is no longer in the window.
		e.dropped = true
	default:
		st.fail(c.graphFailure(readOp, st.req.Mailbox, kindMailbox, cl.out))
		return
	}
	if st.lookups == 0 {
		st.done = true
	}
}

func isMailboxMissing(o outcome) bool {
	code, _ := parseGraphError(o.Body)
	return mailboxMissingCodes[code]
}

func (st *mailboxRead) result(c *Client) exchange.ReadResult {
	r := exchange.ReadResult{Mailbox: st.req.Mailbox, Full: st.full}
	if st.err == nil && !st.done {
		st.err = fmt.Errorf("%s %s: %w: the read ended unfinished", readOp, st.req.Mailbox, exchange.ErrUnavailable)
	}
	if st.err != nil {
		r.Err = st.err
		return r
	}
	for _, id := range st.order {
		e := st.entries[id]
		switch {
		case e.dropped:
		case e.removed:
			r.Removed = append(r.Removed, id)
		default:
			ev, err := c.toEvent(e.ev)
			if err != nil {
				// A full result missing an event would read as a deletion: fail the mailbox instead.
				r.Err = fmt.Errorf("%s %s: %w", readOp, st.req.Mailbox, err)
				r.Events, r.Removed = nil, nil
				return r
			}
			if e.bookingID != "" {
				ev.BookingID = e.bookingID
			}
			r.Events = append(r.Events, ev)
		}
	}
	start, end := windowBounds(st.req.Window)
	cur, _ := json.Marshal(cursorV1{V: cursorVersion, Start: start, End: end, Link: st.deltaLink})
	r.Cursor = string(cur)
	return r
}
