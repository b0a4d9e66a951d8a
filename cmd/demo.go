package cmd

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/tf"
	"tfsync/tf/demo"
)

// DemoOptions are demo's flags.
type DemoOptions struct {
	Dir  string // where the demo's TF database, state store and config go; empty: a temporary folder
	Keep bool   // keep the temporary folder
	Mode string // graph or ews
}

// NewCmdDemo wires `tfsync demo`.
func NewCmdDemo(f *Factory, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on demo data against the built-in Exchange emulator (no network needed)",
		Long: `demo creates a TF database with demo bookings, starts the built-in Exchange emulator, runs a sync pass,
moves a booking in a technician's calendar as the technician would in Outlook, runs a second pass that writes the
new time back to TF, and shows the TF row. Nothing outside this machine is contacted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Mode != "graph" && opts.Mode != "ews" {
				return &usageError{fmt.Sprintf("--mode %q is not valid: use graph or ews", opts.Mode)}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			// The demo's story is on stdout; per-action log lines would drown it unless asked for.
			if fl := cmd.Flags().Lookup("log-level"); fl != nil && !fl.Changed {
				f.LogLevel = "warn"
			}
			return runDemo(cmd.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.Dir, "dir", "", "folder for the demo's files (default: a temporary folder, removed afterwards)")
	c.Flags().BoolVar(&opts.Keep, "keep", false, "keep the temporary folder and print its path")
	c.Flags().StringVar(&opts.Mode, "mode", "graph", "which backend the demo uses: graph or ews")
	return c
}

func runDemo(ctx context.Context, f *Factory, opts *DemoOptions) error {
	// The story is for people: with --output json it goes to stderr, and stdout gets the facts it showed.
	p := f.printer()
	w := p.Text()
	dir, cleanup, err := demoDir(opts)
	if err != nil {
		return err
	}
	defer cleanup()
	now := f.Now()
	tfDB := filepath.Join(dir, "tf.db")
	if _, err := os.Stat(tfDB); err == nil {
		return fmt.Errorf("%s already holds a TF database: give --dir an empty folder", dir)
	}
	if err := seedDemo(ctx, tfDB, now, mustStockholm()); err != nil {
		return err
	}
	emu, err := setupEmulator(ctx, f, "127.0.0.1:0", dir, tfDB, nil)
	if err != nil {
		return err
	}
	defer emu.Close()
	em := emu.em
	cfgPath := filepath.Join(dir, "tfsync.toml")
	if err := os.WriteFile(cfgPath, []byte(emu.configTOML(opts.Mode)), 0o600); err != nil {
		return fmt.Errorf("write the demo configuration: %w", err)
	}
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("the demo's own configuration: %w", err)
	}
	src, err := tf.OpenSQLite(cfg.TF.Database, tf.SQLiteOptions{Zone: cfg.TF.TimeZone, Now: f.Now})
	if err != nil {
		return err
	}
	resources, err := src.Resources(ctx)
	src.Close()
	if err != nil {
		return err
	}

	df := *f
	df.ConfigPath = cfgPath
	df.NewCalendar = emu.calendarFor
	df.Output = "text"
	df.IO = &IOStreams{In: f.IO.In, Out: w, ErrOut: f.IO.ErrOut, ErrTTY: f.IO.ErrTTY}

	backend := "Microsoft Graph (calendarView delta, $batch) with an Entra ID client secret"
	if opts.Mode == "ews" {
		backend = "EWS (SyncFolderItems, NTLM, impersonation)"
	}
	fmt.Fprintf(w, "tfsync demo: TF database %s; %d emulated mailboxes at %s, reached over HTTPS through %s.\n",
		tfDB, len(emu.mailboxes), emu.srv.URL, backend)
	if opts.Keep || opts.Dir != "" {
		fmt.Fprintf(w, "Files are kept in %s (config: %s).\n", dir, cfgPath)
	}

	fmt.Fprintf(w, "\n== Pass 1: TF's bookings go to the technicians' calendars\n\n")
	if err := demoPass(ctx, &df); err != nil {
		return err
	}
	anna := demo.MovedBy
	fmt.Fprintf(w, "\n== %s's calendar now\n\n", anna)
	printCalendar(w, em.Events(anna), cfg.TF.TimeZone)

	newStart, err := demoMove(w, em, anna, cfg.TF.TimeZone)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "\n== Pass 2: the new time flows back to TF\n\n")
	if err := demoPass(ctx, &df); err != nil {
		return err
	}
	if err := printTFRow(ctx, w, cfg, demo.MovedBooking); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n== Pass 3: nothing changed, so nothing is done\n\n")
	if err := demoPass(ctx, &df); err != nil {
		return err
	}
	outside := 0
	for _, r := range resources {
		if mb := strings.ToLower(strings.TrimSpace(r.Email)); mb != "" && !Settings(cfg).DomainAllowed(mb) {
			outside += em.Requests(mb)
		}
	}
	fmt.Fprintf(w, "\nRequests sent to mailboxes outside allowed_domains: %d.\n", outside)
	if p.JSON() {
		return p.Result(struct {
			Mode                  string    `json:"mode"`
			Mailboxes             []string  `json:"mailboxes"`
			MovedBooking          string    `json:"moved_booking"`
			MovedTo               zonedTime `json:"moved_to"`
			RequestsOutsideDomain int       `json:"requests_outside_allowed_domains"`
		}{opts.Mode, append([]string{}, emu.mailboxes...), demo.MovedBooking, inZone(newStart, cfg.TF.TimeZone), outside})
	}
	return nil
}

func demoPass(ctx context.Context, f *Factory) error {
	err := runSync(ctx, f, &SyncOptions{})
	if err != nil && ExitCode(err) != exitcode.OK {
		return err
	}
	return nil
}

func seedDemo(ctx context.Context, path string, now time.Time, zone *time.Location) error {
	if err := tf.CreateSchema(ctx, path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := demo.Seed(ctx, db, now, zone); err != nil {
		return fmt.Errorf("load the demo data: %w", err)
	}
	return nil
}

func printCalendar(w io.Writer, events []exchange.Event, zone *time.Location) {
	sort.Slice(events, func(i, j int) bool { return events[i].Start.Before(events[j].Start) })
	t := newTable(w, zoneHeader("WHEN", zone), "SUBJECT", "BOOKING")
	for _, ev := range events {
		when := ev.Start.In(zone).Format("Mon 2 Jan 15:04") + "-" + ev.End.In(zone).Format("15:04")
		if ev.AllDay {
			when = ev.Start.In(zone).Format("Mon 2 Jan") + " (all day)"
		}
		t.Row(when, ev.Subject, ev.BookingID)
	}
	t.Flush()
}

func printTFRow(ctx context.Context, w io.Writer, cfg *config.Config, id string) error {
	src, err := tf.OpenSQLite(cfg.TF.Database, tf.SQLiteOptions{Zone: cfg.TF.TimeZone})
	if err != nil {
		return err
	}
	defer src.Close()
	b, err := src.Booking(ctx, id, cfg.Sync.DefaultLength)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTF booking %s now: start %s, end %s, version %d.\n", id,
		b.Start.Format("2006-01-02 15:04"), b.End.Format("2006-01-02 15:04"), b.Version)
	audit, err := src.Audit(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTF's audit of %s (table tfsync_audit):\n", id)
	for _, a := range audit {
		fmt.Fprintf(w, "  %s  start %s -> %s, end %s -> %s, version %d -> %d, from %s\n",
			a.At.In(cfg.TF.TimeZone).Format("2006-01-02 15:04:05"), a.OldStart, a.NewStart, a.OldEnd, a.NewEnd, a.OldVersion, a.NewVersion, a.Mailbox)
	}
	return nil
}

// demoDir is the folder the demo writes to: --dir, made if missing, or a temporary one that cleanup removes unless
// --keep.
func demoDir(opts *DemoOptions) (dir string, cleanup func(), err error) {
	cleanup = func() {}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("make the demo folder: %w", err)
		}
		return opts.Dir, cleanup, nil
	}
	dir, err = os.MkdirTemp("", "tfsync-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("make a folder for the demo: %w", err)
	}
	if !opts.Keep {
		cleanup = func() { os.RemoveAll(dir) }
	}
	return dir, cleanup, nil
}

// demoMove drags the demo's booking to 13:00 the next day in anna's calendar, as she would in Outlook, and says so.
func demoMove(w io.Writer, em *emulator.Emulator, anna string, zone *time.Location) (time.Time, error) {
	var moved exchange.Event
	for _, ev := range em.Events(anna) {
		if ev.BookingID == demo.MovedBooking {
			moved = ev
		}
	}
	if moved.ID == "" {
		return time.Time{}, fmt.Errorf("demo: booking %s did not reach %s's calendar", demo.MovedBooking, anna)
	}
	y, m, d := moved.Start.In(zone).AddDate(0, 0, 1).Date()
	newStart := time.Date(y, m, d, 13, 0, 0, 0, zone)
	newEnd := newStart.Add(moved.End.Sub(moved.Start))
	if err := em.MoveEvent(anna, moved.ID, newStart, newEnd); err != nil {
		return time.Time{}, fmt.Errorf("demo: move the event: %w", err)
	}
	fmt.Fprintf(w, "\n== In Outlook, %s drags %q from %s to %s\n",
		anna, moved.Subject, moved.Start.In(zone).Format("Mon 2 Jan 15:04"), newStart.Format("Mon 2 Jan 15:04"))
	return newStart, nil
}
