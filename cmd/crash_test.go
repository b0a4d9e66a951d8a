package cmd

// Reliability tests of the real program (issue 5): tfsync runs as a child process (this test binary, re-executed as
// tfsync) against an emulator in the test process, reached over HTTPS with the emulator's CA in SSL_CERT_FILE. It
// is killed with SIGKILL at random moments of a pass, two passes start at once, and a damaged store, an unreadable
// TF database and a mailbox whose access ends mid-pass go through the real Graph backend.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	"tfsync/exchange/emulator"
	"tfsync/tf"
)

const crashHelperEnv = "TFSYNC_CRASH_TEST_AS_TFSYNC"

// crashHoldEnv, set to 1 in a child, holds its pass once it has the run lock: it says so on file descriptor 3 and
// goes on when the test closes descriptor 4 (see holdAfterLock).
const crashHoldEnv = "TFSYNC_CRASH_TEST_HOLD_AFTER_LOCK"

// TestCrashHelperProcess is not a test: the crash tests run the test binary as tfsync through it, which costs no
// second link of the program. The arguments after "--" are tfsync's.
func TestCrashHelperProcess(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "1" {
		t.Skip("runs only as tfsync in a child process of the crash tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	if os.Getenv(crashHoldEnv) != "1" {
		os.Exit(Main(args))
	}
	f := NewFactory(SystemIO())
	f.AfterLock = holdAfterLock
	os.Exit(run(context.Background(), f, args))
}

// holdAfterLock is a child's AfterLock under crashHoldEnv: it writes one byte to descriptor 3, then waits until the
// test closes its end of descriptor 4. A child that ends early closes descriptor 3 unwritten, which the test sees.
func holdAfterLock(context.Context) error {
	held, release := os.NewFile(3, "held"), os.NewFile(4, "release")
	defer release.Close()
	_, err := held.Write([]byte{1})
	if cerr := held.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("crash test: say the lock is held: %w", err)
	}
	if _, err := io.Copy(io.Discard, release); err != nil {
		return fmt.Errorf("crash test: wait for the release: %w", err)
	}
	return nil
}

// crashMailbox maps the demo's technicians to their mailboxes.
var crashMailbox = map[string]string{
	"RES-101": "anna.lindqvist@example.com",
	"RES-102": "mehmet.yilmaz@example.com",
	"RES-103": "sara.nilsson@example.com",
	"RES-104": "johan.berg@example.com",
}

const crashOutside = "leif@svenssonstak.example.org"

// crashExtra is how many bookings each installation gets besides the demo's 29 synced ones.
const crashExtra = 60

