package cmd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// statusSchemaVersion is the version of status's JSON; it grows only by added keys.
const statusSchemaVersion = 1

// Health states, the headline's first word in lower case.
const (
	healthOK      = "ok"
	healthFailing = "failing"
	healthPartial = "partial"
	healthHeld    = "held"
	healthStale   = "stale"
	healthHung    = "hung"
	healthNever   = "never"
)

type statusHealth struct {
	State         string    `json:"state"`
	ExitCode      int       `json:"exit_code"` // what status --check exits with
	Headline      string    `json:"headline"`
	Reason        string    `json:"reason,omitempty"`
	LastPass      time.Time `json:"last_pass,omitzero"`
	LastGoodPass  time.Time `json:"last_good_pass,omitzero"`
	FailingSince  time.Time `json:"failing_since,omitzero"`
	FailingPasses int       `json:"failing_passes"`
	MaxAgeMinutes float64   `json:"max_age_minutes"`
}

type statusLock struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since,omitzero"`
	Hung  bool      `json:"hung"`
}

type statusRun struct {
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Outcome  string    `json:"outcome"`
	ExitCode int       `json:"exit_code"`
	Error    string    `json:"error,omitempty"`
	Changes  int       `json:"changes"`
	Repeats  int       `json:"repeats"` // runs like this one folded into it, the oldest started at Since
	Since    time.Time `json:"since,omitzero"`
}

type statusMailbox struct {
	Mailbox             string    `json:"mailbox"`
	ResourceID          string    `json:"resource_id"`
	Name                string    `json:"name"`
	Linked              int       `json:"linked_events"`
	LastSync            time.Time `json:"last_sync,omitzero"`
	Status              string    `json:"status"` // ok | failing
	LastError           string    `json:"last_error,omitempty"`
	ErrorID             string    `json:"error_id,omitempty"` // the entry of mailbox_errors that is LastError
	ConsecutiveFailures int       `json:"consecutive_failures"`
	HeldDeletes         int       `json:"held_deletes"`
}

// statusMailboxError is one error as the mailboxes that have it share it: fifty mailboxes refused with the same
// credentials are one entry with a count, their address replaced by <mailbox>.
type statusMailboxError struct {
	ID        string `json:"id"`
	Error     string `json:"error"`
	Mailboxes int    `json:"mailboxes"`
}

type statusHeld struct {
	BookingID string `json:"booking_id"`
	Mailbox   string `json:"mailbox"`
	Reason    string `json:"reason"`
}

type statusReport struct {
	SchemaVersion int                  `json:"schema_version"`
	Now           time.Time            `json:"now"`
	TimeZone      string               `json:"time_zone"`
	Health        statusHealth         `json:"health"`
	Lock          *statusLock          `json:"lock"` // null when no pass holds it
	LinkedEvents  int                  `json:"linked_events"`
	Runs          []statusRun          `json:"runs"`
	Mailboxes     []statusMailbox      `json:"mailboxes"`
	MailboxErrors []statusMailboxError `json:"mailbox_errors"`
	HeldDeletes   int                  `json:"held_deletes"`
	HeldBack      []statusHeld         `json:"held_back"`
	// BookingProblems are bookings left alone until someone acts (bad TF rows, refused for good, old events).
	BookingProblems []calsync.BookingProblem `json:"booking_problems"`
	Warnings        []string                 `json:"warnings"`
}

type statusCheckJSON struct {
	SchemaVersion int       `json:"schema_version"`
	Now           time.Time `json:"now"`
	statusHealth
}

// statusInput is everything status reads, so that buildStatus is a pure function of it.
type statusInput struct {
	now       time.Time
	zone      *time.Location
	zoneName  string
	maxAge    time.Duration
	show      int                 // passes to list
	history   []calsync.RunRecord // every recorded run, newest first, without summaries
	recent    []calsync.RunRecord // the newest runs with their summaries
	states    map[string]calsync.MailboxState
	links     map[string]calsync.Link
	lock      *calsync.LockHeldError // nil when free
	resources []tf.Resource
	problems  []calsync.BookingProblem
	warnings  []string
}

