package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

var storeT0 = time.Date(2026, 3, 29, 10, 11, 12, 0, time.UTC)

func storeClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// openTestStore opens a store at path (a new file in t.TempDir() when path is "") and closes it after the test.
func openTestStore(tb testing.TB, path string, now func() time.Time) *Store {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "state.db")
	}
	s, err := OpenStore(context.Background(), path, now)
	if err != nil {
		tb.Fatalf("OpenStore: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustUpdate(tb testing.TB, s *Store, fn func(tx *StoreTx) error) {
	tb.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

func TestOpenStoreMigrationsAndPragmas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	ms, err := storeMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("embedded migrations = %+v, want numbered files starting at 1", ms)
	}

	applied := func(s *Store) map[int]string {
		t.Helper()
		rows, err := s.db.Query("SELECT version, applied_at FROM migrations")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[int]string{}
		for rows.Next() {
			var v int
			var at string
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			got[v] = at
		}
		return got
	}

	s, err := OpenStore(ctx, path, storeClock(storeT0))
	if err != nil {
		t.Fatal(err)
	}
	first := applied(s)
	if len(first) != len(ms) {
		t.Errorf("after first open: %d migrations recorded, want %d", len(first), len(ms))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening with a later clock must apply nothing again: the recorded times stay those of the first open.
	s = openTestStore(t, path, storeClock(storeT0.Add(time.Hour)))
	if second := applied(s); fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("after reopen: migrations %v, want unchanged %v", second, first)
	}

	// busy_timeout, foreign_keys and synchronous are per connection: check them on one pinned connection.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	} {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
}

