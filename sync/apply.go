package sync

import (
	"context"
	"fmt"
	"sort"

	"github.com/rs/zerolog"
)

// Apply carries out a plan. The store is updated as soon as each group of changes is confirmed, so a crash at
// any point leaves a state from which the next pass converges: creates are journalled with their idempotency key
// before they are sent, and a mailbox's change cursor is saved only after every change it reported was acted on.
// The phases run in this order for that reason; docs/architecture.md walks through what a crash after each one
// leaves behind.
func (e *Engine) Apply(ctx context.Context, in *PlanInput, plan *Plan) *Report {
	ap := newApplier(ctx, e, in, plan)
	ap.moveTimesToTF()   // 1. a restore of an event's other fields waits for its time to reach TF
	ap.deleteEvents()    // 2. a reassigned booking's new event waits until its old one is gone
	ap.applyStoreOnly()  // 3. links retired, detached, relinked or recorded; orphans noted
	ap.writeEvents()     // 4. creates (journalled first) and updates
	ap.recordCopies()    // the technicians' copies found, reported once
	ap.recordMailboxes() // 5. cursors and health last: every change a cursor reported has been acted on
	return ap.report()
}

// applier is the state one Apply shares between its phases.
type applier struct {
	e    *Engine
	in   *PlanInput
	plan *Plan
	ctx  context.Context
	// sctx records what the servers confirmed even when the pass is being stopped: losing it would turn a clean
	// shutdown into work for the crash recovery.
	sctx context.Context
	log  *zerolog.Logger
	r    *Report

	failedMailbox map[string]bool
	// done holds the bookings whose delete, move-tf or relink succeeded: an action planned After one waits for it.
	done     map[ActionKind]map[string]bool
	links    map[string]Link
	terminal []TerminalFailure
	cleared  []string
	// creating marks the bookings this pass creates in a mailbox.
	creating map[bookingMailbox]bool

	moves, deletes, local, writes []Action
}

func newApplier(ctx context.Context, e *Engine, in *PlanInput, plan *Plan) *applier {
	ap := &applier{
		e: e, in: in, plan: plan, ctx: ctx, sctx: context.WithoutCancel(ctx), log: zerolog.Ctx(ctx),
		// Every action gets a result; sized at once, the results of a first pass are not copied as they grow.
		r:             &Report{RunID: e.RunID, Plan: plan, Skipped: plan.Skipped, Results: make([]Result, 0, len(plan.Actions))},
		failedMailbox: map[string]bool{},
		done:          map[ActionKind]map[string]bool{ActDelete: {}, ActMoveTF: {}, ActRelink: {}},
		links:         in.Links,
		creating:      map[bookingMailbox]bool{},
	}
	for _, a := range plan.Actions {
		switch {
		case a.Held:
			ap.record(a, nil)
		case a.Kind == ActMoveTF:
			ap.moves = append(ap.moves, a)
		case a.Kind == ActDelete:
			ap.deletes = append(ap.deletes, a)
		case a.Kind == ActCreate || a.Kind == ActUpdate:
			ap.writes = append(ap.writes, a)
			if a.Kind == ActCreate {
				ap.creating[bookingMailbox{a.BookingID, a.Mailbox}] = true
			}
		default:
			ap.local = append(ap.local, a)
		}
	}
	return ap
}

// record gives a an outcome in the report and logs it; err nil means it was done (or held back, when a.Held).
func (ap *applier) record(a Action, err error) {
	res := Result{Action: a, Err: err}
	if err != nil && ap.ctx.Err() != nil && !isTerminal(err) {
		// Stopped, not failed: the mailbox keeps its cursor and its health.
		res.Err = fmt.Errorf("%w before %s %s was confirmed", ErrInterrupted, a.Kind, a.BookingID)
		res.Error = res.Err.Error()
		ap.failedMailbox[a.Mailbox] = true
		ap.r.Results = append(ap.r.Results, res)
		return
	}
	switch {
	case err != nil:
		res.Err, res.Error = ap.failed(a, err), err.Error()
	case a.Held:
		ap.log.Warn().Str("booking", a.BookingID).Str("mailbox", a.Mailbox).Msg("delete held back: " + a.Reason)
	default:
		ap.succeeded(a)
	}
	ap.r.Results = append(ap.r.Results, res)
}

// failed notes a's failure (terminal, or holding its mailbox's cursor), logs it and returns it as an ItemError.
func (ap *applier) failed(a Action, err error) *ItemError {
	ie := &ItemError{Action: a.Kind, BookingID: a.BookingID, Mailbox: a.Mailbox, Err: err}
	if isTerminal(err) {
		// Refused for good: recorded and not tried again until the booking or the settings change, so it
		// does not hold the mailbox's cursor.
		ap.terminal = append(ap.terminal, TerminalFailure{BookingID: a.BookingID, Mailbox: a.Mailbox, Action: a.Kind,
			Hash: terminalHash(a), Reason: err.Error()})
	} else {
		ap.failedMailbox[a.Mailbox] = true
	}
	ev := ap.log.Error()
	if ie.Retryable() {
		ev = ap.log.Warn()
	}
	ev.Str("booking", a.BookingID).Str("mailbox", a.Mailbox).Str("action", string(a.Kind)).Bool("retryable", ie.Retryable()).Err(err).Msg("action failed")
	return ie
}

// succeeded notes a as done, for the actions waiting on it and for the terminal failure it clears, and logs it.
func (ap *applier) succeeded(a Action) {
	if d := ap.done[a.Kind]; d != nil {
		d[a.BookingID] = true
	}
	if _, ok := ap.in.Terminal[a.BookingID]; ok && (a.Kind == ActCreate || a.Kind == ActUpdate || a.Kind == ActMoveTF) {
		ap.cleared = append(ap.cleared, a.BookingID)
	}
	lev := ap.log.Info()
	if a.Kind == ActRecord {
		lev = ap.log.Debug()
	}
	lev.Str("booking", a.BookingID).Str("mailbox", a.Mailbox).Str("action", string(a.Kind)).Str("conflict", a.Conflict).Msg(a.Reason)
}

// storeErr records a as failed when recording its confirmed change in the store failed.
func (ap *applier) storeErr(a Action, err error) {
	if err != nil {
		ap.record(a, fmt.Errorf("record in the state store: %w", err))
	}
}

// report puts the results in plan order and counts them per mailbox.
func (ap *applier) report() *Report {
	sort.SliceStable(ap.r.Results, func(i, j int) bool { return ap.r.Results[i].Seq < ap.r.Results[j].Seq })
	ap.r.summarise(ap.in)
	return ap.r
}