// gatherStatus reads what status shows: the run history, the mailboxes' states, the links and the problems from
// the store, the run lock, and the resource names from TF. What cannot be read besides the store is a warning.
func gatherStatus(ctx context.Context, f *Factory, cfg *config.Config, st *calsync.Store, opts *StatusOptions) (statusInput, error) {
	now := f.Now()
	in := statusInput{now: now, zone: cfg.TF.TimeZone, zoneName: cfg.TF.ZoneName, maxAge: opts.MaxAge, show: opts.Runs}
	stored, err := readState(ctx, st, opts.Runs)
	if err != nil {
		return in, err
	}
	in.recent, in.states, in.links, in.problems = stored.runs, stored.states, stored.links, stored.problems
	if in.history, err = st.RunHistory(ctx, 0); err != nil {
		return in, err
	}
	if in.lock, err = calsync.ProbeRunLock(cfg.State.Path, now, lockStaleAfter); err != nil {
		in.warnings = append(in.warnings, err.Error())
	}
	// A client secret or certificate about to expire (issue 13's expiry warning).
	in.warnings = append(in.warnings, credentialWarnings(cfg, now)...)
	// Names come from TF; status still answers when TF cannot be read, without them.
	if src, err := f.OpenSource(cfg); err != nil {
		in.warnings = append(in.warnings, "resource names not shown: "+err.Error())
	} else {
		in.resources, err = src.Resources(ctx)
		src.Close()
		if err != nil {
			in.warnings = append(in.warnings, "resource names not shown: "+err.Error())
		}
	}
	return in, nil
}

func buildStatus(in statusInput) *statusReport {
	rep := &statusReport{SchemaVersion: statusSchemaVersion, Now: in.now, TimeZone: in.zoneName,
		Runs: []statusRun{}, Mailboxes: []statusMailbox{}, MailboxErrors: []statusMailboxError{}, HeldBack: []statusHeld{},
		BookingProblems: in.problems, Warnings: in.warnings}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	if rep.BookingProblems == nil {
		rep.BookingProblems = []calsync.BookingProblem{}
	}
	if in.lock != nil {
		rep.Lock = &statusLock{PID: in.lock.PID, Host: in.lock.Host, Since: in.lock.Since, Hung: in.lock.Stale}
	}

	// Mailboxes, with their TF resource.
	linked := map[string]int{}
	for _, l := range in.links {
		if !l.Detached {
			linked[l.Mailbox]++
			rep.LinkedEvents++
		}
	}
	byMailbox := map[string]tf.Resource{}
	for _, r := range in.resources {
		if r.Email != "" {
			byMailbox[strings.ToLower(strings.TrimSpace(r.Email))] = r
		}
	}
	for mb, s := range in.states {
		r := byMailbox[strings.ToLower(mb)]
		m := statusMailbox{Mailbox: mb, ResourceID: r.ID, Name: r.Name, Linked: linked[mb], LastSync: s.LastSync,
			Status: "ok", LastError: s.LastError, ConsecutiveFailures: s.ConsecutiveFailures, HeldDeletes: s.HeldDeletes}
		if s.LastError != "" {
			m.Status = "failing"
		}
		rep.Mailboxes = append(rep.Mailboxes, m)
		rep.HeldDeletes += s.HeldDeletes
	}
	sort.Slice(rep.Mailboxes, func(i, j int) bool { return rep.Mailboxes[i].Mailbox < rep.Mailboxes[j].Mailbox })
	ids := map[string]int{}
	for i := range rep.Mailboxes {
		m := &rep.Mailboxes[i]
		if m.LastError == "" {
			continue
		}
		text := strings.ReplaceAll(m.LastError, m.Mailbox, "<mailbox>")
		k, ok := ids[text]
		if !ok {
			k = len(rep.MailboxErrors)
			ids[text] = k
			rep.MailboxErrors = append(rep.MailboxErrors, statusMailboxError{ID: fmt.Sprintf("E%d", k+1), Error: text})
		}
		rep.MailboxErrors[k].Mailboxes++
		m.ErrorID = rep.MailboxErrors[k].ID
	}

	// The bookings the last finished pass held back.
	for _, r := range in.recent {
		if r.Outcome != calsync.RunPass || r.Summary == nil {
			continue
		}
		if sum := readRunSummary(r); sum.Report != nil {
			for _, res := range sum.Report.Results {
				if res.Held {
					rep.HeldBack = append(rep.HeldBack, statusHeld{BookingID: res.BookingID, Mailbox: res.Mailbox, Reason: res.Reason})
				}
			}
		}
		break
	}

	rep.Runs = collapseRuns(in.history, in.recent, in.show)
	rep.Health = assessHealth(in, rep)
	rep.inZone(in.zone)
	return rep
}

