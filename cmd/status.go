package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	calsync "tfsync/sync"
)

// StatusOptions are status's flags.
type StatusOptions struct {
	Runs int
}

// NewCmdStatus wires `tfsync status`.
func NewCmdStatus(f *Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the last passes, each mailbox's health and any deletes held back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Runs < 1 {
				return &usageError{"--runs must be at least 1"}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStatus(cmd.Context(), f, opts)
		},
	}
	c.Flags().IntVar(&opts.Runs, "runs", 10, "how many recent passes to show")
	return c
}

type statusRun struct {
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	ExitCode int       `json:"exit_code"`
	Error    string    `json:"error,omitempty"`
	Changes  int       `json:"changes"`
}

type statusMailbox struct {
	Mailbox             string    `json:"mailbox"`
	LastSync            time.Time `json:"last_sync,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	HeldDeletes         int       `json:"held_deletes"`
	Linked              int       `json:"linked_events"`
}

func runStatus(ctx context.Context, f *Factory, opts *StatusOptions) error {
	ctx, _ = f.startRun(ctx)
	cfg, err := f.Config(ctx)
	if err != nil {
		return err
	}
	st, err := f.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	records, err := st.Runs(ctx, opts.Runs)
	if err != nil {
		return err
	}
	states, err := st.MailboxStates(ctx)
	if err != nil {
		return err
	}
	links, err := st.Links(ctx)
	if err != nil {
		return err
	}
	problems, err := st.BookingProblems(ctx)
	if err != nil {
		return err
	}
	var out struct {
		Runs      []statusRun     `json:"runs"`
		Mailboxes []statusMailbox `json:"mailboxes"`
		Held      int             `json:"held_deletes"`
		Warnings  []string        `json:"warnings"` // credential expiry; never null
		// Problems are bookings left alone until someone acts (bad TF rows, refused for good, old events).
		Problems []calsync.BookingProblem `json:"booking_problems,omitempty"`
	}
	out.Warnings = credentialWarnings(cfg, f.Now())
	out.Problems = problems
	for _, r := range records {
		sr := statusRun{ID: r.ID, Started: r.StartedAt, Finished: r.FinishedAt, ExitCode: r.ExitCode}
		var sum struct {
			Report *struct {
				Mailboxes []struct{ Created, Updated, Deleted, MovedInTF int } `json:"mailboxes"`
			} `json:"report"`
			Error string `json:"error"`
		}
		if json.Unmarshal(r.Summary, &sum) == nil {
			sr.Error = sum.Error
			if sum.Report != nil {
				for _, m := range sum.Report.Mailboxes {
					sr.Changes += m.Created + m.Updated + m.Deleted + m.MovedInTF
				}
			}
		}
		out.Runs = append(out.Runs, sr)
	}
	linked := map[string]int{}
	for _, l := range links {
		if !l.Detached {
			linked[l.Mailbox]++
		}
	}
	for mb, s := range states {
		out.Mailboxes = append(out.Mailboxes, statusMailbox{Mailbox: mb, LastSync: s.LastSync, LastError: s.LastError,
			ConsecutiveFailures: s.ConsecutiveFailures, HeldDeletes: s.HeldDeletes, Linked: linked[mb]})
		out.Held += s.HeldDeletes
	}
	sort.Slice(out.Mailboxes, func(i, j int) bool { return out.Mailboxes[i].Mailbox < out.Mailboxes[j].Mailbox })
	if f.Output == "json" {
		// Times in [tf] time_zone's offset, like every JSON time (docs/json.md).
		for i := range out.Runs {
			out.Runs[i].Started = out.Runs[i].Started.In(cfg.TF.TimeZone)
			out.Runs[i].Finished = out.Runs[i].Finished.In(cfg.TF.TimeZone)
		}
		for i := range out.Mailboxes {
			out.Mailboxes[i].LastSync = out.Mailboxes[i].LastSync.In(cfg.TF.TimeZone)
		}
		for i := range out.Problems {
			out.Problems[i].Since = out.Problems[i].Since.In(cfg.TF.TimeZone)
		}
		if out.Runs == nil {
			out.Runs = []statusRun{}
		}
		if out.Mailboxes == nil {
			out.Mailboxes = []statusMailbox{}
		}
		return f.setJSON(out)
	}
	w := f.IO.Out
	zone := cfg.TF.TimeZone
	for _, warn := range out.Warnings {
		fmt.Fprintf(w, "Warning: %s.\n\n", warn)
	}
	fmt.Fprintln(w, "Last passes:")
	t := newTable(w)
	fmt.Fprintf(t, "%s\tTOOK\tEXIT\tCHANGES\tERROR\n", zoneHeader("STARTED", zone))
	for _, r := range out.Runs {
		took := "-"
		if !r.Finished.IsZero() {
			took = r.Finished.Sub(r.Started).Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(t, "%s\t%s\t%d\t%d\t%s\n", r.Started.In(zone).Format("2006-01-02 15:04:05"), took, r.ExitCode, r.Changes, r.Error)
	}
	t.Flush()
	if len(out.Runs) == 0 {
		fmt.Fprintln(w, "  (no pass has run yet)")
	}
	fmt.Fprintln(w, "\nMailboxes:")
	t = newTable(w)
	fmt.Fprintf(t, "MAILBOX\tLINKED\t%s\tHELD DELETES\tSTATUS\n", zoneHeader("LAST SYNC", zone))
	for _, m := range out.Mailboxes {
		last := "-"
		if !m.LastSync.IsZero() {
			last = m.LastSync.In(zone).Format("2006-01-02 15:04")
		}
		status := "ok"
		if m.LastError != "" {
			status = fmt.Sprintf("failing (%d passes): %s", m.ConsecutiveFailures, m.LastError)
		}
		fmt.Fprintf(t, "%s\t%d\t%s\t%d\t%s\n", m.Mailbox, m.Linked, last, m.HeldDeletes, status)
	}
	t.Flush()
	if out.Held > 0 {
		fmt.Fprintf(w, "\n%d deletes are held back. Check them with 'tfsync dry-run'; apply them with 'tfsync sync --force'.\n", out.Held)
	}
	printBookingProblems(w, out.Problems, zone)
	return nil
}