// crashEnv is one installation: the demo TF database with extra bookings, an emulator on loopback HTTPS with the
// files `tfsync emulator` writes, and a configuration pointing at it.
type crashEnv struct {
	t      *testing.T
	dir    string
	config string
	db     *sql.DB
	emu    *emulatorSetup
	secret string
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tfDB := filepath.Join(dir, "tf.db")
	now := time.Now()
	if err := seedDemo(ctx, tfDB, now, mustStockholm()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+tfDB+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &crashEnv{t: t, dir: dir, config: filepath.Join(dir, "tfsync.toml"), db: db}
	// Extra bookings over the next four weeks, from tomorrow, so that the window moving at midnight cannot touch
	// them.
	local := now.In(mustStockholm())
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < crashExtra; i++ {
		kind := tf.Kinds[i%len(tf.Kinds)]
		day := time.Date(local.Year(), local.Month(), local.Day()+2+i%28, 8+i%8, 0, 0, 0, mustStockholm())
		start, end := day.Format(tf.WallLayout), any(day.Add(90*time.Minute).Format(tf.WallLayout))
		if kind.AllDay() {
			start, end = day.Format(tf.DateLayout), nil
		}
		if _, err := tx.Exec(`INSERT INTO bookings (id, kind, resource_id, title, description, location, start,
			"end", status, url, version, updated_at) VALUES (?, ?, ?, ?, 'Extra', 'Gatan 1', ?, ?, 'planned', '', 1, ?)`,
			fmt.Sprintf("K-%03d", i), string(kind), fmt.Sprintf("RES-10%d", 1+i%4), fmt.Sprintf("Extra %d", i),
			start, end, local.Format(tf.WallLayout)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	io, _, _ := TestIO()
	e.emu, err = setupEmulator(ctx, NewFactory(io), "127.0.0.1:0", dir, tfDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.emu.Close)
	if err := os.WriteFile(e.config, []byte(e.emu.configTOML("graph")), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "client-secret.txt"))
	if err != nil {
		t.Fatal(err)
	}
	e.secret = strings.TrimSpace(string(secret))
	return e
}

func (e *crashEnv) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// child is one tfsync process.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// start starts tfsync as a child process with the configuration added to args.
func (e *crashEnv) start(args ...string) *child {
	e.t.Helper()
	return e.startWith(nil, args...)
}

// startWith is start with setup changing the command (its environment, extra files) before it starts.
func (e *crashEnv) startWith(setup func(*exec.Cmd), args ...string) *child {
	e.t.Helper()
	c := &child{}
	all := append([]string{"-test.run=^TestCrashHelperProcess$", "-test.count=1", "--"}, args...)
	all = append(all, "--config", e.config, "--log-format", "json")
	c.cmd = exec.Command(os.Args[0], all...)
	c.cmd.Env = append(os.Environ(), crashHelperEnv+"=1", "SSL_CERT_FILE="+e.emu.caFile)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if setup != nil {
		setup(c.cmd)
	}
	if err := c.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// wait waits for the child and returns its exit code, or -1 when a signal ended it.
func (c *child) wait() int {
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -2
	}
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1
	}
	return c.cmd.ProcessState.ExitCode()
}

// sync runs one pass in a child process; it must succeed.
func (e *crashEnv) sync() *child {
	e.t.Helper()
	c := e.start("sync")
	if code := c.wait(); code != exitcode.OK {
		e.t.Fatalf("sync: exit %d\n%s\n%s", code, c.stdout.String(), c.stderr.String())
	}
	return c
}

// crashSnapshot is, per mailbox, tfsync's events as (booking id, subject, start, end, all-day) and, per booking,
// TF's start, end and status; with any booking that has two events in one mailbox.
type crashSnapshot struct {
	calendars map[string]string
	tf        map[string]string
	dups      []string
}

func (e *crashEnv) snapshot() crashSnapshot {
	e.t.Helper()
	s := e.calendars()
	rows, err := e.db.Query(`SELECT id, start, coalesce("end", ''), status FROM bookings`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, start, end, status string
		if err := rows.Scan(&id, &start, &end, &status); err != nil {
			e.t.Fatal(err)
		}
		s.tf[id] = start + "|" + end + "|" + status
	}
	return s
}

// calendars is the snapshot without TF.
func (e *crashEnv) calendars() crashSnapshot {
	s := crashSnapshot{calendars: map[string]string{}, tf: map[string]string{}}
	for _, mb := range e.emu.mailboxes {
		var lines []string
		seen := map[string]bool{}
		for _, ev := range e.emu.em.Events(mb) {
			if ev.BookingID == "" {
				continue
			}
			if seen[ev.BookingID] {
				s.dups = append(s.dups, mb+" "+ev.BookingID)
			}
			seen[ev.BookingID] = true
			lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%t", ev.BookingID, ev.Subject,
				ev.Start.UTC().Format(time.RFC3339), ev.End.UTC().Format(time.RFC3339), ev.AllDay))
		}
		sort.Strings(lines)
		s.calendars[mb] = strings.Join(lines, "\n")
	}
	return s
}

// diff lists how got differs from want.
func (want crashSnapshot) diff(got crashSnapshot) []string {
	var out []string
	for _, d := range got.dups {
		out = append(out, "duplicate event: "+d)
	}
	for mb, w := range want.calendars {
		if g := got.calendars[mb]; g != w {
			out = append(out, fmt.Sprintf("calendar %s:\n%s\nwant\n%s", mb, g, w))
		}
	}
	for id, w := range want.tf {
		if g := got.tf[id]; g != w {
			out = append(out, fmt.Sprintf("TF %s: %s, want %s", id, g, w))
		}
	}
	sort.Strings(out)
	return out
}

