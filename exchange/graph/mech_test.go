package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tfsync/exchange"
)

// createdEcho answers a create or update by echoing the event with an id derived from its transaction id.
func createdEcho(it batchItem, id string) batchItemResponse {
	var w eventOut
	_ = json.Unmarshal(it.Body, &w)
	status := http.StatusOK
	if it.Method == http.MethodPost {
		status = http.StatusCreated
	}
	return batchItemResponse{Status: status, Headers: map[string]string{"Content-Type": "application/json"},
		Body: jsonBody(map[string]any{"id": id, "changeKey": "ck-" + id, "subject": w.Subject,
			"start": w.Start, "end": w.End, "isAllDay": w.IsAllDay, "showAs": w.ShowAs,
			"isReminderOn": w.IsReminderOn, "reminderMinutesBeforeStart": w.ReminderMinutesBeforeStart})}
}

func graphErr(status int, code, msg string, hdr map[string]string) batchItemResponse {
	return batchItemResponse{Status: status, Headers: hdr, Body: jsonBody(map[string]any{
		"error": map[string]any{"code": code, "message": msg}})}
}

func testEvent(bookingID string, i int) exchange.Event {
	start := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	return exchange.Event{BookingID: bookingID, Subject: "S " + bookingID, Start: start, End: start.Add(time.Hour),
		ShowAs: exchange.ShowBusy, ReminderMinutes: 15}
}

// collect runs Write and returns the results by transaction id or event id, failing on a concurrent done or an op
// without exactly one result.
func collect(t *testing.T, c *Client, ops []exchange.Op) map[string]exchange.OpResult {
	t.Helper()
	var busy, concurrent atomic.Bool
	got := map[string]exchange.OpResult{}
	c.Write(context.Background(), ops, func(rs []exchange.OpResult) {
		if !busy.CompareAndSwap(false, true) {
			concurrent.Store(true)
		}
		defer busy.Store(false)
		for _, r := range rs {
			key := r.Op.TransactionID + r.Op.Event.ID
			if _, dup := got[key]; dup {
				t.Errorf("op %s got a second result", key)
			}
			got[key] = r
		}
	})
	if concurrent.Load() {
		t.Errorf("done was called concurrently")
	}
	if len(got) != len(ops) {
		t.Errorf("%d results for %d ops", len(got), len(ops))
	}
	return got
}

