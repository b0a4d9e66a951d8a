package sync_test

// Identity and ownership (issue 10), as an admin lives through them: several passes of the engine with the real
// Graph and EWS backends against the emulator over HTTPS, each pass with fresh connections as a scheduled
// `tfsync sync` has. After every pass: no booking has two events of one installation in a mailbox, nothing was
// deleted that the step did not mean to delete, TF holds exactly what the admin left there, and the pass ends as
// its exit code says.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/emulator/emutest/testclock"
	"tfsync/exchange/ews"
	"tfsync/exchange/graph"
	calsync "tfsync/sync"
	"tfsync/tf"
)

const (
	// idNet is a second organisation's domain: cecilia's mailbox, for allowed_domains going out and back.
	idCecilia = "cecilia@example.net"
)

var idMailboxes = []string{"anna@example.com", "bo@example.com", idCecilia}

// idWorld is the emulator the installations share: the same mailboxes, over Graph and EWS.
type idWorld struct {
	t     *testing.T
	emu   *emutest.Rig
	clock *testclock.Clock
	em    *emulator.Emulator
}

func newIDWorld(t *testing.T) *idWorld {
	t.Helper()
	emu := emutest.Start(t, emutest.Options{Start: relNow, Mailboxes: idMailboxes, EWS: true, Impersonation: true})
	return &idWorld{t: t, emu: emu, clock: emu.Clock, em: emu.Emulator}
}

// idInstall is one installation: its own TF database and state store, on the world's mailboxes.
type idInstall struct {
	t         *testing.T
	w         *idWorld
	name      string
	backend   string
	tfPath    string
	statePath string
	db        *sql.DB
	settings  calsync.Settings
	log       *lockedBuffer
	passes    int
	id        string // the installation id, once a pass created it
	full      bool   // read every calendar in full (sync --full)
}

// idBookings is how many bookings each technician starts with.
const idBookings = 4

func (w *idWorld) install(t *testing.T, name, backend string) *idInstall {
	t.Helper()
	dir := t.TempDir()
	in := &idInstall{t: t, w: w, name: name, backend: backend, tfPath: filepath.Join(dir, "tf.db"),
		statePath: filepath.Join(dir, "state.db"), settings: relSettings(), log: &lockedBuffer{}}
	in.settings.AllowedDomains = []string{"example.com", "example.net"}
	in.settings.TFDatabase = in.tfPath
	if err := tf.CreateSchema(context.Background(), in.tfPath); err != nil {
		t.Fatal(err)
	}
	in.db = in.open(in.tfPath)
	in.exec(`INSERT INTO resources (id, name, email, sync_enabled) VALUES
		('R1', 'Anna', 'anna@example.com', 1), ('R2', 'Bo', 'bo@example.com', 1), ('R3', 'Cecilia', ?, 1),
		('R6', 'Utan e-post', NULL, 1)`, idCecilia)
	for r := 1; r <= 3; r++ {
		for i := 0; i < idBookings; i++ {
			// One kontroll per technician (the kinds test removes it), no rondering.
			kind := []tf.Kind{tf.KindArende, tf.KindBesiktning, tf.KindDriftatgard, tf.KindKontroll}[i]
			start := time.Date(2026, 3, 23+i, 8+r, 0, 0, 0, relZone)
			in.exec(`INSERT INTO bookings (id, kind, resource_id, title, description, location, start, "end",
				status, url, version, updated_at) VALUES (?, ?, ?, ?, '', 'Storgatan 1', ?, ?, 'planned', '', 1, ?)`,
				fmt.Sprintf("B-R%d-%d", r, i), string(kind), fmt.Sprintf("R%d", r), fmt.Sprintf("Uppdrag %d", i),
				wall(start), wall(start.Add(time.Hour)), wall(relNow.Add(-24*time.Hour)))
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: last log lines:\n%s", name, in.log.tail(40))
		}
	})
	return in
}