// mutate is step n of the story both installations live through: TF retitles one booking, moves one, cancels
// one, reassigns one and adds three; a technician moves one event.
func (e *crashEnv) mutate(n int) {
	e.t.Helper()
	base := (n - 1) * 5
	id := func(k int) string { return fmt.Sprintf("K-%03d", base+k) }
	now := time.Now().In(mustStockholm()).Format(tf.WallLayout)
	e.exec(`UPDATE bookings SET title = title || ' (ändrad)', version = version + 1, updated_at = ? WHERE id = ?`, now, id(0))
	e.exec(`UPDATE bookings SET start = CASE WHEN kind = 'rondering' THEN date(start, '+1 day') ELSE
		strftime('%Y-%m-%dT%H:%M:%S', start, '+2 hours') END, "end" = CASE WHEN "end" IS NULL THEN NULL ELSE
		strftime('%Y-%m-%dT%H:%M:%S', "end", '+2 hours') END, version = version + 1, updated_at = ? WHERE id = ?`, now, id(1))
	e.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1, updated_at = ? WHERE id = ?`, now, id(2))
	e.exec(`UPDATE bookings SET resource_id = CASE resource_id WHEN 'RES-104' THEN 'RES-101' ELSE
		printf('RES-10%d', substr(resource_id, 7) + 1) END, version = version + 1, updated_at = ? WHERE id = ?`, now, id(3))
	for j := 0; j < 3; j++ {
		e.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, status, version, updated_at)
			VALUES (?, 'arende', ?, 'Nytt', ?, 'planned', 1, ?)`, fmt.Sprintf("S-%d-%d", n, j),
			fmt.Sprintf("RES-10%d", 1+j), time.Now().In(mustStockholm()).AddDate(0, 0, 3+n).Format("2006-01-02")+
				fmt.Sprintf("T%02d:00:00", 9+j), now)
	}
	var res string
	if err := e.db.QueryRow(`SELECT resource_id FROM bookings WHERE id = ?`, id(4)).Scan(&res); err != nil {
		e.t.Fatal(err)
	}
	mb := crashMailbox[res]
	for _, ev := range e.emu.em.Events(mb) {
		if ev.BookingID != id(4) {
			continue
		}
		start, end := ev.Start.Add(26*time.Hour), ev.End.Add(26*time.Hour)
		if ev.AllDay {
			start, end = ev.Start.AddDate(0, 0, 1), ev.End.AddDate(0, 0, 1)
		}
		if err := e.emu.em.MoveEvent(mb, ev.ID, start, end); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	e.t.Fatalf("no event of %s in %s to move", id(4), mb)
}