func TestStoreLinksRoundTrip(t *testing.T) {
	stockholm, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		link Link
	}{
		{"full", Link{BookingID: "BES-10233", Mailbox: "anna@example.com", EventID: "AAMkAD=", ChangeKey: "CQAAAB",
			Hash: "sha256:abc", TFVersion: 7, EvStart: time.Date(2026, 3, 29, 8, 0, 0, 0, stockholm),
			EvEnd: time.Date(2026, 3, 29, 9, 30, 0, 123456789, stockholm)}},
		{"all day", Link{BookingID: "RON-1", Mailbox: "bo@example.com", EventID: "ev-2", AllDay: true,
			EvStart: time.Date(2026, 3, 29, 0, 0, 0, 0, stockholm), EvEnd: time.Date(2026, 3, 30, 0, 0, 0, 0, stockholm)}},
		{"detached without times", Link{BookingID: "ARE-5", Mailbox: "bo@example.com", Detached: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, "", storeClock(storeT0))
			mustUpdate(t, s, func(tx *StoreTx) error { return tx.PutLink(tc.link) })

			got, err := s.Links(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := tc.link
			want.EvStart, want.EvEnd, want.UpdatedAt = utcOrZero(want.EvStart), utcOrZero(want.EvEnd), storeT0
			if len(got) != 1 || got[want.BookingID] != want {
				t.Errorf("Links() = %+v\nwant %+v", got, want)
			}
			for _, tm := range []time.Time{got[want.BookingID].EvStart, got[want.BookingID].EvEnd} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("time %v read back in %v, want UTC", tm, tm.Location())
				}
			}
		})
	}
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func TestStoreLinkReplaceAndDelete(t *testing.T) {
	now := storeT0
	s := openTestStore(t, "", func() time.Time { return now })
	ctx := context.Background()
	l := Link{BookingID: "BES-1", Mailbox: "anna@example.com", EventID: "ev-1", ChangeKey: "ck1", TFVersion: 1}
	other := Link{BookingID: "BES-2", Mailbox: "anna@example.com", EventID: "ev-2"}
	mustUpdate(t, s, func(tx *StoreTx) error {
		if err := tx.PutLink(l); err != nil {
			return err
		}
		return tx.PutLink(other)
	})

	now = storeT0.Add(time.Minute)
	l.Mailbox, l.EventID, l.ChangeKey, l.TFVersion = "bo@example.com", "ev-9", "ck2", 2
	mustUpdate(t, s, func(tx *StoreTx) error { return tx.PutLink(l) })
	got, err := s.Links(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := l
	want.UpdatedAt = now
	if got["BES-1"] != want {
		t.Errorf("after replace: %+v, want %+v", got["BES-1"], want)
	}
	if got["BES-2"].UpdatedAt != storeT0 {
		t.Errorf("untouched link's UpdatedAt = %v, want %v", got["BES-2"].UpdatedAt, storeT0)
	}

	mustUpdate(t, s, func(tx *StoreTx) error {
		if err := tx.DeleteLink("BES-1"); err != nil {
			return err
		}
		return tx.DeleteLink("NO-SUCH") // deleting nothing is fine
	})
	got, err = s.Links(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["BES-1"]; ok || len(got) != 1 {
		t.Errorf("after delete: %+v, want only BES-2", got)
	}
}

func TestStorePendingRoundTrip(t *testing.T) {
	s := openTestStore(t, "", storeClock(storeT0))
	ctx := context.Background()
	stockholm := time.FixedZone("CEST", 2*3600)
	early := Pending{BookingID: "BES-2", Mailbox: "anna@example.com", TransactionID: "tx-2",
		CreatedAt: time.Date(2026, 3, 29, 9, 0, 0, 5, stockholm)}
	stamped := Pending{BookingID: "BES-1", Mailbox: "anna@example.com", TransactionID: "tx-1"} // zero CreatedAt
	gone := Pending{BookingID: "BES-3", Mailbox: "bo@example.com", TransactionID: "tx-3"}
	mustUpdate(t, s, func(tx *StoreTx) error {
		for _, p := range []Pending{stamped, early, gone} {
			if err := tx.PutPending(p); err != nil {
				return err
			}
		}
		return tx.DeletePending("BES-3", "bo@example.com")
	})

	got, err := s.PendingCreates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	early.CreatedAt = early.CreatedAt.UTC()
	stamped.CreatedAt = storeT0
	want := []Pending{early, stamped} // oldest first
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("PendingCreates() = %+v\nwant %+v", got, want)
	}

	if err := s.Update(ctx, func(tx *StoreTx) error { return tx.PutPending(Pending{BookingID: "X", Mailbox: "m"}) }); err == nil {
		t.Error("PutPending without transaction id: no error")
	}
}

func TestStoreCursorsRoundTrip(t *testing.T) {
	now := storeT0
	s := openTestStore(t, "", func() time.Time { return now })
	ctx := context.Background()
	c := Cursor{Mailbox: "anna@example.com", Cursor: "https://graph/delta?$deltatoken=1",
		WindowStart: time.Date(2026, 3, 22, 0, 0, 0, 0, time.UTC), WindowEnd: time.Date(2026, 6, 27, 0, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)} // ignored: the store stamps it
	mustUpdate(t, s, func(tx *StoreTx) error {
		if err := tx.PutCursor(c); err != nil {
			return err
		}
		return tx.PutCursor(Cursor{Mailbox: "bo@example.com", Cursor: "sync-state"})
	})
	now = storeT0.Add(2 * time.Minute)
	c.Cursor = "https://graph/delta?$deltatoken=2"
	mustUpdate(t, s, func(tx *StoreTx) error {
		if err := tx.PutCursor(c); err != nil {
			return err
		}
		return tx.DeleteCursor("bo@example.com")
	})

	got, err := s.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.UpdatedAt = now
	if len(got) != 1 || got[c.Mailbox] != want {
		t.Errorf("Cursors() = %+v\nwant %+v", got, want)
	}
}

func TestStoreMailboxStatesRoundTrip(t *testing.T) {
	s := openTestStore(t, "", storeClock(storeT0))
	ok := MailboxState{Mailbox: "anna@example.com", LastSync: storeT0}
	failing := MailboxState{Mailbox: "bo@example.com", LastSync: storeT0.Add(-time.Hour), LastError: "access denied",
		LastErrorAt: storeT0, HeldDeletes: 12, ConsecutiveFailures: 3}
	mustUpdate(t, s, func(tx *StoreTx) error {
		if err := tx.PutMailboxState(MailboxState{Mailbox: "anna@example.com", LastError: "old"}); err != nil {
			return err
		}
		if err := tx.PutMailboxState(ok); err != nil { // replaces the first, clearing the error
			return err
		}
		return tx.PutMailboxState(failing)
	})
	got, err := s.MailboxStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[ok.Mailbox] != ok || got[failing.Mailbox] != failing {
		t.Errorf("MailboxStates() = %+v\nwant %+v and %+v", got, ok, failing)
	}
}

func TestStoreRuns(t *testing.T) {
	s := openTestStore(t, "", storeClock(storeT0))
	ctx := context.Background()
	runs := []RunRecord{
		{ID: "run-a", StartedAt: storeT0, FinishedAt: storeT0.Add(time.Minute), ExitCode: 0, Summary: []byte(`{"created":3}`)},
		// Sub-second start times must still sort by time, not as text of varying length.
		{ID: "run-b", StartedAt: storeT0.Add(2*time.Minute + 500*time.Millisecond), ExitCode: 4},
		{ID: "run-c", StartedAt: storeT0.Add(2 * time.Minute), FinishedAt: storeT0.Add(3 * time.Minute), ExitCode: 1,
			Summary: []byte(`{"errors":["x"]}`)},
	}
	mustUpdate(t, s, func(tx *StoreTx) error {
		for _, r := range runs {
			if err := tx.PutRun(r); err != nil {
				return err
			}
		}
		return nil
	})

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"all", 0, []string{"run-b", "run-c", "run-a"}},
		{"limit", 2, []string{"run-b", "run-c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Runs(ctx, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("Runs(%d) = %v, want %v", tc.limit, ids, tc.want)
			}
		})
	}

	got, err := s.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]RunRecord{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, want := range runs {
		g := byID[want.ID]
		if g.StartedAt != want.StartedAt || g.FinishedAt != want.FinishedAt || g.ExitCode != want.ExitCode ||
			!bytes.Equal(g.Summary, want.Summary) || (want.Summary == nil) != (g.Summary == nil) {
			t.Errorf("run %s = %+v, want %+v", want.ID, g, want)
		}
	}

	if err := s.Update(ctx, func(tx *StoreTx) error {
		return tx.PutRun(RunRecord{ID: "bad", StartedAt: storeT0, Summary: []byte("{not json")})
	}); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("PutRun with a bad summary: err = %v, want a JSON error", err)
	}

	var pruned int64
	mustUpdate(t, s, func(tx *StoreTx) (err error) {
		pruned, err = tx.PruneRuns(1)
		return err
	})
	got, err = s.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pruned != 2 || len(got) != 1 || got[0].ID != "run-b" {
		t.Errorf("PruneRuns(1) pruned %d, left %+v; want 2 pruned and run-b left", pruned, got)
	}
}

