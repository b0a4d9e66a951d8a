package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
)

// TestUninstall removes this installation's events and nothing else: a technician's own event and another
// installation's event (even one carrying a booking id of ours) stay. It refuses without --yes off a terminal,
// resumes after being stopped half-way (a sync in between is refused, so nothing is put back), asks on a terminal
// before dropping tfsync's tables in TF, and moves the state store aside at the end.
func TestUninstall(t *testing.T) {
	e := newEnv(t, "")
	if code, out, _ := e.run("sync"); code != ExitOK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	anna, sara := "anna.lindqvist@example.com", "sara.nilsson@example.com"
	day := time.Date(2026, 3, 23, 0, 0, 0, 0, mustStockholm())
	var own, other string
	e.em.Write(context.Background(), []exchange.Op{
		{Kind: exchange.OpCreate, Mailbox: anna, TransactionID: "own", Event: exchange.Event{Subject: "Tandläkare",
			Start: day.Add(8 * time.Hour), End: day.Add(9 * time.Hour), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy}},
		{Kind: exchange.OpCreate, Mailbox: sara, TransactionID: "other", Event: exchange.Event{Subject: "Besiktning (test-TF)",
			BookingID: "BES-10234", Start: day.Add(10 * time.Hour), End: day.Add(11 * time.Hour), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy}},
	}, func(rs []exchange.OpResult) {
		for _, r := range rs {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Op.Mailbox == anna {
				own = r.Event.ID
			} else {
				other = r.Event.ID
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
	if n := ours(); n != 29 {
		t.Fatalf("%d events of this installation before uninstall, want 29", n)
	}
	var auditRows int
	e.db.QueryRow(`SELECT count(*) FROM bookings`).Scan(&auditRows)

	// Off a terminal without --yes: refused, nothing removed.
	if code, _, stderr := e.run("uninstall"); code != ExitUsage || !strings.Contains(stderr, "--yes") || ours() != 29 {
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
	f.Now = func() time.Time { return e.now }
	f.NewCalendar = func(context.Context, *Config) (exchange.Calendar, error) { return e.em, nil }
	code := run(ctx, f, []string{"uninstall", "--yes", "--config", e.config})
	e.em.SetFault(nil)
	left := ours()
	if code == ExitOK || left == 0 || left == 29 {
		t.Fatalf("interrupted uninstall: exit %d, %d of 29 events left\n%s%s", code, left, out, errOut)
	}
	e.now = e.now.Add(5 * time.Minute)
	if code, _, stderr := e.run("sync"); code == ExitOK || !strings.Contains(stderr, "uninstall is under way") || ours() != left {
		t.Fatalf("a sync during an unfinished uninstall: exit %d, events %d -> %d\n%s", code, left, ours(), stderr)
	}

	// Resumed on a terminal: confirmed, and asked about TF's tables.
	io, out, errOut = TestIO()
	io.InTTY, io.In = true, strings.NewReader("yes\ny\n")
	f = NewFactory(io)
	f.Now = func() time.Time { return e.now }
	f.NewCalendar = func(context.Context, *Config) (exchange.Calendar, error) { return e.em, nil }
	if code := run(context.Background(), f, []string{"uninstall", "--config", e.config}); code != ExitOK {
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