func (in *idInstall) open(path string) *sql.DB {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() { db.Close() })
	return db
}

func (in *idInstall) exec(q string, args ...any) {
	in.t.Helper()
	if _, err := in.db.Exec(q, args...); err != nil {
		in.t.Fatalf("%s: %v", q, err)
	}
}

func (in *idInstall) calendar() exchange.Calendar {
	switch in.backend {
	case "graph":
		return in.w.emu.Graph(in.t, func(o *graph.Options) { o.Zone, o.Now, o.PageSize = relZone, in.w.clock.Now, 5 })
	case "ews":
		c, err := ews.New(ews.Options{URL: in.w.emu.EWSURL(), Username: emutest.ServiceUser,
			Password: emutest.ServicePassword, HTTPClient: in.w.emu.HTTPClient(), Zone: relZone})
		if err != nil {
			in.t.Fatal(err)
		}
		return c
	}
	in.t.Fatalf("unknown backend %s", in.backend)
	return nil
}

// pass runs one `tfsync sync`, as cmd wires it: the installation id from TF's database (created on the first
// pass), fresh connections.
func (in *idInstall) pass(force bool) (*calsync.Report, error) {
	in.passes++
	ctx := context.Background()
	store, err := calsync.OpenStore(ctx, in.statePath, in.w.clock.Now)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	src, err := tf.OpenSQLite(in.tfPath, tf.SQLiteOptions{Zone: relZone, Now: in.w.clock.Now})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if in.id, err = src.Installation(ctx); err != nil {
		return nil, err
	}
	settings := in.settings
	settings.InstallationID = in.id
	cal := in.calendar()
	defer cal.Close()
	eng := &calsync.Engine{Source: src, Calendar: cal, Store: store, Settings: settings, Now: in.w.clock.Now,
		RunID: fmt.Sprintf("%s-%d", in.name, in.passes), Force: force, Full: in.full}
	logger := zerolog.New(in.log).Level(zerolog.InfoLevel).With().Str("run_id", eng.RunID).Logger()
	return eng.Sync(logger.WithContext(ctx))
}

