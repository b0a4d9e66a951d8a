package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	"tfsync/exchange"
)

// TestInstallationIdentity runs the commands an admin uses around the installation id: read-only commands never
// create it, the first sync does, test-connection prints it, and list-resources --check names the events another
// installation keeps in a mailbox.
func TestInstallationIdentity(t *testing.T) {
	e := newEnv(t, "")
	tableExists := func() bool {
		var n int
		if err := e.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tfsync_installation'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if code, out, _ := e.run("dry-run"); code != exitcode.OK || tableExists() {
		t.Fatalf("dry-run: exit %d, installation table created %t; want 0 and no table\n%s", code, tableExists(), out)
	}
	if code, out, _ := e.run("test-connection"); code != exitcode.OK || !strings.Contains(out, "none yet") || tableExists() {
		t.Fatalf("test-connection before the first sync: exit %d, table %t\n%s", code, tableExists(), out)
	}
	if code, out, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	var id string
	if err := e.db.QueryRow(`SELECT id FROM tfsync_installation`).Scan(&id); err != nil || id == "" {
		t.Fatalf("after the first sync the installation id is %q (%v)", id, err)
	}
	if code, out, _ := e.run("test-connection"); code != exitcode.OK || !strings.Contains(out, id) {
		t.Fatalf("test-connection does not print the installation id %s: exit %d\n%s", id, code, out)
	}
	const anna = "anna.lindqvist@example.com"
	for _, ev := range e.em.Events(anna) {
		if ev.BookingID != "" && ev.InstallationID != id {
			t.Fatalf("event %s of booking %s names installation %q, want %s", ev.ID, ev.BookingID, ev.InstallationID, id)
		}
	}

	// A trial installation's event in Anna's calendar.
	const other = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
	start := e.clock.Now().Add(48 * time.Hour)
	var res []exchange.OpResult
	e.em.Write(context.Background(), []exchange.Op{{Kind: exchange.OpCreate, Mailbox: anna, TransactionID: "trial-1",
		Event: exchange.Event{BookingID: "TRIAL-1", InstallationID: other, Subject: "Ärende: prov", Start: start,
			End: start.Add(time.Hour), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy,
			ReminderMinutes: exchange.NoReminder}}}, func(r []exchange.OpResult) { res = append(res, r...) })
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("create the trial's event: %+v", res)
	}
	if code, out, _ := e.run("test-connection"); code != exitcode.OK || !strings.Contains(out, "1 events of tfsync installation "+other) {
		t.Fatalf("test-connection: exit %d, want the trial's event named\n%s", code, out)
	}
	code, out, _ := e.run("list-resources", "--check")
	if code != exitcode.OK || !strings.Contains(out, "1 events of tfsync installation "+other) {
		t.Fatalf("list-resources --check: exit %d, want the trial's event named\n%s", code, out)
	}
	code, out, _ = e.run("list-resources", "--check", "--output", "json")
	var listed struct {
		Resources []struct {
			Mailbox string
			Foreign map[string]int `json:"other_installations"`
		}
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || code != exitcode.OK {
		t.Fatal(err, out)
	}
	for _, r := range listed.Resources {
		want := 0
		if r.Mailbox == anna {
			want = 1
		}
		if r.Foreign[other] != want {
			t.Errorf("%s: other installations %v, want %d of %s", r.Mailbox, r.Foreign, want, other)
		}
	}
	// The next pass leaves the trial's event alone.
	if code, out, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	found := false
	for _, ev := range e.em.Events(anna) {
		found = found || ev.ID == res[0].Event.ID
	}
	if !found {
		t.Fatal("the sync deleted the trial installation's event")
	}
}

// TestEmptyTFHold runs sync over a bookings table a restore left empty: exit 5, a message naming the TF database
// and the counts, and every event kept.
func TestEmptyTFHold(t *testing.T) {
	e := newEnv(t, "")
	if code, out, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	events := func() int {
		n := 0
		for _, mb := range []string{"anna.lindqvist@example.com", "mehmet.yilmaz@example.com", "sara.nilsson@example.com", "johan.berg@example.com", "karin.ek@example.com"} {
			for _, ev := range e.em.Events(mb) {
				if ev.BookingID != "" {
					n++
				}
			}
		}
		return n
	}
	before := events()
	if _, err := e.db.Exec(`DELETE FROM bookings`); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.run("sync")
	if code != exitcode.Held || !strings.Contains(out+stderr, "tf.db returned 0 bookings") ||
		!strings.Contains(out, "deletes were held back: TF database") {
		t.Fatalf("sync over an emptied bookings table: exit %d, want 5 with the database and the counts\n%s\n%s",
			code, out, stderr)
	}
	if after := events(); after != before {
		t.Fatalf("%d events before, %d after: the hold deleted some", before, after)
	}
}