func TestStoreNotices(t *testing.T) {
	s := openTestStore(t, "", storeClock(storeT0))
	mustUpdate(t, s, func(tx *StoreTx) error {
		if _, _, ok, err := tx.GetNotice("failure"); err != nil || ok {
			return fmt.Errorf("GetNotice before any put: ok=%v err=%v, want not found", ok, err)
		}
		return tx.PutNotice("failure", storeT0, "auth: bad secret")
	})
	mustUpdate(t, s, func(tx *StoreTx) error {
		at, state, ok, err := tx.GetNotice("failure")
		if err != nil || !ok || at != storeT0 || state != "auth: bad secret" {
			return fmt.Errorf("GetNotice = %v, %q, %v, %v; want %v, the state, true, nil", at, state, ok, err, storeT0)
		}
		return nil
	})
}

func TestStoreUpdateRollsBack(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fail func() error // returns the error Update should return; may panic instead
	}{
		{"error", func() error { return errBoom }},
		{"panic", func() error { panic(errBoom) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, "", storeClock(storeT0))
			ctx := context.Background()
			kept := Link{BookingID: "BES-1", Mailbox: "anna@example.com", EventID: "ev-1", UpdatedAt: storeT0}
			mustUpdate(t, s, func(tx *StoreTx) error { return tx.PutLink(kept) })

			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						err = p.(error)
					}
				}()
				err = s.Update(ctx, func(tx *StoreTx) error {
					if err := tx.PutLink(Link{BookingID: "BES-2", Mailbox: "anna@example.com", EventID: "ev-2"}); err != nil {
						return err
					}
					if err := tx.DeleteLink("BES-1"); err != nil {
						return err
					}
					if err := tx.PutCursor(Cursor{Mailbox: "anna@example.com", Cursor: "c"}); err != nil {
						return err
					}
					return tc.fail()
				})
			}()
			if !errors.Is(err, errBoom) {
				t.Fatalf("Update err = %v, want %v", err, errBoom)
			}

			links, err := s.Links(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(links) != 1 || links["BES-1"] != kept {
				t.Errorf("after rollback: links %+v, want only %+v", links, kept)
			}
			cursors, err := s.Cursors(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(cursors) != 0 {
				t.Errorf("after rollback: cursors %+v, want none", cursors)
			}
			// A transaction left open would hold the write lock and make this wait out busy_timeout and fail.
			mustUpdate(t, s, func(tx *StoreTx) error { return tx.DeleteLink("BES-1") })
		})
	}
}