// TestSIGKILLDuringSync kills the real program with SIGKILL at random moments of its passes and runs a normal pass
// after each kill. A moment is a random Graph operation of the pass (the emulator sees it coming) plus a random
// delay of up to 30 ms, so that kills land before, during and after the server commits a write; a fixed seed makes
// them repeatable. An operation after the chosen one waits until the kill is sent and is then refused, as if it had
// never reached the server, so a slow machine cannot let the pass run to its end before the kill. One installation lives through the story cleanly, the other with the kills; after every step
// they must hold the same calendars and TF, with no duplicate, and the lock of the killed process must not stop the
// next pass.
func TestSIGKILLDuringSync(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	if testing.Short() {
		t.Skip("runs tfsync as child processes")
	}
	clean, killed := newCrashEnv(t), newCrashEnv(t)
	rng := rand.New(rand.NewPCG(20260320, 5))
	const steps = 12
	var ops atomic.Int64
	var target atomic.Int64
	hit := make(chan struct{}, 1)
	var sent atomic.Pointer[chan struct{}] // closed once this step's kill is sent (or its pass has ended)
	killed.emu.em.SetFaults(emulator.Faults{Latency: 20 * time.Millisecond, OpLatency: time.Millisecond,
		Hook: func(emulator.FaultOp) *emulator.FaultReply {
			n, at := ops.Add(1), target.Load()
			switch {
			case n == at:
				hit <- struct{}{}
			case at > 0 && n > at:
				<-*sent.Load()
				return &emulator.FaultReply{Status: http.StatusServiceUnavailable}
			}
			return nil
		}})
	midPass, finished, afterWrites := 0, 0, 0
	for n := 0; n < steps; n++ {
		if n > 0 {
			clean.mutate(n)
			killed.mutate(n)
		}
		before := clean.emu.em.Traffic().Operations
		if code, out, errOut := clean.runWithGraph("sync"); code != exitcode.OK {
			t.Fatalf("step %d, clean pass: exit %d\n%s\n%s", n, code, out, errOut)
		}
		want := clean.snapshot()
		total := clean.emu.em.Traffic().Operations - before

		ops.Store(0)
		killSent := make(chan struct{})
		sent.Store(&killSent)
		at := 1 + rng.Int64N(int64(total))
		target.Store(at)
		writes := killed.writes()
		delay := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
		c := killed.start("sync")
		exited := make(chan int, 1)
		go func() { exited <- c.wait() }()
		var code int
		select {
		case <-hit:
			time.Sleep(delay) // the moment to kill at, not a wait for something to happen
			c.cmd.Process.Signal(syscall.SIGKILL)
			close(killSent)
			code = <-exited
		case code = <-exited:
			close(killSent)
		}
		target.Store(0)
		select {
		case <-hit: // the operation came as the pass ended by itself
		default:
		}
		switch code {
		case -1:
			midPass++
		case exitcode.OK:
			finished++
		default:
			t.Fatalf("step %d: the pass to be killed ended with exit %d\n%s", n, code, c.stderr.String())
		}
		committed := killed.writes() - writes
		if code == -1 && committed > 0 {
			afterWrites++
		}
		t.Logf("step %d: kill at operation %d of %d + %v: exit %d, %d writes committed before", n, at, total,
			delay.Round(time.Millisecond), code, committed)
		if s := killed.calendars(); len(s.dups) > 0 {
			t.Fatalf("step %d: duplicates right after the kill: %v", n, s.dups)
		}
		code, out, errOut := killed.runWithGraph("sync")
		if code != exitcode.OK || strings.Contains(errOut, "is running") {
			t.Fatalf("step %d: the pass after the kill: exit %d\n%s\n%s", n, code, out, errOut)
		}
		if d := want.diff(killed.snapshot()); len(d) > 0 {
			t.Fatalf("step %d: after a kill and a normal pass the installation differs from the clean one:\n%s", n,
				strings.Join(d, "\n"))
		}
	}
	for _, e := range []*crashEnv{clean, killed} {
		if n := e.emu.em.Requests(crashOutside) + e.emu.em.Traffic().Mailboxes[crashOutside]; n != 0 {
			t.Errorf("the mailbox outside allowed_domains received %d requests", n)
		}
	}
	t.Logf("SIGKILL: %d passes killed mid-pass (%d of them after the server had committed some of their writes), %d "+
		"finished before the kill; every following pass converged to the clean installation with no duplicate",
		midPass, afterWrites, finished)
	if midPass < steps/2 {
		t.Errorf("only %d of %d kills landed mid-pass", midPass, steps)
	}
}

