package cmd

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	calsync "tfsync/sync"
)

// demoMailboxes are the demo data's mailboxes that sync (enabled, with an allowed address).
var demoMailboxes = []string{"anna.lindqvist@example.com", "johan.berg@example.com", "mehmet.yilmaz@example.com", "sara.nilsson@example.com"}

// runAs runs tfsync with args against cfgPath, with the factory adjusted by adjust (nil: as run does).
func (e *env) runAs(cfgPath string, adjust func(*Factory), args ...string) (int, string, string) {
	e.t.Helper()
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.Now = e.clock.Now
	f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
	if adjust != nil {
		adjust(f)
	}
	code := run(context.Background(), f, append(args, "--config", cfgPath))
	return code, out.String(), errOut.String()
}

// eventsByBooking counts the demo mailboxes' tfsync events per mailbox and booking id.
func (e *env) eventsByBooking() (total int, doubled []string) {
	for _, mb := range demoMailboxes {
		seen := map[string]int{}
		for _, ev := range e.em.Events(mb) {
			if ev.BookingID == "" {
				continue
			}
			total++
			if seen[ev.BookingID]++; seen[ev.BookingID] == 2 {
				doubled = append(doubled, mb+" "+ev.BookingID)
			}
		}
	}
	return total, doubled
}

