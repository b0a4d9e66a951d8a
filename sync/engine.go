package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	gosync "sync"
	"time"

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
		names = append(names, mb)
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
	if failed > 0 && failed == len(obs) && (errors.Is(firstErr, exchange.ErrAuth) || errors.Is(firstErr, exchange.ErrUnavailable)) {
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
		r.Mailboxes = append(r.Mailboxes, *s)
	}
	sort.Slice(r.Mailboxes, func(i, j int) bool { return r.Mailboxes[i].Mailbox < r.Mailboxes[j].Mailbox })
}

// DryRun observes and plans, and applies nothing.
func (e *Engine) DryRun(ctx context.Context) (*Report, error) {
	started := e.Now()
	in, err := e.Observe(ctx)
	if err != nil && in == nil {
		return nil, err
	}
	plan := MakePlan(in)
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
	plan := MakePlan(in)
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
