package ews

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"tfsync/exchange"
)

// Write implements exchange.Calendar. Ops are grouped by mailbox and kind into requests of up to 20 items; mailboxes
// are written concurrently, each one's requests one at a time. done gets each request's results as soon as the
// server has answered it.
func (c *Client) Write(ctx context.Context, ops []exchange.Op, done func([]exchange.OpResult)) {
	var doneMu sync.Mutex
	emit := func(rs []exchange.OpResult) {
		if len(rs) == 0 {
			return
		}
		doneMu.Lock()
		defer doneMu.Unlock()
		done(rs)
	}

	type group struct {
		mailbox string
		kind    exchange.OpKind
		ops     []exchange.Op
	}
	var groups []*group
	index := map[string]*group{}
	var refused []exchange.OpResult
	for _, op := range ops {
		if err := checkOp(op); err != nil {
			refused = append(refused, exchange.OpResult{Op: op, Err: err})
			continue
		}
		key := strings.ToLower(op.Mailbox) + "\x00" + string(op.Kind)
		g, ok := index[key]
		if !ok {
			g = &group{mailbox: op.Mailbox, kind: op.Kind}
			index[key] = g
			groups = append(groups, g)
		}
		g.ops = append(g.ops, op)
	}
	emit(refused)

	var wg sync.WaitGroup
	for _, g := range groups {
		size := writeBatch
		if g.kind == exchange.OpDelete {
			size = deleteBatch
		}
		for start := 0; start < len(g.ops); start += size {
			chunk := g.ops[start:min(start+size, len(g.ops))]
			wg.Go(func() {
				var rs []exchange.OpResult
				err := c.withMailbox(ctx, g.mailbox, func() error {
					switch g.kind {
					case exchange.OpCreate:
						rs = c.createChunk(ctx, g.mailbox, chunk)
					case exchange.OpUpdate:
						rs = c.updateChunk(ctx, g.mailbox, chunk)
					default:
						rs = c.deleteChunk(ctx, g.mailbox, chunk)
					}
					return nil
				})
				if err != nil {
					rs = failAll(chunk, fmt.Errorf("write to %s: %w", g.mailbox, err))
				}
				emit(rs)
			})
		}
	}
	wg.Wait()
}

// checkOp refuses ops that cannot be sent at all.
func checkOp(op exchange.Op) error {
	switch {
	case op.Mailbox == "":
		return fmt.Errorf("%s: the op names no mailbox: %w", op.Kind, exchange.ErrInvalidEvent)
	case op.Kind != exchange.OpCreate && op.Kind != exchange.OpUpdate && op.Kind != exchange.OpDelete:
		return fmt.Errorf("unknown op kind %q: %w", op.Kind, exchange.ErrInvalidEvent)
	case op.Kind != exchange.OpCreate && op.Event.ID == "":
		return fmt.Errorf("%s in %s: the event has no id: %w", op.Kind, op.Mailbox, exchange.ErrNotFound)
	}
	return nil
}

func failAll(ops []exchange.Op, err error) []exchange.OpResult {
	rs := make([]exchange.OpResult, len(ops))
	for i, op := range ops {
		rs[i] = exchange.OpResult{Op: op, Err: err}
	}
	return rs
}

// chunk holds the results of one request's ops, and fails them with what was being done.
type chunk struct {
	verb    string // create, update, delete
	mailbox string
	ops     []exchange.Op
	rs      []exchange.OpResult
}

func newChunk(verb, mailbox string, ops []exchange.Op) *chunk {
	rs := make([]exchange.OpResult, len(ops))
	for i, op := range ops {
		rs[i].Op = op
	}
	return &chunk{verb: verb, mailbox: mailbox, ops: ops, rs: rs}
}

// fail records err for the ops at idx, naming the booking of a create and the event otherwise
// ("create ARE-4711 in a@example.com: ...").
func (ch *chunk) fail(idx []int, err error) {
	for _, i := range idx {
		what := ch.ops[i].Event.ID
		if ch.verb == "create" {
			what = ch.ops[i].Event.BookingID
		}
		ch.rs[i].Err = fmt.Errorf("%s %s in %s: %w", ch.verb, what, ch.mailbox, err)
	}
}

// wireEvents converts the chunk's events for the wire. An op whose event cannot be written fails; the others are
// returned as pending.
func (c *Client) wireEvents(ch *chunk) (wire []wireEvent, pending []int) {
	wire = make([]wireEvent, len(ch.ops))
	for i, op := range ch.ops {
		w, err := c.toWire(op.Event)
		if err != nil {
			ch.fail([]int{i}, err)
			continue
		}
		wire[i] = w
		pending = append(pending, i)
	}
	return wire, pending
}

