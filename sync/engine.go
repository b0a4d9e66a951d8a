package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	gosync "sync"
	"time"

	"tfsync/exchange"
	"tfsync/tf"
)

// Engine runs one reconciliation pass: observe TF, the store and the calendars; plan; apply. docs/architecture.md
// describes the three steps and what each file of this package holds.
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

// eachMailbox calls do for 0..n-1, at most Concurrency (default 8) at a time, and returns when all have returned.
// The backend bounds its own connections; this bounds the look-ups the engine starts per mailbox.
func (e *Engine) eachMailbox(n int, do func(i int)) {
	limit := e.Concurrency
	if limit <= 0 {
		limit = 8
	}
	sem := make(chan struct{}, limit)
	var wg gosync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			do(i)
		}()
	}
	wg.Wait()
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
