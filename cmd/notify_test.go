package cmd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/cmd/notify"
	"tfsync/cmd/notify/notifytest"
	"tfsync/exchange"
	calsync "tfsync/sync"
)

// These tests cover cmd's wiring to the failure notice; the notice itself is tested in cmd/notify.

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	notifyTestConfig   = "/etc/tfsync/tfsync.toml"
	notifyTestPassword = "smtp-Pa55word-never-shown"
)

var notifyT0 = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)

// notifyLogCtx returns a context whose zerolog logger writes into the returned buffer.
func notifyLogCtx() (context.Context, *bytes.Buffer) {
	buf := &bytes.Buffer{}
	l := zerolog.New(buf)
	return l.WithContext(context.Background()), buf
}

// TestOutcomeOf holds outcomeOf to what the notifier's tests feed it: the exit code and class of each error, and
// a report's problems filed by mailbox.
func TestOutcomeOf(t *testing.T) {
	mb := "anna.lindqvist@example.com"
	r := &calsync.Report{RunID: "r1", Held: 2, Mailboxes: []calsync.MailboxSummary{
		{Mailbox: mb, Errors: 7, Held: 2},
		{Mailbox: "ok@example.com", Created: 1},
	}}
	for i := range 7 {
		err := fmt.Errorf("update event: %w", exchange.ErrInvalidEvent)
		if i == 0 {
			err = fmt.Errorf("update event: %w", exchange.ErrThrottled)
		}
		r.Results = append(r.Results, calsync.Result{
			Action: calsync.Action{Kind: calsync.ActUpdate, BookingID: fmt.Sprintf("ARE-%d", i), Mailbox: mb},
			Err:    &calsync.ItemError{Action: calsync.ActUpdate, BookingID: fmt.Sprintf("ARE-%d", i), Mailbox: mb, Err: err},
			Error:  err.Error(),
		})
		r.Failed++
	}
	r.Results = append(r.Results, calsync.Result{Action: calsync.Action{Kind: calsync.ActCreate, BookingID: "ARE-9", Mailbox: "ok@example.com"}})
	o := outcomeOf("", "/x/tfsync.toml", r, r.Err())

	if o.ExitCode != exitcode.Partial || o.Class != "partial" || o.RunID != "r1" || o.Held != 2 || o.ConfigPath != "/x/tfsync.toml" || o.LockHeld {
		t.Fatalf("outcome %+v", o)
	}
	if len(o.Mailboxes) != 1 {
		t.Fatalf("mailboxes %+v, want only %s", o.Mailboxes, mb)
	}
	got := o.Mailboxes[0]
	if got.Mailbox != mb || len(got.Problems) != notify.MaxProblems || got.More != 2 || got.Held != 2 {
		t.Fatalf("mailbox failure %+v", got)
	}
	if want := "update ARE-0: update event: throttled (temporary: the next pass tries again)"; got.Problems[0] != want {
		t.Errorf("problem %q, want %q", got.Problems[0], want)
	}
	if strings.Contains(got.Problems[1], "temporary") {
		t.Errorf("an invalid event is not temporary: %q", got.Problems[1])
	}

	// A read error comes first in its mailbox, then the failed writes; TF's own bad rows are filed under "TF".
	r = &calsync.Report{RunID: "r2", Failed: 2,
		Mailboxes: []calsync.MailboxSummary{{Mailbox: "sara.nilsson@example.com", ReadError: "read calendar: access denied"}},
		Results: []calsync.Result{{Action: calsync.Action{Kind: calsync.ActCreate, BookingID: "BES-10233", Mailbox: "sara.nilsson@example.com"},
			Err: &calsync.ItemError{Action: calsync.ActCreate, Mailbox: "sara.nilsson@example.com", Err: exchange.ErrUnavailable}, Error: "create event: service unavailable"}},
		Problems: []calsync.Skip{{BookingID: "X-1", Reason: "bad row in TF: unknown kind"}},
	}
	o = outcomeOf("r2", "", r, r.Err())
	var lines []string
	for _, m := range o.Mailboxes {
		lines = append(lines, m.Mailbox+": "+strings.Join(m.Problems, " | "))
	}
	want := "TF: bad row in TF: unknown kind\nsara.nilsson@example.com: read calendar: access denied | create BES-10233: create event: service unavailable (temporary: the next pass tries again)"
	if strings.Join(lines, "\n") != want {
		t.Errorf("mailboxes\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}

	for _, tc := range []struct {
		name     string
		err      error
		code     int
		class    string
		lockHeld bool
	}{
		{"success", nil, exitcode.OK, "", false},
		{"lock held", &calsync.LockHeldError{}, exitcode.OK, "lock-held", true},
		{"lock stale", &calsync.LockHeldError{Stale: true}, exitcode.LockStale, "lock-stale", false},
		{"TF unreadable", fmt.Errorf("%w: read bookings: disk I/O error", calsync.ErrTFRead), exitcode.Failure, "tf", false},
		{"store damaged", fmt.Errorf("open state store: %w", calsync.ErrStoreCorrupt), exitcode.Failure, "store-corrupt", false},
		{"no calendar reachable", fmt.Errorf("%w: %w", calsync.ErrAllMailboxesFailed, exchange.ErrUnavailable), exitcode.Auth, "unreachable", false},
		{"credentials refused", fmt.Errorf("%w: %w", calsync.ErrAllMailboxesFailed, exchange.ErrAuth), exitcode.Auth, "auth", false},
		{"partial", fmt.Errorf("%w: 3 failed", calsync.ErrPartial), exitcode.Partial, "partial", false},
		{"deletes held", fmt.Errorf("%w: 12 deletes held back", calsync.ErrDeletesHeld), exitcode.Held, "deletes-held", false},
		{"configuration", fmt.Errorf("%w: [sync] show_as is not valid", config.ErrConfig), exitcode.Usage, "other", false},
		{"unexpected", errors.New("boom"), exitcode.Failure, "other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := outcomeOf("r", "", nil, tc.err)
			if o.ExitCode != tc.code || o.Class != tc.class || o.LockHeld != tc.lockHeld {
				t.Errorf("exit %d class %q lockHeld %v, want %d %q %v", o.ExitCode, o.Class, o.LockHeld, tc.code, tc.class, tc.lockHeld)
			}
		})
	}
}

// TestNotifyAfterRunOnlyWarns: a mail that cannot be sent is a warning in the log, never a change to the pass.
func TestNotifyAfterRunOnlyWarns(t *testing.T) {
	t.Setenv("TFSYNC_TEST_SMTP_PASSWORD", notifyTestPassword)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	st, err := calsync.OpenStore(context.Background(), filepath.Join(t.TempDir(), "tfsync-state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{Path: notifyTestConfig, Notify: config.Notify{
		EmailTo: []string{"drift@example.com"}, SMTP: closed, From: "tfsync@example.com",
		Username: "tfsync", Password: config.Secret{Ref: "env:TFSYNC_TEST_SMTP_PASSWORD"}, StartTLS: "auto", RepeatAfter: time.Hour,
	}}
	f := &Factory{Now: func() time.Time { return notifyT0 }}
	ctx, logs := notifyLogCtx()
	r := &calsync.Report{RunID: "run1", Failed: 1, Mailboxes: []calsync.MailboxSummary{{Mailbox: "a@example.com", ReadError: "x"}}}
	notifyAfterRun(ctx, f, &pass{cfg: cfg, store: st}, "run1", r, r.Err())
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "failure notice not mailed") {
		t.Errorf("no warning logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), notifyTestPassword) {
		t.Errorf("the password is in the logs:\n%s", logs)
	}
	// Nothing was recorded in the state store, so the next pass tries to mail the failure again.
	if _, _, ok, err := (storeNotices{st}).LastNotice(ctx); err != nil || ok {
		t.Errorf("notice recorded after a failed send: ok=%v err=%v", ok, err)
	}
}

// TestNotifyAfterRunWithoutPass covers a pass that could not open (here: a stale run lock): the notice still goes
// out once, through a store opened for it.
func TestNotifyAfterRunWithoutPass(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{})
	dir := t.TempDir()
	cfg := &config.Config{
		Path:  filepath.Join(dir, "tfsync.toml"),
		State: config.State{Path: filepath.Join(dir, "tfsync-state.db")},
		Notify: config.Notify{EmailTo: []string{"drift@example.com"}, SMTP: srv.Addr, From: "tfsync@example.com",
			StartTLS: "never", RepeatAfter: time.Hour},
	}
	f := &Factory{Now: func() time.Time { return notifyT0 }, LoadConfig: func(string) (*config.Config, []string, error) { return cfg, nil, nil }}
	ctx, logs := notifyLogCtx()
	for i := range 2 {
		notifyAfterRun(ctx, f, nil, fmt.Sprintf("run%d", i), nil, &calsync.LockHeldError{PID: 42, Stale: true})
	}
	mails := srv.Received()
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown host"
	}
	if len(mails) != 1 || mails[0].Subject != "tfsync: sync failed (exit 6) on "+host {
		t.Fatalf("%d mails %+v\n%s", len(mails), mails, logs)
	}

	f.LoadConfig = func(string) (*config.Config, []string, error) {
		t.Error("the configuration was loaded for a pass that needs no notice")
		return cfg, nil, nil
	}
	notifyAfterRun(ctx, f, nil, "run3", nil, &calsync.LockHeldError{PID: 42})
	notifyAfterRun(ctx, f, nil, "run4", nil, fmt.Errorf("%w: [sync] show_as is not valid", config.ErrConfig))
	notifyAfterRun(ctx, f, nil, "run5", nil, fmt.Errorf("read bookings: %w", context.Canceled))
	if n := len(srv.Received()); n != 1 {
		t.Errorf("%d mails, want still 1", n)
	}
}

