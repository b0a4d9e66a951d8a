package sync_test

// Reliability tests (issue 5): the engine with the real Microsoft Graph backend, against the emulator over HTTPS,
// under the failures that break sync engines: a connection dropped after the server committed a write, at every
// request of a scripted scenario; throttling storms; a lost or damaged mapping store; cursors, tokens and access
// that expire in the middle of a pass; reads that fail or come back empty; hostile text; daylight saving time.
// Every test compares with what a clean run gives, and fails when an event is duplicated, a calendar move is lost,
// or a mailbox outside allowed_domains is contacted.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/emulator/emutest/testclock"
	"tfsync/exchange/graph"
	calsync "tfsync/sync"
	"tfsync/tf"
)

var relZone = func() *time.Location {
	z, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic(err)
	}
	return z
}()

// relNow is a Friday, nine days before the spring change to daylight saving time.
var relNow = time.Date(2026, 3, 20, 10, 0, 0, 0, relZone)

// The scenario's technicians (resources R1-R4), and a mailbox outside allowed_domains (R5) that must never receive
// a single request.
var relMailboxes = []string{"anna@example.com", "bo@example.com", "cecilia@example.com", "david@example.com"}

const relOutside = "extern@other.example.org"

func relSettings() calsync.Settings {
	return calsync.Settings{
		Zone:             relZone,
		Kinds:            tf.Kinds,
		DefaultLength:    time.Hour,
		ShowAs:           exchange.ShowBusy,
		ReminderMinutes:  15,
		IncludeLocation:  true,
		AllowedDomains:   []string{"example.com"},
		PastDays:         7,
		FutureDays:       90,
		Conflict:         calsync.ConflictTF,
		OnCalendarDelete: calsync.DeleteRecreate,
		MaxDeletePercent: 50,
		MaxDeleteFloor:   5,
	}
}

// lockedBuffer collects a rig's logs; the engine logs from several goroutines.
type lockedBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n lines.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(b.buf.String()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errNetworkDown = errors.New("emulated crash: the network is gone")

// netSwitch is the Graph client's network. Armed, the first connection the emulator drops after committing a
// write takes the network down for the rest of the pass and stops the pass, as a crash at that moment would:
// the server acted, the client never heard, and nothing more reaches the server.
type netSwitch struct {
	base http.RoundTripper

	mu   gosync.Mutex
	stop context.CancelFunc // set while armed
	down bool
}

func (n *netSwitch) arm(stop context.CancelFunc) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stop = stop
}

// restore brings the network back, as for the next process.
func (n *netSwitch) restore() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stop, n.down = nil, false
}

func (n *netSwitch) RoundTrip(req *http.Request) (*http.Response, error) {
	n.mu.Lock()
	down := n.down
	n.mu.Unlock()
	if down {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errNetworkDown
	}
	resp, err := n.base.RoundTrip(req)
	if err != nil && strings.HasPrefix(req.URL.Path, "/v1.0") {
		n.mu.Lock()
		stop := n.stop
		if stop != nil {
			n.down, n.stop = true, nil
		}
		n.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	return resp, err
}

// rig is one installation: a TF database, a mapping store, the emulator on loopback HTTPS, and a fresh Graph
// client, store and TF connection for every pass, as each scheduled `tfsync sync` is a new process.
type rig struct {
	t         *testing.T
	emu       *emutest.Rig     // the shared emulator rig, with the standard app and EWS account
	clock     *testclock.Clock // the one clock: the emulator's (token expiry), the backends', TF's and the engine's
	tfPath    string
	statePath string
	db        *sql.DB
	em        *emulator.Emulator
	srv       *emulator.Server
	net       *netSwitch
	settings  calsync.Settings
	pageSize  int
	log       *lockedBuffer
	// wrapSource, when set, stands between the engine and TF.
	wrapSource func(tf.Source) tf.Source

	backoff *emutest.Backoff // the waits the backends asked for between retries, served for 1 ms at most
	passes  int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, tfPath: filepath.Join(dir, "tf.db"),
		statePath: filepath.Join(dir, "state.db"), settings: relSettings(), pageSize: 5, log: &lockedBuffer{}}
	ctx := context.Background()
	if err := tf.CreateSchema(ctx, r.tfPath); err != nil {
		t.Fatal(err)
	}
	// The test's own writes need no durability; synchronous=OFF keeps seeding fast.
	db, err := sql.Open("sqlite3", "file:"+r.tfPath+"?_busy_timeout=5000&_synchronous=OFF")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r.db = db
	r.emu = emutest.Start(t, emutest.Options{Start: relNow,
		Mailboxes: append(append([]string{}, relMailboxes...), relOutside), EWS: true, Impersonation: true})
	r.em, r.srv, r.clock = r.emu.Emulator, r.emu.Server, r.emu.Clock
	r.backoff = &emutest.Backoff{Cap: time.Millisecond}
	r.net = &netSwitch{base: r.srv.Client().Transport}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last log lines:\n%s", r.log.tail(60))
		}
	})
	return r
}

func (r *rig) exec(q string, args ...any) {
	r.t.Helper()
	if _, err := r.db.Exec(q, args...); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
}

// sleep is the backends' back-off: the wait is recorded, not served in full (the test needs the order of events,
// not the time).
func (r *rig) sleep(ctx context.Context, d time.Duration) error { return r.backoff.Sleep(ctx, d) }

func (r *rig) graphOptions() graph.Options {
	o := r.emu.GraphOptions()
	o.HTTPClient = &http.Client{Transport: r.net}
	o.Zone, o.Now, o.Sleep, o.PageSize = relZone, r.clock.Now, r.sleep, r.pageSize
	return o
}

// pass runs one `tfsync sync`: fresh connections to the store, TF and Graph.
func (r *rig) pass(ctx context.Context, force bool) (*calsync.Report, error) {
	r.passes++
	store, err := calsync.OpenStore(ctx, r.statePath, r.clock.Now)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	sqlite, err := tf.OpenSQLite(r.tfPath, tf.SQLiteOptions{Zone: relZone, Now: r.clock.Now})
	if err != nil {
		return nil, err
	}
	defer sqlite.Close()
	// Every pass names its installation, as cmd wires it: the id from TF's database, made by the first pass.
	settings := r.settings
	if settings.InstallationID, err = sqlite.Installation(ctx); err != nil {
		return nil, err
	}
	var src tf.Source = sqlite
	if r.wrapSource != nil {
		src = r.wrapSource(src)
	}
	cal, err := graph.New(r.graphOptions())
	if err != nil {
		r.t.Fatalf("graph client: %v", err)
	}
	eng := &calsync.Engine{Source: src, Calendar: cal, Store: store, Settings: settings, Now: r.clock.Now,
		RunID: fmt.Sprintf("pass-%d", r.passes), Force: force}
	logger := zerolog.New(r.log).Level(zerolog.InfoLevel).With().Str("run_id", eng.RunID).Logger()
	return eng.Sync(logger.WithContext(ctx))
}