func TestTokenIsSent(t *testing.T) {
	f := newFakeGraph(t, func(it batchItem, batch bool) batchItemResponse {
		if strings.Contains(it.URL, "/calendar?") {
			return batchItemResponse{Status: 200, Body: jsonBody(map[string]any{"id": "cal"})}
		}
		return batchItemResponse{Status: 200, Body: jsonBody(map[string]any{"value": []any{}})}
	})
	c, _ := f.client(t, nil)
	if err := c.CheckCredentials(context.Background()); err != nil {
		t.Fatalf("CheckCredentials: %v", err)
	}
	if err := c.CheckAccess(context.Background(), "a@example.com"); err != nil {
		t.Fatalf("CheckAccess: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.authSeen) != 2 {
		t.Fatalf("Graph saw %d requests, want 2", len(f.authSeen))
	}
	for _, a := range f.authSeen {
		if !strings.HasPrefix(a, "Bearer tok-") {
			t.Errorf("Authorization header %q, want a bearer token (is the host in validHosts?)", a)
		}
	}
	if f.tokens != 1 {
		t.Errorf("%d token requests, want 1 (cached)", f.tokens)
	}
}

func TestWriteRetriesOnlyFailedItems(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	f := newFakeGraph(t, func(it batchItem, batch bool) batchItemResponse {
		var w eventOut
		_ = json.Unmarshal(it.Body, &w)
		mu.Lock()
		seen[w.TransactionID]++
		n := seen[w.TransactionID]
		mu.Unlock()
		var i int
		fmt.Sscanf(w.TransactionID, "tx-%d", &i)
		if n == 1 && i%3 == 0 {
			return graphErr(429, "TooManyRequests", "Please retry again later.", map[string]string{"Retry-After": "2.128"})
		}
		if n == 1 && i%5 == 0 {
			return graphErr(503, "serviceNotAvailable", "later", nil)
		}
		return createdEcho(it, "ev-"+w.TransactionID)
	})
	c, sl := f.client(t, nil)
	var ops []exchange.Op
	for i := range 30 {
		ops = append(ops, exchange.Op{Kind: exchange.OpCreate, Mailbox: fmt.Sprintf("m%d@example.com", i%3),
			TransactionID: fmt.Sprintf("tx-%d", i), Event: testEvent(fmt.Sprintf("B-%d", i), i)})
	}
	res := collect(t, c, ops)
	for k, r := range res {
		if r.Err != nil || r.Event.ID != "ev-"+k {
			t.Errorf("%s: %v, id %q", k, r.Err, r.Event.ID)
		}
		if r.Event.BookingID != r.Op.Event.BookingID {
			t.Errorf("%s: BookingID %q, want %q", k, r.Event.BookingID, r.Op.Event.BookingID)
		}
	}
	failedFirst := 0
	for i := range 30 {
		if i%3 == 0 || i%5 == 0 {
			failedFirst++
		}
	}
	sizes := f.batchSizes()
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != 30+failedFirst {
		t.Errorf("batches %v carried %d items, want %d (each failed item once more, nothing else)", sizes, total,
			30+failedFirst)
	}
	if !slices.Contains(sl.all(), 2128*time.Millisecond) {
		t.Errorf("waits %v lack the server's Retry-After of exactly 2.128s", sl.all())
	}
}

func TestWriteGivesUpAfterAttempts(t *testing.T) {
	f := newFakeGraph(t, func(it batchItem, batch bool) batchItemResponse {
		return graphErr(429, "TooManyRequests", "Please retry again later.", map[string]string{"Retry-After": "0.5"})
	})
	c, sl := f.client(t, nil)
	op := exchange.Op{Kind: exchange.OpCreate, Mailbox: "a@example.com", TransactionID: "tx-1", Event: testEvent("B-1", 0)}
	r := collect(t, c, []exchange.Op{op})["tx-1"]
	if !errors.Is(r.Err, exchange.ErrThrottled) {
		t.Fatalf("result %v, want ErrThrottled", r.Err)
	}
	var ra *exchange.RetryAfterError
	if !errors.As(r.Err, &ra) || ra.After != 500*time.Millisecond {
		t.Errorf("want a RetryAfterError of 0.5s in %v", r.Err)
	}
	if n := len(f.batchSizes()); n != DefaultMaxAttempts {
		t.Errorf("%d attempts, want %d", n, DefaultMaxAttempts)
	}
	if w := sl.all(); len(w) != DefaultMaxAttempts-1 {
		t.Errorf("waits %v, want %d", w, DefaultMaxAttempts-1)
	}
}

func TestWriteOutcomes(t *testing.T) {
	f := newFakeGraph(t, func(it batchItem, batch bool) batchItemResponse {
		switch {
		case strings.HasSuffix(it.URL, "/events/gone") && it.Method == http.MethodDelete:
			return graphErr(404, "ErrorItemNotFound", "The specified object was not found in the store.", nil)
		case strings.HasSuffix(it.URL, "/events/gone"):
			return graphErr(404, "ErrorItemNotFound", "The specified object was not found in the store.", nil)
		case strings.HasPrefix(it.URL, "/users/nobody@example.com/"):
			return graphErr(404, "ErrorInvalidUser", "The requested user 'nobody@example.com' is invalid.", nil)
		case it.Method == http.MethodDelete:
			return batchItemResponse{Status: 204}
		}
		return createdEcho(it, "ev-1")
	})
	c, _ := f.client(t, nil)
	upd := testEvent("B-2", 1)
	upd.ID = "gone"
	ops := []exchange.Op{
		{Kind: exchange.OpDelete, Mailbox: "a@example.com", Event: exchange.Event{ID: "gone"}, TransactionID: "del-gone"},
		{Kind: exchange.OpDelete, Mailbox: "a@example.com", Event: exchange.Event{ID: "here"}, TransactionID: "del-here"},
		{Kind: exchange.OpUpdate, Mailbox: "a@example.com", Event: upd, TransactionID: "upd-gone"},
		{Kind: exchange.OpCreate, Mailbox: "nobody@example.com", Event: testEvent("B-3", 2), TransactionID: "cr-nobody"},
		{Kind: exchange.OpCreate, Mailbox: "a@example.com", Event: testEvent("B-4", 3)}, // no transaction id
	}
	res := collect(t, c, ops)
	tests := []struct {
		key  string
		want error
	}{
		{"del-gonegone", nil},
		{"del-herehere", nil},
		{"upd-gonegone", exchange.ErrNotFound},
		{"cr-nobody", exchange.ErrMailboxNotFound},
		{"", exchange.ErrInvalidEvent},
	}
	for _, tt := range tests {
		r, ok := res[tt.key]
		if !ok {
			t.Errorf("no result for %q", tt.key)
			continue
		}
		if tt.want == nil && r.Err != nil || tt.want != nil && !errors.Is(r.Err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.key, r.Err, tt.want)
		}
	}
}