// TestNoticeNeverHoldsACertificate: every secret of the configuration reaches the notifier's scrubber, the
// certificate included (it once did not), so an error quoting one is mailed redacted.
func TestNoticeNeverHoldsACertificate(t *testing.T) {
	const (
		cert     = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcert-never-shown\n-----END PRIVATE KEY-----"
		secret   = "graph-secret-never-shown"
		password = "ews-password-never-shown"
	)
	t.Setenv("TFSYNC_TEST_CERT", cert)
	t.Setenv("TFSYNC_TEST_SECRET", secret)
	t.Setenv("TFSYNC_TEST_EWS_PASSWORD", password)
	t.Setenv("TFSYNC_TEST_SMTP_PASSWORD", notifyTestPassword)
	srv := notifytest.Start(t, notifytest.Options{})
	dir := t.TempDir()
	cfg := &config.Config{
		Path:  filepath.Join(dir, "tfsync.toml"),
		State: config.State{Path: filepath.Join(dir, "tfsync-state.db")},
		Exchange: config.Exchange{
			Graph: config.Graph{ClientSecret: config.Secret{Ref: "env:TFSYNC_TEST_SECRET"}, Certificate: config.Secret{Ref: "env:TFSYNC_TEST_CERT"}},
			EWS:   config.EWS{Password: config.Secret{Ref: "env:TFSYNC_TEST_EWS_PASSWORD"}},
		},
		Notify: config.Notify{EmailTo: []string{"drift@example.com"}, SMTP: srv.Addr, From: "tfsync@example.com",
			Password: config.Secret{Ref: "env:TFSYNC_TEST_SMTP_PASSWORD"}, StartTLS: "never", RepeatAfter: time.Hour},
	}
	f := &Factory{Now: func() time.Time { return notifyT0 }, LoadConfig: func(string) (*config.Config, []string, error) { return cfg, nil, nil }}
	ctx, _ := notifyLogCtx()
	leak := fmt.Errorf("read bookings: the server said %s, %q, %q and %q: %w", cert, secret, password, notifyTestPassword, calsync.ErrTFRead)
	notifyAfterRun(ctx, f, nil, "run1", nil, leak)
	mails := srv.Received()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	for _, v := range []string{cert, "cert-never-shown", secret, password, notifyTestPassword} {
		if strings.Contains(mails[0].Raw, v) || strings.Contains(mails[0].Body, v) {
			t.Errorf("the mail holds %q:\n%s", v, mails[0].Body)
		}
	}
	if strings.Count(mails[0].Body, "[redacted]") != 4 {
		t.Errorf("want the four quoted secrets redacted:\n%s", mails[0].Body)
	}
	if got := notifySettings(cfg).Secrets; len(got) != 4 {
		t.Errorf("the notifier is given %d secrets, want all 4 of the configuration", len(got))
	}
}