// tfHash hashes TF's bookings, to assert a pass left TF unchanged.
func (e *env) tfHash() [32]byte {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT id, start, ifnull("end", ''), version, ifnull(updated_at, '') FROM bookings ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	h := sha256.New()
	for rows.Next() {
		var a, b, c, d, f string
		if err := rows.Scan(&a, &b, &c, &d, &f); err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintln(h, a, b, c, d, f)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// configWith writes a copy of the environment's config with extra appended, as another installation's would be.
func (e *env) configWith(name, extra string) string {
	e.t.Helper()
	base, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, append(base, []byte("\n"+extra)...), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// modeProbe answers as the operating system would for an account that owns the files but is not root: a file
// or folder without its owner's write bit may not be written. Root ignores file modes, so the tests use it there.
func modeProbe(name string, _ bool) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return nil
}

// asScheduler is the factory of the scheduled account: the real write check, or modeProbe when the tests run as
// root (as CI does).
func asScheduler(f *Factory) {
	if os.Geteuid() == 0 {
		f.StoreWriteProbe = modeProbe
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// The sequence of issue 10 case 5: an admin looks around as their own account before the first pass, another
// account once runs a pass by hand, and the scheduled account's passes then meet a store they cannot write.
func TestStateStoreReadOnlyCommandsThenUnwritableStore(t *testing.T) {
	e := newEnv(t, "[state]\npath = \"state/tfsync-state.db\"\n")
	stateDir := filepath.Join(e.dir, "state")
	if err := os.Mkdir(stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tf0 := e.tfHash()

	// 1. Before any pass: every read-only command works, says there is no store, and creates nothing.
	code, out, stderr := e.run("status")
	if code != exitcode.OK || !strings.Contains(out, "No state store yet at "+filepath.Join(stateDir, "tfsync-state.db")) {
		t.Fatalf("status without a store: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, _ = e.run("status", "--output", "json")
	var st struct {
		NoStore bool `json:"no_state_store"`
		Runs    []any
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != exitcode.OK || !st.NoStore || st.Runs == nil {
		t.Fatalf("status JSON without a store: exit %d, %v\n%s", code, err, out)
	}
	code, out, stderr = e.run("list-resources")
	if code != exitcode.OK || !strings.Contains(out, "Anna Lindqvist") || !strings.Contains(out, "not synced yet") || !strings.Contains(stderr, "no state store yet") {
		t.Fatalf("list-resources without a store: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, _ = e.run("dry-run")
	if code != exitcode.OK || !strings.Contains(out, "No state store yet") || !strings.Contains(out, "29 create") {
		t.Fatalf("dry-run without a store: exit %d\n%s", code, out)
	}
	code, out, _ = e.run("test-connection")
	if code != exitcode.OK || !strings.Contains(out, "does not exist yet") || !strings.Contains(out, "OK    TF write access") ||
		!strings.Contains(out, "OK    state store access") {
		t.Fatalf("test-connection without a store: exit %d\n%s", code, out)
	}
	if got := dirNames(t, stateDir); len(got) != 0 {
		t.Fatalf("read-only commands left %v in the store's folder", got)
	}
	if total, _ := e.eventsByBooking(); total != 0 || e.tfHash() != tf0 {
		t.Fatalf("read-only commands changed something: %d events", total)
	}

	// 2. Another account runs the first pass by hand: its store, and its folder, are not the scheduler's to
	// write (the file modes stand in for the other owner).
	if code, out, stderr := e.run("sync"); code != exitcode.OK {
		t.Fatalf("first pass: exit %d\n%s\n%s", code, out, stderr)
	}
	total, doubled := e.eventsByBooking()
	if total != 29 || len(doubled) != 0 {
		t.Fatalf("after the first pass: %d events, doubled %v", total, doubled)
	}
	for _, name := range dirNames(t, stateDir) {
		if err := os.Chmod(filepath.Join(stateDir, name), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(stateDir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(stateDir, 0o755) })

	// 3. A technician's booking changes in TF; the scheduled pass stops before any calendar with one message
	// naming the store, its owner and the account, and exit 1.
	if _, err := e.db.Exec(`UPDATE bookings SET title = 'Ny titel', version = version + 1 WHERE id = (SELECT min(id) FROM bookings WHERE resource_id = 'RES-101' AND status = 'planned')`); err != nil {
		t.Fatal(err)
	}
	tf1 := e.tfHash()
	e.em.ResetRequests()
	e.clock.Advance(5 * time.Minute)
	code, out, stderr = e.runAs(e.config, asScheduler, "sync")
	if code != exitcode.Failure || out != "" {
		t.Fatalf("pass on an unwritable store: exit %d\n%s\n%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one message, got %d lines:\n%s", len(lines), stderr)
	}
	for _, want := range []string{stateDir, "owned by ", "may not be written by " + calsync.CurrentAccount(), "modify rights on the folder " + stateDir, "contacted no calendar"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the message lacks %q:\n%s", want, stderr)
		}
	}
	if got := e.em.RequestedMailboxes(); len(got) != 0 {
		t.Fatalf("the refused pass contacted %v", got)
	}
	if e.tfHash() != tf1 {
		t.Fatal("the refused pass changed TF")
	}

	// 4. Meanwhile status, list-resources and dry-run still read the store; test-connection names the problem.
	code, out, _ = e.runAs(e.config, asScheduler, "status")
	if code != exitcode.OK || !strings.Contains(out, "anna.lindqvist@example.com") || strings.Contains(out, "no pass has run yet") {
		t.Fatalf("status on a read-only store: exit %d\n%s", code, out)
	}
	code, out, _ = e.runAs(e.config, asScheduler, "dry-run")
	if code != exitcode.OK || !strings.Contains(out, "1 update") {
		t.Fatalf("dry-run on a read-only store: exit %d\n%s", code, out)
	}
	code, out, _ = e.runAs(e.config, asScheduler, "test-connection")
	if code != exitcode.Failure || !strings.Contains(out, "FAIL  state store access") || !strings.Contains(out, "modify rights") {
		t.Fatalf("test-connection on a read-only store: exit %d\n%s", code, out)
	}

	// 5. The admin gives the scheduled account its rights back: the next pass applies the change, nothing doubled.
	os.Chmod(stateDir, 0o755)
	for _, name := range dirNames(t, stateDir) {
		os.Chmod(filepath.Join(stateDir, name), 0o644)
	}
	e.clock.Advance(5 * time.Minute)
	if code, out, stderr := e.runAs(e.config, asScheduler, "sync", "--output", "json"); code != exitcode.OK || !strings.Contains(out, `"updated": 1`) {
		t.Fatalf("pass after the fix: exit %d\n%s\n%s", code, out, stderr)
	}
	if total, doubled := e.eventsByBooking(); total != 29 || len(doubled) != 0 {
		t.Fatalf("after the fix: %d events, doubled %v", total, doubled)
	}
}

// Issue 10 case 4: two scheduled tasks with different [state] path on one TF database.
func TestSecondStateStoreRefusedThenTakenOver(t *testing.T) {
	e := newEnv(t, "")
	if code, out, stderr := e.run("sync"); code != exitcode.OK {
		t.Fatalf("production's first pass: exit %d\n%s\n%s", code, out, stderr)
	}
	prodStore := filepath.Join(e.dir, "tfsync-state.db")
	// The claim is keyed on the TF database and records the installation id the pass made beside it.
	var claimed, installation string
	if err := e.db.QueryRow(`SELECT c.installation_id, i.id FROM tfsync_store_claim c, tfsync_installation i`).Scan(&claimed, &installation); err != nil ||
		claimed == "" || claimed != installation {
		t.Fatalf("claim's installation %q, TF's %q, %v", claimed, installation, err)
	}
	if err := os.Mkdir(filepath.Join(e.dir, "trial"), 0o755); err != nil {
		t.Fatal(err)
	}
	trial := e.configWith("trial.toml", "[state]\npath = \"trial/state.db\"\n")
	trialStore := filepath.Join(e.dir, "trial", "state.db")
	host, _ := os.Hostname()
	tf0 := e.tfHash()

	// The trial's dry-run warns; its pass is refused with exit 2, naming production's store, and changes nothing.
	e.clock.Advance(5 * time.Minute)
	code, out, _ := e.runAs(trial, nil, "dry-run")
	if code != exitcode.OK || !strings.Contains(out, "would be refused") || !strings.Contains(out, prodStore) {
		t.Fatalf("trial dry-run: exit %d\n%s", code, out)
	}
	e.em.ResetRequests()
	code, out, stderr := e.runAs(trial, nil, "sync")
	if code != exitcode.Usage || out != "" {
		t.Fatalf("trial pass: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{prodStore, "on host " + host, "2026-03-20T10:00:00Z", "--take-over", trialStore} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, stderr)
		}
	}
	if got := e.em.RequestedMailboxes(); len(got) != 0 {
		t.Fatalf("the refused pass contacted %v", got)
	}
	code, out, _ = e.runAs(trial, nil, "test-connection")
	if code != exitcode.Usage || !strings.Contains(out, "FAIL  state store claim") {
		t.Fatalf("trial test-connection: exit %d\n%s", code, out)
	}
	// Production goes on undisturbed.
	e.clock.Advance(5 * time.Minute)
	if code, _, stderr := e.run("sync"); code != exitcode.OK {
		t.Fatalf("production's next pass: exit %d\n%s", code, stderr)
	}
	if code, out, _ := e.run("test-connection"); code != exitcode.OK || !strings.Contains(out, "OK    state store claim") ||
		!strings.Contains(out, "this state store serves the TF database; its last pass started 2026-03-20T10:10:00Z") {
		t.Fatalf("production's test-connection: exit %d\n%s", code, out)
	}

	// The admin moves the installation to the trial store on purpose: it relinks every event, creates nothing.
	e.clock.Advance(5 * time.Minute)
	code, out, stderr = e.runAs(trial, nil, "sync", "--take-over", "--output", "json")
	if code != exitcode.OK || !strings.Contains(stderr, "--take-over") {
		t.Fatalf("take-over: exit %d\n%s\n%s", code, out, stderr)
	}
	if total, doubled := e.eventsByBooking(); total != 29 || len(doubled) != 0 || e.tfHash() != tf0 {
		t.Fatalf("after the take-over: %d events, doubled %v, TF changed %v", total, doubled, e.tfHash() != tf0)
	}
	e.clock.Advance(5 * time.Minute)
	if code, _, stderr := e.runAs(trial, nil, "sync"); code != exitcode.OK {
		t.Fatalf("the trial store's next pass: exit %d\n%s", code, stderr)
	}
	// Now production's task is the second store.
	e.clock.Advance(5 * time.Minute)
	code, _, stderr = e.run("sync")
	if code != exitcode.Usage || !strings.Contains(stderr, trialStore) {
		t.Fatalf("production after the take-over: exit %d\n%s", code, stderr)
	}
	if total, doubled := e.eventsByBooking(); total != 29 || len(doubled) != 0 || e.tfHash() != tf0 {
		t.Fatalf("at the end: %d events, doubled %v", total, doubled)
	}
}

// Issue 10 case 4, second half: [state] path naming TF's database, or a copy of it, and --rebuild on it.
func TestStatePathNamingATFDatabase(t *testing.T) {
	e := newEnv(t, "")
	tfPath := filepath.Join(e.dir, "tf.db")
	same := e.configWith("same.toml", "[state]\npath = \"tf.db\"\n")
	tf0 := e.tfHash()
	for _, args := range [][]string{{"sync"}, {"sync", "--rebuild"}, {"dry-run"}, {"status"}, {"test-connection"}} {
		code, out, stderr := e.runAs(same, nil, args...)
		msg := out + stderr
		if code != exitcode.Usage || !strings.Contains(msg, "[state] path") || !strings.Contains(msg, "[tf] database") {
			t.Fatalf("%v with [state] path = [tf] database: exit %d\n%s", args, code, msg)
		}
	}

	// Another file with TF's tables (a copy of TF's database, say): refused, naming both settings, and
	// --rebuild leaves it where it is.
	copyPath := filepath.Join(e.dir, "tf-copy.db")
	if _, err := e.db.Exec(`VACUUM INTO ?`, copyPath); err != nil {
		t.Fatal(err)
	}
	other := e.configWith("other.toml", "[state]\npath = \"tf-copy.db\"\n")
	for _, args := range [][]string{{"sync"}, {"sync", "--rebuild"}, {"status"}, {"dry-run"}} {
		code, out, stderr := e.runAs(other, nil, args...)
		msg := out + stderr
		if code != exitcode.Usage || !strings.Contains(msg, "[state] path") || !strings.Contains(msg, tfPath) || !strings.Contains(msg, "holds TF's tables") {
			t.Fatalf("%v with [state] path on a TF copy: exit %d\n%s", args, code, msg)
		}
	}
	if _, err := os.Stat(copyPath); err != nil {
		t.Fatalf("--rebuild moved the TF copy: %v", err)
	}
	var mode string
	if err := e.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode == "wal" {
		t.Fatalf("TF's journal mode = %q, %v", mode, err)
	}
	if total, _ := e.eventsByBooking(); total != 0 || e.tfHash() != tf0 {
		t.Fatalf("refused passes changed something: %d events", total)
	}
}

// Issue 10 case 6: dry-run with calendars it could not read.
func TestDryRunSaysWhichCalendarsWereNotRead(t *testing.T) {
	e := newEnv(t, "")
	if code, _, _ := e.run("sync"); code != exitcode.OK {
		t.Fatal(code)
	}
	e.em.SetFault(func(op, mb string) error {
		if mb == "sara.nilsson@example.com" || mb == "johan.berg@example.com" {
			return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
		}
		return nil
	})
	e.clock.Advance(5 * time.Minute)
	code, out, _ := e.run("dry-run")
	if code != exitcode.OK || !strings.HasPrefix(out, "2 of 4 calendars could not be read; the plan below is incomplete.\n") ||
		!strings.Contains(out, "  sara.nilsson@example.com: ") || strings.Contains(out, "in step") {
		t.Fatalf("dry-run with two unread calendars: exit %d\n%s", code, out)
	}
	code, out, _ = e.run("dry-run", "--output", "json")
	var r struct {
		Calendars       int    `json:"calendars"`
		UnreadCalendars int    `json:"unread_calendars"`
		Incomplete      bool   `json:"incomplete"`
		Headline        string `json:"headline"`
		RunID           string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitcode.OK || r.Calendars != 4 || r.UnreadCalendars != 2 ||
		!r.Incomplete || !strings.HasPrefix(r.Headline, "2 of 4 calendars") || r.RunID == "" {
		t.Fatalf("dry-run JSON: exit %d %v %+v\n%s", code, err, r, out)
	}

	// No calendar read at all: exit 3 as before, and still never "in step".
	e.em.SetFault(func(op, mb string) error { return fmt.Errorf("injected: %w", exchange.ErrAuth) })
	code, out, _ = e.run("dry-run")
	if code != exitcode.Auth || !strings.HasPrefix(out, "4 of 4 calendars could not be read") || strings.Contains(out, "in step") {
		t.Fatalf("dry-run with no calendar read: exit %d\n%s", code, out)
	}
	// Every calendar read: as before.
	e.em.SetFault(nil)
	code, out, _ = e.run("dry-run", "--output", "json")
	r.Headline = ""
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitcode.OK || r.Incomplete || r.UnreadCalendars != 0 || r.Headline != "" {
		t.Fatalf("dry-run, all read: exit %d %+v", code, r)
	}
}

// Issue 10 case 5, TF's half: an account that may read TF's database but not write it. test-connection says so
// (a rolled-back write), and a pass stops before any calendar instead of failing on the first moved booking.
func TestTFDatabaseNotWritableByTheAccount(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes read-only files, and SQLite's own write cannot be redirected to a probe; run the tests as another user for this case")
	}
	// The store in a folder of its own, which the account may write; TF's folder and file it may only read.
	e := newEnv(t, "[state]\npath = \"state/tfsync-state.db\"\n")
	if err := os.Mkdir(filepath.Join(e.dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := e.run("sync"); code != exitcode.OK {
		t.Fatalf("first pass: exit %d\n%s", code, stderr)
	}
	if err := os.Chmod(e.dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(e.dir, 0o755) })
	tfPath := filepath.Join(e.dir, "tf.db")
	if err := os.Chmod(tfPath, 0o444); err != nil {
		t.Fatal(err)
	}
	code, out, _ := e.run("test-connection")
	if code != exitcode.Failure || !strings.Contains(out, "FAIL  TF write access") || !strings.Contains(out, "cannot write TF database "+tfPath) {
		t.Fatalf("test-connection: exit %d\n%s", code, out)
	}
	// The pass stops when it records its store in TF's database, before any calendar.
	e.em.ResetRequests()
	code, _, stderr := e.run("sync")
	if code != exitcode.Failure || !strings.Contains(stderr, "TF database "+tfPath) || !strings.Contains(stderr, "write") {
		t.Fatalf("pass: exit %d\n%s", code, stderr)
	}
	if got := e.em.RequestedMailboxes(); len(got) != 0 {
		t.Fatalf("the pass contacted %v", got)
	}
}