func TestStoreManyLinksInOneUpdate(t *testing.T) {
	s := openTestStore(t, "", storeClock(storeT0))
	const n = 10000
	mustUpdate(t, s, func(tx *StoreTx) error { return putTestLinks(tx, 0, n) })
	links, err := s.Links(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != n || links["B-9999"].EventID != "ev-9999" {
		t.Errorf("read back %d links (B-9999 = %+v), want %d", len(links), links["B-9999"], n)
	}
}

func putTestLinks(tx *StoreTx, from, n int) error {
	start := storeT0
	for i := from; i < from+n; i++ {
		if err := tx.PutLink(Link{BookingID: fmt.Sprintf("B-%d", i), Mailbox: fmt.Sprintf("tech%d@example.com", i%50),
			EventID: fmt.Sprintf("ev-%d", i), ChangeKey: "ck", Hash: "h", TFVersion: 1,
			EvStart: start, EvEnd: start.Add(time.Hour)}); err != nil {
			return err
		}
	}
	return nil
}

// Two processes' stores (here two Store values) writing at once must queue on busy_timeout, not fail with
// "database is locked".
func TestStoreConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	stores := []*Store{openTestStore(t, path, storeClock(storeT0)), openTestStore(t, path, storeClock(storeT0))}
	const perWriter = 40
	var wg gosync.WaitGroup
	errs := make(chan error, 4*perWriter)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := stores[w%2]
			for i := 0; i < perWriter; i++ {
				errs <- s.Update(context.Background(), func(tx *StoreTx) error {
					return putTestLinks(tx, w*perWriter+i, 1)
				})
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Update: %v", err)
		}
	}
	links, err := stores[1].Links(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 4*perWriter {
		t.Errorf("got %d links, want %d", len(links), 4*perWriter)
	}
}

// writeStoreWithLinks creates a closed store file holding n links and returns its path.
func writeStoreWithLinks(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenStore(context.Background(), path, storeClock(storeT0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *StoreTx) error { return putTestLinks(tx, 0, n) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("closing the store left a -wal file; the damage below would not be where the test expects")
	}
	return path
}

func TestOpenStoreCorrupt(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, data []byte) []byte
	}{
		{"garbage over the whole file", func(t *testing.T, data []byte) []byte { return garbage(len(data)) }},
		{"garbage after the header", func(t *testing.T, data []byte) []byte {
			return append(data[:100:100], garbage(len(data)-100)...)
		}},
		{"truncated inside the header", func(t *testing.T, data []byte) []byte { return data[:40] }},
		{"a short text file", func(t *testing.T, data []byte) []byte { return []byte("links\n") }},
		{"garbage over a table page", func(t *testing.T, data []byte) []byte {
			const page = 4096 // SQLite's default page size
			if len(data) < 8*page {
				t.Fatalf("store is only %d bytes; need several pages", len(data))
			}
			out := append([]byte(nil), data...)
			copy(out[5*page:6*page], garbage(page))
			return out
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeStoreWithLinks(t, 2000)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tc.damage(t, data)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}

			s, err := OpenStore(context.Background(), path, storeClock(storeT0))
			if err == nil {
				s.Close()
				t.Fatal("OpenStore of a damaged store: no error")
			}
			t.Log(err)
			if !errors.Is(err, ErrStoreCorrupt) {
				t.Errorf("err = %v, want ErrStoreCorrupt", err)
			}
			for _, want := range []string{"the mapping store at " + path + " is damaged", `run "tfsync sync --rebuild"`,
				"relinks every event through its booking id"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to contain %q", err, want)
				}
			}
			// The damaged file must be left exactly as it was, never reset to an empty store.
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, damaged) {
				t.Error("OpenStore changed the damaged file")
			}
		})
	}
}

