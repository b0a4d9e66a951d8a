package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

var scopeMailboxes = []string{"anna.lindqvist@example.com", "mehmet.yilmaz@example.com", "sara.nilsson@example.com",
	"johan.berg@example.com", "karin.ek@example.com", "leif@svenssonstak.example.org"}

func (e *env) requestCounts() map[string]int {
	c := map[string]int{}
	for _, mb := range scopeMailboxes {
		c[mb] = e.em.Requests(mb)
	}
	return c
}

// touched lists the mailboxes whose request count changed since before.
func (e *env) touched(before map[string]int) []string {
	var out []string
	for mb, n := range e.requestCounts() {
		if n != before[mb] {
			out = append(out, mb)
		}
	}
	return out
}

// TestScopedPasses: sync, dry-run and sync --full with --resource read and write only that technician's mailbox
// (the emulator counts every request per mailbox); --force with --resource applies only its held deletes; the
// run is recorded with its scope.
func TestScopedPasses(t *testing.T) {
	e := newEnv(t, "")
	if code, out, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("first pass: exit %d\n%s", code, out)
	}
	if _, err := e.db.Exec(`UPDATE bookings SET title = title || ' (ändrad)', version = version + 1 WHERE id IN ('BES-10233', 'BES-10234')`); err != nil {
		t.Fatal(err)
	}
	step := func(wantTouched string, args ...string) string {
		t.Helper()
		e.clock.Advance(5 * time.Minute)
		before := e.requestCounts()
		code, out, stderr := e.run(args...)
		if code != exitcode.OK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
		if got := e.touched(before); len(got) != 1 || got[0] != wantTouched {
			t.Fatalf("%v touched %v, want only %s", args, got, wantTouched)
		}
		return out
	}

	out := step("sara.nilsson@example.com", "dry-run", "--resource", "sara.nilsson@example.com")
	if !strings.Contains(out, "BES-10234") || strings.Contains(out, "BES-10233") || !strings.Contains(out, "Scoped pass") {
		t.Errorf("scoped dry-run:\n%s", out)
	}
	out = step("anna.lindqvist@example.com", "sync", "--resource", "RES-101", "-o", "json")
	var r struct {
		Scoped    bool
		Resources []string
		Mailboxes []struct {
			Mailbox string
			Updated int
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.Scoped || len(r.Resources) != 1 || len(r.Mailboxes) != 1 || r.Mailboxes[0].Updated != 1 {
		t.Fatalf("scoped sync report: %v %+v\n%s", err, r, out)
	}
	for _, ev := range e.em.Events("sara.nilsson@example.com") {
		if ev.BookingID == "BES-10234" && strings.Contains(ev.Subject, "(ändrad)") {
			t.Error("a pass scoped to Anna updated Sara's event")
		}
	}
	step("sara.nilsson@example.com", "sync", "--full", "--resource", "RES-103")
	e.clock.Advance(5 * time.Minute)
	if code, out, _ := e.run("dry-run"); code != exitcode.OK || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("after both scoped passes: exit %d\n%s", code, out)
	}

	// Deletes held in two mailboxes; --force scoped to one applies only its own.
	if _, err := e.db.Exec(`DELETE FROM bookings WHERE resource_id IN ('RES-101', 'RES-104')`); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute)
	if code, out, _ := e.run("sync"); code != exitcode.Held {
		t.Fatalf("deleting two technicians' bookings: exit %d, want 5\n%s", code, out)
	}
	johan := len(e.em.Events("johan.berg@example.com"))
	step("anna.lindqvist@example.com", "sync", "--force", "--resource", "anna.lindqvist@example.com")
	if n := len(e.em.Events("anna.lindqvist@example.com")); n != 0 {
		t.Errorf("anna still has %d events after a scoped --force", n)
	}
	if n := len(e.em.Events("johan.berg@example.com")); n != johan || johan == 0 {
		t.Errorf("johan's events %d -> %d: a --force scoped to Anna reached him", johan, n)
	}
	e.clock.Advance(5 * time.Minute)
	if code, out, _ := e.run("sync"); code != exitcode.Held {
		t.Errorf("johan's deletes should still be held: exit %d\n%s", code, out)
	}

	st, err := calsync.OpenStore(t.Context(), filepath.Join(e.dir, "tfsync-state.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	scoped := 0
	for _, run := range runs {
		var sum struct{ Scope []string }
		if json.Unmarshal(run.Summary, &sum) == nil && len(sum.Scope) == 1 {
			scoped++
		}
	}
	if scoped != 3 {
		t.Errorf("%d runs recorded as scoped, want 3", scoped)
	}

	if code, _, stderr := e.run("sync", "--resource", "RES-999"); code != exitcode.Usage || !strings.Contains(stderr, "names no TF resource") {
		t.Errorf("unknown resource: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := e.run("sync", "--resource", "RES-105"); code != exitcode.Usage || !strings.Contains(stderr, "not synced") {
		t.Errorf("resource without e-mail: exit %d\n%s", code, stderr)
	}
}