// tfState is TF as the admin left it: every booking row and the number of audit rows.
func (in *idInstall) tfState() string {
	in.t.Helper()
	rows, err := in.db.Query(`SELECT id, resource_id, start, coalesce("end", ''), status, version FROM bookings ORDER BY id`)
	if err != nil {
		in.t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var id, res, start, end, status string
		var v int
		if err := rows.Scan(&id, &res, &start, &end, &status, &v); err != nil {
			in.t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s %s %s %s %s %d\n", id, res, start, end, status, v)
	}
	var audit int
	if err := in.db.QueryRow(`SELECT count(*) FROM tfsync_audit`).Scan(&audit); err != nil {
		in.t.Fatal(err)
	}
	fmt.Fprintf(&sb, "audit rows: %d\n", audit)
	return sb.String()
}

// exitCode is the exit code cmd makes of a pass's outcome.
func exitCode(rep *calsync.Report, err error) int {
	if err != nil {
		return 1
	}
	switch e := rep.Err(); {
	case e == nil:
		return 0
	case errors.Is(e, calsync.ErrDeletesHeld):
		return 5
	case errors.Is(e, calsync.ErrPartial):
		return 4
	}
	return 1
}

// events returns this installation's events per mailbox as "booking" lines, and fails on a duplicate.
func (in *idInstall) events(when string) map[string][]string {
	in.t.Helper()
	out := map[string][]string{}
	for _, mb := range idMailboxes {
		seen := map[string]int{}
		for _, ev := range in.w.em.Events(mb) {
			if ev.BookingID == "" || ev.InstallationID != in.id {
				continue
			}
			if seen[ev.BookingID]++; seen[ev.BookingID] == 2 {
				in.t.Fatalf("%s: %s holds two events of %s's booking %s", when, mb, in.name, ev.BookingID)
			}
			out[mb] = append(out[mb], ev.BookingID)
		}
		sort.Strings(out[mb])
	}
	return out
}

func count(evs map[string][]string) int {
	n := 0
	for _, e := range evs {
		n += len(e)
	}
	return n
}

// step is one thing the admin does between passes, and what the pass after it must end with.
type step struct {
	what    string
	do      func(in *idInstall)
	exit    int
	deletes int // events the pass may delete
	creates int // events the pass creates
	force   bool
}

// run runs the steps, a pass after each, and checks the pass: its exit code, its deletes and creates as counted
// on the server, no duplicate, and TF unchanged by the pass.
func (in *idInstall) run(steps []step) {
	in.t.Helper()
	for _, s := range steps {
		if s.do != nil {
			s.do(in)
		}
		before := in.eventsOrEmpty()
		tfBefore := in.tfState()
		rep, err := in.pass(s.force)
		if code := exitCode(rep, err); code != s.exit {
			in.t.Fatalf("%s: exit %d, want %d (%v, %v)\n%s", s.what, code, s.exit, err, repErr(rep), failuresOf(rep))
		}
		after := in.events(s.what)
		gone, added := diffEvents(before, after)
		if gone != s.deletes || added != s.creates {
			in.t.Fatalf("%s: %d events gone and %d added, want %d and %d\nbefore %v\nafter  %v", s.what, gone, added,
				s.deletes, s.creates, before, after)
		}
		if got := in.tfState(); got != tfBefore {
			in.t.Fatalf("%s: the pass changed TF:\n%s\nwas:\n%s", s.what, got, tfBefore)
		}
	}
}

func (in *idInstall) eventsOrEmpty() map[string][]string {
	if in.id == "" {
		return map[string][]string{}
	}
	return in.events("before")
}

func repErr(rep *calsync.Report) error {
	if rep == nil {
		return nil
	}
	return rep.Err()
}

func failuresOf(rep *calsync.Report) string {
	if rep == nil {
		return ""
	}
	return failures(rep)
}

func diffEvents(before, after map[string][]string) (gone, added int) {
	for _, mb := range idMailboxes {
		b, a := map[string]bool{}, map[string]bool{}
		for _, id := range before[mb] {
			b[id] = true
		}
		for _, id := range after[mb] {
			a[id] = true
			if !b[id] {
				added++
			}
		}
		for id := range b {
			if !a[id] {
				gone++
			}
		}
	}
	return gone, added
}

var idBackends = []string{"graph", "ews"}

// TestReentry replays every way a booking or a mailbox leaves the sync and comes back. Today's Graph doubled each
// of them: the pass after the return created every booking a second time beside its old event.
func TestReentry(t *testing.T) {
	t.Parallel()
	first := step{what: "first pass", exit: 0, creates: 3 * idBookings}
	// The pass after the first reads back what the first wrote (its echo), so that the steps after it start from
	// change cursors with nothing pending, as an installation that has run for a while does.
	settle := step{what: "idle pass"}
	setEmail := func(email any) func(*idInstall) {
		return func(in *idInstall) { in.exec(`UPDATE resources SET email = ? WHERE id = 'R1'`, email) }
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"e-mail cleared and restored", []step{first, settle,
			{what: "e-mail cleared", do: setEmail(nil)},
			{what: "e-mail restored", do: setEmail("anna@example.com")},
			{what: "the pass after"},
		}},
		{"address retyped with other capitals", []step{first, settle,
			{what: "capitals", do: setEmail("Anna@EXAMPLE.com")},
			{what: "back to lower case", do: setEmail("anna@example.com")},
		}},
		{"store holding addresses in other capitals", []step{first, settle,
			{what: "an older store's capitals", do: func(in *idInstall) {
				st := in.open(in.statePath)
				for _, q := range []string{`UPDATE links SET mailbox = upper(mailbox)`, `UPDATE cursors SET mailbox = upper(mailbox)`} {
					if _, err := st.Exec(q); err != nil {
						in.t.Fatal(err)
					}
				}
				st.Close()
			}},
			{what: "the pass after"},
		}},
		{"sync switched off and on", []step{first, settle,
			{what: "sync off", do: func(in *idInstall) {
				in.exec(`UPDATE resources SET sync_enabled = 0 WHERE id = 'R1'`)
			}, deletes: idBookings},
			{what: "sync on", do: func(in *idInstall) {
				in.exec(`UPDATE resources SET sync_enabled = 1 WHERE id = 'R1'`)
			}, creates: idBookings},
		}},
		{"domain out of allowed_domains and back", []step{first, settle,
			{what: "domain out", do: func(in *idInstall) { in.settings.AllowedDomains = []string{"example.com"} }},
			{what: "domain back", do: func(in *idInstall) {
				in.settings.AllowedDomains = []string{"example.com", "example.net"}
			}},
			{what: "the pass after"},
		}},
		{"kind removed and re-added", []step{first, settle,
			{what: "kontroll removed", do: func(in *idInstall) {
				in.settings.Kinds = []tf.Kind{tf.KindArende, tf.KindBesiktning, tf.KindDriftatgard, tf.KindRondering}
			}, deletes: 3},
			{what: "kontroll re-added", do: func(in *idInstall) { in.settings.Kinds = tf.Kinds }, creates: 3},
		}},
		{"kind removed with deletes held, and re-added", []step{first, settle,
			{what: "kontroll removed, guard strict", do: func(in *idInstall) {
				in.settings.Kinds = []tf.Kind{tf.KindArende, tf.KindBesiktning, tf.KindDriftatgard, tf.KindRondering}
				in.settings.MaxDeleteFloor, in.settings.MaxDeletePercent = 1, 10
			}, exit: 5},
			{what: "kontroll re-added", do: func(in *idInstall) { in.settings.Kinds = tf.Kinds }},
		}},
		{"done booking reopened", []step{first, settle,
			{what: "done", do: func(in *idInstall) {
				in.exec(`UPDATE bookings SET status = 'done', version = version + 1 WHERE id = 'B-R1-1'`)
			}},
			{what: "reopened", do: func(in *idInstall) {
				in.exec(`UPDATE bookings SET status = 'planned', version = version + 1 WHERE id = 'B-R1-1'`)
			}},
			{what: "the pass after"},
		}},
		{"reassigned to a resource without e-mail and back", []step{first, settle,
			// A booking that leaves a mailbox leaves its calendar (the planning rules): it is deleted there, and
			// created once when it comes back, never beside an old event.
			{what: "to R6", do: func(in *idInstall) {
				in.exec(`UPDATE bookings SET resource_id = 'R6', version = version + 1 WHERE id = 'B-R1-2'`)
			}, deletes: 1},
			{what: "back to R1", do: func(in *idInstall) {
				in.exec(`UPDATE bookings SET resource_id = 'R1', version = version + 1 WHERE id = 'B-R1-2'`)
			}, creates: 1},
			{what: "the pass after"},
		}},
		{"many bookings enter at once (a full read)", []step{first, settle,
			{what: "e-mail cleared", do: setEmail(nil)},
			{what: "two more bookings meanwhile", do: func(in *idInstall) {
				for i := 0; i < 2; i++ {
					start := time.Date(2026, 3, 27+i, 9, 0, 0, 0, relZone)
					in.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, "end", status, version, updated_at)
						VALUES (?, 'arende', 'R1', 'Nytt', ?, ?, 'planned', 1, ?)`, fmt.Sprintf("B-R1-N%d", i),
						wall(start), wall(start.Add(time.Hour)), wall(relNow))
				}
			}},
			{what: "e-mail restored", do: setEmail("anna@example.com"), creates: 2},
		}},
	}
	for _, backend := range idBackends {
		for _, tc := range cases {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				in := newIDWorld(t).install(t, "prod", backend)
				in.run(tc.steps)
			})
		}
	}
}

// TestEmptyTF points the installation at an empty TF schema (what `tfsync init --create-tf-database` makes), and
// runs a pass over a bookings table a restore left empty: every delete is held, whatever the mailbox's size.
func TestEmptyTF(t *testing.T) {
	t.Parallel()
	for _, backend := range idBackends {
		t.Run(backend+"/fresh empty schema", func(t *testing.T) {
			t.Parallel()
			in := newIDWorld(t).install(t, "prod", backend)
			in.run([]step{{what: "first pass", creates: 3 * idBookings}})
			id := in.id
			empty := filepath.Join(t.TempDir(), "empty-tf.db")
			if err := tf.CreateSchema(context.Background(), empty); err != nil {
				t.Fatal(err)
			}
			in.tfPath, in.db, in.settings.TFDatabase = empty, in.open(empty), empty
			rep, err := in.pass(false)
			if code := exitCode(rep, err); code != 5 || !strings.Contains(repErr(rep).Error(), empty) ||
				!strings.Contains(repErr(rep).Error(), "0 bookings") {
				t.Fatalf("empty schema: exit %d (%v, %v); want 5 naming %s and the counts", code, err, repErr(rep), empty)
			}
			in.id = id
			if n := count(in.events("empty schema")); n != 3*idBookings {
				t.Fatalf("after the pass on an empty schema %d events are left, want %d", n, 3*idBookings)
			}
		})
		t.Run(backend+"/bookings emptied", func(t *testing.T) {
			t.Parallel()
			in := newIDWorld(t).install(t, "prod", backend)
			in.run([]step{{what: "first pass", creates: 3 * idBookings},
				{what: "bookings emptied", do: func(in *idInstall) { in.exec(`DELETE FROM bookings`) }, exit: 5},
				{what: "still empty", exit: 5},
				{what: "resources emptied too", do: func(in *idInstall) { in.exec(`DELETE FROM resources`) }, exit: 5},
			})
		})
	}
}

// TestTrialBesideProduction runs a trial installation (its own TF database, a copy of production's, and its own
// store) on the same mailboxes as production, passes alternating: neither touches the other's events, and
// neither writes the other's moves into its TF.
func TestTrialBesideProduction(t *testing.T) {
	t.Parallel()
	for _, backend := range idBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newIDWorld(t)
			prod := w.install(t, "prod", backend)
			trial := w.install(t, "trial", backend)
			n := 3 * idBookings
			prod.run([]step{{what: "production's first pass", creates: n}})
			trial.run([]step{{what: "trial's first pass", creates: n}})
			if prod.id == trial.id {
				t.Fatalf("both installations have id %s", prod.id)
			}
			for i := 0; i < 2; i++ {
				prod.run([]step{{what: fmt.Sprintf("production, round %d", i)}})
				trial.run([]step{{what: fmt.Sprintf("trial, round %d", i)}})
			}

			// A technician moves production's event: only production writes it to its TF.
			var ev exchange.Event
			for _, e := range w.em.Events("anna@example.com") {
				if e.BookingID == "B-R1-0" && e.InstallationID == prod.id {
					ev = e
				}
			}
			if err := w.em.MoveEvent("anna@example.com", ev.ID, ev.Start.Add(2*time.Hour), ev.End.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			trial.run([]step{{what: "trial after production's event moved"}})
			prodTF := prod.tfState()
			if _, err := prod.pass(false); err != nil {
				t.Fatal(err)
			}
			if prod.tfState() == prodTF {
				t.Fatal("production did not write its technician's move to its TF")
			}

			// The trial cancels a booking: only the trial's event goes.
			trial.run([]step{{what: "trial cancels", deletes: 1, do: func(in *idInstall) {
				in.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id = 'B-R2-0'`)
			}}})
			prod.run([]step{{what: "production after the trial's cancellation"}})
			if got := prod.events("end"); count(got) != n {
				t.Fatalf("production holds %d events, want %d", count(got), n)
			}
			// A full read counts the other installation's events, as list-resources --check shows them.
			trial.full = true
			rep, err := trial.pass(false)
			if err != nil || rep.Plan.Foreign["anna@example.com"][prod.id] != idBookings {
				t.Fatalf("trial's full pass counts %v foreign events (%v), want %d of %s in anna's calendar",
					rep.Plan.Foreign, err, idBookings, prod.id)
			}
		})
	}
}

