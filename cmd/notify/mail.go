package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"tfsync/cmd/exitcode"
)

func (n *Notifier) failureMail(o Outcome, now, lastSent time.Time) (subject, body string) {
	failed := 0
	for _, m := range o.Mailboxes {
		if len(m.Problems) > 0 {
			failed++
		}
	}
	switch {
	case o.ExitCode == exitcode.Partial && failed > 0:
		subject = fmt.Sprintf("tfsync: sync partly failed: %s on %s", plural(failed, "mailbox", "mailboxes"), n.hostname)
	case o.ExitCode == exitcode.Partial:
		subject = "tfsync: sync partly failed on " + n.hostname
	case o.ExitCode == exitcode.Held:
		subject = "tfsync: deletes held back on " + n.hostname
	default:
		subject = fmt.Sprintf("tfsync: sync failed (exit %d) on %s", o.ExitCode, n.hostname)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "The tfsync sync pass on %s ended with exit code %d: %s.\n", n.hostname, o.ExitCode, exitcode.Meaning(o.ExitCode))
	if !lastSent.IsZero() {
		fmt.Fprintf(&b, "The same failure was mailed at %s and is still going on.\n", formatTime(lastSent))
	}

	b.WriteString("\nWhat failed:\n")
	// A partial pass's or a hold's own error only counts what the mailbox list below shows in full.
	listed := false
	if o.Error != "" && (len(o.Mailboxes) == 0 || (o.Class != "partial" && o.Class != "deletes-held")) {
		fmt.Fprintf(&b, "  %s\n", o.Error)
		listed = true
	}
	for i, m := range o.Mailboxes {
		if listed {
			b.WriteString("\n")
		}
		listed = true
		if i == MaxMailboxes {
			more := len(o.Mailboxes) - i
			fmt.Fprintf(&b, "  ... and %d more %s (see the log of run %s)\n", more, noun(more, "mailbox", "mailboxes"), o.RunID)
			break
		}
		fmt.Fprintf(&b, "  %s\n", m.Mailbox)
		for _, p := range m.Problems {
			fmt.Fprintf(&b, "    - %s\n", p)
		}
		if m.More > 0 {
			fmt.Fprintf(&b, "    - ... and %d more (see the log of run %s)\n", m.More, o.RunID)
		}
		if m.Held > 0 {
			fmt.Fprintf(&b, "    - %s held back by max_delete_percent\n", plural(m.Held, "delete", "deletes"))
		}
	}

	b.WriteString("\nWhat to do:\n")
	for _, step := range n.nextSteps(o) {
		fmt.Fprintf(&b, "  - %s\n", step)
	}
	if len(o.Warnings) > 0 {
		b.WriteString("\nAlso:\n")
		for _, w := range o.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}

	n.footer(&b, o, now)
	b.WriteString("\n" + exitCodesLine() + "\n")
	fmt.Fprintf(&b, "\ntfsync mails a failure once, again every %s while it lasts, and once more when a pass succeeds again ([notify] repeat_after%s).\n",
		duration(n.repeatAfter()), in(o.ConfigPath))
	return n.scrub(subject), n.scrub(b.String())
}

// exitCodesLine explains every exit code, from the one table the README and docs/schedulers.md follow too.
func exitCodesLine() string {
	var codes []string
	for _, c := range exitcode.All() {
		codes = append(codes, fmt.Sprintf("%d %s", c.Code, c.Meaning))
	}
	return "Exit codes: " + strings.Join(codes, "; ") + "."
}

func (n *Notifier) recoveredMail(o Outcome, now, lastSent time.Time, lastState string) (subject, body string) {
	subject = "tfsync: recovered on " + n.hostname
	var b strings.Builder
	fmt.Fprintf(&b, "The tfsync sync pass on %s succeeded again.\n\n", n.hostname)
	var code int
	if _, err := fmt.Sscanf(lastState, "exit=%d", &code); err == nil {
		fmt.Fprintf(&b, "The failure mailed at %s (exit code %d: %s) is over; it needs nothing more.\n",
			formatTime(lastSent), code, exitcode.Meaning(code))
	} else {
		fmt.Fprintf(&b, "The failure mailed at %s is over; it needs nothing more.\n", formatTime(lastSent))
	}
	n.footer(&b, o, now)
	return subject, n.scrub(b.String())
}