// TestTwoSyncsAtOnce runs two passes on the same installation at once: one syncs, the other leaves at once with
// exit 0 and says why in the log. The overlap is certain, not left to the machine's speed: the first pass is held
// right after taking the run lock (crashHoldEnv) until the second has started and ended.
func TestTwoSyncsAtOnce(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the hold hands the child extra file descriptors, which Windows does not")
	}
	if testing.Short() {
		t.Skip("runs tfsync as child processes")
	}
	e := newCrashEnv(t)
	heldR, heldW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	releaseR, releaseW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { heldR.Close(); releaseW.Close() }) // a failing test must not leave the first pass held
	a := e.startWith(func(c *exec.Cmd) {
		c.Env = append(c.Env, crashHoldEnv+"=1")
		c.ExtraFiles = []*os.File{heldW, releaseR} // descriptors 3 and 4
	}, "sync")
	heldW.Close() // the child's copies are the ones that count now
	releaseR.Close()
	exitedA := make(chan int, 1)
	go func() { exitedA <- a.wait() }()
	if _, err := heldR.Read(make([]byte, 1)); err != nil {
		releaseW.Close()
		t.Fatalf("the first pass ended before it held the run lock: exit %d\n%s", <-exitedA, a.stderr.String())
	}
	b := e.start("sync")
	codeB := b.wait()
	releaseW.Close()
	codeA := <-exitedA
	if codeA != exitcode.OK || codeB != exitcode.OK {
		t.Fatalf("exit %d and %d, want 0 and 0\n%s\n%s", codeA, codeB, a.stderr.String(), b.stderr.String())
	}
	left := 0
	for _, c := range []*child{a, b} {
		if strings.Contains(c.stderr.String(), "is running") {
			left++
			if c.stdout.Len() != 0 || !strings.Contains(c.stderr.String(), `"level":"info"`) {
				t.Errorf("the pass that left printed a result or did not log why:\n%s\n%s", c.stdout.String(),
					c.stderr.String())
			}
		}
	}
	if left != 1 {
		t.Fatalf("%d of the two passes left; want exactly one\n%s\n%s", left, a.stderr.String(), b.stderr.String())
	}
	if !strings.Contains(b.stderr.String(), "is running") {
		t.Fatalf("the second pass, started while the first held the lock, did not leave:\n%s", b.stderr.String())
	}
	s := e.snapshot()
	if len(s.dups) > 0 {
		t.Fatalf("duplicates: %v", s.dups)
	}
	n := 0
	for _, cal := range s.calendars {
		if cal != "" {
			n += strings.Count(cal, "\n") + 1
		}
	}
	if want := 29 + crashExtra; n != want {
		t.Fatalf("%d events after the pass, want %d", n, want)
	}
}

// runWithGraph runs a command in this process with the real Graph backend against the installation's emulator.
func (e *crashEnv) runWithGraph(args ...string) (int, string, string) {
	e.t.Helper()
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.NewCalendar = e.emu.calendarFor
	code := run(context.Background(), f, append(args, "--config", e.config))
	return code, out.String(), errOut.String()
}

func (e *crashEnv) writes() int {
	n := 0
	for _, mb := range e.emu.mailboxes {
		ops := e.emu.em.RequestsByOp(mb)
		n += ops["graph.create"] + ops["graph.update"] + ops["graph.delete"]
	}
	return n
}

// TestDamagedStateStore: a damaged store is reported with its fix and nothing is written; `sync --rebuild` moves
// it aside and relinks every event through its booking id, creating nothing.
func TestDamagedStateStore(t *testing.T) {
	t.Parallel()
	e := newCrashEnv(t)
	if code, out, errOut := e.runWithGraph("sync"); code != exitcode.OK {
		t.Fatalf("first pass: exit %d\n%s\n%s", code, out, errOut)
	}
	before := e.snapshot()
	state := filepath.Join(e.dir, "tfsync-state-graph.db")
	f, err := os.OpenFile(state, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 3000), 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writes := e.writes()
	code, out, errOut := e.runWithGraph("sync")
	if code != exitcode.Failure || !strings.Contains(errOut, "tfsync sync --rebuild") || !strings.Contains(errOut, state) {
		t.Fatalf("damaged store: exit %d\n%s\n%s", code, out, errOut)
	}
	if e.writes() != writes {
		t.Fatal("a pass with a damaged store wrote to calendars")
	}
	code, out, errOut = e.runWithGraph("sync", "--rebuild", "--output", "json")
	if code != exitcode.OK || !strings.Contains(out, `"relinked": `) || strings.Contains(out, `"created": 1`) {
		t.Fatalf("sync --rebuild: exit %d\n%s\n%s", code, out, errOut)
	}
	if e.writes() != writes {
		t.Fatalf("rebuilding wrote %d times to calendars", e.writes()-writes)
	}
	if d := before.diff(e.snapshot()); len(d) > 0 {
		t.Fatalf("rebuilding changed the installation:\n%s", strings.Join(d, "\n"))
	}
	if aside, _ := filepath.Glob(state + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("the damaged store was not kept aside: %v", aside)
	}
	if code, out, _ := e.runWithGraph("dry-run"); code != exitcode.OK || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("after the rebuild: exit %d\n%s", code, out)
	}
}