// TestDuplicates puts two extra events of this installation in a technician's calendar, as a doubling pass of an
// earlier version left them: an untouched copy, and a copy the technician then moved. The next ordinary pass (no
// --full) deletes the untouched copy and leaves the moved one alone, reported once; later passes never plan on it,
// not even when its booking is cancelled.
func TestDuplicates(t *testing.T) {
	t.Parallel()
	const anna = "anna@example.com"
	for _, backend := range idBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newIDWorld(t)
			in := w.install(t, "prod", backend)
			in.run([]step{{what: "first pass", creates: 3 * idBookings}, {what: "idle pass"}})

			copyOf := func(bookingID string) exchange.Event {
				var orig exchange.Event
				for _, ev := range w.em.Events(anna) {
					if ev.BookingID == bookingID {
						orig = ev
					}
				}
				orig.ID, orig.ChangeKey = "", ""
				var res []exchange.OpResult
				w.em.Write(context.Background(), []exchange.Op{{Kind: exchange.OpCreate, Mailbox: anna, Event: orig,
					TransactionID: "doubled-" + bookingID}}, func(r []exchange.OpResult) { res = append(res, r...) })
				if len(res) != 1 || res[0].Err != nil {
					t.Fatalf("copy %s: %+v", bookingID, res)
				}
				return res[0].Event
			}
			untouched := copyOf("B-R1-0")
			moved := copyOf("B-R1-1")
			if err := w.em.MoveEvent(anna, moved.ID, moved.Start.AddDate(0, 0, 2), moved.End.AddDate(0, 0, 2)); err != nil {
				t.Fatal(err)
			}
			eventsOf := func(bookingID string) []string {
				var ids []string
				for _, ev := range w.em.Events(anna) {
					if ev.BookingID == bookingID {
						ids = append(ids, ev.ID)
					}
				}
				return ids
			}
			reported := func() int { return strings.Count(in.log.tail(1<<20), "a technician changed a second event") }

			tfBefore := in.tfState()
			rep, err := in.pass(false)
			if code := exitCode(rep, err); code != 0 {
				t.Fatalf("healing pass: exit %d (%v, %v)", code, err, repErr(rep))
			}
			if ids := eventsOf("B-R1-0"); len(ids) != 1 || ids[0] == untouched.ID {
				t.Fatalf("B-R1-0 events %v: want the untouched copy %s deleted and the linked one kept", ids, untouched.ID)
			}
			if ids := eventsOf("B-R1-1"); len(ids) != 2 {
				t.Fatalf("B-R1-1 events %v: want the linked one and the technician's moved copy", ids)
			}
			if total(rep, deleted) != 1 || reported() != 1 {
				t.Fatalf("healing pass deleted %d and reported %d copies, want 1 and 1", total(rep, deleted), reported())
			}
			for i := 0; i < 2; i++ {
				in.full = i == 1
				rep, err = in.pass(false)
				if code := exitCode(rep, err); code != 0 || total(rep, deleted) != 0 || reported() != 1 {
					t.Fatalf("pass %d after healing: exit %d, %d deleted, %d reports; want 0, 0, 1", i, code,
						total(rep, deleted), reported())
				}
			}
			if got := in.tfState(); got != tfBefore {
				t.Fatalf("TF changed:\n%s\nwas:\n%s", got, tfBefore)
			}
			in.full = false
			in.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id = 'B-R1-1'`)
			rep, err = in.pass(false)
			if code := exitCode(rep, err); code != 0 || total(rep, deleted) != 1 {
				t.Fatalf("cancelling pass: exit %d, %d deleted; want 0 and 1", code, total(rep, deleted))
			}
			if ids := eventsOf("B-R1-1"); len(ids) != 1 || ids[0] != moved.ID {
				t.Fatalf("after cancelling B-R1-1: events %v, want only the technician's copy %s", ids, moved.ID)
			}
		})
	}
}

// TestReentryCost checks the choice between looking entering bookings up one by one and reading the mailbox in
// full: one booking entering costs one lookup by booking id; six entering at once cost a full read and no lookup;
// an idle pass costs neither.
func TestReentryCost(t *testing.T) {
	t.Parallel()
	const anna = "anna@example.com"
	in := newIDWorld(t).install(t, "prod", "graph")
	in.run([]step{{what: "first pass", creates: 3 * idBookings}, {what: "idle pass"}})
	lookups := func() int { return in.w.em.RequestsByOp(anna)["graph.list"] }
	passWith := func(what string, s step) int {
		t.Helper()
		before := lookups()
		s.what = what
		in.run([]step{s})
		return lookups() - before
	}
	if n := passWith("idle", step{}); n != 0 {
		t.Fatalf("an idle pass looked up %d bookings, want 0", n)
	}
	in.exec(`UPDATE bookings SET status = 'done', version = version + 1 WHERE id = 'B-R1-1'`)
	in.run([]step{{what: "done"}})
	if n := passWith("reopened", step{do: func(in *idInstall) {
		in.exec(`UPDATE bookings SET status = 'planned', version = version + 1 WHERE id = 'B-R1-1'`)
	}}); n != 1 {
		t.Fatalf("one reopened booking cost %d lookups, want 1", n)
	}
	in.exec(`UPDATE resources SET email = NULL WHERE id = 'R1'`)
	in.run([]step{{what: "e-mail cleared"}})
	for i := 0; i < 2; i++ {
		start := time.Date(2026, 3, 27+i, 9, 0, 0, 0, relZone)
		in.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, "end", status, version, updated_at)
			VALUES (?, 'arende', 'R1', 'Nytt', ?, ?, 'planned', 1, ?)`, fmt.Sprintf("B-R1-N%d", i),
			wall(start), wall(start.Add(time.Hour)), wall(relNow))
	}
	if n := passWith("six bookings enter", step{creates: 2, do: func(in *idInstall) {
		in.exec(`UPDATE resources SET email = 'anna@example.com' WHERE id = 'R1'`)
	}}); n != 0 {
		t.Fatalf("six entering bookings cost %d lookups, want a full read instead", n)
	}
}

