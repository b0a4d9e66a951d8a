package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
)

// TestUninstall removes this installation's events and nothing else: a technician's own event and another
// installation's event (even one carrying a booking id of ours) stay. It refuses without --yes off a terminal,
// resumes after being stopped half-way (a sync in between is refused, so nothing is put back), asks on a terminal
// before dropping tfsync's tables in TF, and moves the state store aside at the end.
func TestUninstall(t *testing.T) {
	e := newEnv(t, "")
	if code, out, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	anna, sara, johan := "anna.lindqvist@example.com", "sara.nilsson@example.com", "johan.berg@example.com"
	day := time.Date(2026, 3, 23, 0, 0, 0, 0, mustStockholm())
	var installation string
	if err := e.db.QueryRow(`SELECT id FROM tfsync_installation`).Scan(&installation); err != nil || installation == "" {
		t.Fatalf("the first pass made no installation id: %v", err)
	}
	var own, other, lost string
	e.em.Write(context.Background(), []exchange.Op{
		{Kind: exchange.OpCreate, Mailbox: anna, TransactionID: "own", Event: exchange.Event{Subject: "Tandläkare",
			Start: day.Add(8 * time.Hour), End: day.Add(9 * time.Hour), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy}},
		// A trial installation's event for the same booking id.
		{Kind: exchange.OpCreate, Mailbox: sara, TransactionID: "other", Event: exchange.Event{Subject: "Besiktning (test-TF)",
			BookingID: "BES-10234", InstallationID: "9f9f9f9f-0000-4000-8000-000000000001",
			Start: day.Add(10 * time.Hour), End: day.Add(11 * time.Hour), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy}},
		// This installation's event whose link was lost: found by its installation id.
		{Kind: exchange.OpCreate, Mailbox: johan, TransactionID: "lost", Event: exchange.Event{Subject: "Ärende: kvarglömd",
			BookingID: "ARE-99999", InstallationID: installation,
			Start: day.Add(12 * time.Hour), End: day.Add(13 * time.Hour), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy}},
	}, func(rs []exchange.OpResult) {
		for _, r := range rs {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			switch r.Op.TransactionID {
			case "own":
				own = r.Event.ID
			case "other":
				other = r.Event.ID
			default:
				lost = r.Event.ID
			}
		}
	})
	ours := func() int {
		n := 0
		for _, mb := range scopeMailboxes {
			for _, ev := range e.em.Events(mb) {
				if ev.BookingID != "" && ev.ID != other {
					n++
				}
			}
		}
		return n
	}
	if n := ours(); n != 30 {
		t.Fatalf("%d events of this installation before uninstall, want 30", n)
	}
	var auditRows int
	e.db.QueryRow(`SELECT count(*) FROM bookings`).Scan(&auditRows)

	// Off a terminal without --yes: refused, nothing removed.
	if code, _, stderr := e.run("uninstall"); code != exitcode.Usage || !strings.Contains(stderr, "--yes") || ours() != 30 {
		t.Fatalf("uninstall without --yes: exit %d, %d events left\n%s", code, ours(), stderr)
	}

	// Stopped after ten deletes, as a killed process would be: what was confirmed is recorded, the rest is not.
	ctx, stop := context.WithCancel(context.Background())
	var mu gosync.Mutex
	deletes := 0
	e.em.SetFault(func(op, mb string) error {
		if op != emulator.OpDelete {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if deletes++; deletes > 10 {
			stop()
			return context.Canceled
		}
		return nil
	})
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.Now = e.clock.Now
	f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
	code := run(ctx, f, []string{"uninstall", "--yes", "--config", e.config})
	e.em.SetFault(nil)
	left := ours()
	if code == exitcode.OK || left == 0 || left == 30 {
		t.Fatalf("interrupted uninstall: exit %d, %d of 30 events left\n%s%s", code, left, out, errOut)
	}
	e.clock.Advance(5 * time.Minute)
	if code, _, stderr := e.run("sync"); code == exitcode.OK || !strings.Contains(stderr, "uninstall is under way") || ours() != left {
		t.Fatalf("a sync during an unfinished uninstall: exit %d, events %d -> %d\n%s", code, left, ours(), stderr)
	}

	// Resumed on a terminal: confirmed, and asked about TF's tables.
	io, out, errOut = TestIO()
	io.InTTY, io.In = true, strings.NewReader("yes\ny\n")
	f = NewFactory(io)
	f.Now = e.clock.Now
	f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
	if code := run(context.Background(), f, []string{"uninstall", "--config", e.config}); code != exitcode.OK {
		t.Fatalf("resumed uninstall: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Resuming an uninstall", "Type yes", "tfsync_audit", "Moved the state store"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("uninstall's output lacks %q:\n%s", want, out)
		}
	}
	if n := ours(); n != 0 {
		t.Errorf("%d events of this installation left", n)
	}
	if _, err := e.em.Get(context.Background(), johan, lost); err == nil {
		t.Error("this installation's unlinked event was left")
	}
	if _, err := e.em.Get(context.Background(), anna, own); err != nil {
		t.Errorf("the technician's own event was removed: %v", err)
	}
	if ev, err := e.em.Get(context.Background(), sara, other); err != nil || ev.BookingID != "BES-10234" {
		t.Errorf("another installation's event was removed: %v", err)
	}
	var tables, bookings int
	e.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tfsync_audit'`).Scan(&tables)
	e.db.QueryRow(`SELECT count(*) FROM bookings`).Scan(&bookings)
	if tables != 0 || bookings != auditRows || bookings == 0 {
		t.Errorf("TF after uninstall: tfsync_audit tables %d, bookings %d (was %d)", tables, bookings, auditRows)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "tfsync-state.db")); !os.IsNotExist(err) {
		t.Errorf("the state store was not moved aside: %v", err)
	}
	moved, _ := filepath.Glob(filepath.Join(e.dir, "tfsync-state.db.uninstalled-*"))
	if len(moved) != 1 {
		t.Errorf("moved stores: %v", moved)
	}
}
