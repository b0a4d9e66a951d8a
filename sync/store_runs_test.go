package sync

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

func TestStoreRunOutcomes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "", storeClock(storeT0))
	runs := []RunRecord{
		{ID: "a", StartedAt: storeT0, FinishedAt: storeT0.Add(1), ExitCode: 0},
		{ID: "b", StartedAt: storeT0.Add(2), FinishedAt: storeT0.Add(3), Outcome: RunLockHeld},
		{ID: "c", StartedAt: storeT0.Add(4), FinishedAt: storeT0.Add(5), ExitCode: 6, Outcome: RunLockStale, Error: "hung"},
		{ID: "d", StartedAt: storeT0.Add(6), Outcome: RunRunning},
	}
	mustUpdate(t, s, func(tx *StoreTx) error {
		for _, r := range runs {
			if err := tx.PutRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := s.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"a": {RunPass, ""}, "b": {RunLockHeld, ""}, "c": {RunLockStale, "hung"}, "d": {RunRunning, ""}}
	for _, r := range got {
		if w := want[r.ID]; r.Outcome != w[0] || r.Error != w[1] {
			t.Errorf("run %s: outcome %q error %q, want %q", r.ID, r.Outcome, r.Error, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d runs, want %d", len(got), len(want))
	}
	err = s.Update(ctx, func(tx *StoreTx) error {
		return tx.PutRun(RunRecord{ID: "e", StartedAt: storeT0, Outcome: "something"})
	})
	if err == nil {
		t.Error("an unknown outcome was stored")
	}
}

// TestStoreRunOutcomeMigration: runs recorded before the outcome column keep their error, read from the summary.
func TestStoreRunOutcomeMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := storeMigrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(first),
		`CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
		`INSERT INTO migrations VALUES (1, 'migrations/0001_init.sql', '2026-01-01T00:00:00Z')`,
		`INSERT INTO runs (id, started_at, finished_at, exit_code, summary) VALUES
			('old-bad', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 3, '{"error":"no calendar could be read"}'),
			('old-good', '2026-01-01T00:05:00Z', '2026-01-01T00:05:01Z', 0, '{"report":{}}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s := openTestStore(t, path, storeClock(storeT0))
	got, err := s.Runs(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "old-good" || got[0].Outcome != RunPass || got[0].Error != "" ||
		got[1].Outcome != RunPass || got[1].Error != "no calendar could be read" {
		t.Fatalf("migrated runs: %+v", got)
	}
}
