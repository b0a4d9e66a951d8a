package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// TestConnectionOptions are test-connection's flags.
type TestConnectionOptions struct {
	RoundTrip string // --round-trip: the mailbox to create, read, move and delete a test event in
}

// NewCmdTestConnection wires `tfsync test-connection`, TF's "Testa uppkoppling".
func NewCmdTestConnection(f *Factory, runF func(context.Context, *TestConnectionOptions) error) *cobra.Command {
	opts := &TestConnectionOptions{}
	cmd := &cobra.Command{
		Use:   "test-connection",
		Short: "Check the configuration, the TF database, the credentials and each synced calendar",
		Long: `test-connection is TF's "Testa uppkoppling": it checks the configuration, the TF database, the
credentials (the Entra ID app, or the EWS service account) and every enabled resource's calendar, and explains
each failure with what to fix and where. At least one resource must be enabled for sync. With --round-trip MAILBOX
it then creates one event of its own in that mailbox, reads it back through the change feed, moves it, reads the
move and deletes it, timing each step; after a failure it deletes the event again and touches no other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runTestConnection(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.RoundTrip, "round-trip", "", "also create, read back, move and delete one test event of tfsync's own in this mailbox")
	return cmd
}

// Check is one line of test-connection's answer.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped"`
	Warning bool   `json:"warning"` // passed, but needs attention soon (a credential about to expire)
	Message string `json:"message"`
	err     error
}

type checkList struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

func (l *checkList) add(name string, err error, okMsg string) bool {
	c := Check{Name: name, OK: err == nil, Message: okMsg, err: err}
	if err != nil {
		c.Message = err.Error()
	}
	l.Checks = append(l.Checks, c)
	return err == nil
}

// firstError is the failure that decides the exit code.
func (l *checkList) firstError() error {
	for _, c := range l.Checks {
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

func runTestConnection(ctx context.Context, f *Factory, opts *TestConnectionOptions) error {
	ctx, _ = f.startRun(ctx)
	var list checkList
	defer func() {
		list.OK = list.firstError() == nil
		printChecks(f, &list)
	}()

	cfg, err := f.Config(ctx)
	if !list.add("configuration", err, "read "+f.ConfigPath) {
		return connErr(list.firstError())
	}
	list.Checks[0].Message = "read " + cfg.Path
	if err := cfg.CheckSecrets(); !list.add("secrets", err, "every secret resolves (values not shown)") {
		return connErr(list.firstError())
	}

	if w := credentialExpiryOf(cfg).Warning(f.Now(), cfg.TF.TimeZone); w != "" {
		list.Checks = append(list.Checks, Check{Name: "credential expiry", OK: true, Warning: true, Message: w})
	}

	src, err := f.OpenSource(cfg)
	if !list.add("TF database", err, cfg.TF.Database) {
		return connErr(list.firstError())
	}
	defer src.Close()
	resources, err := src.Resources(ctx)
	if !list.add("TF resources", err, "") {
		return connErr(list.firstError())
	}
	settings := Settings(cfg)
	var mailboxes []tf.Resource
	var skipped []Check
	enabled := 0
	for _, r := range resources {
		if !r.SyncEnabled {
			continue
		}
		enabled++
		if _, skip := settings.Mailbox(r); skip != "" {
			skipped = append(skipped, Check{Name: "resource " + r.ID, OK: true, Skipped: true, Message: r.Name + ": skipped, " + skip})
			continue
		}
		mailboxes = append(mailboxes, r)
	}
	last := &list.Checks[len(list.Checks)-1]
	if enabled == 0 {
		last.OK = false
		last.err = errors.New("no resource is enabled for sync: select at least one in TF (Inställningar -> Grunddata -> Resurser, sync_enabled = 1)")
		last.Message = last.err.Error()
		return connErr(list.firstError())
	}
	last.Message = fmt.Sprintf("%d resources, %d enabled for sync, %d with a usable e-mail", len(resources), enabled, len(mailboxes))
	list.Checks = append(list.Checks, skipped...)
	installation, err := installationID(ctx, src, false)
	list.add("installation", err, installationMessage(installation))

	f.checkWriteAccess(ctx, cfg, src, &list)

	cal, err := f.NewCalendar(ctx, cfg)
	if !list.add("calendar backend", err, cfg.Exchange.Mode) {
		return connErr(list.firstError())
	}
	defer cal.Close()
	if ch, ok := cal.(exchange.Checker); ok {
		if !list.add("credentials", explainExpired(cfg, f.Now(), ch.CheckCredentials(ctx)), credentialsOK(cfg)) {
			return connErr(list.firstError())
		}
	}
	for _, r := range mailboxes {
		mb, _ := settings.Mailbox(r)
		err := cal.CheckAccess(ctx, mb)
		msg := fmt.Sprintf("%s: can read and write the calendar", r.Name)
		if err == nil {
			// Another installation's events here are worth knowing about, not a failure.
			if foreign, ferr := foreignEvents(ctx, cal, mb, settings.Window(f.Now()), installation, nil); ferr == nil {
				if text := foreignText(foreign); text != "" {
					msg += "; " + text
				}
			}
		}
		list.add("calendar "+mb, err, msg)
	}
	if opts.RoundTrip != "" && list.firstError() == nil {
		runRoundTrip(ctx, f, cfg, cal, opts.RoundTrip, &list)
	}
	return connErr(list.firstError())
}

// checkWriteAccess adds the checks that this account may write what a pass writes: TF's database (a rolled-back
// write), the state store and its folder, and that no other state store serves this TF database. The store is
// opened read-only and never created here.
func (f *Factory) checkWriteAccess(ctx context.Context, cfg *config.Config, src tf.Source, list *checkList) {
	account := calsync.CurrentAccount()
	if w, ok := src.(interface{ CheckWritable(context.Context) error }); ok {
		list.add("TF write access", w.CheckWritable(ctx), fmt.Sprintf("%s may write %s (checked with a write that was rolled back)", account, cfg.TF.Database))
	}
	st, err := f.OpenStoreReadOnly(ctx, cfg)
	msg := cfg.State.Path
	switch {
	case errors.Is(err, calsync.ErrStoreMissing):
		err, msg = nil, cfg.State.Path+" does not exist yet; the first `tfsync sync` creates it"
	case err == nil:
		st.Close()
	}
	list.add("state store", err, msg)
	list.add("state store access", f.CheckStoreWritable(cfg),
		fmt.Sprintf("%s may write the folder %s and the store's files in it", account, filepath.Dir(cfg.State.Path)))
	if msg, err := storeClaimStatus(ctx, cfg, src); msg != "" || err != nil {
		if errors.Is(err, tf.ErrOtherStore) {
			err = fmt.Errorf("%w: %w", config.ErrConfig, err)
		}
		list.add("state store claim", err, msg)
	}
}

func credentialsOK(cfg *config.Config) string {
	if cfg.Exchange.Mode == "ews" {
		return "the service account " + cfg.Exchange.EWS.Username + " signs in"
	}
	return "the Entra ID app " + cfg.Exchange.Graph.ClientID + " gets a token"
}

// connErr turns a failed check into the error whose exit code fits: a configuration problem is 2, a calendar
// or credential problem is 3, anything else (the TF database) is 1.
func connErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, config.ErrConfig) || ExitCode(err) == exitcode.Auth {
		return err
	}
	for _, s := range []error{exchange.ErrAccessDenied, exchange.ErrMailboxNotFound, exchange.ErrUnavailable, exchange.ErrThrottled, exchange.ErrBadResponse} {
		if errors.Is(err, s) {
			return fmt.Errorf("%w: %w", exchange.ErrAuth, err)
		}
	}
	return err
}

func printChecks(f *Factory, l *checkList) {
	p := f.printer()
	if p.JSON() {
		_ = p.Result(l) // strings and booleans: encoding cannot fail
		return
	}
	t := p.Table()
	for _, c := range l.Checks {
		status := "OK"
		switch {
		case c.Skipped:
			status = "SKIP"
		case c.Warning:
			status = "WARN"
		case !c.OK:
			status = "FAIL"
		}
		t.Row(status, c.Name, c.Message)
	}
	t.Flush()
	if l.OK {
		fmt.Fprintln(p.Text(), "\nConnection test passed.")
	} else {
		fmt.Fprintln(p.Text(), "\nConnection test failed: fix the first FAIL above and run it again.")
	}
}
