package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	calsync "tfsync/sync"
)

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func when(a calsync.Action) string {
	if a.Start.IsZero() {
		return ""
	}
	if a.Event.AllDay || (a.Start.Hour() == 0 && a.Start.Minute() == 0 && a.End.Sub(a.Start)%(24*time.Hour) == 0 && a.End.Sub(a.Start) >= 23*time.Hour) {
		return a.Start.Format("2006-01-02") + " (all day)"
	}
	end := a.End.Format("15:04")
	if a.End.YearDay() != a.Start.YearDay() {
		end = a.End.Format("2006-01-02 15:04")
	}
	return a.Start.Format("2006-01-02 15:04") + "-" + end
}

// printPlanTable lists the actions of a plan, the way dry-run shows them.
func printPlanTable(w io.Writer, r *calsync.Report) {
	shown := 0
	t := newTable(w)
	fmt.Fprintln(t, "ACTION\tBOOKING\tMAILBOX\tWHEN\tWHY")
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
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", kind, res.BookingID, res.Mailbox, when(res.Action), why)
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
	t := newTable(w)
	fmt.Fprintln(t, "MAILBOX\tCREATED\tUPDATED\tDELETED\tMOVED IN TF\tCONFLICTS\tHELD\tERRORS")
	var tot calsync.MailboxSummary
	quiet := 0
	for _, m := range r.Mailboxes {
		// A scheduler runs this every few minutes for up to a thousand mailboxes: only those where something
		// happened get a line, the rest are counted.
		if m.Created+m.Updated+m.Deleted+m.MovedInTF+m.Conflicts+m.Held+m.Errors == 0 && m.ReadError == "" {
			quiet++
			continue
		}
		fmt.Fprintf(t, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", m.Mailbox, m.Created, m.Updated, m.Deleted, m.MovedInTF, m.Conflicts, m.Held, m.Errors)
		tot.Created += m.Created
		tot.Updated += m.Updated
		tot.Deleted += m.Deleted
		tot.MovedInTF += m.MovedInTF
		tot.Conflicts += m.Conflicts
		tot.Held += m.Held
		tot.Errors += m.Errors
	}
	if quiet > 0 {
		fmt.Fprintf(t, "(%d more in step)\t0\t0\t0\t0\t0\t0\t0\n", quiet)
	}
	fmt.Fprintf(t, "total\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", tot.Created, tot.Updated, tot.Deleted, tot.MovedInTF, tot.Conflicts, tot.Held, tot.Errors)
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
