package cmd

import (
	"encoding/json"
	"testing"
	"time"

	calsync "tfsync/sync"
)

// A pass whose only change was a booking moved in TF is a pass with changes: it is a row of its own in status,
// not folded into the quiet passes after it. The summary is read back as recordRun writes it.
func TestCollapseRunsCountsEveryChange(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	run := func(id string, minute int, m calsync.MailboxSummary) calsync.RunRecord {
		summary, err := json.Marshal(runSummary{Report: &calsync.Report{Mailboxes: []calsync.MailboxSummary{m}}})
		if err != nil {
			t.Fatal(err)
		}
		start := at.Add(time.Duration(minute) * time.Minute)
		return calsync.RunRecord{ID: id, StartedAt: start, FinishedAt: start.Add(time.Second), Outcome: calsync.RunPass, Summary: summary}
	}
	history := []calsync.RunRecord{ // newest first
		run("r4", 6, calsync.MailboxSummary{Mailbox: "anna@example.com"}),
		run("r3", 4, calsync.MailboxSummary{Mailbox: "anna@example.com", MovedInTF: 1}),
		run("r2", 2, calsync.MailboxSummary{Mailbox: "anna@example.com"}),
		run("r1", 0, calsync.MailboxSummary{Mailbox: "anna@example.com", Created: 2, Updated: 1, Deleted: 1}),
	}
	got := collapseRuns(history, history, 10)
	want := []struct {
		id               string
		changes, repeats int
	}{{"r4", 0, 0}, {"r3", 1, 0}, {"r2", 0, 0}, {"r1", 4, 0}}
	if len(got) != len(want) {
		t.Fatalf("rows = %+v, want %d rows", got, len(want))
	}
	for i, w := range want {
		if got[i].ID != w.id || got[i].Changes != w.changes || got[i].Repeats != w.repeats {
			t.Errorf("row %d = %s with %d changes, %d repeats; want %s with %d, %d", i, got[i].ID, got[i].Changes, got[i].Repeats, w.id, w.changes, w.repeats)
		}
	}
}
