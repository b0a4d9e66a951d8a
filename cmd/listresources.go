package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
	calsync "tfsync/sync"
	"tfsync/tf"
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
	// linkedEvents are the ids of the events linked in the mailbox: not another installation's.
	linkedEvents map[string]bool
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
	src, resources, err := openResources(ctx, f, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	// Without a store the resources are still listed, none of them linked or synced yet.
	stored, err := readStoredState(ctx, f, cfg, 0)
	if err != nil {
		return err
	}
	settings := Settings(cfg)
	rows := resourceRows(resources, settings, stored)
	var checkErr error
	if opts.Check {
		installation, err := installationID(ctx, src, false)
		if err != nil {
			return err
		}
		cal, err := f.NewCalendar(ctx, cfg)
		if err != nil {
			return err
		}
		defer cal.Close()
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
					installation, rows[i].linkedEvents)
				if err != nil {
					rows[i].Check = "reachable, but its events could not be read: " + err.Error()
				} else if text := foreignText(rows[i].Foreign); text != "" {
					rows[i].Check = "ok; " + text
				}
			}
		}
	}
	if err := printResources(f.printer(), cfg, rows, stored.problems, opts.Check); err != nil {
		return err
	}
	return checkErr
}

// resourceRows joins TF's resources with what the store has for their mailboxes.
func resourceRows(resources []tf.Resource, settings calsync.Settings, stored storedState) []resourceRow {
	linked := map[string]int{}
	linkedEvents := map[string]map[string]bool{}
	for _, l := range stored.links {
		if !l.Detached {
			linked[l.Mailbox]++
		}
		if linkedEvents[l.Mailbox] == nil {
			linkedEvents[l.Mailbox] = map[string]bool{}
		}
		linkedEvents[l.Mailbox][l.EventID] = true
	}
	rows := make([]resourceRow, 0, len(resources))
	for _, r := range resources {
		row := resourceRow{ID: r.ID, Name: r.Name, SyncEnabled: r.SyncEnabled, Email: r.Email}
		mb, skip := settings.Mailbox(r)
		if skip != "" {
			row.Problem = skip
		} else {
			row.Mailbox = mb
			row.Linked = linked[mb]
			row.LastSync = stored.states[mb].LastSync
			row.LastError = stored.states[mb].LastError
			row.linkedEvents = linkedEvents[mb]
		}
		rows = append(rows, row)
	}
	return rows
}

// printResources writes the rows as resourceJSON or as a table, with --check's column.
func printResources(p *printer, cfg *config.Config, rows []resourceRow, problems []calsync.BookingProblem, check bool) error {
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
		return p.Result(out)
	}
	header := []any{"ID", "NAME", "SYNC", "E-MAIL", "LINKED", zoneHeader("LAST SYNC", cfg.TF.TimeZone), "STATUS"}
	if check {
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
		if check {
			row = append(row, r.Check)
		}
		t.Row(row...)
	}
	t.Flush()
	printBookingProblems(p.Text(), problems, cfg.TF.TimeZone)
	return nil
}