// inZone writes every time in TF's zone, so the JSON shows the wall clock the admins read, with its offset.
func (rep *statusReport) inZone(zone *time.Location) {
	z := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.In(zone)
		}
	}
	z(&rep.Now)
	z(&rep.Health.LastPass)
	z(&rep.Health.LastGoodPass)
	z(&rep.Health.FailingSince)
	if rep.Lock != nil {
		z(&rep.Lock.Since)
	}
	for i := range rep.Runs {
		z(&rep.Runs[i].Started)
		z(&rep.Runs[i].Finished)
		z(&rep.Runs[i].Since)
	}
	for i := range rep.Mailboxes {
		z(&rep.Mailboxes[i].LastSync)
	}
	for i := range rep.BookingProblems {
		z(&rep.BookingProblems[i].Since)
	}
}

// collapseRuns lists the newest passes, folding runs that repeat the one before them (same outcome, exit code
// and error) into one row with a count: twelve failed passes with the same 600-character error are one row.
func collapseRuns(history, recent []calsync.RunRecord, show int) []statusRun {
	changes := map[string]int{}
	for _, r := range recent {
		if sum := readRunSummary(r); sum.Report != nil {
			for _, m := range sum.Report.Mailboxes {
				changes[r.ID] += m.Created + m.Updated + m.Deleted + m.MovedInTF
			}
		}
	}
	out := []statusRun{}
	for _, r := range history {
		n := len(out)
		if n > 0 && out[n-1].Outcome == r.Outcome && out[n-1].ExitCode == r.ExitCode && out[n-1].Error == r.Error &&
			changes[r.ID] == 0 && out[n-1].Changes == 0 && r.Outcome != calsync.RunRunning {
			out[n-1].Repeats++
			out[n-1].Since = r.StartedAt
			continue
		}
		if n == show {
			break
		}
		out = append(out, statusRun{ID: r.ID, Started: r.StartedAt, Finished: r.FinishedAt, Outcome: r.Outcome,
			ExitCode: r.ExitCode, Error: r.Error, Changes: changes[r.ID]})
	}
	return out
}

// passesOf lists the passes that ran, newest first. A run still marked running is the one holding the lock, when
// it is held (lockHeld), or else one that was killed before it could record how it ended.
func passesOf(history []calsync.RunRecord, lockHeld bool) []calsync.RunRecord {
	var passes []calsync.RunRecord
	current := lockHeld
	for _, r := range history {
		switch {
		case r.Outcome == calsync.RunLockHeld:
			continue
		case r.Outcome == calsync.RunPass && r.ExitCode == exitcode.Interrupted:
			// Stopped at a safe point, to resume at the next tick: neither a failure nor a success. Passes that
			// are always stopped (a time limit too short) still alarm: no pass succeeds within --max-age.
			continue
		case r.Outcome == calsync.RunRunning:
			if current {
				current = false
				continue
			}
			r.ExitCode = exitcode.Failure
			r.Error = "the pass did not finish: it was killed, or the machine stopped"
			r.FinishedAt = r.StartedAt
		}
		passes = append(passes, r)
	}
	return passes
}

