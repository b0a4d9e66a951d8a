package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/emulator/emutest/testclock"
	"tfsync/tf"
	"tfsync/tf/demo"
)

// fixture is a TF database, a store and an emulator, wired into an engine, with a clock tests move.
type fixture struct {
	t     *testing.T
	clock *testclock.Clock // the emulator's, TF's, the store's and the engine's
	tfDB  string
	db    *sql.DB
	src   *tf.SQLite
	store *Store
	em    *emulator.Emulator
	eng   *Engine
	txn   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	emu := emutest.New(t, emutest.Options{Start: time.Date(2026, 3, 20, 10, 0, 0, 0, stockholm), Mailboxes: []string{}})
	fx := &fixture{t: t, clock: emu.Clock, em: emu.Emulator, tfDB: filepath.Join(dir, "tf.db")}
	if err := tf.CreateSchema(ctx, fx.tfDB); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+fx.tfDB+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx.db = db
	clock := fx.clock.Now
	fx.src, err = tf.OpenSQLite(fx.tfDB, tf.SQLiteOptions{Zone: stockholm, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.src.Close() })
	fx.store, err = OpenStore(ctx, filepath.Join(dir, "state.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.store.Close() })
	fx.eng = &Engine{Source: fx.src, Calendar: fx.em, Store: fx.store, Settings: testSettings(), Now: clock, RunID: "test",
		NewTransactionID: func() string { fx.txn++; return fmt.Sprintf("txn-%d", fx.txn) }}
	return fx
}

func (fx *fixture) exec(q string, args ...any) {
	fx.t.Helper()
	if _, err := fx.db.Exec(q, args...); err != nil {
		fx.t.Fatalf("%s: %v", q, err)
	}
}

func (fx *fixture) seedDemo() {
	fx.t.Helper()
	if err := demo.Seed(context.Background(), fx.db, fx.clock.Now(), stockholm); err != nil {
		fx.t.Fatal(err)
	}
	for _, mb := range []string{"anna.lindqvist@example.com", "mehmet.yilmaz@example.com", "sara.nilsson@example.com", "johan.berg@example.com", "karin.ek@example.com", "leif@svenssonstak.example.org"} {
		fx.em.AddMailbox(mb, emulator.MailboxOptions{})
	}
}

func (fx *fixture) sync() *Report {
	fx.t.Helper()
	r, err := fx.eng.Sync(context.Background())
	if err != nil {
		fx.t.Fatalf("sync: %v", err)
	}
	return r
}

func counts(r *Report) map[string]int {
	c := map[string]int{}
	for _, res := range r.Results {
		if res.Err != nil {
			c["error"]++
			continue
		}
		if res.Held {
			c["held"]++
			continue
		}
		c[string(res.Kind)]++
	}
	return c
}

func (fx *fixture) writes() int {
	n := 0
	for _, mb := range fx.em.RequestedMailboxes() {
		ops := fx.em.RequestsByOp(mb)
		n += ops[emulator.OpCreate] + ops[emulator.OpUpdate] + ops[emulator.OpDelete]
	}
	return n
}

func TestEngineDemoStory(t *testing.T) {
	fx := newFixture(t)
	fx.seedDemo()
	ctx := context.Background()

	r1 := fx.sync()
	if c := counts(r1); c["create"] != 29 || c["error"] != 0 || len(c) != 1 {
		t.Fatalf("first pass: %v", c)
	}
	if fx.em.Requests("leif@svenssonstak.example.org") != 0 || fx.em.Requests("karin.ek@example.com") != 0 {
		t.Error("a mailbox outside allowed_domains or of a disabled resource was contacted")
	}

	// A pass right after a pass changes nothing and writes nothing.
	fx.em.ResetRequests()
	r2 := fx.sync()
	if c := counts(r2); len(c) != 0 {
		t.Fatalf("second pass should do nothing: %v", c)
	}
	if n := fx.writes(); n != 0 {
		t.Fatalf("second pass sent %d writes", n)
	}

	// A technician moves a booking; the next pass writes it to TF, the one after does nothing.
	var ev exchange.Event
	for _, e := range fx.em.Events(demo.MovedBy) {
		if e.BookingID == demo.MovedBooking {
			ev = e
		}
	}
	newStart := ev.Start.Add(26 * time.Hour)
	if err := fx.em.MoveEvent(demo.MovedBy, ev.ID, newStart, newStart.Add(ev.End.Sub(ev.Start))); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(5 * time.Minute)
	r3 := fx.sync()
	if c := counts(r3); c["move-tf"] != 1 || len(c) != 1 {
		t.Fatalf("move pass: %v", c)
	}
	b, err := fx.src.Booking(ctx, demo.MovedBooking, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Start.Equal(newStart) || b.Version != 2 {
		t.Fatalf("TF row: start %v version %d, want %v version 2", b.Start, b.Version, newStart)
	}
	audit, err := fx.src.Audit(ctx, demo.MovedBooking)
	if err != nil || len(audit) != 1 || audit[0].Mailbox != demo.MovedBy || audit[0].RunID != "test" {
		t.Fatalf("audit: %+v %v", audit, err)
	}
	fx.em.ResetRequests()
	if c := counts(fx.sync()); len(c) != 0 {
		t.Fatalf("pass after the move should do nothing: %v", c)
	}
	if n := fx.writes(); n != 0 {
		t.Fatalf("pass after the move sent %d writes", n)
	}
}

// actionKeys lists what a plan does, without the parts that only exist once applied.
func actionKeys(rs []Result) []string {
	var out []string
	for _, r := range rs {
		b, _ := json.Marshal(struct {
			K, B, M, E, R, C string
			H                bool
		}{string(r.Kind), r.BookingID, r.Mailbox, r.EventID, r.Reason, r.Conflict, r.Held})
		if r.Kind == ActCreate {
			// A create's event id is only known once it is applied.
			b, _ = json.Marshal(struct{ K, B, M, R string }{string(r.Kind), r.BookingID, r.Mailbox, r.Reason})
		}
		out = append(out, string(b))
	}
	return out
}

func TestDryRunIsTheAppliedPlan(t *testing.T) {
	fx := newFixture(t)
	fx.seedDemo()
	fx.sync()
	// Give the next pass something of every kind to do.
	fx.exec(`UPDATE bookings SET title = 'Ny titel', version = version + 1 WHERE id = 'KON-3312'`)
	fx.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id = 'DRI-7781'`)
	fx.exec(`UPDATE bookings SET resource_id = 'RES-102', version = version + 1 WHERE id = 'BES-10251'`)
	fx.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, status, version, updated_at) VALUES ('ARE-1', 'arende', 'RES-103', 'Ny', '2026-03-25T10:00:00', 'planned', 1, '2026-03-20T09:00:00')`)
	for _, e := range fx.em.Events("sara.nilsson@example.com") {
		if !e.AllDay {
			if err := fx.em.MoveEvent("sara.nilsson@example.com", e.ID, e.Start.Add(time.Hour), e.End.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}

	dry, err := fx.eng.DryRun(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fx.em.ResetRequests()
	dry2, _ := fx.eng.DryRun(context.Background())
	if fx.writes() != 0 {
		t.Fatal("dry-run wrote to a calendar")
	}
	applied := fx.sync()
	want, got := actionKeys(dry.Results), actionKeys(applied.Results)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("dry-run planned:\n%s\nsync applied:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	if strings.Join(actionKeys(dry2.Results), "\n") != strings.Join(want, "\n") {
		t.Fatal("a dry-run changed what the next dry-run plans")
	}
	c := counts(applied)
	if c["update"] != 1 || c["delete"] != 2 || c["create"] != 2 || c["move-tf"] != 1 {
		t.Fatalf("applied: %v", c)
	}
}

func TestEngineMailboxFailureIsIsolated(t *testing.T) {
	fx := newFixture(t)
	fx.seedDemo()
	fx.sync()
	// Mehmet's mailbox fails to read; Anna's booking is cancelled and must still go, Mehmet's must not.
	fx.exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id IN ('KON-3312', 'KON-3320')`)
	fx.em.SetFault(func(op, mb string) error {
		if mb == "mehmet.yilmaz@example.com" {
			return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
		}
		return nil
	})
	r := fx.sync()
	if c := counts(r); c["delete"] != 1 {
		t.Fatalf("counts %v", c)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("report error = %v, want partial", err)
	}
	found := false
	for _, e := range fx.em.Events("mehmet.yilmaz@example.com") {
		found = found || e.BookingID == "KON-3320"
	}
	if !found {
		t.Fatal("an event was deleted in a mailbox that could not be read")
	}
	fx.em.SetFault(nil)
	if c := counts(fx.sync()); c["delete"] != 1 {
		t.Fatalf("after recovery: %v", c)
	}
}

func TestEngineDefaultLengthAndRounds(t *testing.T) {
	fx := newFixture(t)
	fx.em.AddMailbox("anna@example.com", emulator.MailboxOptions{})
	fx.exec(`INSERT INTO resources (id, name, email, sync_enabled) VALUES ('R1', 'Anna', 'anna@example.com', 1)`)
	fx.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, "end", status, version, updated_at) VALUES
		('DRI-1', 'driftatgard', 'R1', 'Utan slut', '2026-03-29T09:00:00', NULL, 'planned', 1, '2026-03-20T09:00:00'),
		('RON-1', 'rondering', 'R1', 'Rond', '2026-10-25', NULL, 'planned', 1, '2026-03-20T09:00:00')`)
	fx.eng.Settings.FutureDays = 300
	fx.sync()
	evs := map[string]exchange.Event{}
	for _, e := range fx.em.Events("anna@example.com") {
		evs[e.BookingID] = e
	}
	if e := evs["DRI-1"]; e.End.Sub(e.Start) != time.Hour || !e.Start.Equal(time.Date(2026, 3, 29, 9, 0, 0, 0, stockholm)) {
		t.Errorf("default length: %v - %v", e.Start, e.End)
	}
	if e := evs["RON-1"]; !e.AllDay || e.End.Sub(e.Start) != 25*time.Hour {
		t.Errorf("round on the autumn DST day: %+v", e)
	}
}

// A create journalled by a pass that died before sending it, for a booking cancelled since, leaves the journal
// once the calendar is seen not to hold it, instead of being looked for on every pass.
func TestUnsentCreateLeavesTheJournal(t *testing.T) {
	fx := newFixture(t)
	fx.seedDemo()
	fx.sync()
	fx.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, status, version, updated_at) VALUES ('ARE-9', 'arende', 'RES-101', 'Ny', '2026-03-25T10:00:00', 'cancelled', 2, '2026-03-20T09:00:00')`)
	if err := fx.store.Update(context.Background(), func(tx *StoreTx) error {
		return tx.PutPending(Pending{BookingID: "ARE-9", Mailbox: "anna.lindqvist@example.com", TransactionID: "txn-lost"})
	}); err != nil {
		t.Fatal(err)
	}
	fx.em.ResetRequests()
	fx.sync()
	if n := fx.em.RequestsByOp("anna.lindqvist@example.com")[emulator.OpFind]; n != 1 {
		t.Fatalf("looked for the unsent create %d times, want 1", n)
	}
	pending, err := fx.store.PendingCreates(context.Background())
	if err != nil || len(pending) != 0 {
		t.Fatalf("journal after the pass: %+v %v", pending, err)
	}
	fx.em.ResetRequests()
	fx.sync()
	if n := fx.em.RequestsByOp("anna.lindqvist@example.com")[emulator.OpFind]; n != 0 {
		t.Fatalf("looked again %d times", n)
	}
}
