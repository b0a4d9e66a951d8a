package cmd

import (
	"fmt"
	"io"
	"strings"
	"time"

	"tfsync/cmd/config"
	calsync "tfsync/sync"
)

// renderStatus writes the report: with --check only the headline (or its JSON), else the whole report.
// credentials are the credential expiry warnings, shown in text after the tables.
func renderStatus(p *printer, opts *StatusOptions, rep *statusReport, zone *time.Location, credentials []string) error {
	switch {
	case opts.Check && p.JSON():
		// run writes it with "command" and, when the check fails, the "error" object (docs/json.md).
		return p.Result(statusCheckJSON{SchemaVersion: statusSchemaVersion, Now: rep.Now, statusHealth: rep.Health})
	case opts.Check:
		_, err := fmt.Fprintln(p.Text(), rep.Health.Headline)
		return err
	case p.JSON():
		return p.Result(rep)
	}
	w := p.Text()
	printStatus(w, rep, zone)
	// After the tables: the headline stays the first line, which monitoring reads.
	for _, c := range credentials {
		fmt.Fprintf(w, "\nWarning: %s.\n", c)
	}
	return nil
}

// printStatus writes the text form.
func printStatus(w io.Writer, rep *statusReport, zone *time.Location) {
	full := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(zone).Format(timeWithZone)
	}
	fmt.Fprintln(w, rep.Health.Headline)
	fmt.Fprintf(w, "Now %s (%s); a pass older than %s alarms 'tfsync status --check'.\n", full(rep.Now), rep.TimeZone, statusAge(time.Duration(rep.Health.MaxAgeMinutes*float64(time.Minute))))

	fmt.Fprintln(w)
	switch {
	case rep.Lock == nil:
		fmt.Fprintln(w, "Run lock: free (no pass is running).")
	case rep.Lock.Hung:
		fmt.Fprintf(w, "Run lock: HUNG: held by pid %d on %s since %s (%s): end that process.\n", rep.Lock.PID, rep.Lock.Host, full(rep.Lock.Since), statusAge(rep.Now.Sub(rep.Lock.Since)))
	default:
		fmt.Fprintf(w, "Run lock: a pass is running: pid %d on %s since %s.\n", rep.Lock.PID, rep.Lock.Host, full(rep.Lock.Since))
	}

	fmt.Fprintln(w, "\nLast passes (newest first; repeats folded):")
	t := newTable(w, "STARTED", "TOOK", "EXIT", "CHANGES", "RESULT")
	for _, r := range rep.Runs {
		took := "-"
		if !r.Finished.IsZero() {
			took = r.Finished.Sub(r.Started).Round(10 * time.Millisecond).String()
		}
		result := "ok"
		switch {
		case r.Outcome == calsync.RunLockHeld:
			result = "left at once: another pass held the run lock"
		case r.Outcome == calsync.RunRunning:
			result = "running, or did not finish"
		case r.Error != "":
			result = statusOneLine(r.Error, 160)
		}
		if r.Repeats > 0 {
			result = fmt.Sprintf("%d times since %s: %s", r.Repeats+1, statusShortTime(r.Since, rep.Now, zone), result)
		}
		t.Row(full(r.Started), took, r.ExitCode, r.Changes, result)
	}
	t.Flush()
	if len(rep.Runs) == 0 {
		fmt.Fprintln(w, "  (no pass has run yet)")
	}

	if len(rep.MailboxErrors) > 0 {
		fmt.Fprintln(w, "\nMailbox errors (each once, with how many mailboxes have it):")
		for _, e := range rep.MailboxErrors {
			n := "1 mailbox"
			if e.Mailboxes != 1 {
				n = fmt.Sprintf("%d mailboxes", e.Mailboxes)
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", e.ID, n, statusOneLine(e.Error, 300))
		}
	}
	fmt.Fprintln(w, "\nMailboxes:")
	t = newTable(w, "MAILBOX", "RESOURCE", "LINKED", "LAST SYNC", "HELD DELETES", "STATUS")
	for _, m := range rep.Mailboxes {
		res := "-"
		if m.ResourceID != "" {
			res = m.ResourceID + " " + m.Name
		}
		status := "ok"
		if m.LastError != "" {
			status = fmt.Sprintf("failing (%d passes): %s", m.ConsecutiveFailures, m.ErrorID)
		}
		t.Row(m.Mailbox, res, m.Linked, full(m.LastSync), m.HeldDeletes, status)
	}
	t.Flush()
	if len(rep.Mailboxes) == 0 {
		fmt.Fprintln(w, "  (no mailbox has been synced yet)")
	}
	if len(rep.HeldBack) > 0 {
		fmt.Fprintln(w, "\nHeld back by max_delete_percent (check with 'tfsync dry-run'; apply with 'tfsync sync --force'):")
		t = newTable(w, "BOOKING", "MAILBOX", "WHY")
		for _, h := range rep.HeldBack {
			t.Row(h.BookingID, h.Mailbox, h.Reason)
		}
		t.Flush()
	} else if rep.HeldDeletes > 0 {
		fmt.Fprintf(w, "\n%d deletes are held back. Check them with 'tfsync dry-run'; apply them with 'tfsync sync --force'.\n", rep.HeldDeletes)
	}
	printBookingProblems(w, rep.BookingProblems, zone)
}

// statusShortTime writes a time for a headline: the time of day with the zone when it is today, else with the date.
func statusShortTime(t, now time.Time, zone *time.Location) string {
	lt, ln := t.In(zone), now.In(zone)
	if lt.YearDay() == ln.YearDay() && lt.Year() == ln.Year() {
		return lt.Format("15:04 MST")
	}
	return lt.Format("2006-01-02 15:04 MST")
}

// ago says how long ago, rounded for a person.
func statusAgo(d time.Duration) string {
	return statusAge(d) + " ago"
}

func statusAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) - 60*h; m > 0 {
			return fmt.Sprintf("%d h %d min", h, m)
		}
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// statusOneLine shortens an error to its first line and at most n characters.
func statusOneLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// printStatusWithoutStore answers status before any pass has created the state store, which status never does.
func printStatusWithoutStore(f *Factory, cfg *config.Config) error {
	p := f.printer()
	if p.JSON() {
		return p.Result(struct {
			Runs      []statusRun     `json:"runs"`
			Mailboxes []statusMailbox `json:"mailboxes"`
			Held      int             `json:"held_deletes"`
			NoStore   bool            `json:"no_state_store"`
			Warnings  []string        `json:"warnings"`
		}{Runs: []statusRun{}, Mailboxes: []statusMailbox{}, NoStore: true, Warnings: credentialWarnings(cfg, f.Now())})
	}
	fmt.Fprintf(p.Text(), "No state store yet at %s: no sync pass has run with this configuration. The first "+
		"`tfsync sync` creates it; run it as the account the scheduler uses.\n", cfg.State.Path)
	return nil
}