func (n *Notifier) footer(b *strings.Builder, o Outcome, now time.Time) {
	b.WriteString("\n")
	fmt.Fprintf(b, "Run id:  %s\n", o.RunID)
	fmt.Fprintf(b, "Time:    %s\n", formatTime(now))
	fmt.Fprintf(b, "Host:    %s\n", n.hostname)
	if o.ConfigPath != "" {
		fmt.Fprintf(b, "Config:  %s\n", o.ConfigPath)
	}
}

// nextSteps says what an admin should do about a failure, as commands they can paste.
func (n *Notifier) nextSteps(o Outcome) []string {
	cfg := ""
	if o.ConfigPath != "" {
		cfg = " --config " + quote(o.ConfigPath)
	}
	testConn := "Run `tfsync test-connection" + cfg + "`: it checks the configuration, TF's database, the credentials and each enabled resource's calendar, and says what to fix where."
	var steps []string
	switch o.ExitCode {
	case exitcode.Auth:
		steps = append(steps, testConn)
		switch o.Class {
		case "auth":
			steps = append(steps, "The credentials were refused. For Office 365, check the Entra app's client secret or certificate (Entra admin center -> App registrations -> Certificates & secrets; secrets expire); for on-premises Exchange, the service account's password.")
		case "unreachable":
			steps = append(steps, "Exchange (Graph or EWS) could not be reached or kept failing. Check the network from this computer to it; after a passing outage the next pass recovers by itself.")
		}
	case exitcode.Partial:
		steps = append(steps,
			"The mailboxes above were not fully synced; the others were. Each error says what to fix; errors marked temporary clear by themselves.",
			"Run `tfsync list-resources --check"+cfg+"` to see every resource's e-mail and last error, and `tfsync test-connection"+cfg+"` to try each calendar.",
			"A wrong or missing e-mail address is fixed on the resource in TF (Inställningar -> Grunddata -> Resurser).")
		if o.Held > 0 {
			steps = append(steps, "Deletes were also held back: check them with `tfsync dry-run"+cfg+"`, then run `tfsync sync --force"+cfg+"` if they are intended.")
		}
	case exitcode.Held:
		steps = append(steps,
			"A pass would have deleted more of a mailbox's events than max_delete_percent allows, so the deletes were held back (creates and updates were applied).",
			"Check the plan with `tfsync dry-run"+cfg+"`. If the deletes are intended (a kind or a resource was switched off, bookings were cancelled in bulk), run `tfsync sync --force"+cfg+"` once; if not, find out why the bookings left TF first.")
	case exitcode.LockStale:
		steps = append(steps, "Another tfsync pass has held the run lock for over an hour. Look for a hung tfsync process on "+n.hostname+" and end it; the next pass then runs normally.")
	default:
		switch o.Class {
		case "store-corrupt":
			steps = append(steps, "The state store is damaged. Run `tfsync sync --rebuild"+cfg+"` once: it moves the file aside and relinks every event through its booking id, without duplicates.")
		case "store-too-new":
			steps = append(steps, "A newer tfsync has written the state store. Run that newer version here too.")
		case "tf":
			steps = append(steps, "TF's database could not be read. Check [tf] database"+in(o.ConfigPath)+" and that the account running tfsync may read it.", testConn)
		default:
			steps = append(steps, "Run `tfsync sync"+cfg+"` by hand to see the error as it happens, and read the log of run "+o.RunID+".", testConn)
		}
	}
	return steps
}

func plural(n int, one, many string) string {
	return strconv.Itoa(n) + " " + noun(n, one, many)
}

func noun(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func formatTime(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// duration shows a duration without trailing zero units: 6h, 1h30m, 45m.
func duration(d time.Duration) string {
	s := d.String()
	if d%time.Minute == 0 {
		s = strings.TrimSuffix(s, "0s")
	}
	if d%time.Hour == 0 {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// in names the configuration file a setting is in, when it is known.
func in(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// quote quotes a path for pasting into a shell when it needs it; double quotes work in cmd, PowerShell and POSIX
// shells alike.
func quote(p string) string {
	if strings.ContainsAny(p, " \t'\"&;()") {
		return `"` + p + `"`
	}
	return p
}