func TestBatchEnvelopeFailures(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		drop       bool
		wantTokens int
	}{
		{"whole batch unavailable", http.StatusServiceUnavailable, false, 1},
		{"connection dropped after the items were carried out", 0, true, 1},
		{"token rejected: a new one is fetched", http.StatusUnauthorized, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			created := map[string]string{} // transaction id -> event id, like Graph's transactionId dedup
			f := newFakeGraph(t, func(it batchItem, batch bool) batchItemResponse {
				var w eventOut
				_ = json.Unmarshal(it.Body, &w)
				mu.Lock()
				defer mu.Unlock()
				id, ok := created[w.TransactionID]
				if !ok {
					id = fmt.Sprintf("ev-%d", len(created)+1)
					created[w.TransactionID] = id
				}
				return createdEcho(it, id)
			})
			f.envelope = func(n int, auth string) (int, bool) {
				if n == 1 {
					return tt.status, tt.drop
				}
				return 0, false
			}
			c, _ := f.client(t, nil)
			var ops []exchange.Op
			for i := range 5 {
				ops = append(ops, exchange.Op{Kind: exchange.OpCreate, Mailbox: "a@example.com",
					TransactionID: fmt.Sprintf("tx-%d", i), Event: testEvent(fmt.Sprintf("B-%d", i), i)})
			}
			res := collect(t, c, ops)
			ids := map[string]bool{}
			for k, r := range res {
				if r.Err != nil {
					t.Errorf("%s: %v", k, r.Err)
				}
				ids[r.Event.ID] = true
			}
			if len(ids) != 5 || len(created) != 5 {
				t.Errorf("%d distinct ids confirmed, %d events on the server; want 5 and 5", len(ids), len(created))
			}
			if n := len(f.batchSizes()); n != 2 {
				t.Errorf("%d batches %v, want 2 (one failed, one retry)", n, f.batchSizes())
			}
			if f.tokens != tt.wantTokens {
				t.Errorf("%d tokens fetched, want %d", f.tokens, tt.wantTokens)
			}
		})
	}
}

// deltaFake serves calendarView delta for any mailbox: an initial request gets pages page(s) of one event each,
// then a delta link; a saved delta link gets one more event.
type deltaFake struct {
	pages    int
	expired  map[string]bool // mailboxes whose delta links answer 410
	loop     map[string]bool // mailboxes whose next links repeat forever
	mu       sync.Mutex
	lookups  int
	gone     map[string]bool // event ids whose lookup answers 404
	noPrefer bool
}

