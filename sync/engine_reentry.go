package sync

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/tf"
)

// reentryLookups is the most bookings entering one mailbox that are looked up one by one (FindByBooking, one
// request each); more than that and the mailbox is read in full instead. On Graph a full read costs a delta page
// plus one lookup per 20 events tfsync does not know, and both share $batch requests with other mailboxes; on EWS
// a SyncFolderItems round and one GetItem per 50 events. A technician's window holds a few dozen events, so a full
// read costs about as much as three or four single lookups.
const reentryLookups = 3

// foldMailboxCase lower-cases the mailboxes of links and pending creates: TF, the configuration and the servers
// treat addresses case-insensitively, and so must every comparison in a pass. Settings.Mailbox lower-cases TF's
// side; a store written by hand or by an older version may not be.
func foldMailboxCase(links map[string]Link, pending []Pending) (map[string]Link, []Pending) {
	for id, l := range links {
		if lower := strings.ToLower(l.Mailbox); lower != l.Mailbox {
			l.Mailbox = lower
			links[id] = l
		}
	}
	for i := range pending {
		pending[i].Mailbox = strings.ToLower(pending[i].Mailbox)
	}
	return links, pending
}

// entering returns, per mailbox, the bookings that belong in it this pass but that this installation has no link
// to there: a first sync, a resource whose e-mail was restored or changed, sync switched back on, a domain allowed
// again, a kind re-enabled, a done booking reopened, a booking reassigned back. Their events may still be in the
// calendar from before, and must be found before anything is created.
func (e *Engine) entering(in *PlanInput, pending map[string][]Pending) map[string][]string {
	mailboxOf := map[string]string{}
	for _, r := range in.Resources {
		if !r.SyncEnabled {
			continue
		}
		if mb, skip := in.Settings.Mailbox(r); skip == "" {
			mailboxOf[r.ID] = mb
		}
	}
	window := in.Settings.Window(in.Now)
	out := map[string][]string{}
	for _, b := range in.Bookings.Bookings {
		if b.Status == tf.StatusCancelled || b.Status == tf.StatusDone || !in.Settings.kindEnabled(b.Kind) {
			continue
		}
		mb := mailboxOf[b.ResourceID]
		if mb == "" || !b.End.After(window.Start) || !b.Start.Before(window.End) {
			continue
		}
		if l, ok := in.Links[b.ID]; ok && l.Mailbox == mb {
			continue
		}
		if pendingFor(pending[mb], b.ID) {
			continue // an unconfirmed create is looked for already
		}
		out[mb] = append(out[mb], b.ID)
	}
	return out
}

func pendingFor(ps []Pending, bookingID string) bool {
	for _, p := range ps {
		if p.BookingID == bookingID {
			return true
		}
	}
	return false
}

// lookForReentries completes the observations of mailboxes read incrementally that bookings enter: their events of
// earlier passes are looked up by booking id, or the mailbox is read in full when that is cheaper. A full read
// already holds every event in the window.
func (e *Engine) lookForReentries(ctx context.Context, in *PlanInput, names []string, obs []*Observation,
	results []exchange.ReadResult, reqs []exchange.ReadRequest, linked map[string]map[string]string,
	pendingBy map[string][]Pending) error {
	enter := e.entering(in, pendingBy)
	if len(enter) == 0 {
		return nil
	}
	log := zerolog.Ctx(ctx)
	reread, lookups := e.sortEntering(names, obs, enter)
	if len(reread) > 0 {
		full := make([]exchange.ReadRequest, len(reread))
		for k, i := range reread {
			full[k] = reqs[i]
			full[k].Cursor = ""
			log.Debug().Str("mailbox", names[i]).Int("bookings", len(enter[names[i]])).
				Msg("bookings enter this mailbox; reading it in full to find their earlier events")
		}
		res := e.Calendar.Read(ctx, full)
		if len(res) != len(full) {
			return fmt.Errorf("calendar backend returned %d read results for %d mailboxes", len(res), len(full))
		}
		for k, i := range reread {
			results[i] = res[k]
			obs[i] = e.observe(ctx, res[k], linked[names[i]], pendingBy[names[i]], nil) // a full read sees every own write itself
		}
	}

	e.findEntering(ctx, obs, names, lookups, enter)
	return nil
}

// foreign reports whether another installation wrote ev (another installation's event never settles this one's
// unconfirmed create).
func (e *Engine) foreign(ev exchange.Event) bool {
	return ev.InstallationID != "" && ev.InstallationID != e.Settings.InstallationID
}

// recordCopies remembers the technicians' copies the plan found, so that they are reported once and never planned
// on again.
func (e *Engine) recordCopies(ctx context.Context, plan *Plan) {
	if len(plan.Copies) == 0 {
		return
	}
	log := zerolog.Ctx(ctx)
	err := e.Store.Update(ctx, func(tx *StoreTx) error {
		for _, c := range plan.Copies {
			if err := tx.PutCopy(c.Mailbox, c.EventID, c.BookingID); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range plan.Copies {
		log.Warn().Str("booking", c.BookingID).Str("mailbox", c.Mailbox).Str("event", c.EventID).
			Msg("a technician changed a second event of this booking; it is theirs now and tfsync leaves it alone")
	}
	if err != nil {
		// Logged, not failed: the copies are left alone all the same, and the next pass finds and reports them again.
		log.Error().Err(err).Msg("record technicians' copies in the state store; they are reported again next pass")
	}
}

// sortEntering narrows enter to the bookings an incremental read did not show, and returns the mailboxes to read in
// full (more than reentryLookups bookings enter) and those whose entering bookings are looked up one by one.
func (e *Engine) sortEntering(names []string, obs []*Observation, enter map[string][]string) (reread, lookups []int) {
	for i, mb := range names {
		o := obs[i]
		ids := enter[mb]
		if len(ids) == 0 || o.Err != nil || o.Full {
			continue
		}
		// Bookings whose events the read reported already need no lookup.
		seen := map[string]bool{}
		for _, ev := range o.Events {
			if !e.foreign(ev) {
				seen[ev.BookingID] = true
			}
		}
		rest := ids[:0]
		for _, id := range ids {
			if !seen[id] {
				rest = append(rest, id)
			}
		}
		if len(rest) == 0 {
			continue
		}
		enter[mb] = rest
		if len(rest) > reentryLookups {
			reread = append(reread, i)
		} else {
			lookups = append(lookups, i)
		}
	}
	return reread, lookups
}

// findEntering looks up the earlier events of the entering bookings of the mailboxes at lookups, several mailboxes
// at a time; a failed lookup fails its mailbox's observation.
func (e *Engine) findEntering(ctx context.Context, obs []*Observation, names []string, lookups []int, enter map[string][]string) {
	e.eachMailbox(len(lookups), func(j int) {
		i := lookups[j]
		o, mb := obs[i], names[i]
		for _, id := range enter[mb] {
			found, err := e.Calendar.FindByBooking(ctx, mb, id)
			if err != nil {
				o.Err = fmt.Errorf("look for earlier events of booking %s, which enters this calendar: %w", id, err)
				return
			}
			for _, ev := range found {
				o.Events[ev.ID] = ev
			}
		}
	})
}
