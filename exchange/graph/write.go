package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"tfsync/exchange"
)

// Write sends creates, updates and deletes in $batch requests of up to 20 items, several mailboxes mixed, and
// retries throttled and failed items itself. done gets the results of each batch as soon as Graph confirmed them;
// it is called from one goroutine at a time.
//
// Requests are built as the batches go out, a few hundred ahead, rather than all at first: a first pass of 10,000
// creates would otherwise hold every request body in memory until its end.
func (c *Client) Write(ctx context.Context, ops []exchange.Op, done func([]exchange.OpResult)) {
	order := interleave(ops)
	hdr := c.preferHeaders(0) // read only, shared by every call
	next := 0
	// take builds calls for up to n more ops, and the results of the ops that cannot be sent at all.
	take := func(n int) (calls []*call, invalid []exchange.OpResult) {
		for len(calls) < n && next < len(order) {
			i := order[next]
			next++
			cl, err := c.opCall(ops[i], hdr)
			if err != nil {
				invalid = append(invalid, exchange.OpResult{Op: ops[i], Err: err})
				continue
			}
			cl.tag = i
			calls = append(calls, cl)
		}
		return calls, invalid
	}
	ahead := max(2*c.opts.MaxConcurrency*c.opts.MaxBatch, 2*maxBatch)
	calls, invalid := take(ahead)
	if len(invalid) > 0 {
		done(invalid)
	}
	if len(calls) == 0 {
		return
	}
	c.runBatches(ctx, calls, func(finished []*call) []*call {
		results := make([]exchange.OpResult, 0, len(finished))
		for _, cl := range finished {
			results = append(results, c.opResult(ops[cl.tag.(int)], cl))
		}
		more, invalid := take(len(finished))
		done(append(results, invalid...))
		return more
	})
}

// interleave returns the indexes of ops in an order that goes round-robin over their mailboxes, each mailbox's ops
// keeping their order. Graph works on at most four requests of one mailbox at a time, also inside a $batch, so a
// batch of twenty writes to twenty mailboxes is done in one step where twenty writes to one mailbox take five.
func interleave(ops []exchange.Op) []int {
	var mailboxes []string
	by := map[string][]int{}
	for i, op := range ops {
		if _, ok := by[op.Mailbox]; !ok {
			mailboxes = append(mailboxes, op.Mailbox)
		}
		by[op.Mailbox] = append(by[op.Mailbox], i)
	}
	out := make([]int, 0, len(ops))
	for len(mailboxes) > 0 {
		left := mailboxes[:0]
		for _, mb := range mailboxes {
			q := by[mb]
			out = append(out, q[0])
			if by[mb] = q[1:]; len(q) > 1 {
				left = append(left, mb)
			}
		}
		mailboxes = left
	}
	return out
}

func opName(k exchange.OpKind) string {
	return string(k) + " event in"
}

// opCall turns an op into its Graph request, with the (shared, read-only) headers hdr.
func (c *Client) opCall(op exchange.Op, hdr map[string]string) (*call, error) {
	name := opName(op.Kind)
	if op.Mailbox == "" {
		return nil, fmt.Errorf("%s: no mailbox: %w", name, exchange.ErrInvalidEvent)
	}
	cl := &call{mailbox: op.Mailbox, headers: hdr}
	switch op.Kind {
	case exchange.OpCreate:
		if op.TransactionID == "" {
			return nil, fmt.Errorf("%s %s: %w: a create needs a transaction id (it makes retries safe)", name,
				op.Mailbox, exchange.ErrInvalidEvent)
		}
		if op.Event.BookingID == "" {
			return nil, fmt.Errorf("%s %s: %w: a create needs a booking id", name, op.Mailbox, exchange.ErrInvalidEvent)
		}
		cl.method, cl.url = http.MethodPost, userPath(op.Mailbox)+"/events"
	case exchange.OpUpdate:
		cl.method, cl.url = http.MethodPatch, eventPath(op.Mailbox, op.Event.ID)
	case exchange.OpDelete:
		cl.method, cl.url = http.MethodDelete, eventPath(op.Mailbox, op.Event.ID)
	default:
		return nil, fmt.Errorf("write event in %s: unknown operation %q: %w", op.Mailbox, op.Kind,
			exchange.ErrInvalidEvent)
	}
	if op.Kind != exchange.OpCreate && op.Event.ID == "" {
		return nil, fmt.Errorf("%s %s: %w: no event id", name, op.Mailbox, exchange.ErrNotFound)
	}
	if op.Kind != exchange.OpDelete {
		txn := ""
		if op.Kind == exchange.OpCreate {
			txn = op.TransactionID
		}
		w, err := c.toWire(op.Event, txn)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, op.Mailbox, err)
		}
		if cl.body, err = json.Marshal(w); err != nil {
			return nil, fmt.Errorf("%s %s: encode event: %w", name, op.Mailbox, err)
		}
	}
	return cl, nil
}

// opResult turns a finished call into the op's result.
func (c *Client) opResult(op exchange.Op, cl *call) exchange.OpResult {
	res := exchange.OpResult{Op: op}
	kind := kindEvent
	switch op.Kind {
	case exchange.OpCreate:
		kind = kindCreate
	case exchange.OpDelete:
		kind = kindDelete
	}
	if !cl.ok() {
		if op.Kind == exchange.OpDelete && cl.out.Err == nil && cl.out.Status == http.StatusNotFound &&
			!isMailboxMissing(cl.out) {
			// Already gone, maybe by an earlier try whose answer was lost: that is what the delete wanted.
			res.Event = op.Event
			return res
		}
		res.Err = c.graphFailure(opName(op.Kind), op.Mailbox, kind, cl.out)
		return res
	}
	if op.Kind == exchange.OpDelete {
		res.Event = op.Event
		return res
	}
	var ev eventIn
	if len(cl.out.Body) == 0 || json.Unmarshal(cl.out.Body, &ev) != nil || ev.ID == "" {
		if op.Kind == exchange.OpCreate {
			res.Err = fmt.Errorf("%s %s: %w: the answer to a create carries no event id", opName(op.Kind),
				op.Mailbox, exchange.ErrBadResponse)
			return res
		}
		res.Event = op.Event
		return res
	}
	zone := c.opts.Zone
	if op.Event.TimeZone != "" {
		if loc, err := zoneByName(op.Event.TimeZone); err == nil {
			zone = loc
		}
	}
	e, err := toEventIn(ev, zone)
	if err != nil {
		res.Err = fmt.Errorf("%s %s: %w", opName(op.Kind), op.Mailbox, err)
		return res
	}
	if op.Event.TimeZone != "" {
		e.TimeZone = op.Event.TimeZone
	}
	// Graph's answer leaves out extended properties; the booking and installation ids are the ones just written.
	e.BookingID, e.InstallationID = op.Event.BookingID, op.Event.InstallationID
	res.Event = e
	return res
}
