package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	calsync "tfsync/sync"
	"tfsync/tf"
)

// ShowOptions are show's flags.
type ShowOptions struct {
	Resource string // a TF resource id or an e-mail address
	Booking  string
}

// NewCmdShow wires `tfsync show`: what tfsync has for one technician or one booking.
func NewCmdShow(f *Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{}
	c := &cobra.Command{
		Use:   "show",
		Short: "Show what tfsync has for one technician (--resource) or one booking (--booking)",
		Long: `show answers "what does tfsync have for Anna?" from TF and the state store, without contacting Exchange:
each booking with its time in TF and in the calendar (as last seen), when its event was last written, actions
the last pass held back or could not apply, and the mailbox's last error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (opts.Resource == "") == (opts.Booking == "") {
				return &usageError{"give exactly one of --resource ID|e-mail and --booking ID"}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.Resource, "resource", "", "a TF resource id (RES-101) or its e-mail address")
	c.Flags().StringVar(&opts.Booking, "booking", "", "a TF booking id (BES-10233)")
	return c
}

// showResult is show's JSON result (docs/json.md).
type showResult struct {
	TimeZone string        `json:"time_zone"`
	Resource *showResource `json:"resource"` // null for --booking of a booking whose resource TF no longer has
	Mailbox  *showMailbox  `json:"mailbox"`  // null when the resource is not synced
	LastRun  *showRun      `json:"last_run"` // the pass whose report the actions come from; null before any
	Bookings []showBooking `json:"bookings"`
}

type showResource struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	SyncEnabled bool   `json:"sync_enabled"`
	Problem     string `json:"problem"` // why it is not synced; "" when it is
}

type showMailbox struct {
	Mailbox             string    `json:"mailbox"`
	LastSync            zonedTime `json:"last_sync"`
	LastError           string    `json:"last_error"`
	LastErrorAt         zonedTime `json:"last_error_at"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	HeldDeletes         int       `json:"held_deletes"`
	LinkedEvents        int       `json:"linked_events"`
}

type showRun struct {
	ID       string    `json:"id"`
	Started  zonedTime `json:"started"`
	ExitCode int       `json:"exit_code"`
}

type showBooking struct {
	BookingID   string     `json:"booking_id"`
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	TFStatus    string     `json:"tf_status"` // planned | done | cancelled; "" when TF no longer has it
	Mailbox     string     `json:"mailbox"`
	Linked      bool       `json:"linked"`
	Detached    bool       `json:"detached"`
	EventID     string     `json:"event_id"`
	TF          *jsonSpan  `json:"tf"`       // null when TF no longer has the booking
	Calendar    *jsonSpan  `json:"calendar"` // the event's time as last seen; null when not linked
	InStep      bool       `json:"in_step"`
	LastWritten zonedTime  `json:"last_written"`
	Pending     []showAct  `json:"pending"`  // held back or not yet confirmed
	Failures    []showAct  `json:"failures"` // actions of the last pass that failed
	state       string     // for the text table
	tfSpan      tf.Booking // for the text table
	link        calsync.Link
}

type showAct struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
	Held   bool   `json:"held"`
	Error  string `json:"error"`
}