// TestSyncMailsNotice runs `tfsync sync` end to end with [notify] pointing at the test server.
func TestSyncMailsNotice(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{})
	notify := fmt.Sprintf("[notify]\nemail_to = [\"drift@example.com\"]\nsmtp = %q\nfrom = \"tfsync@example.com\"\nstarttls = \"never\"\n", srv.Addr)

	t.Run("partial, repeated, recovered", func(t *testing.T) {
		e := newEnv(t, notify)
		sara := "sara.nilsson@example.com"
		e.em.SetFault(func(op, mb string) error {
			if mb == sara {
				return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
			}
			return nil
		})
		before := len(srv.Received())
		for i := range 2 {
			if code, _, stderr := e.run("sync"); code != exitcode.Partial {
				t.Fatalf("pass %d: exit %d\n%s", i+1, code, stderr)
			}
		}
		mails := srv.Received()[before:]
		if len(mails) != 1 {
			t.Fatalf("%d mails after two failing passes, want 1", len(mails))
		}
		if !strings.HasPrefix(mails[0].Subject, "tfsync: sync partly failed: 1 mailbox on ") || !strings.Contains(mails[0].Body, sara) ||
			!strings.Contains(mails[0].Body, "--config "+e.config) {
			t.Errorf("subject %q\n%s", mails[0].Subject, mails[0].Body)
		}
		if strings.Contains(mails[0].Raw, "s3cr3t-value-never-printed") {
			t.Error("the Graph client secret is in the mail")
		}

		e.em.SetFault(nil)
		for i := range 2 {
			if code, _, stderr := e.run("sync"); code != exitcode.OK {
				t.Fatalf("good pass %d: exit %d\n%s", i+1, code, stderr)
			}
		}
		mails = srv.Received()[before:]
		if len(mails) != 2 || !strings.HasPrefix(mails[1].Subject, "tfsync: recovered on ") {
			t.Fatalf("%d mails; want the failure and one recovered notice", len(mails))
		}
	})

	t.Run("no calendar reachable", func(t *testing.T) {
		e := newEnv(t, notify)
		e.em.SetFault(func(op, mb string) error { return fmt.Errorf("injected: %w", exchange.ErrAuth) })
		before := len(srv.Received())
		if code, _, _ := e.run("sync"); code != exitcode.Auth {
			t.Fatalf("exit %d", code)
		}
		mails := srv.Received()[before:]
		if len(mails) != 1 || !strings.HasPrefix(mails[0].Subject, "tfsync: sync failed (exit 3) on ") {
			t.Fatalf("%d mails %+v", len(mails), mails)
		}
	})
}