// mustPass runs a pass that must succeed completely.
func (r *rig) mustPass(ctx context.Context, force bool) *calsync.Report {
	r.t.Helper()
	rep, err := r.pass(ctx, force)
	if err != nil {
		r.t.Fatalf("pass %d: %v", r.passes, err)
	}
	if err := rep.Err(); err != nil {
		r.t.Fatalf("pass %d: %v\n%s", r.passes, err, failures(rep))
	}
	return rep
}

func failures(rep *calsync.Report) string {
	var sb strings.Builder
	for _, m := range rep.Mailboxes {
		if m.ReadError != "" {
			fmt.Fprintf(&sb, "  read %s: %s\n", m.Mailbox, m.ReadError)
		}
	}
	for _, res := range rep.Results {
		if res.Err != nil {
			fmt.Fprintf(&sb, "  %v\n", res.Err)
		}
	}
	return sb.String()
}

func total(rep *calsync.Report, field func(calsync.MailboxSummary) int) int {
	n := 0
	if rep == nil {
		return 0
	}
	for _, m := range rep.Mailboxes {
		n += field(m)
	}
	return n
}

func created(m calsync.MailboxSummary) int  { return m.Created }
func deleted(m calsync.MailboxSummary) int  { return m.Deleted }
func relinked(m calsync.MailboxSummary) int { return m.Relinked }

// writes counts the creates, updates and deletes that reached the emulator's mailboxes so far.
func (r *rig) writes() int {
	n := 0
	for _, mb := range r.em.RequestedMailboxes() {
		ops := r.em.RequestsByOp(mb)
		n += ops["graph.create"] + ops["graph.update"] + ops["graph.delete"]
	}
	return n
}