// TestUnreadableTF: a TF database that cannot be read stops the pass with exit 1 before anything is written,
// even when every linked booking would otherwise look gone.
func TestUnreadableTF(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(e *crashEnv)
	}{
		{"bookings table gone", func(e *crashEnv) { e.exec(`ALTER TABLE bookings RENAME TO bookings_old`) }},
		{"file overwritten", func(e *crashEnv) {
			path := filepath.Join(e.dir, "tf.db")
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCrashEnv(t)
			if code, _, errOut := e.runWithGraph("sync"); code != exitcode.OK {
				t.Fatalf("first pass: exit %d\n%s", code, errOut)
			}
			before := e.snapshot()
			writes := e.writes()
			tc.damage(e)
			code, out, errOut := e.runWithGraph("sync")
			if code != exitcode.Failure || !strings.Contains(errOut, "TF") {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if n := e.writes() - writes; n != 0 {
				t.Fatalf("%d calendar writes with TF unreadable", n)
			}
			if d := (crashSnapshot{calendars: before.calendars}).diff(e.calendars()); len(d) > 0 {
				t.Fatalf("calendars changed:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// TestMailboxRevokedMidPass: an access policy that starts excluding a mailbox while a pass writes to it makes
// that mailbox fail and the others sync: exit 4. Once access is back, the next pass completes it.
func TestMailboxRevokedMidPass(t *testing.T) {
	t.Parallel()
	e := newCrashEnv(t)
	const victim = "sara.nilsson@example.com"
	var revoke sync.Once
	e.emu.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
		if op.Mailbox == victim && op.Method != "GET" {
			revoke.Do(func() {
				if err := e.emu.em.SetMailbox(victim, emulator.MailboxOptions{Blocked: true}); err != nil {
					panic(err)
				}
			})
		}
		return nil
	}})
	code, out, errOut := e.runWithGraph("sync", "--output", "json")
	if code != exitcode.Partial {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitcode.Partial, out, errOut)
	}
	var report struct {
		Mailboxes []struct {
			Mailbox   string
			Errors    int
			ReadError string `json:"read_error"`
		}
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	for _, m := range report.Mailboxes {
		if failed := m.Errors > 0 || m.ReadError != ""; failed != (m.Mailbox == victim) {
			t.Errorf("report for %s: %d errors, read error %q; only %s should fail", m.Mailbox, m.Errors,
				m.ReadError, victim)
		}
	}
	s := e.snapshot()
	for res, mb := range crashMailbox {
		if mb != victim && s.calendars[mb] == "" {
			t.Errorf("%s (%s) was not synced while %s failed", mb, res, victim)
		}
	}
	if err := e.emu.em.SetMailbox(victim, emulator.MailboxOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := e.runWithGraph("sync"); code != exitcode.OK {
		t.Fatalf("after access came back: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := e.snapshot(); len(s.dups) > 0 || s.calendars[victim] == "" {
		t.Fatalf("after access came back: duplicates %v, %s's calendar %q", s.dups, victim, s.calendars[victim])
	}
}

// TestSecretInNoOutputOverGraph runs every command against the emulator with the real Graph backend (so the
// secret really is sent to the token endpoint), at debug level, with a right and a wrong secret, and with the
// secret written into a config file others may read: the secret appears in no output and no log line.
func TestSecretInNoOutputOverGraph(t *testing.T) {
	e := newCrashEnv(t)
	wrong := "Wr0ng~" + newSecret()
	if err := os.WriteFile(filepath.Join(e.dir, "wrong-secret.txt"), []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]string{
		"file":    string(good),
		"wrong":   strings.Replace(string(good), "file:client-secret.txt", "file:wrong-secret.txt", 1),
		"literal": strings.Replace(string(good), `"file:client-secret.txt"`, `"`+e.secret+`"`, 1),
		"env":     strings.Replace(string(good), "file:client-secret.txt", "env:TFSYNC_CRASH_SECRET", 1),
		"remote-http": regexp.MustCompile(`(?m)^graph_url = .*$`).ReplaceAllString(string(good),
			`graph_url = "http://graph.microsoft.com"`),
	}
	t.Setenv("TFSYNC_CRASH_SECRET", e.secret)
	commands := [][]string{
		{"sync", "--log-level", "debug"},
		{"sync", "--output", "json", "--full", "--log-level", "debug"},
		{"dry-run", "--output", "json", "--log-level", "debug"},
		{"test-connection", "--log-level", "debug"},
		{"list-resources", "--check", "--log-level", "debug"},
		{"status"},
		{"show", "--resource", "RES-101", "--output", "json", "--log-level", "debug"},
		// Without --yes off a terminal it shows its plan and stops: the store stays for the other commands.
		{"uninstall", "--log-level", "debug"},
		{"version"},
		{"init"},
		{"demo"},
		{"emulator"},
	}
	covered := map[string]bool{}
	var all strings.Builder
	for name, cfg := range configs {
		mode := os.FileMode(0o600)
		if name == "literal" {
			mode = 0o644
		}
		if err := os.WriteFile(e.config, []byte(cfg), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(e.config, mode); err != nil {
			t.Fatal(err)
		}
		for _, args := range commands {
			covered[args[0]] = true
			var code int
			var out, errOut string
			switch args[0] {
			case "init":
				// init writes a new configuration; it must not overwrite the one under test.
				io, o, eo := TestIO()
				code = run(context.Background(), NewFactory(io), []string{"init", "--config",
					filepath.Join(t.TempDir(), "new.toml"), "--tenant-id", emuTenantID, "--client-id", emuClientID,
					"--allowed-domain", "example.com", "--log-level", "debug"})
				out, errOut = o.String(), eo.String()
			case "demo", "emulator":
				// They make their own emulator and secrets; a cancelled context ends `emulator` at once.
				io, o, eo := TestIO()
				ctx := context.Background()
				if args[0] == "emulator" {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					cancel()
				}
				dir := t.TempDir()
				code = run(ctx, NewFactory(io), []string{args[0], "--dir", dir, "--log-level", "debug"})
				out, errOut = o.String(), eo.String()
				if own, err := os.ReadFile(filepath.Join(dir, "client-secret.txt")); err == nil &&
					strings.Contains(out+errOut, strings.TrimSpace(string(own))) {
					t.Errorf("%s printed its own client secret", args[0])
				}
			default:
				code, out, errOut = e.runWithGraph(args...)
			}
			all.WriteString(out + errOut)
			if name == "literal" && args[0] == "sync" && !strings.Contains(errOut, "chmod 600") {
				t.Errorf("a config file with a secret that others may read drew no warning:\n%s", errOut)
			}
			if name == "wrong" && (args[0] == "sync" || args[0] == "test-connection") && code != exitcode.Auth {
				t.Errorf("%s with a wrong secret: exit %d, want %d\n%s%s", args[0], code, exitcode.Auth, out, errOut)
			}
			if name == "remote-http" && args[0] == "sync" && (code != exitcode.Usage || !strings.Contains(errOut, "must use https")) {
				t.Errorf("a plain http graph_url that is not loopback: exit %d\n%s", code, errOut)
			}
		}
	}
	for _, secret := range []string{e.secret, wrong} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("a secret appeared in the output: %q", secret)
		}
	}
	root := NewCmdRoot(NewFactory(&IOStreams{}))
	for _, c := range root.Commands() {
		if name := c.Name(); name != "help" && name != "completion" && !covered[name] {
			t.Errorf("command %s is not covered by this test: add it", name)
		}
	}
}
