package cmd

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/emulator/emutest/testclock"
	calsync "tfsync/sync"
	"tfsync/tf"
	"tfsync/tf/demo"
)

var testNow = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)

// env is a configured installation: a TF database with the demo data, a config file, and the emulator core as
// the calendar backend.
type env struct {
	t      *testing.T
	dir    string
	config string
	em     *emulator.Emulator
	db     *sql.DB
	clock  *testclock.Clock // the emulator's and the commands' clock
}

// testConfig is the configuration of the test installations: TF's database beside it, the Graph backend (the tests
// replace the calendar with the emulator), the secret from TFSYNC_TEST_SECRET.
const testConfig = `[tf]
database = "tf.db"
[exchange]
mode = "graph"
[exchange.graph]
tenant_id = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "env:TFSYNC_TEST_SECRET"
[sync]
allowed_domains = ["example.com"]
`

// newBareEnv is an installation without bookings or configuration yet: the shared rig's emulator with mailboxes
// and its clock at start, and an empty TF database with a connection to it.
func newBareEnv(t *testing.T, start time.Time, mailboxes ...string) *env {
	t.Helper()
	dir := t.TempDir()
	rig := emutest.New(t, emutest.Options{Start: start, Mailboxes: mailboxes})
	e := &env{t: t, dir: dir, config: filepath.Join(dir, "tfsync.toml"), em: rig.Emulator, clock: rig.Clock}
	tfPath := filepath.Join(dir, "tf.db")
	if err := tf.CreateSchema(context.Background(), tfPath); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+tfPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	return e
}

func newEnv(t *testing.T, extraConfig string) *env {
	t.Helper()
	e := newBareEnv(t, testNow, "anna.lindqvist@example.com", "mehmet.yilmaz@example.com", "sara.nilsson@example.com",
		"johan.berg@example.com", "karin.ek@example.com", "leif@svenssonstak.example.org")
	zone, _ := time.LoadLocation("Europe/Stockholm")
	if err := demo.Seed(context.Background(), e.db, testNow, zone); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig + extraConfig
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TFSYNC_TEST_SECRET", "s3cr3t-value-never-printed")
	return e
}

// run runs tfsync with args and returns the exit code, stdout and stderr.
func (e *env) run(args ...string) (int, string, string) {
	e.t.Helper()
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.Now = e.clock.Now
	f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
	code := run(context.Background(), f, append(args, "--config", e.config))
	return code, out.String(), errOut.String()
}

