package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	calsync "tfsync/sync"
)

// printReport writes a pass's result to stdout. The text starts with the time and the run id, so a report a
// scheduler appends to a file can be told from the next one and found in the log. Times are local in zone; scope is
// the --resource list of a scoped pass.
func printReport(f *Factory, r *calsync.Report, zone *time.Location, scope []string) error {
	p := f.printer()
	if p.JSON() {
		return p.Result(newReportJSON(r, zone, scope))
	}
	w := p.Text()
	fmt.Fprintf(w, "%s  run %s\n", r.Started.In(zone).Format(timeWithZone), r.RunID)
	if len(scope) > 0 {
		fmt.Fprintf(w, "Scoped pass: only the mailboxes of %s.\n", strings.Join(scope, ", "))
	}
	if r.DryRun {
		fmt.Fprintf(w, "Dry run: nothing was changed. Window %s to %s.\n\n", r.Plan.Window.Start.In(zone).Format("2006-01-02"), r.Plan.Window.End.In(zone).Format("2006-01-02"))
		printPlanTable(w, r, zone)
	} else {
		printSummaryTable(w, r)
	}
	printSkipped(w, r.Skipped)
	return nil
}

// actionAllDay reports whether an action's span is an all-day event: the desired or observed event says so, or,
// for a delete planned from a link, its times run from a local midnight to a later one.
func actionAllDay(a calsync.Action, zone *time.Location) bool {
	return a.Event.AllDay || a.Observed.AllDay || (a.Event.Start.IsZero() && isDateSpan(a.Start, a.End, zone))
}

func when(a calsync.Action, zone *time.Location) string {
	return spanText(a.Start, a.End, actionAllDay(a, zone), zone)
}

// printPlanTable lists the actions of a plan, the way dry-run shows them, with times local in zone.
func printPlanTable(w io.Writer, r *calsync.Report, zone *time.Location) {
	shown := 0
	t := newTable(w, "ACTION", "BOOKING", "MAILBOX", zoneHeader("WHEN", zone), "WHY")
	for _, res := range r.Results {
		if res.Kind == calsync.ActRecord {
			continue
		}
		kind := string(res.Kind)
		if res.Held {
			kind += " (HELD)"
		}
		why := res.Reason
		if res.Conflict != "" {
			why += " [" + res.Conflict + "]"
		}
		t.Row(kind, res.BookingID, res.Mailbox, when(res.Action, zone), why)
		shown++
	}
	t.Flush()
	if unread, _ := unreadCalendars(r); shown == 0 && unread > 0 {
		fmt.Fprintln(w, "Nothing to do in the calendars that were read; the others are listed above.")
	} else if shown == 0 {
		fmt.Fprintln(w, "Nothing to do: TF and the calendars are in step.")
	}
	fmt.Fprintln(w)
	printCounts(w, r)
}

// reportJSON is sync's and dry-run's JSON result (docs/json.md).
type reportJSON struct {
	RunID       string        `json:"run_id"`
	DryRun      bool          `json:"dry_run"`
	Scoped      bool          `json:"scoped"`
	Resources   []string      `json:"resources"` // the --resource scope; [] for a whole pass
	TimeZone    string        `json:"time_zone"`
	Started     zonedTime     `json:"started"`
	Finished    zonedTime     `json:"finished"`
	Window      jsonWindow    `json:"window"`
	Results     []resultJSON  `json:"results"`
	Mailboxes   []mailboxJSON `json:"mailboxes"`
	Skipped     []skipJSON    `json:"skipped"`
	HeldDeletes int           `json:"held_deletes"`
	Failed      int           `json:"failed"`
	// Problems are bookings left alone until someone acts (a bad TF row, a move refused for good, an old event).
	Problems    []skipJSON `json:"problems"`
	NewBadRows  int        `json:"new_bad_rows"`
	Interrupted bool       `json:"interrupted"`
}

