package cmd

import (
	"fmt"
	"time"

	calsync "tfsync/sync"
)

// unreadCalendars counts the calendars a pass tried to read and those it could not.
func unreadCalendars(r *calsync.Report) (unread, total int) {
	for _, m := range r.Mailboxes {
		total++
		if m.ReadError != "" {
			unread++
		}
	}
	return unread, total
}

// incompleteHeadline is the line a dry-run opens with when calendars could not be read: its plan cannot say what
// would happen in them, so it must never read as "in step". "" when every calendar was read.
func incompleteHeadline(r *calsync.Report) string {
	unread, total := unreadCalendars(r)
	if unread == 0 {
		return ""
	}
	noun := "calendars"
	if total == 1 {
		noun = "calendar"
	}
	return fmt.Sprintf("%d of %d %s could not be read; the plan below is incomplete.", unread, total, noun)
}

// dryRunJSON is dry-run's JSON: the report, and how complete it is (docs/json.md).
type dryRunJSON struct {
	reportJSON
	Calendars       int      `json:"calendars"`
	UnreadCalendars int      `json:"unread_calendars"`
	Incomplete      bool     `json:"incomplete"`
	Headline        string   `json:"headline"` // "" when every calendar was read
	Notes           []string `json:"notes"`
}

// printDryRun writes dry-run's result: first what makes the plan incomplete or would stop a sync, then the plan.
func printDryRun(f *Factory, r *calsync.Report, zone *time.Location, notes, scope []string) error {
	headline := incompleteHeadline(r)
	p := f.printer()
	if p.JSON() {
		unread, total := unreadCalendars(r)
		return p.Result(dryRunJSON{reportJSON: newReportJSON(r, zone, scope), Calendars: total, UnreadCalendars: unread,
			Incomplete: unread > 0, Headline: headline, Notes: append([]string{}, notes...)})
	}
	w := p.Text()
	if headline != "" {
		fmt.Fprintln(w, headline)
		for _, m := range r.Mailboxes {
			if m.ReadError != "" {
				fmt.Fprintf(w, "  %s: %s\n", m.Mailbox, m.ReadError)
			}
		}
		fmt.Fprintln(w)
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
		fmt.Fprintln(w)
	}
	return printReport(f, r, zone, scope)
}