func (d *deltaFake) item(it batchItem, batch bool) batchItemResponse {
	u, _ := url.Parse(it.URL)
	parts := strings.Split(u.Path, "/") // "", users, mailbox, ...
	if len(parts) < 4 {
		return graphErr(400, "BadRequest", "bad url", nil)
	}
	mb := parts[2]
	if !strings.Contains(it.Headers["Prefer"], `outlook.timezone="UTC"`) ||
		!strings.Contains(it.Headers["Prefer"], `IdType="ImmutableId"`) {
		d.mu.Lock()
		d.noPrefer = true
		d.mu.Unlock()
	}
	ev := func(id string) map[string]any {
		return map[string]any{"id": id, "changeKey": "ck", "subject": id,
			"start": map[string]string{"dateTime": "2026-05-04T08:00:00.0000000", "timeZone": "UTC"},
			"end":   map[string]string{"dateTime": "2026-05-04T09:00:00.0000000", "timeZone": "UTC"}}
	}
	if parts[3] == "events" {
		d.mu.Lock()
		d.lookups++
		gone := d.gone[parts[4]]
		d.mu.Unlock()
		if gone {
			return graphErr(404, "ErrorItemNotFound", "The specified object was not found in the store.", nil)
		}
		e := ev(parts[4])
		e["singleValueExtendedProperties"] = []map[string]string{{"id": exchange.GraphBookingPropertyID,
			"value": "B-" + parts[4]}}
		return batchItemResponse{Status: 200, Body: jsonBody(e)}
	}
	q := u.Query()
	base := "https://graph.microsoft.com/v1.0/users/" + mb + "/calendarView/delta"
	switch {
	case q.Get("$deltatoken") != "":
		if d.expired[mb] {
			return graphErr(410, "syncStateNotFound", "The sync state is not found.", nil)
		}
		if d.loop[mb] {
			return batchItemResponse{Status: 200, Body: jsonBody(map[string]any{"value": []any{},
				"@odata.nextLink": base + "?$skiptoken=same"})}
		}
		return batchItemResponse{Status: 200, Body: jsonBody(map[string]any{
			"value":            []any{ev(mb + "-new"), map[string]any{"id": mb + "-old", "@removed": map[string]string{"reason": "deleted"}}},
			"@odata.deltaLink": base + "?$deltatoken=t2"})}
	case q.Get("$skiptoken") == "same":
		return batchItemResponse{Status: 200, Body: jsonBody(map[string]any{"value": []any{},
			"@odata.nextLink": base + "?$skiptoken=same"})}
	case q.Get("startDateTime") != "" || q.Get("$skiptoken") != "":
		if q.Get("startDateTime") != "" && (!strings.HasSuffix(q.Get("startDateTime"), "Z") || q.Get("endDateTime") == "") {
			return graphErr(400, "BadRequest", "window", nil)
		}
		page := 0
		fmt.Sscanf(q.Get("$skiptoken"), "p%d", &page)
		body := map[string]any{"value": []any{ev(fmt.Sprintf("%s-%d", mb, page))}}
		if page+1 < d.pages {
			body["@odata.nextLink"] = fmt.Sprintf("%s?$skiptoken=p%d", base, page+1)
		} else {
			body["@odata.deltaLink"] = base + "?$deltatoken=t1"
		}
		return batchItemResponse{Status: 200, Body: jsonBody(body)}
	}
	return graphErr(400, "BadRequest", "unexpected "+it.URL, nil)
}