func TestSyncJSONAndIdempotence(t *testing.T) {
	e := newEnv(t, "")
	code, out, stderr := e.run("sync", "--output", "json")
	if code != exitcode.OK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var r struct {
		RunID     string `json:"run_id"`
		Mailboxes []struct {
			Mailbox string
			Created int
		}
		Skipped []struct{ Resource, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	created := 0
	for _, m := range r.Mailboxes {
		created += m.Created
	}
	if created != 29 || r.RunID == "" || len(r.Skipped) != 2 {
		t.Fatalf("summary: %+v", r)
	}
	// Every log line is JSON (stderr is not a terminal) and carries the run id.
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["run_id"] != r.RunID {
			t.Fatalf("log line without run id %s: %q", r.RunID, line)
		}
	}
	code, out, _ = e.run("dry-run")
	if code != exitcode.OK || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("dry-run after sync: exit %d\n%s", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	t.Run("partial", func(t *testing.T) {
		e := newEnv(t, "")
		e.em.SetFault(func(op, mb string) error {
			if mb == "sara.nilsson@example.com" {
				return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
			}
			return nil
		})
		code, out, _ := e.run("sync")
		if code != exitcode.Partial || !strings.Contains(out, "sara.nilsson@example.com was not synced") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("all mailboxes unreachable", func(t *testing.T) {
		e := newEnv(t, "")
		e.em.SetFault(func(op, mb string) error { return fmt.Errorf("injected: %w", exchange.ErrAuth) })
		if code, _, _ := e.run("sync"); code != exitcode.Auth {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("held deletes, then --force", func(t *testing.T) {
		e := newEnv(t, "")
		if code, _, _ := e.run("sync"); code != exitcode.OK {
			t.Fatal(code)
		}
		if _, err := e.db.Exec(`DELETE FROM bookings WHERE resource_id = 'RES-102'`); err != nil {
			t.Fatal(err)
		}
		code, out, _ := e.run("sync")
		if code != exitcode.Held || !strings.Contains(out, "held back") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if n := len(e.em.Events("mehmet.yilmaz@example.com")); n == 0 {
			t.Fatal("held deletes were applied")
		}
		if code, _, _ := e.run("sync", "--force"); code != exitcode.OK {
			t.Fatalf("--force: exit %d", code)
		}
		if n := len(e.em.Events("mehmet.yilmaz@example.com")); n != 0 {
			t.Fatalf("%d events left after --force", n)
		}
	})
	t.Run("config error", func(t *testing.T) {
		e := newEnv(t, "show_as = \"bussy\"\n")
		code, _, stderr := e.run("sync")
		if code != exitcode.Usage || !strings.Contains(stderr, "tfsync.toml:11") || !strings.Contains(stderr, "show_as") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		e := newEnv(t, "")
		code, _, stderr := e.run("sync", "--bogus")
		if code != exitcode.Usage || !strings.Contains(stderr, "--bogus") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("lock held by a running pass", func(t *testing.T) {
		e := newEnv(t, "")
		lock, err := calsync.AcquireRunLock(filepath.Join(e.dir, "tfsync-state.db"), e.clock.Now().Add(-time.Minute), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release()
		code, out, stderr := e.run("sync")
		if code != exitcode.OK || out != "" || !strings.Contains(stderr, "is running") {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		if n := len(e.em.Events("anna.lindqvist@example.com")); n != 0 {
			t.Fatal("a second pass synced while the lock was held")
		}
	})
	t.Run("lock held far too long", func(t *testing.T) {
		e := newEnv(t, "")
		lock, err := calsync.AcquireRunLock(filepath.Join(e.dir, "tfsync-state.db"), e.clock.Now().Add(-3*time.Hour), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release()
		if code, _, stderr := e.run("sync"); code != exitcode.LockStale || !strings.Contains(stderr, "hung process") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
}

func TestExitCodeMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{fmt.Errorf("x: %w", calsync.ErrPartial), 4},
		{fmt.Errorf("x: %w", calsync.ErrDeletesHeld), 5},
		{fmt.Errorf("x: %w", calsync.ErrAllMailboxesFailed), 3},
		{fmt.Errorf("x: %w", exchange.ErrAuth), 3},
		{&calsync.LockHeldError{PID: 1, Since: testNow}, 0},
		{&calsync.LockHeldError{PID: 1, Since: testNow, Stale: true}, 6},
		{&usageError{"bad"}, 2},
		{fmt.Errorf("x: %w", config.ErrConfig), 2},
		{errors.New("anything else"), 1},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestTestConnection(t *testing.T) {
	t.Run("all good", func(t *testing.T) {
		e := newEnv(t, "")
		code, out, _ := e.run("test-connection")
		if code != exitcode.OK || !strings.Contains(out, "Connection test passed") || !strings.Contains(out, "SKIP  resource RES-105") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("blocked mailbox", func(t *testing.T) {
		e := newEnv(t, "")
		if err := e.em.SetMailbox("sara.nilsson@example.com", emulator.MailboxOptions{Blocked: true}); err != nil {
			t.Fatal(err)
		}
		code, out, _ := e.run("test-connection", "--output", "json")
		var res checkList
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err, out)
		}
		if code != exitcode.Auth || res.OK {
			t.Fatalf("exit %d\n%s", code, out)
		}
		failed := ""
		for _, c := range res.Checks {
			if !c.OK {
				failed += c.Name + ": " + c.Message
			}
		}
		if !strings.Contains(failed, "sara.nilsson@example.com") {
			t.Fatalf("failed checks: %s", failed)
		}
	})
	t.Run("secret not set", func(t *testing.T) {
		e := newEnv(t, "")
		t.Setenv("TFSYNC_TEST_SECRET", "")
		code, out, _ := e.run("test-connection")
		if code != exitcode.Usage || !strings.Contains(out, "TFSYNC_TEST_SECRET") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("no resource enabled", func(t *testing.T) {
		e := newEnv(t, "")
		if _, err := e.db.Exec(`UPDATE resources SET sync_enabled = 0`); err != nil {
			t.Fatal(err)
		}
		code, out, _ := e.run("test-connection")
		if code == exitcode.OK || !strings.Contains(out, "no resource is enabled") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

func TestListResources(t *testing.T) {
	e := newEnv(t, "")
	e.run("sync")
	code, out, _ := e.run("list-resources", "--check")
	if code != exitcode.OK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"RES-105", "no e-mail address", "outside allowed_domains", "anna.lindqvist@example.com", "Karin Ek"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	code, out, _ = e.run("list-resources", "--output", "json")
	var res struct {
		Resources []struct {
			LinkedEvents int `json:"linked_events"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatal(err, out)
	}
	linked := 0
	for _, r := range res.Resources {
		linked += r.LinkedEvents
	}
	if linked != 29 {
		t.Errorf("linked = %d", linked)
	}
}

func TestSecretNeverInCommandOutput(t *testing.T) {
	e := newEnv(t, "")
	var all strings.Builder
	for _, args := range [][]string{{"sync"}, {"dry-run", "--output", "json"}, {"test-connection"}, {"list-resources"}, {"sync", "--output", "json", "--log-level", "debug"}} {
		_, out, errOut := e.run(args...)
		all.WriteString(out + errOut)
	}
	if strings.Contains(all.String(), "s3cr3t-value-never-printed") {
		t.Fatal("the client secret appeared in output")
	}
}

func TestDemoCommand(t *testing.T) {
	io, out, _ := TestIO()
	f := NewFactory(io)
	code := run(context.Background(), f, []string{"demo", "--dir", t.TempDir()})
	s := out.String()
	if code != exitcode.OK {
		t.Fatalf("exit %d\n%s", code, s)
	}
	for _, want := range []string{"Pass 1", "29", demo.MovedBooking + " now:", "version 2", "Erik Johansson", "outside allowed_domains", "mailboxes outside allowed_domains: 0"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
}

func TestInitWritesAConfigTestConnectionAccepts(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "conf", "tfsync.toml")
	io, out, _ := TestIO()
	f := NewFactory(io)
	code := run(context.Background(), f, []string{"init", "--config", cfgPath, "--create-tf-database",
		"--tenant-id", "contoso.onmicrosoft.com", "--client-id", "11111111-2222-3333-4444-555555555555",
		"--allowed-domain", "example.com"})
	if code != exitcode.OK {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	cfg, warnings, err := config.Load(cfgPath)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("init's config does not load: %v %v", err, warnings)
	}
	if cfg.Exchange.Graph.TenantID != "contoso.onmicrosoft.com" || cfg.Sync.AllowedDomains[0] != "example.com" {
		t.Fatalf("config = %+v", cfg)
	}
	if cfg.Log.File != filepath.Join(dir, "conf", "tfsync.log") || filepath.Dir(cfg.Log.File) != filepath.Dir(cfg.State.Path) ||
		cfg.Log.MaxSize != 10 || cfg.Log.MaxFiles != 5 {
		t.Fatalf("init's [log] is not a rotated file beside the state store: %+v (state %s)", cfg.Log, cfg.State.Path)
	}
	// With a resource in the new TF database, test-connection passes against the emulator.
	db, err := sql.Open("sqlite3", filepath.Join(dir, "conf", "tf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO resources (id, name, email, sync_enabled) VALUES ('R1', 'Anna', 'anna@example.com', 1)`); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "client-secret.txt"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	em := emutest.New(t, emutest.Options{Mailboxes: []string{"anna@example.com"}}).Emulator
	io2, out2, _ := TestIO()
	f2 := NewFactory(io2)
	f2.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return em, nil }
	if code := run(context.Background(), f2, []string{"test-connection", "--config", cfgPath}); code != exitcode.OK {
		t.Fatalf("test-connection on init's config: exit %d\n%s", code, out2)
	}
	// A second init refuses to overwrite; the EWS variant loads too.
	if code := run(context.Background(), f, []string{"init", "--config", cfgPath}); code != exitcode.Usage {
		t.Fatalf("second init: exit %d", code)
	}
	ewsPath := filepath.Join(dir, "ews.toml")
	out.Reset()
	if code := run(context.Background(), f, []string{"init", "--config", ewsPath, "--mode", "ews", "--allowed-domain", "example.com"}); code != exitcode.OK {
		t.Fatal(code)
	}
	if s := out.String(); !strings.Contains(s, "ApplicationImpersonation") || strings.Contains(s, "Entra") || strings.Contains(s, "client_secret") {
		t.Errorf("EWS init's next steps do not fit EWS:\n%s", s)
	}
	if cfg, _, err := config.Load(ewsPath); err != nil || cfg.Exchange.EWS.Username != `EXAMPLE\svc-tf` {
		t.Fatalf("ews config: %v %+v", err, cfg)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, "")
	e.run("sync")
	e.em.SetFault(func(op, mb string) error {
		if mb == "sara.nilsson@example.com" {
			return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
		}
		return nil
	})
	e.clock.Advance(5 * time.Minute)
	e.run("sync")
	code, out, _ := e.run("status")
	if code != exitcode.OK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"Last passes", "sara.nilsson@example.com", "failing (1 passes)", "anna.lindqvist@example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n2026-03-20") < 2 {
		t.Errorf("expected two passes listed:\n%s", out)
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf strings.Builder
	clock := testNow
	p := newProgressLine(&buf, func() time.Time { clock = clock.Add(time.Second); return clock })
	p.writing(50, 500)
	p.writing(500, 500)
	if got := buf.String(); !strings.Contains(got, "50 of 500 (10%)") || !strings.HasSuffix(got, "500 of 500 (100%)") {
		t.Errorf("progress = %q", got)
	}
	buf.Reset()
	newProgressLine(&buf, time.Now).writing(5, 10)
	if buf.Len() != 0 {
		t.Error("small passes show no progress")
	}
	io, _, _ := TestIO()
	f := NewFactory(io)
	if f.showProgress() {
		t.Error("progress shown when stderr is not a terminal")
	}
	io.ErrTTY, f.LogFormat = true, "json"
	if f.showProgress() {
		t.Error("progress shown with JSON logs")
	}
}

func TestInitCreatesTheSchemaBesideAnExistingConfig(t *testing.T) {
	e := newEnv(t, "")
	io, out, _ := TestIO()
	f := NewFactory(io)
	code := run(context.Background(), f, []string{"init", "--config", e.config, "--create-tf-database", "--tf-database", "new-tf.db"})
	if code != exitcode.OK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	before, _ := os.ReadFile(e.config)
	if !strings.Contains(string(before), "TFSYNC_TEST_SECRET") {
		t.Fatal("the existing configuration was overwritten")
	}
	if _, err := tf.OpenSQLite(filepath.Join(e.dir, "new-tf.db"), tf.SQLiteOptions{Zone: time.UTC}); err != nil {
		t.Fatalf("schema not created: %v", err)
	}
}

// TestInitFitsWhatItWrites checks init's questions and defaults: the domain is asked for on a terminal and required
// elsewhere, secrets default to file:, and the placeholder ids it writes fail the configuration check by name.
func TestInitFitsWhatItWrites(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tfsync.toml")

	io, out, errOut := TestIO()
	if code := run(context.Background(), NewFactory(io), []string{"init", "--config", cfgPath}); code != exitcode.Usage ||
		!strings.Contains(out.String()+errOut.String(), "--allowed-domain is required") {
		t.Fatalf("init without --allowed-domain off a terminal: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(cfgPath); err == nil {
		t.Fatal("init wrote a configuration without a domain")
	}

	io, out, errOut = TestIO()
	io.InTTY, io.In = true, strings.NewReader("Example.com, example.org\n")
	if code := run(context.Background(), NewFactory(io), []string{"init", "--config", cfgPath, "--client-secret-expires", "2027-06-30"}); code != exitcode.OK {
		t.Fatalf("init on a terminal: exit %d\n%s%s", code, out, errOut)
	}
	text, _ := os.ReadFile(cfgPath)
	for _, want := range []string{`allowed_domains = ["Example.com", "example.org"]`, `client_secret = "file:client-secret.txt"`, "client_secret_expires = 2027-06-30"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the configuration lacks %s:\n%s", want, text)
		}
	}
	if s := out.String(); !strings.Contains(s, "Replace the placeholder tenant_id and client_id") || strings.Contains(s, "Expires date into") {
		t.Errorf("next steps:\n%s", s)
	}
	_, _, err := config.Load(cfgPath)
	if err == nil || strings.Count(err.Error(), "replace the placeholder") != 2 {
		t.Fatalf("the placeholder ids pass the configuration check: %v", err)
	}
	rewrite(t, cfgPath, `tenant_id = "`+config.PlaceholderGUID, `tenant_id = "contoso.onmicrosoft.com`)
	rewrite(t, cfgPath, `client_id = "`+config.PlaceholderGUID, `client_id = "11111111-2222-3333-4444-555555555555`)
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Exchange.Graph.ClientSecretExpires; got.Format("2006-01-02 15:04 MST") != "2027-06-30 00:00 CEST" {
		t.Errorf("client_secret_expires = %v", got)
	}
}