// createChunk creates events. EWS has no idempotency key, so the booking id stands in for one: before sending, and
// again after a connection that dropped mid-request, the calendar is searched for the chunk's booking ids, and an
// event found there is the result instead of a new one. A repeated create therefore never makes a duplicate.
func (c *Client) createChunk(ctx context.Context, mailbox string, ops []exchange.Op) []exchange.OpResult {
	ch := newChunk("create", mailbox, ops)
	rs, fail := ch.rs, ch.fail
	wire, pending := c.wireEvents(ch)

	pending, err := c.adoptExisting(ctx, mailbox, ops, pending, rs)
	if err != nil {
		fail(pending, err)
		return rs
	}
	rest, err := c.perItem(ctx, itemBatch{name: "CreateItem", mailbox: mailbox, write: true, items: pending,
		send: func(items []int) ([]responseMessage, error) {
			req := &createItemRequest{SendMeetingInvitations: sendToNone, SavedItemFolderID: c.folder(mailbox)}
			for _, i := range items {
				req.Items = append(req.Items, wire[i].item)
			}
			return c.do(ctx, call{name: "CreateItem", mailbox: mailbox, op: req, write: true})
		},
		settle: func(i int, m responseMessage) (itemVerdict, error) {
			switch {
			case m.ok() && len(m.Items.List) > 0 && m.Items.List[0].ItemID.ID != "":
				ev := ops[i].Event
				ev.ID, ev.ChangeKey = m.Items.List[0].ItemID.ID, m.Items.List[0].ItemID.ChangeKey
				rs[i].Event = ev
			case m.ok():
				fail([]int{i}, c.badResponse("CreateItem", errors.New("a successful answer without an item id")))
			case transientCodes[m.code()]:
				return itemTransient, nil
			default:
				fail([]int{i}, c.codeError(m.code(), m.MessageText, mailbox, true))
			}
			return itemSettled, nil
		},
		recover: func(items []int) ([]int, error) { return c.adoptExisting(ctx, mailbox, ops, items, rs) },
		fail:    fail,
	})
	if err != nil {
		fail(rest, err)
	}
	return rs
}

// adoptExisting searches the calendar for the booking ids of the pending creates. An event found there becomes the
// op's result (as the server holds it); the ops still to create are returned. An op without a booking id cannot be
// searched for and stays pending.
func (c *Client) adoptExisting(ctx context.Context, mailbox string, ops []exchange.Op, pending []int,
	rs []exchange.OpResult) ([]int, error) {
	var bookings []string
	for _, i := range pending {
		if b := ops[i].Event.BookingID; b != "" {
			bookings = append(bookings, b)
		}
	}
	found, err := c.findBookings(ctx, mailbox, bookings)
	if err != nil || len(found) == 0 {
		return pending, err
	}
	var ids []string
	installation := map[string]string{}
	for _, i := range pending {
		ids = append(ids, found[ops[i].Event.BookingID]...)
		installation[ops[i].Event.BookingID] = ops[i].Event.InstallationID
	}
	evs, _, err := c.getItems(ctx, mailbox, ids)
	if err != nil {
		return pending, err
	}
	byBooking := map[string]exchange.Event{}
	for _, ev := range evs {
		// Another installation's event for the same booking id (a trial beside production) is never adopted; one
		// written before installation ids existed is.
		if ev.InstallationID != "" && ev.InstallationID != installation[ev.BookingID] {
			continue
		}
		if _, ok := byBooking[ev.BookingID]; !ok && ev.BookingID != "" {
			byBooking[ev.BookingID] = ev
		}
	}
	var rest []int
	for _, i := range pending {
		if ev, ok := byBooking[ops[i].Event.BookingID]; ok && ops[i].Event.BookingID != "" {
			c.log(ctx).Info().Str("mailbox", mailbox).Str("booking", ev.BookingID).Str("event", ev.ID).
				Msg("ews create found the booking's event already in the calendar")
			rs[i].Event = ev
			continue
		}
		rest = append(rest, i)
	}
	return rest, nil
}

