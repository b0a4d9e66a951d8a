package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"tfsync/exchange"
)

// observe completes one mailbox's read: linked events reported removed (or missing from a full read) are looked
// up, since an event moved outside the window looks removed too; pending creates not seen are searched for.
func (e *Engine) observe(ctx context.Context, res exchange.ReadResult, linked map[string]string, pending []Pending, own map[string]string) *Observation {
	o := &Observation{Mailbox: res.Mailbox, Err: res.Err, Full: res.Full, Cursor: res.Cursor,
		Events: map[string]exchange.Event{}, Gone: map[string]bool{}}
	if res.Err != nil {
		return o
	}
	for _, ev := range res.Events {
		if b, ok := linked[ev.ID]; ok && ev.BookingID == "" {
			ev.BookingID = b
		}
		if ev.BookingID == "" {
			continue // the technician's own event: never planned on
		}
		o.Events[ev.ID] = ev
	}
	lookup := toLookUp(res, linked, own)
	for _, id := range res.Removed {
		delete(o.Events, id)
	}
	if res.Full {
		for id := range linked {
			if _, ok := o.Events[id]; !ok {
				lookup = append(lookup, id)
			}
		}
	}
	sort.Strings(lookup)
	if err := e.lookUpLinked(ctx, o, dedupe(lookup), linked); err != nil {
		o.Err = err
		return o
	}
	if !res.Full {
		if err := e.findUnconfirmed(ctx, o, linked, pending); err != nil {
			o.Err = err
		}
	}
	return o
}

// toLookUp returns the linked events an incremental read reported removed or did not mention although this
// tfsync wrote them after the cursor was read.
func toLookUp(res exchange.ReadResult, linked map[string]string, own map[string]string) []string {
	var lookup []string
	if !res.Full && len(own) > 0 {
		// An event this tfsync wrote after the cursor was read and that is gone again (deleted, or moved out of
		// the window) may be absent from the feed altogether: each one the feed does not mention is looked up.
		reported := make(map[string]bool, len(res.Events)+len(res.Removed))
		for _, ev := range res.Events {
			reported[ev.ID] = true
		}
		for _, id := range res.Removed {
			reported[id] = true
		}
		for id := range own {
			if _, ok := linked[id]; ok && !reported[id] {
				lookup = append(lookup, id)
			}
		}
	}
	for _, id := range res.Removed {
		if _, ok := linked[id]; ok {
			lookup = append(lookup, id)
		}
	}
	return lookup
}

// lookUpLinked gets each of ids, linked events the read did not show: found, it goes into o.Events; not found, it
// is gone.
func (e *Engine) lookUpLinked(ctx context.Context, o *Observation, ids []string, linked map[string]string) error {
	for _, id := range ids {
		ev, err := e.Calendar.Get(ctx, o.Mailbox, id)
		switch {
		case err == nil:
			if ev.BookingID == "" {
				ev.BookingID = linked[id]
			}
			o.Events[id] = ev
		case errors.Is(err, exchange.ErrNotFound):
			o.Gone[id] = true
		default:
			return fmt.Errorf("look up event %s reported as removed: %w", id, err)
		}
	}
	return nil
}

// findUnconfirmed searches an incrementally read mailbox for the events of unconfirmed creates it did not show;
// a create none of whose events is found never reached the server.
func (e *Engine) findUnconfirmed(ctx context.Context, o *Observation, linked map[string]string, pending []Pending) error {
	seen := map[string]bool{}
	for _, ev := range o.Events {
		if !e.foreign(ev) {
			seen[ev.BookingID] = true
		}
	}
	for _, b := range linked {
		seen[b] = true
	}
	for _, pc := range pending {
		if seen[pc.BookingID] {
			continue
		}
		found, err := e.Calendar.FindByBooking(ctx, o.Mailbox, pc.BookingID)
		if err != nil {
			return fmt.Errorf("look for the event of unconfirmed create %s: %w", pc.BookingID, err)
		}
		own := 0
		for _, ev := range found {
			o.Events[ev.ID] = ev
			if !e.foreign(ev) {
				own++
			}
		}
		if own == 0 {
			o.NotCreated = append(o.NotCreated, pc.BookingID)
		}
	}
	return nil
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