// mailboxJSON is one mailbox's counts; read_error is always there ("" when the mailbox was read).
type mailboxJSON struct {
	Mailbox   string `json:"mailbox"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Deleted   int    `json:"deleted"`
	MovedInTF int    `json:"moved_in_tf"`
	Relinked  int    `json:"relinked"`
	Retired   int    `json:"retired"`
	Conflicts int    `json:"conflicts"`
	Held      int    `json:"held_deletes"` // the same key as in status and show
	Errors    int    `json:"errors"`
	ReadError string `json:"read_error"`
	Status    string `json:"status"` // ok | failed | not_read
}

type jsonWindow struct {
	Start zonedTime `json:"start"`
	End   zonedTime `json:"end"`
}

type resultJSON struct {
	Action    string `json:"action"`
	BookingID string `json:"booking_id"`
	Mailbox   string `json:"mailbox"`
	EventID   string `json:"event_id"`
	Reason    string `json:"reason"`
	Conflict  string `json:"conflict"`
	Held      bool   `json:"held"`
	Duplicate bool   `json:"duplicate"`
	Orphan    bool   `json:"orphan"`
	jsonSpan
	Error string `json:"error"`
}

type skipJSON struct {
	Resource  string `json:"resource"`
	Name      string `json:"name"`
	BookingID string `json:"booking_id"`
	Mailbox   string `json:"mailbox"`
	Reason    string `json:"reason"`
}

func newReportJSON(r *calsync.Report, zone *time.Location, scope []string) reportJSON {
	out := reportJSON{RunID: r.RunID, DryRun: r.DryRun, Scoped: len(scope) > 0, Resources: append([]string{}, scope...),
		TimeZone: zone.String(), Started: inZone(r.Started, zone), Finished: inZone(r.Finished, zone),
		Results: []resultJSON{}, Mailboxes: []mailboxJSON{}, Skipped: []skipJSON{},
		HeldDeletes: r.Held, Failed: r.Failed,
		Problems: []skipJSON{}, NewBadRows: r.NewBadRows, Interrupted: r.Interrupted}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, skipJSON(p))
	}
	if r.Plan != nil {
		out.Window = jsonWindow{inZone(r.Plan.Window.Start, zone), inZone(r.Plan.Window.End, zone)}
	}
	for _, res := range r.Results {
		out.Results = append(out.Results, resultJSON{Action: string(res.Kind), BookingID: res.BookingID, Mailbox: res.Mailbox,
			EventID: res.EventID, Reason: res.Reason, Conflict: res.Conflict, Held: res.Held, Duplicate: res.Duplicate, Orphan: res.Orphan,
			jsonSpan: spanJSON(res.Start, res.End, actionAllDay(res.Action, zone), zone), Error: res.Error})
	}
	for _, s := range r.Skipped {
		out.Skipped = append(out.Skipped, skipJSON(s))
	}
	for _, m := range r.Mailboxes {
		out.Mailboxes = append(out.Mailboxes, mailboxJSON{Mailbox: m.Mailbox, Created: m.Created, Updated: m.Updated,
			Deleted: m.Deleted, MovedInTF: m.MovedInTF, Relinked: m.Relinked, Retired: m.Retired, Conflicts: m.Conflicts,
			Held: m.Held, Errors: m.Errors, ReadError: m.ReadError, Status: m.Status})
	}
	return out
}

func printCounts(w io.Writer, r *calsync.Report) {
	c := r.Plan.Counts()
	var parts []string
	for _, k := range []string{"create", "update", "delete", "move-tf", "relink", "retire", "detach", "held"} {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no changes"}
	}
	fmt.Fprintf(w, "Plan: %s.\n", strings.Join(parts, ", "))
}

// printSummaryTable shows what a pass did in each mailbox.
func printSummaryTable(w io.Writer, r *calsync.Report) {
	t := newTable(w, "MAILBOX", "CREATED", "UPDATED", "DELETED", "MOVED IN TF", "CONFLICTS", "HELD", "ERRORS")
	var tot calsync.MailboxSummary
	quiet := 0
	for _, m := range r.Mailboxes {
		// A scheduler runs this every few minutes for up to a thousand mailboxes: only those where something
		// happened get a line, the rest are counted.
		if m.Created+m.Updated+m.Deleted+m.MovedInTF+m.Conflicts+m.Held+m.Errors == 0 && m.ReadError == "" {
			quiet++
			continue
		}
		t.Row(m.Mailbox, m.Created, m.Updated, m.Deleted, m.MovedInTF, m.Conflicts, m.Held, m.Errors)
		tot.Created += m.Created
		tot.Updated += m.Updated
		tot.Deleted += m.Deleted
		tot.MovedInTF += m.MovedInTF
		tot.Conflicts += m.Conflicts
		tot.Held += m.Held
		tot.Errors += m.Errors
	}
	if quiet > 0 {
		t.Row(fmt.Sprintf("(%d more in step)", quiet), 0, 0, 0, 0, 0, 0, 0)
	}
	t.Row("total", tot.Created, tot.Updated, tot.Deleted, tot.MovedInTF, tot.Conflicts, tot.Held, tot.Errors)
	t.Flush()
	for _, m := range r.Mailboxes {
		if m.ReadError != "" {
			fmt.Fprintf(w, "\n%s was not synced: %s\n", m.Mailbox, m.ReadError)
		}
	}
	var failed []calsync.Result
	interrupted := 0
	for _, res := range r.Results {
		switch {
		case errors.Is(res.Err, calsync.ErrInterrupted):
			interrupted++
		case res.Err != nil:
			failed = append(failed, res)
		}
	}
	if interrupted > 0 {
		fmt.Fprintf(w, "\nInterrupted (SIGTERM or Ctrl-C): %d changes were not made; the next pass makes them.\n", interrupted)
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "\nFailed:")
		for _, res := range failed {
			fmt.Fprintf(w, "  %s %s in %s: %s\n", res.Kind, res.BookingID, res.Mailbox, res.Error)
		}
	}
	if r.Plan != nil && r.Plan.TFEmpty != "" {
		fmt.Fprintf(w, "\n%d deletes were held back: %s.\n", r.Held, r.Plan.TFEmpty)
	} else if r.Held > 0 {
		fmt.Fprintf(w, "\n%d deletes were held back by max_delete_percent. Check them with `tfsync dry-run`; apply them with `tfsync sync --force`.\n", r.Held)
	}
}

func printSkipped(w io.Writer, skipped []calsync.Skip) {
	if len(skipped) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSkipped:")
	for _, s := range skipped {
		switch {
		case s.Resource != "":
			name := s.Resource
			if s.Name != "" {
				name = fmt.Sprintf("%s (%s)", s.Name, s.Resource)
			}
			fmt.Fprintf(w, "  resource %s: %s\n", name, s.Reason)
		case s.BookingID != "":
			fmt.Fprintf(w, "  booking %s: %s\n", s.BookingID, s.Reason)
		default:
			fmt.Fprintf(w, "  mailbox %s: %s\n", s.Mailbox, s.Reason)
		}
	}
}