// updateChunk updates events with AlwaysOverwrite. A change key the server calls stale is refreshed with GetItem and
// the update sent once more.
func (c *Client) updateChunk(ctx context.Context, mailbox string, ops []exchange.Op) []exchange.OpResult {
	ch := newChunk("update", mailbox, ops)
	rs, fail := ch.rs, ch.fail
	wire, pending := c.wireEvents(ch)
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Event.ChangeKey
	}
	refreshed := make([]bool, len(ops))
	var needKey []int // updated, but the answer carried no change key
	rest, err := c.perItem(ctx, itemBatch{name: "UpdateItem", mailbox: mailbox, write: true, items: pending,
		send: func(items []int) ([]responseMessage, error) {
			req := &updateItemRequest{ConflictResolution: conflictResolution, SendInvitations: sendToNone}
			for _, i := range items {
				req.ItemChanges = append(req.ItemChanges, itemChange{
					ItemID: itemID{ID: ops[i].Event.ID, ChangeKey: keys[i]}, Updates: itemUpdates{Changes: updates(wire[i])}})
			}
			msgs, err := c.do(ctx, call{name: "UpdateItem", mailbox: mailbox, op: req, idempotent: true, write: true})
			var e *Error
			if errors.As(err, &e) && staleCodes[e.Code] {
				// A stale change key reported as a fault stands for every item of the request.
				msgs, err = make([]responseMessage, len(items)), nil
				for k := range msgs {
					msgs[k] = responseMessage{ResponseClass: "Error", ResponseCode: e.Code, MessageText: e.Message}
				}
			}
			return msgs, err
		},
		settle: func(i int, m responseMessage) (itemVerdict, error) {
			switch {
			case m.ok():
				ev := ops[i].Event
				ev.ChangeKey = ""
				if len(m.Items.List) > 0 {
					if id := m.Items.List[0].ItemID; id.ID != "" {
						ev.ID, ev.ChangeKey = id.ID, id.ChangeKey
					}
				}
				rs[i].Event = ev
				if ev.ChangeKey == "" {
					needKey = append(needKey, i)
				}
			case staleCodes[m.code()] && !refreshed[i]:
				return itemAgain, nil
			case transientCodes[m.code()]:
				return itemTransient, nil
			default:
				fail([]int{i}, c.codeError(m.code(), m.MessageText, mailbox, true))
			}
			return itemSettled, nil
		},
		prepare: func(stale []int) []int {
			return c.refreshKeys(ctx, mailbox, ops, stale, keys, refreshed, fail)
		},
		fail: fail,
	})
	if err != nil {
		fail(rest, err)
		return rs
	}
	c.fillChangeKeys(ctx, mailbox, rs, needKey)
	return rs
}

// refreshKeys reads the current change keys of the updates the server called stale and returns those to send
// again with them; an update whose event is gone fails as not found.
func (c *Client) refreshKeys(ctx context.Context, mailbox string, ops []exchange.Op, stale []int, keys []string,
	refreshed []bool, fail func([]int, error)) []int {
	ids := make([]string, len(stale))
	for k, i := range stale {
		ids[k] = ops[i].Event.ID
	}
	fresh, _, err := c.getItems(ctx, mailbox, ids)
	if err != nil {
		fail(stale, err)
		return nil
	}
	byID := map[string]string{}
	for _, ev := range fresh {
		byID[ev.ID] = ev.ChangeKey
	}
	var again []int
	for _, i := range stale {
		key, ok := byID[ops[i].Event.ID]
		if !ok {
			fail([]int{i}, exchange.ErrNotFound)
			continue
		}
		c.log(ctx).Info().Str("mailbox", mailbox).Str("event", ops[i].Event.ID).
			Msg("ews change key was stale; updating again with the current one")
		keys[i], refreshed[i] = key, true
		again = append(again, i)
	}
	return again
}

// fillChangeKeys fetches the change keys an UpdateItem answer left out, so the engine can store them.
func (c *Client) fillChangeKeys(ctx context.Context, mailbox string, rs []exchange.OpResult, idx []int) {
	if len(idx) == 0 {
		return
	}
	ids := make([]string, len(idx))
	for k, i := range idx {
		ids[k] = rs[i].Event.ID
	}
	evs, _, err := c.getItems(ctx, mailbox, ids)
	if err != nil {
		c.log(ctx).Warn().Str("mailbox", mailbox).Err(err).Msg("ews could not read change keys after an update")
		return
	}
	byID := map[string]exchange.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	for _, i := range idx {
		if ev, ok := byID[rs[i].Event.ID]; ok {
			rs[i].Event.ChangeKey, rs[i].Event.LastModified = ev.ChangeKey, ev.LastModified
		}
	}
}

// deleteChunk deletes events. An event already gone counts as deleted.
func (c *Client) deleteChunk(ctx context.Context, mailbox string, ops []exchange.Op) []exchange.OpResult {
	ch := newChunk("delete", mailbox, ops)
	rs, fail := ch.rs, ch.fail
	rest, err := c.perItem(ctx, itemBatch{name: "DeleteItem", mailbox: mailbox, write: true, items: indices(len(ops)),
		send: func(items []int) ([]responseMessage, error) {
			req := &deleteItemRequest{DeleteType: deleteType, SendMeetingCancellations: sendToNone}
			for _, i := range items {
				req.ItemIDs = append(req.ItemIDs, itemID{ID: ops[i].Event.ID})
			}
			return c.do(ctx, call{name: "DeleteItem", mailbox: mailbox, op: req, idempotent: true, write: true})
		},
		settle: func(i int, m responseMessage) (itemVerdict, error) {
			switch {
			case m.ok() || m.code() == codeItemNotFound:
				rs[i].Event = exchange.Event{ID: ops[i].Event.ID}
			case transientCodes[m.code()]:
				return itemTransient, nil
			default:
				fail([]int{i}, c.codeError(m.code(), m.MessageText, mailbox, true))
			}
			return itemSettled, nil
		},
		fail: fail,
	})
	if err != nil {
		fail(rest, err)
	}
	return rs
}