// assessHealth makes the headline and the exit code of status --check.
func assessHealth(in statusInput, rep *statusReport) statusHealth {
	h := statusHealth{MaxAgeMinutes: in.maxAge.Minutes()}
	at := func(t time.Time) string { return statusShortTime(t, in.now, in.zone) }

	passes := passesOf(in.history, in.lock != nil)
	var lastGood *calsync.RunRecord
	for i := range passes {
		if passes[i].ExitCode == exitcode.OK {
			lastGood = &passes[i]
			break
		}
	}
	if lastGood != nil {
		h.LastGoodPass = lastGood.FinishedAt
	}
	lastGoodText := "no pass has succeeded yet"
	if lastGood != nil {
		lastGoodText = "last good pass " + at(lastGood.FinishedAt)
	}

	if in.lock != nil && in.lock.Stale {
		h.State, h.ExitCode = healthHung, exitcode.LockStale
		h.Reason = fmt.Sprintf("pid %d on %s has held the run lock since %s, far longer than a pass takes: end that process",
			in.lock.PID, in.lock.Host, at(in.lock.Since))
		h.Headline = fmt.Sprintf("HUNG: %s; %s", h.Reason, lastGoodText)
		return h
	}
	if len(passes) == 0 {
		h.State, h.ExitCode = healthNever, exitcode.Failure
		h.Reason = "no pass is recorded in this state store: check that the scheduled task runs 'tfsync sync' with this configuration"
		h.Headline = "NO PASS YET: " + h.Reason
		return h
	}
	last := passes[0]
	h.LastPass = last.FinishedAt
	if age := in.now.Sub(last.FinishedAt); age > in.maxAge {
		h.State, h.ExitCode = healthStale, exitcode.Failure
		h.Reason = fmt.Sprintf("no pass for %s (more than %s): check that the scheduled task still runs", statusAge(age), statusAge(in.maxAge))
		h.Headline = fmt.Sprintf("STALE: last pass %s (%s); %s; %s", statusAgo(age), at(last.FinishedAt), h.Reason, lastGoodText)
		return h
	}
	if last.ExitCode == exitcode.OK {
		h.State, h.ExitCode = healthOK, exitcode.OK
		h.Headline = fmt.Sprintf("OK: last pass %s, %d events in step", statusAgo(in.now.Sub(last.FinishedAt)), rep.LinkedEvents)
		if rep.Lock != nil {
			h.Headline += fmt.Sprintf("; a pass is running since %s (pid %d)", at(rep.Lock.Since), rep.Lock.PID)
		}
		if rep.HeldDeletes > 0 {
			h.State, h.ExitCode = healthHeld, exitcode.Held
			h.Headline = fmt.Sprintf("HELD: %d deletes held back by max_delete_percent: check them with 'tfsync dry-run', apply them with 'tfsync sync --force'", rep.HeldDeletes)
		}
		return h
	}
	// The last pass failed: since when, and how many passes in a row.
	streak := 0
	for _, p := range passes {
		if p.ExitCode == exitcode.OK {
			break
		}
		streak++
		h.FailingSince = p.StartedAt
	}
	h.FailingPasses = streak
	h.ExitCode = last.ExitCode
	h.Reason = statusOneLine(last.Error, 200)
	if last.ExitCode == exitcode.Partial {
		// "some mailboxes failed" says little: name the first failing mailbox and why.
		var failing []statusMailbox
		for _, m := range rep.Mailboxes {
			if m.LastError != "" {
				failing = append(failing, m)
			}
		}
		if len(failing) > 0 {
			h.Reason = statusOneLine(failing[0].Mailbox+": "+failing[0].LastError, 200)
			if len(failing) > 1 {
				h.Reason += fmt.Sprintf(" (and %d more mailboxes)", len(failing)-1)
			}
		}
	}
	word := "FAILING"
	switch last.ExitCode {
	case exitcode.Partial:
		h.State, word = healthPartial, "PARTIAL"
	case exitcode.Held:
		h.State, word = healthHeld, "HELD"
	default:
		h.State = healthFailing
	}
	passesText := "1 pass"
	if streak != 1 {
		passesText = fmt.Sprintf("%d passes", streak)
	}
	h.Headline = fmt.Sprintf("%s since %s (%s): %s; %s", word, at(h.FailingSince), passesText, h.Reason, lastGoodText)
	return h
}