func window() exchange.Window {
	return exchange.Window{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

func TestFakeReadBatchesMailboxes(t *testing.T) {
	d := &deltaFake{pages: 2}
	f := newFakeGraph(t, d.item)
	c, _ := f.client(t, nil)
	var reqs []exchange.ReadRequest
	for i := range 45 {
		mb := fmt.Sprintf("m%02d@example.com", i)
		reqs = append(reqs, exchange.ReadRequest{Mailbox: mb, Window: window(),
			Known: func(id string) bool { return id == mb+"-1" }})
	}
	res := c.Read(context.Background(), reqs)
	for i, r := range res {
		mb := reqs[i].Mailbox
		if r.Err != nil || r.Mailbox != mb || !r.Full || r.Cursor == "" {
			t.Fatalf("%s: mailbox %q, full %v, cursor %q, err %v", mb, r.Mailbox, r.Full, r.Cursor, r.Err)
		}
		if len(r.Events) != 2 || r.Events[0].BookingID != "B-"+mb+"-0" || r.Events[1].BookingID != "" {
			t.Errorf("%s: events %+v, want the unknown one with its booking id and the known one without", mb, r.Events)
		}
	}
	// Three rounds (first pages, second pages, lookups), each ceil(45/20) batches.
	if sizes := f.batchSizes(); len(sizes) != 9 {
		t.Errorf("batches %v, want 9 of at most 20", sizes)
	}
	if d.lookups != 45 {
		t.Errorf("%d lookups, want 45 (one per unknown event)", d.lookups)
	}
	if d.noPrefer {
		t.Errorf("a request lacked Prefer outlook.timezone=\"UTC\" and IdType=\"ImmutableId\"")
	}

	t.Run("incremental", func(t *testing.T) {
		again := c.Read(context.Background(), []exchange.ReadRequest{{Mailbox: reqs[0].Mailbox, Window: window(),
			Cursor: res[0].Cursor}})[0]
		mb := reqs[0].Mailbox
		if again.Err != nil || again.Full || len(again.Events) != 1 || again.Events[0].ID != mb+"-new" ||
			!slices.Equal(again.Removed, []string{mb + "-old"}) {
			t.Errorf("incremental read: %+v", again)
		}
	})
	t.Run("cursor of another window", func(t *testing.T) {
		w := window()
		w.End = w.End.AddDate(0, 1, 0)
		again := c.Read(context.Background(), []exchange.ReadRequest{{Mailbox: reqs[0].Mailbox, Window: w,
			Cursor: res[0].Cursor}})[0]
		if again.Err != nil || !again.Full || len(again.Events) != 2 {
			t.Errorf("read with another window: %+v, want a full read", again)
		}
	})
}

func TestReadExpiredAndLooping(t *testing.T) {
	d := &deltaFake{pages: 1, expired: map[string]bool{"old@example.com": true},
		loop: map[string]bool{"loop@example.com": true}, gone: map[string]bool{"ok@example.com-0": true}}
	f := newFakeGraph(t, d.item)
	c, _ := f.client(t, nil)
	cursors := map[string]string{}
	for _, mb := range []string{"old@example.com", "loop@example.com", "ok@example.com"} {
		r := c.Read(context.Background(), []exchange.ReadRequest{{Mailbox: mb, Window: window()}})[0]
		if r.Err != nil {
			t.Fatalf("first read of %s: %v", mb, r.Err)
		}
		cursors[mb] = r.Cursor
	}
	var reqs []exchange.ReadRequest
	for _, mb := range []string{"old@example.com", "loop@example.com", "ok@example.com"} {
		reqs = append(reqs, exchange.ReadRequest{Mailbox: mb, Window: window(), Cursor: cursors[mb]})
	}
	d.loop["loop@example.com"] = true
	// A full read of the looping mailbox loops too.
	d.pages = 1
	res := c.Read(context.Background(), reqs)
	if r := res[0]; r.Err != nil || !r.Full || len(r.Events) != 1 {
		t.Errorf("expired cursor: %+v, want a full read in the same call", r)
	}
	if r := res[2]; r.Err != nil || r.Full || len(r.Events) != 1 {
		t.Errorf("mailbox beside the failures: %+v", r)
	}
	// The looping mailbox restarts with a full read, which here ends normally.
	if r := res[1]; r.Err != nil || !r.Full {
		t.Errorf("looping cursor: %+v, want a full read after the loop", r)
	}

	t.Run("a full read that loops fails that mailbox only", func(t *testing.T) {
		d2 := &deltaFake{pages: maxPages + 5}
		f2 := newFakeGraph(t, d2.item)
		c2, _ := f2.client(t, nil)
		res := c2.Read(context.Background(), []exchange.ReadRequest{{Mailbox: "many@example.com", Window: window()}})
		if !errors.Is(res[0].Err, exchange.ErrBadResponse) {
			t.Errorf("read of an endless delta: %v, want ErrBadResponse", res[0].Err)
		}
	})
	t.Run("lookup of an event deleted meanwhile drops it", func(t *testing.T) {
		r := c.Read(context.Background(), []exchange.ReadRequest{{Mailbox: "ok@example.com", Window: window()}})[0]
		if r.Err != nil || len(r.Events) != 0 {
			t.Errorf("read: %+v, want no events (the only one 404s on lookup)", r)
		}
	})
}
