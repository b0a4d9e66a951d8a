package cmd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

// syncCounts runs a pass and returns its created, updated and deleted counts over all mailboxes.
func (e *env) syncCounts(args ...string) (created, updated, deleted int) {
	e.t.Helper()
	code, out, stderr := e.run(append([]string{"sync", "--output", "json"}, args...)...)
	if code != exitcode.OK {
		e.t.Fatalf("sync: exit %d\n%s\n%s", code, out, stderr)
	}
	var r struct {
		Mailboxes []struct{ Created, Updated, Deleted int }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("sync output: %v\n%s", err, out)
	}
	for _, m := range r.Mailboxes {
		created, updated, deleted = created+m.Created, updated+m.Updated, deleted+m.Deleted
	}
	return
}

// TestTechnicianNote: every event ends with the Swedish line by default; switching it off rewrites each event once,
// and the passes after that change nothing (the content hash changed once, not on every pass). TF is not written.
func TestTechnicianNote(t *testing.T) {
	e := newEnv(t, "")
	versions := func() map[string]int {
		rows, err := e.db.Query(`SELECT id, version FROM bookings`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		v := map[string]int{}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			v[id] = n
		}
		return v
	}
	tfBefore := versions()
	bodies := func() (with, without int) {
		for _, mb := range []string{"anna.lindqvist@example.com", "sara.nilsson@example.com"} {
			for _, ev := range e.em.Events(mb) {
				if strings.Contains(calsync.BodyText(ev.Body), calsync.TechnicianNoteText) {
					with++
				} else {
					without++
				}
			}
		}
		return
	}

	created, _, _ := e.syncCounts()
	if with, without := bodies(); created != 29 || with == 0 || without != 0 {
		t.Fatalf("pass 1: created %d; %d events with the note, %d without", created, with, without)
	}
	if c, u, d := e.syncCounts(); c+u+d != 0 {
		t.Fatalf("pass 2 changed %d/%d/%d events", c, u, d)
	}

	rewrite(t, e.config, "[sync]\n", "[sync]\ntechnician_note = false\n")
	for pass := 3; pass <= 5; pass++ {
		e.clock.Advance(5 * time.Minute)
		c, u, d := e.syncCounts()
		want := 0
		if pass == 3 {
			want = 29 // each event once
		}
		if c != 0 || d != 0 || u != want {
			t.Fatalf("pass %d after switching the note off: created %d, updated %d, deleted %d; want %d updates", pass, c, u, d, want)
		}
	}
	if with, without := bodies(); with != 0 || without == 0 {
		t.Fatalf("after switching off: %d events with the note, %d without", with, without)
	}
	after := versions()
	for id, v := range tfBefore {
		if after[id] != v {
			t.Errorf("booking %s: TF version %d -> %d: the note must not write TF", id, v, after[id])
		}
	}
}
