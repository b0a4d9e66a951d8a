package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	calsync "tfsync/sync"
)

// ListResourcesOptions are list-resources' flags.
type ListResourcesOptions struct {
	Check bool
}

// NewCmdListResources wires `tfsync list-resources`.
func NewCmdListResources(f *Factory, runF func(context.Context, *ListResourcesOptions) error) *cobra.Command {
	opts := &ListResourcesOptions{}
	c := &cobra.Command{
		Use:   "list-resources",
		Short: "List TF's resources with their sync flag, e-mail check, linked bookings and last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runListResources(cmd.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.Check, "check", false, "also check that each enabled resource's calendar can be reached")
	return c
}

// resourceRow is one resource in list-resources' answer, before it is printed as text or as resourceJSON.
type resourceRow struct {
	ID          string
	Name        string
	SyncEnabled bool
	Email       string
	Mailbox     string
	Problem     string
	Linked      int
	LastSync    time.Time
	LastError   string
	Check       string
	// Foreign counts the events of other tfsync installations in the mailbox, by installation id (--check).
	Foreign map[string]int
}

// resourceJSON is one resource in list-resources' JSON (docs/json.md): every key is always there.
type resourceJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	SyncEnabled  bool      `json:"sync_enabled"`
	Email        string    `json:"email"`
	Mailbox      string    `json:"mailbox"`
	Problem      string    `json:"problem"`
	LinkedEvents int       `json:"linked_events"`
	LastSync     zonedTime `json:"last_sync"`
	LastError    string    `json:"last_error"`
	Check        string    `json:"check"`
	// OtherInstallations counts other tfsync installations' events in the mailbox, by installation id (with
	// --check; {} otherwise).
	OtherInstallations map[string]int `json:"other_installations"`
}

func runListResources(ctx context.Context, f *Factory, opts *ListResourcesOptions) error {
	ctx, _ = f.startRun(ctx)
	cfg, err := f.Config(ctx)
	if err != nil {
		return err
	}
	src, err := f.OpenSource(cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	resources, err := src.Resources(ctx)
	if err != nil {
		return fmt.Errorf("read resources from TF: %w", err)
	}
	// Read-only: never create or migrate the store the scheduler writes. Without one, the resources are still
	// listed, none of them linked or synced yet.
	links := map[string]calsync.Link{}
	states := map[string]calsync.MailboxState{}
	var problems []calsync.BookingProblem
	st, err := f.OpenStoreReadOnly(ctx, cfg)
	switch {
	case errors.Is(err, calsync.ErrStoreMissing):
		zerolog.Ctx(ctx).Warn().Str("path", cfg.State.Path).Msg("no state store yet: no sync pass has run with this configuration, so nothing is linked")
	case err != nil:
		return err
	default:
		defer st.Close()
		if links, err = st.Links(ctx); err != nil {
			return err
		}
		if states, err = st.MailboxStates(ctx); err != nil {
			return err
		}
		if problems, err = st.BookingProblems(ctx); err != nil {
			return err
		}
	}
	linked := map[string]int{}
	linkedEvents := map[string]map[string]bool{}
	for _, l := range links {
		if !l.Detached {
			linked[l.Mailbox]++
		}
		if linkedEvents[l.Mailbox] == nil {
			linkedEvents[l.Mailbox] = map[string]bool{}
		}
		linkedEvents[l.Mailbox][l.EventID] = true
	}
	settings := Settings(cfg)
	rows := make([]resourceRow, 0, len(resources))
	var checkErr error
	for _, r := range resources {
		row := resourceRow{ID: r.ID, Name: r.Name, SyncEnabled: r.SyncEnabled, Email: r.Email}
		mb, skip := settings.Mailbox(r)
		if skip != "" {
			row.Problem = skip
		} else {
			row.Mailbox = mb
			row.Linked = linked[mb]
			row.LastSync = states[mb].LastSync
			row.LastError = states[mb].LastError
		}
		rows = append(rows, row)
	}
	if opts.Check {
		installation, err := installationID(ctx, src, false)
		if err != nil {
			return err
		}
		cal, err := f.NewCalendar(ctx, cfg)
		if err != nil {
			return err
		}
		if c, ok := cal.(interface{ Close() error }); ok {
			defer c.Close()
		}
		for i := range rows {
			if !rows[i].SyncEnabled || rows[i].Mailbox == "" {
				continue
			}
			if err := cal.CheckAccess(ctx, rows[i].Mailbox); err != nil {
				rows[i].Check = err.Error()
				if checkErr == nil {
					checkErr = connErr(err)
				}
			} else {
				rows[i].Check = "ok"
				rows[i].Foreign, err = foreignEvents(ctx, cal, rows[i].Mailbox, settings.Window(f.Now()),
					installation, linkedEvents[rows[i].Mailbox])
				if err != nil {
					rows[i].Check = "reachable, but its events could not be read: " + err.Error()
				} else if text := foreignText(rows[i].Foreign); text != "" {
					rows[i].Check = "ok; " + text
				}
			}
		}
	}
	p := f.printer()
	if p.JSON() {
		out := struct {
			TimeZone  string         `json:"time_zone"`
			Resources []resourceJSON `json:"resources"`
		}{cfg.TF.ZoneName, make([]resourceJSON, 0, len(rows))}
		for _, r := range rows {
			out.Resources = append(out.Resources, resourceJSON{ID: r.ID, Name: r.Name, SyncEnabled: r.SyncEnabled, Email: r.Email,
				Mailbox: r.Mailbox, Problem: r.Problem, LinkedEvents: r.Linked, LastSync: inZone(r.LastSync, cfg.TF.TimeZone),
				LastError: r.LastError, Check: r.Check, OtherInstallations: map[string]int{}})
			for k, v := range r.Foreign {
				out.Resources[len(out.Resources)-1].OtherInstallations[k] = v
			}
		}
		if err := p.Result(out); err != nil {
			return err
		}
		return checkErr
	}
	header := []any{"ID", "NAME", "SYNC", "E-MAIL", "LINKED", zoneHeader("LAST SYNC", cfg.TF.TimeZone), "STATUS"}
	if opts.Check {
		header = append(header, "CHECK")
	}
	t := p.Table(header...)
	for _, r := range rows {
		sync := "no"
		if r.SyncEnabled {
			sync = "yes"
		}
		status := "ok"
		switch {
		case !r.SyncEnabled:
			status = "-"
		case r.Problem != "":
			status = "skipped: " + r.Problem
		case r.LastError != "":
			status = "error: " + r.LastError
		case r.LastSync.IsZero():
			status = "not synced yet"
		}
		last := timeText(r.LastSync, cfg.TF.TimeZone)
		email := r.Email
		if email == "" {
			email = "-"
		}
		row := []any{r.ID, r.Name, sync, email, r.Linked, last, status}
		if opts.Check {
			row = append(row, r.Check)
		}
		t.Row(row...)
	}
	t.Flush()
	printBookingProblems(p.Text(), problems, cfg.TF.TimeZone)
	return checkErr
}