// TestTrialReentry: while the trial's resource is out of its sync, production rewrites its own event of the same
// booking id. The trial's next read reports production's event; that must not stand in for the trial's own old
// event, which is looked up and relinked.
func TestTrialReentry(t *testing.T) {
	t.Parallel()
	for _, backend := range idBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newIDWorld(t)
			prod := w.install(t, "prod", backend)
			trial := w.install(t, "trial", backend)
			n := 3 * idBookings
			prod.run([]step{{what: "production's first pass", creates: n}, {what: "production idle"}})
			trial.run([]step{{what: "trial's first pass", creates: n}, {what: "trial idle"}})
			trial.run([]step{{what: "trial: e-mail cleared", do: func(in *idInstall) {
				in.exec(`UPDATE resources SET email = NULL WHERE id = 'R1'`)
			}}})
			prod.run([]step{{what: "production retitles", do: func(in *idInstall) {
				in.exec(`UPDATE bookings SET title = 'Ändrad', version = version + 1 WHERE id = 'B-R1-1'`)
			}}})
			trial.run([]step{{what: "trial: e-mail restored", do: func(in *idInstall) {
				in.exec(`UPDATE resources SET email = 'anna@example.com' WHERE id = 'R1'`)
			}}})
			prod.run([]step{{what: "production after"}})
		})
	}
}