func TestRebuildStore(t *testing.T) {
	ctx := context.Background()
	path := writeStoreWithLinks(t, 10)
	if err := os.WriteFile(path, []byte("this is not a database, but it is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Companion files as a crash leaves them; they must follow the main file.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.WriteFile(path+suffix, []byte(suffix), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenStore(ctx, path, nil); !errors.Is(err, ErrStoreCorrupt) {
		t.Fatalf("OpenStore: err = %v, want ErrStoreCorrupt", err)
	}

	clock := storeClock(time.Date(2026, 3, 29, 10, 11, 12, 0, time.UTC))
	moved, err := RebuildStore(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".corrupt-20260329T101112"; moved != want {
		t.Errorf("moved to %q, want %q", moved, want)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after RebuildStore (err %v)", path+suffix, err)
		}
		if _, err := os.Stat(moved + suffix); err != nil {
			t.Errorf("moved file %s: %v", moved+suffix, err)
		}
	}

	s := openTestStore(t, path, clock)
	if links, err := s.Links(ctx); err != nil || len(links) != 0 {
		t.Errorf("rebuilt store: links %v, err %v; want empty", links, err)
	}
	s.Close()

	// A second rebuild in the same second must not overwrite the first copy.
	moved2, err := RebuildStore(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	if moved2 == moved || !strings.HasPrefix(moved2, moved) {
		t.Errorf("second rebuild moved to %q, want a new name beside %q", moved2, moved)
	}
	if data, err := os.ReadFile(moved); err != nil || !strings.HasPrefix(string(data), "this is not a database") {
		t.Errorf("first moved copy changed: %q, %v", data, err)
	}

	if got, err := RebuildStore(filepath.Join(t.TempDir(), "none.db"), clock); got != "" || err != nil {
		t.Errorf("RebuildStore of a missing store = %q, %v; want \"\", nil", got, err)
	}
}

func TestOpenStoreTooNew(t *testing.T) {
	ctx := context.Background()
	path := writeStoreWithLinks(t, 3)
	s := openTestStore(t, path, storeClock(storeT0))
	if _, err := s.db.Exec("INSERT INTO migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', '')"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err := OpenStore(ctx, path, storeClock(storeT0))
	if !errors.Is(err, ErrStoreTooNew) {
		t.Fatalf("err = %v, want ErrStoreTooNew", err)
	}
	for _, want := range []string{"newer tfsync", "migration 9999", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
}

func TestOpenStoreBadPath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, path, want string
	}{
		{"no path", "", "set [state] path"},
		{"missing folder", filepath.Join(dir, "nope", "state.db"), "does not exist: create it or change [state] path"},
		{"a folder", dir, "it is a folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenStore(context.Background(), tc.path, nil)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// BenchmarkPutLinks writes 10,000 links in one Update per iteration, as a first pass over a large TF does.
func BenchmarkPutLinks(b *testing.B) {
	s := openTestStore(b, "", storeClock(storeT0))
	const n = 10000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Update(context.Background(), func(tx *StoreTx) error { return putTestLinks(tx, 0, n) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/link")
}

// BenchmarkSmallUpdates records one link per Update, as the apply step does after each confirmed write.
func BenchmarkSmallUpdates(b *testing.B) {
	s := openTestStore(b, "", storeClock(storeT0))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Update(context.Background(), func(tx *StoreTx) error { return putTestLinks(tx, i%10000, 1) }); err != nil {
			b.Fatal(err)
		}
	}
}