func runShow(ctx context.Context, f *Factory, opts *ShowOptions) error {
	ctx, _ = f.startRun(ctx)
	cfg, err := f.Config(ctx)
	if err != nil {
		return err
	}
	zone := cfg.TF.TimeZone
	settings := Settings(cfg)
	src, resources, err := openResources(ctx, f, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	// The newest runs' reports say what the last pass that covered the mailbox held back or could not apply.
	stored, err := readStoredState(ctx, f, cfg, 50)
	if err != nil {
		return err
	}
	links := stored.links

	res := showResult{TimeZone: cfg.TF.ZoneName, Bookings: []showBooking{}}
	var resource *tf.Resource
	var bookingIDs []string
	if opts.Resource != "" {
		if resource = findResource(resources, opts.Resource); resource == nil {
			return &usageError{fmt.Sprintf("TF has no resource with id or e-mail %q: see 'tfsync list-resources' (Inställningar -> Grunddata -> Resurser)", strings.TrimSpace(opts.Resource))}
		}
	}

	q, mailbox := showQuery(settings, f.Now(), resource, links, opts.Booking)
	set, err := src.Bookings(ctx, q)
	if err != nil {
		return fmt.Errorf("read bookings from TF: %w", err)
	}
	byID := map[string]tf.Booking{}
	for _, b := range set.Bookings {
		switch {
		case resource != nil && b.ResourceID == resource.ID, resource != nil && links[b.ID].Mailbox == mailbox && mailbox != "":
		case resource == nil && b.ID == opts.Booking:
		default:
			continue
		}
		byID[b.ID] = b
		bookingIDs = append(bookingIDs, b.ID)
	}
	if resource == nil {
		if resource, mailbox, err = bookingResource(opts.Booking, links, byID, bookingIDs, resources, settings); err != nil {
			return err
		}
	}
	if resource != nil {
		_, problem := settings.Mailbox(*resource)
		res.Resource = &showResource{ID: resource.ID, Name: resource.Name, Email: resource.Email, SyncEnabled: resource.SyncEnabled, Problem: problem}
		if !resource.SyncEnabled && problem == "" {
			res.Resource.Problem = "not enabled for sync in TF"
		}
	}
	for _, l := range links {
		if (opts.Booking != "" && l.BookingID == opts.Booking) || (opts.Booking == "" && mailbox != "" && l.Mailbox == mailbox) {
			if _, ok := byID[l.BookingID]; !ok {
				bookingIDs = append(bookingIDs, l.BookingID)
			}
		}
	}
	slices.Sort(bookingIDs)
	bookingIDs = slices.Compact(bookingIDs)

	if mailbox != "" {
		res.Mailbox = showMailboxOf(mailbox, stored, zone)
	}

	report, lastRun := lastRunCovering(stored.runs, mailbox, zone)
	res.LastRun = lastRun
	for _, id := range bookingIDs {
		res.Bookings = append(res.Bookings, showBookingOf(id, byID, mailbox, stored, report, zone))
	}

	p := f.printer()
	if p.JSON() {
		return p.Result(res)
	}
	printShow(p.Text(), &res, zone)
	return nil
}

// findResource finds a resource by its TF id or its e-mail address (in any case); nil when TF has none.
func findResource(resources []tf.Resource, idOrEmail string) *tf.Resource {
	want := strings.TrimSpace(idOrEmail)
	for i, r := range resources {
		if r.ID == want || (r.Email != "" && strings.EqualFold(strings.TrimSpace(r.Email), want)) {
			return &resources[i]
		}
	}
	return nil
}

// covers reports whether the run's pass read mailbox; any pass covers "" (a booking without a mailbox).
func (s runSummary) covers(mailbox string) bool {
	covers := mailbox == ""
	for _, m := range s.Report.Mailboxes {
		covers = covers || m.Mailbox == mailbox
	}
	return covers
}

// showMailboxOf is what the store has for one mailbox.
func showMailboxOf(mailbox string, stored storedState, zone *time.Location) *showMailbox {
	s := stored.states[mailbox]
	linked := 0
	for _, l := range stored.links {
		if l.Mailbox == mailbox && !l.Detached {
			linked++
		}
	}
	return &showMailbox{Mailbox: mailbox, LastSync: inZone(s.LastSync, zone), LastError: s.LastError,
		LastErrorAt: inZone(s.LastErrorAt, zone), ConsecutiveFailures: s.ConsecutiveFailures, HeldDeletes: s.HeldDeletes,
		LinkedEvents: linked}
}

// showBookingOf is one booking as TF (byID), the store and the last pass's report (report) have it.
func showBookingOf(id string, byID map[string]tf.Booking, mailbox string, stored storedState, report runSummary, zone *time.Location) showBooking {
	sb := showBooking{BookingID: id, Pending: []showAct{}, Failures: []showAct{}}
	if b, ok := byID[id]; ok {
		sb.Kind, sb.Title, sb.TFStatus = string(b.Kind), b.Title, string(b.Status)
		span := spanJSON(b.Start, b.End, b.AllDay, zone)
		sb.TF, sb.tfSpan = &span, b
	}
	sb.Mailbox = mailbox
	if l, ok := stored.links[id]; ok {
		sb.Linked, sb.Detached, sb.EventID, sb.Mailbox, sb.link = true, l.Detached, l.EventID, l.Mailbox, l
		span := spanJSON(l.EvStart, l.EvEnd, l.AllDay, zone)
		sb.Calendar = &span
		sb.LastWritten = inZone(l.UpdatedAt, zone)
		if b, ok := byID[id]; ok {
			sb.InStep = b.AllDay == l.AllDay && b.Start.Equal(l.EvStart) && b.End.Equal(l.EvEnd)
			if b.AllDay && l.AllDay {
				sb.InStep = b.Start.In(zone).Format("2006-01-02") == l.EvStart.In(zone).Format("2006-01-02") &&
					b.End.In(zone).Format("2006-01-02") == l.EvEnd.In(zone).Format("2006-01-02")
			}
		}
	}
	for _, p := range stored.pending {
		if p.BookingID == id {
			sb.Pending = append(sb.Pending, showAct{Action: "create", Reason: "sent to " + p.Mailbox + " but not confirmed: the next pass looks for it before creating again"})
		}
	}
	if report.Report != nil {
		for _, r := range report.Report.Results {
			if r.BookingID != id {
				continue
			}
			a := showAct{Action: string(r.Kind), Reason: r.Reason, Held: r.Held, Error: r.Error}
			switch {
			case r.Error != "":
				sb.Failures = append(sb.Failures, a)
			case r.Held:
				sb.Pending = append(sb.Pending, a)
			}
		}
	}
	sb.state = showState(sb)
	return sb
}

func showState(b showBooking) string {
	switch {
	case len(b.Failures) > 0:
		return "failed: " + b.Failures[0].Error
	case len(b.Pending) > 0 && b.Pending[0].Held:
		return b.Pending[0].Action + " held back by max_delete_percent (tfsync sync --force applies it)"
	case len(b.Pending) > 0:
		return b.Pending[0].Action + " pending"
	case b.Detached:
		return "detached: no longer synced to this calendar"
	case !b.Linked && b.TFStatus == string(tf.StatusCancelled):
		return "cancelled in TF: not synced"
	case !b.Linked && b.TFStatus == string(tf.StatusDone):
		return "done in TF: not synced"
	case !b.Linked && b.TF != nil:
		return "not in the calendar yet"
	case b.Linked && b.TF == nil:
		return "not in TF's window any more"
	case b.Linked && !b.InStep:
		return "times differ: the next pass settles them"
	default:
		return "in step"
	}
}

func printShow(w io.Writer, res *showResult, zone *time.Location) {
	if r := res.Resource; r != nil {
		fmt.Fprintf(w, "Resource %s, %s", r.ID, r.Name)
		if r.Email != "" {
			fmt.Fprintf(w, " <%s>", r.Email)
		}
		fmt.Fprintln(w)
		if r.Problem != "" {
			fmt.Fprintf(w, "Not synced: %s\n", r.Problem)
		}
	}
	if m := res.Mailbox; m != nil {
		fmt.Fprintf(w, "Mailbox %s: %d linked events, last sync %s (%s)\n", m.Mailbox, m.LinkedEvents, timeText(m.LastSync.t, zone), zone)
		if m.LastError != "" {
			fmt.Fprintf(w, "Last error (%d passes in a row, since %s): %s\n", m.ConsecutiveFailures, timeText(m.LastErrorAt.t, zone), m.LastError)
		}
		if m.HeldDeletes > 0 {
			fmt.Fprintf(w, "%d deletes held back in this mailbox: check with 'tfsync dry-run', apply with 'tfsync sync --force'.\n", m.HeldDeletes)
		}
	}
	if res.LastRun != nil {
		fmt.Fprintf(w, "Actions below are from the last pass, run %s at %s.\n", res.LastRun.ID, timeText(res.LastRun.Started.t, zone))
	}
	fmt.Fprintln(w)
	if len(res.Bookings) == 0 {
		fmt.Fprintln(w, "No bookings in the sync window and no linked events.")
		return
	}
	t := newTable(w, "BOOKING", zoneHeader("IN TF", zone), "IN THE CALENDAR", "LAST WRITTEN", "STATE")
	for _, b := range res.Bookings {
		tfWhen := "(not in TF)"
		if b.TF != nil {
			tfWhen = spanText(b.tfSpan.Start, b.tfSpan.End, b.tfSpan.AllDay, zone)
		}
		calWhen := "-"
		if b.Calendar != nil {
			calWhen = spanText(b.link.EvStart, b.link.EvEnd, b.link.AllDay, zone)
		}
		t.Row(b.BookingID, tfWhen, calWhen, timeText(b.LastWritten.t, zone), b.state)
	}
	t.Flush()
}

// showQuery asks TF for the resource's bookings in the sync window and every booking linked to its mailbox, or,
// without a resource, for the one booking asked for.
func showQuery(settings calsync.Settings, now time.Time, resource *tf.Resource, links map[string]calsync.Link, booking string) (q tf.Query, mailbox string) {
	window := settings.Window(now)
	// Kinds as a pass reads them: without kinds TF returns no window bookings, only the linked ones.
	q = tf.Query{Window: tf.Window{Start: window.Start, End: window.End}, Kinds: settings.Kinds, DefaultLength: settings.DefaultLength}
	if resource != nil {
		mailbox, _ = settings.Mailbox(*resource)
		for _, l := range links {
			if mailbox != "" && l.Mailbox == mailbox {
				q.AlsoIDs = append(q.AlsoIDs, l.BookingID)
			}
		}
	} else {
		q.AlsoIDs = []string{booking}
		q.Window = tf.Window{Start: window.Start, End: window.Start} // only the booking asked for
	}
	sort.Strings(q.AlsoIDs)
	return q, mailbox
}

// bookingResource finds the resource and mailbox of the booking asked for: its resource in TF, or the mailbox its
// link names when TF no longer has it.
func bookingResource(booking string, links map[string]calsync.Link, byID map[string]tf.Booking, bookingIDs []string,
	resources []tf.Resource, settings calsync.Settings) (resource *tf.Resource, mailbox string, err error) {
	if _, linked := links[booking]; !linked && len(bookingIDs) == 0 {
		return nil, "", &usageError{fmt.Sprintf("neither TF nor tfsync's store has booking %q: check the id in TF", booking)}
	}
	if b, ok := byID[booking]; ok {
		for i, r := range resources {
			if r.ID == b.ResourceID {
				resource = &resources[i]
			}
		}
	}
	if resource != nil {
		mailbox, _ = settings.Mailbox(*resource)
	}
	if l, ok := links[booking]; ok && mailbox == "" {
		mailbox = l.Mailbox
	}
	return resource, mailbox, nil
}

// lastRunCovering finds the newest pass that covered the mailbox: it says what was held back or failed there.
func lastRunCovering(runs []calsync.RunRecord, mailbox string, zone *time.Location) (runSummary, *showRun) {
	for _, r := range runs {
		if rr := readRunSummary(r); rr.Report != nil && rr.covers(mailbox) {
			return rr, &showRun{ID: r.ID, Started: inZone(r.StartedAt, zone), ExitCode: r.ExitCode}
		}
	}
	return runSummary{}, nil
}