// pending returns the store's journal of unconfirmed creates.
func (r *rig) pending() []calsync.Pending {
	r.t.Helper()
	store, err := calsync.OpenStore(context.Background(), r.statePath, r.clock.Now)
	if err != nil {
		r.t.Fatal(err)
	}
	defer store.Close()
	p, err := store.PendingCreates(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func wall(t time.Time) string { return t.In(relZone).Format(tf.WallLayout) }

// relBooking is a TF row; a zero end is stored as NULL (the default length).
type relBooking struct {
	id    string
	kind  tf.Kind
	res   string
	title string
	start time.Time
	end   time.Time
}

func (b relBooking) startText() string {
	if b.kind.AllDay() {
		return b.start.In(relZone).Format(tf.DateLayout)
	}
	return wall(b.start)
}

func (r *rig) insert(b relBooking) {
	r.t.Helper()
	var end any
	if !b.end.IsZero() {
		end = wall(b.end)
	}
	r.exec(`INSERT INTO bookings (id, kind, resource_id, title, description, location, start, "end", status, url,
		version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, 1, ?)`,
		b.id, string(b.kind), b.res, b.title, "Beskrivning av "+b.id+"\nandra raden", "Storgatan "+b.id[2:],
		b.startText(), end, "https://tf.example.com/bokning/"+b.id, wall(relNow.Add(-24*time.Hour)))
}

func (r *rig) seedResources() {
	r.exec(`INSERT INTO resources (id, name, email, sync_enabled) VALUES
		('R1', 'Anna', 'anna@example.com', 1), ('R2', 'Bo', 'bo@example.com', 1),
		('R3', 'Cecilia', 'cecilia@example.com', 1), ('R4', 'David', 'david@example.com', 1),
		('R5', 'Extern', ?, 1), ('R6', 'Utan e-post', NULL, 1)`, relOutside)
}

// scenarioBookings is how many bookings the scenario starts with (the first pass creates them all).
const scenarioBookings = 56

// scenarioBooking is the scenario's i-th booking: the five kinds in turn (every fifth a rondering, all-day), over
// the four technicians, spread over the next 38 days (across the spring DST change), some without an end.
func scenarioBooking(i int) relBooking {
	kind := tf.Kinds[i%len(tf.Kinds)]
	day := 20 + 1 + (i*3)%38
	b := relBooking{id: fmt.Sprintf("B-%03d", i), kind: kind, res: fmt.Sprintf("R%d", 1+i%4),
		title: fmt.Sprintf("Uppdrag %d", i)}
	if kind.AllDay() {
		b.start = time.Date(2026, 3, day, 0, 0, 0, 0, relZone)
		return b
	}
	b.start = time.Date(2026, 3, day, 7+i%9, 0, 0, 0, relZone)
	if i%7 != 0 {
		b.end = b.start.Add(time.Duration(30+15*(i%4)) * time.Minute)
	}
	return b
}

// seed writes the scenario's TF: the technicians, 56 bookings, and bookings for a resource outside
// allowed_domains and one without an e-mail address.
func (r *rig) seed() {
	r.seedResources()
	for i := 0; i < scenarioBookings; i++ {
		r.insert(scenarioBooking(i))
	}
	for i := 1; i <= 3; i++ {
		r.insert(relBooking{id: fmt.Sprintf("X-%d", i), kind: tf.KindArende, res: "R5", title: "Extern",
			start: time.Date(2026, 3, 23+i, 9, 0, 0, 0, relZone)})
	}
	r.insert(relBooking{id: "Y-1", kind: tf.KindKontroll, res: "R6", title: "Ingen e-post",
		start: time.Date(2026, 3, 24, 9, 0, 0, 0, relZone)})
}

// event returns the one tfsync event of a booking in a mailbox.
func (r *rig) event(mb, bookingID string) exchange.Event {
	r.t.Helper()
	var found []exchange.Event
	for _, ev := range r.em.Events(mb) {
		if ev.BookingID == bookingID {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		r.t.Fatalf("%s has %d events of booking %s, want 1", mb, len(found), bookingID)
	}
	return found[0]
}

// relMove is what TF should hold after a technician's move: the new start and end as stored ("" end: left NULL).
type relMove struct{ start, end string }

// moveEvent moves a booking's event as a technician would: a timed one by 26 hours, an all-day one to the next
// day. It returns what TF should hold once the move is written back.
func (r *rig) moveEvent(mb, bookingID string) relMove {
	r.t.Helper()
	ev := r.event(mb, bookingID)
	var start, end time.Time
	var want relMove
	if ev.AllDay {
		y, m, d := ev.Start.In(relZone).Date()
		start, end = time.Date(y, m, d+1, 0, 0, 0, 0, relZone), time.Date(y, m, d+2, 0, 0, 0, 0, relZone)
		var stored sql.NullString
		if err := r.db.QueryRow(`SELECT "end" FROM bookings WHERE id = ?`, bookingID).Scan(&stored); err != nil {
			r.t.Fatal(err)
		}
		want = relMove{start: start.Format(tf.DateLayout), end: stored.String}
	} else {
		start, end = ev.Start.Add(26*time.Hour), ev.End.Add(26*time.Hour)
		want = relMove{start: wall(start), end: wall(end)}
	}
	if err := r.em.MoveEvent(mb, ev.ID, start, end); err != nil {
		r.t.Fatal(err)
	}
	return want
}

// mutate is what happens between the scenario's passes: TF changes 20 bookings (10 titles, 10 times), cancels 10,
// reassigns 2 to other technicians and adds 6, and technicians move 10 events in Outlook. It returns the moves.
func (r *rig) mutate() map[string]relMove {
	r.t.Helper()
	now := wall(r.clock.Now())
	for i := 0; i < 10; i++ {
		r.exec(`UPDATE bookings SET title = title || ' (ändrad)', version = version + 1, updated_at = ? WHERE id = ?`,
			now, scenarioBooking(i).id)
	}
	for i := 10; i < 20; i++ {
		b := scenarioBooking(i)
		if b.kind.AllDay() {
			r.exec(`UPDATE bookings SET start = ?, version = version + 1, updated_at = ? WHERE id = ?`,
				b.start.AddDate(0, 0, 1).Format(tf.DateLayout), now, b.id)
			continue
		}
		var end any
		if !b.end.IsZero() {
			end = wall(b.end.Add(2 * time.Hour))
		}
		r.exec(`UPDATE bookings SET start = ?, "end" = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			wall(b.start.Add(2*time.Hour)), end, now, b.id)
	}
	for i := 20; i < 30; i++ {
		r.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1, updated_at = ? WHERE id = ?`,
			now, scenarioBooking(i).id)
	}
	moves := map[string]relMove{}
	for i := 30; i < 40; i++ {
		b := scenarioBooking(i)
		moves[b.id] = r.moveEvent(relMailboxes[i%4], b.id)
	}
	for _, i := range []int{40, 41} {
		r.exec(`UPDATE bookings SET resource_id = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			fmt.Sprintf("R%d", 1+(i+1)%4), now, scenarioBooking(i).id)
	}
	for j := 0; j < 6; j++ {
		r.insert(relBooking{id: fmt.Sprintf("N-%02d", j), kind: tf.Kinds[j%len(tf.Kinds)], res: fmt.Sprintf("R%d", 1+j%4),
			title: fmt.Sprintf("Nytt uppdrag %d", j), start: time.Date(2026, 3, 25+j, 13, 0, 0, 0, relZone)})
	}
	return moves
}

// relSnapshot is what a run ends with: per mailbox, tfsync's events as (booking id, subject, start, end, all-day);
// per booking, TF's start, end and status as stored; and any booking with two events in one mailbox.
type relSnapshot struct {
	Calendars map[string][]string
	TF        map[string]string
	Dups      []string
}

func (r *rig) snapshot() relSnapshot {
	r.t.Helper()
	s := relSnapshot{Calendars: map[string][]string{}, TF: map[string]string{}}
	for _, mb := range append(append([]string{}, relMailboxes...), relOutside) {
		seen := map[string]int{}
		for _, ev := range r.em.Events(mb) {
			if ev.BookingID == "" {
				continue
			}
			if seen[ev.BookingID]++; seen[ev.BookingID] == 2 {
				s.Dups = append(s.Dups, mb+" "+ev.BookingID)
			}
			s.Calendars[mb] = append(s.Calendars[mb], fmt.Sprintf("%s|%s|%s|%s|%t", ev.BookingID, ev.Subject,
				ev.Start.UTC().Format(time.RFC3339), ev.End.UTC().Format(time.RFC3339), ev.AllDay))
		}
		sort.Strings(s.Calendars[mb])
	}
	rows, err := r.db.Query(`SELECT id, start, coalesce("end", ''), status FROM bookings`)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, start, end, status string
		if err := rows.Scan(&id, &start, &end, &status); err != nil {
			r.t.Fatal(err)
		}
		s.TF[id] = start + "|" + end + "|" + status
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// diffSnapshots lists how got differs from want (at most 20 lines).
func diffSnapshots(want, got relSnapshot) []string {
	var out []string
	for _, d := range got.Dups {
		out = append(out, "duplicate event: "+d)
	}
	mbs := map[string]bool{}
	for mb := range want.Calendars {
		mbs[mb] = true
	}
	for mb := range got.Calendars {
		mbs[mb] = true
	}
	for mb := range mbs {
		w, g := map[string]bool{}, map[string]bool{}
		for _, e := range want.Calendars[mb] {
			w[e] = true
		}
		for _, e := range got.Calendars[mb] {
			g[e] = true
			if !w[e] {
				out = append(out, fmt.Sprintf("%s: unexpected event %s", mb, e))
			}
		}
		for _, e := range want.Calendars[mb] {
			if !g[e] {
				out = append(out, fmt.Sprintf("%s: missing event %s", mb, e))
			}
		}
	}
	for id, w := range want.TF {
		if g := got.TF[id]; g != w {
			out = append(out, fmt.Sprintf("TF %s: %q, want %q", id, g, w))
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return out
}

// checkInvariants fails the test when a run broke a property that holds after every pass: no booking has two
// events in a mailbox, and the mailbox outside allowed_domains never received a request.
func (r *rig) checkInvariants(when string) {
	r.t.Helper()
	if s := r.snapshot(); len(s.Dups) > 0 {
		r.t.Fatalf("%s: duplicate events: %v", when, s.Dups)
	}
	if n, m := r.em.Requests(relOutside), r.em.Traffic().Mailboxes[relOutside]; n != 0 || m != 0 {
		r.t.Fatalf("%s: the mailbox outside allowed_domains received %d requests (%d at the front)", when, n, m)
	}
}

// checkMoves fails the test when a technician's move is not in TF.
func (r *rig) checkMoves(moves map[string]relMove) {
	r.t.Helper()
	for id, m := range moves {
		var start string
		var end sql.NullString
		if err := r.db.QueryRow(`SELECT start, "end" FROM bookings WHERE id = ?`, id).Scan(&start, &end); err != nil {
			r.t.Fatal(err)
		}
		if start != m.start || end.String != m.end {
			r.t.Errorf("lost move: TF has %s %s - %s, the technician moved it to %s - %s", id, start, end.String,
				m.start, m.end)
		}
	}
}

type faultMode string

const (
	modeClean faultMode = "clean"
	// modeDrop: the k-th request is handled in full, then its connection is closed without an answer; the client
	// carries on (and retries), as after a network blip.
	modeDrop faultMode = "drop"
	// modeCut: as modeDrop, but the network stays down and the pass is stopped at that moment, as if the process
	// had died right after the server committed the write.
	modeCut faultMode = "cut"
)

// scenarioRun is what one run of the scenario gave.
type scenarioRun struct {
	snap     relSnapshot
	moves    map[string]relMove
	requests int    // HTTP requests to Graph over the whole run
	fired    bool   // the fault was reached
	firedIn  string // the pass it hit
	// faultedFailed: the pass the fault hit reported a failure (else the backend's retries absorbed it).
	faultedFailed bool
	// recovered counts the events the pass after the fault relinked: writes the server committed that the
	// faulted pass never recorded.
	recovered int
}

// runScenario plays the scenario: a first pass creates 56 events; TF and the technicians change things; a second
// pass applies 20 updates, 12 deletes, 8 creates and 10 moves back to TF (2 of them reassignments); a final pass
// must find nothing to do. With a fault mode, the k-th HTTP request to Graph is dropped after the server
// committed it, and a normal pass follows the pass it hit.
func runScenario(t *testing.T, mode faultMode, k int) scenarioRun {
	t.Helper()
	ctx := context.Background()
	r := newRig(t)
	r.seed()
	r.em.ResetTraffic()
	if mode != modeClean {
		r.em.SetFaults(emulator.Faults{DropAfterCommitAt: k})
	}
	var run scenarioRun
	step := func(name string) {
		t.Helper()
		armed := mode != modeClean && !run.fired
		passCtx, stop := context.WithCancel(ctx)
		defer stop()
		if armed && mode == modeCut {
			r.net.arm(stop)
		}
		rep, err := r.pass(passCtx, false)
		r.net.restore()
		if !armed || r.em.Traffic().HTTPRequests < k {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, failures(rep))
			}
			r.checkInvariants(name)
			return
		}
		run.fired, run.firedIn = true, name
		run.faultedFailed = err != nil || rep.Err() != nil
		r.checkInvariants(name + " (faulted)")
		// The next scheduled pass is a normal one, and it must converge by itself.
		rec := r.mustPass(ctx, false)
		run.recovered = total(rec, relinked)
		r.checkInvariants(name + " (recovery)")
	}
	step("pass 1")
	run.moves = r.mutate()
	step("pass 2")
	before := r.writes()
	step("final pass")
	if run.firedIn != "final pass" {
		if n := r.writes() - before; n != 0 {
			t.Fatalf("the final pass wrote %d times: the passes before it did not converge", n)
		}
	}
	run.snap = r.snapshot()
	run.requests = r.em.Traffic().HTTPRequests
	r.checkMoves(run.moves)
	if p := r.pending(); len(p) != 0 {
		t.Errorf("%d creates still journalled as unconfirmed after convergence, e.g. %+v", len(p), p[0])
	}
	return run
}

// TestCrashMatrix runs the scenario once cleanly, then again with "commit the write, then drop the connection" at
// every HTTP request to Graph in turn, in two ways: the client carries on (drop), or the pass dies at that moment
// (cut). After each, one normal pass must leave the calendars and TF exactly as the clean run left them, with no
// duplicate and every calendar move in TF. Until its fault fires a run makes the clean run's requests, so every
// index up to the clean run's count is reached; a few more are tried for the requests retries add. With -short
// only every third index is tried.
func TestCrashMatrix(t *testing.T) {
	t.Parallel()
	clean := scenarioOutcome(t)
	if n := len(clean.snap.Calendars["anna@example.com"]); n == 0 {
		t.Fatal("the clean run left no events")
	}
	t.Logf("clean run: %d Graph requests over 3 passes", clean.requests)
	stride := 1
	if testing.Short() {
		stride = 3
	}
	maxK := clean.requests + 3
	for _, mode := range []faultMode{modeDrop, modeCut} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			runs := make([]scenarioRun, maxK+1)
			ok := make([]bool, maxK+1)
			ran := make([]bool, maxK+1)
			t.Run("k", func(t *testing.T) {
				for k := 1; k <= maxK; k += stride {
					t.Run(fmt.Sprint(k), func(t *testing.T) {
						t.Parallel()
						ran[k] = true
						runs[k] = runScenario(t, mode, k)
						if d := diffSnapshots(clean.snap, runs[k].snap); len(d) > 0 {
							t.Errorf("final state differs from the clean run's:\n  %s", strings.Join(d, "\n  "))
						}
						ok[k] = !t.Failed()
					})
				}
			})
			tried, equal, failedPasses, recovered, byPass := 0, 0, 0, 0, map[string]int{}
			for k := 1; k <= maxK; k++ {
				if !ran[k] {
					continue // skipped by the stride or by -run
				}
				if !ok[k] {
					tried++ // failed, maybe before the run could say whether its fault fired
					continue
				}
				if !runs[k].fired {
					if k <= clean.requests {
						t.Errorf("k=%d: the fault was never reached, though the clean run makes %d requests", k,
							clean.requests)
					}
					continue
				}
				tried++
				byPass[runs[k].firedIn]++
				recovered += runs[k].recovered
				if runs[k].faultedFailed {
					failedPasses++
				}
				equal++
			}
			t.Logf("%s: %d fault points tried (by pass: %v); the faulted pass reported a failure %d times; the next "+
				"pass relinked %d events the server had committed but the faulted pass never recorded; outcome "+
				"equal to the clean run, with no duplicate and no lost move: %d of %d", mode, tried, byPass,
				failedPasses, recovered, equal, tried)
		})
	}
}

// converge runs passes until one succeeds completely, checking the invariants after each; it returns how many
// passes it took.
func (r *rig) converge(ctx context.Context, max int) int {
	r.t.Helper()
	for i := 1; i <= max; i++ {
		rep, err := r.pass(ctx, false)
		r.checkInvariants(fmt.Sprintf("pass %d", r.passes))
		if err == nil && rep.Err() == nil {
			return i
		}
	}
	r.t.Fatalf("no complete pass in %d tries", max)
	return 0
}

// cleanOutcome is the scenario run without faults, computed once for all the tests that compare with it.
var cleanOutcome struct {
	once gosync.Once
	run  scenarioRun
	ok   bool
}

func scenarioOutcome(t *testing.T) scenarioRun {
	t.Helper()
	cleanOutcome.once.Do(func() {
		cleanOutcome.run = runScenario(t, modeClean, 0)
		cleanOutcome.ok = !t.Failed()
	})
	if !cleanOutcome.ok {
		t.Fatal("the clean scenario failed")
	}
	return cleanOutcome.run
}

// TestStorm plays the scenario while 30% of Graph operations are answered 429 with a fractional Retry-After and
// 10% 503: every pass may leave some work to the next, but none duplicates an event, and the end is the clean
// run's.
func TestStorm(t *testing.T) {
	t.Parallel()
	want := scenarioOutcome(t).snap
	ctx := context.Background()
	r := newRig(t)
	r.seed()
	r.em.SetFaults(emulator.Faults{Rate429: 0.3, Rate503: 0.1, RetryAfter: "0.05", Seed: 5})
	r.em.ResetTraffic()
	n1 := r.converge(ctx, 10)
	moves := r.mutate()
	n2 := r.converge(ctx, 10)
	tr := r.em.Traffic()
	r.em.SetFaults(emulator.Faults{})
	before := r.writes()
	r.mustPass(ctx, false)
	if n := r.writes() - before; n != 0 {
		t.Fatalf("after the storm a calm pass still wrote %d times", n)
	}
	if d := diffSnapshots(want, r.snapshot()); len(d) > 0 {
		t.Fatalf("after the storm the state differs from the clean run's:\n  %s", strings.Join(d, "\n  "))
	}
	r.checkMoves(moves)
	honoured := 0
	for _, d := range r.backoff.Waits() {
		if d == 50*time.Millisecond {
			honoured++
		}
	}
	if honoured == 0 || tr.Throttled == 0 {
		t.Fatalf("the storm did not happen: %d waits of the server's 0.05 s, %d throttled answers", honoured, tr.Throttled)
	}
	t.Logf("storm (429: 30%%, 503: 10%%, Retry-After 0.05): %d operations, %d answered 429, %d waits of exactly "+
		"50 ms; converged in %d + %d passes; duplicates 0, outcome equal to the clean run", tr.Operations,
		tr.Throttled, honoured, n1, n2)
}

// TestLostOrDamagedStore loses the mapping store after the scenario: deleted, or damaged and moved aside as
// `sync --rebuild` does. The next pass relinks every event through its booking id and creates or deletes nothing.
func TestLostOrDamagedStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, r *rig)
	}{
		{"deleted", func(t *testing.T, r *rig) {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(r.statePath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
		}},
		{"damaged", func(t *testing.T, r *rig) {
			f, err := os.OpenFile(r.statePath, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Keep SQLite's header and overwrite the rest of the first page, where the schema lives.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 3000), 100); err != nil {
				t.Fatal(err)
			}
			f.Close()
			before := r.writes()
			_, err = r.pass(context.Background(), false)
			if !errors.Is(err, calsync.ErrStoreCorrupt) || !strings.Contains(err.Error(), "tfsync sync --rebuild") {
				t.Fatalf("a damaged store gave %v; want ErrStoreCorrupt that names the fix", err)
			}
			if r.writes() != before {
				t.Fatal("a pass wrote to calendars with a damaged store")
			}
			moved, err := calsync.RebuildStore(r.statePath, r.clock.Now)
			if err != nil || moved == "" {
				t.Fatalf("rebuild: %q %v", moved, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			r.seed()
			r.mustPass(ctx, false)
			r.mutate()
			r.mustPass(ctx, false)
			before := r.snapshot()
			events := 0
			for _, evs := range before.Calendars {
				events += len(evs)
			}
			tc.lose(t, r)
			r.em.ResetRequests()
			rep := r.mustPass(ctx, false)
			if c, d, l := total(rep, created), total(rep, deleted), total(rep, relinked); c != 0 || d != 0 || l != events {
				t.Fatalf("pass after the loss: %d created, %d deleted, %d relinked; want 0, 0, %d", c, d, l, events)
			}
			if d := diffSnapshots(before, r.snapshot()); len(d) > 0 {
				t.Fatalf("relinking changed the calendars:\n  %s", strings.Join(d, "\n  "))
			}
			if n := r.writes(); n != 0 {
				t.Fatalf("relinking wrote %d times", n)
			}
			r.mustPass(ctx, false)
			if n := r.writes(); n != 0 {
				t.Fatalf("the pass after relinking wrote %d times", n)
			}
			r.checkInvariants("after relinking")
		})
	}
}

// hookOnce returns a fault hook that calls act once, for the first operation match accepts.
func hookOnce(match func(emulator.FaultOp) bool, act func(emulator.FaultOp)) func(emulator.FaultOp) *emulator.FaultReply {
	var once gosync.Once
	return func(op emulator.FaultOp) *emulator.FaultReply {
		if match(op) {
			once.Do(func() { act(op) })
		}
		return nil
	}
}

func isWrite(op emulator.FaultOp) bool { return op.Method != http.MethodGet }

func isIncrementalDelta(op emulator.FaultOp) bool {
	p := strings.ToLower(op.Path)
	return strings.Contains(p, "/calendarview/delta") && strings.Contains(p, "deltatoken")
}

// TestMidPassExpiry lets a delta cursor, the access token or a mailbox's access end in the middle of the
// scenario's second pass.
func TestMidPassExpiry(t *testing.T) {
	t.Parallel()
	want := scenarioOutcome(t).snap
	for _, tc := range []struct {
		name string
		// arm installs the fault before the second pass.
		arm func(r *rig)
		// partial: the faulted pass reports a failure in this mailbox (and only there).
		partial string
	}{
		{name: "delta cursor expires as it is used", arm: func(r *rig) {
			r.em.SetFaults(emulator.Faults{Hook: hookOnce(isIncrementalDelta, func(op emulator.FaultOp) {
				for _, mb := range relMailboxes {
					r.em.ExpireCursors(mb)
				}
			})})
		}},
		{name: "delta cursor expires after the read", arm: func(r *rig) {
			r.em.SetFaults(emulator.Faults{Hook: hookOnce(isWrite, func(emulator.FaultOp) {
				for _, mb := range relMailboxes {
					r.em.ExpireCursors(mb)
				}
			})})
		}},
		{name: "access token expires", arm: func(r *rig) {
			r.em.SetTokenLifetime(10 * time.Minute)
			r.em.SetFaults(emulator.Faults{Hook: hookOnce(isWrite, func(emulator.FaultOp) { r.clock.Advance(time.Hour) })})
		}},
		{name: "mailbox access revoked", partial: "bo@example.com", arm: func(r *rig) {
			r.em.SetFaults(emulator.Faults{Hook: hookOnce(func(op emulator.FaultOp) bool {
				return isWrite(op) && op.Mailbox == "bo@example.com"
			}, func(emulator.FaultOp) {
				if err := r.em.SetMailbox("bo@example.com", emulator.MailboxOptions{Blocked: true}); err != nil {
					panic(err)
				}
			})})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			r.seed()
			r.mustPass(ctx, false)
			moves := r.mutate()
			tokens := r.em.Traffic().TokenRequests
			tc.arm(r)
			rep, err := r.pass(ctx, false)
			if err != nil {
				t.Fatalf("faulted pass: %v", err)
			}
			r.checkInvariants("faulted pass")
			if tc.partial == "" {
				if err := rep.Err(); err != nil {
					t.Fatalf("faulted pass: %v\n%s", err, failures(rep))
				}
			} else {
				if !errors.Is(rep.Err(), calsync.ErrPartial) {
					t.Fatalf("faulted pass: %v, want a partial failure (exit 4)", rep.Err())
				}
				for _, m := range rep.Mailboxes {
					failed := m.Errors > 0 || m.ReadError != ""
					if failed != (m.Mailbox == tc.partial) {
						t.Errorf("mailbox %s: %d errors, read error %q; only %s should fail", m.Mailbox, m.Errors,
							m.ReadError, tc.partial)
					}
				}
				// The other mailboxes are already where the clean run left them, but for the booking reassigned
				// from the failed mailbox: its new event waits until the old one is deleted.
				got := r.snapshot()
				for _, mb := range relMailboxes {
					if mb == tc.partial {
						continue
					}
					if g, w := withoutBooking(got.Calendars[mb], "B-041"), withoutBooking(want.Calendars[mb], "B-041"); g != w {
						t.Errorf("%s was not synced while %s failed:\n%s\nwant\n%s", mb, tc.partial, g, w)
					}
				}
				if err := r.em.SetMailbox(tc.partial, emulator.MailboxOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "access token expires" && r.em.Traffic().TokenRequests-tokens < 2 {
				t.Errorf("the expired token was not renewed: %d token requests", r.em.Traffic().TokenRequests-tokens)
			}
			r.em.SetFaults(emulator.Faults{})
			r.mustPass(ctx, false)
			before := r.writes()
			r.mustPass(ctx, false)
			if n := r.writes() - before; n != 0 {
				t.Fatalf("not converged: the last pass wrote %d times", n)
			}
			if d := diffSnapshots(want, r.snapshot()); len(d) > 0 {
				t.Fatalf("final state differs from the clean run's:\n  %s", strings.Join(d, "\n  "))
			}
			r.checkMoves(moves)
		})
	}
}

// withoutBooking joins a snapshot's events of one mailbox, leaving out one booking's.
func withoutBooking(events []string, bookingID string) string {
	var out []string
	for _, e := range events {
		if !strings.HasPrefix(e, bookingID+"|") {
			out = append(out, e)
		}
	}
	return strings.Join(out, "\n")
}

// failingSource is TF whose bookings cannot be read.
type failingSource struct{ tf.Source }

func (failingSource) Bookings(context.Context, tf.Query) (tf.BookingSet, error) {
	return tf.BookingSet{}, errors.New("database disk image is malformed")
}

// TestNoMassDeletion: an emptied resource, an unreadable TF and a calendar read that fails half-way delete
// nothing; deletes above max_delete_percent wait for --force while creates and updates go ahead.
func TestNoMassDeletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	count := func(r *rig, mb string) int {
		n := 0
		for _, ev := range r.em.Events(mb) {
			if ev.BookingID != "" {
				n++
			}
		}
		return n
	}

	t.Run("bookings of a resource come back empty", func(t *testing.T) {
		r := newRig(t)
		r.seed()
		r.mustPass(ctx, false)
		bo := count(r, "bo@example.com")
		r.exec(`DELETE FROM bookings WHERE resource_id = 'R2'`)
		// Work that must still happen: a new booking for Bo, a new one and a changed one elsewhere.
		r.insert(relBooking{id: "N-BO", kind: tf.KindArende, res: "R2", title: "Ny för Bo", start: time.Date(2026, 3, 26, 8, 0, 0, 0, relZone)})
		r.insert(relBooking{id: "N-AN", kind: tf.KindArende, res: "R1", title: "Ny för Anna", start: time.Date(2026, 3, 26, 8, 0, 0, 0, relZone)})
		r.exec(`UPDATE bookings SET title = 'Ändrad titel', version = version + 1 WHERE id = 'B-000'`)
		rep, err := r.pass(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rep.Err(), calsync.ErrDeletesHeld) || rep.Held != bo {
			t.Fatalf("report: %v, %d held; want %d deletes held (exit 5)", rep.Err(), rep.Held, bo)
		}
		if n := count(r, "bo@example.com"); n != bo+1 {
			t.Fatalf("Bo's calendar has %d events, want the %d kept and the new one", n, bo)
		}
		if r.event("anna@example.com", "N-AN").ID == "" || !strings.Contains(r.event("anna@example.com", "B-000").Subject, "Ändrad titel") {
			t.Fatal("creates and updates were held back with the deletes")
		}
		rep = r.mustPass(ctx, true)
		if total(rep, deleted) != bo || count(r, "bo@example.com") != 1 {
			t.Fatalf("--force: %d deleted, %d left", total(rep, deleted), count(r, "bo@example.com"))
		}
	})

	t.Run("every booking gone from TF", func(t *testing.T) {
		r := newRig(t)
		r.seed()
		r.mustPass(ctx, false)
		before := r.snapshot()
		r.exec(`DELETE FROM bookings`)
		rep, err := r.pass(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rep.Err(), calsync.ErrDeletesHeld) || total(rep, deleted) != 0 {
			t.Fatalf("report: %v, %d deleted", rep.Err(), total(rep, deleted))
		}
		if d := diffSnapshots(relSnapshot{Calendars: before.Calendars}, r.snapshot()); len(d) > 0 {
			t.Fatalf("calendars changed:\n  %s", strings.Join(d, "\n  "))
		}
	})

	t.Run("TF unreadable", func(t *testing.T) {
		r := newRig(t)
		r.seed()
		r.mustPass(ctx, false)
		r.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1`)
		r.em.ResetRequests()
		r.wrapSource = func(s tf.Source) tf.Source { return failingSource{s} }
		_, err := r.pass(ctx, false)
		if !errors.Is(err, calsync.ErrTFRead) {
			t.Fatalf("err = %v, want ErrTFRead", err)
		}
		if n := r.writes(); n != 0 {
			t.Fatalf("%d calendar writes although TF could not be read", n)
		}
		// A damaged file: the pass does not even start.
		r.wrapSource = nil
		f, err := os.OpenFile(r.tfPath, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{0x5A}, 4000), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := r.pass(ctx, false); err == nil {
			t.Fatal("a pass over a damaged TF database succeeded")
		}
		if n := r.writes(); n != 0 {
			t.Fatalf("%d calendar writes although TF is damaged", n)
		}
	})

	t.Run("calendar read fails half-way", func(t *testing.T) {
		r := newRig(t)
		r.seed()
		r.mustPass(ctx, false)
		anna := r.snapshot().Calendars["anna@example.com"]
		// Cancel three of Anna's bookings and add one: work the pass must not do while her calendar is unread.
		for _, i := range []int{0, 4, 8} {
			r.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id = ?`, scenarioBooking(i).id)
		}
		r.insert(relBooking{id: "N-AN", kind: tf.KindArende, res: "R1", title: "Ny", start: time.Date(2026, 3, 26, 8, 0, 0, 0, relZone)})
		// A full read (as after an expired cursor) whose second page keeps failing: a read that stopped there
		// would look like most of her events were deleted.
		if err := r.em.ExpireCursors("anna@example.com"); err != nil {
			t.Fatal(err)
		}
		r.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
			if op.Mailbox == "anna@example.com" && strings.Contains(strings.ToLower(op.Path), "skiptoken") {
				return &emulator.FaultReply{Status: http.StatusInternalServerError}
			}
			return nil
		}})
		rep, err := r.pass(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rep.Err(), calsync.ErrPartial) {
			t.Fatalf("report: %v, want a partial failure", rep.Err())
		}
		if got := r.snapshot().Calendars["anna@example.com"]; strings.Join(got, "\n") != strings.Join(anna, "\n") {
			t.Fatalf("Anna's calendar changed although it could not be read:\n%s", strings.Join(got, "\n"))
		}
		r.em.SetFaults(emulator.Faults{})
		rep = r.mustPass(ctx, false)
		if total(rep, deleted) != 3 || total(rep, created) != 1 {
			t.Fatalf("after the read worked again: %d deleted, %d created; want 3, 1", total(rep, deleted), total(rep, created))
		}
	})
}

// TestHostileText sends TF text no calendar should show raw: HTML and script, 10,000 characters, invalid UTF-8 and
// control characters. The events end up valid, escaped and readable, and the next pass leaves them alone.
func TestHostileText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	r.seedResources()
	hostile := []string{
		`<script>alert('x')</script><b>Fet</b> & "citat"`,
		strings.Repeat("Åäö ", 2500),
		"Trasig \xff\xfe\xc3 text",
		"Rad\x00ett\x1b[31m röd\r\ntvå\u2028tre\ttab",
	}
	for i, title := range hostile {
		id := fmt.Sprintf("H-%d", i+1)
		r.insert(relBooking{id: id, kind: tf.KindArende, res: "R1", title: title, start: time.Date(2026, 3, 23, 8+i, 0, 0, 0, relZone)})
		r.exec(`UPDATE bookings SET description = ?, location = ?, url = ? WHERE id = ?`,
			title+"\n<img src=x onerror=alert(1)>\n"+strings.Repeat("x", 10000), "Gata 1\n<b>\x07", "javascript:alert(1)", id)
	}
	r.mustPass(ctx, false)
	for _, ev := range r.em.RawEvents("anna@example.com") {
		id := ev.BookingID()
		for field, v := range map[string]string{"subject": ev.Subject, "body": ev.Body, "location": ev.Location} {
			if !utf8.ValidString(v) {
				t.Errorf("%s: %s is not valid UTF-8", id, field)
			}
			for _, c := range v {
				// The server wraps a body in its own HTML with line breaks; nothing else may be a control.
				if unicode.IsControl(c) && !(field == "body" && (c == '\r' || c == '\n')) {
					t.Errorf("%s: %s holds control character %U", id, field, c)
					break
				}
			}
		}
		if n := utf8.RuneCountInString(ev.Subject); n > 255 || n < 10 {
			t.Errorf("%s: subject of %d characters", id, n)
		}
		for _, bad := range []string{"<script", "<img", "javascript:", "<b>Fet"} {
			if strings.Contains(ev.Body, bad) {
				t.Errorf("%s: body holds %q: %.200s", id, bad, ev.Body)
			}
		}
		if len(ev.Body) > 40000 {
			t.Errorf("%s: body of %d bytes", id, len(ev.Body))
		}
	}
	if got := r.event("anna@example.com", "H-1"); got.Subject != `Ärende: <script>alert('x')</script><b>Fet</b> & "citat"` {
		t.Errorf("H-1 subject = %q: a subject is plain text and should read as TF wrote it", got.Subject)
	}
	if got := r.event("anna@example.com", "H-3"); !strings.Contains(got.Subject, "Trasig \uFFFD") {
		t.Errorf("H-3 subject = %q", got.Subject)
	}
	if got := r.event("anna@example.com", "H-4"); got.Subject != "Ärende: Rad ett [31m röd två tre tab" {
		t.Errorf("H-4 subject = %q", got.Subject)
	}
	before := r.writes()
	r.mustPass(ctx, false)
	if n := r.writes() - before; n != 0 {
		t.Fatalf("the pass after writing hostile text wrote %d times: it would rewrite them every pass", n)
	}
}

// TestDaylightSavingTime syncs bookings on and across the two DST changes of 2026 and a technician's move across
// one: every event keeps TF's wall-clock times, all-day events span their 23 or 25 hours, and TF gets the wall
// time the technician chose.
func TestDaylightSavingTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	r.settings.FutureDays = 230
	r.seedResources()
	rows := []struct {
		id, kind, start, end string
		wantStart, wantEnd   string // wall times in Stockholm the event must show
		allDay               bool
	}{
		{"D-1", "arende", "2026-03-29T01:30:00", "2026-03-29T03:30:00", "2026-03-29T01:30:00", "2026-03-29T03:30:00", false},
		// 02:30 does not exist on 29 March; it is read as 03:30 summer time.
		{"D-2", "kontroll", "2026-03-29T02:30:00", "", "2026-03-29T03:30:00", "2026-03-29T04:30:00", false},
		{"D-3", "besiktning", "2026-10-25T02:30:00", "2026-10-25T03:00:00", "2026-10-25T02:30:00", "2026-10-25T03:00:00", false},
		{"D-4", "rondering", "2026-03-29", "", "2026-03-29T00:00:00", "2026-03-30T00:00:00", true},
		{"D-5", "rondering", "2026-10-25", "", "2026-10-25T00:00:00", "2026-10-26T00:00:00", true},
		{"D-6", "driftatgard", "2026-10-24T22:00:00", "2026-10-25T06:00:00", "2026-10-24T22:00:00", "2026-10-25T06:00:00", false},
		{"D-7", "arende", "2026-03-27T09:00:00", "2026-03-27T10:00:00", "2026-03-27T09:00:00", "2026-03-27T10:00:00", false},
	}
	for _, row := range rows {
		var end any
		if row.end != "" {
			end = row.end
		}
		r.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, "end", status, version, updated_at)
			VALUES (?, ?, 'R1', 'DST', ?, ?, 'planned', 1, '2026-03-19T09:00:00')`, row.id, row.kind, row.start, end)
	}
	r.mustPass(ctx, false)
	for _, row := range rows {
		ev := r.event("anna@example.com", row.id)
		if got := wall(ev.Start) + " - " + wall(ev.End); got != row.wantStart+" - "+row.wantEnd || ev.AllDay != row.allDay {
			t.Errorf("%s: event %s (all-day %t), want %s - %s (all-day %t)", row.id, got, ev.AllDay, row.wantStart,
				row.wantEnd, row.allDay)
		}
	}
	if d := r.event("anna@example.com", "D-4"); d.End.Sub(d.Start) != 23*time.Hour {
		t.Errorf("the spring DST day lasts %v", d.End.Sub(d.Start))
	}
	if d := r.event("anna@example.com", "D-5"); d.End.Sub(d.Start) != 25*time.Hour {
		t.Errorf("the autumn DST day lasts %v", d.End.Sub(d.Start))
	}
	if d := r.event("anna@example.com", "D-6"); d.End.Sub(d.Start) != 9*time.Hour {
		t.Errorf("22:00 to 06:00 across the autumn change lasts %v, want 9h", d.End.Sub(d.Start))
	}
	before := r.writes()
	r.mustPass(ctx, false)
	if n := r.writes() - before; n != 0 {
		t.Fatalf("a second pass wrote %d times", n)
	}
	// The technician drags D-7 from Friday 09:00 to Monday 09:00, across the change.
	ev := r.event("anna@example.com", "D-7")
	newStart := time.Date(2026, 3, 30, 9, 0, 0, 0, relZone)
	if err := r.em.MoveEvent("anna@example.com", ev.ID, newStart, newStart.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.mustPass(ctx, false)
	var start, end string
	if err := r.db.QueryRow(`SELECT start, "end" FROM bookings WHERE id = 'D-7'`).Scan(&start, &end); err != nil {
		t.Fatal(err)
	}
	if start != "2026-03-30T09:00:00" || end != "2026-03-30T10:00:00" {
		t.Fatalf("TF after the move across DST: %s - %s, want 2026-03-30T09:00:00 - 10:00:00", start, end)
	}
	before = r.writes()
	r.mustPass(ctx, false)
	if n := r.writes() - before; n != 0 {
		t.Fatalf("the pass after the move wrote %d times", n)
	}
}

// TestUnconfirmedCreateOfCancelledBooking: a pass dies right after the server created events, and before the next
// pass TF cancels those bookings. The next pass must delete the events it never recorded, and settle their
// journal entries: one left behind would be searched for on every pass from then on.
func TestUnconfirmedCreateOfCancelledBooking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	r.seed()
	// The second request of the first pass is its first batch of creates (the first reads the calendars).
	r.em.SetFaults(emulator.Faults{DropAfterCommitAt: 2})
	passCtx, stop := context.WithCancel(ctx)
	r.net.arm(stop)
	rep, err := r.pass(passCtx, false)
	stop()
	r.net.restore()
	if err == nil && rep.Err() == nil {
		t.Fatal("the pass did not die")
	}
	var orphans []string
	for _, mb := range relMailboxes {
		for _, ev := range r.em.Events(mb) {
			orphans = append(orphans, ev.BookingID)
		}
	}
	if len(orphans) == 0 || len(r.pending()) != scenarioBookings {
		t.Fatalf("after the crash: %d events, %d journalled creates; want some events and all %d journalled",
			len(orphans), len(r.pending()), scenarioBookings)
	}
	for _, id := range orphans {
		r.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id = ?`, id)
	}
	r.mustPass(ctx, false)
	for _, mb := range relMailboxes {
		for _, ev := range r.em.Events(mb) {
			for _, id := range orphans {
				if ev.BookingID == id {
					t.Errorf("the event of cancelled booking %s is still in %s", id, mb)
				}
			}
		}
	}
	if p := r.pending(); len(p) != 0 {
		t.Fatalf("%d journal entries left after the pass, e.g. %+v", len(p), p[0])
	}
	r.checkInvariants("after the pass")
}
