package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	gosync "sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/tf"
)

// Engine runs one reconciliation pass: observe TF, the store and the calendars; plan; apply.
type Engine struct {
	Source   tf.Source
	Calendar exchange.Calendar
	Store    *Store
	Settings Settings
	Now      func() time.Time
	RunID    string
	Force    bool // apply deletes the guard would hold back
	Full     bool // ignore change cursors and read every calendar's whole window
	// Concurrency bounds how many mailboxes are looked up at once while observing (the backend bounds its own
	// requests separately).
	Concurrency int
	// NewTransactionID makes the idempotency key of a new create; tests inject a deterministic one.
	NewTransactionID func() string
	// Progress, when set, is told how many calendar writes of the pass are confirmed so far (a long first pass
	// shows it on a terminal). It is called from one goroutine at a time.
	Progress func(done, total int)
	// Mailboxes, when set, scopes the pass to the mailboxes it accepts: no other is read or written (scope.go).
	Mailboxes func(mailbox string) bool
}

// Observe reads everything the planner needs. It changes nothing anywhere. An error means the pass cannot go on
// at all (TF or the store unreadable); a mailbox that cannot be read is reported in its Observation instead.
func (e *Engine) Observe(ctx context.Context) (*PlanInput, error) {
	log := zerolog.Ctx(ctx)
	now := e.Now()
	window := e.Settings.Window(now)

	links, err := e.Store.Links(ctx)
	if err != nil {
		return nil, fmt.Errorf("read links from the state store: %w", err)
	}
	pending, err := e.Store.PendingCreates(ctx)
	if err != nil {
		return nil, fmt.Errorf("read pending creates from the state store: %w", err)
	}
	cursors, err := e.Store.Cursors(ctx)
	if err != nil {
		return nil, fmt.Errorf("read cursors from the state store: %w", err)
	}
	deferred, err := e.Store.Deferred(ctx)
	if err != nil {
		return nil, fmt.Errorf("read deferred changes from the state store: %w", err)
	}
	copies, err := e.Store.Copies(ctx)
	if err != nil {
		return nil, fmt.Errorf("read technicians' copies from the state store: %w", err)
	}
	links, pending = foldMailboxCase(links, pending)

	resources, err := e.Source.Resources(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: read resources: %w", ErrTFRead, err)
	}

	// Mailboxes to read: every enabled resource's, and every linked or pending one still allowed (events may have
	// to be deleted there). A mailbox outside allowed_domains is never contacted.
	linkedByMailbox := map[string]map[string]string{} // mailbox -> event id -> booking id
	mailboxes := map[string]bool{}
	for _, r := range resources {
		if !r.SyncEnabled {
			continue
		}
		if mb, skip := e.Settings.Mailbox(r); skip == "" {
			mailboxes[mb] = true
		} else {
			log.Warn().Str("resource", r.ID).Str("name", r.Name).Msg("resource skipped: " + skip)
		}
	}
	for _, l := range links {
		if !e.Settings.DomainAllowed(l.Mailbox) {
			continue
		}
		mailboxes[l.Mailbox] = true
		if linkedByMailbox[l.Mailbox] == nil {
			linkedByMailbox[l.Mailbox] = map[string]string{}
		}
		linkedByMailbox[l.Mailbox][l.EventID] = l.BookingID
	}
	pendingByMailbox := map[string][]Pending{}
	for _, pc := range pending {
		if e.Settings.DomainAllowed(pc.Mailbox) {
			mailboxes[pc.Mailbox] = true
			pendingByMailbox[pc.Mailbox] = append(pendingByMailbox[pc.Mailbox], pc)
		}
	}
	// A calendar holding only events left behind by reassignments is read to delete them, and only for that.
	orphanOnly := map[string]bool{}
	for _, o := range deferred.Orphans {
		if e.Settings.DomainAllowed(o.Mailbox) && !mailboxes[o.Mailbox] {
			mailboxes[o.Mailbox], orphanOnly[o.Mailbox] = true, true
		}
	}
	names := make([]string, 0, len(mailboxes))
	for mb := range mailboxes {
		if e.inScope(mb) {
			names = append(names, mb)
		}
	}
	sort.Strings(names)

	reqs := make([]exchange.ReadRequest, len(names))
	for i, mb := range names {
		req := exchange.ReadRequest{Mailbox: mb, Window: window}
		if c, ok := cursors[mb]; ok && !e.Full {
			req.Cursor = c.Cursor
		}
		known := linkedByMailbox[mb]
		req.Known = func(id string) bool { _, ok := known[id]; return ok }
		reqs[i] = req
	}
	// The calendars are read while TF is: the one waits on the network, the other on the disk and the CPU.
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	read := make(chan []exchange.ReadResult, 1)
	go func() { read <- e.Calendar.Read(readCtx, reqs) }()

	also := make([]string, 0, len(links)+len(pending))
	for id := range links {
		also = append(also, id)
	}
	for _, pc := range pending {
		also = append(also, pc.BookingID)
	}
	sort.Strings(also)
	bookings, err := e.Source.Bookings(ctx, tf.Query{
		Window:        tf.Window{Start: window.Start, End: window.End},
		Kinds:         e.Settings.Kinds,
		AlsoIDs:       also,
		DefaultLength: e.Settings.DefaultLength,
	})
	if err != nil {
		cancelRead()
		<-read
		return nil, fmt.Errorf("%w: read bookings: %w", ErrTFRead, err)
	}
	for _, bad := range bookings.Bad {
		log.Warn().Str("booking", bad.BookingID).Str("column", bad.Column).Msg("bad booking row skipped: " + bad.Problem)
	}

	in := &PlanInput{
		Now:          now,
		Settings:     e.Settings,
		Force:        e.Force,
		Resources:    resources,
		Bookings:     bookings,
		Links:        links,
		Observations: map[string]*Observation{},
		Copies:       copies,
	}

	results := <-read
	if len(results) != len(reqs) {
		return nil, fmt.Errorf("calendar backend returned %d read results for %d mailboxes", len(results), len(reqs))
	}

	// Look up what the reads leave open, several mailboxes at a time.
	obs := make([]*Observation, len(results))
	limit := e.Concurrency
	if limit <= 0 {
		limit = 8
	}
	sem := make(chan struct{}, limit)
	var wg gosync.WaitGroup
	for i, res := range results {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, res exchange.ReadResult) {
			defer wg.Done()
			defer func() { <-sem }()
			obs[i] = e.observe(ctx, res, linkedByMailbox[names[i]], pendingByMailbox[names[i]], deferred.OwnWrites[names[i]])
		}(i, res)
	}
	wg.Wait()
	if err := e.lookForReentries(ctx, in, names, obs, results, reqs, linkedByMailbox, pendingByMailbox); err != nil {
		return nil, err
	}
	failed := 0
	var firstErr error
	for i, o := range obs {
		o.Mailbox = names[i]
		o.OrphanOnly = orphanOnly[names[i]]
		in.Observations[names[i]] = o
		if o.Err != nil {
			failed++
			if firstErr == nil {
				firstErr = o.Err
			}
			log.Error().Str("mailbox", names[i]).Err(o.Err).Msg("calendar not read; nothing is changed in it this pass")
		}
	}
	e.settleDeferred(in, deferred)
	// Not one calendar read is the same alarm whatever the cause (credentials, network, throttling): exit 3.
	if failed > 0 && failed == len(obs) {
		return in, fmt.Errorf("%w: %w", ErrAllMailboxesFailed, firstErr)
	}
	return in, nil
}

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
	for _, id := range dedupe(lookup) {
		ev, err := e.Calendar.Get(ctx, res.Mailbox, id)
		switch {
		case err == nil:
			if ev.BookingID == "" {
				ev.BookingID = linked[id]
			}
			o.Events[id] = ev
		case errors.Is(err, exchange.ErrNotFound):
			o.Gone[id] = true
		default:
			o.Err = fmt.Errorf("look up event %s reported as removed: %w", id, err)
			return o
		}
	}
	if !res.Full {
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
			found, err := e.Calendar.FindByBooking(ctx, res.Mailbox, pc.BookingID)
			if err != nil {
				o.Err = fmt.Errorf("look for the event of unconfirmed create %s: %w", pc.BookingID, err)
				return o
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
	}
	return o
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

// Result is the outcome of one applied action.
type Result struct {
	Action
	Err   error  `json:"-"`
	Error string `json:"error,omitempty"`
}

// Report is what a pass did.
type Report struct {
	RunID     string           `json:"run_id"`
	DryRun    bool             `json:"dry_run"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Plan      *Plan            `json:"-"`
	Results   []Result         `json:"results"`
	Mailboxes []MailboxSummary `json:"mailboxes"`
	Skipped   []Skip           `json:"skipped"`
	Held      int              `json:"held_deletes"`
	Failed    int              `json:"failed"`
	// Problems are bad TF rows and terminal failures met for the first time in this pass: named once, exit 4 once.
	Problems    []Skip `json:"problems,omitempty"`
	NewBadRows  int    `json:"new_bad_rows,omitempty"`
	Interrupted bool   `json:"interrupted,omitempty"`
}

// MailboxSummary counts what a pass did in one mailbox.
type MailboxSummary struct {
	Mailbox   string `json:"mailbox"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Deleted   int    `json:"deleted"`
	MovedInTF int    `json:"moved_in_tf"`
	Relinked  int    `json:"relinked"`
	Retired   int    `json:"retired"`
	Conflicts int    `json:"conflicts"`
	Held      int    `json:"held"`
	Errors    int    `json:"errors"`
	ReadError string `json:"read_error,omitempty"`
	Status    string `json:"status"` // see mailboxStatus
}

// Err summarises the report as the error the exit code is made from (nil when all went well).
func (r *Report) Err() error {
	if r.Interrupted {
		return fmt.Errorf("%w (SIGTERM or Ctrl-C): what the servers confirmed is recorded; the next pass resumes", ErrInterrupted)
	}
	if r.Plan != nil && r.Plan.TFEmpty != "" {
		return fmt.Errorf("%w: %s", ErrDeletesHeld, r.Plan.TFEmpty)
	}
	if r.NewBadRows > 0 && r.Failed == 0 {
		return fmt.Errorf("%w: %d new bad rows in TF (see the summary; `tfsync status` lists them until corrected)", ErrPartial, r.NewBadRows)
	}
	if r.Failed > 0 {
		return fmt.Errorf("%w: %d failed (see the summary)", ErrPartial, r.Failed)
	}
	if r.Held > 0 {
		return fmt.Errorf("%w: %d deletes held back by max_delete_percent; check the plan with `tfsync dry-run`, then run `tfsync sync --force` to apply them", ErrDeletesHeld, r.Held)
	}
	return nil
}

// Summarise fills the per-mailbox counts from the plan and its results.
func (r *Report) summarise(in *PlanInput) {
	by := map[string]*MailboxSummary{}
	get := func(mb string) *MailboxSummary {
		if s, ok := by[mb]; ok {
			return s
		}
		s := &MailboxSummary{Mailbox: mb}
		by[mb] = s
		return s
	}
	for mb, o := range in.Observations {
		s := get(mb)
		if o.Err != nil {
			s.ReadError = o.Err.Error()
			if !o.OrphanOnly {
				s.Errors++
				r.Failed++
			}
		}
	}
	for _, res := range r.Results {
		s := get(res.Mailbox)
		if errors.Is(res.Err, ErrInterrupted) {
			continue
		}
		if res.Err != nil {
			s.Errors++
			r.Failed++
			continue
		}
		if res.Held {
			s.Held++
			r.Held++
			continue
		}
		if res.Conflict != "" {
			s.Conflicts++
		}
		switch res.Kind {
		case ActCreate:
			s.Created++
		case ActUpdate:
			s.Updated++
		case ActDelete:
			s.Deleted++
		case ActMoveTF:
			s.MovedInTF++
		case ActRelink:
			s.Relinked++
		case ActRetire, ActDetach:
			s.Retired++
		}
	}
	r.Mailboxes = r.Mailboxes[:0]
	for _, s := range by {
		s.Status = mailboxStatus(s)
		r.Mailboxes = append(r.Mailboxes, *s)
	}
	r.Skipped = skippedOnPurpose(r.Skipped, in)
	sort.Slice(r.Mailboxes, func(i, j int) bool { return r.Mailboxes[i].Mailbox < r.Mailboxes[j].Mailbox })
}

// DryRun observes and plans, and applies nothing.
func (e *Engine) DryRun(ctx context.Context) (*Report, error) {
	started := e.Now()
	in, err := e.Observe(ctx)
	if err != nil && in == nil {
		return nil, err
	}
	plan := e.scopePlan(MakePlan(in))
	r := &Report{RunID: e.RunID, DryRun: true, Started: started, Plan: plan, Skipped: plan.Skipped}
	for _, a := range plan.Actions {
		r.Results = append(r.Results, Result{Action: a})
	}
	r.summarise(in)
	r.Finished = e.Now()
	return r, err
}

// Sync runs one whole pass.
func (e *Engine) Sync(ctx context.Context) (*Report, error) {
	started := e.Now()
	in, err := e.Observe(ctx)
	if ctx.Err() != nil {
		// Stopped while reading: nothing was changed, and no mailbox is marked failing for it.
		return nil, fmt.Errorf("%w (SIGTERM or Ctrl-C) while reading; nothing was changed", ErrInterrupted)
	}
	if err != nil {
		if in != nil {
			e.recordMailboxes(ctx, in, nil, nil, nil)
		}
		return nil, err
	}
	plan := e.scopePlan(MakePlan(in))
	// Applying the plan needs neither the bookings nor the events read, only the links and each mailbox's read
	// error and cursor: letting the rest go lowers the peak memory of a large pass by a tenth.
	in.Bookings = tf.BookingSet{}
	for _, o := range in.Observations {
		o.Events = nil
	}
	r := e.Apply(ctx, in, plan)
	r.Started = started
	r.Finished = e.Now()
	return r, nil
}

// Apply carries out a plan. The store is updated as soon as each group of changes is confirmed, so a crash at
// any point leaves a state from which the next pass converges: creates are journalled with their idempotency key
// before they are sent, and a mailbox's change cursor is saved only after every change it reported was acted on.
func (e *Engine) Apply(ctx context.Context, in *PlanInput, plan *Plan) *Report {
	log := zerolog.Ctx(ctx)
	// Changes the servers have confirmed are recorded even when the pass is being stopped: losing them would
	// turn a clean shutdown into work for the crash recovery.
	sctx := context.WithoutCancel(ctx)
	// Every action gets a result; sized at once, the results of a first pass are not copied as they grow.
	r := &Report{RunID: e.RunID, Plan: plan, Skipped: plan.Skipped, Results: make([]Result, 0, len(plan.Actions))}
	failedMailbox := map[string]bool{}
	done := map[ActionKind]map[string]bool{ActDelete: {}, ActMoveTF: {}, ActRelink: {}}
	links := in.Links
	var terminal []TerminalFailure
	var cleared []string

	record := func(a Action, err error) {
		res := Result{Action: a, Err: err}
		if err != nil && ctx.Err() != nil && !isTerminal(err) {
			// Stopped, not failed: the mailbox keeps its cursor and its health.
			res.Err = fmt.Errorf("%w before %s %s was confirmed", ErrInterrupted, a.Kind, a.BookingID)
			res.Error = res.Err.Error()
			failedMailbox[a.Mailbox] = true
			r.Results = append(r.Results, res)
			return
		}
		if err != nil {
			ie := &ItemError{Action: a.Kind, BookingID: a.BookingID, Mailbox: a.Mailbox, Err: err}
			res.Err = ie
			res.Error = err.Error()
			if isTerminal(err) {
				// Refused for good: recorded and not tried again until the booking or the settings change, so it
				// does not hold the mailbox's cursor.
				terminal = append(terminal, TerminalFailure{BookingID: a.BookingID, Mailbox: a.Mailbox, Action: a.Kind,
					Hash: terminalHash(a), Reason: err.Error()})
			} else {
				failedMailbox[a.Mailbox] = true
			}
			ev := log.Error()
			if ie.Retryable() {
				ev = log.Warn()
			}
			ev.Str("booking", a.BookingID).Str("mailbox", a.Mailbox).Str("action", string(a.Kind)).Bool("retryable", ie.Retryable()).Err(err).Msg("action failed")
		} else if a.Held {
			log.Warn().Str("booking", a.BookingID).Str("mailbox", a.Mailbox).Msg("delete held back: " + a.Reason)
		} else {
			if d := done[a.Kind]; d != nil {
				d[a.BookingID] = true
			}
			if _, ok := in.Terminal[a.BookingID]; ok && (a.Kind == ActCreate || a.Kind == ActUpdate || a.Kind == ActMoveTF) {
				cleared = append(cleared, a.BookingID)
			}
			lev := log.Info()
			if a.Kind == ActRecord {
				lev = log.Debug()
			}
			lev.Str("booking", a.BookingID).Str("mailbox", a.Mailbox).Str("action", string(a.Kind)).Str("conflict", a.Conflict).Msg(a.Reason)
		}
		r.Results = append(r.Results, res)
	}
	storeErr := func(a Action, err error) {
		if err != nil {
			record(a, fmt.Errorf("record in the state store: %w", err))
		}
	}

	var moves, deletes, local, writes []Action
	for _, a := range plan.Actions {
		switch {
		case a.Held:
			record(a, nil)
		case a.Kind == ActMoveTF:
			moves = append(moves, a)
		case a.Kind == ActDelete:
			deletes = append(deletes, a)
		case a.Kind == ActCreate || a.Kind == ActUpdate:
			writes = append(writes, a)
		default:
			local = append(local, a)
		}
	}

	// 1. Times moved in calendars are written to TF first: a restore of the event's other fields waits for them.
	// They are written in groups, each group in one TF transaction when the source can, and recorded in one store
	// transaction.
	for group := range slices.Chunk(moves, moveGroup) {
		results := e.moveInTF(ctx, group)
		var ok []int
		for i, a := range group {
			if err := results[i].Err; err != nil {
				record(a, fmt.Errorf("write the new time to TF: %w", err))
				continue
			}
			ok = append(ok, i)
		}
		if len(ok) == 0 {
			continue
		}
		err := e.Store.Update(sctx, func(tx *StoreTx) error {
			for _, i := range ok {
				a, ev := group[i], group[i].Observed
				if err := tx.PutLink(Link{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: a.EventID,
					ChangeKey: ev.ChangeKey, Hash: a.Hash, TFVersion: results[i].Version, EvStart: ev.Start,
					EvEnd: ev.End, AllDay: ev.AllDay, UpdatedAt: e.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
		for _, i := range ok {
			storeErr(group[i], err)
			record(group[i], nil)
		}
	}

	// A confirmed delete also settles an unconfirmed create of the booking in that mailbox (its event was found
	// and removed), unless the pass creates it there again.
	creating := map[string]bool{}
	for _, a := range writes {
		if a.Kind == ActCreate {
			creating[a.BookingID+"\x00"+a.Mailbox] = true
		}
	}

	// 2. Deletes, before creates: a reassigned booking's new event waits until its old one is gone. Each group
	// the server confirms is recorded in one store transaction.
	deletes = e.ready(ctx, deletes, done)
	e.write(ctx, deletes, func(group []actionResult) {
		var ok []Action
		for _, ar := range group {
			if ar.res.Err != nil {
				record(ar.a, ar.res.Err)
				continue
			}
			ok = append(ok, ar.a)
		}
		if len(ok) == 0 {
			return
		}
		err := e.Store.Update(sctx, func(tx *StoreTx) error {
			for _, a := range ok {
				if l, found := links[a.BookingID]; found && l.EventID == a.EventID && l.Mailbox == a.Mailbox {
					if err := tx.DeleteLink(a.BookingID); err != nil {
						return err
					}
				}
				if !creating[a.BookingID+"\x00"+a.Mailbox] {
					if err := tx.DeletePending(a.BookingID, a.Mailbox); err != nil {
						return err
					}
				}
				if err := tx.DeleteOrphan(a.Mailbox, a.EventID); err != nil {
					return err
				}
			}
			return nil
		})
		for _, a := range ok {
			storeErr(a, err)
			record(a, nil)
		}
	})

	// 3. Store-only actions, in one transaction.
	if ctx.Err() != nil {
		for _, a := range local {
			record(a, ctx.Err())
		}
		local = nil
	}
	if len(local) > 0 {
		err := e.Store.Update(sctx, func(tx *StoreTx) error {
			for _, a := range local {
				if err := e.applyLocal(tx, links, a); err != nil {
					return err
				}
			}
			return nil
		})
		for _, a := range local {
			if err != nil {
				record(a, fmt.Errorf("record in the state store: %w", err))
			} else {
				record(a, nil)
			}
		}
	}

	// 4. Creates and updates. Creates are journalled with their transaction id first.
	ready := e.ready(ctx, writes, done)
	if ctx.Err() != nil {
		for _, a := range ready {
			record(a, ctx.Err())
		}
		ready = nil
	}
	pendingTx := map[string]string{}
	if prev, err := e.Store.PendingCreates(sctx); err == nil {
		for _, pc := range prev {
			pendingTx[pc.BookingID+"\x00"+pc.Mailbox] = pc.TransactionID
		}
	}
	err := e.Store.Update(sctx, func(tx *StoreTx) error {
		// A journalled create the calendar provably does not hold, for a booking this pass does not create
		// again (cancelled meanwhile, say), would otherwise be looked for on every pass.
		for mb, o := range in.Observations {
			for _, id := range o.NotCreated {
				if !creating[id+"\x00"+mb] {
					if err := tx.DeletePending(id, mb); err != nil {
						return err
					}
				}
			}
		}
		for i := range ready {
			a := &ready[i]
			if a.Kind != ActCreate {
				continue
			}
			key := a.BookingID + "\x00" + a.Mailbox
			if pendingTx[key] == "" {
				pendingTx[key] = e.newTransactionID()
				if err := tx.PutPending(Pending{BookingID: a.BookingID, Mailbox: a.Mailbox, TransactionID: pendingTx[key], CreatedAt: e.Now()}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, a := range ready {
			record(a, fmt.Errorf("journal the create in the state store: %w", err))
		}
		ready = nil
	}
	// Each group the server confirms is recorded in one store transaction: one per result would cost a commit per
	// event, which at 10,000 creates is most of a first pass's CPU time.
	e.writeWithTx(ctx, ready, pendingTx, func(group []actionResult) {
		// vanished is an update whose event was deleted between the read and the write: it is treated as deleted
		// by the technician.
		vanished := func(ar actionResult) bool {
			return ar.a.Kind == ActUpdate && errors.Is(ar.res.Err, exchange.ErrNotFound)
		}
		err := e.Store.Update(sctx, func(tx *StoreTx) error {
			for _, ar := range group {
				a, res := ar.a, ar.res
				if res.Err != nil {
					if !vanished(ar) {
						continue
					}
					if e.Settings.OnCalendarDelete == DeleteDetach {
						l := links[a.BookingID]
						l.Detached = true
						l.UpdatedAt = e.Now()
						if err := tx.PutLink(l); err != nil {
							return err
						}
					} else if err := tx.DeleteLink(a.BookingID); err != nil {
						return err
					}
					continue
				}
				if a.Kind == ActCreate {
					if err := tx.DeletePending(a.BookingID, a.Mailbox); err != nil {
						return err
					}
				}
				ev := confirmedEvent(ar)
				if a.Kind == ActCreate {
					// An update needs no record: its event existed when this pass's cursor was read.
					if err := tx.PutOwnWrite(a.Mailbox, ev.ID, ownWritesPass(in)); err != nil {
						return err
					}
				}
				if err := tx.PutLink(Link{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: ev.ID,
					ChangeKey: ev.ChangeKey, Hash: a.Hash, TFVersion: a.TFVersion, EvStart: a.Event.Start,
					EvEnd: a.Event.End, AllDay: a.Event.AllDay, UpdatedAt: e.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
		for _, ar := range group {
			a := ar.a
			if ar.res.Err != nil {
				if vanished(ar) {
					storeErr(a, err)
				}
				record(a, ar.res.Err)
				continue
			}
			storeErr(a, err)
			a.EventID = confirmedEvent(ar).ID
			record(a, nil)
		}
	})

	e.recordCopies(sctx, plan)

	// 5. Cursors and mailbox health; what was deferred or refused for good. A pass that was stopped saves no
	// cursor and marks no mailbox failing: the next one reads from the old cursors.
	if ctx.Err() != nil {
		r.Interrupted = true
	} else {
		e.recordMailboxes(sctx, in, failedMailbox, plan.Held, plan.KeepCursor)
		if err := e.recordProblems(sctx, in, r, terminal, cleared); err != nil {
			log.Error().Err(err).Msg("record bad rows and terminal failures in the state store")
		}
	}
	sort.SliceStable(r.Results, func(i, j int) bool { return r.Results[i].Seq < r.Results[j].Seq })
	r.summarise(in)
	return r
}

// moveGroup bounds the moves written to TF in one transaction, so that TF's own writers never wait long for it.
const moveGroup = 200

// batchMover is implemented by TF sources that can write several moves in one transaction (tf.SQLite).
type batchMover interface {
	MoveBookings(ctx context.Context, moves []tf.Move) []tf.MoveResult
}

// moveInTF writes the moves of actions to TF, together when the source can, and returns their results in order.
func (e *Engine) moveInTF(ctx context.Context, actions []Action) []tf.MoveResult {
	moves := make([]tf.Move, len(actions))
	for i, a := range actions {
		moves[i] = *a.Move
		moves[i].RunID = e.RunID
	}
	out := make([]tf.MoveResult, len(moves))
	if bm, ok := e.Source.(batchMover); ok {
		res := bm.MoveBookings(ctx, moves)
		if len(res) == len(moves) {
			return res
		}
		for i := range out {
			out[i].Err = fmt.Errorf("the TF source returned %d results for %d moves", len(res), len(moves))
		}
		return out
	}
	for i, m := range moves {
		out[i].Version, out[i].Err = e.Source.MoveBooking(ctx, m)
	}
	return out
}

func (e *Engine) newTransactionID() string {
	if e.NewTransactionID != nil {
		return e.NewTransactionID()
	}
	return uuid.NewString()
}

func (e *Engine) applyLocal(tx *StoreTx, links map[string]Link, a Action) error {
	now := e.Now()
	switch a.Kind {
	case ActRetire:
		return tx.DeleteLink(a.BookingID)
	case ActOrphan:
		return tx.PutOrphan(Orphan{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: a.EventID, Reason: a.Reason})
	case ActDetach:
		l := links[a.BookingID]
		l.Detached = true
		l.UpdatedAt = now
		return tx.PutLink(l)
	case ActRecord, ActRelink:
		ev := a.Observed
		if a.Kind == ActRelink {
			// An unconfirmed create whose event has been found is settled: a journal entry left behind would be
			// searched for on every pass, and its transaction id reused by a later create of the booking.
			if err := tx.DeletePending(a.BookingID, a.Mailbox); err != nil {
				return err
			}
			if err := tx.DeleteOrphan(a.Mailbox, ev.ID); err != nil {
				return err
			}
		}
		return tx.PutLink(Link{BookingID: a.BookingID, Mailbox: a.Mailbox, EventID: ev.ID, ChangeKey: ev.ChangeKey,
			Hash: a.Hash, TFVersion: a.TFVersion, EvStart: ev.Start, EvEnd: ev.End, AllDay: ev.AllDay, UpdatedAt: now})
	}
	return fmt.Errorf("unexpected store action %s", a.Kind)
}

// actionResult is a planned action with the backend's result of its write.
type actionResult struct {
	a   Action
	res exchange.OpResult
}

// confirmedEvent is the event a successful create or update left on the server; it keeps the planned id when the
// backend's answer named none.
func confirmedEvent(ar actionResult) exchange.Event {
	ev := ar.res.Event
	if ev.ID == "" {
		ev.ID = ar.a.EventID
	}
	return ev
}

func (e *Engine) write(ctx context.Context, actions []Action, done func([]actionResult)) {
	e.writeWithTx(ctx, actions, nil, done)
}

// writeWithTx sends the actions' writes and hands done each group of results the backend confirms together.
func (e *Engine) writeWithTx(ctx context.Context, actions []Action, txIDs map[string]string, done func([]actionResult)) {
	if len(actions) == 0 {
		return
	}
	confirmed := 0
	ops := make([]exchange.Op, len(actions))
	// Actions are found by index, not copied into the map: at 10,000 creates the copies are megabytes.
	byOp := make(map[string]int, len(actions))
	for i, a := range actions {
		op := exchange.Op{Kind: exchange.OpKind(a.Kind), Mailbox: a.Mailbox, Event: a.Event}
		if a.Kind == ActDelete {
			op.Event = exchange.Event{ID: a.EventID, BookingID: a.BookingID}
		}
		if a.Kind == ActUpdate {
			op.Event.ID = a.EventID
		}
		if a.Kind == ActCreate {
			op.TransactionID = txIDs[a.BookingID+"\x00"+a.Mailbox]
		}
		if a.Kind != ActDelete && e.Settings.InstallationID != "" {
			// Every event this installation writes names it, whatever the action was planned from.
			op.Event.InstallationID = e.Settings.InstallationID
		}
		ops[i] = op
		byOp[opKey(op)] = i
	}
	e.Calendar.Write(ctx, ops, func(results []exchange.OpResult) {
		group := make([]actionResult, 0, len(results))
		for _, res := range results {
			if i, ok := byOp[opKey(res.Op)]; ok {
				group = append(group, actionResult{a: actions[i], res: res})
			}
		}
		if len(group) > 0 {
			done(group)
		}
		confirmed += len(results)
		if e.Progress != nil {
			e.Progress(confirmed, len(ops))
		}
	})
}

func opKey(op exchange.Op) string {
	return string(op.Kind) + "\x00" + op.Mailbox + "\x00" + op.Event.BookingID + "\x00" + op.Event.ID
}

// recordMailboxes saves each read mailbox's cursor (only when everything planned there succeeded, so no reported
// change is skipped) and its health for list-resources and status.
func (e *Engine) recordMailboxes(ctx context.Context, in *PlanInput, failed map[string]bool, held map[string]int, keep map[string]bool) {
	now := e.Now()
	prev, _ := e.Store.MailboxStates(ctx)
	err := e.Store.Update(ctx, func(tx *StoreTx) error {
		for mb, o := range in.Observations {
			st := prev[mb]
			st.Mailbox = mb
			st.HeldDeletes = held[mb]
			switch {
			case o.Err != nil:
				st.LastError, st.LastErrorAt = o.Err.Error(), now
				st.ConsecutiveFailures++
			case failed[mb]:
				st.LastError, st.LastErrorAt = "some changes failed; see the run log", now
				st.ConsecutiveFailures++
			case keep[mb]:
				// A change it reported waits for another mailbox: healthy, but read again from the old cursor.
				st.LastSync, st.LastError, st.ConsecutiveFailures = now, "", 0
			default:
				st.LastSync, st.LastError, st.ConsecutiveFailures = now, "", 0
				if err := e.settleMailbox(tx, in, o); err != nil {
					return err
				}
				if o.Cursor != "" {
					w := in.Settings.Window(in.Now)
					if err := tx.PutCursor(Cursor{Mailbox: mb, Cursor: o.Cursor, WindowStart: w.Start, WindowEnd: w.End, UpdatedAt: now}); err != nil {
						return err
					}
				}
			}
			if err := tx.PutMailboxState(st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("record mailbox state")
	}
}
